//! Readers with the same caps share one stream (docs/sharing.md section 7): what a version costs
//! does not grow with the readers it reaches, and a reader that moves to rows of its own, or
//! joins late, keeps every guarantee of its date_added.

use super::fixture::*;
use cairn_conformance::*;
use serde_json::Value;

/// One community: `prod` contributes; readers `r1`..`rN` (one user each, `rK-soc`) are capped
/// at `cap`, except those listed in `raised`, capped at AMBER+STRICT.
fn setup(readers: u32, cap: &str, raised: &[u32]) -> String {
    let h = password_hash();
    let mut s = String::new();
    let mut members = vec![("prod".to_owned(), "contributor", "amber+strict".to_owned())];
    for k in 1..=readers {
        let cap = if raised.contains(&k) {
            "amber+strict"
        } else {
            cap
        };
        members.push((format!("r{k}"), "reader", cap.to_owned()));
    }
    for (p, _, _) in &members {
        s += &format!(
            "[[partner]]\nid = \"{p}\"\ntitle = \"{p}\"\n[[user]]\nname = \"{p}-soc\"\n\
             partner = \"{p}\"\npassword_hash = \"{h}\"\n"
        );
    }
    s += &format!("[[community]]\nid = \"cc\"\ncollection = \"{ISAC}\"\ntitle = \"C\"\n");
    for (p, role, cap) in &members {
        s += &format!(
            "[[community.member]]\npartner = \"{p}\"\nrole = \"{role}\"\nmax_tlp = \"{cap}\"\n"
        );
    }
    s
}

/// `count` objects from `first` on, alternately GREEN and AMBER, then `strict` AMBER+STRICT.
fn objects(first: u32, count: u32, strict: u32) -> Vec<Value> {
    let mut out: Vec<Value> = (first..first + count)
        .map(|n| {
            let marking = if n % 2 == 0 { GREEN2 } else { AMBER2 };
            sdo("indicator", n, Some(marking))
        })
        .collect();
    out.extend((0..strict).map(|k| sdo("malware", first + count + k, Some(STRICT2))));
    out
}

/// Rows in the tables that say who receives what.
async fn rows(s: &TestServer) -> (i64, i64) {
    let storage = cairn::startup::open_storage(&s.config).await.unwrap();
    let counts = tokio::task::spawn_blocking(move || {
        storage
            .read_now(cairn::storage::migrate::row_counts)
            .unwrap()
    })
    .await
    .unwrap();
    let of = |t: &str| counts.iter().find(|(n, _)| *n == t).unwrap().1;
    (of("class_rows"), of("deliveries"))
}

/// Every (id, date_added) of `user`'s manifest, built-ins included, in order.
async fn manifest(s: &TestServer, user: &str) -> Vec<(String, String)> {
    let path = format!(
        "{}?match[version]=all&limit=1000",
        TestServer::coll(root(user), ISAC, "manifest/")
    );
    let r = s.get(user, &path).await;
    assert_eq!(r.status, 200);
    r.json()["objects"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| {
            let text = |k: &str| e[k].as_str().unwrap().to_owned();
            (text("id"), text("date_added"))
        })
        .collect()
}

/// The ids `user` gets polling objects with added_after = `since`, in order.
async fn polled(s: &TestServer, user: &str, since: &str) -> Vec<String> {
    let path = format!(
        "{}?added_after={}&match[version]=all",
        TestServer::coll(root(user), ISAC, "objects/"),
        enc(since)
    );
    posted_ids(&s.get(user, &path).await)
}

fn ids(objects: &[Value]) -> Vec<String> {
    objects.iter().map(id).collect()
}

#[tokio::test]
async fn the_rows_a_version_costs_do_not_grow_with_its_readers() {
    let posted = objects(1, 20, 0);
    let mut counts = vec![];
    for readers in [2, 12] {
        let s = TestServer::start_with(&setup(readers, "amber", &[]), "").await;
        post(&s, "prod-soc", &posted, None).await;
        let first = manifest(&s, "r1-soc").await;
        assert_eq!(first.len(), 20 + builtin_ids().len());
        // Readers with the same caps see the same versions with the same dates.
        for k in 2..=readers {
            assert_eq!(manifest(&s, &format!("r{k}-soc")).await, first);
        }
        counts.push(rows(&s).await);
    }
    // Twelve readers cost what two do: one row per version and class, none per reader.
    assert_eq!(counts[0], counts[1]);
    assert_eq!(counts[0].1, 0, "no reader needed rows of its own");
}

#[tokio::test]
async fn a_reader_moved_to_rows_of_its_own_keeps_every_date_it_saw() {
    let s = TestServer::start_with(&setup(3, "amber", &[]), "").await;
    let posted = objects(1, 6, 3);
    post(&s, "prod-soc", &posted, None).await;
    let before = manifest(&s, "r1-soc").await;
    let other = manifest(&s, "r2-soc").await;
    assert_eq!(
        before.len(),
        6 + builtin_ids().len(),
        "AMBER+STRICT is above the cap"
    );
    let last = before.last().unwrap().1.clone();
    s.clock.advance(chrono::Duration::seconds(1));
    let changed = s.apply(&setup(3, "amber", &[1])).await;
    assert_eq!(changed, vec!["member r1 of cc: changed".to_string()]);
    let after = manifest(&s, "r1-soc").await;
    // What it had keeps its dates; the newly allowed come after, as new.
    assert_eq!(after[..before.len()], before[..]);
    assert_eq!(polled(&s, "r1-soc", &last).await, ids(&posted[6..]));
    assert!(after[before.len()..].iter().all(|(_, d)| *d > last));
    // The others' view is untouched, and r1 alone has rows of its own.
    assert_eq!(manifest(&s, "r2-soc").await, other);
    assert_eq!(rows(&s).await.1, after.len() as i64);
    // New versions reach it once, as they reach the others.
    let more = objects(20, 2, 1);
    post(&s, "prod-soc", &more, None).await;
    let last = after.last().unwrap().1.clone();
    assert_eq!(polled(&s, "r1-soc", &last).await, ids(&more));
    let last_other = other.last().unwrap().1.clone();
    assert_eq!(polled(&s, "r2-soc", &last_other).await, ids(&more[..2]));
}

#[tokio::test]
async fn a_member_joining_late_gets_the_backlog_as_new_then_follows_the_stream() {
    let s = TestServer::start_with(&setup(2, "amber", &[]), "").await;
    let posted = objects(1, 4, 0);
    post(&s, "prod-soc", &posted, None).await;
    let seen_by_r1 = manifest(&s, "r1-soc").await;
    s.clock.advance(chrono::Duration::seconds(1));
    let joined = s.apply(&setup(3, "amber", &[])).await;
    assert!(joined.iter().any(|l| l.contains("r3")), "{joined:?}");
    let backlog = manifest(&s, "r3-soc").await;
    assert_eq!(backlog.len(), seen_by_r1.len());
    // Dated from its joining, after everything the others were given then, in stream order.
    assert!(backlog[0].1 > seen_by_r1.last().unwrap().1);
    assert!(backlog.windows(2).all(|w| w[0].1 < w[1].1));
    let ids_of = |m: &[(String, String)]| m.iter().map(|e| e.0.clone()).collect::<Vec<_>>();
    assert_eq!(ids_of(&backlog), ids_of(&seen_by_r1));
    // Then it follows the stream: each new version once, for it and the others.
    let more = objects(10, 3, 0);
    post(&s, "prod-soc", &more, None).await;
    assert_eq!(
        polled(&s, "r3-soc", &backlog.last().unwrap().1).await,
        ids(&more)
    );
    assert_eq!(
        polled(&s, "r1-soc", &seen_by_r1.last().unwrap().1).await,
        ids(&more)
    );
    assert_eq!(
        rows(&s).await.1,
        0,
        "the late member reads its class's stream"
    );
}

/// A reader with no view when a POST arrives (as a database from before class streams leaves a
/// reader it never served) is placed against everything stored and the POST's own objects,
/// which are planned before they are written: it receives every object once, the older ones
/// before the new, and its partner's other readers lose nothing.
#[tokio::test]
async fn a_post_places_a_reader_without_a_view_against_everything() {
    let s = TestServer::start_with(&setup(2, "amber", &[]), "").await;
    let (older, newer) = (objects(1, 6, 0), objects(7, 6, 0));
    post(&s, "prod-soc", &older, None).await;
    let before = manifest(&s, "r2-soc").await;
    let storage = cairn::startup::open_storage(&s.config).await.unwrap();
    tokio::task::spawn_blocking(move || {
        storage.write_now(|c| cairn::storage::streams::delete_view(c, "r1-soc", "cc"))
    })
    .await
    .unwrap()
    .unwrap();
    post(&s, "prod-soc", &newer, None).await;
    let all: Vec<String> = ids(&older).into_iter().chain(ids(&newer)).collect();
    let from_start = "2000-01-01T00:00:00Z";
    assert_eq!(polled(&s, "r1-soc", from_start).await, all);
    assert_eq!(polled(&s, "r2-soc", from_start).await, all);
    // r2 kept its dates for what it had already.
    assert_eq!(manifest(&s, "r2-soc").await[..before.len()], before[..]);
}
