//! TAXII 2.1 section 5.6 (Get an Object) and section 5.7 (Delete an Object), with the filters of
//! section 3.4 that these endpoints accept.

use crate::objects_get::{
    assert_micros, date_headers, description, ind, mal, manifest_all, object_ids, objects_url, T1,
    T2, T3,
};
use cairn_conformance::*;
use serde_json::Value;

/// `/{root}/collections/{coll}/objects/{id}/?{query}`.
fn object_url(root: &str, coll: &str, id: &str, query: &str) -> String {
    TestServer::coll(root, coll, &format!("objects/{id}/?{query}"))
}

/// `/acme/collections/FINANCE/objects/{id}/?{query}`.
fn acme(id: &str, query: &str) -> String {
    object_url("acme", FINANCE, id, query)
}

/// The `modified` of each object in an envelope.
fn modifieds(r: &Resp) -> Vec<String> {
    assert_eq!(r.status, 200, "{}", r.text());
    match r.json().get("objects") {
        None => vec![],
        Some(l) => l
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["modified"].as_str().unwrap().to_owned())
            .collect(),
    }
}

/// Indicator 1 in three versions posted oldest first, and malware 2.
async fn three_versions(s: &TestServer, user: &str) {
    s.post_objects(user, &[indicator(1, T1)]).await;
    s.post_objects(user, &[indicator(1, T2), malware(2)]).await;
    s.post_objects(user, &[indicator(1, T3)]).await;
}

#[tokio::test]
async fn get_object_returns_the_latest_version_by_default() {
    let s = TestServer::start().await;
    three_versions(&s, "acme-soc").await;
    let r = s.get("acme-soc", &acme(&ind(1), "")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.content_type().as_deref(), Some(TAXII));
    assert_eq!(object_ids(&r), vec![ind(1)]);
    assert_eq!(modifieds(&r), vec![T3]);
    assert_eq!(r.json()["more"], false);
    let (first, last) = date_headers(&r);
    assert_micros(&first);
    assert_eq!(first, last);
    // Trailing slash optional, and the alias names the same collection.
    let r = s
        .get("acme-soc", &object_url("acme", "finance-isac", &ind(1), ""))
        .await;
    assert_eq!(modifieds(&r), vec![T3]);
}

#[tokio::test]
async fn get_object_with_match_version_all_returns_every_version_oldest_first() {
    let s = TestServer::start().await;
    three_versions(&s, "acme-soc").await;
    let r = s
        .get("acme-soc", &acme(&ind(1), "match[version]=all"))
        .await;
    assert_eq!(modifieds(&r), vec![T1, T2, T3]);
    assert_eq!(object_ids(&r), vec![ind(1), ind(1), ind(1)]);
    // Headers span the three versions.
    let recs = manifest_all(&s, "acme-soc").await;
    let mine: Vec<&Value> = recs.iter().filter(|m| m["id"] == ind(1)).collect();
    assert_eq!(
        date_headers(&r),
        (
            mine[0]["date_added"].as_str().unwrap().to_owned(),
            mine[2]["date_added"].as_str().unwrap().to_owned()
        )
    );
    let r = s
        .get("acme-soc", &acme(&ind(1), "match[version]=first"))
        .await;
    assert_eq!(modifieds(&r), vec![T1]);
    let r = s
        .get(
            "acme-soc",
            &acme(&ind(1), &format!("match[version]={}", enc(T2))),
        )
        .await;
    assert_eq!(modifieds(&r), vec![T2]);
    // Paging through the versions.
    let pages = s
        .all_pages("acme-soc", &acme(&ind(1), "match[version]=all&limit=2"))
        .await;
    let per_page: Vec<Vec<String>> = pages.iter().map(modifieds).collect();
    assert_eq!(
        per_page,
        vec![vec![T1.to_owned(), T2.to_owned()], vec![T3.to_owned()]]
    );
}

#[tokio::test]
async fn get_unknown_or_malformed_object_id_is_not_found() {
    let s = TestServer::start().await;
    three_versions(&s, "acme-soc").await;
    let unknown = s.get("acme-soc", &acme(&ind(99), "")).await;
    unknown.assert_error(404);
    let malformed = s.get("acme-soc", &acme("not-an-id", "")).await;
    malformed.assert_error(404);
    assert_eq!(unknown.comparable(), malformed.comparable());
    // An id of another type with the same UUID is another object.
    let r = s
        .get("acme-soc", &acme(&format!("campaign--{}", uuid_for(1)), ""))
        .await;
    r.assert_error(404);
}

#[tokio::test]
async fn get_object_refuses_match_type_and_match_id() {
    let s = TestServer::start().await;
    three_versions(&s, "acme-soc").await;
    for (param, value) in [
        ("match[type]", "indicator".to_owned()),
        ("match[id]", ind(1)),
    ] {
        let r = s
            .get(
                "acme-soc",
                &acme(&ind(1), &format!("{}={}", enc(param), value)),
            )
            .await;
        let e = r.assert_error(400);
        assert!(description(&e).contains(param), "{e}");
    }
}

#[tokio::test]
async fn delete_removes_every_version_by_default() {
    let s = TestServer::start().await;
    three_versions(&s, "acme-soc").await;
    let r = s.delete("acme-soc", &acme(&ind(1), "")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.content_type().as_deref(), Some(TAXII));
    assert!(r.body.is_empty(), "{}", r.text());

    s.get("acme-soc", &acme(&ind(1), ""))
        .await
        .assert_error(404);
    s.get("acme-soc", &acme(&ind(1), "match[version]=all"))
        .await
        .assert_error(404);
    let r = s.get("acme-soc", &objects_url("match[version]=all")).await;
    assert_eq!(posted_ids(&r), vec![mal(2)]);
    let recs = without_builtins(&manifest_all(&s, "acme-soc").await);
    let ids: Vec<&str> = recs.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![mal(2)]);
    // Deleting again: nothing left.
    s.delete("acme-soc", &acme(&ind(1), ""))
        .await
        .assert_error(404);
}

#[tokio::test]
async fn deleting_the_last_version_makes_the_previous_one_latest() {
    let s = TestServer::start().await;
    three_versions(&s, "acme-soc").await;
    let r = s
        .delete("acme-soc", &acme(&ind(1), "match[version]=last"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s.get("acme-soc", &acme(&ind(1), "")).await;
    assert_eq!(modifieds(&r), vec![T2]);
    let r = s
        .get("acme-soc", &objects_url(&format!("match[id]={}", ind(1))))
        .await;
    assert_eq!(modifieds(&r), vec![T2]);
}

#[tokio::test]
async fn a_deleted_object_can_be_posted_again() {
    let s = TestServer::start().await;
    s.post_objects("acme-soc", &[indicator(1, T1), malware(2)])
        .await;
    let r = s.delete("acme-soc", &acme(&ind(1), "")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let st = s.post_objects("acme-soc", &[indicator(1, T1)]).await;
    assert_eq!(
        st["successes"],
        serde_json::json!([{"id": ind(1), "version": T1}]),
        "{st}"
    );
    // It is new again: added after malware 2.
    let r = s.get("acme-soc", &objects_url("")).await;
    assert_eq!(posted_ids(&r), vec![mal(2), ind(1)]);
}

#[tokio::test]
async fn delete_with_match_version_removes_only_that_version() {
    let s = TestServer::start().await;
    three_versions(&s, "acme-soc").await;
    let r = s
        .delete(
            "acme-soc",
            &acme(&ind(1), &format!("match[version]={}", enc(T1))),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s
        .get("acme-soc", &acme(&ind(1), "match[version]=all"))
        .await;
    assert_eq!(modifieds(&r), vec![T2, T3]);
    // Fetching the deleted version is a 404 (§5.7), though other versions remain.
    s.get(
        "acme-soc",
        &acme(&ind(1), &format!("match[version]={}", enc(T1))),
    )
    .await
    .assert_error(404);
    // first now means T2.
    let r = s
        .delete("acme-soc", &acme(&ind(1), "match[version]=first"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s
        .get("acme-soc", &acme(&ind(1), "match[version]=all"))
        .await;
    assert_eq!(modifieds(&r), vec![T3]);
    // A version that is not stored.
    let r = s
        .delete(
            "acme-soc",
            &acme(&ind(1), &format!("match[version]={}", enc(T1))),
        )
        .await;
    r.assert_error(404);
    let r = s
        .get("acme-soc", &acme(&ind(1), "match[version]=all"))
        .await;
    assert_eq!(modifieds(&r), vec![T3], "a refused delete removes nothing");
    let r = s
        .delete("acme-soc", &acme(&ind(1), "match[spec_version]=2.0"))
        .await;
    r.assert_error(404);
    let r = s
        .delete("acme-soc", &acme(&ind(1), "match[version]=newest"))
        .await;
    let e = r.assert_error(400);
    assert!(description(&e).contains("match[version]"), "{e}");
}

#[tokio::test]
async fn contributor_deletes_only_what_its_partner_posted() {
    let s = TestServer::start().await;
    s.post_objects("globex-soc", &[indicator(1, T1)]).await;
    s.post_objects("acme-soc", &[indicator(2, T1)]).await;
    let globex = |id: &str| object_url("globex", FINANCE, id, "");

    let r = s.delete("globex-soc", &globex(&ind(2))).await;
    r.assert_error(403);
    let r = s.get("acme-soc", &acme(&ind(2), "")).await;
    assert_eq!(
        object_ids(&r),
        vec![ind(2)],
        "a refused delete removes nothing"
    );

    let r = s.delete("globex-soc", &globex(&ind(1))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    s.get("globex-soc", &globex(&ind(1)))
        .await
        .assert_error(404);
}

/// An address posted by ACME under a delay (hidden from Globex meanwhile) and again by Globex:
/// objects without a version have no owner, so each POST is a version of its own.
#[tokio::test]
async fn contributor_delete_of_a_partly_foreign_object_removes_nothing() {
    let delayed = standard_setup().replace(
        "partner = \"initech\"\nrole = \"reader\"\n",
        "partner = \"initech\"\nrole = \"reader\"\n[[community.rule]]\nproducer = \"acme\"\ndelay = \"1h\"\n",
    );
    let s = TestServer::start_with(&delayed, "").await;
    let addr: Value = serde_json::json!({
        "type": "ipv4-addr",
        "spec_version": "2.1",
        "id": "ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4",
        "value": "198.51.100.3",
    });
    s.post_objects("acme-soc", std::slice::from_ref(&addr))
        .await;
    let st = s
        .post_objects("globex-soc", std::slice::from_ref(&addr))
        .await;
    assert_eq!(st["success_count"], 1, "{st}");
    s.clock.advance(chrono::Duration::minutes(61));
    let id = "ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4";
    // Sorted: each reader lists them in its own date_added order.
    let versions = |r: &Resp| -> Vec<String> {
        let mut out: Vec<String> = r.json()["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        out.sort();
        out
    };
    let path =
        |root: &str, tail: &str| TestServer::coll(root, FINANCE, &format!("objects/{id}/{tail}"));
    let both = versions(&s.get("globex-soc", &path("globex", "versions/")).await);
    assert_eq!(both.len(), 2, "{both:?}");
    let r = s.delete("globex-soc", &path("globex", "")).await;
    r.assert_error(403);
    assert_eq!(
        versions(&s.get("acme-soc", &path("acme", "versions/")).await),
        both
    );
    // Its own version alone (the later one) it may delete.
    let own = format!("?match[version]={}", enc(&both[1]));
    let r = s.delete("globex-soc", &path("globex", &own)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        versions(&s.get("acme-soc", &path("acme", "versions/")).await),
        vec![both[0].clone()]
    );
}

#[tokio::test]
async fn moderator_deletes_what_others_posted() {
    let s = TestServer::start().await;
    s.post_objects("globex-soc", &[indicator(1, T1)]).await;
    let r = s.delete("acme-bot", &acme(&ind(1), "")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    s.get("globex-soc", &object_url("globex", FINANCE, &ind(1), ""))
        .await
        .assert_error(404);
}

#[tokio::test]
async fn reader_cannot_delete() {
    let s = TestServer::start().await;
    s.post_objects("acme-soc", &[indicator(1, T1)]).await;
    let r = s
        .delete("initech-soc", &object_url("initech", FINANCE, &ind(1), ""))
        .await;
    r.assert_error(403);
    // Whatever the id: may read, may not write is a 403 (§5.7).
    s.delete(
        "initech-soc",
        &object_url("initech", FINANCE, "nonsense", ""),
    )
    .await
    .assert_error(403);
    let r = s
        .get("initech-soc", &object_url("initech", FINANCE, &ind(1), ""))
        .await;
    assert_eq!(object_ids(&r), vec![ind(1)]);
}

#[tokio::test]
async fn partner_outside_the_community_gets_not_found() {
    let s = TestServer::start().await;
    let body = serde_json::to_vec(&serde_json::json!({"objects": [indicator(1, T1)]})).unwrap();
    let r = s
        .post(
            "globex-soc",
            &TestServer::coll("globex", CLUB, "objects/"),
            body,
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());

    let in_club = s
        .delete("acme-soc", &object_url("acme", CLUB, &ind(1), ""))
        .await;
    in_club.assert_error(404);
    let nowhere = s
        .delete(
            "acme-soc",
            &object_url("acme", "00000000-0000-4000-8000-000000000000", &ind(1), ""),
        )
        .await;
    assert_eq!(in_club.comparable(), nowhere.comparable());
    s.get("acme-soc", &object_url("acme", CLUB, &ind(1), ""))
        .await
        .assert_error(404);
    // Through another partner's API root: also 404.
    s.delete("acme-soc", &object_url("globex", CLUB, &ind(1), ""))
        .await
        .assert_error(404);
    let r = s
        .get("globex-soc", &object_url("globex", CLUB, &ind(1), ""))
        .await;
    assert_eq!(object_ids(&r), vec![ind(1)], "still there");
}

#[tokio::test]
async fn delete_unknown_or_malformed_id_is_not_found() {
    let s = TestServer::start().await;
    s.post_objects("acme-soc", &[indicator(1, T1)]).await;
    s.delete("acme-soc", &acme(&ind(2), ""))
        .await
        .assert_error(404);
    s.delete("acme-soc", &acme("nonsense", ""))
        .await
        .assert_error(404);
    let r = s.get("acme-soc", &objects_url("")).await;
    assert_eq!(posted_ids(&r), vec![ind(1)]);
}
