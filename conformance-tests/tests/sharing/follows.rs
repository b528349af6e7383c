//! Follows and the activity feed (docs/sharing.md section 8) over HTTP: a follower is told once
//! of each version that becomes deliverable to it and matches a follow, at that moment, and
//! never of one it may not see.

use super::fixture::*;
use cairn_conformance::*;
use serde_json::{json, Value};

pub fn note(n: u32, about: &Value, marking: &str) -> Value {
    json!({
        "type": "note", "spec_version": "2.1",
        "id": format!("note--{}", uuid_for(n)),
        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
        "content": format!("note {n}"), "object_refs": [about["id"]],
        "object_marking_refs": [marking],
    })
}

pub async fn follow(s: &TestServer, user: &str, object: Option<&Value>) -> Value {
    let mut body = json!({ "collection": ISAC });
    if let Some(o) = object {
        body["object"] = o["id"].clone();
    }
    let r = s
        .send(
            reqwest::Method::POST,
            &format!("/{}/follows/", root(user)),
            Some(user),
            &[("Content-Type", "application/json")],
            Some(serde_json::to_vec(&body).unwrap()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

/// (object id, because) of every entry of `user`'s feed after `since`, following `next`.
pub async fn told(s: &TestServer, user: &str, since: Option<&str>) -> Vec<(String, String)> {
    let mut path = format!("/{}/notifications/?limit=2", root(user));
    if let Some(t) = since {
        path += &format!("&added_after={}", enc(t));
    }
    let mut out = vec![];
    loop {
        let r = s.get(user, &path).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let page = r.json();
        for n in page["notifications"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let text = |v: &Value| v.as_str().unwrap().to_owned();
            out.push((text(&n["object"]["id"]), text(&n["because"])));
        }
        match page["next"].as_str() {
            Some(next) => path = format!("/{}/notifications/?next={}", root(user), enc(next)),
            None => return out,
        }
    }
}

fn pair(o: &Value, because: &str) -> (String, String) {
    (id(o), because.to_owned())
}

#[tokio::test]
async fn a_follower_is_told_once_of_what_it_may_see_of_its_object() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let threat = sdo("indicator", 1, Some(GREEN2));
    post(&s, "cert-ops", std::slice::from_ref(&threat), None).await;
    follow(&s, "initech-soc", Some(&threat)).await;
    follow(&s, "umbrella-soc", Some(&threat)).await;
    let (green, amber) = (note(2, &threat, GREEN2), note(3, &threat, AMBER2));
    post(&s, "acme-soc", &[green.clone(), amber.clone()], None).await;
    // initech is capped at GREEN: the AMBER note never reaches it, nor a word of it.
    let because = id(&threat);
    assert_eq!(
        told(&s, "initech-soc", None).await,
        vec![pair(&green, &because)]
    );
    assert_eq!(
        told(&s, "umbrella-soc", None).await,
        vec![pair(&green, &because), pair(&amber, &because)]
    );
    // A new version of the object itself; a repeat of a note tells nothing again.
    let mut v2 = threat.clone();
    v2["modified"] = json!("2026-02-01T00:00:00.000Z");
    post(&s, "cert-ops", std::slice::from_ref(&v2), None).await;
    post(&s, "acme-soc", std::slice::from_ref(&green), None).await;
    assert_eq!(
        told(&s, "initech-soc", None).await,
        vec![pair(&green, &because), pair(&v2, &because)]
    );
    // Someone who follows nothing is told nothing.
    assert!(told(&s, "globex-soc", None).await.is_empty());
}

#[tokio::test]
async fn an_embargoed_note_is_told_when_its_delay_ends_and_not_to_the_excluded() {
    let s = TestServer::start_with(&isac_setup(ACME_RULE), "").await;
    let threat = sdo("indicator", 1, Some(GREEN2));
    post(&s, "cert-ops", std::slice::from_ref(&threat), None).await;
    for user in ["initech-soc", "globex-soc"] {
        follow(&s, user, Some(&threat)).await;
    }
    let later = note(2, &threat, GREEN2);
    post(&s, "acme-soc", std::slice::from_ref(&later), None).await;
    assert!(
        told(&s, "initech-soc", None).await.is_empty(),
        "still under delay"
    );
    s.clock.advance(chrono::Duration::hours(25));
    assert_eq!(
        told(&s, "initech-soc", None).await,
        vec![pair(&later, &id(&threat))]
    );
    // acme's rule excludes globex: nothing, ever.
    assert!(told(&s, "globex-soc", None).await.is_empty());
}

#[tokio::test]
async fn a_community_follow_tells_only_what_the_user_receives() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    // mssp-feed receives indicators and malware only, and redistributes: no AMBER+STRICT.
    follow(&s, "mssp-feed", None).await;
    let shown = sdo("indicator", 1, Some(GREEN2));
    let strict = sdo("indicator", 2, Some(STRICT2));
    let other = sdo("attack-pattern", 3, Some(GREEN2));
    post(&s, "cert-ops", &[shown.clone(), strict, other], None).await;
    assert_eq!(
        told(&s, "mssp-feed", None).await,
        vec![pair(&shown, "collection")]
    );
    let last = s
        .get("mssp-feed", "/mssp/notifications/")
        .await
        .header("x-taxii-date-added-last")
        .unwrap();
    let more = sdo("malware", 4, Some(GREEN2));
    post(&s, "cert-ops", std::slice::from_ref(&more), None).await;
    assert_eq!(
        told(&s, "mssp-feed", Some(&last)).await,
        vec![pair(&more, "collection")]
    );
}

#[tokio::test]
async fn follows_are_listed_removed_and_private() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let threat = sdo("indicator", 1, Some(GREEN2));
    let f = follow(&s, "initech-soc", Some(&threat)).await;
    assert_eq!(f["collection"], ISAC);
    assert_eq!(f["object"], threat["id"]);
    // The same follow again is the same follow.
    assert_eq!(
        follow(&s, "initech-soc", Some(&threat)).await["id"],
        f["id"]
    );
    let listed = s.get("initech-soc", "/initech/follows/").await.json();
    assert_eq!(listed["follows"].as_array().unwrap().len(), 1);
    // Another user neither sees nor removes it.
    let theirs = s.get("acme-soc", "/acme/follows/").await.json();
    assert_eq!(theirs["follows"], json!([]));
    let path = |root: &str| format!("/{root}/follows/{}/", f["id"].as_str().unwrap());
    assert_eq!(s.delete("acme-soc", &path("acme")).await.status, 404);
    assert_eq!(s.delete("initech-soc", &path("initech")).await.status, 204);
    post(&s, "cert-ops", std::slice::from_ref(&threat), None).await;
    assert!(told(&s, "initech-soc", None).await.is_empty());
    // A collection the partner is not in, or a malformed id: refused.
    let bad = |body: Value| {
        let s = &s;
        async move {
            s.send(
                reqwest::Method::POST,
                "/initech/follows/",
                Some("initech-soc"),
                &[("Content-Type", "application/json")],
                Some(serde_json::to_vec(&body).unwrap()),
            )
            .await
            .status
        }
    };
    let stranger = "99999999-9999-4999-8999-999999999999";
    assert_eq!(bad(json!({ "collection": stranger })).await, 404);
    assert_eq!(
        bad(json!({ "collection": ISAC, "object": "nope" })).await,
        422
    );
}

pub fn report(n: u32, modified: &str, holds: &[&Value]) -> Value {
    json!({
        "type": "report", "spec_version": "2.1",
        "id": format!("report--{}", uuid_for(n)),
        "created": "2026-01-01T00:00:00.000Z", "modified": modified,
        "name": "Spear phish wave", "published": "2026-01-01T00:00:00.000Z",
        "object_refs": holds.iter().map(|o| o["id"].clone()).collect::<Vec<_>>(),
        "object_marking_refs": [GREEN2],
    })
}

#[tokio::test]
async fn a_report_follow_tells_of_what_the_report_holds_as_the_follower_received_it() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let (i1, i2, i3) = (
        sdo("indicator", 1, Some(GREEN2)),
        sdo("indicator", 2, Some(GREEN2)),
        sdo("indicator", 3, Some(GREEN2)),
    );
    let r1 = report(9, "2026-01-01T00:00:00.000Z", &[&i1, &i2]);
    post(
        &s,
        "cert-ops",
        &[i1.clone(), i2.clone(), i3.clone(), r1.clone()],
        None,
    )
    .await;
    follow(&s, "initech-soc", Some(&r1)).await;
    let because = id(&r1);

    // A note on what the report holds tells; one on something else, or above initech's cap
    // (GREEN), does not; nor does an object that merely shares the report's marking.
    let (on_i1, on_i3) = (note(20, &i1, GREEN2), note(21, &i3, GREEN2));
    let amber = note(22, &i1, AMBER2);
    let other = sdo("malware", 23, Some(GREEN2));
    post(&s, "acme-soc", &[on_i1.clone(), on_i3, amber, other], None).await;
    // A new version of a held indicator tells too.
    let mut i2v2 = i2.clone();
    i2v2["modified"] = json!("2026-02-01T00:00:00.000Z");
    post(&s, "cert-ops", std::slice::from_ref(&i2v2), None).await;
    assert_eq!(
        told(&s, "initech-soc", None).await,
        vec![pair(&on_i1, &because), pair(&i2v2, &because)]
    );

    // The report grows to hold i3: its new version tells, and from then on what is said of i3.
    let r2 = report(9, "2026-03-01T00:00:00.000Z", &[&i1, &i2, &i3]);
    post(&s, "cert-ops", std::slice::from_ref(&r2), None).await;
    let later = note(24, &i3, GREEN2);
    post(&s, "umbrella-soc", std::slice::from_ref(&later), None).await;
    let all = told(&s, "initech-soc", None).await;
    assert_eq!(&all[2..], &[pair(&r2, &because), pair(&later, &because)]);
}
