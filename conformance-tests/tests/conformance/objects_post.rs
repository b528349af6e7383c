//! TAXII 2.1 section 5.5 (Add Objects) and the status resource it returns (section 4.3.1):
//! envelopes and bundles, per-object success and failure, duplicates and versions, body limits
//! and who may write where.

use crate::objects_get::{assert_micros, ind, mal, manifest_all, objects_url, T1, T2};
use cairn_conformance::*;
use serde_json::{json, Value};

fn envelope(objects: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({ "objects": objects })).unwrap()
}

/// Asserts a 202 with a TAXII status resource whose status is complete; returns it.
fn assert_status(r: &Resp) -> Value {
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.content_type().as_deref(), Some(TAXII));
    let st = r.json();
    assert_eq!(st["status"], "complete", "{st}");
    assert_eq!(st["pending_count"], 0, "{st}");
    assert!(
        uuid::Uuid::parse_str(st["id"].as_str().unwrap()).is_ok(),
        "{st}"
    );
    assert_micros(st["request_timestamp"].as_str().unwrap());
    st
}

fn without_connection(r: &Resp) -> (u16, Vec<(String, String)>, String) {
    let (status, mut headers, body) = r.comparable();
    headers.retain(|(k, _)| k != "connection");
    (status, headers, body)
}

fn failure_messages(st: &Value) -> Vec<(String, String)> {
    st.get("failures")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_owned(),
                f["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn envelope_is_accepted_with_a_complete_status() {
    let s = TestServer::start().await;
    let r = s
        .post(
            "acme-soc",
            &objects_url(""),
            envelope(&[indicator(1, T1), malware(2)]),
        )
        .await;
    let st = assert_status(&r);
    let expected = json!({
        "id": st["id"],
        "status": "complete",
        "request_timestamp": st["request_timestamp"],
        "total_count": 2,
        "success_count": 2,
        "successes": [{"id": ind(1), "version": T1}, {"id": mal(2), "version": T1}],
        "failure_count": 0,
        "pending_count": 0
    });
    assert_eq!(st, expected);
    // The same status is then served at the status endpoint, to the partner's moderators too.
    let r2 = s
        .get(
            "acme-bot",
            &format!("/acme/status/{}/", st["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(r2.status, 200, "{}", r2.text());
    assert_eq!(r2.json(), st);
    let r = s.get("acme-soc", &objects_url("")).await;
    assert_eq!(posted_ids(&r), vec![ind(1), mal(2)]);
}

#[tokio::test]
async fn bundle_is_accepted() {
    let s = TestServer::start().await;
    let bundle = json!({
        "type": "bundle",
        "id": format!("bundle--{}", uuid_for(900)),
        "objects": [indicator(1, T1), malware(2)]
    });
    let r = s
        .post(
            "acme-soc",
            &objects_url(""),
            serde_json::to_vec(&bundle).unwrap(),
        )
        .await;
    let st = assert_status(&r);
    assert_eq!(
        (st["total_count"].clone(), st["success_count"].clone()),
        (json!(2), json!(2))
    );
    let r = s.get("acme-soc", &objects_url("")).await;
    assert_eq!(posted_ids(&r), vec![ind(1), mal(2)]);
    // A bundle without objects is an empty upload.
    let empty = json!({"type": "bundle", "id": format!("bundle--{}", uuid_for(901))});
    let r = s
        .post(
            "acme-soc",
            &objects_url(""),
            serde_json::to_vec(&empty).unwrap(),
        )
        .await;
    let st = assert_status(&r);
    assert_eq!(
        (st["total_count"].clone(), st["success_count"].clone()),
        (json!(0), json!(0))
    );
}

#[tokio::test]
async fn an_envelope_as_served_can_be_posted_back() {
    let s = TestServer::start().await;
    // A GET response envelope carries more (and maybe next): still an envelope.
    let body = serde_json::to_vec(&json!({"more": false, "objects": [indicator(1, T1)]})).unwrap();
    let st = assert_status(&s.post("acme-soc", &objects_url(""), body).await);
    assert_eq!(st["success_count"], 1, "{st}");
}

#[tokio::test]
async fn each_object_succeeds_or_fails_on_its_own() {
    let s = TestServer::start().await;
    let mut wrong_prefix = malware(3);
    wrong_prefix["id"] = json!(ind(3));
    let mut no_modified = indicator(4, T1);
    no_modified.as_object_mut().unwrap().remove("modified");
    let mut no_spec = malware(5);
    no_spec.as_object_mut().unwrap().remove("spec_version");
    let mut backwards = indicator(6, "2025-12-31T00:00:00.000Z");
    backwards["created"] = json!(T1);
    let objects = vec![
        indicator(1, T1),
        wrong_prefix,
        no_modified,
        json!(5),
        no_spec,
        backwards,
        malware(2),
    ];
    let r = s
        .post("acme-soc", &objects_url(""), envelope(&objects))
        .await;
    let st = assert_status(&r);
    assert_eq!(st["total_count"], 7, "{st}");
    assert_eq!(st["success_count"], 2, "{st}");
    assert_eq!(
        st["successes"],
        json!([{"id": ind(1), "version": T1}, {"id": mal(2), "version": T1}])
    );
    assert_eq!(st["failure_count"], 5, "{st}");
    let failures = failure_messages(&st);
    let ids: Vec<&str> = failures.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        vec![
            ind(3).as_str(),
            ind(4).as_str(),
            "objects[3]",
            mal(5).as_str(),
            ind(6).as_str()
        ]
    );
    for (k, wanted) in ["/id", "/modified", "object", "/spec_version", "/modified"]
        .iter()
        .enumerate()
    {
        assert!(
            failures[k].1.contains(wanted),
            "failure {k} should name {wanted}: {}",
            failures[k].1
        );
    }
    // Failures carry the version they were posted with, when there is one.
    assert_eq!(st["failures"][0]["version"], T1);

    // Only the good objects were stored.
    let r = s.get("acme-soc", &objects_url("")).await;
    assert_eq!(posted_ids(&r), vec![ind(1), mal(2)]);
}

#[tokio::test]
async fn exact_duplicate_succeeds_and_is_stored_once() {
    let s = TestServer::start().await;
    let st = s.post_objects("acme-soc", &[indicator(1, T1)]).await;
    assert_eq!(st["successes"], json!([{"id": ind(1), "version": T1}]));
    let again = s.post_objects("acme-soc", &[indicator(1, T1)]).await;
    assert_eq!(
        (
            again["success_count"].clone(),
            again["failure_count"].clone()
        ),
        (json!(1), json!(0))
    );
    assert_eq!(again["successes"][0]["id"], ind(1));
    assert_eq!(again["successes"][0]["version"], T1);
    assert!(
        again["successes"][0]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{again}"
    );
    // Twice in one envelope as well.
    let twice = s.post_objects("acme-soc", &[malware(2), malware(2)]).await;
    assert_eq!(
        (
            twice["success_count"].clone(),
            twice["failure_count"].clone()
        ),
        (json!(2), json!(0))
    );

    let recs = without_builtins(&manifest_all(&s, "acme-soc").await);
    let ids: Vec<&str> = recs.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![ind(1), mal(2)], "each stored once");
}

#[tokio::test]
async fn duplicate_with_other_formatting_is_still_a_duplicate() {
    let s = TestServer::start().await;
    s.post_objects("acme-soc", &[indicator(1, T1)]).await;
    let pretty = format!(
        "{{\"objects\": [\n{}\n]}}",
        serde_json::to_string_pretty(&indicator(1, T1)).unwrap()
    );
    let r = s.post("acme-soc", &objects_url(""), pretty).await;
    let st = assert_status(&r);
    assert_eq!(
        (st["success_count"].clone(), st["failure_count"].clone()),
        (json!(1), json!(0)),
        "{st}"
    );
    let recs = without_builtins(&manifest_all(&s, "acme-soc").await);
    let ids: Vec<&str> = recs.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![ind(1)], "stored once");
}

#[tokio::test]
async fn same_id_and_version_with_other_content_fails() {
    let s = TestServer::start().await;
    s.post_objects("acme-soc", &[indicator(1, T1)]).await;
    let mut changed = indicator(1, T1);
    changed["name"] = json!("a different name");
    let st = s.post_objects("globex-soc", &[changed]).await;
    assert_eq!(
        (st["success_count"].clone(), st["failure_count"].clone()),
        (json!(0), json!(1)),
        "{st}"
    );
    assert_eq!(st["failures"][0]["id"], ind(1));
    assert_eq!(st["failures"][0]["version"], T1);
    assert!(
        st["failures"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("modified")),
        "{st}"
    );
    // The first content stays.
    let r = s.get("acme-soc", &objects_url("match[version]=all")).await;
    assert_eq!(posted(&r), vec![indicator(1, T1)]);
}

#[tokio::test]
async fn later_modified_adds_a_version() {
    let s = TestServer::start().await;
    s.post_objects("acme-soc", &[indicator(1, T1)]).await;
    let st = s.post_objects("acme-soc", &[indicator(1, T2)]).await;
    assert_eq!(st["successes"], json!([{"id": ind(1), "version": T2}]));
    let r = s
        .get(
            "acme-soc",
            &TestServer::coll("acme", FINANCE, &format!("objects/{}/versions/", ind(1))),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["versions"], json!([T1, T2]));
}

#[tokio::test]
async fn body_that_is_not_json_is_a_bad_request() {
    let s = TestServer::start().await;
    for body in ["not json", "{\"objects\": [", ""] {
        let r = s.post("acme-soc", &objects_url(""), body).await;
        r.assert_error(400);
    }
    // Not UTF-8.
    let r = s
        .post("acme-soc", &objects_url(""), vec![b'{', 0xff, 0xfe, b'}'])
        .await;
    r.assert_error(400);
    let r = s.get("acme-soc", &objects_url("")).await;
    assert_eq!(listed_ids(&r), builtin_ids(), "nothing but the built-ins");
}

#[tokio::test]
async fn json_that_is_neither_envelope_nor_bundle_is_unprocessable() {
    let s = TestServer::start().await;
    for body in [
        "[1]",
        "{\"foo\":1}",
        "{\"type\":\"indicator\"}",
        "{\"objects\":5}",
        "\"objects\"",
        "null",
    ] {
        let r = s.post("acme-soc", &objects_url(""), body).await;
        let e = r.assert_error(422);
        assert!(!e["description"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn body_over_max_content_length_is_refused_with_413() {
    let s = TestServer::start_with(&standard_setup(), "max_content_length = 1000").await;
    // A small envelope under the limit is accepted.
    let small = envelope(&[malware(1)]);
    assert!(small.len() <= 1000);
    let r = s.post("acme-soc", &objects_url(""), small).await;
    assert_status(&r);
    // One over the limit is not, and nothing of it is stored.
    let big = envelope(&(2..=6).map(|n| indicator(n, T1)).collect::<Vec<_>>());
    assert!(big.len() > 1000);
    let r = s.post("acme-soc", &objects_url(""), big).await;
    let e = r.assert_error(413);
    assert!(e["description"].as_str().unwrap().contains("1000"), "{e}");
    let r = s.get("acme-soc", &objects_url("")).await;
    assert_eq!(posted_ids(&r), vec![mal(1)]);
    // Exactly at the limit is allowed (padding with whitespace keeps it valid JSON).
    let mut exact = envelope(&[malware(7)]);
    exact.resize(1000, b' ');
    let r = s.post("acme-soc", &objects_url(""), exact).await;
    assert_status(&r);
}

#[tokio::test]
async fn reader_cannot_post() {
    let s = TestServer::start().await;
    let r = s
        .post(
            "initech-soc",
            &TestServer::coll("initech", FINANCE, "objects/"),
            envelope(&[indicator(1, T1)]),
        )
        .await;
    r.assert_error(403);
    let r = s
        .get(
            "initech-soc",
            &TestServer::coll("initech", FINANCE, "objects/"),
        )
        .await;
    assert_eq!(listed_ids(&r), builtin_ids(), "nothing but the built-ins");
}

#[tokio::test]
async fn post_outside_the_partners_reach_is_not_found() {
    let s = TestServer::start().await;
    let body = envelope(&[indicator(1, T1)]);
    let nowhere = s
        .post(
            "acme-soc",
            &TestServer::coll("acme", "00000000-0000-4000-8000-000000000000", "objects/"),
            body.clone(),
        )
        .await;
    nowhere.assert_error(404);
    // Another partner's API root, even for a community acme is in.
    let other_root = s
        .post(
            "acme-soc",
            &TestServer::coll("globex", FINANCE, "objects/"),
            body.clone(),
        )
        .await;
    other_root.assert_error(404);
    // A community acme is not in.
    let club = s
        .post(
            "acme-soc",
            &TestServer::coll("acme", CLUB, "objects/"),
            body.clone(),
        )
        .await;
    club.assert_error(404);
    // Identical apart from `Connection: close`, which actix adds or not depending on whether the
    // unread body had fully arrived: timing, not existence.
    assert_eq!(without_connection(&club), without_connection(&nowhere));
    assert_eq!(
        without_connection(&other_root),
        without_connection(&nowhere)
    );
    let r = s
        .get("globex-soc", &TestServer::coll("globex", CLUB, "objects/"))
        .await;
    assert_eq!(listed_ids(&r), builtin_ids(), "nothing but the built-ins");
    let r = s.get("acme-soc", &objects_url("")).await;
    assert_eq!(listed_ids(&r), builtin_ids(), "nothing but the built-ins");
}

#[tokio::test]
async fn post_to_the_collection_alias_works() {
    let s = TestServer::start().await;
    let r = s
        .post(
            "acme-soc",
            &TestServer::coll("acme", "finance-isac", "objects/"),
            envelope(&[indicator(1, T1)]),
        )
        .await;
    let st = assert_status(&r);
    assert_eq!(st["success_count"], 1);
    // Stored in the same collection, visible through its id to every member.
    let r = s
        .get(
            "initech-soc",
            &TestServer::coll("initech", FINANCE, "objects/"),
        )
        .await;
    assert_eq!(posted_ids(&r), vec![ind(1)]);
}

#[tokio::test]
async fn sco_without_timestamps_is_accepted() {
    let s = TestServer::start().await;
    let sco = json!({"type": "ipv4-addr", "id": format!("ipv4-addr--{}", uuid_for(1)), "value": "198.51.100.1"});
    let st = s.post_objects("acme-soc", &[sco]).await;
    assert_eq!(st["success_count"], 1, "{st}");
    // Its version is its date_added.
    let recs = without_builtins(&manifest_all(&s, "acme-soc").await);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["id"], format!("ipv4-addr--{}", uuid_for(1)));
    assert_eq!(st["successes"][0]["version"], recs[0]["date_added"]);
}

#[tokio::test]
async fn an_object_without_timestamps_has_a_single_version() {
    let s = TestServer::start().await;
    let id = format!("ipv4-addr--{}", uuid_for(1));
    let first =
        json!({"type": "ipv4-addr", "spec_version": "2.1", "id": id, "value": "198.51.100.1"});
    let st = s
        .post_objects("acme-soc", std::slice::from_ref(&first))
        .await;
    let version = st["successes"][0]["version"].as_str().unwrap().to_owned();
    let again = s.post_objects("acme-soc", &[first]).await;
    assert_eq!(
        again["successes"][0]["version"],
        version.as_str(),
        "{again}"
    );
    let changed =
        json!({"type": "ipv4-addr", "spec_version": "2.1", "id": id, "value": "198.51.100.2"});
    let st = s.post_objects("acme-soc", &[changed]).await;
    assert_eq!(
        st["failures"][0]["message"],
        format!(
            "a different object with this id is already stored (version {version}); \
             an object without modified or created has a single version"
        ),
        "{st}"
    );
}

#[tokio::test]
async fn a_refused_object_without_timestamps_reports_the_request_time_as_its_version() {
    let s = TestServer::start().await;
    // 'value' must be a string: refused.
    let bad = json!({"type": "ipv4-addr", "spec_version": "2.1", "id": format!("ipv4-addr--{}", uuid_for(2)), "value": 7});
    let st = s.post_objects("acme-soc", &[bad]).await;
    assert_eq!(st["failure_count"], 1, "{st}");
    assert_eq!(st["failures"][0]["version"], st["request_timestamp"]);
    assert_micros(st["request_timestamp"].as_str().unwrap());
}

/// A POST whose head has been read (and its writer checked) while its body is still to come.
struct HeldPost {
    stream: std::net::TcpStream,
    rest: Vec<u8>,
}

impl HeldPost {
    /// Sends the head and the first bytes of `body` as `user` to its own root's finance-isac,
    /// then returns once the server holds it: with `max_posts_per_user = 1`, another POST of
    /// the same user gets 429 only after this one passed `authorize_post`.
    async fn open(s: &TestServer, user: &'static str, body: Vec<u8>) -> HeldPost {
        Self::open_as(s, user, &TestServer::auth(user), body).await
    }

    /// The same, sent with this `Authorization` value (an API token of `user`, say).
    async fn open_as(s: &TestServer, user: &'static str, auth: &str, body: Vec<u8>) -> HeldPost {
        use std::io::Write;
        let path = TestServer::coll(user_root(user), FINANCE, "objects/");
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\nAccept: {TAXII}\r\n\
             Content-Type: {TAXII}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(15)))
            .unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&body[..10]).unwrap();
        // Probes sent before the server read the head could take the one place first.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let probe = envelope(&[]);
        for _ in 0..100 {
            if s.post(user, &path, probe.clone()).await.status == 429 {
                return HeldPost {
                    stream,
                    rest: body[10..].to_vec(),
                };
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the held POST never took its place");
    }

    /// Sends the rest of the body; the status line and body of the answer.
    async fn finish(self) -> (String, Value) {
        tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut stream = self.stream;
            stream.write_all(&self.rest).unwrap();
            let mut answer = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf) {
                answer.extend_from_slice(&buf[..n]);
                if n == 0 || answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
                    break;
                }
            }
            let answer = String::from_utf8(answer).unwrap();
            let (head, body) = answer.split_once("\r\n\r\n").unwrap();
            let status = head.lines().next().unwrap().to_owned();
            (status, serde_json::from_str(body).unwrap())
        })
        .await
        .unwrap()
    }
}

/// The write grant is decided again in the transaction that writes: a membership demoted to
/// reader, or removed, by `cairn apply` while the body was arriving (after the early check)
/// stores nothing and gets the answer the early check would now give.
#[tokio::test]
async fn a_membership_changed_while_the_body_arrives_stores_nothing() {
    let s = TestServer::start_with(
        &standard_setup(),
        "body_timeout = \"20s\"\nmax_posts_per_user = 1",
    )
    .await;
    let contributor = "partner = \"globex\"\nrole = \"contributor\"\n";
    let cases = [
        (
            standard_setup().replace(contributor, "partner = \"globex\"\nrole = \"reader\"\n"),
            "HTTP/1.1 403",
            "403",
        ),
        (
            standard_setup().replace(&format!("[[community.member]]\n{contributor}"), ""),
            "HTTP/1.1 404",
            "404",
        ),
    ];
    for (n, (changed, status_line, status)) in cases.into_iter().enumerate() {
        assert_eq!(s.apply(&standard_setup()).await.len(), usize::from(n > 0));
        let object = malware(n as u32 + 1);
        let held = HeldPost::open(&s, "globex-soc", envelope(std::slice::from_ref(&object))).await;
        assert_eq!(s.apply(&changed).await.len(), 1);
        let (line, body) = held.finish().await;
        assert!(line.starts_with(status_line), "{line} {body}");
        assert_eq!(body["http_status"], status, "{body}");
        let ids = posted_ids(&s.get("acme-soc", &objects_url("")).await);
        assert!(!ids.contains(&mal(n as u32 + 1)), "{ids:?}");
    }
}

/// A token revoked while its POST's body arrives stops that POST: it is checked again in the
/// transaction that would store the objects.
#[tokio::test]
async fn a_token_revoked_while_the_body_arrives_stores_nothing() {
    let s = TestServer::start_with(
        &standard_setup(),
        "body_timeout = \"20s\"\nmax_posts_per_user = 1",
    )
    .await;
    let (id, token) = s.token("globex-soc", false, None).await;
    let object = malware(7);
    let auth = format!("Bearer {token}");
    let held = HeldPost::open_as(
        &s,
        "globex-soc",
        &auth,
        envelope(std::slice::from_ref(&object)),
    )
    .await;
    s.revoke_token(&id).await;
    let (line, body) = held.finish().await;
    assert!(line.starts_with("HTTP/1.1 401"), "{line} {body}");
    let ids = posted_ids(&s.get("acme-soc", &objects_url("")).await);
    assert!(!ids.contains(&mal(7)), "{ids:?}");
}
