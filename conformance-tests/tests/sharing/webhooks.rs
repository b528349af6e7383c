//! Webhooks (docs/sharing.md section 8) over real HTTP: a receiver on 127.0.0.1 gets each
//! notification its user may see, once, signed; a receiver that fails gets it again later.

use super::fixture::*;
use super::follows::{follow, note, told};
use cairn_conformance::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

pub const SECRET: &str = "a receiver's shared secret, 40 characters";

/// One request as the receiver got it.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        let found = self.headers.iter().find(|(k, _)| k == name);
        found.map(|(_, v)| v.as_str()).unwrap_or("")
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A webhook receiver: answers each request with the next status of `statuses` (then 200).
pub async fn receiver(statuses: Vec<u16>) -> (u16, mpsc::UnboundedReceiver<Received>) {
    receiver_slow(statuses, Duration::ZERO).await
}

/// The same, answering each request `delay` after it came (and reporting it when it came).
async fn receiver_slow(
    statuses: Vec<u16>,
    delay: Duration,
) -> (u16, mpsc::UnboundedReceiver<Received>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut statuses = statuses.into_iter();
        while let Ok((mut conn, _)) = listener.accept().await {
            let Some(got) = read_request(&mut conn).await else {
                continue;
            };
            let status = statuses.next().unwrap_or(200);
            let answer =
                format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            if !delay.is_zero() {
                let _ = tx.send(got.clone());
                tokio::time::sleep(delay).await;
            }
            let _ = conn.write_all(answer.as_bytes()).await;
            if delay.is_zero() {
                let _ = tx.send(got);
            }
        }
    });
    (port, rx)
}

async fn read_request(conn: &mut tokio::net::TcpStream) -> Option<Received> {
    let mut buf = vec![];
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let n = conn.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())?;
    while buf.len() < head_end + length {
        let mut chunk = [0u8; 4096];
        let n = conn.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[head_end..head_end + length].to_vec();
    Some(Received {
        path,
        headers,
        body,
    })
}

/// The next request, or a failure after 15 s.
pub async fn next(rx: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(Duration::from_secs(15), rx.recv())
        .await
        .expect("no webhook request within 15 s")
        .unwrap()
}

/// Asserts nothing more arrives within a second (several rounds of the sender).
async fn nothing_more(rx: &mut mpsc::UnboundedReceiver<Received>) {
    tokio::time::sleep(Duration::from_secs(1)).await;
    if let Ok(extra) = rx.try_recv() {
        panic!(
            "an unexpected request: {}",
            String::from_utf8_lossy(&extra.body)
        );
    }
}

/// Checks `Cairn-Signature` as a receiver would: HMAC-SHA256 of "<t>.<body>" under the secret.
pub fn assert_signed(r: &Received) {
    let sig = r.header("cairn-signature");
    let (t, v1) = sig
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
        .unwrap_or_else(|| panic!("signature header: {sig:?}"));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&r.body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(v1, hex, "signature of {}", String::from_utf8_lossy(&r.body));
}

fn hooks(user_port: u16, partner_port: u16) -> String {
    format!(
        "[[webhook]]\nuser = \"initech-soc\"\nurl = \"http://127.0.0.1:{user_port}/initech\"\nsecret = \"env:HOOK_SECRET\"\n\n\
         [[webhook]]\npartner = \"umbrella\"\nurl = \"http://127.0.0.1:{partner_port}/umbrella\"\nsecret = \"env:HOOK_SECRET\"\n"
    )
}

async fn start(setup: &str, statuses: Vec<u16>) -> (TestServer, Hooks) {
    let (initech_port, initech) = receiver(statuses).await;
    let (umbrella_port, umbrella) = receiver(vec![]).await;
    let s = TestServer::start_with(setup, "").await;
    let setup = format!("{setup}\n{}", hooks(initech_port, umbrella_port));
    s.apply_with_env(&setup, &[("HOOK_SECRET", SECRET)]).await;
    (s, Hooks { initech, umbrella })
}

struct Hooks {
    initech: mpsc::UnboundedReceiver<Received>,
    umbrella: mpsc::UnboundedReceiver<Received>,
}

/// The delivery log as `cairn webhooks` prints it.
pub async fn log(s: &TestServer) -> Vec<String> {
    let storage = cairn::startup::open_storage(&s.config).await.unwrap();
    tokio::task::spawn_blocking(move || {
        storage.read_now(|c| cairn::service::webhooks::log_lines(c, 50))
    })
    .await
    .unwrap()
    .unwrap()
}

#[tokio::test]
async fn a_webhook_tells_once_and_signed_only_what_its_user_may_see() {
    let (s, mut hooks) = start(&isac_setup(""), vec![]).await;
    let threat = sdo("indicator", 1, Some(GREEN2));
    post(&s, "cert-ops", std::slice::from_ref(&threat), None).await;
    follow(&s, "initech-soc", Some(&threat)).await;
    follow(&s, "umbrella-soc", Some(&threat)).await;
    let (green, amber) = (note(2, &threat, GREEN2), note(3, &threat, AMBER2));
    post(&s, "acme-soc", &[green.clone(), amber.clone()], None).await;

    // initech is capped at GREEN: its webhook hears of the GREEN note only.
    let got = next(&mut hooks.initech).await;
    assert_signed(&got);
    assert_eq!(got.path, "/initech");
    assert_eq!(got.header("content-type"), "application/json");
    let event = got.json();
    assert_eq!(got.header("cairn-event-id"), event["id"].as_str().unwrap());
    let feed = s.get("initech-soc", "/initech/notifications/").await.json();
    assert_eq!(event["id"], feed["notifications"][0]["id"]);
    assert_eq!(event["date_added"], feed["notifications"][0]["date_added"]);
    assert_eq!(
        event,
        json!({
            "id": event["id"], "date_added": event["date_added"], "user": "initech-soc",
            "collection": ISAC, "because": id(&threat),
            "object": {
                "id": id(&green), "type": "note",
                "version": "2026-01-01T00:00:00.000Z", "producer": "acme",
            },
        })
    );
    nothing_more(&mut hooks.initech).await;

    // umbrella's partner webhook hears of both, in the order of its user's feed.
    let (first, second) = (
        next(&mut hooks.umbrella).await,
        next(&mut hooks.umbrella).await,
    );
    let mut ids = vec![
        first.json()["object"]["id"].clone(),
        second.json()["object"]["id"].clone(),
    ];
    ids.sort_by_key(|v| v.to_string());
    let mut want = vec![json!(id(&green)), json!(id(&amber))];
    want.sort_by_key(|v| v.to_string());
    assert_eq!(ids, want);
    assert_signed(&second);
    nothing_more(&mut hooks.umbrella).await;

    let lines = log(&s).await;
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(
        lines
            .iter()
            .all(|l| l.contains("attempts 1") && l.ends_with("HTTP 200")),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn a_receiver_that_fails_gets_the_same_event_again_after_the_backoff() {
    let (s, mut hooks) = start(&isac_setup(""), vec![500]).await;
    let threat = sdo("indicator", 1, Some(GREEN2));
    follow(&s, "initech-soc", None).await;
    post(&s, "cert-ops", std::slice::from_ref(&threat), None).await;
    let failed = next(&mut hooks.initech).await;
    nothing_more(&mut hooks.initech).await;
    let lines = log(&s).await;
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].contains("attempts 1  next ") && lines[0].ends_with("HTTP 500"),
        "{lines:#?}"
    );

    // 30 s later by Cairn's clock, the same event (same id, same body) comes again.
    s.clock.advance(chrono::Duration::seconds(31));
    let again = next(&mut hooks.initech).await;
    assert_eq!(again.body, failed.body);
    assert_eq!(
        again.header("cairn-event-id"),
        failed.header("cairn-event-id")
    );
    assert_signed(&again);
    nothing_more(&mut hooks.initech).await;
    let lines = log(&s).await;
    assert!(
        lines[0].contains("attempts 2  closed ") && lines[0].ends_with("HTTP 200"),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn a_delivery_whose_lease_runs_out_while_it_is_sent_is_not_sent_twice() {
    let (initech_port, mut initech) = receiver_slow(vec![], Duration::from_secs(2)).await;
    let (umbrella_port, _umbrella) = receiver(vec![]).await;
    let setup = isac_setup("");
    let s = TestServer::start_with(&setup, "").await;
    let hooks_text = hooks(initech_port, umbrella_port);
    s.apply_with_env(
        &format!("{setup}\n{hooks_text}"),
        &[("HOOK_SECRET", SECRET)],
    )
    .await;
    follow(&s, "initech-soc", None).await;
    post(&s, "cert-ops", &[sdo("indicator", 1, Some(GREEN2))], None).await;
    next(&mut initech).await;
    // The clock passes the 60 s lease while the receiver still holds the request.
    s.clock.advance(chrono::Duration::minutes(5));
    tokio::time::sleep(Duration::from_secs(3)).await;
    nothing_more(&mut initech).await;
    let lines = log(&s).await;
    assert!(
        lines[0].contains("attempts 1  closed ") && lines[0].ends_with("HTTP 200"),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn an_embargoed_note_is_sent_when_its_delay_ends_with_nobody_reading() {
    let (s, mut hooks) = start(&isac_setup(ACME_RULE), vec![]).await;
    let threat = sdo("indicator", 1, Some(GREEN2));
    post(&s, "cert-ops", std::slice::from_ref(&threat), None).await;
    follow(&s, "initech-soc", Some(&threat)).await;
    let later = note(2, &threat, GREEN2);
    post(&s, "acme-soc", std::slice::from_ref(&later), None).await;
    nothing_more(&mut hooks.initech).await;

    // No request reads the collection: the sender itself processes the release.
    s.clock.advance(chrono::Duration::hours(25));
    let got = next(&mut hooks.initech).await;
    assert_eq!(got.json()["object"]["id"], json!(id(&later)));
    assert_eq!(
        told(&s, "initech-soc", None).await,
        vec![(id(&later), id(&threat))]
    );
}

#[tokio::test]
async fn a_webhook_secret_comes_from_the_environment_and_is_long() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let setup = format!("{}\n{}", isac_setup(""), hooks(9, 9));
    for (env, why) in [
        (vec![], "HOOK_SECRET must hold at least 16 characters"),
        (
            vec![("HOOK_SECRET", "short")],
            "HOOK_SECRET must hold at least 16 characters",
        ),
    ] {
        let lookup = |name: &str| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        let err = plan_setup(&setup, &lookup).err().unwrap().to_string();
        assert!(err.contains(why), "{err}");
    }
    let inline = setup.replace("env:HOOK_SECRET", "0123456789abcdef0123");
    let err = plan_setup(&inline, &|_| None).err().unwrap().to_string();
    assert!(err.contains("secrets are not kept in setup files"), "{err}");
    let applied = s.apply_with_env(&setup, &[("HOOK_SECRET", SECRET)]).await;
    assert!(
        applied.iter().any(
            |l| l.starts_with("webhook user:initech-soc http://127.0.0.1:9/... (")
                && l.ends_with("): added")
        ),
        "{applied:#?}"
    );
}
