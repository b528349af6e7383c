//! The thread of a threat: `match[ref]` lists what references an object (notes, opinions,
//! relationships, sightings, reports), on the objects and manifest endpoints, through the same
//! delivery decision; a note that references a note is a reply.

use super::fixture::*;
use cairn_conformance::*;
use serde_json::{json, Value};

fn note(n: u32, about: &[&Value], marking: &str) -> Value {
    json!({
        "type": "note", "spec_version": "2.1", "id": format!("note--{}", uuid_for(n)),
        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
        "content": format!("note {n}"),
        "object_refs": about.iter().map(|o| o["id"].clone()).collect::<Vec<_>>(),
        "object_marking_refs": [marking],
    })
}

fn opinion(n: u32, about: &Value, marking: &str) -> Value {
    json!({
        "type": "opinion", "spec_version": "2.1", "id": format!("opinion--{}", uuid_for(n)),
        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
        "opinion": "agree", "object_refs": [about["id"]],
        "object_marking_refs": [marking],
    })
}

/// The ids of what references `object`, as `user` gets them (objects endpoint, or manifest).
async fn thread(s: &TestServer, user: &str, object: &str, endpoint: &str) -> Vec<String> {
    let path = TestServer::coll(root(user), ISAC, &format!("{endpoint}?match[ref]={object}"));
    let r = s.get(user, &path).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["objects"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_thread_of_an_object_is_what_references_it_as_each_reader_may_see() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let indicator = sdo("indicator", 1, Some(GREEN2));
    let malware = sdo("malware", 2, Some(GREEN2));
    let rel = relationship(3, &indicator, &malware, GREEN2);
    let first = note(4, &[&indicator], GREEN2);
    let reply = note(5, &[&first], GREEN2);
    let amber = opinion(6, &indicator, AMBER2);
    post(&s, "cert-ops", &[indicator.clone(), malware.clone()], None).await;
    post(&s, "acme-soc", &[rel.clone(), first.clone()], None).await;
    post(&s, "umbrella-soc", &[reply.clone(), amber.clone()], None).await;
    let about = id(&indicator);
    // Initech (GREEN) does not get the AMBER opinion; ACME (RED) does.
    for endpoint in ["objects/", "manifest/"] {
        assert_eq!(
            thread(&s, "initech-soc", &about, endpoint).await,
            vec![id(&rel), id(&first)],
            "{endpoint}"
        );
    }
    assert_eq!(
        thread(&s, "acme-soc", &about, "objects/").await,
        vec![id(&rel), id(&first), id(&amber)]
    );
    // Replies to the note.
    assert_eq!(
        thread(&s, "initech-soc", &id(&first), "objects/").await,
        vec![id(&reply)]
    );
    // A next token carries the filter.
    let path = TestServer::coll(
        "acme",
        ISAC,
        &format!("objects/?match[ref]={about}&limit=2"),
    );
    let page = s.get("acme-soc", &path).await.json();
    let next = page["next"].as_str().unwrap();
    let rest = s
        .get(
            "acme-soc",
            &TestServer::coll("acme", ISAC, &format!("objects/?next={}", enc(next))),
        )
        .await
        .json();
    assert_eq!(rest["objects"][0]["id"], id(&amber));
    assert_eq!(rest["more"], false);
}

/// The thread of an object a reader cannot see is answered as the thread of one that does not
/// exist, byte for byte.
#[tokio::test]
async fn the_thread_of_a_hidden_object_is_that_of_a_missing_one() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let secret = sdo("malware", 1, Some(AMBER2));
    let about_it = note(2, &[&secret], GREEN2);
    post(&s, "cert-ops", &[secret.clone(), about_it], None).await;
    let missing = format!("malware--{}", uuid_for(99));
    let path =
        |object: &str| TestServer::coll("initech", ISAC, &format!("objects/?match[ref]={object}"));
    let hidden = s.get("initech-soc", &path(&id(&secret))).await;
    let absent = s.get("initech-soc", &path(&missing)).await;
    assert_eq!(hidden.status, 200);
    assert_eq!(hidden.body, absent.body);
    assert_eq!(
        hidden.header("x-taxii-date-added-first"),
        absent.header("x-taxii-date-added-first")
    );
}
