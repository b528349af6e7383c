//! Noninterference: objects a reader may not see never change a byte of what that reader gets.
//! Two servers on frozen clocks run the same random history; the second also receives extra
//! objects hidden from the reader (excluded producer, above its cap, RED for others, a community
//! it is not in). Every endpoint's response to the reader must be identical, its activity feed
//! (it follows the community) included.

use super::mail::{mail_config, next_mail, smtp_sink};
use super::web::{all_pages, keyless, Browser};
use super::webhooks::{assert_signed, next, receiver, SECRET};
use cairn::clock::Clock;
use cairn_conformance::*;
use serde_json::{json, Value};

const C1: &str = "11111111-1111-4111-8111-111111111111";
const C2: &str = "22222222-2222-4222-8222-222222222222";
const MARKS: [(&str, &str); 5] = [
    (
        "clear",
        "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    ),
    (
        "green",
        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
    ),
    (
        "amber",
        "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    ),
    (
        "amber+strict",
        "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    ),
    (
        "red",
        "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
    ),
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Partners pa (the reader), pb (excludes pa), pc, pd; the reader's cap is `cap`.
fn setup(cap: &str, pc_delay: &str) -> String {
    let h = password_hash();
    let mut s = String::new();
    for p in ["pa", "pb", "pc", "pd"] {
        s += &format!("[[partner]]\nid = \"{p}\"\ntitle = \"{p}\"\n[[user]]\nname = \"{p}-u\"\npartner = \"{p}\"\npassword_hash = \"{h}\"\n");
    }
    s += &format!("[[community]]\nid = \"c1\"\ncollection = \"{C1}\"\ntitle = \"One\"\n");
    for (p, c) in [("pa", cap), ("pb", "red"), ("pc", "red"), ("pd", "red")] {
        s += &format!(
            "[[community.member]]\npartner = \"{p}\"\nrole = \"contributor\"\nmax_tlp = \"{c}\"\n"
        );
    }
    s += "[[community.rule]]\nproducer = \"pb\"\nexclude = [\"pa\"]\n";
    s += &format!("[[community.rule]]\nproducer = \"pc\"\ndelay = \"{pc_delay}\"\n");
    s += &format!("[[community]]\nid = \"c2\"\ncollection = \"{C2}\"\ntitle = \"Two\"\n");
    for p in ["pb", "pc"] {
        s += &format!("[[community.member]]\npartner = \"{p}\"\nrole = \"contributor\"\n");
    }
    s
}

fn object(n: u32, kind: &str, marking: &str, refs: &[String], rng: &mut Rng) -> Value {
    let id = format!("{kind}--{}", uuid_for(n));
    let minute = rng.below(50);
    let mut o = json!({
        "type": kind, "spec_version": "2.1", "id": id,
        "created": "2026-01-01T00:00:00.000Z",
        "modified": format!("2026-01-01T00:{minute:02}:00.000Z"),
        "object_marking_refs": [marking],
    });
    match kind {
        "relationship" => {
            o["relationship_type"] = json!("related-to");
            o["source_ref"] = json!(refs[0]);
            o["target_ref"] = json!(refs[1]);
        }
        "malware" => {
            o["name"] = json!(format!("m{n}"));
            o["is_family"] = json!(false);
        }
        _ => {
            o["name"] = json!(format!("i{n}"));
            o["pattern"] = json!("[ipv4-addr:value = '203.0.113.9']");
            o["pattern_type"] = json!("stix");
            o["valid_from"] = json!("2026-01-01T00:00:00Z");
        }
    }
    o
}

async fn post(s: &TestServer, user: &str, coll: &str, objects: &[Value], recipients: &str) -> Resp {
    let root = user.split('-').next().unwrap();
    let body = serde_json::to_vec(&json!({ "objects": objects })).unwrap();
    let mut headers = vec![("Content-Type", TAXII)];
    if !recipients.is_empty() {
        headers.push(("Cairn-Recipients", recipients));
    }
    s.send(
        reqwest::Method::POST,
        &TestServer::coll(root, coll, "objects/"),
        Some(user),
        &headers,
        Some(body),
    )
    .await
}

/// A page with the ids of follows (random per server) masked.
fn without_follow_ids(mut body: String) -> String {
    const AT: &str = "/web/me/follows/";
    let mut from = 0;
    while let Some(i) = body[from..].find(AT) {
        let start = from + i + AT.len();
        body.replace_range(start..(start + 36).min(body.len()), "FOLLOW");
        from = start;
    }
    body
}

/// Everything the reader pa-u can ask, with per-occurrence values masked.
async fn observe(
    s: &TestServer,
    ids: &[String],
) -> Vec<(String, (u16, Vec<(String, String)>, String))> {
    let mut paths: Vec<String> = vec![
        "/taxii2/".into(),
        "/pa/".into(),
        "/pa/collections/".into(),
        format!("/pa/collections/{C1}/"),
        format!("/pa/collections/{C2}/"),
        format!("/pa/collections/{C2}/objects/"),
        format!("/pa/collections/{C1}/objects/?match[version]=all"),
        format!("/pa/collections/{C1}/objects/?match[type]=malware,relationship"),
        format!("/pa/collections/{C1}/objects/?match[version]=first"),
        format!("/pa/collections/{C1}/manifest/?match[version]=all"),
        // What the community said about pa's own objects, and its counts.
        format!("/pa/collections/{C1}/objects/?match[about]=mine&match[version]=all"),
        format!("/pa/collections/{C1}/feedback/?match[type]=relationship,note"),
    ];
    for id in ids {
        paths.push(format!(
            "/pa/collections/{C1}/objects/{id}/?match[version]=all"
        ));
        paths.push(format!("/pa/collections/{C1}/objects/{id}/versions/"));
        // The thread of each object, hidden ones included.
        paths.push(format!(
            "/pa/collections/{C1}/objects/?match[ref]={id}&match[version]=all"
        ));
    }
    let mut out = vec![];
    for p in &paths {
        out.push((p.clone(), s.get("pa-u", p).await.comparable()));
    }
    // The web pages: the communities, the objects (by type too), each object's page.
    let mut pages: Vec<String> = vec![
        "/web/".into(),
        // Its follow of the community, and the newest notifications.
        "/web/me/".into(),
        format!("/web/c/{C1}/"),
        format!("/web/c/{C2}/"),
        format!("/web/c/{C1}/?type=malware"),
    ];
    pages.extend(ids.iter().map(|id| format!("/web/c/{C1}/o/{id}/")));
    let mut browser = Browser::sign_in(s, "pa-u").await;
    for p in &pages {
        let (status, body) = keyless(&browser.get(p).await);
        assert!(
            status == 200 || p.contains("/o/") || p.contains(C2),
            "{p}: {status} {body}"
        );
        if p == "/web/me/" {
            assert!(body.contains("Recent notifications"), "{body}");
        }
        out.push((p.clone(), (status, vec![], without_follow_ids(body))));
    }
    let first = format!("/web/c/{C1}/?limit=3");
    let listed = all_pages(&mut browser, &first).await;
    assert!(listed.len() > 1, "the listing has pages");
    for (i, page) in listed.iter().enumerate() {
        out.push((
            format!("{first} page {i}"),
            (page.status, vec![], keyless(page).1),
        ));
    }
    // Paging: every page, every next token, every header; the feed of pa's follow too.
    let mut firsts: Vec<String> = ["objects", "manifest"]
        .iter()
        .map(|endpoint| format!("/pa/collections/{C1}/{endpoint}/?limit=3"))
        .collect();
    firsts.push("/pa/notifications/?limit=2".into());
    for first in firsts {
        for (i, page) in s.all_pages("pa-u", &first).await.iter().enumerate() {
            out.push((format!("{first} page {i}"), page.comparable()));
        }
    }
    out
}

/// Two servers on the same setup, clock frozen at the same instant, with the same token key and
/// public URL, so that equal histories give byte-identical answers.
/// `mail` is each server's extra config (its `[mail]` section, or nothing).
async fn twins(text: &str, mail: [&str; 2]) -> (TestServer, TestServer) {
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z")
        .unwrap()
        .to_utc();
    let extra = "secret = \"shared-next-token-key-of-32-bytes+\"\npublic_url = \"https://taxii.example.org\"";
    let [mail_a, mail_b] = mail;
    (
        TestServer::start_with_clock(text, &format!("{extra}\n{mail_a}"), Clock::frozen(start))
            .await,
        TestServer::start_with_clock(text, &format!("{extra}\n{mail_b}"), Clock::frozen(start))
            .await,
    )
}

async fn run(seed: u64) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let cap = *rng.pick(&["green", "amber"]);
    let pc_delay = *rng.pick(&["0s", "1h"]);
    // pa's mail must not tell of what it cannot see either.
    let text = setup(cap, pc_delay)
        + "[[mail]]\npartner = \"pa\"\nto = \"soc@pa.example\"\nschedule = \"immediate\"\n";
    let (port_a, mut mail_a) = smtp_sink(0).await;
    let (port_b, mut mail_b) = smtp_sink(0).await;
    let (a, b) = twins(&text, [&mail_config(port_a), &mail_config(port_b)]).await;
    // pa's webhook must not hear of what it cannot see either.
    let mut hooks = vec![];
    for s in [&a, &b] {
        let (port, rx) = receiver(vec![]).await;
        let hook = format!("[[webhook]]\npartner = \"pa\"\nurl = \"http://127.0.0.1:{port}/\"\nsecret = \"env:SECRET\"\n");
        s.apply_with_env(&format!("{text}\n{hook}"), &[("SECRET", SECRET)])
            .await;
        hooks.push(rx);
    }
    // pa follows the whole community: its feed must not move with what it cannot see either.
    for s in [&a, &b] {
        let body = serde_json::to_vec(&json!({ "collection": C1 })).unwrap();
        let headers = [("Content-Type", "application/json")];
        let r = s
            .send(
                reqwest::Method::POST,
                "/pa/follows/",
                Some("pa-u"),
                &headers,
                Some(body),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let cap_rank = if cap == "green" { 1 } else { 2 };
    let mut base_ids: Vec<String> = vec![];
    let mut all_ids: Vec<String> = vec![];
    // Relationships may only point at SDOs and SCOs.
    let mut sdo_ids: Vec<String> = vec![];
    let mut n = 0u32;
    for step in 0..12 {
        // Base objects, the same on both servers, from any partner, any marking.
        let mut batch = vec![];
        let writer = *rng.pick(&["pa-u", "pb-u", "pc-u", "pd-u"]);
        for _ in 0..1 + rng.below(3) {
            n += 1;
            let (_, marking) = *rng.pick(&MARKS[..4]);
            let kind = if sdo_ids.len() >= 2 && rng.below(3) == 0 {
                "relationship"
            } else {
                *rng.pick(&["indicator", "malware"])
            };
            let refs = if kind == "relationship" {
                vec![
                    rng.pick(&sdo_ids.clone()).clone(),
                    rng.pick(&sdo_ids.clone()).clone(),
                ]
            } else {
                vec![]
            };
            let o = object(n, kind, marking, &refs, &mut rng);
            base_ids.push(o["id"].as_str().unwrap().into());
            if kind != "relationship" {
                sdo_ids.push(o["id"].as_str().unwrap().into());
            }
            all_ids.push(o["id"].as_str().unwrap().into());
            batch.push(o);
        }
        let ra = post(&a, writer, C1, &batch, "").await;
        let rb = post(&b, writer, C1, &batch, "").await;
        let mask = |r: &Resp| {
            let mut j = r.json();
            j["id"] = json!("*");
            (r.status, j)
        };
        assert_eq!(
            mask(&ra),
            mask(&rb),
            "seed {seed} step {step}: base POST answers differ"
        );

        // Extras, only on b, each hidden from pa by one rule or another.
        n += 1;
        let hidden_kind = rng.below(4);
        let above_cap = MARKS[cap_rank + 1 + rng.below((3 - cap_rank) as u64) as usize].1;
        let kind = if sdo_ids.len() >= 2 && rng.below(2) == 0 {
            "relationship"
        } else {
            "malware"
        };
        let refs = if kind == "relationship" {
            vec![
                rng.pick(&sdo_ids.clone()).clone(),
                rng.pick(&sdo_ids.clone()).clone(),
            ]
        } else {
            vec![]
        };
        let (writer, coll, marking, recipients) = match hidden_kind {
            0 => ("pb-u", C1, MARKS[1].1, ""),
            1 => (*rng.pick(&["pc-u", "pd-u"]), C1, above_cap, "pd"),
            2 => ("pd-u", C1, MARKS[4].1, "pc, pb/pb-u"),
            _ => ("pc-u", C2, MARKS[1].1, ""),
        };
        let extra = object(n, kind, marking, &refs, &mut rng);
        all_ids.push(extra["id"].as_str().unwrap().into());
        let r = post(&b, writer, coll, &[extra], recipients).await;
        assert_eq!(r.status, 202);
        assert_eq!(
            r.json()["success_count"],
            1,
            "seed {seed}: extra not stored: {}",
            r.text()
        );

        let advance = chrono::Duration::seconds(1 + rng.below(3) as i64)
            + chrono::Duration::minutes(rng.below(40) as i64);
        a.clock.advance(advance);
        b.clock.advance(advance);
        if step % 4 == 3 {
            let seen_a = observe(&a, &all_ids).await;
            let seen_b = observe(&b, &all_ids).await;
            for (x, y) in seen_a.iter().zip(&seen_b) {
                assert_eq!(
                    x, y,
                    "seed {seed} step {step}: the reader saw a difference at {}",
                    x.0
                );
            }
            assert_eq!(seen_a.len(), seen_b.len());
        }
    }
    // The feed compared above is not empty: pa was told of what it received.
    let told = a.all_pages("pa-u", "/pa/notifications/?limit=100").await;
    let told: usize = told
        .iter()
        .map(|p| p.json()["notifications"].as_array().map_or(0, |n| n.len()))
        .sum();
    assert!(told > 0, "seed {seed}: an empty feed");
    // Both webhooks received as many requests as the feed has entries, the same bodies.
    let mut heard = vec![];
    for rx in &mut hooks {
        let mut got = vec![];
        for _ in 0..told {
            let r = next(rx).await;
            assert_signed(&r);
            // The body; the signature's time is when it was sent, which the clock decides.
            got.push(String::from_utf8(r.body.clone()).unwrap());
        }
        got.sort();
        heard.push(got);
    }
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    for rx in &mut hooks {
        assert!(
            rx.try_recv().is_err(),
            "seed {seed}: more webhook requests than feed entries"
        );
    }
    assert_eq!(
        heard[0], heard[1],
        "seed {seed}: the webhooks heard a difference"
    );
    // A minute on, every entry has been mailed: the same entries, however the mails grouped them.
    a.clock.advance(chrono::Duration::seconds(61));
    b.clock.advance(chrono::Duration::seconds(61));
    let mut mailed = vec![];
    for rx in [&mut mail_a, &mut mail_b] {
        let mut entries = vec![];
        while entries.len() < told {
            entries.extend(next_mail(rx).await.entries());
        }
        entries.sort();
        mailed.push(entries);
    }
    assert_eq!(
        mailed[0].len(),
        told,
        "seed {seed}: more mailed than the feed has"
    );
    assert_eq!(
        mailed[0], mailed[1],
        "seed {seed}: the mail told a difference"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_a_reader_cannot_see_never_change_a_byte_it_gets() {
    for seed in 1..=6 {
        run(seed).await;
    }
}

/// Hidden objects posted in the same envelope as visible ones change no byte either: not the
/// versions of the SCOs beside them (an SCO's version is the time it was added) and not the
/// reader's own date_added values.
#[tokio::test]
async fn hidden_objects_in_the_same_post_change_no_byte() {
    let text = setup("green", "0s");
    let (a, b) = twins(&text, ["", ""]).await;
    let (green, strict) = (MARKS[1].1, MARKS[3].1);
    let sco = |n: u32| {
        json!({
            "type": "ipv4-addr", "spec_version": "2.1", "id": format!("ipv4-addr--{}", uuid_for(n)),
            "value": format!("198.51.100.{n}"), "object_marking_refs": [green],
        })
    };
    let mut rng = Rng(7);
    let mut ids = vec![];
    for round in 0..2u32 {
        let base = 100 * round;
        let visible = [
            sco(base + 1),
            object(base + 2, "indicator", green, &[], &mut rng),
            sco(base + 3),
        ];
        // Above the reader's GREEN cap.
        let hidden: Vec<Value> = (base + 10..base + 14)
            .map(|n| object(n, "malware", strict, &[], &mut rng))
            .collect();
        let mut mixed = vec![hidden[0].clone(), visible[0].clone()];
        mixed.extend(hidden[1..3].iter().cloned());
        mixed.push(visible[1].clone());
        mixed.push(hidden[3].clone());
        mixed.push(visible[2].clone());
        let ra = post(&a, "pd-u", C1, &visible, "").await;
        let rb = post(&b, "pd-u", C1, &mixed, "").await;
        assert_eq!(
            (
                ra.json()["success_count"].clone(),
                rb.json()["success_count"].clone()
            ),
            (json!(3), json!(7))
        );
        ids.extend(
            visible
                .iter()
                .chain(&hidden)
                .map(|o| o["id"].as_str().unwrap().to_owned()),
        );
        a.clock.advance(chrono::Duration::seconds(5));
        b.clock.advance(chrono::Duration::seconds(5));
    }
    let (seen_a, seen_b) = (observe(&a, &ids).await, observe(&b, &ids).await);
    assert_eq!(seen_a.len(), seen_b.len());
    for (x, y) in seen_a.iter().zip(&seen_b) {
        assert_eq!(x, y, "the reader saw a difference at {}", x.0);
    }
}
