//! The README's worked example end to end: what each partner's API root returns.

use super::fixture::*;
use cairn_conformance::*;

#[tokio::test]
async fn five_banks_each_see_exactly_what_the_policy_allows() {
    let s = TestServer::start_with(&isac_setup(ACME_RULE), "").await;
    let i1 = sdo("indicator", 1, Some(GREEN2));
    let m1 = sdo("malware", 2, Some(AMBER1));
    let i2 = sdo("indicator", 3, Some(STRICT2));
    let rel = relationship(4, &i2, &m1, GREEN2);
    post(
        &s,
        "cert-ops",
        &[i1.clone(), m1.clone(), i2.clone(), rel.clone()],
        None,
    )
    .await;

    // A RED report for two named people, referencing what they can see.
    let mut red = sdo("report", 5, Some(RED2));
    red["object_refs"] = serde_json::json!([id(&i1), id(&m1)]);
    let st = post(
        &s,
        "cert-ops",
        std::slice::from_ref(&red),
        Some("acme/acme-soc, umbrella"),
    )
    .await;
    assert_eq!(st["success_count"], 1, "{st}");

    // ACME's report: embargoed 24 hours, never to Globex.
    let mut acme_report = sdo("report", 6, Some(GREEN2));
    acme_report["object_refs"] = serde_json::json!([id(&i1)]);
    let st = post(&s, "acme-soc", std::slice::from_ref(&acme_report), None).await;
    assert_eq!(st["success_count"], 1, "{st}");

    let expect = |ids: &[&serde_json::Value]| ids.iter().map(|o| id(o)).collect::<Vec<_>>();
    // cert moderates with a RED cap: everything but what is still under ACME's embargo.
    assert_eq!(
        visible(&s, "cert-ops").await,
        expect(&[&i1, &m1, &i2, &rel, &red])
    );
    // acme-soc was named for the RED report; ACME always sees its own report.
    assert_eq!(
        visible(&s, "acme-soc").await,
        expect(&[&i1, &m1, &i2, &rel, &red, &acme_report])
    );
    // acme-lead is not named: no RED.
    assert_eq!(
        visible(&s, "acme-lead").await,
        expect(&[&i1, &m1, &i2, &rel, &acme_report])
    );
    // Globex: default cap AMBER+STRICT, excluded by ACME.
    assert_eq!(
        visible(&s, "globex-soc").await,
        expect(&[&i1, &m1, &i2, &rel])
    );
    // Initech is capped at GREEN: no AMBER, and the GREEN relationship is hidden because it
    // points at what Initech cannot see.
    assert_eq!(visible(&s, "initech-soc").await, expect(&[&i1]));
    // Umbrella was named as a partner.
    assert_eq!(
        visible(&s, "umbrella-soc").await,
        expect(&[&i1, &m1, &i2, &rel, &red])
    );
    // The MSSP feed redistributes: no AMBER+STRICT, only indicators and malware.
    assert_eq!(visible(&s, "mssp-feed").await, expect(&[&i1, &m1]));

    // A day later ACME's report is released to all but Globex and the feed (not its type).
    s.clock.advance(chrono::Duration::hours(24));
    assert_eq!(
        visible(&s, "cert-ops").await,
        expect(&[&i1, &m1, &i2, &rel, &red, &acme_report])
    );
    assert_eq!(
        visible(&s, "initech-soc").await,
        expect(&[&i1, &acme_report])
    );
    assert_eq!(
        visible(&s, "umbrella-soc").await,
        expect(&[&i1, &m1, &i2, &rel, &red, &acme_report])
    );
    assert_eq!(
        visible(&s, "globex-soc").await,
        expect(&[&i1, &m1, &i2, &rel])
    );
    assert_eq!(visible(&s, "mssp-feed").await, expect(&[&i1, &m1]));

    // Hidden objects answer exactly like absent ones, on every per-object endpoint.
    let hidden = TestServer::coll("initech", ISAC, &format!("objects/{}/", id(&m1)));
    let absent = TestServer::coll(
        "initech",
        ISAC,
        &format!("objects/malware--{}/", uuid_for(999)),
    );
    for suffix in ["", "versions/"] {
        let a = s.get("initech-soc", &format!("{hidden}{suffix}")).await;
        let b = s.get("initech-soc", &format!("{absent}{suffix}")).await;
        a.assert_error(404);
        assert_eq!(a.comparable(), b.comparable());
    }
    let a = s.delete("initech-soc", &hidden).await;
    let b = s.delete("initech-soc", &absent).await;
    assert_eq!(a.comparable(), b.comparable());
    assert_eq!(a.status, 404);
}

/// `Cairn-Recipients` names a user whose name holds a space (the setup file allows it): the RED
/// object reaches that user, and no other user of its partner.
#[tokio::test]
async fn red_reaches_a_named_user_whose_name_holds_a_space() {
    let user = "acme-ana lind";
    let h = password_hash();
    let extra =
        format!("[[user]]\nname = \"{user}\"\npartner = \"acme\"\npassword_hash = \"{h}\"\n");
    let s = TestServer::start_with(&isac_setup(&extra), "").await;
    let red = sdo("indicator", 5, Some(RED2));
    let named = format!("acme/{user}");
    let st = post(&s, "cert-ops", std::slice::from_ref(&red), Some(&named)).await;
    assert_eq!(st["success_count"], 1, "{st}");
    assert_eq!(visible(&s, user).await, vec![red["id"].as_str().unwrap()]);
    assert!(visible(&s, "acme-soc").await.is_empty());
}

#[tokio::test]
async fn red_without_recipients_or_with_a_stranger_is_refused_for_that_object_only() {
    let s = TestServer::start_with(&isac_setup(""), "").await;
    let red = sdo("indicator", 1, Some(RED1));
    let green = sdo("indicator", 2, Some(GREEN2));
    let st = post(&s, "cert-ops", &[red.clone(), green.clone()], None).await;
    assert_eq!(st["success_count"], 1);
    assert_eq!(st["failures"][0]["id"], red["id"]);
    assert!(
        st["failures"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Cairn-Recipients"),
        "{st}"
    );

    let red3 = sdo("indicator", 3, Some(RED2));
    let green4 = sdo("indicator", 4, Some(GREEN2));
    let st = post(&s, "cert-ops", &[red3.clone(), green4], Some("acme, globx")).await;
    assert_eq!(st["success_count"], 1);
    let msg = st["failures"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains("'globx' is not a member of this community"),
        "{msg}"
    );

    // A user of another partner, written as partner/user, is refused too.
    let st = post(
        &s,
        "cert-ops",
        std::slice::from_ref(&red3),
        Some("acme/globex-soc"),
    )
    .await;
    assert_eq!(st["failure_count"], 1, "{st}");
    let st = post(&s, "cert-ops", &[red3], Some("acme/acme-lead")).await;
    assert_eq!(st["success_count"], 1, "{st}");
    assert_eq!(visible(&s, "acme-lead").await.len(), 3);
    assert_eq!(visible(&s, "acme-soc").await.len(), 2);
}

/// What `cairn explain` prints: per version, delivered since when, or the rule that withholds it.
#[tokio::test]
async fn explain_names_the_rule_that_decides() {
    let s = TestServer::start_with(&isac_setup(ACME_RULE), "").await;
    let v1 = sdo("malware", 1, Some(GREEN2));
    post(&s, "cert-ops", std::slice::from_ref(&v1), None).await;
    let mut v2 = v1.clone();
    v2["modified"] = serde_json::json!("2026-02-01T00:00:00.000Z");
    v2["object_marking_refs"] = serde_json::json!([AMBER2]);
    post(&s, "cert-ops", &[v2], None).await;
    let mut report = sdo("report", 2, Some(GREEN2));
    report["object_refs"] = serde_json::json!([id(&v1)]);
    post(&s, "acme-soc", std::slice::from_ref(&report), None).await;

    let explain = |user: &'static str, object: String| {
        let config = s.config.clone();
        let now = s.clock.now();
        async move {
            let storage = cairn::startup::open_storage(&config).await.unwrap();
            tokio::task::spawn_blocking(move || {
                storage
                    .write_now(|c| {
                        cairn::service::deliveries::explain(
                            c,
                            (user, None),
                            "finance-isac",
                            &object,
                            now,
                        )
                    })
                    .unwrap()
            })
            .await
            .unwrap()
        }
    };
    let lines = explain("initech-soc", id(&v1)).await;
    assert_eq!(
        lines[0],
        format!(
            "{} in finance-isac for initech-soc (partner initech, cap TLP:GREEN):",
            id(&v1)
        )
    );
    assert_eq!(
        lines[1],
        "  version 2026-01-01T00:00:00.000000Z from cert (TLP:GREEN): not delivered: a newer version from the same \
         producer is withheld: TLP:AMBER is above the reader's cap TLP:GREEN"
    );
    assert_eq!(
        lines[2],
        "  version 2026-02-01T00:00:00.000000Z from cert (TLP:AMBER): not delivered: TLP:AMBER is above the reader's cap TLP:GREEN"
    );
    let lines = explain("globex-soc", id(&v1)).await;
    assert!(
        lines[1].contains("from cert (TLP:GREEN): delivered since 20"),
        "{lines:?}"
    );
    assert!(
        lines[1].ends_with("shared by the producer's rules and within the reader's caps"),
        "{lines:?}"
    );
    let lines = explain("globex-soc", id(&report)).await;
    assert!(lines[1].ends_with("not delivered: the producer's rule excludes the reader's partner ([[community.rule]] exclude)"), "{lines:?}");
    let lines = explain("umbrella-soc", id(&report)).await;
    assert!(
        lines[1].contains("not delivered: under delay until "),
        "{lines:?}"
    );
    let lines = explain("acme-lead", id(&report)).await;
    assert!(
        lines[1].contains("delivered since") && lines[1].ends_with("only the user's caps apply"),
        "{lines:?}"
    );
}
