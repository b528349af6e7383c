//! TAXII 2.1 section 4.3 (get status) and the status resource returned by section 5.4 (add
//! objects): readable by the user who posted and the posting partner's moderators of that
//! community, by nobody else, for status_retention.

use cairn_conformance::*;
use serde_json::{json, Value};

const UNKNOWN: &str = "4c1d2e3f-5a6b-4c7d-8e9f-0a1b2c3d4e5f";

/// POSTs one indicator as acme-soc to finance-isac; returns the status resource.
async fn post_one(s: &TestServer) -> Value {
    s.post_objects("acme-soc", &[indicator(1, "2026-01-01T00:00:00.000Z")])
        .await
}

fn status_path(root: &str, id: &str) -> String {
    format!("/{root}/status/{id}/")
}

#[tokio::test]
async fn posted_status_is_retrievable_unchanged() {
    let s = TestServer::start().await;
    let body =
        serde_json::to_vec(&json!({ "objects": [indicator(1, "2026-01-01T00:00:00.000Z")] }))
            .unwrap();
    let posted = s
        .post(
            "acme-soc",
            &TestServer::coll("acme", FINANCE, "objects/"),
            body,
        )
        .await;
    assert_eq!(posted.status, 202, "{}", posted.text());
    let status = posted.json();
    let id = status["id"].as_str().expect("status id").to_owned();
    let r = s.get("acme-soc", &status_path("acme", &id)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.content_type().as_deref(), Some(TAXII));
    assert_eq!(r.json(), status);
    assert_eq!(
        r.text(),
        posted.text(),
        "the stored status is served byte for byte"
    );
}

#[tokio::test]
async fn status_is_readable_by_another_user_of_a_moderating_partner() {
    let s = TestServer::start().await;
    let status = post_one(&s).await;
    let id = status["id"].as_str().unwrap();
    let r = s.get("acme-bot", &status_path("acme", id)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), status);
}

#[tokio::test]
async fn another_partners_status_is_404_like_an_unknown_id() {
    let s = TestServer::start().await;
    let status = post_one(&s).await;
    let id = status["id"].as_str().unwrap();
    // globex is in the same community, but the status belongs to acme's POST.
    let other = s.get("globex-soc", &status_path("globex", id)).await;
    other.assert_error(404);
    let unknown = s.get("globex-soc", &status_path("globex", UNKNOWN)).await;
    unknown.assert_error(404);
    assert_eq!(other.comparable(), unknown.comparable());
    // Nor through acme's root, which is not globex's.
    let via_acme = s.get("globex-soc", &status_path("acme", id)).await;
    assert_eq!(via_acme.comparable(), unknown.comparable());
    // An unknown id for the owner is the same 404 too.
    let own_unknown = s.get("acme-soc", &status_path("acme", UNKNOWN)).await;
    assert_eq!(own_unknown.comparable(), unknown.comparable());
    let not_a_uuid = s
        .get("acme-soc", &status_path("acme", "not-a-status"))
        .await;
    assert_eq!(not_a_uuid.comparable(), unknown.comparable());
}

#[tokio::test]
async fn status_expires_after_status_retention() {
    let s = TestServer::start_with(&standard_setup(), "[taxii]\nstatus_retention = \"1h\"").await;
    let status = post_one(&s).await;
    let path = status_path("acme", status["id"].as_str().unwrap());
    s.clock.advance(chrono::Duration::minutes(50));
    let r = s.get("acme-soc", &path).await;
    assert_eq!(r.status, 200, "still within the retention: {}", r.text());
    assert_eq!(r.json(), status);
    s.clock.advance(chrono::Duration::minutes(70));
    let gone = s.get("acme-soc", &path).await;
    gone.assert_error(404);
    let unknown = s.get("acme-soc", &status_path("acme", UNKNOWN)).await;
    assert_eq!(gone.comparable(), unknown.comparable());
}

#[tokio::test]
async fn status_counts_are_consistent_with_successes_and_failures() {
    let s = TestServer::start().await;
    let good1 = indicator(1, "2026-01-02T00:00:00.000Z");
    let good2 = malware(2);
    let mut bad = indicator(3, "2026-01-03T00:00:00.000Z");
    bad.as_object_mut().unwrap().remove("spec_version");
    let status = s
        .post_objects("acme-soc", &[good1.clone(), bad.clone(), good2.clone()])
        .await;
    assert_eq!(status["status"], "complete");
    assert_eq!(status["total_count"], 3);
    assert_eq!(status["success_count"], 2);
    assert_eq!(status["failure_count"], 1);
    assert_eq!(status["pending_count"], 0);
    let n = |k: &str| status[k].as_u64().unwrap();
    assert_eq!(
        n("total_count"),
        n("success_count") + n("failure_count") + n("pending_count")
    );
    assert_eq!(
        status["successes"],
        json!([
            { "id": good1["id"], "version": "2026-01-02T00:00:00.000Z" },
            { "id": good2["id"], "version": "2026-01-01T00:00:00.000Z" }
        ])
    );
    let failures = status["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0]["id"], bad["id"]);
    assert_eq!(failures[0]["version"], "2026-01-03T00:00:00.000Z");
    assert!(
        failures[0]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{status}"
    );
    assert!(
        chrono::DateTime::parse_from_rfc3339(status["request_timestamp"].as_str().unwrap()).is_ok(),
        "{status}"
    );
    // And the stored status says the same.
    let r = s
        .get(
            "acme-soc",
            &status_path("acme", status["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(r.json(), status);
}

#[tokio::test]
async fn status_path_without_trailing_slash_works() {
    let s = TestServer::start().await;
    let status = post_one(&s).await;
    let r = s
        .get(
            "acme-soc",
            &format!("/acme/status/{}", status["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), status);
}

#[tokio::test]
async fn a_status_is_for_its_poster_and_the_partners_moderators_only() {
    let setup = format!(
        "{}\n[[user]]\nname = \"globex-bot\"\npartner = \"globex\"\npassword_hash = \"{}\"\n",
        standard_setup(),
        password_hash()
    );
    let s = TestServer::start_with(&setup, "").await;
    // globex contributes to finance-isac: its status there is globex-soc's alone.
    let st = s
        .post_objects("globex-soc", &[indicator(1, "2026-01-01T00:00:00.000Z")])
        .await;
    let path = status_path("globex", st["id"].as_str().unwrap());
    assert_eq!(s.get("globex-soc", &path).await.json(), st);
    let hidden = s.get("globex-bot", &path).await;
    hidden.assert_error(404);
    let unknown = s.get("globex-bot", &status_path("globex", UNKNOWN)).await;
    assert_eq!(hidden.comparable(), unknown.comparable());
    // globex moderates club: there its other users may follow what was posted.
    let body =
        serde_json::to_vec(&json!({ "objects": [indicator(2, "2026-01-01T00:00:00.000Z")] }))
            .unwrap();
    let r = s
        .post(
            "globex-soc",
            &TestServer::coll("globex", CLUB, "objects/"),
            body,
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let path = status_path("globex", r.json()["id"].as_str().unwrap());
    assert_eq!(s.get("globex-bot", &path).await.json(), r.json());
}
