//! Follows, the feed and webhooks under hostile use (docs/sharing.md section 8): deleted
//! entries, members named again, users moved between partners, many follows, a receiver that
//! hangs, credentials in webhook URLs.

use super::fixture::*;
use super::follows::{follow, told};
use super::webhooks::{log, next, receiver, SECRET};
use cairn_conformance::*;
use serde_json::{json, Value};
use std::time::Duration;

fn initech_member() -> &'static str {
    "[[community.member]]\npartner = \"initech\"\nrole = \"contributor\"\nmax_tlp = \"green\"\n\n"
}

/// The feed of `user` as raw JSON (first page, up to 1000).
async fn feed(s: &TestServer, user: &str) -> Value {
    let r = s
        .get(user, &format!("/{}/notifications/?limit=1000", root(user)))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn entries(feed: &Value) -> Vec<Value> {
    feed["notifications"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The CERT deletes its object `o` (every version).
async fn withdraw(s: &TestServer, o: &Value) {
    let path = TestServer::coll("cert", ISAC, &format!("objects/{}/", id(o)));
    let del = s.delete("cert-ops", &path).await;
    assert_eq!(del.status, 200, "{}", del.text());
}

/// POSTs and returns the status code (no assertion).
async fn post_status(s: &TestServer, user: &str, objects: &[Value]) -> (u16, String) {
    let path = TestServer::coll(root(user), ISAC, "objects/");
    let body = serde_json::to_vec(&json!({ "objects": objects })).unwrap();
    let r = s
        .send(
            reqwest::Method::POST,
            &path,
            Some(user),
            &[("Content-Type", TAXII)],
            Some(body),
        )
        .await;
    (r.status, r.text())
}

/// A feed position, and the event id made from it, is never given twice: not even when the
/// entry that held the last one is deleted with its object (on a frozen clock, where the next
/// position would otherwise be the deleted one's).
#[tokio::test]
async fn a_deleted_last_entry_keeps_its_position_and_event_id_to_itself() {
    let clock = cairn::clock::Clock::frozen(cairn::clock::Clock::system().now());
    let s = TestServer::start_with_clock(&isac_setup(""), "", clock).await;
    follow(&s, "initech-soc", None).await;
    let (a, b) = (
        sdo("indicator", 1, Some(GREEN2)),
        sdo("indicator", 2, Some(GREEN2)),
    );
    post(&s, "cert-ops", &[a.clone(), b.clone()], None).await;
    let seen = feed(&s, "initech-soc").await;
    let seen = entries(&seen);
    assert_eq!(seen.len(), 2);
    let (b_at, b_event) = (
        seen[1]["date_added"].as_str().unwrap().to_owned(),
        seen[1]["id"].as_str().unwrap().to_owned(),
    );
    // The poller has read up to B. The producer withdraws B, then posts C.
    withdraw(&s, &b).await;
    let c = sdo("indicator", 3, Some(GREEN2));
    post(&s, "cert-ops", std::slice::from_ref(&c), None).await;
    let all = entries(&feed(&s, "initech-soc").await);
    let c_entry = all
        .iter()
        .find(|e| e["object"]["id"] == c["id"])
        .expect("C is in the feed");
    assert_ne!(
        c_entry["id"].as_str().unwrap(),
        b_event,
        "C's notification reuses B's event id (a receiver drops it as a repeat)"
    );
    assert_eq!(
        told(&s, "initech-soc", Some(&b_at)).await,
        vec![(id(&c), "collection".to_owned())],
        "a poller past B misses C"
    );
}

/// The same with a webhook: the deleted entry's delivery goes with it, and the next entry is
/// queued at a position of its own (a reused one failed the producer's POST with a 500).
#[tokio::test]
async fn a_post_after_a_deleted_entry_queues_its_webhook_delivery() {
    let (port, mut rx) = receiver(vec![]).await;
    let clock = cairn::clock::Clock::frozen(cairn::clock::Clock::system().now());
    let s = TestServer::start_with_clock(&isac_setup(""), "", clock).await;
    let setup = format!(
        "{}\n[[webhook]]\nuser = \"initech-soc\"\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret = \"env:HOOK_SECRET\"\n",
        isac_setup("")
    );
    s.apply_with_env(&setup, &[("HOOK_SECRET", SECRET)]).await;
    follow(&s, "initech-soc", None).await;
    let (a, b) = (
        sdo("indicator", 1, Some(GREEN2)),
        sdo("indicator", 2, Some(GREEN2)),
    );
    post(&s, "cert-ops", &[a, b.clone()], None).await;
    // Insertion stamps run a few microseconds ahead of a frozen clock: bring the clock to the
    // first entry's position (no further), so the sender finds both deliveries due.
    let first = entries(&feed(&s, "initech-soc").await)[0]["date_added"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = cairn::stix::timestamp::Timestamp::parse_rfc3339(&first).unwrap();
    s.clock.advance(chrono::Duration::microseconds(
        first.since(s.clock.now()).max(0),
    ));
    next(&mut rx).await;
    next(&mut rx).await;
    assert_eq!(log(&s).await.len(), 2);
    withdraw(&s, &b).await;
    let c = sdo("indicator", 3, Some(GREEN2));
    let (status, text) = post_status(&s, "cert-ops", std::slice::from_ref(&c)).await;
    assert_eq!(status, 202, "POST after a deletion: {text}");
}

/// A member removed and named again is not told its backlog again, also when its view differs
/// from its class's (its own AMBER contribution, above its GREEN cap) and it gets own rows.
#[tokio::test]
async fn a_member_named_again_on_own_rows_is_not_told_its_backlog_again() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    follow(&s, "initech-soc", None).await;
    let mine = sdo("indicator", 1, Some(AMBER2));
    post(&s, "initech-soc", std::slice::from_ref(&mine), None).await;
    let shared = sdo("indicator", 2, Some(GREEN2));
    post(&s, "cert-ops", std::slice::from_ref(&shared), None).await;
    let before = told(&s, "initech-soc", None).await;
    assert_eq!(before.len(), 2, "{before:?}");

    let without = isac_setup("").replace(initech_member(), "");
    assert_ne!(without, isac_setup(""));
    s.apply(&without).await;
    s.apply(&isac_setup("")).await;
    let after = told(&s, "initech-soc", None).await;
    assert_eq!(after, before, "the backlog was told a second time");
}

/// The same with the member placed on a stream (nothing of its own in the community).
#[tokio::test]
async fn a_member_named_again_on_a_stream_is_not_told_again() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    follow(&s, "initech-soc", None).await;
    let shared = sdo("indicator", 2, Some(GREEN2));
    post(&s, "cert-ops", std::slice::from_ref(&shared), None).await;
    let before = told(&s, "initech-soc", None).await;
    assert_eq!(before.len(), 1, "{before:?}");
    let without = isac_setup("").replace(initech_member(), "");
    s.apply(&without).await;
    s.apply(&isac_setup("")).await;
    assert_eq!(told(&s, "initech-soc", None).await, before);
}

/// A user name given to another partner by `cairn apply` starts anew: what it followed and was
/// told as a user of ACME (a RED object naming ACME only) is not served to a Globex credential.
#[tokio::test]
async fn a_user_moved_to_another_partner_loses_the_old_partners_feed_and_follows() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let secret = sdo("indicator", 1, Some(RED2));
    follow(&s, "acme-lead", Some(&secret)).await;
    post(
        &s,
        "umbrella-soc",
        std::slice::from_ref(&secret),
        Some("acme"),
    )
    .await;
    assert_eq!(told(&s, "acme-lead", None).await.len(), 1);
    // The operator gives the name acme-lead to a Globex analyst.
    let moved = isac_setup("").replace(
        "name = \"acme-lead\"\npartner = \"acme\"",
        "name = \"acme-lead\"\npartner = \"globex\"",
    );
    assert_ne!(moved, isac_setup(""));
    s.apply(&moved).await;
    // Globex is not named: the object is not delivered to it.
    let objs = s
        .get(
            "acme-lead",
            &TestServer::coll("globex", ISAC, &format!("objects/{}/", id(&secret))),
        )
        .await;
    assert_eq!(objs.status, 404, "{}", objs.text());
    let r = s.get("acme-lead", "/globex/notifications/").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        !r.text().contains(&id(&secret)),
        "a Globex credential is told of a RED object named to ACME only: {}",
        r.text()
    );
    let f = s.get("acme-lead", "/globex/follows/").await;
    assert!(
        !f.text().contains(&id(&secret)),
        "follows made as ACME listed to Globex: {}",
        f.text()
    );
}

/// A user has at most 1,000 follows, so that the listing (one response) and what a refresh
/// matches stay bounded.
#[tokio::test]
async fn follows_are_limited_per_user() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    const N: u32 = 1500;
    let mut accepted = 0;
    for n in 0..N {
        let body = json!({ "collection": ISAC, "object": format!("indicator--{}", uuid_for(100_000 + n)) });
        let r = s
            .send(
                reqwest::Method::POST,
                "/initech/follows/",
                Some("initech-soc"),
                &[("Content-Type", "application/json")],
                Some(serde_json::to_vec(&body).unwrap()),
            )
            .await;
        if r.status == 201 {
            accepted += 1;
        }
    }
    let listed = s.get("initech-soc", "/initech/follows/").await.json();
    let listed = listed["follows"].as_array().unwrap().len();
    assert!(
        accepted < N && listed <= 1000,
        "{accepted} of {N} follows accepted, {listed} listed in one unpaged response"
    );
}

/// A receiver that accepts connections and never answers (a firewall that drops, a hung
/// service): every request to it waits the full 10 s timeout.
pub async fn black_hole() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = vec![];
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    port
}

/// A receiver that hangs holds a few places of the sender, not all: another partner's event
/// still arrives at once behind 40 queued for the hung one.
#[tokio::test]
async fn one_hung_receiver_does_not_stall_other_partners_webhooks() {
    let slow = black_hole().await;
    let (fast, mut fast_rx) = receiver(vec![]).await;
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let setup = format!(
        "{}\n[[webhook]]\nuser = \"initech-soc\"\nurl = \"http://127.0.0.1:{slow}/slow\"\nsecret = \"env:HOOK_SECRET\"\n\n\
         [[webhook]]\nuser = \"umbrella-soc\"\nurl = \"http://127.0.0.1:{fast}/fast\"\nsecret = \"env:HOOK_SECRET\"\n",
        isac_setup("")
    );
    s.apply_with_env(&setup, &[("HOOK_SECRET", SECRET)]).await;
    follow(&s, "initech-soc", None).await;
    let many: Vec<Value> = (0..40)
        .map(|n| sdo("indicator", 1000 + n, Some(GREEN2)))
        .collect();
    post(&s, "cert-ops", &many, None).await;
    // Let the sender take the hung receiver's events.
    tokio::time::sleep(Duration::from_millis(800)).await;
    follow(&s, "umbrella-soc", None).await;
    let one = sdo("indicator", 1, Some(GREEN2));
    post(&s, "cert-ops", std::slice::from_ref(&one), None).await;
    let started = std::time::Instant::now();
    let got = tokio::time::timeout(Duration::from_secs(70), fast_rx.recv()).await;
    let waited = started.elapsed();
    assert!(got.is_ok(), "umbrella's receiver got nothing within 70 s");
    assert!(
        waited < Duration::from_secs(8),
        "umbrella's healthy receiver waited {waited:?} for its event: the hung receiver of initech stalls the sender"
    );
}

/// A webhook is printed (by `apply`, `check`, `cairn webhooks`, the log) by its owner, scheme,
/// host and a digest: a password, path or query token in its URL is never printed.
#[tokio::test]
async fn a_webhook_url_credential_is_never_printed() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let setup = format!(
        "{}\n[[webhook]]\nuser = \"initech-soc\"\nurl = \"https://cairn:hunter2-password@hooks.example/in?token=t0k3n\"\nsecret = \"env:HOOK_SECRET\"\n",
        isac_setup("")
    );
    let lines = s.apply_with_env(&setup, &[("HOOK_SECRET", SECRET)]).await;
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("hunter2-password") || l.contains("t0k3n") || l.contains("/in")),
        "apply prints the URL's password: {lines:?}"
    );
}

/// Follows are authenticated before their body is looked at: wrong credentials get 401 and
/// another partner's API root 404, whatever the body (a wrong content type, bytes that are not
/// UTF-8, a body too large, a valid follow); only the member learns what is wrong with a body
/// (415, 400, 413, 422) or that a follow id is not its own (404).
#[tokio::test]
async fn a_strangers_follow_is_refused_before_its_body_is_read() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let valid = serde_json::to_vec(&json!({ "collection": ISAC })).unwrap();
    let bodies: [(&str, Vec<u8>, u16); 5] = [
        ("text/plain", b"{}".to_vec(), 415),
        ("application/json", vec![b'"', 0xff, b'"'], 400),
        ("application/json", vec![b' '; 300_000], 413),
        ("application/json", b"{\"collection\": 7}".to_vec(), 422),
        ("application/json", valid, 201),
    ];
    let wrong = TestServer::basic("initech-soc", "not-the-password");
    let other_root = TestServer::auth("globex-soc");
    let own = TestServer::auth("initech-soc");
    for (content_type, body, member_gets) in bodies {
        for (auth, expected) in [(&wrong, 401), (&other_root, 404), (&own, member_gets)] {
            let headers = [
                ("Content-Type", content_type),
                ("Authorization", auth.as_str()),
            ];
            let r = s
                .send(
                    reqwest::Method::POST,
                    "/initech/follows/",
                    None,
                    &headers,
                    Some(body.clone()),
                )
                .await;
            assert_eq!(
                r.status,
                expected,
                "{content_type}, {} bytes: {}",
                body.len(),
                r.text()
            );
        }
    }
    for (auth, expected) in [(&wrong, 401), (&other_root, 404), (&own, 404)] {
        let headers = [("Authorization", auth.as_str())];
        let r = s
            .send(
                reqwest::Method::DELETE,
                "/initech/follows/x/",
                None,
                &headers,
                None,
            )
            .await;
        assert_eq!(r.status, expected, "{}", r.text());
    }
}
