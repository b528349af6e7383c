//! TAXII 2.1 section 5.4 (Get Objects), with the filtering of section 3.4 (added_after, limit,
//! match[id], match[type], match[version], match[spec_version]) and the pagination of section
//! 3.5 (`more`, `next`, X-TAXII-Date-Added-First/Last).
//!
//! The helpers at the end are shared with the manifest, object, versions and objects_post modules.

use cairn_conformance::*;
use serde_json::{json, Value};

#[tokio::test]
async fn nothing_matching_is_an_empty_object_without_date_headers() {
    // A fresh collection holds only the built-ins (no malware among them).
    let s = TestServer::start().await;
    let r = s.get("acme-soc", &objects_url("match[type]=malware")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.content_type().as_deref(), Some(TAXII));
    assert_eq!(r.text(), "{}");
    assert_no_date_headers(&r);
    // Nothing added after the last object of the collection.
    let r = s.get("acme-soc", &objects_url("")).await;
    assert_eq!(object_ids(&r), builtin_ids());
    let (_, last) = date_headers(&r);
    let r = s
        .get(
            "acme-soc",
            &objects_url(&format!("added_after={}", enc(&last))),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.content_type().as_deref(), Some(TAXII));
    assert_eq!(r.text(), "{}");
    assert_no_date_headers(&r);
}

/// docs/sharing.md section 2: every collection serves the five TLP 2.0 marking-definitions and
/// the TLP 2.0 extension-definition (the "built-ins") so that references resolve, byte for byte as
/// canonical, dated when the reader's membership began, and nobody may delete them.
#[tokio::test]
async fn builtin_tlp_definitions_are_served_in_every_collection() {
    let s = TestServer::start().await;
    let canonical: Vec<&str> = cairn::stix::tlp::canonical_objects().to_vec();
    let parsed: Vec<Value> = canonical
        .iter()
        .map(|t| serde_json::from_str(t).unwrap())
        .collect();
    let ids: Vec<String> = parsed
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, builtin_ids(), "BUILTIN_IDS are the canonical objects");
    // The served bytes are the canonical JSON text, in this order.
    let served = format!("[{}]", canonical.join(","));

    let readers = [
        ("acme-soc", "acme", FINANCE),
        ("acme-bot", "acme", FINANCE),
        ("globex-soc", "globex", FINANCE),
        ("initech-soc", "initech", FINANCE),
        ("globex-soc", "globex", CLUB),
    ];
    for (user, root, coll) in readers {
        let r = s.get(user, &TestServer::coll(root, coll, "objects/")).await;
        assert_eq!(object_ids(&r), builtin_ids(), "{user} {coll}");
        assert_eq!(r.json()["more"], false);
        assert!(
            r.text().contains(&served),
            "{user} {coll}: built-ins not served as the canonical text:\n{}",
            r.text()
        );
        let r = s
            .get(user, &TestServer::coll(root, coll, "manifest/"))
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let records = r.json()["objects"].as_array().unwrap().clone();
        let got: Vec<(Value, Value, Value)> = records
            .iter()
            .map(|m| {
                (
                    m["id"].clone(),
                    m["version"].clone(),
                    m["media_type"].clone(),
                )
            })
            .collect();
        let wanted: Vec<(Value, Value, Value)> = parsed
            .iter()
            .map(|o| {
                let version = o.get("modified").unwrap_or(&o["created"]).clone();
                (
                    o["id"].clone(),
                    version,
                    json!("application/stix+json;version=2.1"),
                )
            })
            .collect();
        assert_eq!(got, wanted, "{user} {coll}");
        let added: Vec<&str> = records
            .iter()
            .map(|m| m["date_added"].as_str().unwrap())
            .collect();
        for a in &added {
            assert_micros(a);
        }
        for pair in added.windows(2) {
            assert!(
                pair[0] < pair[1],
                "date_added must strictly increase: {added:?}"
            );
        }
        assert_eq!(date_headers(&r), (added[0].to_owned(), added[5].to_owned()));
        // Each one by id, with its versions.
        for (k, id) in BUILTIN_IDS.iter().enumerate() {
            let path = TestServer::coll(root, coll, &format!("objects/{id}/"));
            let r = s.get(user, &path).await;
            assert_eq!(object_ids(&r), vec![id.to_string()], "{user} {id}");
            assert!(
                r.text().contains(&format!("[{}]", canonical[k])),
                "{user} {id}: {}",
                r.text()
            );
            assert_eq!(date_headers(&r), (added[k].to_owned(), added[k].to_owned()));
            let r = s
                .get(
                    user,
                    &TestServer::coll(root, coll, &format!("objects/{id}/versions/")),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text());
            assert_eq!(r.json(), json!({"more": false, "versions": [wanted[k].1]}));
        }
    }

    // Not even the moderator may delete them, and a refused delete removes nothing.
    let before = s.get("acme-soc", &objects_url("")).await;
    for id in BUILTIN_IDS {
        for query in ["", "match[version]=all"] {
            let r = s
                .delete(
                    "acme-soc",
                    &TestServer::coll("acme", FINANCE, &format!("objects/{id}/?{query}")),
                )
                .await;
            r.assert_error(403);
        }
        let r = s
            .get(
                "acme-soc",
                &TestServer::coll("acme", FINANCE, &format!("objects/{id}/")),
            )
            .await;
        assert_eq!(object_ids(&r), vec![id.to_string()]);
    }
    let after = s.get("acme-soc", &objects_url("")).await;
    assert_eq!(after.text(), before.text());
    assert_eq!(date_headers(&after), date_headers(&before));

    // They were there before anything posted, so they stay first.
    s.post_objects("acme-soc", &[indicator(1, T1)]).await;
    let r = s
        .get(
            "initech-soc",
            &TestServer::coll("initech", FINANCE, "objects/"),
        )
        .await;
    let mut wanted = builtin_ids();
    wanted.push(ind(1));
    assert_eq!(object_ids(&r), wanted);
    assert!(
        r.text().contains(&served[..served.len() - 1]),
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn objects_are_sorted_by_date_added_in_posted_order() {
    let s = TestServer::start().await;
    let first: Vec<Value> = [5, 3, 9, 1].iter().map(|n| indicator(*n, T1)).collect();
    s.post_objects("acme-soc", &first).await;
    s.post_objects("globex-soc", &[malware(2), indicator(4, T1)])
        .await;
    // Every member sees the same order, here the reader.
    let r = s
        .get(
            "initech-soc",
            &TestServer::coll("initech", FINANCE, "objects/"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        posted_ids(&r),
        vec![ind(5), ind(3), ind(9), ind(1), mal(2), ind(4)],
        "objects must be in date_added order, which is posted order"
    );
    // date_added strictly increases, one distinct microsecond per object.
    let records = manifest_all(&s, "acme-soc").await;
    let added: Vec<String> = records
        .iter()
        .map(|m| m["date_added"].as_str().unwrap().to_owned())
        .collect();
    for pair in added.windows(2) {
        assert!(
            pair[0] < pair[1],
            "date_added must strictly increase: {added:?}"
        );
    }
}

#[tokio::test]
async fn date_added_headers_are_the_first_and_last_of_the_page() {
    let s = TestServer::start().await;
    let objs: Vec<Value> = (1..=5).map(|n| indicator(n, T1)).collect();
    s.post_objects("acme-soc", &objs).await;
    let records = without_builtins(&manifest_all(&s, "acme-soc").await);
    let added: Vec<&str> = records
        .iter()
        .map(|m| m["date_added"].as_str().unwrap())
        .collect();
    assert_eq!(added.len(), 5);

    let r = s
        .get("acme-soc", &objects_url("match[type]=indicator&limit=2"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let (first, last) = date_headers(&r);
    assert_micros(&first);
    assert_micros(&last);
    assert_eq!((first.as_str(), last.as_str()), (added[0], added[1]));

    let next = r.json()["next"].as_str().unwrap().to_owned();
    let r = s
        .get(
            "acme-soc",
            &objects_url(&format!(
                "match[type]=indicator&limit=2&next={}",
                enc(&next)
            )),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(date_headers(&r), (added[2].to_owned(), added[3].to_owned()));

    // A page of one object: first and last are the same.
    let r = s
        .get("acme-soc", &objects_url(&format!("match[id]={}", ind(5))))
        .await;
    assert_eq!(date_headers(&r), (added[4].to_owned(), added[4].to_owned()));
}

#[tokio::test]
async fn added_after_is_exclusive() {
    let s = TestServer::start().await;
    let objs: Vec<Value> = (1..=4).map(|n| indicator(n, T1)).collect();
    s.post_objects("acme-soc", &objs).await;
    let records = without_builtins(&manifest_all(&s, "acme-soc").await);
    assert_eq!(records.len(), 4);
    let second = records[1]["date_added"].as_str().unwrap().to_owned();
    assert_eq!(records[1]["id"], ind(2));

    let r = s
        .get(
            "acme-soc",
            &objects_url(&format!("added_after={}", enc(&second))),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        object_ids(&r),
        vec![ind(3), ind(4)],
        "the object added exactly at added_after is excluded"
    );
    assert_eq!(
        date_headers(&r).0,
        records[2]["date_added"].as_str().unwrap()
    );

    let last = records[3]["date_added"].as_str().unwrap();
    let r = s
        .get(
            "acme-soc",
            &objects_url(&format!("added_after={}", enc(last))),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "{}");
    assert_no_date_headers(&r);
}

const SMALL_PAGES: &str = "[taxii]\ndefault_page_size = 10\nmax_page_size = 20";

#[tokio::test]
async fn limit_defaults_to_the_configured_page_size() {
    let s = TestServer::start_with(&standard_setup(), SMALL_PAGES).await;
    let objs: Vec<Value> = (1..=105).map(|n| indicator(n, T1)).collect();
    s.post_objects("acme-soc", &objs).await;
    // Unfiltered, the first page of ten is the six built-ins and the first four posted.
    let r = s.get("acme-soc", &objects_url("")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut first_page = builtin_ids();
    first_page.extend((1..=4).map(ind));
    assert_eq!(object_ids(&r), first_page);
    assert_eq!(r.json()["more"], true);

    let r = s
        .get("acme-soc", &objects_url("match[type]=indicator"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(object_ids(&r), (1..=10).map(ind).collect::<Vec<_>>());
    assert_eq!(r.json()["more"], true);

    let pages = s
        .all_pages("acme-soc", &objects_url("match[type]=indicator"))
        .await;
    let sizes: Vec<usize> = pages.iter().map(|p| object_ids(p).len()).collect();
    assert_eq!(sizes, vec![10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 5]);
    let all: Vec<String> = pages.iter().flat_map(object_ids).collect();
    assert_eq!(all, (1..=105).map(ind).collect::<Vec<_>>());
}

#[tokio::test]
async fn limit_above_the_maximum_is_capped_not_refused() {
    let s = TestServer::start_with(&standard_setup(), SMALL_PAGES).await;
    let objs: Vec<Value> = (1..=25).map(|n| indicator(n, T1)).collect();
    s.post_objects("acme-soc", &objs).await;
    let r = s
        .get("acme-soc", &objects_url("match[type]=indicator&limit=1000"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(object_ids(&r), (1..=20).map(ind).collect::<Vec<_>>());
    assert_eq!(r.json()["more"], true);
    let next = r.json()["next"].as_str().unwrap().to_owned();
    let r = s
        .get(
            "acme-soc",
            &objects_url(&format!(
                "match[type]=indicator&limit=1000&next={}",
                enc(&next)
            )),
        )
        .await;
    assert_eq!(object_ids(&r), (21..=25).map(ind).collect::<Vec<_>>());
    assert_eq!(r.json()["more"], false);
}

#[tokio::test]
async fn limit_too_large_for_any_integer_type_is_capped_too() {
    let s = TestServer::start_with(&standard_setup(), SMALL_PAGES).await;
    let objs: Vec<Value> = (1..=25).map(|n| indicator(n, T1)).collect();
    s.post_objects("acme-soc", &objs).await;
    for huge in ["18446744073709551616", "99999999999999999999999999999999"] {
        let r = s
            .get("acme-soc", &objects_url(&format!("limit={huge}")))
            .await;
        assert_eq!(r.status, 200, "limit={huge}: {}", r.text());
        assert_eq!(object_ids(&r).len(), 20);
    }
}

#[tokio::test]
async fn limit_zero_or_not_an_integer_is_refused_naming_limit() {
    let s = TestServer::start().await;
    s.post_objects("acme-soc", &[indicator(1, T1)]).await;
    for bad in ["0", "abc", "-1", "1.5", ""] {
        let r = s
            .get("acme-soc", &objects_url(&format!("limit={bad}")))
            .await;
        let e = r.assert_error(400);
        assert!(description(&e).contains("limit"), "limit={bad}: {e}");
    }
}

#[tokio::test]
async fn more_is_exact_on_an_exactly_full_page() {
    let s = TestServer::start().await;
    let objs: Vec<Value> = (1..=3).map(|n| indicator(n, T1)).collect();
    s.post_objects("acme-soc", &objs).await;

    let r = s
        .get("acme-soc", &objects_url("match[type]=indicator&limit=3"))
        .await;
    let j = r.json();
    assert_eq!(j["more"], false, "{j}");
    assert!(j.get("next").is_none(), "no next on the last page: {j}");
    assert_eq!(object_ids(&r), (1..=3).map(ind).collect::<Vec<_>>());

    let r = s
        .get("acme-soc", &objects_url("match[type]=indicator&limit=2"))
        .await;
    let j = r.json();
    assert_eq!(j["more"], true, "{j}");
    assert!(j["next"].as_str().is_some_and(|n| !n.is_empty()), "{j}");
    let next = j["next"].as_str().unwrap();

    // The second page holds the one remaining object and is the last.
    let r = s
        .get(
            "acme-soc",
            &objects_url(&format!("match[type]=indicator&limit=2&next={}", enc(next))),
        )
        .await;
    let j = r.json();
    assert_eq!(object_ids(&r), vec![ind(3)]);
    assert_eq!(j["more"], false);
    assert!(j.get("next").is_none(), "{j}");
}

#[tokio::test]
async fn paging_with_next_returns_every_object_once_in_order() {
    let s = TestServer::start().await;
    let objs: Vec<Value> = (1..=7).map(|n| indicator(n, T1)).collect();
    s.post_objects("acme-soc", &objs).await;
    let pages = s
        .all_pages("acme-soc", &objects_url("match[type]=indicator&limit=3"))
        .await;
    let sizes: Vec<usize> = pages.iter().map(|p| object_ids(p).len()).collect();
    assert_eq!(sizes, vec![3, 3, 1]);
    let mores: Vec<Value> = pages.iter().map(|p| p.json()["more"].clone()).collect();
    assert_eq!(mores, vec![json!(true), json!(true), json!(false)]);
    let all: Vec<String> = pages.iter().flat_map(object_ids).collect();
    assert_eq!(all, (1..=7).map(ind).collect::<Vec<_>>());
}

/// The first page of `query` (which must leave more to come); returns the next token.
async fn first_token(s: &TestServer, user: &str, query: &str) -> String {
    let r = s.get(user, &objects_url(query)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["next"].as_str().expect("a next token").to_owned()
}

async fn five(s: &TestServer) {
    let objs: Vec<Value> = (1..=5).map(|n| indicator(n, T1)).collect();
    s.post_objects("acme-soc", &objs).await;
}

#[tokio::test]
async fn tampered_next_token_is_refused() {
    let s = TestServer::start().await;
    five(&s).await;
    let token = first_token(&s, "acme-soc", "match[type]=indicator&limit=2").await;
    // The genuine token works.
    let r = s
        .get(
            "acme-soc",
            &objects_url(&format!(
                "match[type]=indicator&limit=2&next={}",
                enc(&token)
            )),
        )
        .await;
    assert_eq!(object_ids(&r), vec![ind(3), ind(4)]);
    for i in [0, token.len() / 2, token.len() - 1] {
        let mut bytes = token.clone().into_bytes();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        let r = s
            .get(
                "acme-soc",
                &objects_url(&format!(
                    "match[type]=indicator&limit=2&next={}",
                    enc(&tampered)
                )),
            )
            .await;
        let e = r.assert_error(400);
        assert!(description(&e).contains("next"), "{e}");
    }
    let r = s
        .get(
            "acme-soc",
            &objects_url("match[type]=indicator&limit=2&next=garbage"),
        )
        .await;
    r.assert_error(400);
}

#[tokio::test]
async fn next_token_of_another_user_is_refused() {
    let s = TestServer::start().await;
    five(&s).await;
    let token = first_token(&s, "acme-soc", "limit=2").await;
    // Same partner, same collection, same filters: still another user.
    let r = s
        .get(
            "acme-bot",
            &objects_url(&format!("limit=2&next={}", enc(&token))),
        )
        .await;
    let e = r.assert_error(400);
    assert!(description(&e).contains("next"), "{e}");
    let r = s
        .get(
            "acme-soc",
            &objects_url(&format!("limit=2&next={}", enc(&token))),
        )
        .await;
    assert_eq!(r.status, 200);
}

/// A token carries its listing's filters: alone (as Elastic and OpenCTI send it) it continues
/// that listing; with the same filters too; a filter that contradicts it is refused by name.
#[tokio::test]
async fn next_token_alone_continues_its_listing_and_contradictions_are_refused() {
    let s = TestServer::start().await;
    five(&s).await;
    // Something the listing's filter leaves out, after everything it keeps.
    s.post_objects("acme-soc", &[malware(9)]).await;
    let get = |query: String| {
        let s = &s;
        async move { s.get("acme-soc", &objects_url(&query)).await }
    };
    let token = first_token(&s, "acme-soc", "limit=2&match[type]=indicator").await;
    let alone = get(format!("limit=2&next={}", enc(&token))).await;
    assert_eq!(object_ids(&alone), vec![ind(3), ind(4)]);
    let repeated = get(format!(
        "limit=2&match[type]=indicator&next={}",
        enc(&token)
    ))
    .await;
    assert_eq!(object_ids(&repeated), vec![ind(3), ind(4)]);
    // The token of the second page still carries the filter.
    let next = alone.json()["next"].as_str().unwrap().to_owned();
    let third = get(format!("next={}", enc(&next))).await;
    assert_eq!(object_ids(&third), vec![ind(5)]);
    assert_eq!(third.json()["more"], false);
    for (query, param) in [
        ("match[type]=malware", "match[type]"),
        ("match[version]=all", "match[version]"),
        ("added_after=2020-01-01T00:00:00Z", "added_after"),
    ] {
        let r = get(format!("limit=2&{query}&next={}", enc(&token))).await;
        let e = r.assert_error(400);
        assert!(description(&e).starts_with(param), "{e}");
    }
    // A listing without a filter is contradicted by adding one; repeating a default is not.
    let token = first_token(&s, "acme-soc", "limit=2").await;
    let r = get(format!(
        "limit=2&match[type]=indicator&next={}",
        enc(&token)
    ))
    .await;
    r.assert_error(400);
    let r = get(format!("limit=2&match[version]=last&next={}", enc(&token))).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn next_token_of_the_objects_endpoint_is_refused_by_the_manifest() {
    let s = TestServer::start().await;
    five(&s).await;
    let token = first_token(&s, "acme-soc", "limit=2").await;
    let r = s
        .get(
            "acme-soc",
            &manifest_url(&format!("limit=2&next={}", enc(&token))),
        )
        .await;
    r.assert_error(400);
}

#[tokio::test]
async fn next_token_survives_a_restart() {
    let s = TestServer::start().await;
    five(&s).await;
    let token = first_token(&s, "acme-soc", "match[type]=indicator&limit=2").await;
    let clock = s.clock.clone();
    let (config, dir) = s.into_dir();
    let s = TestServer::launch(config, dir, clock).await;
    let r = s
        .get(
            "acme-soc",
            &objects_url(&format!(
                "match[type]=indicator&limit=2&next={}",
                enc(&token)
            )),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(object_ids(&r), vec![ind(3), ind(4)]);
    assert_eq!(r.json()["more"], true);
}

#[tokio::test]
async fn limit_may_change_between_pages() {
    let s = TestServer::start().await;
    let objs: Vec<Value> = (1..=7).map(|n| indicator(n, T1)).collect();
    s.post_objects("acme-soc", &objs).await;
    let token = first_token(&s, "acme-soc", "match[type]=indicator&limit=2").await;
    let r = s
        .get(
            "acme-soc",
            &objects_url(&format!(
                "match[type]=indicator&limit=4&next={}",
                enc(&token)
            )),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(object_ids(&r), vec![ind(3), ind(4), ind(5), ind(6)]);
    assert_eq!(r.json()["more"], true);
    let token = r.json()["next"].as_str().unwrap().to_owned();
    // And without limit at all (the default, 100).
    let r = s
        .get(
            "acme-soc",
            &objects_url(&format!("match[type]=indicator&next={}", enc(&token))),
        )
        .await;
    assert_eq!(object_ids(&r), vec![ind(7)]);
    assert_eq!(r.json()["more"], false);
}

#[tokio::test]
async fn paging_survives_deletes_and_reaches_later_additions() {
    let s = TestServer::start().await;
    let objs: Vec<Value> = (1..=5).map(|n| indicator(n, T1)).collect();
    s.post_objects("acme-soc", &objs).await;
    let token = first_token(&s, "acme-soc", "match[type]=indicator&limit=2").await;
    // The last object of the first page and the first of the second go away; one is added.
    for n in [2, 3] {
        let r = s
            .delete(
                "acme-soc",
                &TestServer::coll("acme", FINANCE, &format!("objects/{}/", ind(n))),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    s.post_objects("acme-soc", &[indicator(6, T1)]).await;
    let r = s
        .get(
            "acme-soc",
            &objects_url(&format!(
                "match[type]=indicator&limit=2&next={}",
                enc(&token)
            )),
        )
        .await;
    assert_eq!(object_ids(&r), vec![ind(4), ind(5)]);
    assert_eq!(r.json()["more"], true);
    let token = r.json()["next"].as_str().unwrap().to_owned();
    let r = s
        .get(
            "acme-soc",
            &objects_url(&format!(
                "match[type]=indicator&limit=2&next={}",
                enc(&token)
            )),
        )
        .await;
    assert_eq!(object_ids(&r), vec![ind(6)]);
    assert_eq!(r.json()["more"], false);
}

#[tokio::test]
async fn match_id_selects_one_or_a_list() {
    let s = TestServer::start().await;
    let objs: Vec<Value> = (1..=4).map(|n| indicator(n, T1)).collect();
    s.post_objects("acme-soc", &objs).await;
    let r = s
        .get("acme-soc", &objects_url(&format!("match[id]={}", ind(2))))
        .await;
    assert_eq!(object_ids(&r), vec![ind(2)]);
    // A list comes back in date_added order, not in the order asked.
    let r = s
        .get(
            "acme-soc",
            &objects_url(&format!("match[id]={},{}", ind(4), ind(1))),
        )
        .await;
    assert_eq!(object_ids(&r), vec![ind(1), ind(4)]);
    // An id with no object: empty.
    let r = s
        .get("acme-soc", &objects_url(&format!("match[id]={}", ind(99))))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "{}");
}

#[tokio::test]
async fn match_type_selects_one_or_a_list() {
    let s = TestServer::start().await;
    s.post_objects(
        "acme-soc",
        &[indicator(1, T1), malware(2), ipv4(3), indicator(4, T1)],
    )
    .await;
    let r = s.get("acme-soc", &objects_url("match[type]=malware")).await;
    assert_eq!(object_ids(&r), vec![mal(2)]);
    let r = s
        .get("acme-soc", &objects_url("match[type]=indicator"))
        .await;
    assert_eq!(object_ids(&r), vec![ind(1), ind(4)]);
    let r = s
        .get("acme-soc", &objects_url("match[type]=ipv4-addr,malware"))
        .await;
    assert_eq!(
        object_ids(&r),
        vec![mal(2), format!("ipv4-addr--{}", uuid_for(3))]
    );
    let r = s
        .get("acme-soc", &objects_url("match[type]=campaign"))
        .await;
    assert_eq!(r.text(), "{}");
}

/// Posts indicator 1 in three versions (T2 first, then T1, then T3, so that date_added order
/// and version order differ) and malware 2; returns nothing.
async fn three_versions(s: &TestServer) {
    s.post_objects("acme-soc", &[indicator(1, T2)]).await;
    s.post_objects("acme-soc", &[indicator(1, T1), malware(2)])
        .await;
    s.post_objects("acme-soc", &[indicator(1, T3)]).await;
}

/// (id, modified) of each posted object in a response (the built-ins left out), in order.
fn versions_of(r: &Resp) -> Vec<(String, String)> {
    posted(r)
        .iter()
        .map(|o| {
            (
                o["id"].as_str().unwrap().to_owned(),
                o["modified"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Versions stored together: several of one object in one envelope, and envelopes posted at
/// once (SQLite may commit them in one transaction). Each object still has exactly one latest
/// version, and every version is kept.
#[tokio::test]
async fn versions_stored_together_leave_one_latest_version_each() {
    let s = TestServer::start().await;
    s.post_objects(
        "acme-soc",
        &[indicator(5, T1), indicator(5, T3), indicator(5, T2)],
    )
    .await;
    let (a, b, c, d) = (
        [indicator(6, T1)],
        [indicator(6, T2)],
        [malware(7)],
        [indicator(6, T3), indicator(5, T2)],
    );
    tokio::join!(
        s.post_objects("acme-soc", &a),
        s.post_objects("acme-soc", &b),
        s.post_objects("acme-soc", &c),
        s.post_objects("acme-soc", &d),
    );
    let v = |id: String, t: &str| (id, t.to_owned());
    let sorted = |mut v: Vec<(String, String)>| {
        v.sort();
        v
    };
    let r = s.get("acme-soc", &objects_url("")).await;
    assert_eq!(
        sorted(versions_of(&r)),
        sorted(vec![v(ind(5), T3), v(ind(6), T3), v(mal(7), T1)])
    );
    let r = s.get("acme-soc", &objects_url("match[version]=all")).await;
    assert_eq!(
        sorted(versions_of(&r)),
        sorted(vec![
            v(ind(5), T1),
            v(ind(5), T2),
            v(ind(5), T3),
            v(ind(6), T1),
            v(ind(6), T2),
            v(ind(6), T3),
            v(mal(7), T1),
        ])
    );
}

#[tokio::test]
async fn match_version_first_last_all_exact_and_unions() {
    let s = TestServer::start().await;
    three_versions(&s).await;
    let v = |id: String, t: &str| (id, t.to_owned());
    let m = || mal(2);

    // Default: the latest version of each object.
    let r = s.get("acme-soc", &objects_url("")).await;
    assert_eq!(versions_of(&r), vec![v(m(), T1), v(ind(1), T3)]);
    let r = s.get("acme-soc", &objects_url("match[version]=last")).await;
    assert_eq!(versions_of(&r), vec![v(m(), T1), v(ind(1), T3)]);
    // first is the earliest modified, though it was not the first added.
    let r = s
        .get("acme-soc", &objects_url("match[version]=first"))
        .await;
    assert_eq!(versions_of(&r), vec![v(ind(1), T1), v(m(), T1)]);
    // all: every version in date_added order.
    let r = s.get("acme-soc", &objects_url("match[version]=all")).await;
    assert_eq!(
        versions_of(&r),
        vec![v(ind(1), T2), v(ind(1), T1), v(m(), T1), v(ind(1), T3)]
    );
    // An exact version.
    let r = s
        .get(
            "acme-soc",
            &objects_url(&format!("match[version]={}", enc(T2))),
        )
        .await;
    assert_eq!(versions_of(&r), vec![v(ind(1), T2)]);
    // The same instant written differently still matches.
    let r = s
        .get(
            "acme-soc",
            &objects_url(&format!("match[version]={}", enc("2026-02-01T00:00:00Z"))),
        )
        .await;
    assert_eq!(versions_of(&r), vec![v(ind(1), T2)]);
    // Unions.
    let r = s
        .get("acme-soc", &objects_url("match[version]=first,last"))
        .await;
    assert_eq!(
        versions_of(&r),
        vec![v(ind(1), T1), v(m(), T1), v(ind(1), T3)]
    );
    let r = s
        .get(
            "acme-soc",
            &objects_url(&format!("match[version]=first,{}", enc(T2))),
        )
        .await;
    assert_eq!(
        versions_of(&r),
        vec![v(ind(1), T2), v(ind(1), T1), v(m(), T1)]
    );
    // A timestamp no object has: empty.
    let r = s
        .get(
            "acme-soc",
            &objects_url(&format!("match[version]={}", enc("2030-01-01T00:00:00Z"))),
        )
        .await;
    assert_eq!(r.text(), "{}");
}

#[tokio::test]
async fn match_spec_version_selects_by_spec_version() {
    let s = TestServer::start().await;
    s.post_objects("acme-soc", &[indicator(1, T1), ipv4(2)])
        .await;
    let r = s
        .get("acme-soc", &objects_url("match[spec_version]=2.1"))
        .await;
    // The built-ins are STIX 2.1 objects too.
    let mut wanted = builtin_ids();
    wanted.extend([ind(1), format!("ipv4-addr--{}", uuid_for(2))]);
    assert_eq!(object_ids(&r), wanted);
    let r = s
        .get("acme-soc", &objects_url("match[spec_version]=2.0"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "{}");
    assert_no_date_headers(&r);
    let r = s
        .get("acme-soc", &objects_url("match[spec_version]=2.0,2.1"))
        .await;
    assert_eq!(object_ids(&r), wanted);
}

#[tokio::test]
async fn malformed_filters_are_refused_naming_the_parameter() {
    let s = TestServer::start().await;
    s.post_objects("acme-soc", &[indicator(1, T1)]).await;
    for (param, value) in [
        ("match[version]", "newest"),
        // `all` alone, each keyword once (§3.4.1).
        ("match[version]", "last,all"),
        ("match[version]", "first,first"),
        ("match[id]", "notanid"),
        ("match[id]", "indicator--not-a-uuid"),
        ("match[type]", "Bad"),
        ("match[spec_version]", "two"),
        ("added_after", "yesterday"),
    ] {
        let r = s
            .get(
                "acme-soc",
                &objects_url(&format!("{}={}", enc(param), enc(value))),
            )
            .await;
        let e = r.assert_error(400);
        assert!(description(&e).contains(param), "{param}={value}: {e}");
    }
}

#[tokio::test]
async fn stored_bytes_come_back_byte_identical() {
    let s = TestServer::start().await;
    // Unusual key order, whitespace, escapes and number forms inside the envelope.
    let raw = format!(
        "{{ \"name\" :\t\"caf\\u00e9 – é \\\"quoted\\\"\",\n   \"pattern_type\":\"stix\" ,\"id\":\"{}\",\
         \"type\" : \"indicator\",\"x_score\": 1.50e1 , \"spec_version\":\"2.1\",\
         \"valid_from\":\"2026-01-01T00:00:00Z\",\"pattern\":\"[ipv4-addr:value = '198.51.100.7']\",\
         \"created\":\"2026-01-01T00:00:00.000Z\",   \"modified\":\"2026-01-01T00:00:00.000Z\"  }}",
        ind(1)
    );
    let body = format!("{{\n  \"objects\" : [\n    {raw}\n  ]\n}}\n");
    let r = s.post("acme-soc", &objects_url(""), body).await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json()["success_count"], 1);

    let r = s.get("acme-soc", &objects_url("")).await;
    assert!(
        r.text().contains(&raw),
        "stored bytes not served verbatim:\n{}\nwanted:\n{raw}",
        r.text()
    );
    let r = s
        .get(
            "acme-soc",
            &TestServer::coll("acme", FINANCE, &format!("objects/{}/", ind(1))),
        )
        .await;
    assert!(r.text().contains(&raw), "{}", r.text());
    assert_eq!(
        r.json()["objects"][0],
        serde_json::from_str::<Value>(&raw).unwrap()
    );
}

#[tokio::test]
async fn a_thousand_object_envelope_comes_back_page_by_page_byte_identical() {
    let s = TestServer::start().await;
    let raws: Vec<String> = (1..=1000u32)
        .map(|n| {
            let spaces = " ".repeat((n % 4) as usize);
            format!(
                "{{\"type\":\"indicator\",{spaces}\"spec_version\":\"2.1\",\"id\":\"{}\",\
                 \"created\":\"2026-01-01T00:00:00.000Z\",\"modified\":\"2026-01-01T00:00:00.000Z\",\
                 \"name\":\"n{n}\",{spaces}\"pattern\":\"[ipv4-addr:value = '198.51.100.1']\",\
                 \"pattern_type\":\"stix\",\"valid_from\":\"2026-01-01T00:00:00Z\"}}",
                ind(n)
            )
        })
        .collect();
    let body = format!("{{\"objects\":[{}]}}", raws.join(",\n"));
    let r = s.post("acme-soc", &objects_url(""), body).await;
    assert_eq!(r.status, 202, "{}", r.text());
    let st = r.json();
    assert_eq!(
        (st["success_count"].clone(), st["failure_count"].clone()),
        (json!(1000), json!(0))
    );

    let pages = s
        .all_pages("acme-soc", &objects_url("match[type]=indicator&limit=100"))
        .await;
    assert_eq!(pages.len(), 10);
    for (k, page) in pages.iter().enumerate() {
        let expected = format!("[{}]", raws[k * 100..(k + 1) * 100].join(","));
        assert!(
            page.text().contains(&expected),
            "page {k} is not the stored bytes in order"
        );
        assert_eq!(page.json()["more"], k < 9);
    }
    let all: Vec<String> = pages.iter().flat_map(object_ids).collect();
    assert_eq!(all, (1..=1000).map(ind).collect::<Vec<_>>());
}

// ---- helpers shared by the object-endpoint modules ----

pub(crate) const T1: &str = "2026-01-01T00:00:00.000Z";
pub(crate) const T2: &str = "2026-02-01T00:00:00.000Z";
pub(crate) const T3: &str = "2026-03-01T00:00:00.000Z";

/// `/acme/collections/FINANCE/objects/?{query}`.
pub(crate) fn objects_url(query: &str) -> String {
    TestServer::coll("acme", FINANCE, &format!("objects/?{query}"))
}

/// `/acme/collections/FINANCE/manifest/?{query}`.
pub(crate) fn manifest_url(query: &str) -> String {
    TestServer::coll("acme", FINANCE, &format!("manifest/?{query}"))
}

/// The id of `indicator(n, ..)`.
pub(crate) fn ind(n: u32) -> String {
    format!("indicator--{}", uuid_for(n))
}

/// The id of `malware(n)`.
pub(crate) fn mal(n: u32) -> String {
    format!("malware--{}", uuid_for(n))
}

/// An ipv4-addr SCO: no created, modified or spec_version.
pub(crate) fn ipv4(n: u32) -> Value {
    json!({"type": "ipv4-addr", "id": format!("ipv4-addr--{}", uuid_for(n)), "value": format!("198.51.100.{n}")})
}

/// The ids of the objects of an objects page (empty for `{}`).
pub(crate) fn object_ids(r: &Resp) -> Vec<String> {
    assert_eq!(r.status, 200, "{}", r.text());
    match r.json().get("objects") {
        None => vec![],
        Some(list) => list
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect(),
    }
}

pub(crate) fn description(e: &Value) -> &str {
    e["description"].as_str().unwrap()
}

/// X-TAXII-Date-Added-First and -Last, which must both be present.
pub(crate) fn date_headers(r: &Resp) -> (String, String) {
    let first = r
        .header("x-taxii-date-added-first")
        .expect("X-TAXII-Date-Added-First");
    let last = r
        .header("x-taxii-date-added-last")
        .expect("X-TAXII-Date-Added-Last");
    (first, last)
}

pub(crate) fn assert_no_date_headers(r: &Resp) {
    assert_eq!(r.header("x-taxii-date-added-first"), None);
    assert_eq!(r.header("x-taxii-date-added-last"), None);
}

/// Asserts `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`.
pub(crate) fn assert_micros(ts: &str) {
    let shape = "0000-00-00T00:00:00.000000Z";
    let ok = ts.len() == shape.len()
        && ts.bytes().zip(shape.bytes()).all(|(c, p)| {
            if p == b'0' {
                c.is_ascii_digit()
            } else {
                c == p
            }
        });
    assert!(ok, "'{ts}' is not a timestamp with microsecond precision");
}

/// Every manifest record of finance-isac (all versions) as `user` sees it, in order.
pub(crate) async fn manifest_all(s: &TestServer, user: &str) -> Vec<Value> {
    let root = user_root(user);
    let path = TestServer::coll(root, FINANCE, "manifest/?match[version]=all&limit=1000");
    s.all_pages(user, &path)
        .await
        .iter()
        .flat_map(|p| {
            p.json()
                .get("objects")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}
