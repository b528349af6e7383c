//! API tokens (issue 20): accepted as `Authorization: Bearer`, as `Token`, and as the password of
//! Basic with the user's name; acting as their user and never beyond (read-only narrows);
//! revoked and expired ones stop at once; 401 offers both schemes.

use crate::objects_get::objects_url;
use cairn_conformance::*;
use reqwest::Method;

async fn with(
    s: &TestServer,
    method: Method,
    path: &str,
    auth: &str,
    body: Option<Vec<u8>>,
) -> Resp {
    let mut headers = vec![("Authorization", auth)];
    if body.is_some() {
        headers.push(("Content-Type", TAXII));
    }
    s.send(method, path, None, &headers, body).await
}

/// The objects of the collection, read with `token` as a bearer token.
async fn bearer_get(s: &TestServer, token: &str) -> Resp {
    let auth = format!("Bearer {token}");
    with(s, Method::GET, &objects_url(""), &auth, None).await
}

fn envelope(n: u32) -> Vec<u8> {
    serde_json::to_vec(
        &serde_json::json!({ "objects": [indicator(n, "2026-01-01T00:00:00.000Z")] }),
    )
    .unwrap()
}

#[tokio::test]
async fn a_token_acts_as_its_user_in_every_scheme() {
    let s = TestServer::start().await;
    s.post_objects("acme-soc", &[indicator(1, "2026-01-01T00:00:00.000Z")])
        .await;
    let (_, token) = s.token("acme-soc", false, None).await;
    let by_password = s.get("acme-soc", &objects_url("")).await;
    for auth in [
        format!("Bearer {token}"),
        format!("Token {token}"),
        TestServer::basic("acme-soc", &token),
    ] {
        let r = with(&s, Method::GET, &objects_url(""), &auth, None).await;
        assert_eq!(r.status, 200, "{auth}: {}", r.text());
        assert_eq!(r.body, by_password.body, "{auth}");
    }
    // It may post as its user, and the status belongs to that user.
    let r = with(
        &s,
        Method::POST,
        &objects_url(""),
        &format!("Bearer {token}"),
        Some(envelope(2)),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let status = format!("/acme/status/{}/", r.json()["id"].as_str().unwrap());
    assert_eq!(s.get("acme-soc", &status).await.status, 200);
    // Never beyond its user: another partner's API root is as absent as for the user.
    let r = with(
        &s,
        Method::GET,
        &TestServer::coll("globex", FINANCE, "objects/"),
        &format!("Bearer {token}"),
        None,
    )
    .await;
    r.assert_error(404);
    // Basic with another user's name does not take it.
    let r = with(
        &s,
        Method::GET,
        &objects_url(""),
        &TestServer::basic("acme-bot", &token),
        None,
    )
    .await;
    r.assert_error(401);
}

#[tokio::test]
async fn a_read_only_token_reads_and_never_writes() {
    let s = TestServer::start().await;
    let (_, token) = s.token("acme-soc", true, None).await;
    let auth = format!("Bearer {token}");
    let r = with(&s, Method::GET, &objects_url(""), &auth, None).await;
    assert_eq!(r.status, 200);
    let r = with(&s, Method::POST, &objects_url(""), &auth, Some(envelope(1))).await;
    let e = r.assert_error(403);
    assert!(
        e["description"].as_str().unwrap().contains("read-only"),
        "{e}"
    );
    let one = TestServer::coll(
        "acme",
        FINANCE,
        &format!("objects/indicator--{}/", uuid_for(1)),
    );
    with(&s, Method::DELETE, &one, &auth, None)
        .await
        .assert_error(403);
    let r = with(
        &s,
        Method::GET,
        &TestServer::coll("acme", FINANCE, ""),
        &auth,
        None,
    )
    .await;
    assert_eq!(r.json()["can_write"], false, "{}", r.text());
}

#[tokio::test]
async fn revoked_expired_and_unknown_tokens_are_refused_at_once() {
    let s = TestServer::start().await;
    let (id, token) = s.token("acme-soc", false, None).await;
    let (_, brief) = s
        .token("acme-soc", false, Some(chrono::Duration::minutes(5)))
        .await;
    let (_, other) = s.token("globex-soc", false, None).await;
    for t in [&token, &brief] {
        assert_eq!(bearer_get(&s, t).await.status, 200);
    }
    s.revoke_token(&id).await;
    s.clock.advance(chrono::Duration::minutes(6));
    let mut forged = other.clone();
    forged.replace_range(forged.len() - 4.., "AAAA");
    for t in [
        token.as_str(),
        brief.as_str(),
        forged.as_str(),
        "cairn_0123456789abcdef_nope",
        "nonsense",
    ] {
        let r = bearer_get(&s, t).await;
        r.assert_error(401);
        let challenges: Vec<&str> = r
            .headers
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(
            challenges,
            vec!["Basic realm=\"cairn\"", "Bearer realm=\"cairn\""]
        );
    }
    // The list shows each token's state, and never a secret.
    let list = s.token_list().await.join("\n");
    assert!(
        list.contains(&format!("{id}\tacme-soc\t")) && list.contains("\trevoked\t"),
        "{list}"
    );
    assert!(
        list.contains("\texpired\t") && list.contains("\tactive\t"),
        "{list}"
    );
    for t in [&token, &brief, &other] {
        assert!(!list.contains(&t[23..]), "{list}");
    }
}

/// A token's first use is recorded (as `last used`), so an operator sees which feeds are alive.
#[tokio::test]
async fn the_last_use_of_a_token_is_recorded() {
    let s = TestServer::start().await;
    let (id, token) = s.token("acme-soc", false, None).await;
    let line = |list: Vec<String>| list.into_iter().find(|l| l.starts_with(&id)).unwrap();
    assert_eq!(line(s.token_list().await).split('\t').nth(4), Some("-"));
    with(
        &s,
        Method::GET,
        &objects_url(""),
        &format!("Bearer {token}"),
        None,
    )
    .await;
    // The use is written after the answer; wait for it, boundedly.
    for _ in 0..100 {
        if line(s.token_list().await).split('\t').nth(4) != Some("-") {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the use was never recorded");
}
