//! TAXII 2.1 section 4.1 (server discovery) and 4.2 (API root), plus HTTP Basic (section 1.6.5),
//! the TAXII error resource (section 3.6.1) and the headers every response carries.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cairn_conformance::*;
use reqwest::Method;
use serde_json::{json, Value};

const REALM: &str = "Basic realm=\"cairn\"";

/// A GET with exactly this Authorization header value (or none).
async fn get_with_auth(s: &TestServer, path: &str, authorization: Option<&str>) -> Resp {
    let headers: Vec<(&str, &str)> = authorization
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    s.send(Method::GET, path, None, &headers, None).await
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .expect("a JSON object")
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

#[tokio::test]
async fn discovery_lists_only_the_callers_api_root() {
    let s = TestServer::start().await;
    let r = s.get("acme-soc", "/taxii2/").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type().as_deref(), Some(TAXII));
    let j = r.json();
    // Plain HTTP and no public_url: relative (TAXII 2.1 §4.1.1 allows no plain-HTTP URLs).
    let root = "/acme/";
    assert_eq!(j["api_roots"], serde_json::json!([root]));
    assert_eq!(j["default"], serde_json::json!(root));
    assert_eq!(j["title"], "Cairn");
}

#[tokio::test]
async fn discovery_shows_every_partner_only_its_own_root() {
    let s = TestServer::start().await;
    for (user, root) in [
        ("acme-bot", "acme"),
        ("globex-soc", "globex"),
        ("initech-soc", "initech"),
    ] {
        let r = s.get(user, "/taxii2/").await;
        assert_eq!(r.status, 200, "{user}: {}", r.text());
        let j = r.json();
        let url = format!("/{root}/");
        assert_eq!(j["api_roots"], json!([url]), "{user}");
        assert_eq!(j["default"], json!(url), "{user}");
    }
}

#[tokio::test]
async fn api_root_resource_has_exact_fields() {
    let s = TestServer::start().await;
    let r = s.get("acme-soc", "/acme/").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.content_type().as_deref(), Some(TAXII));
    let j = r.json();
    assert_eq!(keys(&j), ["max_content_length", "title", "versions"], "{j}");
    assert!(j["title"].as_str().is_some_and(|t| !t.is_empty()), "{j}");
    assert_eq!(j["versions"], json!([TAXII]));
    assert_eq!(
        j["max_content_length"],
        json!(s.config.server.max_content_length)
    );
    assert_eq!(j["max_content_length"], json!(10 * 1024 * 1024));
}

#[tokio::test]
async fn api_root_advertises_the_configured_max_content_length() {
    let s = TestServer::start_with(&standard_setup(), "max_content_length = 1000").await;
    let r = s.get("globex-soc", "/globex/").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["max_content_length"], json!(1000));
    assert_eq!(j["versions"], json!([TAXII]));
}

#[tokio::test]
async fn another_partners_api_root_is_404_like_a_nonexistent_one() {
    let s = TestServer::start().await;
    let other = s.get("acme-soc", "/globex/").await;
    other.assert_error(404);
    let none = s.get("acme-soc", "/nosuch/").await;
    none.assert_error(404);
    assert_eq!(other.comparable(), none.comparable());
}

#[tokio::test]
async fn missing_unknown_and_wrong_credentials_are_identical_401s() {
    let s = TestServer::start().await;
    for path in [
        "/taxii2/",
        "/acme/",
        &TestServer::coll("acme", FINANCE, "objects/"),
    ] {
        let missing = get_with_auth(&s, path, None).await;
        let unknown = get_with_auth(&s, path, Some(&TestServer::basic("nobody", PASSWORD))).await;
        let wrong = get_with_auth(
            &s,
            path,
            Some(&TestServer::basic("acme-soc", "wrong password")),
        )
        .await;
        for r in [&missing, &unknown, &wrong] {
            r.assert_error(401);
            assert_eq!(
                r.header("www-authenticate").as_deref(),
                Some(REALM),
                "{path}"
            );
        }
        assert_eq!(missing.comparable(), unknown.comparable(), "{path}");
        assert_eq!(missing.comparable(), wrong.comparable(), "{path}");
    }
}

#[tokio::test]
async fn malformed_authorization_headers_are_401() {
    let s = TestServer::start().await;
    let no_colon = format!("Basic {}", STANDARD.encode("acme-soc"));
    let bearer = format!("Bearer {}", STANDARD.encode(format!("acme-soc:{PASSWORD}")));
    for value in [
        "Basic !!!not base64!!!",
        "Basic",
        bearer.as_str(),
        no_colon.as_str(),
        "garbage",
    ] {
        let r = get_with_auth(&s, "/taxii2/", Some(value)).await;
        r.assert_error(401);
        assert_eq!(
            r.header("www-authenticate").as_deref(),
            Some(REALM),
            "{value}"
        );
    }
}

#[tokio::test]
async fn unknown_path_is_a_taxii_404() {
    let s = TestServer::start().await;
    for path in [
        "/acme/nothing/here/",
        "/acme/collections/finance-isac/nothing/",
        "/",
    ] {
        let r = s.get("acme-soc", path).await;
        r.assert_error(404);
    }
}

#[tokio::test]
async fn unsupported_methods_are_taxii_405() {
    let s = TestServer::start().await;
    let objects = TestServer::coll("acme", FINANCE, "objects/");
    let cases = [
        (Method::PUT, objects.as_str()),
        (Method::POST, "/taxii2/"),
        (Method::DELETE, "/acme/collections/"),
        (Method::POST, "/acme/"),
        (Method::PATCH, "/acme/collections/finance-isac/"),
    ];
    for (method, path) in cases {
        let r = s
            .send(
                method.clone(),
                path,
                Some("acme-soc"),
                &[("Content-Type", TAXII)],
                Some(b"{}".to_vec()),
            )
            .await;
        let e = r.assert_error(405);
        assert_eq!(e["http_status"], "405", "{method} {path}");
    }
}

#[tokio::test]
async fn every_response_has_taxii_content_type_and_no_cache_headers() {
    let s = TestServer::start().await;
    let objects = TestServer::coll("acme", FINANCE, "objects/");
    let post_body =
        serde_json::to_vec(&json!({ "objects": [indicator(1, "2026-01-01T00:00:00.000Z")] }))
            .unwrap();
    let mut responses: Vec<(String, Resp)> = vec![];
    let mut add = |label: &str, r: Resp| responses.push((label.to_owned(), r));
    add("discovery 200", s.get("acme-soc", "/taxii2/").await);
    add("api root 200", s.get("acme-soc", "/acme/").await);
    add(
        "collections 200",
        s.get("acme-soc", "/acme/collections/").await,
    );
    add(
        "collection 200",
        s.get("acme-soc", &TestServer::coll("acme", FINANCE, ""))
            .await,
    );
    add("empty objects 200", s.get("acme-soc", &objects).await);
    add("post 202", s.post("acme-soc", &objects, post_body).await);
    add("objects 200", s.get("acme-soc", &objects).await);
    add(
        "manifest 200",
        s.get("acme-soc", &TestServer::coll("acme", FINANCE, "manifest/"))
            .await,
    );
    add("401", get_with_auth(&s, "/taxii2/", None).await);
    add("404", s.get("acme-soc", "/globex/").await);
    add(
        "400",
        s.get("acme-soc", &format!("{objects}?limit=0")).await,
    );
    add(
        "405",
        s.send(Method::PUT, &objects, Some("acme-soc"), &[], None)
            .await,
    );
    add(
        "406",
        s.send(
            Method::GET,
            "/taxii2/",
            Some("acme-soc"),
            &[("Accept", "text/html")],
            None,
        )
        .await,
    );
    add(
        "415",
        s.send(
            Method::POST,
            &objects,
            Some("acme-soc"),
            &[("Content-Type", "application/json")],
            Some(b"{}".to_vec()),
        )
        .await,
    );
    let mut expected_status = vec![
        200, 200, 200, 200, 200, 202, 200, 200, 401, 404, 400, 405, 406, 415,
    ]
    .into_iter();
    for (label, r) in &responses {
        assert_eq!(
            r.status,
            expected_status.next().unwrap(),
            "{label}: {}",
            r.text()
        );
        assert_eq!(r.content_type().as_deref(), Some(TAXII), "{label}");
        assert_eq!(
            r.header("cache-control").as_deref(),
            Some("private, no-store"),
            "{label}"
        );
        assert_eq!(
            r.header("vary").as_deref(),
            Some("Authorization"),
            "{label}"
        );
    }
}

#[tokio::test]
async fn error_ids_are_non_empty_and_distinct_per_error() {
    let s = TestServer::start().await;
    let a = s.get("acme-soc", "/nosuch/").await.assert_error(404);
    let b = s.get("acme-soc", "/nosuch/").await.assert_error(404);
    let c = get_with_auth(&s, "/taxii2/", None).await.assert_error(401);
    let ids: Vec<&str> = [&a, &b, &c]
        .iter()
        .map(|e| e["error_id"].as_str().unwrap())
        .collect();
    for id in &ids {
        assert!(!id.trim().is_empty());
    }
    assert_ne!(ids[0], ids[1]);
    assert_ne!(ids[0], ids[2]);
    assert_ne!(ids[1], ids[2]);
}

#[tokio::test]
async fn paths_without_trailing_slash_work() {
    let s = TestServer::start().await;
    for path in [
        "/taxii2",
        "/acme",
        "/acme/collections",
        "/acme/collections/finance-isac",
    ] {
        let without = s.get("acme-soc", path).await;
        let with = s.get("acme-soc", &format!("{path}/")).await;
        assert_eq!(without.status, 200, "{path}: {}", without.text());
        assert_eq!(without.json(), with.json(), "{path}");
    }
    let j = s.get("acme-soc", "/acme/collections").await.json();
    assert_eq!(j["collections"][0]["id"], FINANCE);
}
