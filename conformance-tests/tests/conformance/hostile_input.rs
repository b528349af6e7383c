//! Hostile and careless input to Add Objects (TAXII 2.1 section 5.5): each probe that once
//! crashed, starved or bloated the server, or let a stored object mean two things, answered
//! over HTTP with a bounded status or a TAXII error, the server still serving afterwards.

use crate::objects_get::{ind, objects_url, T1};
use cairn_conformance::*;
use serde_json::{json, Value};

fn envelope(objects: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({ "objects": objects })).unwrap()
}

fn with_pattern(n: u32, pattern: &str) -> Value {
    let mut o = indicator(n, T1);
    o["pattern"] = json!(pattern);
    o
}

/// POSTs as acme-soc; asserts 202 and returns the status.
async fn post(s: &TestServer, body: Vec<u8>) -> Value {
    let r = s.post("acme-soc", &objects_url(""), body).await;
    assert_eq!(r.status, 202, "{}", &r.text()[..r.text().len().min(500)]);
    r.json()
}

fn message_of(st: &Value, id: &str) -> String {
    st["failures"]
        .as_array()
        .unwrap_or(&vec![])
        .iter()
        .find(|f| f["id"] == id)
        .and_then(|f| f["message"].as_str())
        .unwrap_or_else(|| panic!("{id} is not among the failures: {st}"))
        .to_owned()
}

/// The server still answers a plain read.
async fn still_serving(s: &TestServer) {
    let r = s
        .get("acme-soc", &TestServer::coll("acme", FINANCE, ""))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn long_pattern_chains_are_checked_without_exhausting_the_stack() {
    let s = TestServer::start().await;
    // Dense chains just under the length limit: as chained trees, these overflowed the stack.
    let or = vec!["aaa:b=1"; 9_000].join(" OR ");
    let and = vec!["aaa:b=1"; 8_300].join(" AND ");
    let obs = vec!["[aaa:b=1]"; 8_300].join("AND");
    let seq = vec!["[aaa:b=1]"; 4_700].join(" FOLLOWEDBY ");
    let objects = [
        with_pattern(1, &format!("[{or}]")),
        with_pattern(2, &format!("[{and}]")),
        with_pattern(3, &obs),
        with_pattern(5, &seq),
    ];
    let st = post(&s, envelope(&objects)).await;
    let text = st.to_string();
    assert_eq!(
        (st["success_count"].clone(), st["failure_count"].clone()),
        (json!(4), json!(0)),
        "{}",
        &text[..text.len().min(2000)]
    );
    // Past the limit, the pattern is refused for its length before it is parsed.
    let long = vec!["ipv4-addr:value = '198.51.100.1'"; 44_500].join(" OR ");
    let st = post(&s, envelope(&[with_pattern(4, &format!("[{long}]"))])).await;
    let m = message_of(&st, &ind(4));
    assert!(
        m.starts_with("/pattern: invalid STIX pattern at column 100001: expected the end of the pattern (a pattern has at most 100000 characters)"),
        "{m}"
    );
    still_serving(&s).await;
}

#[tokio::test]
async fn regular_expressions_are_checked_at_the_syntax_with_limits() {
    let s = TestServer::start().await;
    let objects = [
        // Compiled, this asked the regex engine for gigabytes.
        with_pattern(1, r"[file:name MATCHES '(?<a>x\\g<a>\\g<a>\\g<a>|y)']"),
        // Compiled, fifty of these took 18 s of CPU; its syntax is valid PCRE.
        with_pattern(2, "[file:name MATCHES '([a-z]{1000}){100}']"),
        with_pattern(3, "[file:name MATCHES '[z-a]']"),
        with_pattern(4, &format!("[file:name MATCHES '{}']", "a".repeat(4097))),
    ];
    let st = post(&s, envelope(&objects)).await;
    assert_eq!(st["success_count"], 1, "{st}");
    assert!(message_of(&st, &ind(1))
        .contains("a regular expression without subroutine calls or recursion"));
    assert!(message_of(&st, &ind(3)).contains("invalid character class range"));
    assert!(message_of(&st, &ind(4))
        .contains("a regular expression of at most 4096 characters (this one has 4097)"));
    still_serving(&s).await;
}

#[tokio::test]
async fn a_status_lists_the_first_thousand_refusals_and_counts_the_rest() {
    let s = TestServer::start().await;
    let body = format!("{{\"objects\":[{}]}}", vec!["0"; 5_000].join(","));
    let st = post(&s, body.into_bytes()).await;
    assert_eq!(st["total_count"], 5_000, "{}", st["total_count"]);
    assert_eq!(st["failure_count"], 5_000);
    let failures = st["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1_000);
    assert_eq!(
        failures[0],
        json!({"id": "objects[0]", "version": failures[0]["version"], "message": "must be a JSON object"})
    );
    assert_eq!(failures[999]["id"], "objects[999]");
    // The stored status is the same bounded one.
    let r = s
        .get(
            "acme-soc",
            &format!("/acme/status/{}/", st["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(r.json(), st);
}

#[tokio::test]
async fn an_envelope_of_more_than_100000_objects_is_refused_whole() {
    let s = TestServer::start().await;
    let body = format!("{{\"objects\":[{}]}}", vec!["0"; 100_001].join(","));
    let r = s.post("acme-soc", &objects_url(""), body).await;
    let e = r.assert_error(413);
    assert_eq!(e["title"], "Too many objects");
    assert_eq!(
        e["description"],
        "at most 100000 objects in one envelope or bundle: split it into several POSTs."
    );
    let body = format!("{{\"objects\":[{}]}}", vec!["0"; 100_000].join(","));
    assert_eq!(post(&s, body.into_bytes()).await["failure_count"], 100_000);
}

#[tokio::test]
async fn a_key_given_twice_is_refused_at_any_depth() {
    let s = TestServer::start().await;
    let red = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1";
    let clear = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487";
    let one = serde_json::to_string(&indicator(1, T1)).unwrap();
    // Two object_marking_refs, RED then CLEAR: readers disagree on which one holds.
    let twice = format!(
        "{},\"object_marking_refs\":[\"{red}\"],\"object_marking_refs\":[\"{clear}\"]}}",
        one.trim_end_matches('}')
    );
    let mut nested = indicator(2, T1);
    nested["external_references"] = json!([{"source_name": "a"}]);
    let nested = serde_json::to_string(&nested).unwrap().replace(
        "\"source_name\":\"a\"",
        "\"source_name\":\"a\",\"source_name\":\"b\"",
    );
    let body = format!("{{\"objects\":[{twice},{nested}]}}");
    let st = post(&s, body.into_bytes()).await;
    assert_eq!(st["success_count"], 0, "{st}");
    assert!(message_of(&st, &ind(1)).starts_with(
        "duplicate key 'object_marking_refs': a key may appear once in each JSON object"
    ));
    assert!(message_of(&st, &ind(2)).starts_with("duplicate key 'source_name'"));
    let r = s.get("acme-soc", &objects_url("")).await;
    assert!(
        listed_ids(&r)
            .iter()
            .all(|id| !id.starts_with("indicator--")),
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn an_observable_id_must_be_the_one_its_values_derive() {
    let s = TestServer::start().await;
    // The section 2.9 id of ipv4-addr 198.51.100.3, claimed for another address.
    let id = "ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4";
    let squat =
        json!({"type": "ipv4-addr", "spec_version": "2.1", "id": id, "value": "203.0.113.66"});
    let process = json!({"type": "process", "spec_version": "2.1", "id": "process--ff26c055-6336-5bc5-b98d-13d6226742dd", "pid": 4});
    let bundle = json!({"type": "bundle", "id": "bundle--6f3e8f40-2d8e-4b5c-9a4f-0e1c2d3b4a59", "objects": []});
    let st = post(&s, envelope(&[squat, process, bundle])).await;
    assert_eq!(st["success_count"], 0, "{st}");
    let m = message_of(&st, id);
    assert!(m.starts_with("/id: a UUIDv5 id must be derived from the ID-contributing properties (STIX 2.1 section 2.9): for these values it is ipv4-addr--"), "{m}");
    assert!(
        message_of(&st, "process--ff26c055-6336-5bc5-b98d-13d6226742dd")
            .contains("process has no ID-contributing properties, so its id must use a UUIDv4")
    );
    assert!(
        message_of(&st, "bundle--6f3e8f40-2d8e-4b5c-9a4f-0e1c2d3b4a59")
            .contains("a bundle is not a STIX object")
    );
    // The partner that posts the real address gets its id.
    let real =
        json!({"type": "ipv4-addr", "spec_version": "2.1", "id": id, "value": "198.51.100.3"});
    let st = post(&s, envelope(&[real])).await;
    assert_eq!(st["success_count"], 1, "{st}");
}

#[tokio::test]
async fn a_page_ends_early_at_its_byte_budget_and_next_continues_it() {
    let s = TestServer::start_with(&standard_setup(), "[taxii]\nmax_page_bytes = 2048\n").await;
    let padded = |n: u32, bytes: usize| {
        let mut o = indicator(n, T1);
        o["description"] = json!("x".repeat(bytes));
        o
    };
    // Three of about 930 bytes, one of about 5,300 (larger than the budget), two more small.
    let objects: Vec<Value> = (1..=6)
        .map(|n| padded(n, if n == 4 { 5_000 } else { 600 }))
        .collect();
    for o in &objects {
        s.post_objects("acme-soc", std::slice::from_ref(o)).await;
    }
    let first = TestServer::coll("initech", FINANCE, "objects/?match[type]=indicator");
    let pages = s.all_pages("initech-soc", &first).await;
    let sizes: Vec<usize> = pages.iter().map(|p| listed_ids(p).len()).collect();
    // A body is served while the page's bytes before it stay under 2,048: the third small one
    // starts at about 1,860; the large one opens a page and is served alone.
    assert_eq!(sizes, vec![3, 1, 2]);
    let ids: Vec<String> = pages.iter().flat_map(listed_ids).collect();
    let expected: Vec<String> = (1..=6).map(ind).collect();
    assert_eq!(ids, expected);
    assert!(pages[2].json().get("next").is_none());
}

#[tokio::test]
async fn an_object_with_a_hundred_thousand_bad_items_is_refused_in_linear_time() {
    let s = TestServer::start().await;
    // Each item is a schema error; they were compared with every earlier one (quadratic).
    let mut o = indicator(1, T1);
    o["labels"] = json!(vec![0; 100_000]);
    let st = post(&s, envelope(&[o])).await;
    let m = message_of(&st, &ind(1));
    assert!(
        m.ends_with("and 980 more problems"),
        "{}",
        &m[m.len().saturating_sub(300)..]
    );
    assert_eq!(
        m.matches("; ").count(),
        20,
        "20 problems spelled out, then the count"
    );
    still_serving(&s).await;
}
