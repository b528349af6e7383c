//! Pollers never miss and never repeat: readers poll with `added_after` and with `next` while
//! writers post concurrently, a delay expires and `cairn apply` widens caps and rules. Each
//! reader ends with exactly what the policy allows, each version once.

use super::fixture::*;
use cairn_conformance::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;

#[derive(Clone, Copy)]
enum Mode {
    AddedAfter,
    Next,
}

struct Poller {
    user: &'static str,
    mode: Mode,
    last: Option<String>,
    got: Vec<(String, String)>,
}

fn key(o: &Value) -> (String, String) {
    (
        id(o),
        o["modified"]
            .as_str()
            .or(o["created"].as_str())
            .unwrap_or("")
            .to_owned(),
    )
}

impl Poller {
    async fn poll(&mut self, s: &TestServer) {
        let base = TestServer::coll(root(self.user), ISAC, "objects/?limit=7&match[version]=all");
        loop {
            let mut path = base.clone();
            if let Some(l) = &self.last {
                path += &format!("&added_after={}", enc(l));
            }
            let mut pages = vec![];
            match self.mode {
                Mode::AddedAfter => pages.push(s.get(self.user, &path).await),
                Mode::Next => pages = s.all_pages(self.user, &path).await,
            }
            let mut empty = true;
            for p in pages {
                assert_eq!(p.status, 200, "{}", p.text());
                let objs = p.json()["objects"].as_array().cloned().unwrap_or_default();
                if !objs.is_empty() {
                    empty = false;
                    self.last = Some(
                        p.header("x-taxii-date-added-last")
                            .expect("header on non-empty page"),
                    );
                    self.got.extend(objs.iter().map(key));
                }
            }
            if empty {
                return;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pollers_get_every_allowed_version_exactly_once_under_concurrent_change() {
    let rule = "[[community.rule]]\nproducer = \"acme\"\nexclude = [\"globex\"]\ndelay = \"1h\"\n";
    let s = Arc::new(TestServer::start_with(&isac_setup(rule), "").await);
    let mut pollers = [
        Poller {
            user: "globex-soc",
            mode: Mode::Next,
            last: None,
            got: vec![],
        },
        Poller {
            user: "initech-soc",
            mode: Mode::AddedAfter,
            last: None,
            got: vec![],
        },
        Poller {
            user: "mssp-feed",
            mode: Mode::Next,
            last: None,
            got: vec![],
        },
        Poller {
            user: "umbrella-soc",
            mode: Mode::AddedAfter,
            last: None,
            got: vec![],
        },
    ];
    let marks = [GREEN2, AMBER1, AMBER2, WHITE1, STRICT2];
    for round in 0..4u32 {
        let mut writers = vec![];
        for (w, writer) in ["cert-ops", "acme-soc", "umbrella-soc"]
            .into_iter()
            .enumerate()
        {
            let s = Arc::clone(&s);
            writers.push(tokio::spawn(async move {
                for batch in 0..4u32 {
                    let objects: Vec<Value> = (0..3u32)
                        .map(|i| {
                            let n = round * 1000 + w as u32 * 100 + batch * 10 + i;
                            let kind = if n.is_multiple_of(2) {
                                "indicator"
                            } else {
                                "malware"
                            };
                            sdo(kind, n, Some(marks[(n % 5) as usize]))
                        })
                        .collect();
                    let st = post(&s, writer, &objects, None).await;
                    assert_eq!(st["failure_count"], 0, "{st}");
                }
            }));
        }
        // Poll while the writers run.
        for _ in 0..3 {
            for p in pollers.iter_mut() {
                p.poll(&s).await;
            }
        }
        for w in writers {
            w.await.unwrap();
        }
        match round {
            1 => s.clock.advance(chrono::Duration::minutes(61)),
            2 => {
                let widened =
                    isac_setup("[[community.rule]]\nproducer = \"acme\"\ndelay = \"1h\"\n")
                        .replace(
                            "partner = \"initech\"\nrole = \"contributor\"\nmax_tlp = \"green\"",
                            "partner = \"initech\"\nrole = \"contributor\"\nmax_tlp = \"amber\"",
                        );
                s.apply(&widened).await;
            }
            _ => {}
        }
    }
    s.clock.advance(chrono::Duration::minutes(61));
    for p in pollers.iter_mut() {
        p.poll(&s).await;
        let unique: BTreeSet<(String, String)> = p.got.iter().cloned().collect();
        assert_eq!(unique.len(), p.got.len(), "{} got a version twice", p.user);
        let first = format!(
            "{}?limit=1000&match[version]=all",
            TestServer::coll(root(p.user), ISAC, "objects/")
        );
        let mut allowed = BTreeSet::new();
        for page in s.all_pages(p.user, &first).await {
            for o in page.json()["objects"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                allowed.insert(key(&o));
            }
        }
        assert_eq!(
            unique, allowed,
            "{} did not end with exactly what it may see",
            p.user
        );
        assert!(allowed.len() > 6, "{} sees only the built-ins", p.user);
    }
}
