//! Faults: PostgreSQL restarted while Cairn is under load. Requests during the outage get 503
//! with a TAXII error (not a hang, not a 500), Cairn reconnects by itself, and every object
//! acknowledged with 202 is there afterwards. It needs a PostgreSQL cluster of its own to
//! restart: `scripts/test` creates one and runs this with `--ignored`.

use cairn::clock::Clock;
use cairn::config::Config;
use cairn_conformance::*;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn cluster() -> (String, String, String) {
    let spec = std::env::var("CAIRN_TEST_FAULT_CLUSTER")
        .expect("CAIRN_TEST_FAULT_CLUSTER=\"VERSION NAME URL\" (scripts/test sets it)");
    let mut parts = spec.split_whitespace().map(str::to_owned);
    (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    )
}

fn pg_ctl(version: &str, name: &str, action: &str) {
    let out = Command::new("pg_ctlcluster")
        .args([
            "--skip-systemctl-redirect",
            version,
            name,
            action,
            "-m",
            "fast",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg_ctlcluster {action}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a PostgreSQL cluster of its own to restart; scripts/test runs it"]
async fn postgres_restart_under_load_loses_nothing_acknowledged() {
    let (version, name, admin) = cluster();
    let db = format!("cairn_fault_{}", uuid::Uuid::new_v4().simple());
    let url = cairn::storage::create_postgres_database(&admin, &db).unwrap();
    let text = format!("[server]\nbind = \"127.0.0.1:0\"\nworkers = 2\n[storage]\nurl = \"{url}\"\npool_size = 4\n");
    let config =
        Config::from_parts(Path::new("t.toml"), &text, Vec::<(String, String)>::new()).unwrap();
    let s =
        Arc::new(TestServer::launch(config, tempfile::tempdir().unwrap(), Clock::system()).await);
    s.apply(&standard_setup()).await;

    let stop = Arc::new(AtomicBool::new(false));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut writers = vec![];
    for w in 0..2u32 {
        let (s, stop, client) = (Arc::clone(&s), Arc::clone(&stop), client.clone());
        writers.push(tokio::spawn(async move {
            let (mut acknowledged, mut unavailable, mut n) = (vec![], 0u32, 0u32);
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let obj = malware(w * 100_000 + n);
                let body = serde_json::to_vec(&serde_json::json!({ "objects": [obj] })).unwrap();
                let r = client
                    .post(s.url(&TestServer::coll("acme", FINANCE, "objects/")))
                    .header("Authorization", TestServer::auth("acme-soc"))
                    .header("Accept", TAXII)
                    .header("Content-Type", TAXII)
                    .body(body)
                    .send()
                    .await
                    .expect("no hang: every request is answered");
                let status = r.status().as_u16();
                let text = r.text().await.unwrap();
                match status {
                    202 => acknowledged.push(obj["id"].as_str().unwrap().to_owned()),
                    503 => {
                        let e: serde_json::Value = serde_json::from_str(&text).unwrap();
                        assert_eq!(e["http_status"], "503", "{text}");
                        unavailable += 1;
                    }
                    other => panic!("unexpected {other} during the outage: {text}"),
                }
            }
            (acknowledged, unavailable)
        }));
    }
    // Let the load run, restart the database under it, let it run again.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        s.send(reqwest::Method::GET, "/readyz", None, &[], None)
            .await
            .status,
        200
    );
    pg_ctl(&version, &name, "stop");
    tokio::time::sleep(Duration::from_secs(1)).await;
    // A load balancer sees this instance not ready, and alive.
    let ready = s
        .send(reqwest::Method::GET, "/readyz", None, &[], None)
        .await;
    assert_eq!(ready.status, 503, "{}", ready.text());
    let alive = s
        .send(reqwest::Method::GET, "/healthz", None, &[], None)
        .await;
    assert_eq!(alive.status, 200);
    tokio::time::sleep(Duration::from_secs(2)).await;
    pg_ctl(&version, &name, "start");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ready = s
        .send(reqwest::Method::GET, "/readyz", None, &[], None)
        .await;
    assert_eq!(ready.status, 200, "{}", ready.text());
    stop.store(true, Ordering::Relaxed);
    let mut acknowledged = vec![];
    let mut unavailable = 0;
    for w in writers {
        let (a, u) = w.await.unwrap();
        acknowledged.extend(a);
        unavailable += u;
    }
    assert!(unavailable > 0, "the outage should have produced 503s");
    // Reconnected by itself: reads work, and every acknowledged object is there.
    let pages = s
        .all_pages(
            "acme-soc",
            &TestServer::coll("acme", FINANCE, "objects/?limit=1000&match[type]=malware"),
        )
        .await;
    let stored: std::collections::BTreeSet<String> = pages
        .iter()
        .flat_map(|p| p.json()["objects"].as_array().cloned().unwrap_or_default())
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    for id in &acknowledged {
        assert!(
            stored.contains(id),
            "{id} was acknowledged with 202 but is gone"
        );
    }
    assert!(
        acknowledged.len() > 4,
        "the load should have stored objects before and after"
    );
}
