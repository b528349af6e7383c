//! `compare`: Cairn (SQLite, and PostgreSQL when given), medallion 3.0.0 (the OASIS reference
//! TAXII 2.1 server, memory backend) and nginx (serving one of Cairn's pages as a static file:
//! the ceiling of this machine) side by side, each in a process of its own, driven over HTTP by
//! the load generator in `http.rs`. One markdown table with the ratios and the targets.

pub mod ab;
pub(crate) mod http;
pub mod ingest_ab;

pub use http::enc;
mod report;
pub mod servers;

use crate::corpus::{Generator, Markings};
use anyhow::{bail, ensure, Context};
use http::{Conn, Expect, Load, Target};
use serde_json::value::RawValue;
use serde_json::Value;
use servers::{Backend, CairnServer, Proc};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Corpus sizes, comma-separated; each is one fresh set of stores.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    pub objects: Vec<usize>,
    /// Seed of the corpus.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Share of the corpus that is a new version of an earlier object.
    #[arg(long, default_value_t = 0.05)]
    pub versions: f64,
    /// PostgreSQL admin URL (a role that may create databases); default: the environment's
    /// CAIRN_TEST_POSTGRES_URL. A fresh database per Cairn server, dropped afterwards.
    #[arg(long)]
    pub postgres_url: Option<String>,
    /// Largest corpus medallion is given (it is slow).
    #[arg(long, default_value_t = 10_000)]
    pub medallion_max: usize,
    /// Leave medallion out.
    #[arg(long)]
    pub no_medallion: bool,
    /// Leave nginx out.
    #[arg(long)]
    pub no_nginx: bool,
    /// The virtual environment medallion is installed in (created when missing).
    #[arg(long)]
    pub medallion_venv: Option<PathBuf>,
    /// Objects ingested by the 1-client runs and the 8-client run with envelopes of 100, each
    /// into a fresh store (the first N of the corpus); the 8-client run with envelopes of 1,000
    /// always ingests the whole corpus and fills the store the reads are measured on.
    #[arg(long, default_value_t = 10_000)]
    pub ingest_sample: usize,
    /// Length of one measured window of a load cell, in seconds.
    #[arg(long, default_value_t = 1.0)]
    pub duration: f64,
    /// Measured windows per load cell (medians are reported).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Warm-up of each load cell, in seconds (not counted).
    #[arg(long, default_value_t = 0.5)]
    pub warmup: f64,
    /// Full polls per server (the median is reported; the first is checked object by object).
    #[arg(long, default_value_t = 3)]
    pub poll_rounds: usize,
    /// A first request that takes longer than this (seconds) is not measured under load.
    #[arg(long, default_value_t = 20.0)]
    pub probe_timeout: f64,
    /// Longest a load cell may take (seconds): slow servers get longer windows (twice the
    /// expected latency under that load) and one round; a cell that would need more than this
    /// is not run.
    #[arg(long, default_value_t = 30.0)]
    pub cell_budget: f64,
    /// Threads of the load generator (which shares the machine's cores with the server).
    #[arg(long, default_value_t = 1)]
    pub client_threads: usize,
    /// Also write the report (markdown) to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// For profiling: after the full ingest into the first server, print how to reach it and
    /// keep it running until this process is killed.
    #[arg(long, hide = true)]
    pub hold: bool,
}

pub const CONNS: [usize; 3] = [1, 16, 64];
/// (clients, envelope size)
pub const INGESTS: [(usize, usize); 4] = [(1, 100), (1, 1000), (8, 100), (8, 1000)];
const POLL_LIMIT: usize = 1000;
const PAGE: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    First,
    Deep,
    ById,
    Manifest,
}

impl Endpoint {
    pub const ALL: [Endpoint; 4] = [
        Endpoint::First,
        Endpoint::Deep,
        Endpoint::ById,
        Endpoint::Manifest,
    ];
    pub fn label(self) -> &'static str {
        match self {
            Endpoint::First => "GET objects, first page (limit 100)",
            Endpoint::Deep => "GET objects, deep page (limit 100, added_after at 90%)",
            Endpoint::ById => "GET object by id (an indicator with several versions)",
            Endpoint::Manifest => "GET manifest, match[type]=indicator (limit 100)",
        }
    }
}

/// A measurement, or why there is none.
#[derive(Debug, Clone)]
pub enum Outcome<T> {
    Ok(T),
    Skipped(String),
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct IngestStat {
    pub objects: usize,
    pub secs: f64,
    pub status_polls: usize,
}

impl IngestStat {
    pub fn rate(&self) -> f64 {
        self.objects as f64 / self.secs
    }
}

#[derive(Debug, Clone)]
pub struct PollStat {
    /// Objects per poll (built-ins included).
    pub objects: usize,
    pub pages: usize,
    /// Median seconds per full poll.
    pub secs: f64,
    pub rounds: usize,
    pub builtins: usize,
}

impl PollStat {
    pub fn rate(&self) -> f64 {
        self.objects as f64 / self.secs
    }
}

/// Everything measured on one server at one corpus size.
#[derive(Debug, Default)]
pub struct ServerResult {
    pub ingest: BTreeMap<usize, Outcome<IngestStat>>,
    pub poll: Option<Outcome<PollStat>>,
    pub cells: BTreeMap<(Endpoint, usize), Outcome<http::CellStats>>,
    pub peak_rss_kib: Option<u64>,
    /// What the probes found (objects on the page, bytes).
    pub probes: BTreeMap<Endpoint, String>,
    pub wall_secs: f64,
    pub notes: Vec<String>,
}

/// The servers, as table columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Column {
    CairnSqlite,
    CairnPostgres,
    Medallion,
    Nginx,
}

impl Column {
    pub fn label(self) -> &'static str {
        match self {
            Column::CairnSqlite => "Cairn SQLite",
            Column::CairnPostgres => "Cairn PostgreSQL",
            Column::Medallion => "medallion 3.0.0",
            Column::Nginx => "nginx (static file)",
        }
    }
    pub fn is_cairn(self) -> bool {
        matches!(self, Column::CairnSqlite | Column::CairnPostgres)
    }
}

/// One generated corpus: objects as JSON text, and what a reader must receive.
pub struct Corpus {
    pub raw: Arc<Vec<String>>,
    /// id -> latest `modified` (None for objects without one).
    pub latest: HashMap<String, Option<String>>,
    pub by_id: String,
    pub by_id_versions: usize,
    pub summary: String,
}

pub(crate) fn build_corpus(seed: u64, n: usize, versions: f64) -> Corpus {
    let mut g = Generator::new(seed, n, Markings::Mixed).with_versions(versions);
    let mut raw = Vec::with_capacity(n);
    let mut latest: HashMap<String, Option<String>> = HashMap::new();
    let mut count: HashMap<String, usize> = HashMap::new();
    let mut types: BTreeMap<String, usize> = BTreeMap::new();
    let (mut tlp1, mut tlp2, mut unmarked) = (0, 0, 0);
    let mut order: Vec<String> = vec![];
    for _ in 0..n {
        let o = g.next_object();
        let id = o["id"].as_str().expect("id").to_owned();
        let modified = o["modified"].as_str().map(str::to_owned);
        *types
            .entry(o["type"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
        match o["object_marking_refs"].as_array().and_then(|a| a.first()) {
            None => unmarked += 1,
            Some(m) => {
                let m = m.as_str().unwrap_or("");
                if is_tlp2(m) {
                    tlp2 += 1
                } else if crate::corpus::level_of(m).is_some() {
                    tlp1 += 1
                }
            }
        }
        let c = count.entry(id.clone()).or_default();
        *c += 1;
        if *c == 1 {
            order.push(id.clone());
        }
        let e = latest.entry(id).or_insert(None);
        if modified.as_deref() > e.as_deref() {
            *e = modified;
        }
        raw.push(serde_json::to_string(&o).expect("serialises"));
    }
    let versioned = count.values().filter(|c| **c > 1).count();
    // The object read by id: an indicator with the most versions, nearest the middle.
    let mid = order.len() / 2;
    let by_id = order
        .iter()
        .enumerate()
        .filter(|(_, id)| id.starts_with("indicator--"))
        .max_by_key(|(i, id)| (count[*id], std::cmp::Reverse(i.abs_diff(mid))))
        .map(|(_, id)| id.clone())
        .unwrap_or_else(|| order[mid].clone());
    let by_id_versions = count[&by_id];
    let mut t: Vec<(String, usize)> = types.into_iter().collect();
    t.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
    let summary = format!(
        "{} objects ({} distinct ids; {} with several versions): {}; object markings: {} TLP 2.0, {} TLP 1.0, {} unmarked",
        n,
        latest.len(),
        versioned,
        t.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        tlp2,
        tlp1,
        unmarked
    );
    Corpus {
        raw: Arc::new(raw),
        latest,
        by_id,
        by_id_versions,
        summary,
    }
}

fn is_tlp2(id: &str) -> bool {
    const TLP2: [&str; 5] = [
        "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
        "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
        "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
    ];
    TLP2.contains(&id)
}

/// How to talk to one server under test.
#[derive(Clone)]
pub(crate) struct Api {
    pub writer: Target,
    pub reader: Target,
    /// `/{root}/collections/{id}/` for the writer and the reader.
    pub write_coll: String,
    pub read_coll: String,
    /// `/{root}/` of the writer (its status resources).
    pub write_root: String,
    pub post_headers: Vec<(String, String)>,
}

impl Api {
    fn cairn(proc: &Proc) -> Api {
        let (wp, wu) = servers::CAIRN_WRITER;
        let (rp, ru) = servers::CAIRN_READER;
        Api {
            writer: Target::new(proc.addr, Some((wu, servers::PASSWORD))),
            reader: Target::new(proc.addr, Some((ru, servers::PASSWORD))),
            write_coll: format!("/{wp}/collections/{}/", servers::COLLECTION),
            read_coll: format!("/{rp}/collections/{}/", servers::COLLECTION),
            write_root: format!("/{wp}/"),
            // TLP:RED objects name their recipients (the reading partner).
            post_headers: vec![("Cairn-Recipients".into(), rp.into())],
        }
    }

    fn medallion(proc: &Proc) -> Api {
        let r = servers::MEDALLION_ROOT;
        let coll = format!("/{r}/collections/{}/", servers::COLLECTION);
        Api {
            writer: Target::new(
                proc.addr,
                Some((servers::MEDALLION_WRITER, servers::PASSWORD)),
            ),
            reader: Target::new(
                proc.addr,
                Some((servers::MEDALLION_READER, servers::PASSWORD)),
            ),
            write_coll: coll.clone(),
            read_coll: coll,
            write_root: format!("/{r}/"),
            post_headers: vec![],
        }
    }
}

/// Posts the first `count` objects in envelopes of `envelope` from `clients` concurrent
/// connections, each envelope until its status is complete. Returns the rate and the wall-clock
/// microseconds just before the envelope at 90% was sent (for the deep page).
pub(crate) async fn ingest(
    api: &Api,
    raw: &Arc<Vec<String>>,
    count: usize,
    envelope: usize,
    clients: usize,
) -> anyhow::Result<(IngestStat, cairn::stix::timestamp::Timestamp)> {
    let envelopes = count.div_ceil(envelope);
    let mark_at = envelopes * 9 / 10;
    let next = Arc::new(AtomicUsize::new(0));
    let mark = Arc::new(Mutex::new(cairn::stix::timestamp::Timestamp::EPOCH));
    let polls = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = vec![];
    for _ in 0..clients {
        let (api, raw, next, mark, polls) = (
            api.clone(),
            raw.clone(),
            next.clone(),
            mark.clone(),
            polls.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::new(api.writer.addr);
            let headers: Vec<(&str, &str)> = api
                .post_headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let path = format!("{}objects/", api.write_coll);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= envelopes {
                    return anyhow::Ok(());
                }
                let (from, to) = (i * envelope, ((i + 1) * envelope).min(count));
                let mut body = Vec::with_capacity((to - from) * 1400 + 16);
                body.extend_from_slice(b"{\"objects\":[");
                for (k, o) in raw[from..to].iter().enumerate() {
                    if k > 0 {
                        body.push(b',');
                    }
                    body.extend_from_slice(o.as_bytes());
                }
                body.extend_from_slice(b"]}");
                if i == mark_at {
                    *mark.lock().expect("not poisoned") = cairn::clock::Clock::system().now();
                }
                let r = conn
                    .send(&api.writer.post(&path, &headers, &body))
                    .await
                    .with_context(|| format!("POST envelope {i}"))?;
                ensure!(
                    r.status == 202,
                    "POST envelope {i}: {} {}",
                    r.status,
                    clip(&r.text(), 300)
                );
                let mut status: Value = serde_json::from_slice(&r.body)?;
                while status["status"] != "complete" || status["pending_count"].as_u64() > Some(0) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    polls.fetch_add(1, Ordering::Relaxed);
                    let id = status["id"].as_str().context("status without id")?;
                    let r = conn
                        .send(&api.writer.get(&format!("{}status/{id}/", api.write_root)))
                        .await?;
                    ensure!(r.status == 200, "GET status: {} {}", r.status, r.text());
                    status = serde_json::from_slice(&r.body)?;
                }
                if status["success_count"].as_u64() != Some((to - from) as u64) {
                    bail!(
                        "envelope {i}: {} of {} stored; failures: {}",
                        status["success_count"],
                        to - from,
                        clip(&status["failures"].to_string(), 600)
                    );
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    let mark = *mark.lock().expect("not poisoned");
    Ok((
        IngestStat {
            objects: count,
            secs,
            status_polls: polls.load(Ordering::Relaxed),
        },
        mark,
    ))
}

fn clip(s: &str, n: usize) -> String {
    if s.len() <= n {
        s.to_owned()
    } else {
        let mut end = n;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    }
}

/// The top level of an envelope; the objects are only checked to be JSON.
fn envelope_head(body: &[u8]) -> anyhow::Result<(bool, Option<String>)> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok((false, None));
    }
    let m: HashMap<String, Box<RawValue>> =
        serde_json::from_slice(body).context("page is not a JSON object")?;
    let more = m.get("more").map(|v| v.get() == "true").unwrap_or(false);
    let next = match m.get("next") {
        Some(v) => Some(serde_json::from_str::<String>(v.get())?),
        None => None,
    };
    Ok((more, next))
}

/// Every object the reader sees, following `next` with pages of 1,000. The loop only reads
/// the envelope's top level; when `keep` is set the pages are kept and checked afterwards.
async fn full_poll(
    api: &Api,
    timeout: Duration,
    keep: bool,
) -> anyhow::Result<(f64, usize, Vec<Vec<u8>>)> {
    let mut conn = Conn::new(api.reader.addr);
    let first = format!("{}objects/?limit={POLL_LIMIT}", api.read_coll);
    let mut path = first.clone();
    let mut pages = vec![];
    let mut n = 0;
    let started = Instant::now();
    loop {
        let r = tokio::time::timeout(timeout, conn.send(&api.reader.get(&path)))
            .await
            .with_context(|| {
                format!(
                    "page {} did not answer within {} s",
                    n + 1,
                    timeout.as_secs()
                )
            })??;
        ensure!(
            r.status == 200,
            "GET {path}: {} {}",
            r.status,
            clip(&r.text(), 300)
        );
        n += 1;
        let (more, next) = envelope_head(&r.body)?;
        if keep {
            pages.push(r.body);
        }
        if !more {
            break;
        }
        path = format!("{first}&next={}", enc(&next.context("more without next")?));
    }
    Ok((started.elapsed().as_secs_f64(), n, pages))
}

/// Checks that every object arrived exactly once, at its latest version; returns the objects
/// received and how many were the server's own (Cairn's TLP 2.0 definitions).
fn check_poll(pages: &[Vec<u8>], corpus: &Corpus) -> anyhow::Result<(usize, usize)> {
    let mut seen: HashSet<String> = HashSet::with_capacity(corpus.latest.len());
    let mut builtins = 0;
    let mut total = 0;
    for p in pages {
        if p.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let v: Value = serde_json::from_slice(p)?;
        let Some(objects) = v["objects"].as_array() else {
            continue;
        };
        for o in objects {
            total += 1;
            let id = o["id"].as_str().context("object without id")?;
            ensure!(seen.insert(id.to_owned()), "{id} arrived twice");
            match corpus.latest.get(id) {
                Some(latest) => ensure!(
                    o["modified"].as_str() == latest.as_deref(),
                    "{id}: version {} arrived, the latest is {:?}",
                    o["modified"],
                    latest
                ),
                None if matches!(
                    o["type"].as_str(),
                    Some("marking-definition" | "extension-definition")
                ) =>
                {
                    builtins += 1
                }
                None => bail!("{id} was never posted"),
            }
        }
    }
    let missing = corpus.latest.len() - (seen.len() - builtins);
    ensure!(
        missing == 0,
        "{missing} of {} posted objects never arrived",
        corpus.latest.len()
    );
    Ok((total, builtins))
}

/// Settings of the read measurements.
struct ReadPlan {
    probe_timeout: Duration,
    cell_budget: f64,
    duration: Duration,
    warmup: Duration,
    rounds: usize,
    timeout: Duration,
}

impl ReadPlan {
    /// The plan the command line asks for, with `timeout` for a single request.
    fn new(args: &Args, timeout: Duration) -> ReadPlan {
        ReadPlan {
            probe_timeout: Duration::from_secs_f64(args.probe_timeout),
            cell_budget: args.cell_budget,
            duration: Duration::from_secs_f64(args.duration),
            warmup: Duration::from_secs_f64(args.warmup),
            rounds: args.rounds.max(1),
            timeout,
        }
    }
}

/// Probes one endpoint (one request) and, when it answers in time, measures it at each number
/// of connections. Returns the probe's body.
async fn measure_endpoint(
    result: &mut ServerResult,
    endpoint: Endpoint,
    target: &Target,
    path: &str,
    conns: &[usize],
    plan: &ReadPlan,
    expect_objects: Option<usize>,
) -> Option<Vec<u8>> {
    let request = Arc::new(target.get(path));
    let mut conn = Conn::new(target.addr);
    let started = Instant::now();
    let probe = tokio::time::timeout(plan.probe_timeout, conn.send(&request)).await;
    let took = started.elapsed().as_secs_f64();
    let skip_all = |result: &mut ServerResult, o: Outcome<http::CellStats>| {
        for &c in conns {
            result.cells.insert((endpoint, c), o.clone());
        }
    };
    let resp = match probe {
        Err(_) => {
            skip_all(
                result,
                Outcome::Skipped(format!(
                    "one request alone did not answer within {:.0} s",
                    plan.probe_timeout.as_secs_f64()
                )),
            );
            return None;
        }
        Ok(Err(e)) => {
            skip_all(result, Outcome::Failed(format!("{e:#}")));
            return None;
        }
        Ok(Ok(r)) => r,
    };
    if resp.status != 200 {
        skip_all(
            result,
            Outcome::Failed(format!("{} {}", resp.status, clip(&resp.text(), 300))),
        );
        return None;
    }
    let listed = serde_json::from_slice::<Value>(&resp.body)
        .ok()
        .and_then(|v| v["objects"].as_array().map(Vec::len))
        .unwrap_or(0);
    if let Some(e) = expect_objects {
        if listed != e {
            result.notes.push(format!(
                "{}: {listed} objects on the page, {e} expected",
                endpoint.label()
            ));
        }
    }
    let expect = Expect {
        status: 200,
        len: resp.body.len(),
    };
    // The first request may be cold: a few more (within about 3 s) give the typical time.
    let mut times = vec![took];
    let probing = Instant::now();
    while times.len() < 5 && probing.elapsed().as_secs_f64() + took < 3.0 {
        let s = Instant::now();
        match tokio::time::timeout(plan.probe_timeout, conn.send(&request)).await {
            Ok(Ok(r)) if r.status == 200 => times.push(s.elapsed().as_secs_f64()),
            _ => break,
        }
    }
    let first = took;
    let took = crate::stats::median(&times);
    result.probes.insert(
        endpoint,
        format!(
            "{listed} object(s), {} bytes; alone: first request {:.1} ms, median of {} {:.1} ms",
            resp.body.len(),
            first * 1000.0,
            times.len(),
            took * 1000.0
        ),
    );
    for &c in conns {
        // Under c connections a server that answers one at a time takes about c times as long.
        let loaded = took * c as f64;
        if loaded * 4.0 > plan.cell_budget {
            result.cells.insert(
                (endpoint, c),
                Outcome::Skipped(format!(
                    "one request takes {took:.2} s alone; {c} connections would need ~{:.0} s for one cell",
                    loaded * 4.0
                )),
            );
            continue;
        }
        // Long enough for about eight answers from a server that answers one request at a
        // time, and for twice the latency under this load.
        let warmup = plan.warmup.max(Duration::from_secs_f64(loaded));
        let window = plan.duration.max(Duration::from_secs_f64(
            (2.0 * loaded)
                .max(8.0 * took)
                .min(plan.cell_budget - warmup.as_secs_f64()),
        ));
        let load = Load {
            conns: c,
            warmup,
            rounds: if window > plan.duration {
                1
            } else {
                plan.rounds
            },
            window,
            timeout: plan.timeout,
        };
        let o = match http::run_load(target, request.clone(), expect, &load).await {
            Ok(s) => Outcome::Ok(s),
            Err(e) => Outcome::Failed(format!("{e:#}")),
        };
        if let Outcome::Ok(s) = &o {
            if s.errors > 0 {
                result.notes.push(format!(
                    "{} at {c} connections: {} answers were errors or of another size",
                    endpoint.label(),
                    s.errors
                ));
            }
        }
        result.cells.insert((endpoint, c), o);
    }
    Some(resp.body)
}

/// What a server needs to be measured: how to start it on a fresh store.
enum Kind<'a> {
    /// The backend and the binary that runs `serve-cairn`.
    Cairn(&'a Backend, &'a std::path::Path),
    Medallion(&'a PathBuf),
}

/// A started server of either kind.
enum Running {
    Cairn(CairnServer),
    Medallion(Proc),
}

impl Running {
    fn proc(&self) -> &Proc {
        match self {
            Running::Cairn(c) => &c.proc,
            Running::Medallion(p) => p,
        }
    }
    fn api(&self) -> Api {
        match self {
            Running::Cairn(c) => Api::cairn(&c.proc),
            Running::Medallion(p) => Api::medallion(p),
        }
    }
    async fn stop(self) {
        match self {
            Running::Cairn(c) => c.stop().await,
            Running::Medallion(p) => p.stop().await,
        }
    }
}

async fn start(
    kind: &Kind<'_>,
    dir: &std::path::Path,
    tag: &str,
    setup: &str,
) -> anyhow::Result<Running> {
    Ok(match kind {
        Kind::Cairn(b, exe) => Running::Cairn(CairnServer::start(b, exe, dir, tag, setup).await?),
        Kind::Medallion(bin) => Running::Medallion(servers::start_medallion(bin, dir, tag).await?),
    })
}

/// Ingest (four ways), full poll and reads on one server. Returns the first page's bytes.
async fn measure_server(
    args: &Args,
    kind: Kind<'_>,
    corpus: &Corpus,
    dir: &std::path::Path,
    setup: &str,
) -> (ServerResult, Option<Vec<u8>>) {
    let mut result = ServerResult::default();
    let started = Instant::now();
    let n = corpus.raw.len();
    let name = match &kind {
        Kind::Cairn(b, _) => b.label(),
        Kind::Medallion(_) => "medallion",
    };
    // The three smaller ingests, each into a fresh store.
    for (i, &(clients, envelope)) in INGESTS.iter().enumerate().take(3) {
        let count = args.ingest_sample.min(n);
        let tag = format!("{}-{n}-ingest{i}", name.replace(' ', "-").to_lowercase());
        let o = match start(&kind, dir, &tag, setup).await {
            Err(e) => Outcome::Failed(format!("starting: {e:#}")),
            Ok(server) => {
                let r = ingest(&server.api(), &corpus.raw, count, envelope, clients).await;
                server.stop().await;
                match r {
                    Ok((s, _)) => Outcome::Ok(s),
                    Err(e) => Outcome::Failed(format!("{e:#}")),
                }
            }
        };
        eprintln!(
            "  {name}: ingest {clients}x{envelope}: {}",
            short_ingest(&o)
        );
        result.ingest.insert(i, o);
    }
    // The whole corpus, 8 clients, envelopes of 1,000: the store the reads are measured on.
    let tag = format!("{}-{n}-read", name.replace(' ', "-").to_lowercase());
    let server = match start(&kind, dir, &tag, setup).await {
        Ok(s) => s,
        Err(e) => {
            result
                .ingest
                .insert(3, Outcome::Failed(format!("starting: {e:#}")));
            return (result, None);
        }
    };
    let api = server.api();
    let (clients, envelope) = INGESTS[3];
    let deep_mark = match ingest(&api, &corpus.raw, n, envelope, clients).await {
        Ok((s, mark)) => {
            result.ingest.insert(3, Outcome::Ok(s));
            mark
        }
        Err(e) => {
            result.ingest.insert(3, Outcome::Failed(format!("{e:#}")));
            server.stop().await;
            return (result, None);
        }
    };
    eprintln!(
        "  {name}: ingest {clients}x{envelope} (all {n}): {}",
        short_ingest(&result.ingest[&3])
    );
    if args.hold {
        let (_, user) = servers::CAIRN_READER;
        eprintln!(
            "holding: pid {} at http://{}{} as {user}:{} (first page at objects/?limit={PAGE}, deep mark {})",
            server.proc().pid(),
            server.proc().addr,
            api.read_coll,
            servers::PASSWORD,
            enc(&deep_mark.to_string()),
        );
        std::future::pending::<()>().await;
    }
    let plan = ReadPlan::new(
        args,
        Duration::from_secs_f64(args.cell_budget.max(args.probe_timeout) * 2.0),
    );
    let coll = api.read_coll.clone();
    let paths = [
        (
            Endpoint::ById,
            format!("{coll}objects/{}/", corpus.by_id),
            Some(1),
        ),
        (
            Endpoint::Manifest,
            format!("{coll}manifest/?limit={PAGE}&match%5Btype%5D=indicator"),
            Some(PAGE),
        ),
        (
            Endpoint::Deep,
            format!(
                "{coll}objects/?limit={PAGE}&added_after={}",
                enc(&deep_mark.to_string())
            ),
            Some(PAGE),
        ),
        (
            Endpoint::First,
            format!("{coll}objects/?limit={PAGE}"),
            Some(PAGE),
        ),
    ];
    // Fast endpoints first: a request that times out goes on using the server's CPU.
    let mut first_page = None;
    for (endpoint, path, expect) in &paths {
        let body = measure_endpoint(
            &mut result,
            *endpoint,
            &api.reader,
            path,
            &CONNS,
            &plan,
            *expect,
        )
        .await;
        eprintln!("  {name}: {} measured", endpoint.label());
        if *endpoint == Endpoint::First {
            first_page = body;
        }
    }
    // The full poll: its first page is the first page at limit 1,000, so it is tried only when
    // the first page answered.
    result.poll = Some(if first_page.is_none() {
        Outcome::Skipped("not tried: the first page did not answer in time, and a poll starts with a larger first page".into())
    } else {
        poll_rounds(&api, corpus, args.poll_rounds.max(1), plan.timeout).await
    });
    eprintln!(
        "  {name}: full poll: {}",
        short(result.poll.as_ref().expect("set"))
    );
    result.peak_rss_kib = server.proc().peak_rss_kib();
    server.stop().await;
    result.wall_secs = started.elapsed().as_secs_f64();
    (result, first_page)
}

async fn poll_rounds(
    api: &Api,
    corpus: &Corpus,
    rounds: usize,
    timeout: Duration,
) -> Outcome<PollStat> {
    let mut secs = vec![];
    let mut pages = 0;
    let mut objects = 0;
    let mut builtins = 0;
    let started = Instant::now();
    for r in 0..rounds {
        // Slow polls are not repeated past a minute.
        if r > 0 && started.elapsed() > Duration::from_secs(60) {
            break;
        }
        match full_poll(api, timeout, r == 0).await {
            Err(e) => return Outcome::Failed(format!("{e:#}")),
            Ok((s, p, bodies)) => {
                secs.push(s);
                pages = p;
                if r == 0 {
                    match check_poll(&bodies, corpus) {
                        Ok((t, b)) => {
                            objects = t;
                            builtins = b;
                        }
                        Err(e) => return Outcome::Failed(format!("check: {e:#}")),
                    }
                }
            }
        }
    }
    Outcome::Ok(PollStat {
        objects,
        pages,
        secs: crate::stats::median(&secs),
        rounds: secs.len(),
        builtins,
    })
}

/// Progress line of an ingest: its rate, so a run can be followed (and compared) as it goes.
fn short_ingest(o: &Outcome<IngestStat>) -> String {
    match o {
        Outcome::Ok(s) => format!("{:.0} objects/s", s.objects as f64 / s.secs),
        other => short(other),
    }
}

fn short<T: std::fmt::Debug>(o: &Outcome<T>) -> String {
    match o {
        Outcome::Ok(_) => "ok".into(),
        Outcome::Skipped(s) => format!("skipped: {s}"),
        Outcome::Failed(s) => format!("FAILED: {s}"),
    }
}

/// nginx serving the first page's bytes at the first page's path.
async fn measure_nginx(
    dir: &std::path::Path,
    path: &str,
    body: &[u8],
    args: &Args,
) -> ServerResult {
    let mut result = ServerResult::default();
    let started = Instant::now();
    let proc = match servers::start_nginx(dir, path, body).await {
        Ok(p) => p,
        Err(e) => {
            for c in CONNS {
                result.cells.insert(
                    (Endpoint::First, c),
                    Outcome::Failed(format!("starting nginx: {e:#}")),
                );
            }
            return result;
        }
    };
    let plan = ReadPlan::new(args, Duration::from_secs(60));
    let target = Target::new(proc.addr, None);
    let full = format!("{path}?limit={PAGE}");
    measure_endpoint(
        &mut result,
        Endpoint::First,
        &target,
        &full,
        &CONNS,
        &plan,
        Some(PAGE),
    )
    .await;
    result.peak_rss_kib = proc.peak_rss_kib();
    proc.stop().await;
    result.wall_secs = started.elapsed().as_secs_f64();
    result
}

/// The measurements of one corpus size.
pub struct SizeResult {
    pub objects: usize,
    pub summary: String,
    pub by_id_versions: usize,
    pub servers: BTreeMap<Column, ServerResult>,
    pub secs: f64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    ensure!(
        !args.objects.is_empty(),
        "--objects needs at least one size"
    );
    ensure!(
        args.objects.iter().all(|&n| n >= 2000),
        "every size must be at least 2,000 objects"
    );
    let postgres = args
        .postgres_url
        .clone()
        .or_else(|| std::env::var("CAIRN_TEST_POSTGRES_URL").ok())
        .filter(|u| !u.is_empty());
    let mut backends = vec![Backend::Sqlite];
    if let Some(url) = &postgres {
        if args.hold {
            // Profiling PostgreSQL: hold that one.
            backends.clear();
        }
        backends.push(Backend::Postgres(url.clone()));
    }
    let medallion_bin =
        if args.no_medallion || args.objects.iter().all(|&n| n > args.medallion_max) {
            None
        } else {
            let venv = args.medallion_venv.clone().unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-medallion")
            });
            Some(tokio::task::spawn_blocking(move || servers::medallion_venv(&venv)).await??)
        };
    if !args.no_nginx {
        tokio::task::spawn_blocking(servers::nginx_binary).await??;
    }
    let setup = servers::cairn_setup()?;
    let tmp = tempfile::Builder::new()
        .prefix("cairn-compare-")
        .tempdir()?;
    eprintln!("work directory: {}", tmp.path().display());
    // Cairn runs from a copy of this binary: a build of the workspace during the run replaces
    // target/release/cairn-bench.
    let exe = tmp.path().join("cairn-bench-serve");
    std::fs::copy(std::env::current_exe()?, &exe).context("copying this binary")?;
    let run_started = Instant::now();
    let mut sizes = vec![];
    for &n in &args.objects {
        let size_started = Instant::now();
        eprintln!("== {n} objects: generating the corpus");
        let corpus = build_corpus(args.seed, n, args.versions);
        eprintln!("  {}", corpus.summary);
        let dir = tmp.path().join(format!("n{n}"));
        std::fs::create_dir_all(&dir)?;
        let mut servers_done = BTreeMap::new();
        let mut first_page: Option<Vec<u8>> = None;
        for b in &backends {
            let column = match b {
                Backend::Sqlite => Column::CairnSqlite,
                Backend::Postgres(_) => Column::CairnPostgres,
            };
            let (r, page) =
                measure_server(&args, Kind::Cairn(b, &exe), &corpus, &dir, &setup).await;
            if first_page.is_none() {
                first_page = page;
            }
            servers_done.insert(column, r);
        }
        if !args.no_nginx {
            match &first_page {
                Some(body) => {
                    let path = format!(
                        "/{}/collections/{}/objects/",
                        servers::CAIRN_READER.0,
                        servers::COLLECTION
                    );
                    let r = measure_nginx(&dir, &path, body, &args).await;
                    eprintln!("  nginx measured");
                    servers_done.insert(Column::Nginx, r);
                }
                None => eprintln!("  nginx: no first page from Cairn to serve; skipped"),
            }
        }
        if let (Some(bin), true) = (&medallion_bin, n <= args.medallion_max) {
            let (r, _) = measure_server(&args, Kind::Medallion(bin), &corpus, &dir, &setup).await;
            servers_done.insert(Column::Medallion, r);
        }
        let _ = std::fs::remove_dir_all(&dir);
        sizes.push(SizeResult {
            objects: n,
            summary: corpus.summary.clone(),
            by_id_versions: corpus.by_id_versions,
            servers: servers_done,
            secs: size_started.elapsed().as_secs_f64(),
        });
    }
    let text = report::render(&args, &sizes, run_started.elapsed().as_secs_f64());
    println!("{text}");
    if let Some(out) = &args.out {
        std::fs::write(out, &text).with_context(|| format!("writing {}", out.display()))?;
        eprintln!("written to {}", out.display());
    }
    Ok(())
}
