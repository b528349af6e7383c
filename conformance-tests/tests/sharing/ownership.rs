//! Objects belong to their producer (docs/sharing.md section 6): only the partner whose version
//! of an id was stored first may version it; a version of a hidden id is the poster's private
//! copy; repeats and versionless SCOs keep their rules.

use super::fixture::*;
use cairn_conformance::*;
use serde_json::{json, Value};

const LATER: &str = "2026-02-01T00:00:00.000Z";

fn later(v: &Value) -> Value {
    let mut out = v.clone();
    out["modified"] = json!(LATER);
    out
}

/// Every version of `object` that `user` gets, as (modified, name, revoked).
async fn versions(s: &TestServer, user: &str, object: &str) -> Vec<(String, String, bool)> {
    let path = format!(
        "{}?match[version]=all",
        TestServer::coll(root(user), ISAC, &format!("objects/{object}/"))
    );
    let r = s.get(user, &path).await;
    r.json()["objects"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|o| {
            (
                o["modified"].as_str().unwrap().to_owned(),
                o["name"].as_str().unwrap().to_owned(),
                o["revoked"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

fn original(o: &Value) -> (String, String, bool) {
    (
        o["modified"].as_str().unwrap().to_owned(),
        o["name"].as_str().unwrap().to_owned(),
        false,
    )
}

/// The one failure of a status, as (id, message).
fn refused(st: &Value) -> (String, String) {
    assert_eq!(st["success_count"], 0, "{st}");
    assert_eq!(st["failure_count"], 1, "{st}");
    let f = &st["failures"][0];
    (
        f["id"].as_str().unwrap().to_owned(),
        f["message"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn another_partners_visible_object_cannot_be_versioned_even_by_a_moderator() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let v1 = sdo("indicator", 1, Some(GREEN2));
    post(&s, "acme-soc", std::slice::from_ref(&v1), None).await;
    let mut revoked = later(&v1);
    revoked["revoked"] = json!(true);
    for user in ["umbrella-soc", "cert-ops"] {
        let st = post(&s, user, std::slice::from_ref(&revoked), None).await;
        let (failed, message) = refused(&st);
        assert_eq!(failed, id(&v1));
        assert!(
            message.contains("only its producer may make new versions")
                && message.contains("derived-from relationship")
                && !message.contains("acme"),
            "{message}"
        );
    }
    // Every reader still has the producer's version alone, the revoked one was never stored.
    for user in ["mssp-feed", "umbrella-soc", "cert-ops", "acme-soc"] {
        assert_eq!(
            versions(&s, user, &id(&v1)).await,
            vec![original(&v1)],
            "{user}"
        );
    }
    // The producer itself versions it as before.
    let mut v2 = later(&v1);
    v2["name"] = json!("indicator 1, refined");
    let st = post(&s, "acme-lead", std::slice::from_ref(&v2), None).await;
    assert_eq!(st["success_count"], 1, "{st}");
    assert_eq!(
        versions(&s, "mssp-feed", &id(&v1)).await,
        vec![original(&v1), original(&v2)]
    );
}

#[tokio::test]
async fn reposting_the_same_version_of_someone_elses_object_stores_nothing() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let v1 = sdo("indicator", 1, Some(GREEN2));
    post(&s, "acme-soc", std::slice::from_ref(&v1), None).await;
    let manifest = TestServer::coll("umbrella", ISAC, "manifest/?match[version]=all");
    let before = s.get("umbrella-soc", &manifest).await.json();
    let st = post(&s, "umbrella-soc", std::slice::from_ref(&v1), None).await;
    assert_eq!(st["success_count"], 1, "{st}");
    assert_eq!(
        st["successes"][0]["message"],
        "this version was already stored; kept once"
    );
    assert_eq!(s.get("umbrella-soc", &manifest).await.json(), before);
    // The same version with other content is refused as before.
    let mut other = v1.clone();
    other["name"] = json!("umbrella's view");
    let (_, message) = refused(&post(&s, "umbrella-soc", &[other], None).await);
    assert!(message.contains("already stored"), "{message}");
}

#[tokio::test]
async fn a_version_of_a_hidden_object_is_the_posters_private_copy() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    // ACME's AMBER malware is hidden from Initech (capped at GREEN).
    let secret = sdo("malware", 1, Some(AMBER2));
    post(&s, "acme-soc", std::slice::from_ref(&secret), None).await;
    let mut mine = later(&secret);
    mine["name"] = json!("initech's view");
    mine["object_marking_refs"] = json!([GREEN2]);
    let st = post(&s, "initech-soc", std::slice::from_ref(&mine), None).await;
    let fresh = post(&s, "initech-soc", &[sdo("malware", 2, Some(GREEN2))], None).await;
    // Answered exactly as a new object is.
    assert_eq!(st["successes"][0].as_object().unwrap().len(), 2, "{st}");
    assert_eq!(fresh["successes"][0].as_object().unwrap().len(), 2);
    assert_eq!(
        versions(&s, "initech-soc", &id(&secret)).await,
        vec![original(&mine)]
    );
    // Umbrella and the moderator see both producers' GREEN and AMBER objects, yet get ACME's
    // object alone: the copy is never served as a later version of it.
    for user in ["umbrella-soc", "cert-ops", "acme-soc", "mssp-feed"] {
        assert_eq!(
            versions(&s, user, &id(&secret)).await,
            vec![original(&secret)],
            "{user}"
        );
    }
    // Once ACME's object is visible to Initech, Initech may no longer version that id.
    let raised = isac_setup("").replace(
        "partner = \"initech\"\nrole = \"contributor\"\nmax_tlp = \"green\"",
        "partner = \"initech\"\nrole = \"contributor\"\nmax_tlp = \"amber\"",
    );
    s.apply(&raised).await;
    let mut again = later(&mine);
    again["modified"] = json!("2026-03-01T00:00:00.000Z");
    let (_, message) = refused(&post(&s, "initech-soc", &[again], None).await);
    assert!(message.contains("belongs to another partner"), "{message}");
    assert_eq!(
        versions(&s, "umbrella-soc", &id(&secret)).await,
        vec![original(&secret)]
    );
}

#[tokio::test]
async fn objects_without_versions_are_posted_by_many_partners_alike() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let addr = json!({
        "type": "ipv4-addr",
        "spec_version": "2.1",
        "id": "ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4",
        "value": "198.51.100.3",
        "object_marking_refs": [GREEN2],
    });
    for user in ["acme-soc", "umbrella-soc"] {
        let st = post(&s, user, std::slice::from_ref(&addr), None).await;
        assert_eq!(st["success_count"], 1, "{user}: {st}");
        assert_eq!(st["failure_count"], 0, "{user}: {st}");
    }
}

/// A private copy reaches the user who posted it and no one else, not even another user of its
/// partner who sees the owner's object: it never stands in for that object.
#[tokio::test]
async fn a_private_copy_reaches_only_the_user_who_posted_it() {
    let capped = isac_setup("").replace(
        "name = \"acme-soc\"\npartner = \"acme\"\n",
        "name = \"acme-soc\"\npartner = \"acme\"\nmax_tlp = \"green\"\n",
    );
    let s = TestServer::start_with(&capped, "").await;
    let secret = sdo("malware", 1, Some(AMBER2));
    post(&s, "cert-ops", std::slice::from_ref(&secret), None).await;
    let mut mine = later(&secret);
    mine["name"] = json!("acme-soc's view");
    mine["object_marking_refs"] = json!([GREEN2]);
    let st = post(&s, "acme-soc", std::slice::from_ref(&mine), None).await;
    assert_eq!(st["successes"][0].as_object().unwrap().len(), 2, "{st}");
    assert_eq!(
        versions(&s, "acme-soc", &id(&secret)).await,
        vec![original(&mine)]
    );
    assert_eq!(
        versions(&s, "acme-lead", &id(&secret)).await,
        vec![original(&secret)]
    );
}

/// An object posted without a version of its own under an id that another partner versions is
/// a version of it all the same.
#[tokio::test]
async fn a_versionless_post_of_a_versioned_id_follows_the_ownership_rule() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let widget = json!({
        "type": "x-acme-widget", "spec_version": "2.1",
        "id": format!("x-acme-widget--{}", uuid_for(1)),
        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
        "object_marking_refs": [GREEN2],
    });
    let st = post(&s, "acme-soc", std::slice::from_ref(&widget), None).await;
    assert_eq!(st["success_count"], 1, "{st}");
    let bare = json!({
        "type": "x-acme-widget", "spec_version": "2.1", "id": widget["id"],
        "object_marking_refs": [GREEN2],
    });
    let (_, message) = refused(&post(&s, "umbrella-soc", &[bare], None).await);
    assert!(message.contains("belongs to another partner"), "{message}");
}
