//! TAXII 2.1 section 1.6.8 (media types and content negotiation): which `Accept` values are
//! served (406 otherwise) and which POST `Content-Type` values are read (415 otherwise).

use cairn_conformance::*;
use reqwest::Method;
use serde_json::json;

const ACCEPTED: [&str; 6] = [
    "application/taxii+json;version=2.1",
    "application/taxii+json",
    "application/json",
    "application/*",
    "*/*",
    "text/html, application/taxii+json",
];

const REFUSED: [&str; 4] = [
    "text/html",
    "application/xml",
    "application/taxii+json;version=2.0",
    "application/stix+json",
];

/// A GET as `user` that sends no Accept header at all.
async fn get_without_accept(s: &TestServer, user: &str, path: &str) -> Resp {
    let r = s
        .client
        .get(s.url(path))
        .header("Authorization", TestServer::auth(user))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.bytes().await.unwrap().to_vec();
    Resp {
        status,
        headers,
        body,
    }
}

async fn get_accepting(s: &TestServer, path: &str, accept: &str) -> Resp {
    s.send(
        Method::GET,
        path,
        Some("acme-soc"),
        &[("Accept", accept)],
        None,
    )
    .await
}

fn envelope() -> Vec<u8> {
    serde_json::to_vec(&json!({ "objects": [indicator(1, "2026-01-01T00:00:00.000Z")] })).unwrap()
}

async fn post_with_content_type(s: &TestServer, content_type: Option<&str>) -> Resp {
    let path = TestServer::coll("acme", FINANCE, "objects/");
    let headers: Vec<(&str, &str)> = content_type
        .map(|c| vec![("Content-Type", c)])
        .unwrap_or_default();
    s.send(
        Method::POST,
        &path,
        Some("acme-soc"),
        &headers,
        Some(envelope()),
    )
    .await
}

#[tokio::test]
async fn accepted_accept_values_are_served() {
    let s = TestServer::start().await;
    let expected = s.get("acme-soc", "/taxii2/").await.json();
    for accept in ACCEPTED {
        let r = get_accepting(&s, "/taxii2/", accept).await;
        assert_eq!(r.status, 200, "Accept: {accept}: {}", r.text());
        assert_eq!(r.content_type().as_deref(), Some(TAXII), "Accept: {accept}");
        assert_eq!(r.json(), expected, "Accept: {accept}");
    }
}

#[tokio::test]
async fn missing_accept_header_is_served() {
    let s = TestServer::start().await;
    let r = get_without_accept(&s, "acme-soc", "/taxii2/").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.content_type().as_deref(), Some(TAXII));
    assert_eq!(r.json()["api_roots"], json!(["/acme/"]));
    let r = get_without_accept(
        &s,
        "acme-soc",
        &TestServer::coll("acme", FINANCE, "objects/"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.content_type().as_deref(), Some(TAXII));
    // A fresh collection: only the built-ins.
    assert_eq!(listed_ids(&r), builtin_ids());
}

#[tokio::test]
async fn refused_accept_values_get_406() {
    let s = TestServer::start().await;
    for accept in REFUSED {
        let r = get_accepting(&s, "/taxii2/", accept).await;
        r.assert_error(406);
    }
}

#[tokio::test]
async fn not_acceptable_applies_to_collection_endpoints() {
    let s = TestServer::start().await;
    s.post_objects("acme-soc", &[indicator(1, "2026-01-01T00:00:00.000Z")])
        .await;
    let id = format!("indicator--{}", uuid_for(1));
    let paths = [
        "/acme/".to_owned(),
        "/acme/collections/".to_owned(),
        TestServer::coll("acme", FINANCE, ""),
        TestServer::coll("acme", FINANCE, "objects/"),
        TestServer::coll("acme", FINANCE, "manifest/"),
        TestServer::coll("acme", FINANCE, &format!("objects/{id}/")),
        TestServer::coll("acme", FINANCE, &format!("objects/{id}/versions/")),
    ];
    for path in &paths {
        for accept in REFUSED {
            let r = get_accepting(&s, path, accept).await;
            assert_eq!(r.status, 406, "{path} Accept: {accept}: {}", r.text());
            r.assert_error(406);
        }
        assert_eq!(get_accepting(&s, path, TAXII).await.status, 200, "{path}");
    }
}

#[tokio::test]
async fn post_with_taxii_content_type_is_accepted() {
    let s = TestServer::start().await;
    for ct in [
        "application/taxii+json;version=2.1",
        "application/taxii+json",
    ] {
        let r = post_with_content_type(&s, Some(ct)).await;
        assert_eq!(r.status, 202, "Content-Type: {ct}: {}", r.text());
        assert_eq!(r.content_type().as_deref(), Some(TAXII));
        let j = r.json();
        assert_eq!(j["status"], "complete", "{j}");
        assert_eq!(j["success_count"], 1, "{j}");
    }
}

#[tokio::test]
async fn post_with_other_content_type_is_415_and_stores_nothing() {
    let s = TestServer::start().await;
    for ct in [
        Some("application/json"),
        Some("text/plain"),
        Some("application/taxii+json;version=2.0"),
        None,
    ] {
        let r = post_with_content_type(&s, ct).await;
        assert_eq!(r.status, 415, "Content-Type: {ct:?}: {}", r.text());
        r.assert_error(415);
    }
    let r = s
        .get("acme-soc", &TestServer::coll("acme", FINANCE, "objects/"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(listed_ids(&r), builtin_ids(), "nothing but the built-ins");
}

#[tokio::test]
async fn post_refusing_the_taxii_media_type_is_406_and_stores_nothing() {
    let s = TestServer::start().await;
    let path = TestServer::coll("acme", FINANCE, "objects/");
    let r = s
        .send(
            Method::POST,
            &path,
            Some("acme-soc"),
            &[("Content-Type", TAXII), ("Accept", "text/html")],
            Some(envelope()),
        )
        .await;
    r.assert_error(406);
    let r = s.get("acme-soc", &path).await;
    assert_eq!(r.status, 200);
    assert_eq!(listed_ids(&r), builtin_ids(), "nothing but the built-ins");
}
