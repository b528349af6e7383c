//! `members` (issue 19, part 1): what each member of a community costs. Today every posted
//! version writes one `deliveries` row per reader, so ingest, database size and `cairn apply`
//! grow with the number of members; this is the baseline a redesign is judged against.
//!
//! For each community size N: a fresh Cairn in a process of its own (`serve-cairn`, as
//! `compare` starts it), one producer and N readers (N-1 capped at AMBER, one at GREEN). The
//! producer posts the corpus; then pages are timed for an AMBER and the GREEN reader, and
//! `cairn apply` is timed adding one member and raising the GREEN reader to AMBER.

use crate::compare::http::{Conn, Target};
use crate::compare::servers::{Backend, CairnServer};
use crate::compare::{build_corpus, enc, ingest, Api, Corpus};
use anyhow::{bail, ensure, Context};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

pub(crate) mod report;

const COLLECTION: &str = "5e1d7a40-2c9b-4f6e-8a3d-9b0c1e2f3a4b";
const PASSWORD: &str = "members bench";
const PRODUCER: &str = "producer";
/// The AMBER reader whose pages are timed (every size has it) and the GREEN reader.
const AMBER: &str = "reader-0001";
const GREEN: &str = "green";
/// The member `cairn apply` adds.
const NEWCOMER: &str = "newcomer";
const ENVELOPE: usize = 1000;
const CLIENTS: usize = 4;
/// Pages are the server's default largest.
const PAGE: usize = 1000;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Community sizes N, comma-separated: N readers (N-1 capped at AMBER, one at GREEN)
    /// besides the producer.
    #[arg(long, value_delimiter = ',', default_value = "2,10,100,1000")]
    pub members: Vec<usize>,
    /// Objects the producer posts at every size.
    #[arg(long, default_value_t = 20_000)]
    pub objects: usize,
    /// Seed of the corpus.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Share of the corpus that is a new version of an earlier object.
    #[arg(long, default_value_t = 0.05)]
    pub versions: f64,
    /// Rounds over the sizes, each size on a fresh server every round; the table gives each
    /// figure's median over the rounds (the machine is noisy).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Timed requests per page and reader, after two untimed ones (the median is reported).
    #[arg(long, default_value_t = 30)]
    pub requests: usize,
    /// PostgreSQL admin URL (a role with CREATEDB): the same again on PostgreSQL, in a
    /// throwaway database per size.
    #[arg(long)]
    pub postgres: Option<String>,
    /// The `cairn` binary run for `cairn apply` (default: next to this binary).
    #[arg(long)]
    pub cairn: Option<PathBuf>,
    /// Longest one `cairn apply` may take, in seconds; past it, it is killed and reported so.
    #[arg(long, default_value_t = 900)]
    pub apply_timeout: u64,
    /// Also write the report (markdown) to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// One timed `cairn apply` and what the reader it concerns newly receives.
#[derive(Debug, Clone, Default)]
pub struct ApplyStat {
    /// None: killed after --apply-timeout, or not run because an earlier one was.
    pub secs: Option<f64>,
    /// Versions the reader receives after the apply that it did not before.
    pub newly: usize,
}

impl ApplyStat {
    pub fn us_per_object(&self) -> Option<f64> {
        let s = self.secs?;
        (self.newly > 0).then(|| s * 1e6 / self.newly as f64)
    }
}

/// p50 of one kind of page for one reader, and the objects on it.
#[derive(Debug, Clone, Copy, Default)]
pub struct PageStat {
    pub p50_ms: f64,
    pub objects: usize,
    pub bytes: usize,
    pub samples: usize,
}

/// Everything measured at one size.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub members: usize,
    pub objects: usize,
    pub ingest_secs: f64,
    pub cpu_us_per_object: f64,
    pub db_bytes: u64,
    /// [AMBER, GREEN]
    pub first: [PageStat; 2],
    pub deep: [PageStat; 2],
    pub add: ApplyStat,
    pub raise: ApplyStat,
    /// `cairn apply` with nothing to change: the command's fixed cost.
    pub noop_secs: Option<f64>,
    pub wall_secs: f64,
    /// Rounds the medians are taken over.
    pub rounds: usize,
}

impl Row {
    pub fn ingest_rate(&self) -> f64 {
        self.objects as f64 / self.ingest_secs
    }
    pub fn db_bytes_per_object(&self) -> f64 {
        self.db_bytes as f64 / self.objects as f64
    }
}

/// Which version of the setup file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Initial,
    /// `newcomer` joins (AMBER, backlog on).
    Added,
    /// And the GREEN reader is raised to AMBER.
    Raised,
}

fn setup_text(hash: &str, n: usize, stage: Stage) -> String {
    let green_cap = if stage == Stage::Raised {
        "amber"
    } else {
        "green"
    };
    let mut members: Vec<(String, &str, &str)> = vec![(PRODUCER.into(), "contributor", "red")];
    members.extend((1..n).map(|i| (format!("reader-{i:04}"), "reader", "amber")));
    members.push((GREEN.into(), "reader", green_cap));
    if stage != Stage::Initial {
        members.push((NEWCOMER.into(), "reader", "amber"));
    }
    let mut s = String::new();
    for (p, _, _) in &members {
        s += &format!("[[partner]]\nid = \"{p}\"\ntitle = \"Member {p}\"\n\n");
        s += &format!(
            "[[user]]\nname = \"{p}-soc\"\npartner = \"{p}\"\npassword_hash = \"{hash}\"\n\n"
        );
    }
    s += &format!(
        "[[community]]\nid = \"members\"\ncollection = \"{COLLECTION}\"\ntitle = \"Members bench\"\nbacklog = true\n\n"
    );
    for (p, role, cap) in &members {
        s += &format!(
            "[[community.member]]\npartner = \"{p}\"\nrole = \"{role}\"\nmax_tlp = \"{cap}\"\n\n"
        );
    }
    s
}

fn target(addr: std::net::SocketAddr, partner: &str) -> Target {
    Target::new(addr, Some((&format!("{partner}-soc"), PASSWORD)))
}

fn collection(partner: &str) -> String {
    format!("/{partner}/collections/{COLLECTION}/")
}

fn producer_api(addr: std::net::SocketAddr) -> Api {
    Api {
        writer: target(addr, PRODUCER),
        reader: target(addr, AMBER),
        write_coll: collection(PRODUCER),
        read_coll: collection(AMBER),
        write_root: format!("/{PRODUCER}/"),
        // TLP:RED must name recipients; the AMBER reader's cap keeps RED from it all the same.
        post_headers: vec![("Cairn-Recipients".into(), AMBER.into())],
    }
}

/// utime + stime of a process (all its threads), in clock ticks.
pub(crate) fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces): state is 0, utime 11, stime 12.
    let rest: Vec<&str> = stat
        .rsplit_once(')')
        .context("/proc/PID/stat")?
        .1
        .split_whitespace()
        .collect();
    Ok(rest[11].parse::<u64>()? + rest[12].parse::<u64>()?)
}

pub(crate) fn clock_ticks_per_sec() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

pub(crate) async fn run_tool(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("running {program}"))?;
    ensure!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The store's size in bytes: for SQLite the file and its WAL after a checkpoint (so that
/// pages are counted once), for PostgreSQL `pg_database_size`.
pub(crate) async fn db_bytes(server: &CairnServer) -> anyhow::Result<u64> {
    if let Some(path) = server.url.strip_prefix("sqlite://") {
        run_tool("sqlite3", &[path, "PRAGMA wal_checkpoint(TRUNCATE);"]).await?;
        let size = |p: &str| std::fs::metadata(p).map_or(0, |m| m.len());
        return Ok(size(path) + size(&format!("{path}-wal")));
    }
    let q = "SELECT pg_database_size(current_database())";
    let out = run_tool(
        "psql",
        &["-X", "-q", "-t", "-A", "-d", &server.url, "-c", q],
    )
    .await?;
    Ok(out.trim().parse()?)
}

/// Objects on a page (parsed outside the timed part).
fn objects_on(body: &[u8]) -> usize {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["objects"].as_array().map(Vec::len))
        .unwrap_or(0)
}

/// First and deep page p50 for [AMBER, GREEN], the four series interleaved so that the
/// machine's noise falls on all of them alike. Bounded to two minutes (at least 5 samples).
async fn page_times(
    addr: std::net::SocketAddr,
    requests: usize,
) -> anyhow::Result<([PageStat; 2], [PageStat; 2])> {
    let mut series = vec![];
    for partner in [AMBER, GREEN] {
        let after = enc(&deep_mark(addr, partner).await?);
        let t = target(addr, partner);
        let base = format!("{}objects/?limit={PAGE}", collection(partner));
        series.push((t.get(&base), vec![], (0, 0)));
        series.push((
            t.get(&format!("{base}&added_after={after}")),
            vec![],
            (0, 0),
        ));
    }
    let mut conn = Conn::new(addr);
    let started = Instant::now();
    for round in 0..requests + 2 {
        if round >= 7 && started.elapsed() > Duration::from_secs(120) {
            break;
        }
        for (request, times, objects) in series.iter_mut() {
            let t = Instant::now();
            let r = conn.send(request).await?;
            let took = t.elapsed().as_secs_f64() * 1000.0;
            ensure!(r.status == 200, "GET page: {} {}", r.status, r.text());
            if round == 0 {
                *objects = (objects_on(&r.body), r.body.len());
            } else if round >= 2 {
                times.push(took);
            }
        }
    }
    let stat = |i: usize| {
        let (_, times, (objects, bytes)): &(Vec<u8>, Vec<f64>, (usize, usize)) = &series[i];
        PageStat {
            p50_ms: crate::stats::median(times),
            objects: *objects,
            bytes: *bytes,
            samples: times.len(),
        }
    };
    Ok(([stat(0), stat(2)], [stat(1), stat(3)]))
}

/// The `date_added` of every entry of a reader's manifest, in order, following `next`; every
/// version when `all`, else the latest of each object (as `GET objects` serves them).
async fn manifest_dates(
    addr: std::net::SocketAddr,
    partner: &str,
    all: bool,
) -> anyhow::Result<Vec<String>> {
    let t = target(addr, partner);
    let versions = if all { "&match%5Bversion%5D=all" } else { "" };
    let first = format!("{}manifest/?limit={PAGE}{versions}", collection(partner));
    let mut conn = Conn::new(addr);
    let (mut path, mut dates) = (first.clone(), vec![]);
    // Bounded: far more pages than the largest corpus needs.
    for _ in 0..10_000 {
        let r = conn.send(&t.get(&path)).await?;
        ensure!(r.status == 200, "GET manifest: {} {}", r.status, r.text());
        if r.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(dates);
        }
        let v: Value = serde_json::from_slice(&r.body)?;
        for e in v["objects"].as_array().map_or(&[][..], Vec::as_slice) {
            dates.push(e["date_added"].as_str().unwrap_or_default().to_owned());
        }
        match (v["more"].as_bool(), v["next"].as_str()) {
            (Some(true), Some(next)) => path = format!("{first}&next={}", enc(next)),
            _ => return Ok(dates),
        }
    }
    bail!("the manifest of {partner} has more than 10,000 pages")
}

/// Versions a reader receives (its manifest with every version).
async fn manifest_versions(addr: std::net::SocketAddr, partner: &str) -> anyhow::Result<usize> {
    Ok(manifest_dates(addr, partner, true).await?.len())
}

/// Where a reader's deep page starts: the `date_added` at 90% of what it sees. Each reader
/// has its own dates, and a mark taken from the clock during a concurrent ingest would put the
/// page at a different depth at each size.
async fn deep_mark(addr: std::net::SocketAddr, partner: &str) -> anyhow::Result<String> {
    let dates = manifest_dates(addr, partner, false).await?;
    ensure!(!dates.is_empty(), "{partner} sees nothing");
    Ok(dates[dates.len() * 9 / 10].clone())
}

/// Runs `cairn apply FILE --config CONFIG`; its wall-clock seconds, or None when it was killed
/// after `timeout`.
async fn timed_apply(
    cairn: &Path,
    file: &Path,
    config: &Path,
    timeout: Duration,
) -> anyhow::Result<Option<f64>> {
    let child = tokio::process::Command::new(cairn)
        .arg("apply")
        .arg(file)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting cairn apply")?;
    let started = Instant::now();
    let Ok(out) = tokio::time::timeout(timeout, child.wait_with_output()).await else {
        return Ok(None);
    };
    let out = out?;
    let secs = started.elapsed().as_secs_f64();
    ensure!(
        out.status.success(),
        "cairn apply {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(Some(secs))
}

/// Where a size's files are and how its commands run.
struct Env<'a> {
    args: &'a Args,
    hash: &'a str,
    cairn: &'a Path,
    dir: &'a Path,
}

impl Env<'_> {
    /// Writes the setup file of `stage` and applies it to the running server's store.
    async fn apply(
        &self,
        server: &CairnServer,
        n: usize,
        stage: Stage,
    ) -> anyhow::Result<Option<f64>> {
        let file = self.dir.join(format!("m{n}-{stage:?}.toml"));
        std::fs::write(&file, setup_text(self.hash, n, stage))?;
        let timeout = Duration::from_secs(self.args.apply_timeout);
        timed_apply(self.cairn, &file, &server.config, timeout).await
    }
}

/// Adds the newcomer, raises the GREEN reader, then applies the same file again (no change).
async fn membership_changes(
    env: &Env<'_>,
    server: &CairnServer,
    row: &mut Row,
) -> anyhow::Result<()> {
    let (n, addr) = (row.members, server.proc.addr);
    row.add.secs = env.apply(server, n, Stage::Added).await?;
    if row.add.secs.is_none() {
        return Ok(());
    }
    row.add.newly = manifest_versions(addr, NEWCOMER).await?;
    eprintln!(
        "  add member: {:.2} s, {} versions",
        row.add.secs.unwrap_or(0.0),
        row.add.newly
    );
    let before = manifest_versions(addr, GREEN).await?;
    row.raise.secs = env.apply(server, n, Stage::Raised).await?;
    if row.raise.secs.is_none() {
        return Ok(());
    }
    row.raise.newly = manifest_versions(addr, GREEN).await?.saturating_sub(before);
    eprintln!(
        "  raise cap: {:.2} s, {} versions",
        row.raise.secs.unwrap_or(0.0),
        row.raise.newly
    );
    row.noop_secs = env.apply(server, n, Stage::Raised).await?;
    Ok(())
}

/// Ingest, CPU, size and pages on a started server, then the membership changes.
async fn measure_on(
    env: &Env<'_>,
    server: &CairnServer,
    corpus: &Corpus,
    row: &mut Row,
) -> anyhow::Result<()> {
    let pid = server.proc.pid();
    let before = db_bytes(server).await?;
    let cpu0 = cpu_ticks(pid)?;
    let api = producer_api(server.proc.addr);
    let (stat, _) = ingest(&api, &corpus.raw, row.objects, ENVELOPE, CLIENTS).await?;
    let ticks = cpu_ticks(pid)? - cpu0;
    row.ingest_secs = stat.secs;
    row.cpu_us_per_object = ticks as f64 / clock_ticks_per_sec() * 1e6 / row.objects as f64;
    row.db_bytes = db_bytes(server).await?.saturating_sub(before);
    eprintln!(
        "  ingest: {:.0} objects/s, {:.0} CPU µs/object, {:.0} bytes/object",
        row.ingest_rate(),
        row.cpu_us_per_object,
        row.db_bytes_per_object()
    );
    (row.first, row.deep) = page_times(server.proc.addr, env.args.requests).await?;
    eprintln!(
        "  pages p50 (ms): first {:.1}/{:.1}, deep {:.1}/{:.1}",
        row.first[0].p50_ms, row.first[1].p50_ms, row.deep[0].p50_ms, row.deep[1].p50_ms
    );
    membership_changes(env, server, row).await
}

async fn measure(
    env: &Env<'_>,
    backend: &Backend,
    exe: &Path,
    corpus: &Corpus,
    n: usize,
) -> anyhow::Result<Row> {
    let started = Instant::now();
    let mut row = Row {
        members: n,
        objects: corpus.raw.len(),
        ..Row::default()
    };
    let setup = setup_text(env.hash, n, Stage::Initial);
    let server = CairnServer::start(backend, exe, env.dir, &format!("m{n}"), &setup).await?;
    let r = measure_on(env, &server, corpus, &mut row).await;
    server.stop().await;
    r?;
    row.wall_secs = started.elapsed().as_secs_f64();
    row.rounds = 1;
    Ok(row)
}

/// Every size, `--rounds` times; the sizes take turns so that the noise falls on all alike.
async fn measure_backend(
    args: &Args,
    backend: &Backend,
    hash: &str,
    cairn: &Path,
    tmp: &Path,
    corpus: &Corpus,
) -> anyhow::Result<Vec<Result<Row, String>>> {
    let exe = tmp.join("cairn-bench-serve");
    let mut measured: Vec<Vec<Result<Row, String>>> = vec![vec![]; args.members.len()];
    for round in 0..args.rounds.max(1) {
        for (i, &n) in args.members.iter().enumerate() {
            eprintln!("== {}, round {}: {n} readers", backend.label(), round + 1);
            let dir = tmp.join(format!("r{round}-m{n}"));
            std::fs::create_dir_all(&dir)?;
            let env = Env {
                args,
                hash,
                cairn,
                dir: &dir,
            };
            let r = measure(&env, backend, &exe, corpus, n).await;
            let _ = std::fs::remove_dir_all(&dir);
            if let Err(e) = &r {
                eprintln!("  FAILED: {e:#}");
            }
            measured[i].push(r.map_err(|e| format!("{e:#}")));
        }
    }
    Ok(measured.iter().map(|r| median_row(r)).collect())
}

/// Each figure's median over the rounds of one size; the first failure when any round failed.
fn median_row(rounds: &[Result<Row, String>]) -> Result<Row, String> {
    let rows: Vec<&Row> = rounds
        .iter()
        .map(Result::as_ref)
        .collect::<Result<_, _>>()
        .map_err(Clone::clone)?;
    let med = |f: &dyn Fn(&Row) -> f64| {
        crate::stats::median(&rows.iter().map(|r| f(r)).collect::<Vec<_>>())
    };
    // A killed apply has no time: the median is taken only when every round has one.
    let med_opt = |f: &dyn Fn(&Row) -> Option<f64>| {
        let v: Option<Vec<f64>> = rows.iter().map(|r| f(r)).collect();
        v.map(|v| crate::stats::median(&v))
    };
    let page = |f: &dyn Fn(&Row) -> PageStat| PageStat {
        p50_ms: med(&|r| f(r).p50_ms),
        samples: rows.iter().map(|r| f(r).samples).sum(),
        ..f(rows[0])
    };
    let first = rows[0];
    Ok(Row {
        ingest_secs: med(&|r| r.ingest_secs),
        cpu_us_per_object: med(&|r| r.cpu_us_per_object),
        db_bytes: med(&|r| r.db_bytes as f64) as u64,
        first: [page(&|r| r.first[0]), page(&|r| r.first[1])],
        deep: [page(&|r| r.deep[0]), page(&|r| r.deep[1])],
        add: ApplyStat {
            secs: med_opt(&|r| r.add.secs),
            newly: first.add.newly,
        },
        raise: ApplyStat {
            secs: med_opt(&|r| r.raise.secs),
            newly: first.raise.newly,
        },
        noop_secs: med_opt(&|r| r.noop_secs),
        wall_secs: med(&|r| r.wall_secs),
        rounds: rows.len(),
        ..first.clone()
    })
}

/// The `cairn` binary, copied so that a build during the run does not replace it.
fn cairn_binary(args: &Args, tmp: &Path) -> anyhow::Result<PathBuf> {
    let given = match &args.cairn {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("cairn"),
    };
    ensure!(
        given.exists(),
        "{} is missing (cargo build --release -p cairn, or --cairn)",
        given.display()
    );
    let copy = tmp.join("cairn");
    std::fs::copy(&given, &copy).with_context(|| format!("copying {}", given.display()))?;
    Ok(copy)
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    ensure!(
        args.members.iter().all(|&n| n >= 1),
        "every size needs a reader"
    );
    ensure!(
        args.objects >= 2 * ENVELOPE,
        "--objects must be at least 2,000"
    );
    let hash = cairn::service::auth::hash_password(PASSWORD).map_err(|e| anyhow::anyhow!("{e}"))?;
    let tmp = tempfile::Builder::new()
        .prefix("cairn-members-")
        .tempdir()?;
    eprintln!("work directory: {}", tmp.path().display());
    let exe = tmp.path().join("cairn-bench-serve");
    std::fs::copy(std::env::current_exe()?, &exe).context("copying this binary")?;
    let cairn = cairn_binary(&args, tmp.path())?;
    let corpus = build_corpus(args.seed, args.objects, args.versions);
    eprintln!("corpus: {}", corpus.summary);
    let mut backends = vec![Backend::Sqlite];
    backends.extend(args.postgres.clone().map(Backend::Postgres));
    let run_started = Instant::now();
    let mut tables = vec![];
    for backend in &backends {
        let rows = measure_backend(&args, backend, &hash, &cairn, tmp.path(), &corpus).await?;
        tables.push((backend.label(), rows));
    }
    let text = report::render(&args, &corpus.summary, &tables, run_started.elapsed());
    println!("{text}");
    if let Some(out) = &args.out {
        std::fs::write(out, &text).with_context(|| format!("writing {}", out.display()))?;
        eprintln!("written to {}", out.display());
    }
    Ok(())
}
