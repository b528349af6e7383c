//! The report: one markdown table, every server side by side, the ratios and the targets.

use super::http::CellStats;
use super::{Args, Column, Endpoint, Outcome, ServerResult, SizeResult, CONNS, INGESTS};
use std::collections::BTreeSet;
use std::fmt::Write;

/// What one row shows.
#[derive(Debug, Clone, Copy)]
enum Metric {
    Ingest(usize),
    Poll,
    Cell(Endpoint, usize, Stat),
    Rss,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stat {
    P50,
    P99,
    Rps,
}

/// A target, judged on a Cairn column's value.
#[derive(Debug, Clone, Copy)]
enum Target {
    AtLeast(f64),
    Below(f64),
    /// At least nginx's value divided by this.
    WithinNginx(f64),
}

/// A row: its label, what it shows and its target (as shown, and as judged).
type Row = (String, Metric, Option<(String, Target)>);

/// The value a server measured, or why there is none.
enum Got {
    Value(f64),
    Missing(&'static str),
}

fn value(r: &ServerResult, m: Metric) -> Got {
    fn from<T>(o: Option<&Outcome<T>>, f: impl Fn(&T) -> f64) -> Got {
        match o {
            None => Got::Missing("—"),
            Some(Outcome::Ok(t)) => Got::Value(f(t)),
            Some(Outcome::Skipped(_)) => Got::Missing("not measured"),
            Some(Outcome::Failed(_)) => Got::Missing("FAILED"),
        }
    }
    match m {
        Metric::Ingest(i) => from(r.ingest.get(&i), |s| s.rate()),
        Metric::Poll => from(r.poll.as_ref(), |s| s.rate()),
        Metric::Cell(e, c, stat) => from(r.cells.get(&(e, c)), |s: &CellStats| match stat {
            Stat::P50 => s.p50_ms,
            Stat::P99 => s.p99_ms,
            Stat::Rps => s.rps,
        }),
        Metric::Rss => match r.peak_rss_kib {
            Some(k) => Got::Value(k as f64 * 1024.0 / 1e6),
            None => Got::Missing("—"),
        },
    }
}

/// 12,345 / 12.3 / 1.23, as suits the magnitude.
fn num(v: f64) -> String {
    if v >= 100.0 {
        let s = format!("{:.0}", v);
        let mut out = String::new();
        for (i, ch) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        out
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn ratio(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}×")
    } else if v >= 10.0 {
        format!("{v:.1}×")
    } else if v >= 0.01 {
        format!("{v:.2}×")
    } else {
        format!("{v:.4}×")
    }
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**not met**"
    }
}

fn cpu_and_memory() -> String {
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map(|k| format!("{:.0} GiB memory", k / 1024.0 / 1024.0))
        .unwrap_or_default();
    format!(
        "{}, {} cores, {mem}",
        crate::cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    )
}

/// The commit the run was built from, and whether the server's sources had uncommitted changes
/// (from git in the repository this bench was built in; "unknown" without it).
fn source_state() -> String {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let Some(commit) = git(&["rev-parse", "--short", "HEAD"]) else {
        return "commit unknown".into();
    };
    let dirty = git(&[
        "status",
        "--porcelain",
        "--",
        "src",
        "migrations",
        "Cargo.toml",
        "Cargo.lock",
    ])
    .is_some_and(|s| !s.is_empty());
    if dirty {
        format!("commit {commit}; the working tree had uncommitted changes to the server's sources at the end of the run (the binary is built from the working tree)")
    } else {
        format!("commit {commit}")
    }
}

fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// A message on one line, without HTML markup runs (an nginx error page) and not too long.
fn one_line(m: &str) -> String {
    let s: String = m.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.len() > 400 {
        let mut end = 400;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s
    }
}

fn stat_label(s: Stat) -> &'static str {
    match s {
        Stat::P50 => "p50 ms",
        Stat::P99 => "p99 ms",
        Stat::Rps => "req/s",
    }
}

pub fn render(args: &Args, sizes: &[SizeResult], total_secs: f64) -> String {
    let mut columns: BTreeSet<Column> = BTreeSet::new();
    for s in sizes {
        columns.extend(s.servers.keys().copied());
    }
    let columns: Vec<Column> = columns.into_iter().collect();
    let cairns: Vec<Column> = columns.iter().copied().filter(|c| c.is_cairn()).collect();
    let tag = |c: Column| -> &'static str {
        if cairns.len() < 2 {
            ""
        } else if c == Column::CairnSqlite {
            "SQLite "
        } else {
            "PG "
        }
    };

    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Cairn, medallion and nginx side by side (`cairn-bench compare`)\n"
    );
    let _ = writeln!(out, "- date: {}; machine: {}", now_utc(), cpu_and_memory());
    let _ = writeln!(out, "- Cairn: {}", source_state());
    let _ = writeln!(
        out,
        "- corpus sizes: {} (seed {}, {:.0}% of each corpus new versions of earlier objects)",
        sizes
            .iter()
            .map(|s| num(s.objects as f64))
            .collect::<Vec<_>>()
            .join(", "),
        args.seed,
        args.versions * 100.0
    );
    for s in sizes {
        let _ = writeln!(out, "  - {}", s.summary);
    }
    let _ = writeln!(
        out,
        "- load generator: this process, {} thread(s), HTTP/1.1 keep-alive, one connection per task; it **shares the machine's {} cores with the server under test** (and, for Cairn PostgreSQL, with PostgreSQL), so every figure is for the whole machine, client included",
        args.client_threads,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let _ = writeln!(
        out,
        "- every server is a process of its own; peak RSS is its VmHWM (nginx: master and workers summed; Cairn PostgreSQL: Cairn only, not PostgreSQL) after ingest, poll and reads"
    );
    let _ = writeln!(
        out,
        "- latency is to the last body byte; load cells: {:.1} s warm-up, then {} window(s) of {:.1} s, the median of the windows' p50, p99 and req/s (slow servers get one longer window: see the notes); full poll: median of {} polls",
        args.warmup, args.rounds, args.duration, args.poll_rounds
    );
    let _ = writeln!(
        out,
        "- ingest: POST `/{{root}}/collections/{{id}}/objects/` until every status is complete; the 1-client runs and the 8-client run with envelopes of 100 ingest the first {} objects into a fresh store each, the 8-client run with envelopes of 1,000 ingests the whole corpus into the store every read below is measured on",
        num(args.ingest_sample as f64)
    );
    let _ = writeln!(
        out,
        "- ratios are Cairn's figure divided by the other server's, in the row's unit: above 1 is better for obj/s and req/s, below 1 is better for ms and MB\n"
    );

    // The table.
    let mut head = String::from("| objects | measurement | target |");
    let mut rule = String::from("| ---: | --- | --- |");
    for c in &columns {
        let _ = write!(head, " {} |", c.label());
        rule += " ---: |";
    }
    let has_med = columns.contains(&Column::Medallion);
    let has_nginx = columns.contains(&Column::Nginx);
    if has_med {
        head += " Cairn / medallion |";
        rule += " ---: |";
    }
    if has_nginx {
        head += " Cairn / nginx |";
        rule += " ---: |";
    }
    head += " target met |";
    rule += " --- |";
    let _ = writeln!(out, "{head}\n{rule}");

    let mut notes: Vec<String> = vec![];
    for s in sizes {
        let mut rows: Vec<Row> = vec![];
        for (i, (clients, envelope)) in INGESTS.iter().enumerate() {
            let scope = if i == 3 {
                format!(
                    "all {} objects, fills the read store",
                    num(s.objects as f64)
                )
            } else {
                format!(
                    "first {} objects, fresh store",
                    num(args.ingest_sample.min(s.objects) as f64)
                )
            };
            let target = (i == 3).then(|| ("≥ 25,000".to_owned(), Target::AtLeast(25_000.0)));
            rows.push((
                format!(
                    "ingest obj/s, {clients} client{}, envelopes of {} ({scope})",
                    if *clients > 1 { "s" } else { "" },
                    num(*envelope as f64)
                ),
                Metric::Ingest(i),
                target,
            ));
        }
        rows.push((
            "full poll obj/s, limit 1,000 via `next`, each object checked once".into(),
            Metric::Poll,
            if s.objects >= 100_000 {
                Some(("≥ 200,000".into(), Target::AtLeast(200_000.0)))
            } else {
                None
            },
        ));
        for e in Endpoint::ALL {
            for c in CONNS {
                for st in [Stat::P50, Stat::P99, Stat::Rps] {
                    let target = match (e, c, st) {
                        (Endpoint::First, 64, Stat::P99) => {
                            Some(("< 10 ms".into(), Target::Below(10.0)))
                        }
                        (Endpoint::First, 64, Stat::Rps) => {
                            Some(("≥ nginx ÷ 3".into(), Target::WithinNginx(3.0)))
                        }
                        _ => None,
                    };
                    rows.push((
                        format!(
                            "{}, {c} conn{}, {}",
                            e.label(),
                            if c > 1 { "s" } else { "" },
                            stat_label(st)
                        ),
                        Metric::Cell(e, c, st),
                        target,
                    ));
                }
            }
        }
        rows.push((
            "peak RSS, MB".into(),
            Metric::Rss,
            Some(("< 200 MB".into(), Target::Below(200.0))),
        ));

        for (label, metric, target) in rows {
            let mut line = format!(
                "| {} | {label} | {} |",
                num(s.objects as f64),
                target.as_ref().map_or("", |t| t.0.as_str())
            );
            let mut vals: Vec<(Column, Option<f64>)> = vec![];
            for c in &columns {
                let cell = match s.servers.get(c) {
                    None => {
                        vals.push((*c, None));
                        "—".to_owned()
                    }
                    Some(r) => match value(r, metric) {
                        Got::Value(v) => {
                            vals.push((*c, Some(v)));
                            num(v)
                        }
                        Got::Missing(m) => {
                            vals.push((*c, None));
                            m.to_owned()
                        }
                    },
                };
                let _ = write!(line, " {cell} |");
            }
            let get = |c: Column| vals.iter().find(|(k, _)| *k == c).and_then(|(_, v)| *v);
            let ratios = |other: Column| -> String {
                let Some(o) = get(other) else {
                    return String::new();
                };
                cairns
                    .iter()
                    .filter_map(|&c| get(c).map(|v| format!("{}{}", tag(c), ratio(v / o))))
                    .collect::<Vec<_>>()
                    .join(" · ")
            };
            if has_med {
                let _ = write!(line, " {} |", ratios(Column::Medallion));
            }
            if has_nginx {
                let _ = write!(line, " {} |", ratios(Column::Nginx));
            }
            let verdict = match &target {
                None => String::new(),
                Some((_, t)) => cairns
                    .iter()
                    .filter_map(|&c| {
                        let v = get(c)?;
                        let ok = match t {
                            Target::AtLeast(x) => Some(v >= *x),
                            Target::Below(x) => Some(v < *x),
                            Target::WithinNginx(f) => get(Column::Nginx).map(|n| v * f >= n),
                        }?;
                        Some(format!("{}{}", tag(c), met(ok)))
                    })
                    .collect::<Vec<_>>()
                    .join(" · "),
            };
            let _ = writeln!(line, " {verdict} |");
            out += &line;
        }

        // Why cells are empty, once per server and kind of measurement.
        for (c, r) in &s.servers {
            let who = format!("{} objects, {}", num(s.objects as f64), c.label());
            for (i, o) in &r.ingest {
                let (cl, env) = INGESTS[*i];
                match o {
                    Outcome::Skipped(m) | Outcome::Failed(m) => {
                        notes.push(format!("{who}, ingest {cl}×{env}: {}", one_line(m)))
                    }
                    Outcome::Ok(st) if st.status_polls > 0 => notes.push(format!(
                        "{who}, ingest {cl}×{env}: {} status polls for pending envelopes ({:.1} s)",
                        st.status_polls, st.secs
                    )),
                    Outcome::Ok(_) => {}
                }
            }
            if let Some(Outcome::Skipped(m) | Outcome::Failed(m)) = &r.poll {
                notes.push(format!("{who}, full poll: {}", one_line(m)));
            }
            // The same reason at several connection counts is told once.
            let mut why: Vec<(Endpoint, String, Vec<usize>)> = vec![];
            for ((e, conns), o) in &r.cells {
                if let Outcome::Skipped(m) | Outcome::Failed(m) = o {
                    let m = one_line(m);
                    match why.iter_mut().find(|(we, wm, _)| we == e && *wm == m) {
                        Some(w) => w.2.push(*conns),
                        None => why.push((*e, m, vec![*conns])),
                    }
                }
            }
            for (e, m, conns) in why {
                let conns: Vec<String> = conns.iter().map(usize::to_string).collect();
                notes.push(format!(
                    "{who}, {} at {} conn(s): {m}",
                    e.label(),
                    conns.join("/")
                ));
            }
            for ((e, conns), o) in &r.cells {
                if let Outcome::Ok(st) = o {
                    if st.rounds == 1 && st.window.as_secs_f64() > args.duration + 1e-9 {
                        notes.push(format!(
                            "{who}, {} at {conns} conn(s): slow, so one window of {:.1} s ({} answers)",
                            e.label(),
                            st.window.as_secs_f64(),
                            st.n
                        ));
                    }
                }
            }
            if let Some(Outcome::Ok(p)) = &r.poll {
                notes.push(format!(
                    "{who}, full poll: {} objects in {} pages, every posted object exactly once at its latest version{}; median of {} polls {:.2} s",
                    num(p.objects as f64),
                    p.pages,
                    if p.builtins > 0 {
                        format!(" (+{} built-in TLP 2.0 definitions)", p.builtins)
                    } else {
                        String::new()
                    },
                    p.rounds,
                    p.secs
                ));
            }
            for (e, p) in &r.probes {
                notes.push(format!("{who}, {}: {p}", e.label()));
            }
            for n in &r.notes {
                notes.push(format!("{who}: {n}"));
            }
            notes.push(format!("{who}: measured in {:.0} s", r.wall_secs));
        }
        notes.push(format!(
            "{} objects: the object read by id has {} versions; the whole size took {:.0} s",
            num(s.objects as f64),
            s.by_id_versions,
            s.secs
        ));
    }

    // Latency at the largest size against 10,000 objects.
    let base = sizes.iter().find(|s| s.objects == 10_000);
    let largest = sizes.iter().max_by_key(|s| s.objects);
    if let (Some(b), Some(l)) = (base, largest) {
        if l.objects > b.objects {
            for e in [Endpoint::First, Endpoint::Deep] {
                for st in [Stat::P50, Stat::P99] {
                    let mut line = format!(
                        "| {} ÷ {} | {}, 1 conn, {} | ≤ 1.5× |",
                        num(l.objects as f64),
                        num(b.objects as f64),
                        e.label(),
                        stat_label(st)
                    );
                    let mut verdict = vec![];
                    for c in &columns {
                        let r = |s: &SizeResult| {
                            s.servers
                                .get(c)
                                .and_then(|r| match value(r, Metric::Cell(e, 1, st)) {
                                    Got::Value(v) => Some(v),
                                    Got::Missing(_) => None,
                                })
                        };
                        match (r(l), r(b)) {
                            (Some(x), Some(y)) if c.is_cairn() => {
                                let q = x / y;
                                let _ = write!(line, " {} |", ratio(q));
                                verdict.push(format!("{}{}", tag(*c), met(q <= 1.5)));
                            }
                            (Some(x), Some(y)) => {
                                let _ = write!(line, " {} |", ratio(x / y));
                            }
                            _ => line += " — |",
                        }
                    }
                    if has_med {
                        line += " |";
                    }
                    if has_nginx {
                        line += " |";
                    }
                    let _ = writeln!(line, " {} |", verdict.join(" · "));
                    out += &line;
                }
            }
        }
    }

    let _ = writeln!(out, "\nNotes:\n");
    for n in notes {
        let _ = writeln!(out, "- {n}");
    }
    let _ = writeln!(out, "\nThe whole run took {:.0} s.", total_secs);
    out
}
