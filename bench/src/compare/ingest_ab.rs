//! `ingest-ab`: two builds of Cairn ingesting the same corpus, alternated round by round: each
//! round starts a fresh SQLite server per build and posts the whole corpus (8 clients, envelopes
//! of 1,000, as `compare`'s largest ingest). Besides objects/s it reports the server's CPU per
//! object, how busy its busiest thread was over the ingest (usually the writer, which may move
//! between blocking threads), and the writer's time in transactions, which say whether a change
//! moved the writer's cost or the work around it.

use super::ab::{cpu_secs, ticks, Pair};
use super::servers::{self, Backend, CairnServer};
use super::{build_corpus, ingest, Api};
use crate::stats::median;
use anyhow::{ensure, Context};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub pair: Pair,
    /// Rounds; each ingests once per build, the order alternating.
    #[arg(long, default_value_t = 4)]
    pub rounds: usize,
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    #[arg(long, default_value_t = 1000)]
    pub envelope: usize,
    /// Also write the report (markdown) to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// User + system CPU seconds of each thread of a process, by thread id, from
/// `/proc/PID/task/*/stat`.
fn thread_cpu(pid: u32) -> anyhow::Result<std::collections::HashMap<String, f64>> {
    let mut out = std::collections::HashMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let task = task?;
        let Ok(s) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        out.insert(task.file_name().to_string_lossy().into_owned(), ticks(&s)?);
    }
    Ok(out)
}

/// The most CPU one thread used between two readings of `thread_cpu`.
fn busiest(
    before: &std::collections::HashMap<String, f64>,
    after: &std::collections::HashMap<String, f64>,
) -> f64 {
    after
        .iter()
        .map(|(tid, t)| t - before.get(tid).copied().unwrap_or(0.0))
        .fold(0.0, f64::max)
}

/// One ingest: objects/s, server CPU µs per object, busiest thread's CPU over the wall time,
/// and the writer's time in transactions over the wall time, with the transactions run.
struct Run {
    rate: f64,
    cpu_us: f64,
    busiest: f64,
    writer: f64,
    commits: f64,
    /// Peak RSS (VmHWM) after the ingest, MB.
    rss_mb: f64,
}

/// Sum and count of the server's committed write transactions, from `/metrics`.
async fn commits(server: &CairnServer) -> anyhow::Result<(f64, f64)> {
    let target = super::http::Target::new(server.metrics, None);
    let mut conn = super::http::Conn::new(server.metrics);
    let text = conn.send(&target.get("/metrics")).await?.text();
    // Before the first write there is no series yet: nothing committed.
    if !text.contains("cairn_write_commit_seconds_sum{") {
        return Ok((0.0, 0.0));
    }
    let read = |name: &str| -> anyhow::Result<f64> {
        let line = text
            .lines()
            .find(|l| l.starts_with(name) && l.contains("outcome=\"committed\""))
            .with_context(|| format!("no {name} for committed writes in /metrics"))?;
        Ok(line.rsplit(' ').next().unwrap_or("").parse()?)
    };
    Ok((
        read("cairn_write_commit_seconds_sum")?,
        read("cairn_write_commit_seconds_count")?,
    ))
}

async fn one(
    exe: &Path,
    dir: &Path,
    tag: &str,
    setup: &str,
    args: &Args,
    raw: &std::sync::Arc<Vec<String>>,
) -> anyhow::Result<Run> {
    let server = CairnServer::start(&Backend::Sqlite, exe, dir, tag, setup)
        .await
        .with_context(|| format!("starting {}", exe.display()))?;
    let pid = server.proc.pid();
    let api = Api::cairn(&server.proc);
    let (c0, w0, t0) = (cpu_secs(pid)?, commits(&server).await?, thread_cpu(pid)?);
    let (stat, _) = ingest(&api, raw, args.pair.objects, args.envelope, args.clients).await?;
    let (c1, w1) = (cpu_secs(pid)?, commits(&server).await?);
    let busiest = busiest(&t0, &thread_cpu(pid)?);
    let rss_mb = server.proc.peak_rss_kib().unwrap_or(0) as f64 / 1024.0;
    server.stop().await;
    for ext in ["db", "db-wal", "db-shm"] {
        let _ = std::fs::remove_file(dir.join(format!("{tag}.{ext}")));
    }
    Ok(Run {
        rate: stat.rate(),
        cpu_us: (c1 - c0) / args.pair.objects as f64 * 1e6,
        busiest: busiest / stat.secs,
        writer: (w1.0 - w0.0) / stat.secs,
        commits: w1.1 - w0.1,
        rss_mb,
    })
}

/// One column of `Run`, by name.
type Measure = fn(&Run) -> f64;

pub async fn run(args: Args) -> anyhow::Result<()> {
    ensure!(args.rounds > 0, "rounds must be > 0");
    let corpus = build_corpus(args.pair.seed, args.pair.objects, args.pair.versions);
    let setup = servers::cairn_setup()?;
    let tmp = tempfile::Builder::new()
        .prefix("cairn-ingest-ab-")
        .tempdir()?;
    let builds = [
        (&args.pair.a_label, &args.pair.a),
        (&args.pair.b_label, &args.pair.b),
    ];
    let mut runs: [Vec<Run>; 2] = [vec![], vec![]];
    let mut rows = String::new();
    for round in 0..args.rounds {
        for k in 0..2 {
            let i = if round % 2 == 0 { k } else { 1 - k };
            let (label, exe) = builds[i];
            let tag = format!("r{round}b{i}");
            let r = one(exe, tmp.path(), &tag, &setup, &args, &corpus.raw).await?;
            let line = format!(
                "| {} | {label} | {:.0} | {:.1} | {:.2} | {:.2} | {:.0} | {:.0} |",
                round + 1,
                r.rate,
                r.cpu_us,
                r.busiest,
                r.writer,
                r.commits,
                r.rss_mb
            );
            println!("{line}");
            writeln!(rows, "{line}")?;
            runs[i].push(r);
        }
    }
    let mut report = String::new();
    writeln!(
        report,
        "# ingest-ab: {} against {}, {} objects, {} clients, envelopes of {}\n\n{} cores, {}. corpus: {}\n",
        args.pair.b_label,
        args.pair.a_label,
        args.pair.objects,
        args.clients,
        args.envelope,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        crate::cpu_model(),
        corpus.summary
    )?;
    writeln!(
        report,
        "Each round ingests the corpus into a fresh SQLite server per build (order alternating). Server CPU is user + system from `/proc/PID/stat` over the ingest; the busiest thread's CPU over the ingest is divided by the ingest's wall time (usually the writer's thread, though the writer's task may move between blocking threads); the writer's share is its time in committed write transactions (`cairn_write_commit_seconds`) over the wall time.\n\n| round | build | objects/s | server CPU µs / object | busiest thread busy | writer in transactions | transactions | peak RSS MB |\n| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n{rows}"
    )?;
    let med = |i: usize, f: fn(&Run) -> f64| median(&runs[i].iter().map(f).collect::<Vec<_>>());
    writeln!(
        report,
        "\nMedians:\n\n| measure | {a} | {b} | {b} / {a} |\n| --- | ---: | ---: | ---: |",
        a = args.pair.a_label,
        b = args.pair.b_label
    )?;
    let measures: [(&str, Measure); 6] = [
        ("objects/s", |r| r.rate),
        ("server CPU µs / object", |r| r.cpu_us),
        ("busiest thread busy", |r| r.busiest),
        ("writer in transactions", |r| r.writer),
        ("transactions", |r| r.commits),
        ("peak RSS MB", |r| r.rss_mb),
    ];
    for (name, f) in measures {
        let (x, y) = (med(0, f), med(1, f));
        writeln!(report, "| {name} | {x:.2} | {y:.2} | {:.3} |", y / x)?;
    }
    println!("\n{report}");
    if let Some(out) = &args.out {
        std::fs::write(out, &report)?;
    }
    Ok(())
}
