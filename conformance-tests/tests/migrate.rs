//! `cairn migrate-storage`: a community that started on the embedded SQLite moves to
//! PostgreSQL (or, without CAIRN_TEST_POSTGRES_URL, to another SQLite file) without losing a
//! thing: every reader gets byte-identical answers from the new database, statuses included,
//! and new objects still get fresh sequence numbers. A non-empty target is refused.

use cairn::clock::Clock;
use cairn::config::Config;
use cairn::storage::migrate::{migrate, MigrateError};
use cairn::storage::Storage;
use cairn_conformance::*;
use std::path::Path;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_community_moves_to_another_database_without_losing_a_thing() {
    // The source is always SQLite, whatever the suite runs on.
    let dir = tempfile::tempdir().unwrap();
    let source_url = format!("sqlite://{}", dir.path().join("source.db").display());
    let text = format!("[server]\nbind = \"127.0.0.1:0\"\nworkers = 1\nsecret = \"migration-test-next-token-key-0123\"\n[storage]\nurl = \"{source_url}\"\n");
    let config =
        Config::from_parts(Path::new("t.toml"), &text, Vec::<(String, String)>::new()).unwrap();
    let clock = Clock::frozen(
        chrono::DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z")
            .unwrap()
            .to_utc(),
    );
    let s = TestServer::launch(config.clone(), dir, clock.clone()).await;
    s.apply(&standard_setup()).await;
    let st = s
        .post_objects(
            "acme-soc",
            &[indicator(1, "2026-01-01T00:00:00.000Z"), malware(2)],
        )
        .await;
    clock.advance(chrono::Duration::seconds(1));
    // A later version of ACME's indicator (only its producer may version it), and Globex's own.
    s.post_objects("acme-bot", &[indicator(1, "2026-02-01T00:00:00.000Z")])
        .await;
    s.post_objects("globex-soc", &[malware(3)]).await;

    let paths = [
        TestServer::coll("acme", FINANCE, "objects/?match[version]=all"),
        TestServer::coll("acme", FINANCE, "manifest/?limit=3"),
        format!("/acme/status/{}/", st["id"].as_str().unwrap()),
    ];
    let mut before = vec![];
    for p in &paths {
        before.push(s.get("acme-soc", p).await.comparable());
    }
    let initech_before = s
        .get(
            "initech-soc",
            &TestServer::coll("initech", FINANCE, "objects/"),
        )
        .await
        .comparable();

    let target_dir = tempfile::tempdir().unwrap();
    let target_url = storage_url(&target_dir);
    let (src, dst) = (source_url.clone(), target_url.clone());
    let sums = tokio::task::spawn_blocking(move || {
        let source = Storage::open(&src, 2).unwrap();
        let target = Storage::open(&dst, 2).unwrap();
        let sums = migrate(&source, &target, false).unwrap();
        // A second run finds the target full and refuses, unless forced.
        let again = migrate(&source, &target, false).unwrap_err();
        assert!(matches!(again, MigrateError::TargetNotEmpty(_)), "{again}");
        assert_eq!(migrate(&source, &target, true).unwrap(), sums);
        sums
    })
    .await
    .unwrap();
    let objects = sums.iter().find(|t| t.table == "objects").unwrap();
    assert_eq!(
        objects.rows,
        2 * 6 + 4,
        "built-ins of two communities and four posted versions"
    );

    let mut moved = config.clone();
    moved.storage.url = target_url;
    let t = TestServer::launch(moved, tempfile::tempdir().unwrap(), clock.clone()).await;
    for (p, b) in paths.iter().zip(&before) {
        assert_eq!(&t.get("acme-soc", p).await.comparable(), b, "{p}");
    }
    assert_eq!(
        t.get(
            "initech-soc",
            &TestServer::coll("initech", FINANCE, "objects/")
        )
        .await
        .comparable(),
        initech_before
    );
    // Life goes on in the new database: new versions get fresh numbers and show up last.
    clock.advance(chrono::Duration::seconds(1));
    t.post_objects("acme-soc", &[malware(9)]).await;
    let r = t
        .get(
            "initech-soc",
            &TestServer::coll("initech", FINANCE, "objects/?match[version]=all"),
        )
        .await;
    let ids: Vec<String> = r.json()["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.last().unwrap(), &format!("malware--{}", uuid_for(9)));
}
