//! The request sequences SIEMs and TIPs send, replayed across several polls while objects
//! arrive in between: every object exactly once, no 4xx. Elastic's `ti_custom` sends
//! `added_after` and `limit` first, then only `next` and `limit`; OpenCTI's TAXII connector keeps
//! a `next` from one run to the next without the original `added_after`.

use cairn_conformance::*;
use serde_json::Value;

const T1: &str = "2026-01-01T00:00:00.000Z";

fn objects(query: &str) -> String {
    TestServer::coll("initech", FINANCE, &format!("objects/?{query}"))
}

/// One page as a SIEM reads it: the ids, `next` when `more`, and the last date_added header.
struct Page {
    ids: Vec<String>,
    next: Option<String>,
    last: Option<String>,
}

async fn page(s: &TestServer, query: &str) -> Page {
    let r = s.get("initech-soc", &objects(query)).await;
    assert_eq!(r.status, 200, "{query}: {}", r.text());
    let body: Value = r.json();
    let ids = body["objects"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .filter(|id| id.starts_with("indicator--"))
        .collect();
    let next = (body["more"] == true).then(|| body["next"].as_str().unwrap().to_owned());
    Page {
        ids,
        next,
        last: r.header("x-taxii-date-added-last"),
    }
}

async fn post(s: &TestServer, range: std::ops::Range<u32>) -> Vec<String> {
    let objs: Vec<Value> = range.clone().map(|n| indicator(n, T1)).collect();
    s.post_objects("acme-soc", &objs).await;
    range
        .map(|n| format!("indicator--{}", uuid_for(n)))
        .collect()
}

fn assert_each_once(got: &[String], posted: &[String]) {
    let mut sorted = got.to_vec();
    sorted.sort();
    let mut want = posted.to_vec();
    want.sort();
    assert_eq!(sorted, want, "every object exactly once");
}

/// Elastic: each poll starts from the last `X-TAXII-Date-Added-Last` it saw, then follows
/// `next` alone; objects arrive while it pages and between polls.
#[tokio::test]
async fn elastic_pages_with_next_alone_across_polls() {
    let s = TestServer::start().await;
    let mut posted = post(&s, 1..8).await;
    let (mut got, mut since) = (vec![], "2000-01-01T00:00:00Z".to_owned());
    for poll in 0..3 {
        let mut p = page(&s, &format!("added_after={}&limit=3", enc(&since))).await;
        loop {
            got.extend(p.ids.clone());
            if let Some(last) = &p.last {
                since = last.clone();
            }
            // Objects arrive while the SIEM is between pages.
            if got.len() == 3 && poll == 0 {
                posted.extend(post(&s, 100..104).await);
            }
            let Some(next) = p.next.take() else { break };
            p = page(&s, &format!("next={}&limit=3", enc(&next))).await;
        }
        posted.extend(post(&s, 200 + poll * 10..205 + poll * 10).await);
    }
    let mut last = page(&s, &format!("added_after={}", enc(&since))).await;
    got.append(&mut last.ids);
    assert_each_once(&got, &posted);
}

/// OpenCTI: a run reads a page or two and keeps `next`; the next run sends that `next` alone, even
/// after more objects arrived, and keeps going until `more` is false.
#[tokio::test]
async fn opencti_keeps_next_across_runs() {
    let s = TestServer::start().await;
    let mut posted = post(&s, 1..10).await;
    let first = page(&s, "added_after=2000-01-01T00:00:00Z&limit=2").await;
    let mut got = first.ids.clone();
    let mut kept = first.next.expect("more to read");
    for run in 0..3 {
        posted.extend(post(&s, 300 + run * 10..303 + run * 10).await);
        let p = page(&s, &format!("next={}&limit=2", enc(&kept))).await;
        got.extend(p.ids);
        match p.next {
            Some(next) => kept = next,
            None => break,
        }
    }
    loop {
        let p = page(&s, &format!("next={}&limit=2", enc(&kept))).await;
        got.extend(p.ids);
        match p.next {
            Some(next) => kept = next,
            None => break,
        }
    }
    assert_each_once(&got, &posted);
}

/// `X-TAXII-Date-Added-Last` as OpenCTI keeps it: parsed into a JavaScript Date, which holds
/// milliseconds, and sent back as `toISOString()`.
fn to_millis(header: &str) -> String {
    let t = chrono::DateTime::parse_from_rfc3339(header).unwrap();
    t.with_timezone(&chrono::Utc)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// OpenCTI's TAXII ingester: every request carries `added_after` (its start, kept while it
/// pages) and, while paging, `next`; when a page has no more, `added_after` becomes the page's
/// `X-TAXII-Date-Added-Last`, cut to milliseconds. Nothing is missed and nothing is refused; what
/// comes again is only what shares the millisecond it cut (OpenCTI merges objects by id).
#[tokio::test]
async fn opencti_ingester_sends_next_with_added_after_and_misses_nothing() {
    let s = TestServer::start().await;
    let mut posted = post(&s, 1..8).await;
    let mut added_after = "2000-01-01T00:00:00.000Z".to_owned();
    let mut cursor: Option<String> = None;
    let mut got: Vec<String> = vec![];
    let mut cut_at = vec![];
    // Runs go on past the last arrival until every object came (or 30 runs).
    for run in 0..30u32 {
        let covered = posted.iter().all(|id| got.contains(id));
        if run >= 12 && covered {
            break;
        }
        if run % 3 == 1 && run < 12 {
            posted.extend(post(&s, 400 + run * 10..404 + run * 10).await);
        }
        let mut query = format!("added_after={}&limit=3", enc(&added_after));
        if let Some(next) = &cursor {
            query = format!("next={}&{query}", enc(next));
        }
        let p = page(&s, &query).await;
        got.extend(p.ids.clone());
        match (p.next, p.last) {
            (Some(next), _) => cursor = Some(next),
            (None, Some(last)) => {
                cursor = None;
                added_after = to_millis(&last);
                cut_at.push((last, added_after.clone()));
            }
            (None, None) => cursor = None,
        }
    }
    let mut unique = got.clone();
    unique.sort();
    unique.dedup();
    let mut want = posted.clone();
    want.sort();
    assert_eq!(unique, want, "every object at least once");
    assert!(!cut_at.is_empty());
}
