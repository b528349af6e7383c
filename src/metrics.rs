//! Counters and histograms for operators, rendered in the Prometheus text format on
//! `server.metrics_bind`. Labels are endpoint patterns, status codes and reasons: counts only,
//! never an id, a name or content. Each server instance keeps its own (tests run several).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds (`+Inf` follows).
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Counts by label values.
#[derive(Default)]
pub struct Counter {
    series: Mutex<BTreeMap<Vec<String>, u64>>,
}

impl Counter {
    pub fn add(&self, labels: &[&str], n: u64) {
        let key = labels.iter().map(|l| (*l).to_owned()).collect();
        *lock(&self.series).entry(key).or_default() += n;
    }

    pub fn get(&self, labels: &[&str]) -> u64 {
        let key: Vec<String> = labels.iter().map(|l| (*l).to_owned()).collect();
        lock(&self.series).get(&key).copied().unwrap_or(0)
    }

    fn render(&self, out: &mut String, name: &str, help: &str, label_names: &[&str]) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (values, n) in lock(&self.series).iter() {
            let _ = writeln!(out, "{name}{} {n}", labels(label_names, values, None));
        }
    }
}

#[derive(Default, Clone)]
struct Buckets {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Durations by label values, in cumulative buckets.
#[derive(Default)]
pub struct Histogram {
    series: Mutex<BTreeMap<Vec<String>, Buckets>>,
}

impl Histogram {
    pub fn observe(&self, labels: &[&str], took: Duration) {
        let seconds = took.as_secs_f64();
        let key = labels.iter().map(|l| (*l).to_owned()).collect();
        let mut series = lock(&self.series);
        let b = series.entry(key).or_default();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                b.counts[i] += 1;
            }
        }
        b.count += 1;
        b.sum += seconds;
    }

    pub fn count(&self, labels: &[&str]) -> u64 {
        let key: Vec<String> = labels.iter().map(|l| (*l).to_owned()).collect();
        lock(&self.series).get(&key).map_or(0, |b| b.count)
    }

    fn render(&self, out: &mut String, name: &str, help: &str, label_names: &[&str]) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (values, b) in lock(&self.series).iter() {
            for (bound, n) in BUCKETS.iter().zip(b.counts) {
                let le = format!("{bound}");
                let l = labels(label_names, values, Some(&le));
                let _ = writeln!(out, "{name}_bucket{l} {n}");
            }
            let l = labels(label_names, values, Some("+Inf"));
            let _ = writeln!(out, "{name}_bucket{l} {}", b.count);
            let l = labels(label_names, values, None);
            let _ = writeln!(out, "{name}_sum{l} {}\n{name}_count{l} {}", b.sum, b.count);
        }
    }
}

/// `{a="x",b="y"}` (with `le` last), or nothing without labels. Values are ours (patterns,
/// codes, reasons), escaped anyway.
fn labels(names: &[&str], values: &[String], le: Option<&str>) -> String {
    let mut pairs: Vec<String> = names
        .iter()
        .zip(values)
        .map(|(n, v)| format!("{n}=\"{}\"", escape(v)))
        .collect();
    pairs.extend(le.map(|le| format!("le=\"{le}\"")));
    if pairs.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", pairs.join(","))
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A counter update cannot be left half done: a poisoned map is still consistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the HTTP layer and the use cases count.
#[derive(Default)]
pub struct Metrics {
    /// By endpoint pattern and status code.
    pub requests: Counter,
    /// By endpoint pattern.
    pub latency: Histogram,
    /// Objects posted, by outcome (`accepted`, `refused`) and reason.
    pub objects: Counter,
    /// Write transactions (group commits), by outcome.
    pub commits: Histogram,
    /// Time a read or write waited for a database connection.
    pub pool_wait: Histogram,
}

/// Values read at scrape time.
pub struct Gauges {
    pub writes_queued: usize,
    pub releases_pending: i64,
}

impl Metrics {
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
        self.requests.render(
            &mut out,
            "cairn_http_requests_total",
            "Requests answered, by endpoint pattern and status.",
            &["endpoint", "status"],
        );
        self.latency.render(
            &mut out,
            "cairn_http_request_duration_seconds",
            "Time to answer a request, by endpoint pattern.",
            &["endpoint"],
        );
        self.objects.render(
            &mut out,
            "cairn_objects_total",
            "Objects posted, by outcome and reason.",
            &["outcome", "reason"],
        );
        self.commits.render(
            &mut out,
            "cairn_write_commit_seconds",
            "Time of each write transaction (a group of writes on SQLite), by outcome.",
            &["outcome"],
        );
        self.pool_wait.render(
            &mut out,
            "cairn_pool_wait_seconds",
            "Time a read or write waited for a database connection.",
            &[],
        );
        let _ = writeln!(
            out,
            "# HELP cairn_writes_queued Writes waiting for the writer.\n\
             # TYPE cairn_writes_queued gauge\ncairn_writes_queued {}\n\
             # HELP cairn_releases_pending Versions whose delay has not been processed yet.\n\
             # TYPE cairn_releases_pending gauge\ncairn_releases_pending {}",
            gauges.writes_queued, gauges.releases_pending
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_render_in_the_text_format() {
        let m = Metrics::default();
        m.requests.add(&["/taxii2/", "200"], 2);
        m.latency.observe(&["/taxii2/"], Duration::from_micros(700));
        let text = m.render(&Gauges {
            writes_queued: 3,
            releases_pending: 0,
        });
        assert!(
            text.contains("cairn_http_requests_total{endpoint=\"/taxii2/\",status=\"200\"} 2\n")
        );
        assert!(text.contains(
            "cairn_http_request_duration_seconds_bucket{endpoint=\"/taxii2/\",le=\"0.0005\"} 0\n"
        ));
        assert!(text.contains(
            "cairn_http_request_duration_seconds_bucket{endpoint=\"/taxii2/\",le=\"0.001\"} 1\n"
        ));
        assert!(text.contains(
            "cairn_http_request_duration_seconds_bucket{endpoint=\"/taxii2/\",le=\"+Inf\"} 1\n"
        ));
        assert!(
            text.contains("cairn_http_request_duration_seconds_count{endpoint=\"/taxii2/\"} 1\n")
        );
        assert!(text.contains("cairn_writes_queued 3\n"));
        assert_eq!(labels(&["a"], &["x\"y".into()], None), "{a=\"x\\\"y\"}");
    }
}
