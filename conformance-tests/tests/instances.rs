//! Several Cairn instances on one database (PostgreSQL when CAIRN_TEST_POSTGRES_URL is set, the
//! same SQLite file otherwise), here two servers inside the test process: writes through both,
//! polls through both alternately with `next` and `added_after`; each reader gets exactly the
//! versions it may see, each once, in order; `next` tokens and status resources of one instance
//! work on the other. The scenario is `cairn_conformance::instances`; the root crate's
//! `tests/instances_processes.rs` runs it on two `cairn serve` processes.

use cairn::clock::Clock;
use cairn_conformance::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_database_exactly() {
    let a = TestServer::start_with(&instances::setup(), "").await;
    let b = TestServer::launch(
        a.config.clone(),
        tempfile::tempdir().unwrap(),
        Clock::system(),
    )
    .await;
    instances::share_one_database([a.http.clone(), b.http.clone()]).await;
    a.stop().await;
    b.stop().await;
}
