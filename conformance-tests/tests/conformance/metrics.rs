//! Prometheus metrics on `server.metrics_bind` (issue 20): requests by endpoint pattern and
//! status, objects by outcome and reason, commit and pool-wait histograms, gauges; counts only,
//! never an id or a name.

use crate::objects_get::objects_url;
use cairn_conformance::*;

async fn scrape(s: &TestServer) -> String {
    let port = s.metrics_port.expect("metrics_bind is set");
    let r = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let kind = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    r.text().await.unwrap()
}

fn line<'a>(text: &'a str, series: &str) -> Option<&'a str> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .map(|l| &l[series.len() + 1..])
}

#[tokio::test]
async fn metrics_count_requests_and_objects_without_naming_anything() {
    let s = TestServer::start_with(&standard_setup(), "metrics_bind = \"127.0.0.1:0\"").await;
    s.post_objects("globex-soc", &[indicator(7, "2026-01-01T00:00:00.000Z")])
        .await;
    let mut bad = indicator(8, "2026-01-01T00:00:00.000Z");
    bad["pattern"] = serde_json::json!("[not a pattern");
    let st = s
        .post_objects(
            "acme-soc",
            &[
                indicator(1, "2026-01-01T00:00:00.000Z"),
                bad,
                indicator(7, "2026-02-01T00:00:00.000Z"),
            ],
        )
        .await;
    assert_eq!(
        (st["success_count"].as_u64(), st["failure_count"].as_u64()),
        (Some(1), Some(2))
    );
    for _ in 0..2 {
        assert_eq!(s.get("acme-soc", &objects_url("")).await.status, 200);
    }
    s.get(
        "acme-soc",
        &TestServer::coll("acme", "no-such-collection", "objects/"),
    )
    .await
    .assert_error(404);
    let text = scrape(&s).await;
    let objects = "cairn_http_requests_total{endpoint=\"/{root}/collections/{coll}/objects/\"";
    assert_eq!(
        line(&text, &format!("{objects},status=\"200\"}}")),
        Some("2"),
        "{text}"
    );
    assert_eq!(
        line(&text, &format!("{objects},status=\"202\"}}")),
        Some("2"),
        "{text}"
    );
    assert_eq!(
        line(&text, &format!("{objects},status=\"404\"}}")),
        Some("1"),
        "{text}"
    );
    for (outcome, reason, n) in [
        ("accepted", "stored", "2"),
        ("refused", "invalid", "1"),
        ("refused", "not_owner", "1"),
    ] {
        let series = format!("cairn_objects_total{{outcome=\"{outcome}\",reason=\"{reason}\"}}");
        assert_eq!(line(&text, &series), Some(n), "{series}\n{text}");
    }
    let commits = line(
        &text,
        "cairn_write_commit_seconds_count{outcome=\"committed\"}",
    );
    assert!(
        commits.is_some_and(|n| n.parse::<u64>().unwrap() >= 2),
        "{text}"
    );
    assert!(
        line(&text, "cairn_pool_wait_seconds_count").is_some(),
        "{text}"
    );
    assert!(line(&text, "cairn_releases_pending").is_some_and(|n| n.parse::<i64>().is_ok()));
    assert_eq!(line(&text, "cairn_writes_queued"), Some("0"));
    for secret in ["indicator--", "acme", "globex", "no-such-collection"] {
        assert!(!text.contains(secret), "{secret} in\n{text}");
    }
    // Not on the TAXII address.
    s.get("acme-soc", "/metrics/").await.assert_error(404);
}

#[tokio::test]
async fn without_metrics_bind_there_is_no_metrics_listener() {
    let s = TestServer::start().await;
    assert_eq!(s.metrics_port, None);
}
