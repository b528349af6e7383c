//! `poll-ab`: two builds of Cairn side by side on the same corpus, measured alternately: full
//! polls (limit 1,000, following `next`) and the first page (limit 100) under load, with the
//! server's CPU time (user + system, from `/proc/PID/stat`, counted until the server is idle
//! again, so that work done after the answer, such as a pull receipt, is included).
//!
//! Each build is a `cairn-bench` binary (its hidden `serve-cairn` runs that build's Cairn).
//! Both servers run for the whole measurement, each on a fresh SQLite file filled over HTTP
//! with the same corpus; rounds alternate the order (A then B, B then A).

use super::http::{self, Conn, Expect, Load};
use super::servers::{self, Backend, CairnServer};
use super::{build_corpus, check_poll, full_poll, ingest, Api, PAGE};
use crate::stats::median;
use anyhow::{ensure, Context};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The two builds an A/B bench sets side by side, and the corpus both are given.
#[derive(Debug, clap::Args)]
pub struct Pair {
    /// The `cairn-bench` binary of build A (e.g. the build before a change).
    #[arg(long)]
    pub a: PathBuf,
    /// The `cairn-bench` binary of build B.
    #[arg(long)]
    pub b: PathBuf,
    /// Names of the two builds in the report.
    #[arg(long, default_value = "A")]
    pub a_label: String,
    #[arg(long, default_value = "B")]
    pub b_label: String,
    /// Objects posted to each server.
    #[arg(long, default_value_t = 100_000)]
    pub objects: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value_t = 0.05)]
    pub versions: f64,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub pair: Pair,
    /// Rounds; each measures both builds, the order alternating.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Full polls per build per round (timed one by one; CPU counted over all of them).
    #[arg(long, default_value_t = 3)]
    pub polls: usize,
    /// Connections of the first-page loads, comma-separated (one load each, in this order).
    #[arg(long, value_delimiter = ',', default_value = "64")]
    pub conns: Vec<usize>,
    /// Seconds of first-page load per build per round.
    #[arg(long, default_value_t = 3.0)]
    pub duration: f64,
    /// Also write the report (markdown) to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// User + system CPU of a process (and its dead threads), in seconds.
pub(super) fn cpu_secs(pid: u32) -> anyhow::Result<f64> {
    ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat"))?)
}

/// utime + stime of one `/proc/.../stat` line, in seconds.
pub(super) fn ticks(stat: &str) -> anyhow::Result<f64> {
    // pid (comm) state ...: split after the last ')'; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').context("no comm")? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f[11].parse()?;
    let stime: u64 = f[12].parse()?;
    // Clock ticks: 100 a second on Linux (USER_HZ).
    Ok((utime + stime) as f64 / 100.0)
}

/// Waits until the server used no CPU for 300 ms (at most 10 s), so that work left after
/// the answers is counted; returns its CPU then.
async fn settled_cpu(pid: u32) -> anyhow::Result<f64> {
    let mut last = cpu_secs(pid)?;
    for _ in 0..33 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = cpu_secs(pid)?;
        if now - last < 0.005 {
            return Ok(now);
        }
        last = now;
    }
    Ok(last)
}

#[derive(Default)]
struct Samples {
    /// Seconds per full poll.
    poll_secs: Vec<f64>,
    /// Server CPU seconds per full poll (one value per round).
    poll_cpu: Vec<f64>,
    /// Per entry of `--conns`, one value per round each.
    p50_ms: Vec<Vec<f64>>,
    p99_ms: Vec<Vec<f64>>,
    rps: Vec<Vec<f64>>,
    /// Server CPU microseconds per first page under load.
    page_cpu_us: Vec<Vec<f64>>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    ensure!(
        args.rounds > 0 && args.polls > 0,
        "rounds and polls must be > 0"
    );
    let corpus = build_corpus(args.pair.seed, args.pair.objects, args.pair.versions);
    println!("corpus: {}", corpus.summary);
    let setup = servers::cairn_setup()?;
    let tmp = tempfile::Builder::new()
        .prefix("cairn-poll-ab-")
        .tempdir()?;
    let builds = [
        (args.pair.a_label.clone(), args.pair.a.clone()),
        (args.pair.b_label.clone(), args.pair.b.clone()),
    ];
    let mut running = vec![];
    let mut report = String::new();
    writeln!(
        report,
        "# poll-ab: {} against {}, {} objects\n\n{} cores, {}. corpus: {}\n",
        args.pair.b_label,
        args.pair.a_label,
        args.pair.objects,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        crate::cpu_model(),
        corpus.summary
    )?;
    for (i, (label, exe)) in builds.iter().enumerate() {
        let server =
            CairnServer::start(&Backend::Sqlite, exe, tmp.path(), &format!("ab{i}"), &setup)
                .await
                .with_context(|| format!("starting {label} ({})", exe.display()))?;
        let api = Api::cairn(&server.proc);
        let (stat, _) = ingest(&api, &corpus.raw, args.pair.objects, 1000, 8).await?;
        // The first poll is checked object by object.
        let (_, _, pages) = full_poll(&api, Duration::from_secs(120), true).await?;
        let (total, builtins) = check_poll(&pages, &corpus)?;
        let line = format!(
            "{label} ({}): pid {}, ingested {} objects at {:.0}/s; a poll gives {total} objects ({builtins} built-in) in {} pages",
            exe.display(),
            server.proc.pid(),
            stat.objects,
            stat.rate(),
            pages.len()
        );
        println!("{line}");
        writeln!(report, "- {line}")?;
        running.push((label.clone(), server, api));
    }
    let mut samples: Vec<Samples> = vec![Samples::default(), Samples::default()];
    let mut rows = String::new();
    for round in 0..args.rounds {
        let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for &k in &order {
            let (label, server, api) = &running[k];
            let pid = server.proc.pid();
            // Full polls.
            let c0 = settled_cpu(pid).await?;
            let mut secs = vec![];
            for _ in 0..args.polls {
                let (s, _, _) = full_poll(api, Duration::from_secs(120), false).await?;
                secs.push(s);
            }
            let c1 = settled_cpu(pid).await?;
            let cpu_poll = (c1 - c0) / args.polls as f64;
            // First page under load.
            let path = format!("{}objects/?limit={PAGE}", api.read_coll);
            let request = Arc::new(api.reader.get(&path));
            let probe = Conn::new(api.reader.addr).send(&request).await?;
            ensure!(probe.status == 200, "first page: {}", probe.status);
            let expect = Expect {
                status: 200,
                len: probe.body.len(),
            };
            let s = &mut samples[k];
            s.poll_secs.extend(&secs);
            s.poll_cpu.push(cpu_poll);
            let mut cells = String::new();
            for (j, &conns) in args.conns.iter().enumerate() {
                let load = Load {
                    conns,
                    warmup: Duration::ZERO,
                    window: Duration::from_secs_f64(args.duration),
                    rounds: 1,
                    timeout: Duration::from_secs(30),
                };
                let c2 = settled_cpu(pid).await?;
                let cell = http::run_load(&api.reader, request.clone(), expect, &load).await?;
                let c3 = settled_cpu(pid).await?;
                let page_cpu_us = (c3 - c2) / cell.n.max(1) as f64 * 1e6;
                for v in [&mut s.p50_ms, &mut s.p99_ms, &mut s.rps, &mut s.page_cpu_us] {
                    v.resize(args.conns.len(), vec![]);
                }
                s.p50_ms[j].push(cell.p50_ms);
                s.p99_ms[j].push(cell.p99_ms);
                s.rps[j].push(cell.rps);
                s.page_cpu_us[j].push(page_cpu_us);
                write!(
                    cells,
                    " {:.2} | {:.2} | {:.0} | {:.0} | {} |",
                    cell.p50_ms, cell.p99_ms, cell.rps, page_cpu_us, cell.errors
                )?;
            }
            let row = format!(
                "| {} | {label} | {} | {:.3} | {:.0} |{cells}",
                round + 1,
                secs.iter()
                    .map(|s| format!("{s:.3}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                cpu_poll,
                args.pair.objects as f64 / median(&secs),
            );
            println!("{row}");
            rows.push_str(&row);
            rows.push('\n');
        }
    }
    writeln!(
        report,
        "\nEach round: {} full polls (limit 1,000, following `next`) per build, then the first page (limit 100) at {:?} connections, {:.1} s each. Server CPU is user + system from `/proc/PID/stat` (10 ms ticks), counted until the server has been idle for 300 ms; per first page it is divided by the answers counted in the window (answers in flight at its end are not counted, so it is slightly high for both).\n",
        args.polls, args.conns, args.duration
    )?;
    writeln!(
        report,
        "| round | build | poll s (each) | server CPU s / poll | poll obj/s (median) |{}\n| ---: | --- | --- | ---: | ---: |{}\n{rows}",
        args.conns
            .iter()
            .map(|c| format!(" {c} conns: p50 ms | p99 ms | req/s | CPU µs / page | errors |"))
            .collect::<String>(),
        " ---: | ---: | ---: | ---: | ---: |".repeat(args.conns.len())
    )?;
    let (a, b) = (&samples[0], &samples[1]);
    let line = |name: &str, x: &[f64], y: &[f64], prec: usize| -> String {
        let (mx, my) = (median(x), median(y));
        format!(
            "| {name} | {mx:.prec$} | {my:.prec$} | {:.3} | {:.prec$} to {:.prec$} | {:.prec$} to {:.prec$} |\n",
            my / mx,
            x.iter().copied().fold(f64::INFINITY, f64::min),
            x.iter().copied().fold(0.0, f64::max),
            y.iter().copied().fold(f64::INFINITY, f64::min),
            y.iter().copied().fold(0.0, f64::max),
        )
    };
    writeln!(
        report,
        "Medians ({} rounds):\n\n| measure | {} | {} | {} / {} | {} range | {} range |\n| --- | ---: | ---: | ---: | --- | --- |",
        args.rounds, args.pair.a_label, args.pair.b_label, args.pair.b_label, args.pair.a_label, args.pair.a_label, args.pair.b_label
    )?;
    report.push_str(&line("full poll, s", &a.poll_secs, &b.poll_secs, 3));
    report.push_str(&line(
        "server CPU per full poll, s",
        &a.poll_cpu,
        &b.poll_cpu,
        3,
    ));
    for (j, c) in args.conns.iter().enumerate() {
        report.push_str(&line(
            &format!("first page p50 at {c} conns, ms"),
            &a.p50_ms[j],
            &b.p50_ms[j],
            2,
        ));
        report.push_str(&line(
            &format!("first page p99 at {c} conns, ms"),
            &a.p99_ms[j],
            &b.p99_ms[j],
            2,
        ));
        report.push_str(&line(
            &format!("first pages/s at {c} conns"),
            &a.rps[j],
            &b.rps[j],
            0,
        ));
        report.push_str(&line(
            &format!("server CPU per first page at {c} conns, µs"),
            &a.page_cpu_us[j],
            &b.page_cpu_us[j],
            0,
        ));
    }
    for (i, (label, server, _)) in running.iter().enumerate() {
        // The SQLite files (database, WAL) after every poll and page of the run.
        let mut bytes = 0;
        for ext in ["db", "db-wal"] {
            bytes +=
                std::fs::metadata(tmp.path().join(format!("ab{i}.{ext}"))).map_or(0, |m| m.len());
        }
        writeln!(
            report,
            "\n{label}: peak RSS {} MB; database and WAL at the end {:.1} MB",
            server.proc.peak_rss_kib().unwrap_or(0) / 1024,
            bytes as f64 / 1e6
        )?;
    }
    println!("\n{report}");
    if let Some(out) = &args.out {
        std::fs::write(out, &report)?;
    }
    for (_, server, _) in running {
        server.stop().await;
    }
    Ok(())
}
