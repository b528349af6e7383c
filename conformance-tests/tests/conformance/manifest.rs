//! TAXII 2.1 section 5.3 (Get Object Manifests) and its manifest resource (5.3.1), with the
//! filtering of section 3.4 and the pagination of section 3.5.

use crate::objects_get::{
    assert_micros, assert_no_date_headers, date_headers, ind, ipv4, mal, manifest_all,
    manifest_url, T1, T2, T3,
};
use cairn_conformance::*;
use serde_json::{json, Value};

fn records(r: &Resp) -> Vec<Value> {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
        .get("objects")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn record_ids(r: &Resp) -> Vec<String> {
    records(r)
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn manifest_records_have_exactly_the_taxii_fields() {
    let s = TestServer::start().await;
    s.post_objects("acme-soc", &[indicator(1, T2)]).await;
    // Every record, the built-ins' too, has exactly the four fields.
    let r = s.get("acme-soc", &manifest_url("")).await;
    let all = records(&r);
    assert_eq!(all.len(), BUILTIN_IDS.len() + 1);
    for rec in &all {
        let mut keys: Vec<&String> = rec.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["date_added", "id", "media_type", "version"], "{rec}");
    }
    let r = s
        .get("acme-soc", &manifest_url("match[type]=indicator"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.content_type().as_deref(), Some(TAXII));
    let j = r.json();
    let mut top: Vec<&String> = j.as_object().unwrap().keys().collect();
    top.sort();
    assert_eq!(top, ["more", "objects"], "{j}");
    assert_eq!(j["more"], false);
    let list = records(&r);
    assert_eq!(list.len(), 1);
    let rec = &list[0];
    let mut keys: Vec<&String> = rec.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["date_added", "id", "media_type", "version"], "{rec}");
    assert_eq!(rec["id"], ind(1));
    // The version is the object's modified.
    assert_eq!(rec["version"], T2);
    assert_eq!(rec["media_type"], "application/stix+json;version=2.1");
    let added = rec["date_added"].as_str().unwrap();
    assert_micros(added);
    assert_eq!(date_headers(&r), (added.to_owned(), added.to_owned()));
}

#[tokio::test]
async fn sco_version_is_its_date_added() {
    let s = TestServer::start().await;
    s.post_objects("acme-soc", &[ipv4(7)]).await;
    let r = s
        .get("acme-soc", &manifest_url("match[type]=ipv4-addr"))
        .await;
    let list = records(&r);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], format!("ipv4-addr--{}", uuid_for(7)));
    assert_micros(list[0]["version"].as_str().unwrap());
    assert_eq!(list[0]["version"], list[0]["date_added"], "{}", list[0]);
}

#[tokio::test]
async fn manifest_lists_the_latest_version_by_default_and_every_version_on_request() {
    let s = TestServer::start().await;
    s.post_objects("acme-soc", &[indicator(1, T1)]).await;
    s.post_objects("acme-soc", &[indicator(1, T3), malware(2)])
        .await;
    s.post_objects("acme-soc", &[indicator(1, T2)]).await;
    let r = s.get("acme-soc", &manifest_url("")).await;
    let got: Vec<(Value, Value)> = posted(&r)
        .iter()
        .map(|m| (m["id"].clone(), m["version"].clone()))
        .collect();
    assert_eq!(
        got,
        vec![(json!(ind(1)), json!(T3)), (json!(mal(2)), json!(T1))]
    );
    let r = s.get("acme-soc", &manifest_url("match[version]=all")).await;
    let got: Vec<Value> = posted(&r).iter().map(|m| m["version"].clone()).collect();
    assert_eq!(got, vec![json!(T1), json!(T3), json!(T1), json!(T2)]);
}

#[tokio::test]
async fn manifest_match_type_filters_records() {
    let s = TestServer::start().await;
    s.post_objects(
        "acme-soc",
        &[indicator(1, T1), malware(2), indicator(3, T1), ipv4(4)],
    )
    .await;
    let r = s
        .get("acme-soc", &manifest_url("match[type]=indicator"))
        .await;
    assert_eq!(record_ids(&r), vec![ind(1), ind(3)]);
    let r = s
        .get("acme-soc", &manifest_url("match[type]=malware,ipv4-addr"))
        .await;
    assert_eq!(
        record_ids(&r),
        vec![mal(2), format!("ipv4-addr--{}", uuid_for(4))]
    );
    let r = s
        .get("acme-soc", &manifest_url(&format!("match[id]={}", ind(3))))
        .await;
    assert_eq!(record_ids(&r), vec![ind(3)]);
    let r = s
        .get("acme-soc", &manifest_url("match[type]=Indicator"))
        .await;
    let e = r.assert_error(400);
    assert!(
        e["description"].as_str().unwrap().contains("match[type]"),
        "{e}"
    );
}

#[tokio::test]
async fn manifest_pages_with_exact_more_and_next() {
    let s = TestServer::start().await;
    let objs: Vec<Value> = (1..=5).map(|n| indicator(n, T1)).collect();
    s.post_objects("acme-soc", &objs).await;
    let pages = s
        .all_pages("acme-soc", &manifest_url("match[type]=indicator&limit=2"))
        .await;
    let ids: Vec<Vec<String>> = pages.iter().map(record_ids).collect();
    assert_eq!(
        ids,
        vec![vec![ind(1), ind(2)], vec![ind(3), ind(4)], vec![ind(5)]]
    );
    for (k, p) in pages.iter().enumerate() {
        let j = p.json();
        assert_eq!(j["more"], k < 2, "{j}");
        assert_eq!(j.get("next").is_some(), k < 2, "next iff more: {j}");
        // Headers are the first and last date_added of this page.
        let recs = records(p);
        let (first, last) = date_headers(p);
        assert_eq!(first, recs[0]["date_added"].as_str().unwrap());
        assert_eq!(last, recs[recs.len() - 1]["date_added"].as_str().unwrap());
        assert_micros(&first);
        assert_micros(&last);
    }

    // An exactly full last page: more false, no next.
    let r = s
        .get("acme-soc", &manifest_url("match[type]=indicator&limit=5"))
        .await;
    let j = r.json();
    assert_eq!(record_ids(&r).len(), 5);
    assert_eq!(j["more"], false);
    assert!(j.get("next").is_none(), "{j}");
}

#[tokio::test]
async fn manifest_next_token_is_bound_to_the_user() {
    let s = TestServer::start().await;
    let objs: Vec<Value> = (1..=3).map(|n| indicator(n, T1)).collect();
    s.post_objects("acme-soc", &objs).await;
    let r = s
        .get("acme-soc", &manifest_url("match[type]=indicator&limit=1"))
        .await;
    assert_eq!(record_ids(&r), vec![ind(1)]);
    let next = r.json()["next"].as_str().unwrap().to_owned();
    let r = s
        .get(
            "acme-bot",
            &manifest_url(&format!(
                "match[type]=indicator&limit=1&next={}",
                enc(&next)
            )),
        )
        .await;
    r.assert_error(400);
    let r = s
        .get(
            "acme-soc",
            &manifest_url(&format!(
                "match[type]=indicator&limit=1&next={}",
                enc(&next)
            )),
        )
        .await;
    assert_eq!(record_ids(&r), vec![ind(2)]);
}

#[tokio::test]
async fn empty_manifest_is_an_empty_object_without_date_headers() {
    let s = TestServer::start().await;
    // A fresh collection holds only the built-ins: nothing after the last of them.
    let r = s.get("acme-soc", &manifest_url("")).await;
    assert_eq!(record_ids(&r), builtin_ids());
    let (_, last) = date_headers(&r);
    let r = s
        .get(
            "acme-soc",
            &manifest_url(&format!("added_after={}", enc(&last))),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type().as_deref(), Some(TAXII));
    assert_eq!(r.text(), "{}");
    assert_no_date_headers(&r);
    // Nor any malware among them.
    let r = s
        .get("acme-soc", &manifest_url("match[type]=malware"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type().as_deref(), Some(TAXII));
    assert_eq!(r.text(), "{}");
    assert_no_date_headers(&r);
    // Also when filters exclude everything posted.
    s.post_objects("acme-soc", &[indicator(1, T1)]).await;
    let r = s
        .get("acme-soc", &manifest_url("match[type]=malware"))
        .await;
    assert_eq!(r.text(), "{}");
    assert_no_date_headers(&r);
}

#[tokio::test]
async fn manifest_date_added_matches_objects_date_headers() {
    let s = TestServer::start().await;
    let objs: Vec<Value> = (1..=3).map(|n| indicator(n, T1)).collect();
    s.post_objects("acme-soc", &objs).await;
    let recs = manifest_all(&s, "acme-soc").await;
    for (k, rec) in recs.iter().enumerate() {
        let id = rec["id"].as_str().unwrap();
        let r = s
            .get(
                "acme-soc",
                &TestServer::coll("acme", FINANCE, &format!("objects/?match[id]={id}")),
            )
            .await;
        let added = rec["date_added"].as_str().unwrap().to_owned();
        assert_eq!(date_headers(&r), (added.clone(), added), "record {k}");
    }
}

#[tokio::test]
async fn marking_definition_version_is_its_created() {
    let s = TestServer::start().await;
    let id = format!("marking-definition--{}", uuid_for(1));
    let marking = json!({
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": id,
        "created": "2026-01-05T00:00:00.000Z",
        "name": "internal",
        "definition_type": "statement",
        "definition": { "statement": "Internal use only" }
    });
    let st = s.post_objects("acme-soc", &[marking]).await;
    assert_eq!(st["success_count"], 1, "{st}");
    let r = s.get("acme-soc", &manifest_url("")).await;
    let list = posted(&r);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], id);
    assert_eq!(list[0]["version"], "2026-01-05T00:00:00.000Z");
}
