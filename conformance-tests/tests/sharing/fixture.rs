//! The Finance ISAC of the README: a CERT moderating four banks and an MSSP feed.

use cairn_conformance::*;
use serde_json::{json, Value};

pub const ISAC: &str = "2f0e4c8e-6b1a-4c55-9d8e-6f1b7e0a9c11";
pub const GREEN2: &str = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
pub const AMBER1: &str = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82";
pub const AMBER2: &str = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421";
pub const STRICT2: &str = "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003";
pub const RED2: &str = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1";
pub const RED1: &str = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed";
pub const WHITE1: &str = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9";

/// Setup text; `extra` is appended inside the community (more members or rules).
pub fn isac_setup(acme_rule: &str) -> String {
    let h = password_hash();
    let mut s = String::new();
    for (p, title) in [
        ("cert", "Regional CERT"),
        ("acme", "ACME Bank"),
        ("globex", "Globex Savings"),
        ("initech", "Initech Credit Union"),
        ("umbrella", "Umbrella Mutual"),
        ("mssp", "Watchtower MSSP"),
    ] {
        s += &format!("[[partner]]\nid = \"{p}\"\ntitle = \"{title}\"\n\n");
    }
    for (u, p, extra) in [
        ("cert-ops", "cert", ""),
        ("acme-soc", "acme", ""),
        ("acme-lead", "acme", ""),
        ("globex-soc", "globex", ""),
        ("initech-soc", "initech", ""),
        ("umbrella-soc", "umbrella", ""),
        (
            "mssp-feed",
            "mssp",
            "types = [\"indicator\", \"malware\"]\nredistributes = true\n",
        ),
    ] {
        s += &format!(
            "[[user]]\nname = \"{u}\"\npartner = \"{p}\"\npassword_hash = \"{h}\"\n{extra}\n"
        );
    }
    s += &format!("[[community]]\nid = \"finance-isac\"\ncollection = \"{ISAC}\"\ntitle = \"Finance ISAC\"\n\n");
    for (p, role, cap) in [
        ("cert", "moderator", "red"),
        ("acme", "contributor", "red"),
        ("globex", "contributor", "amber+strict"),
        ("initech", "contributor", "green"),
        ("umbrella", "contributor", "red"),
        ("mssp", "reader", "amber"),
    ] {
        s += &format!(
            "[[community.member]]\npartner = \"{p}\"\nrole = \"{role}\"\nmax_tlp = \"{cap}\"\n\n"
        );
    }
    s += acme_rule;
    s
}

pub const ACME_RULE: &str =
    "[[community.rule]]\nproducer = \"acme\"\nexclude = [\"globex\"]\ndelay = \"24h\"\n";

pub fn root(user: &str) -> &str {
    user.split('-').next().unwrap()
}

pub fn sdo(kind: &str, n: u32, marking: Option<&str>) -> Value {
    let mut o = json!({
        "type": kind,
        "spec_version": "2.1",
        "id": format!("{kind}--{}", uuid_for(n)),
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": format!("{kind} {n}"),
    });
    match kind {
        "indicator" => {
            o["pattern"] = json!("[ipv4-addr:value = '198.51.100.7']");
            o["pattern_type"] = json!("stix");
            o["valid_from"] = json!("2026-01-01T00:00:00Z");
        }
        "malware" => o["is_family"] = json!(false),
        "report" => {
            o["published"] = json!("2026-01-01T00:00:00Z");
            // Reports must reference something; tests replace this with what they need.
            o["object_refs"] = json!(["identity--0a4b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"]);
        }
        _ => {}
    }
    if let Some(m) = marking {
        o["object_marking_refs"] = json!([m]);
    }
    o
}

pub fn relationship(n: u32, source: &Value, target: &Value, marking: &str) -> Value {
    json!({
        "type": "relationship",
        "spec_version": "2.1",
        "id": format!("relationship--{}", uuid_for(n)),
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "relationship_type": "indicates",
        "source_ref": source["id"],
        "target_ref": target["id"],
        "object_marking_refs": [marking],
    })
}

/// POSTs `objects` as `user` with optional RED recipients; returns the status resource.
pub async fn post(
    s: &TestServer,
    user: &str,
    objects: &[Value],
    recipients: Option<&str>,
) -> Value {
    let path = TestServer::coll(root(user), ISAC, "objects/");
    let body = serde_json::to_vec(&json!({ "objects": objects })).unwrap();
    let mut headers = vec![("Content-Type", TAXII)];
    if let Some(r) = recipients {
        headers.push(("Cairn-Recipients", r));
    }
    let r = s
        .send(
            reqwest::Method::POST,
            &path,
            Some(user),
            &headers,
            Some(body),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    r.json()
}

/// The ids `user` sees in the community (all pages, every version), built-ins left out.
pub async fn visible(s: &TestServer, user: &str) -> Vec<String> {
    let first = format!(
        "{}?limit=1000&match[version]=all",
        TestServer::coll(root(user), ISAC, "objects/")
    );
    let mut ids = vec![];
    for page in s.all_pages(user, &first).await {
        for o in page.json()["objects"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let id = o["id"].as_str().unwrap().to_owned();
            let builtin =
                id.starts_with("marking-definition--") || id.starts_with("extension-definition--");
            if !builtin {
                ids.push(id);
            }
        }
    }
    ids
}

pub fn id(o: &Value) -> String {
    o["id"].as_str().unwrap().to_owned()
}
