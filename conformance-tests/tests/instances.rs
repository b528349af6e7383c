//! Several Cairn instances on one database (PostgreSQL when CAIRN_TEST_POSTGRES_URL is set, the
//! same SQLite file otherwise): writes through both, polls through both alternately with `next`
//! and `added_after`; each reader gets every version it may see exactly once, in order; `next`
//! tokens and status resources of one instance work on the other.

use cairn::clock::Clock;
use cairn_conformance::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_database_exactly() {
    let a = Arc::new(TestServer::start().await);
    let b = Arc::new(
        TestServer::launch(
            a.config.clone(),
            tempfile::tempdir().unwrap(),
            Clock::system(),
        )
        .await,
    );
    let servers = [Arc::clone(&a), Arc::clone(&b)];

    // A status posted through one instance is readable through the other.
    let st = a
        .post_objects("acme-soc", &[indicator(1, "2026-01-01T00:00:00.000Z")])
        .await;
    let r = b
        .get(
            "acme-bot",
            &format!("/acme/status/{}/", st["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(r.json(), st);

    // Concurrent writers on both instances.
    let mut writers = vec![];
    for (w, user) in ["acme-soc", "globex-soc"].into_iter().enumerate() {
        for (i, s) in servers.iter().enumerate() {
            let s = Arc::clone(s);
            writers.push(tokio::spawn(async move {
                for batch in 0..5u32 {
                    let objs: Vec<Value> = (0..4u32)
                        .map(|k| malware(1000 * (w as u32 + 1) + 100 * i as u32 + 10 * batch + k))
                        .collect();
                    let st = s.post_objects(user, &objs).await;
                    assert_eq!(st["success_count"], 4, "{st}");
                }
            }));
        }
    }
    // Readers poll while they write, alternating instances, by next and by added_after.
    let mut got: Vec<(String, Vec<String>)> = vec![
        ("initech-soc".into(), vec![]),
        ("globex-soc".into(), vec![]),
    ];
    let mut last: Vec<Option<String>> = vec![None, None];
    let poll = |round: usize, user: String, since: Option<String>| {
        let s = Arc::clone(&servers[round % 2]);
        let other = Arc::clone(&servers[(round + 1) % 2]);
        async move {
            let root = user_root(&user);
            let mut path = format!(
                "{}?limit=5&match[version]=all",
                TestServer::coll(root, FINANCE, "objects/")
            );
            if let Some(l) = &since {
                path += &format!("&added_after={}", enc(l));
            }
            let mut ids = vec![];
            let mut last = since.clone();
            let mut page = s.get(&user, &path).await;
            let mut hop = 0;
            loop {
                assert_eq!(page.status, 200, "{}", page.text());
                let j = page.json();
                for o in j["objects"].as_array().cloned().unwrap_or_default() {
                    ids.push(o["id"].as_str().unwrap().to_owned());
                }
                if let Some(h) = page.header("x-taxii-date-added-last") {
                    last = Some(h);
                }
                if !j["more"].as_bool().unwrap_or(false) {
                    break;
                }
                // Follow next on alternating instances: tokens minted by one work on the other.
                hop += 1;
                let via = if hop % 2 == 0 { &s } else { &other };
                page = via
                    .get(
                        &user,
                        &format!("{path}&next={}", j["next"].as_str().unwrap()),
                    )
                    .await;
            }
            (ids, last)
        }
    };
    for round in 0..6 {
        for (k, (user, ids)) in got.iter_mut().enumerate() {
            let (more, l) = poll(round + k, user.clone(), last[k].clone()).await;
            ids.extend(more);
            last[k] = l;
        }
    }
    for w in writers {
        w.await.unwrap();
    }
    for (k, (user, ids)) in got.iter_mut().enumerate() {
        let (more, _) = poll(k, user.clone(), last[k].clone()).await;
        ids.extend(more);
        let unique: BTreeSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "{user} got an object twice");
        let all = a
            .all_pages(
                user,
                &format!(
                    "{}?limit=1000&match[version]=all",
                    TestServer::coll(user_root(user), FINANCE, "objects/")
                ),
            )
            .await;
        let expected: Vec<String> = all
            .iter()
            .flat_map(|p| p.json()["objects"].as_array().cloned().unwrap_or_default())
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            *ids, expected,
            "{user}: not exactly what it may see, in order"
        );
        assert_eq!(expected.len(), 6 + 1 + 80, "{user}");
    }
}
