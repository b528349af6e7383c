//! Who said it (docs/setup-file.md, `[[partner]] identity`): an object may name only its
//! producer's identity in `created_by_ref`, the configured one or the one Cairn derives.

use super::fixture::*;
use cairn_conformance::*;
use serde_json::{json, Value};

const ACME_IDENTITY: &str = "identity--5a1c0f0e-0d44-4c5b-8f3e-0b3e7a1f2c9d";
const OUTSIDER: &str = "identity--0a4b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

fn setup() -> String {
    isac_setup("").replace(
        "id = \"acme\"\ntitle = \"ACME Bank\"\n",
        &format!("id = \"acme\"\ntitle = \"ACME Bank\"\nidentity = \"{ACME_IDENTITY}\"\n"),
    )
}

fn signed(n: u32, by: Option<&str>) -> Value {
    let mut o = sdo("malware", n, Some(GREEN2));
    if let Some(by) = by {
        o["created_by_ref"] = json!(by);
    }
    o
}

#[tokio::test]
async fn an_object_may_name_only_its_producers_identity() {
    let s = TestServer::start_with(&setup(), "").await;
    let cert = cairn::policy::identity::of("cert", None);
    let globex = cairn::policy::identity::of("globex", None);
    // Globex signs with ACME's configured identity, then with the CERT's derived one.
    for (n, claimed) in [(1, ACME_IDENTITY), (2, cert.as_str())] {
        let st = post(&s, "globex-soc", &[signed(n, Some(claimed))], None).await;
        assert_eq!(st["success_count"], 0, "{st}");
        let message = st["failures"][0]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!(
                "{claimed} is another partner's identity, not globex's"
            )) && message.contains(&globex),
            "{message}"
        );
    }
    // Its own, none, or an identity no partner has are stored as posted.
    for (n, claimed) in [(3, Some(globex.as_str())), (4, None), (5, Some(OUTSIDER))] {
        let st = post(&s, "globex-soc", &[signed(n, claimed)], None).await;
        assert_eq!(st["success_count"], 1, "{st}");
    }
    let acmes = signed(6, Some(ACME_IDENTITY));
    let st = post(&s, "acme-soc", std::slice::from_ref(&acmes), None).await;
    assert_eq!(st["success_count"], 1, "{st}");
    // Re-posting ACME's signed object as it is stores nothing and claims nothing.
    let st = post(&s, "globex-soc", &[acmes], None).await;
    assert_eq!(
        st["successes"][0]["message"],
        "this version was already stored; kept once"
    );
    // Nothing of the refused ones reached anyone.
    let seen = visible(&s, "umbrella-soc").await;
    let ids: Vec<String> = [3, 4, 5, 6].map(|n| id(&signed(n, None))).to_vec();
    assert_eq!(seen, ids);
}

/// Letter case does not hide a claim, and another partner's identity object is not to be
/// described by anyone else.
#[tokio::test]
async fn another_partners_identity_cannot_be_claimed_in_any_form() {
    let s = TestServer::start_with(&setup(), "").await;
    let upper = format!("identity--{}", ACME_IDENTITY[10..].to_ascii_uppercase());
    let st = post(&s, "globex-soc", &[signed(1, Some(&upper))], None).await;
    assert_eq!(st["success_count"], 0, "{st}");
    let fake = json!({
        "type": "identity", "spec_version": "2.1", "id": ACME_IDENTITY,
        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
        "name": "ACME Bank (really)", "identity_class": "organization",
        "object_marking_refs": [GREEN2],
    });
    let st = post(&s, "globex-soc", std::slice::from_ref(&fake), None).await;
    let message = st["failures"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("is another partner's identity"), "{st}");
    // ACME describes its own.
    let st = post(&s, "acme-soc", &[fake], None).await;
    assert_eq!(st["success_count"], 1, "{st}");
}
