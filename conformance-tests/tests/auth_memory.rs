//! Failed logins do not grow the process: argon2 verifies into one reused block buffer per
//! verifying slot. Its own test binary, so no other test's memory is counted alongside.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cairn_conformance::*;
use reqwest::Method;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// `n` wrong-password logins for distinct names (so none share a verification), 4 at a time
/// (as many as one address may have under way).
async fn wrong_logins(s: &TestServer, from: usize, n: usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in (from..from + n).collect::<Vec<_>>().chunks(4) {
        for i in chunk {
            let http = s.http.clone();
            let basic = format!("Basic {}", STANDARD.encode(format!("user-{i}:guess")));
            tasks.spawn(async move {
                let headers = [("Authorization", basic.as_str())];
                http.send(Method::GET, "/taxii2/", None, &headers, None)
                    .await
                    .assert_error(401);
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_failed_logins_leave_memory_where_it_was() {
    let limits = "login_failures = 1000\nlogin_failures_per_address = 1000\n";
    let s = TestServer::start_with(&standard_setup(), limits).await;
    // Warm up: every verifying slot gets its buffer (about 19 MiB each at the default cost).
    wrong_logins(&s, 0, 8).await;
    let before = rss_kib();
    wrong_logins(&s, 100, 50).await;
    let grown = rss_kib().saturating_sub(before);
    println!("VmRSS before {before} KiB, grown by {grown} KiB over 50 failed logins");
    // One more 19 MiB buffer would be 19,456 KiB: growth stays well below it.
    assert!(grown < 12 * 1024, "VmRSS grew by {grown} KiB");
}
