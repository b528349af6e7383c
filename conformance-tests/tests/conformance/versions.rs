//! TAXII 2.1 section 5.8 (Get Object Versions): the versions resource (5.8.1), its filters
//! (added_after, limit, next, match[spec_version]; section 3.4) and the pagination of section 3.5.

use crate::objects_get::{assert_micros, date_headers, description, ind, manifest_all, T1, T2, T3};
use cairn_conformance::*;
use serde_json::{json, Value};

fn versions_url(id: &str, query: &str) -> String {
    TestServer::coll("acme", FINANCE, &format!("objects/{id}/versions/?{query}"))
}

fn versions(r: &Resp) -> Vec<String> {
    assert_eq!(r.status, 200, "{}", r.text());
    match r.json().get("versions") {
        None => vec![],
        Some(l) => l
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect(),
    }
}

/// Indicator 1 posted as T2, then T1, then T3 (date_added order differs from version order),
/// with malware 2 in between.
async fn three_versions(s: &TestServer) {
    s.post_objects("acme-soc", &[indicator(1, T2)]).await;
    s.post_objects("acme-soc", &[malware(2), indicator(1, T1)])
        .await;
    s.post_objects("acme-soc", &[indicator(1, T3)]).await;
}

#[tokio::test]
async fn versions_lists_every_version_exactly_in_date_added_order() {
    let s = TestServer::start().await;
    three_versions(&s).await;
    let r = s.get("acme-soc", &versions_url(&ind(1), "")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.content_type().as_deref(), Some(TAXII));
    let j = r.json();
    assert_eq!(j, json!({"more": false, "versions": [T2, T1, T3]}));

    let recs = manifest_all(&s, "acme-soc").await;
    let mine: Vec<&Value> = recs.iter().filter(|m| m["id"] == ind(1)).collect();
    assert_eq!(mine.len(), 3);
    let (first, last) = date_headers(&r);
    assert_micros(&first);
    assert_micros(&last);
    assert_eq!(first, mine[0]["date_added"].as_str().unwrap());
    assert_eq!(last, mine[2]["date_added"].as_str().unwrap());
}

#[tokio::test]
async fn versions_pages_with_limit_and_next() {
    let s = TestServer::start().await;
    three_versions(&s).await;
    let pages = s
        .all_pages("acme-soc", &versions_url(&ind(1), "limit=1"))
        .await;
    let got: Vec<Value> = pages.iter().map(|p| p.json()).collect();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0]["versions"], json!([T2]));
    assert_eq!(got[1]["versions"], json!([T1]));
    assert_eq!(got[2]["versions"], json!([T3]));
    assert_eq!(
        got.iter().map(|j| j["more"].clone()).collect::<Vec<_>>(),
        vec![json!(true), json!(true), json!(false)]
    );
    assert!(got[0]["next"].is_string() && got[1]["next"].is_string());
    assert!(got[2].get("next").is_none(), "{}", got[2]);
    // Each page's date headers are its one version's date_added.
    let recs = manifest_all(&s, "acme-soc").await;
    let mine: Vec<String> = recs
        .iter()
        .filter(|m| m["id"] == ind(1))
        .map(|m| m["date_added"].as_str().unwrap().to_owned())
        .collect();
    for (p, added) in pages.iter().zip(&mine) {
        assert_eq!(date_headers(p), (added.clone(), added.clone()));
    }
    // An exactly full page.
    let r = s.get("acme-soc", &versions_url(&ind(1), "limit=3")).await;
    assert_eq!(r.json(), json!({"more": false, "versions": [T2, T1, T3]}));
}

#[tokio::test]
async fn versions_next_token_is_bound_to_the_object() {
    let s = TestServer::start().await;
    three_versions(&s).await;
    s.post_objects("acme-soc", &[indicator(3, T1), indicator(3, T2)])
        .await;
    let r = s.get("acme-soc", &versions_url(&ind(1), "limit=1")).await;
    let next = r.json()["next"].as_str().unwrap().to_owned();
    let r = s
        .get(
            "acme-soc",
            &versions_url(&ind(3), &format!("limit=1&next={}", enc(&next))),
        )
        .await;
    r.assert_error(400);
}

#[tokio::test]
async fn versions_accepts_match_spec_version_and_added_after() {
    let s = TestServer::start().await;
    three_versions(&s).await;
    let r = s
        .get(
            "acme-soc",
            &versions_url(&ind(1), "match[spec_version]=2.1"),
        )
        .await;
    assert_eq!(versions(&r), vec![T2, T1, T3]);
    let r = s
        .get(
            "acme-soc",
            &versions_url(&ind(1), "match[spec_version]=2.0"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "{}");
    let recs = manifest_all(&s, "acme-soc").await;
    let first = recs.iter().find(|m| m["id"] == ind(1)).unwrap()["date_added"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = s
        .get(
            "acme-soc",
            &versions_url(&ind(1), &format!("added_after={}", enc(&first))),
        )
        .await;
    assert_eq!(versions(&r), vec![T1, T3]);
}

#[tokio::test]
async fn versions_refuses_match_version_type_and_id() {
    let s = TestServer::start().await;
    three_versions(&s).await;
    for (param, value) in [
        ("match[version]", "all".to_owned()),
        ("match[type]", "indicator".into()),
        ("match[id]", ind(1)),
    ] {
        let r = s
            .get(
                "acme-soc",
                &versions_url(&ind(1), &format!("{}={}", enc(param), value)),
            )
            .await;
        let e = r.assert_error(400);
        assert!(description(&e).contains(param), "{e}");
    }
}

#[tokio::test]
async fn versions_of_an_unknown_object_is_not_found() {
    let s = TestServer::start().await;
    three_versions(&s).await;
    let unknown = s.get("acme-soc", &versions_url(&ind(42), "")).await;
    unknown.assert_error(404);
    let malformed = s.get("acme-soc", &versions_url("indicator--x", "")).await;
    malformed.assert_error(404);
    assert_eq!(unknown.comparable(), malformed.comparable());
    // The reader sees the versions; a partner outside the community does not.
    let r = s
        .get(
            "initech-soc",
            &TestServer::coll("initech", FINANCE, &format!("objects/{}/versions/", ind(1))),
        )
        .await;
    assert_eq!(versions(&r), vec![T2, T1, T3]);
    let r = s
        .get(
            "acme-soc",
            &TestServer::coll("acme", CLUB, &format!("objects/{}/versions/", ind(1))),
        )
        .await;
    r.assert_error(404);
}
