//! TAXII 2.1 sections 5.1 (get collections) and 5.2 (get a collection): each partner sees the
//! collections of its own communities under its own API root, and nothing of anyone else's.

use cairn_conformance::*;
use serde_json::json;

const RANDOM: &str = "0b7c5a1e-3f2d-4e6a-8b9c-1d2e3f4a5b6c";

fn finance(can_write: bool) -> serde_json::Value {
    json!({
        "id": FINANCE,
        "title": "Finance ISAC",
        "description": "Banks of the region",
        "alias": "finance-isac",
        "can_read": true,
        "can_write": can_write,
        "media_types": ["application/stix+json;version=2.1"]
    })
}

#[tokio::test]
async fn collections_of_a_moderator_list_its_community_exactly() {
    let s = TestServer::start().await;
    let r = s.get("acme-soc", "/acme/collections/").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.content_type().as_deref(), Some(TAXII));
    assert_eq!(r.json(), json!({ "collections": [finance(true)] }));
    // Every user of the partner sees the same.
    assert_eq!(
        s.get("acme-bot", "/acme/collections/").await.json(),
        r.json()
    );
}

#[tokio::test]
async fn reader_member_sees_can_write_false() {
    let s = TestServer::start().await;
    let r = s.get("initech-soc", "/initech/collections/").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({ "collections": [finance(false)] }));
    let one = s
        .get("initech-soc", &TestServer::coll("initech", FINANCE, ""))
        .await;
    assert_eq!(one.status, 200, "{}", one.text());
    assert_eq!(one.json(), finance(false));
}

#[tokio::test]
async fn collections_of_a_partner_in_two_communities_are_in_community_id_order() {
    let s = TestServer::start().await;
    let r = s.get("globex-soc", "/globex/collections/").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let club = json!({
        "id": CLUB,
        "title": "Globex club",
        "alias": "club",
        "can_read": true,
        "can_write": true,
        "media_types": ["application/stix+json;version=2.1"]
    });
    assert_eq!(r.json(), json!({ "collections": [club, finance(true)] }));
}

#[tokio::test]
async fn collection_by_id_and_by_alias_are_the_same_resource() {
    let s = TestServer::start().await;
    for (user, root, id, alias) in [
        ("acme-soc", "acme", FINANCE, "finance-isac"),
        ("globex-soc", "globex", CLUB, "club"),
    ] {
        let by_id = s.get(user, &TestServer::coll(root, id, "")).await;
        let by_alias = s.get(user, &TestServer::coll(root, alias, "")).await;
        assert_eq!(by_id.status, 200, "{}", by_id.text());
        assert_eq!(by_alias.status, 200, "{}", by_alias.text());
        assert_eq!(by_id.json(), by_alias.json());
        assert_eq!(by_id.json()["id"], id);
        let listed = s.get(user, &format!("/{root}/collections/")).await.json();
        let entry = listed["collections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .cloned();
        assert_eq!(
            entry,
            Some(by_id.json()),
            "the listing and the single resource agree"
        );
    }
}

#[tokio::test]
async fn another_communitys_collection_is_404_like_a_random_uuid() {
    let s = TestServer::start().await;
    for rest in ["", "objects/", "manifest/"] {
        let other = s
            .get("acme-soc", &TestServer::coll("acme", CLUB, rest))
            .await;
        other.assert_error(404);
        let random = s
            .get("acme-soc", &TestServer::coll("acme", RANDOM, rest))
            .await;
        random.assert_error(404);
        assert_eq!(other.comparable(), random.comparable(), "{rest}");
        // By alias too.
        let by_alias = s
            .get("acme-soc", &TestServer::coll("acme", "club", rest))
            .await;
        let no_alias = s
            .get("acme-soc", &TestServer::coll("acme", "no-such-club", rest))
            .await;
        assert_eq!(by_alias.comparable(), random.comparable(), "{rest}");
        assert_eq!(no_alias.comparable(), random.comparable(), "{rest}");
    }
}

#[tokio::test]
async fn partner_without_communities_gets_an_empty_resource() {
    let h = password_hash();
    let setup = format!(
        r#"
[[partner]]
id = "acme"
title = "ACME Bank"
[[partner]]
id = "lonely"
title = "Lonely Ltd"

[[user]]
name = "acme-soc"
partner = "acme"
password_hash = "{h}"
[[user]]
name = "lonely-soc"
partner = "lonely"
password_hash = "{h}"

[[community]]
id = "finance-isac"
collection = "{FINANCE}"
title = "Finance ISAC"
description = "Banks of the region"
[[community.member]]
partner = "acme"
role = "moderator"
"#
    );
    let s = TestServer::start_with(&setup, "").await;
    let r = s.get("lonely-soc", "/lonely/collections/").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.content_type().as_deref(), Some(TAXII));
    assert_eq!(r.text(), "{}");
    // Its API root exists; the community's collection does not, for it.
    assert_eq!(s.get("lonely-soc", "/lonely/").await.status, 200);
    let coll = s
        .get("lonely-soc", &TestServer::coll("lonely", FINANCE, ""))
        .await;
    let random = s
        .get("lonely-soc", &TestServer::coll("lonely", RANDOM, ""))
        .await;
    coll.assert_error(404);
    assert_eq!(coll.comparable(), random.comparable());
    assert_eq!(
        s.get("acme-soc", "/acme/collections/").await.json(),
        json!({ "collections": [finance(true)] })
    );
}

#[tokio::test]
async fn collections_under_another_partners_root_are_404() {
    let s = TestServer::start().await;
    let other = s.get("acme-soc", "/globex/collections/").await;
    other.assert_error(404);
    let none = s.get("acme-soc", "/nosuch/collections/").await;
    assert_eq!(other.comparable(), none.comparable());
    // Even a collection both partners belong to is not reachable through the other's root.
    for coll in [FINANCE, CLUB] {
        let r = s
            .get("acme-soc", &TestServer::coll("globex", coll, ""))
            .await;
        r.assert_error(404);
        let none = s
            .get("acme-soc", &TestServer::coll("nosuch", coll, ""))
            .await;
        assert_eq!(r.comparable(), none.comparable(), "{coll}");
        let objects = s
            .get("acme-soc", &TestServer::coll("globex", coll, "objects/"))
            .await;
        let none = s
            .get("acme-soc", &TestServer::coll("nosuch", coll, "objects/"))
            .await;
        objects.assert_error(404);
        assert_eq!(objects.comparable(), none.comparable(), "{coll}");
    }
}
