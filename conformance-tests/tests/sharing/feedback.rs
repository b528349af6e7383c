//! Sightings back to the producer (docs/sharing.md section 8): a producer lists what the
//! community posted about its objects (`match[about]=mine`) and counts it per object
//! (`feedback/`), of what it may see only.

use super::fixture::*;
use super::follows::note;
use cairn_conformance::*;
use serde_json::{json, Value};

fn sighting(n: u32, of: &Value, marking: &str) -> Value {
    json!({
        "type": "sighting", "spec_version": "2.1",
        "id": format!("sighting--{}", uuid_for(n)),
        "created": "2026-01-02T00:00:00.000Z", "modified": "2026-01-02T00:00:00.000Z",
        "sighting_of_ref": of["id"], "count": 3,
        "object_marking_refs": [marking],
    })
}

fn opinion(n: u32, about: &Value, marking: &str) -> Value {
    json!({
        "type": "opinion", "spec_version": "2.1",
        "id": format!("opinion--{}", uuid_for(n)),
        "created": "2026-01-02T00:00:00.000Z", "modified": "2026-01-02T00:00:00.000Z",
        "opinion": "agree", "object_refs": [about["id"]],
        "object_marking_refs": [marking],
    })
}

fn feedback_path(user: &str, query: &str) -> String {
    TestServer::coll(root(user), ISAC, &format!("feedback/{query}"))
}

#[tokio::test]
async fn a_producer_counts_what_it_may_see_of_the_communitys_feedback_on_its_objects() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let phish = sdo("indicator", 1, Some(GREEN2));
    let other = sdo("malware", 2, Some(GREEN2));
    post(&s, "cert-ops", &[phish.clone(), other.clone()], None).await;
    let acme_ioc = sdo("indicator", 3, Some(GREEN2));
    post(&s, "acme-soc", std::slice::from_ref(&acme_ioc), None).await;

    // acme saw the phish and agrees; umbrella notes it; globex writes a RED note to acme only.
    let seen = sighting(10, &phish, GREEN2);
    let agree = opinion(11, &phish, GREEN2);
    post(&s, "acme-soc", &[seen.clone(), agree.clone()], None).await;
    post(&s, "umbrella-soc", &[note(12, &phish, AMBER2)], None).await;
    let red = note(13, &phish, RED2);
    post(&s, "umbrella-soc", std::slice::from_ref(&red), Some("acme")).await;
    // initech's sighting is of acme's indicator: acme's feedback, not cert's.
    post(&s, "initech-soc", &[sighting(14, &acme_ioc, GREEN2)], None).await;

    let r = s.get("cert-ops", &feedback_path("cert-ops", "")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type").as_deref(), Some(TAXII));
    assert_eq!(
        r.json(),
        json!({
            "more": false,
            "objects": [
                { "id": id(&phish), "counts": { "note": 1, "opinion": 1, "sighting": 1 } },
            ],
        })
    );
    let r = s.get("acme-soc", &feedback_path("acme-soc", "")).await;
    assert_eq!(
        r.json()["objects"],
        json!([{ "id": id(&acme_ioc), "counts": { "sighting": 1 } }])
    );

    // The feedback itself, as a TAXII listing: only cert's, only what cert may see.
    let path = TestServer::coll(
        "cert",
        ISAC,
        "objects/?match[about]=mine&match[type]=sighting,opinion",
    );
    let page = s.get("cert-ops", &path).await.json();
    let mut ids: Vec<String> = page["objects"].as_array().unwrap().iter().map(id).collect();
    ids.sort();
    let mut want = vec![id(&seen), id(&agree)];
    want.sort();
    assert_eq!(ids, want);

    // Paged: a page counts its own versions; together they count all of them once.
    let mut total: std::collections::BTreeMap<String, u64> = Default::default();
    for page in s
        .all_pages("cert-ops", &feedback_path("cert-ops", "?limit=1"))
        .await
    {
        let objects = page.json()["objects"].as_array().cloned().unwrap();
        assert_eq!(objects.len(), 1, "{}", page.text());
        for (kind, n) in objects[0]["counts"].as_object().unwrap() {
            *total.entry(kind.clone()).or_default() += n.as_u64().unwrap();
        }
    }
    assert_eq!(
        total,
        [("note", 1), ("opinion", 1), ("sighting", 1)]
            .map(|(k, n)| (k.to_owned(), n))
            .into()
    );
}

#[tokio::test]
async fn feedback_takes_only_the_filters_it_documents() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    for (query, param) in [
        (
            "?match[id]=indicator--6f3e8f40-2d8e-4b5c-9a4f-000000000001",
            "match[id]",
        ),
        ("?match[version]=all", "match[version]"),
    ] {
        let r = s.get("cert-ops", &feedback_path("cert-ops", query)).await;
        assert_eq!(r.status, 400, "{}", r.text());
        assert!(r.text().contains(param), "{}", r.text());
    }
    let r = s
        .get(
            "cert-ops",
            &TestServer::coll("cert", ISAC, "objects/?match[about]=theirs"),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("'mine'"), "{}", r.text());
    // Nothing about the caller's objects yet: an empty page.
    let r = s.get("cert-ops", &feedback_path("cert-ops", "")).await;
    assert_eq!((r.status, r.text()), (200, "{}".to_owned()));
}
