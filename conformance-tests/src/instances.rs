//! Several Cairn instances on one database: the scenario that `tests/instances.rs` runs on two
//! servers inside the test process and the root crate's `tests/instances_processes.rs` runs on two
//! `cairn serve` processes.
//!
//! Writers post through every instance at once; two readers poll while they write, alternating
//! instances, by `added_after` and by `next` tokens followed on the other instance. Each reader
//! must get exactly what the sharing policy lets it see, computed from what was posted and the
//! setup, each version once, in `date_added` order. Every status resource is read through the
//! other instance and must be the same JSON.

use crate::{
    builtin_ids, enc, indicator, malware, standard_setup, user_root, Http, TestServer, FINANCE,
};
use serde_json::Value;
use std::collections::BTreeSet;

/// The standard setup plus one sharing rule, so that the readers may see different things:
/// acme's contributions to finance-isac never go to initech.
pub fn setup() -> String {
    let standard = standard_setup();
    let club = "\n[[community]]\nid = \"club\"";
    assert!(standard.contains(club), "the standard setup changed");
    // Inserted before the club, so that it belongs to finance-isac.
    standard.replacen(
        club,
        &format!("\n[[community.rule]]\nproducer = \"acme\"\nexclude = [\"initech\"]\n{club}"),
        1,
    )
}

/// Whether, under `setup()`, a user of `reader` receives what `producer` posts to finance-isac:
/// its own contributions always, others' unless a rule excludes it (nothing posted here is marked,
/// so finance-isac's `unmarked = "amber"` is within every member's cap).
fn delivered(producer: &str, reader: &str) -> bool {
    producer == reader || !(producer == "acme" && reader == "initech")
}

/// The writers: users and their partners.
const WRITERS: [(&str, &str); 2] = [("acme-soc", "acme"), ("globex-soc", "globex")];
/// The readers: users and their partners.
const READERS: [(&str, &str); 2] = [("initech-soc", "initech"), ("globex-soc", "globex")];
const BATCHES: u32 = 5;
const PER_BATCH: u32 = 4;

/// `/{root}/collections/finance-isac/{rest}?limit=...&match[version]=all` for `user`.
fn finance(user: &str, rest: &str, limit: usize) -> String {
    format!(
        "{}?limit={limit}&match[version]=all",
        TestServer::coll(user_root(user), FINANCE, rest)
    )
}

/// Runs the scenario on instances sharing one database, set up with `setup()` and nothing posted.
pub async fn share_one_database(instances: [Http; 2]) {
    let [a, b] = instances.clone();
    // (producer partner, object id) of everything posted, in no particular order.
    let mut posted: Vec<(&str, String)> = vec![];

    // A status posted through one instance is readable through the other, by another user of the
    // same partner.
    let first = indicator(1, "2026-01-01T00:00:00.000Z");
    let st = a
        .post_objects("acme-soc", std::slice::from_ref(&first))
        .await;
    posted.push(("acme", first["id"].as_str().unwrap().to_owned()));
    let r = b
        .get(
            "acme-bot",
            &format!("/acme/status/{}/", st["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), st);

    // Concurrent writers on every instance.
    let mut writers = vec![];
    for (w, (user, partner)) in WRITERS.into_iter().enumerate() {
        for (i, s) in instances.iter().enumerate() {
            let batches: Vec<Vec<Value>> = (0..BATCHES)
                .map(|batch| {
                    (0..PER_BATCH)
                        .map(|k| malware(1000 * (w as u32 + 1) + 100 * i as u32 + 10 * batch + k))
                        .collect()
                })
                .collect();
            for o in batches.iter().flatten() {
                posted.push((partner, o["id"].as_str().unwrap().to_owned()));
            }
            let s = s.clone();
            writers.push(tokio::spawn(async move {
                let mut statuses = vec![];
                for objs in batches {
                    let st = s.post_objects(user, &objs).await;
                    assert_eq!(st["success_count"], PER_BATCH, "{st}");
                    statuses.push((i, user, st));
                }
                statuses
            }));
        }
    }

    // Readers poll while they write, alternating instances, by next and by added_after.
    let mut got: Vec<Vec<String>> = vec![vec![]; READERS.len()];
    let mut last: Vec<Option<String>> = vec![None; READERS.len()];
    let poll = |round: usize, user: &'static str, since: Option<String>| {
        let s = instances[round % 2].clone();
        let other = instances[(round + 1) % 2].clone();
        async move {
            let mut path = finance(user, "objects/", 5);
            if let Some(l) = &since {
                path += &format!("&added_after={}", enc(l));
            }
            let mut ids = vec![];
            let mut last = since.clone();
            let mut page = s.get(user, &path).await;
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
                        user,
                        &format!("{path}&next={}", j["next"].as_str().unwrap()),
                    )
                    .await;
            }
            (ids, last)
        }
    };
    for round in 0..6 {
        for (k, (user, _)) in READERS.into_iter().enumerate() {
            let (more, l) = poll(round + k, user, last[k].clone()).await;
            got[k].extend(more);
            last[k] = l;
        }
    }
    let mut statuses = vec![];
    for w in writers {
        statuses.extend(w.await.unwrap());
    }
    assert_eq!(
        posted.len() as u32,
        1 + (WRITERS.len() * instances.len()) as u32 * BATCHES * PER_BATCH
    );

    // Every status, read through the instance that did not take the POST: the same JSON.
    for (i, user, st) in &statuses {
        let r = instances[(i + 1) % 2]
            .get(
                user,
                &format!(
                    "/{}/status/{}/",
                    user_root(user),
                    st["id"].as_str().unwrap()
                ),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json(), *st, "status of a POST through instance {i}");
    }

    for (k, (user, partner)) in READERS.into_iter().enumerate() {
        let (more, _) = poll(k, user, last[k].clone()).await;
        got[k].extend(more);
        let ids = &got[k];
        let unique: BTreeSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "{user} got an object twice");

        // Exactly what the policy allows: the built-ins and what was posted that it may see.
        let mut allowed: BTreeSet<String> = builtin_ids().into_iter().collect();
        allowed.extend(
            posted
                .iter()
                .filter(|(producer, _)| delivered(producer, partner))
                .map(|(_, id)| id.clone()),
        );
        let expected_len = if partner == "initech" {
            6 + 40
        } else {
            6 + 1 + 80
        };
        assert_eq!(allowed.len(), expected_len, "{user}");
        assert_eq!(
            unique.into_iter().cloned().collect::<BTreeSet<String>>(),
            allowed,
            "{user}: not exactly what it may see"
        );

        // In date_added order: the order of the reader's manifest, whose dates strictly increase
        // and which both instances serve alike.
        let manifest = |s: Http| async move {
            let pages = s.all_pages(user, &finance(user, "manifest/", 1000)).await;
            pages
                .iter()
                .flat_map(|p| p.json()["objects"].as_array().cloned().unwrap_or_default())
                .map(|m| {
                    let added = m["date_added"].as_str().unwrap();
                    let added = chrono::DateTime::parse_from_rfc3339(added)
                        .unwrap_or_else(|e| panic!("date_added {added}: {e}"));
                    (m["id"].as_str().unwrap().to_owned(), added)
                })
                .collect::<Vec<_>>()
        };
        let records = manifest(a.clone()).await;
        assert_eq!(
            records,
            manifest(b.clone()).await,
            "{user}: manifests differ"
        );
        assert!(
            records.windows(2).all(|w| w[0].1 < w[1].1),
            "{user}: date_added does not strictly increase: {records:?}"
        );
        let in_order: Vec<String> = records.into_iter().map(|(id, _)| id).collect();
        assert_eq!(*ids, in_order, "{user}: not in date_added order");

        // A next token minted by one instance gets the same page from either.
        for (mint, other) in [(&a, &b), (&b, &a)] {
            let path = finance(user, "objects/", 10);
            let first = mint.get(user, &path).await;
            assert_eq!(first.status, 200, "{}", first.text());
            let j = first.json();
            assert_eq!(j["more"], true, "{j}");
            let next = format!("{path}&next={}", j["next"].as_str().unwrap());
            let there = other.get(user, &next).await;
            assert_eq!(there.status, 200, "{}", there.text());
            assert_eq!(there.comparable(), mint.get(user, &next).await.comparable());
            let page_ids: Vec<String> = there.json()["objects"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(page_ids, in_order[10..20], "{user}");
        }
    }
}
