//! Receipts (issue 20): who was served which versions (objects and object endpoints) and who
//! posted what, accepted or refused, for `cairn receipts`.

use crate::objects_get::{T1, T2};
use cairn_conformance::*;

/// The lines without their first column (when), which the clock decides.
fn rest(lines: Vec<String>) -> Vec<String> {
    lines
        .into_iter()
        .skip(1)
        .map(|l| l.split_once('\t').unwrap().1.to_owned())
        .collect()
}

/// Pull receipts are written just after the answer: wait, boundedly, until `want` lines are.
async fn settled(
    s: &TestServer,
    object: Option<&str>,
    user: Option<&str>,
    want: usize,
) -> Vec<String> {
    for _ in 0..100 {
        let lines = rest(s.receipts(object, user).await);
        if lines.len() >= want {
            return lines;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    rest(s.receipts(object, user).await)
}

#[tokio::test]
async fn receipts_say_who_received_and_who_posted_each_version() {
    let s = TestServer::start().await;
    let one = format!("indicator--{}", uuid_for(1));
    s.post_objects("acme-soc", &[indicator(1, T1), indicator(2, T1)])
        .await;
    let page = s
        .get(
            "initech-soc",
            &TestServer::coll("initech", FINANCE, "objects/?match[type]=indicator"),
        )
        .await;
    assert_eq!(page.status, 200);
    s.post_objects("acme-soc", &[indicator(1, T2)]).await;
    let r = s
        .get(
            "acme-bot",
            &TestServer::coll("acme", FINANCE, &format!("objects/{one}/")),
        )
        .await;
    assert_eq!(r.status, 200);
    // A manifest serves no content: no receipt.
    let m = s
        .get(
            "globex-soc",
            &TestServer::coll("globex", FINANCE, "manifest/"),
        )
        .await;
    assert_eq!(m.status, 200);
    let c = "finance-isac";
    assert_eq!(
        settled(&s, Some(&one), None, 4).await,
        vec![
            format!("acme-soc\tpush\t{c}\t2026-01-01T00:00:00.000000Z"),
            format!("initech-soc\tpull\t{c}\t2026-01-01T00:00:00.000000Z"),
            format!("acme-soc\tpush\t{c}\t2026-02-01T00:00:00.000000Z"),
            format!("acme-bot\tpull\t{c}\t2026-02-01T00:00:00.000000Z"),
        ]
    );
    let two = format!("indicator--{}", uuid_for(2));
    assert_eq!(
        settled(&s, None, Some("initech-soc"), 2).await,
        vec![
            format!("{c}\tpull\t{one}\t2026-01-01T00:00:00.000000Z"),
            format!("{c}\tpull\t{two}\t2026-01-01T00:00:00.000000Z"),
        ]
    );
}

#[tokio::test]
async fn a_push_receipt_counts_what_was_refused() {
    let s = TestServer::start().await;
    let mut bad = indicator(3, T1);
    bad["pattern"] = serde_json::json!("[not a pattern");
    s.post_objects("globex-soc", &[indicator(4, T1), bad]).await;
    let four = format!("indicator--{}", uuid_for(4));
    assert_eq!(
        rest(s.receipts(None, Some("globex-soc")).await),
        vec![format!(
            "finance-isac\tpush (1 refused)\t{four}\t2026-01-01T00:00:00.000000Z"
        )]
    );
    // Nothing that was not served is listed: globex never read anything.
    let _ = s
        .get(
            "globex-soc",
            &TestServer::coll("globex", FINANCE, "objects/?match[type]=malware"),
        )
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(rest(s.receipts(None, Some("globex-soc")).await).len(), 1);
}
