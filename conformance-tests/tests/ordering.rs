//! Ordering under concurrency: a slow writer (large envelopes, long transactions) and fast
//! writers post at once while a poller follows `added_after`. Whatever the poller discovers
//! later was never placed at or before what it had already seen: a page read while another
//! transaction is still committing never makes the poller skip that transaction's objects.
//! On PostgreSQL when CAIRN_TEST_POSTGRES_URL is set.

use cairn_conformance::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poller_never_discovers_objects_placed_before_what_it_has_seen() {
    let s = Arc::new(TestServer::start().await);
    let mut writers = vec![];
    // One slow writer: envelopes of 400 objects.
    {
        let s = Arc::clone(&s);
        writers.push(tokio::spawn(async move {
            for batch in 0..4u32 {
                let objs: Vec<Value> = (0..400u32)
                    .map(|k| malware(100_000 + batch * 1000 + k))
                    .collect();
                s.post_objects("acme-soc", &objs).await;
            }
        }));
    }
    // Fast writers: one object at a time.
    for w in 0..2u32 {
        let s = Arc::clone(&s);
        let user = if w == 0 { "globex-soc" } else { "acme-bot" };
        writers.push(tokio::spawn(async move {
            for k in 0..40u32 {
                s.post_objects(
                    user,
                    &[indicator(
                        200_000 + w * 1000 + k,
                        "2026-01-01T00:00:00.000Z",
                    )],
                )
                .await;
            }
        }));
    }
    let manifest = TestServer::coll(
        "initech",
        FINANCE,
        "manifest/?limit=1000&match[version]=all",
    );
    let mut seen_up_to: Option<String> = None;
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut polls = 0;
    loop {
        let done = writers.iter().all(|w| w.is_finished());
        let path = match &seen_up_to {
            Some(l) => format!("{manifest}&added_after={}", enc(l)),
            None => manifest.clone(),
        };
        for page in s.all_pages("initech-soc", &path).await {
            for rec in page.json()["objects"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                let added = rec["date_added"].as_str().unwrap().to_owned();
                if let Some(mark) = &seen_up_to {
                    // Equal-width UTC timestamps compare as strings.
                    assert!(
                        added > *mark,
                        "discovered {added} after having seen up to {mark}"
                    );
                }
                assert!(
                    seen.insert(rec["id"].as_str().unwrap().to_owned()),
                    "seen twice"
                );
            }
            if let Some(l) = page.header("x-taxii-date-added-last") {
                seen_up_to = Some(l);
            }
        }
        polls += 1;
        if done {
            break;
        }
    }
    for w in writers {
        w.await.unwrap();
    }
    // Everything ends up seen, and the poller really raced the writers.
    assert_eq!(seen.len(), 6 + 1600 + 80);
    assert!(
        polls > 2,
        "the poller should have polled while writers were busy"
    );
    // A full listing holds nothing the poller missed.
    let all = s.all_pages("initech-soc", &manifest).await;
    let listed: BTreeSet<String> = all
        .iter()
        .flat_map(|p| p.json()["objects"].as_array().cloned().unwrap_or_default())
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, seen);
}
