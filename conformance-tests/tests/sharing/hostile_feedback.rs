//! match[about]=mine and feedback/, report follows and mail under hostile use: versions of
//! the caller's partner it may not see, containers versioned out of order or deleted, one
//! address named twice, a mail server that hangs, hostile parameters.

use super::fixture::*;
use super::follows::{follow, note, report, told};
use super::mail::{mail_config, smtp_sink};
use cairn_conformance::*;
use serde_json::{json, Value};
use std::time::Duration;

/// isac_setup with acme-lead capped at GREEN (a user cap: acme-soc's AMBER is hidden from it),
/// and acme-soc receiving no ipv4-addr (so it does not know cert's, and may post its own).
fn capped_lead_setup() -> String {
    let s = isac_setup("");
    let capped = s
        .replace(
            "name = \"acme-lead\"\n",
            "name = \"acme-lead\"\nmax_tlp = \"green\"\n",
        )
        .replace(
            "name = \"acme-soc\"\n",
            "name = \"acme-soc\"\ntypes = [\"indicator\", \"note\"]\n",
        );
    assert_ne!(s, capped);
    capped
}

/// ipv4-addr 198.51.100.7: a versionless SCO (no owner, each POST is a new version).
fn ipv4(marking: &str) -> Value {
    json!({
        "type": "ipv4-addr", "spec_version": "2.1",
        "id": "ipv4-addr--12592121-be4c-5a93-a813-5a5af16e50db",
        "value": "198.51.100.7",
        "object_marking_refs": [marking],
    })
}

fn succeeded(status: &Value) -> u64 {
    status["success_count"].as_u64().unwrap_or(0)
}

/// §3 noninterference, §4 match[about]=mine and feedback/: a version of acme's that acme-lead
/// may not see (above its user cap) must not change acme-lead's answers. The about clause
/// counts any non-private version whose producer is the caller's partner, delivered or not.
#[tokio::test]
async fn about_mine_and_feedback_count_an_own_partner_version_hidden_from_the_caller() {
    let s = TestServer::start_with(&capped_lead_setup(), "").await;
    let cert_ip = ipv4(GREEN2);
    let st = post(&s, "cert-ops", std::slice::from_ref(&cert_ip), None).await;
    assert_eq!(succeeded(&st), 1, "{st}");
    let n = note(5, &cert_ip, GREEN2);
    post(&s, "umbrella-soc", std::slice::from_ref(&n), None).await;

    let about = TestServer::coll("acme", ISAC, "objects/?match[about]=mine");
    let feedback = TestServer::coll("acme", ISAC, "feedback/");
    let versions = TestServer::coll("acme", ISAC, &format!("objects/{}/versions/", id(&cert_ip)));
    let before = (
        s.get("acme-lead", &about).await.comparable(),
        s.get("acme-lead", &feedback).await.comparable(),
        s.get("acme-lead", &versions).await.comparable(),
    );

    // acme-soc posts the same SCO at AMBER: hidden from acme-lead (user cap GREEN).
    let st = post(&s, "acme-soc", &[ipv4(AMBER2)], None).await;
    assert_eq!(succeeded(&st), 1, "{st}");
    let after = (
        s.get("acme-lead", &about).await.comparable(),
        s.get("acme-lead", &feedback).await.comparable(),
        s.get("acme-lead", &versions).await.comparable(),
    );
    // The versions acme-lead sees did not change: the AMBER version is hidden from it ...
    assert_eq!(before.2, after.2, "acme-lead's versions of the SCO changed");
    // ... so nothing else it is answered may change either.
    assert_eq!(
        before.0, after.0,
        "match[about]=mine revealed a hidden version"
    );
    assert_eq!(before.1, after.1, "feedback revealed a hidden version");
}

/// The same with a versioned object, in a community with `dangling_refs = "allow"`: acme-soc's
/// AMBER indicator, hidden from acme-lead, turns umbrella's note into acme-lead's "feedback".
#[tokio::test]
async fn about_mine_reveals_a_hidden_own_partner_object_with_dangling_refs_allowed() {
    let setup = isac_setup("")
        .replace(
            "title = \"Finance ISAC\"\n",
            "title = \"Finance ISAC\"\ndangling_refs = \"allow\"\n",
        )
        .replace(
            "name = \"acme-lead\"\n",
            "name = \"acme-lead\"\nmax_tlp = \"green\"\n",
        );
    let s = TestServer::start_with(&setup, "").await;
    let hidden = sdo("indicator", 1, Some(AMBER2));
    let n = note(5, &hidden, GREEN2);
    post(&s, "umbrella-soc", std::slice::from_ref(&n), None).await;
    let about = TestServer::coll("acme", ISAC, "objects/?match[about]=mine");
    let feedback = TestServer::coll("acme", ISAC, "feedback/");
    let before = (
        s.get("acme-lead", &about).await.comparable(),
        s.get("acme-lead", &feedback).await.comparable(),
    );
    post(&s, "acme-soc", std::slice::from_ref(&hidden), None).await;
    assert!(!visible(&s, "acme-lead").await.contains(&id(&hidden)));
    let after = (
        s.get("acme-lead", &about).await.comparable(),
        s.get("acme-lead", &feedback).await.comparable(),
    );
    assert_eq!(
        before.0, after.0,
        "match[about]=mine revealed a hidden version"
    );
    assert_eq!(before.1, after.1, "feedback revealed a hidden version");
}

/// §8: a report follow covers the object_refs of the *latest* version delivered to the
/// follower. Receiving an older version later (posted after a newer one) must not replace
/// what the latest holds.
#[tokio::test]
async fn report_follow_uses_the_latest_version_not_the_last_received() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let (i1, i2) = (
        sdo("indicator", 1, Some(GREEN2)),
        sdo("indicator", 2, Some(GREEN2)),
    );
    let newest = report(9, "2026-03-01T00:00:00.000Z", &[&i1]);
    post(
        &s,
        "cert-ops",
        &[i1.clone(), i2.clone(), newest.clone()],
        None,
    )
    .await;
    follow(&s, "initech-soc", Some(&newest)).await;
    // cert now posts an older version of the report (it holds i2 instead).
    let older = report(9, "2026-01-15T00:00:00.000Z", &[&i2]);
    post(&s, "cert-ops", std::slice::from_ref(&older), None).await;
    // The latest version initech has is still `newest` (holding i1).
    let latest = s
        .get(
            "initech-soc",
            &TestServer::coll("initech", ISAC, &format!("objects/{}/", id(&newest))),
        )
        .await
        .json();
    assert_eq!(latest["objects"][0]["modified"], "2026-03-01T00:00:00.000Z");

    let (on_i1, on_i2) = (note(20, &i1, GREEN2), note(21, &i2, GREEN2));
    post(&s, "acme-soc", &[on_i1.clone(), on_i2.clone()], None).await;
    let because = id(&newest);
    let all = told(&s, "initech-soc", None).await;
    assert_eq!(
        all,
        vec![(id(&older), because.clone()), (id(&on_i1), because.clone())],
        "told through what the older version holds instead of the latest"
    );
}

/// §8: after the newest version of a followed report is deleted, the latest version delivered
/// is the older one again: what it holds must be matched (and not what the deleted one held).
#[tokio::test]
async fn report_follow_after_the_newest_version_is_deleted() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let (i1, i2) = (
        sdo("indicator", 1, Some(GREEN2)),
        sdo("indicator", 2, Some(GREEN2)),
    );
    let v1 = report(9, "2026-01-01T00:00:00.000Z", &[&i1]);
    post(&s, "cert-ops", &[i1.clone(), i2.clone(), v1.clone()], None).await;
    follow(&s, "initech-soc", Some(&v1)).await;
    let v2 = report(9, "2026-03-01T00:00:00.000Z", &[&i2]);
    post(&s, "cert-ops", std::slice::from_ref(&v2), None).await;
    let path = TestServer::coll(
        "cert",
        ISAC,
        &format!(
            "objects/{}/?match[version]={}",
            id(&v2),
            enc("2026-03-01T00:00:00.000Z")
        ),
    );
    let r = s.delete("cert-ops", &path).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let latest = s
        .get(
            "initech-soc",
            &TestServer::coll("initech", ISAC, &format!("objects/{}/", id(&v1))),
        )
        .await
        .json();
    assert_eq!(latest["objects"][0]["modified"], "2026-01-01T00:00:00.000Z");

    let (on_i1, on_i2) = (note(20, &i1, GREEN2), note(21, &i2, GREEN2));
    post(&s, "acme-soc", &[on_i1.clone(), on_i2.clone()], None).await;
    let because = id(&v1);
    // v2's own entry went with it; what v1 holds is matched again, not what v2 held.
    let all = told(&s, "initech-soc", None).await;
    assert_eq!(
        all,
        vec![(id(&on_i1), because.clone())],
        "what the deleted version held is still matched, what the latest holds is not"
    );
}

/// §8 mail: one address hears of each user's entry once. A user's entry and its partner's
/// entry at the same address (with any display name) are refused by apply, as are two entries
/// for the same user.
#[tokio::test]
async fn one_address_for_a_user_and_its_partner_is_refused() {
    let entries = "[[mail]]\nuser = \"initech-soc\"\nto = \"soc@initech.example\"\nschedule = \"immediate\"\n\n\
                   [[mail]]\npartner = \"initech\"\nto = \"SOC desk <soc@initech.example>\"\nschedule = \"immediate\"\n";
    let setup = format!("{}\n{entries}", isac_setup(""));
    let err = plan_setup(&setup, &|_| None)
        .expect_err("refused")
        .to_string();
    assert!(err.contains("already receives these users' mail"), "{err}");
    // Another partner's user at the same address is another user: accepted.
    let other = entries.replace("partner = \"initech\"", "partner = \"umbrella\"");
    let setup = format!("{}\n{other}", isac_setup(""));
    assert!(plan_setup(&setup, &|_| None).is_ok());
}

/// §8 webhooks: "a receiver that hangs holds its 4 places, not the others'". A mail server
/// that hangs must not hold every webhook back either: mail runs inline in the sender's round.
#[tokio::test]
async fn a_hanging_mail_server_holds_back_every_webhook() {
    webhook_beside_mail(super::hostile_follows::black_hole().await).await;
}

/// The same with a mail server that answers.
#[tokio::test]
async fn control_a_webhook_beside_a_working_mail_server() {
    let (port, _rx) = smtp_sink(0).await;
    webhook_beside_mail(port).await;
}

async fn webhook_beside_mail(smtp: u16) {
    let (hook_port, mut hook) = super::webhooks::receiver(vec![]).await;
    let mail = "[[mail]]\npartner = \"umbrella\"\nto = \"soc@umbrella.example\"\nschedule = \"immediate\"\n";
    let base = format!("{}\n{mail}", isac_setup(""));
    let s = TestServer::start_with(&base, &mail_config(smtp)).await;
    let setup = format!(
        "{base}\n[[webhook]]\nuser = \"initech-soc\"\nurl = \"http://127.0.0.1:{hook_port}/initech\"\nsecret = \"env:HOOK_SECRET\"\n"
    );
    s.apply_with_env(&setup, &[("HOOK_SECRET", super::webhooks::SECRET)])
        .await;
    let threat = sdo("indicator", 1, Some(GREEN2));
    post(&s, "cert-ops", std::slice::from_ref(&threat), None).await;
    follow(&s, "umbrella-soc", Some(&threat)).await;
    // umbrella's mail is now due: the sender blocks on the silent SMTP server.
    post(&s, "acme-soc", &[note(2, &threat, GREEN2)], None).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    follow(&s, "initech-soc", Some(&threat)).await;
    let started = std::time::Instant::now();
    post(&s, "acme-soc", &[note(3, &threat, GREEN2)], None).await;
    let got = tokio::time::timeout(Duration::from_secs(60), hook.recv()).await;
    assert!(got.is_ok(), "no webhook within 60 s");
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(5),
        "initech's webhook waited {waited:?} behind umbrella's hanging mail server"
    );
}

/// (d) Hostile parameters on the new endpoints: never a 500.
#[tokio::test]
async fn hostile_about_and_feedback_parameters_never_500() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let threat = sdo("indicator", 1, Some(GREEN2));
    post(&s, "cert-ops", std::slice::from_ref(&threat), None).await;
    post(&s, "acme-soc", &[note(2, &threat, GREEN2)], None).await;
    let queries = [
        "objects/?match[about]=mine&match[about]=mine",
        "objects/?match[about]=mine&match[ref]=indicator--6f3e8f40-2d8e-4b5c-9a4f-000000000001",
        "objects/?match[about]=mine&match[version]=all&match[spec_version]=2.0,2.1",
        "objects/?match[about]=mine&match[version]=first,last&limit=1",
        "manifest/?match[about]=mine&match[type]=note&added_after=1970-01-01T00:00:00Z",
        "objects/?match[about]=MINE",
        "objects/?match[about]=",
        "objects/?match[about]=mine%00",
        "feedback/?match[type]=note,note,opinion&limit=18446744073709551616",
        "feedback/?match[type]=x-custom&added_after=9999-12-31T23:59:59.999999Z",
        "feedback/?match[about]=mine",
        "feedback/?match[ref]=note--6f3e8f40-2d8e-4b5c-9a4f-000000000002",
        "feedback/?next=AAAA",
        "feedback/?limit=1&added_after=2026-01-01T00:00:00Z",
    ];
    for q in queries {
        let r = s.get("cert-ops", &TestServer::coll("cert", ISAC, q)).await;
        assert!(r.status < 500, "{q}: {} {}", r.status, r.text());
    }
    // A feedback page's token is not an objects token, and the reverse.
    let pages = s
        .all_pages(
            "cert-ops",
            &TestServer::coll("cert", ISAC, "feedback/?limit=1"),
        )
        .await;
    assert_eq!(pages.len(), 1);
    // Reports whose object_refs are not a list of strings.
    for (n, refs) in [
        (30, json!("indicator--x")),
        (31, json!([1, {}])),
        (32, json!([])),
    ] {
        let mut r = report(n, "2026-01-01T00:00:00.000Z", &[]);
        r["object_refs"] = refs;
        let body = serde_json::to_vec(&json!({ "objects": [r] })).unwrap();
        let resp = s
            .post(
                "cert-ops",
                &TestServer::coll("cert", ISAC, "objects/"),
                body,
            )
            .await;
        assert!(resp.status < 500, "{}", resp.text());
    }
}
