//! The report of `members`: one table per backend with ratios against the smallest size, the
//! details of `cairn apply` and of the pages, and issue 19's goals judged at the largest size.

use super::{ApplyStat, Args, PageStat, Row, CLIENTS, ENVELOPE, PAGE};
use std::fmt::Write;
use std::time::Duration;

/// Rows of one backend: each size measured, or why it failed.
type Rows = Vec<Result<Row, String>>;

/// `value (×ratio)` against the base row's value.
fn with_ratio(v: f64, base: f64, decimals: usize) -> String {
    if base > 0.0 && v > 0.0 {
        format!("{v:.decimals$} (×{:.2})", v / base)
    } else {
        format!("{v:.decimals$}")
    }
}

fn secs(s: Option<f64>) -> String {
    s.map_or("killed (timeout)".into(), |s| format!("{s:.2}"))
}

fn apply_cell(a: &ApplyStat, base: &ApplyStat) -> String {
    match (a.secs, base.secs) {
        (Some(s), Some(b)) => with_ratio(s, b, 2),
        (s, _) => secs(s),
    }
}

fn main_row(r: &Row, b: &Row) -> String {
    let page = |p: &[PageStat; 2], q: &[PageStat; 2]| {
        format!(
            "{} / {}",
            with_ratio(p[0].p50_ms, q[0].p50_ms, 1),
            with_ratio(p[1].p50_ms, q[1].p50_ms, 1)
        )
    };
    format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} |",
        r.members,
        with_ratio(r.ingest_rate(), b.ingest_rate(), 0),
        with_ratio(r.cpu_us_per_object, b.cpu_us_per_object, 0),
        with_ratio(r.db_bytes_per_object(), b.db_bytes_per_object(), 0),
        page(&r.first, &b.first),
        page(&r.deep, &b.deep),
        apply_cell(&r.add, &b.add),
        apply_cell(&r.raise, &b.raise),
    )
}

fn detail_row(r: &Row) -> String {
    let per = |a: &ApplyStat| a.us_per_object().map_or("—".into(), |u| format!("{u:.0}"));
    format!(
        "| {} | {:.1} | {:.1} | {} | {} | {} | {} | {} | {} | {} |",
        r.members,
        r.ingest_secs,
        r.db_bytes as f64 / 1e6,
        r.add.newly,
        secs(r.add.secs),
        per(&r.add),
        r.raise.newly,
        secs(r.raise.secs),
        per(&r.raise),
        r.noop_secs.map_or("—".into(), |s| format!("{s:.2}")),
    )
}

fn pages_row(r: &Row) -> String {
    let p = |s: &PageStat| {
        format!(
            "{} obj, {:.0} KB, {} samples",
            s.objects,
            s.bytes as f64 / 1e3,
            s.samples
        )
    };
    format!(
        "| {} | {} | {} | {} | {} | {:.0} |",
        r.members,
        p(&r.first[0]),
        p(&r.first[1]),
        p(&r.deep[0]),
        p(&r.deep[1]),
        r.wall_secs
    )
}

/// One goal: the ratio measured and whether it is within the bound.
fn goal(out: &mut String, what: &str, ratio: Option<f64>, bound: f64, at_least: bool) {
    let verdict = match ratio {
        None => "not measured".to_owned(),
        Some(r) if (at_least && r >= bound) || (!at_least && r <= bound) => format!("×{r:.2}: met"),
        Some(r) => format!("×{r:.2}: **not met**"),
    };
    let sign = if at_least { "≥" } else { "≤" };
    let _ = writeln!(out, "- {what} {sign} ×{bound}: {verdict}");
}

fn goals(out: &mut String, big: &Row, base: &Row) {
    let _ = writeln!(
        out,
        "\nIssue 19's goals at {} readers, against {}:\n",
        big.members, base.members
    );
    let ratio = |a: f64, b: f64| (a > 0.0 && b > 0.0).then(|| a / b);
    goal(
        out,
        "ingest objects/s",
        ratio(big.ingest_rate(), base.ingest_rate()),
        0.5,
        true,
    );
    let db = ratio(big.db_bytes_per_object(), base.db_bytes_per_object());
    goal(out, "database bytes per object", db, 1.5, false);
    for (i, who) in ["AMBER reader", "GREEN reader"].iter().enumerate() {
        let first = ratio(big.first[i].p50_ms, base.first[i].p50_ms);
        goal(out, &format!("first page p50, {who}"), first, 1.5, false);
        let deep = ratio(big.deep[i].p50_ms, base.deep[i].p50_ms);
        goal(out, &format!("deep page p50, {who}"), deep, 1.5, false);
    }
    // Proportional to what the one reader gets: the same time per version it newly receives.
    for (what, a, b) in [
        ("add one member", &big.add, &base.add),
        ("raise one cap", &big.raise, &base.raise),
    ] {
        let r = a.us_per_object().zip(b.us_per_object()).map(|(x, y)| x / y);
        goal(
            out,
            &format!("`cairn apply` {what}: time per version newly received"),
            r,
            1.5,
            false,
        );
    }
}

fn table(out: &mut String, label: &str, rows: &Rows) {
    let _ = writeln!(out, "\n## {label}\n");
    let ok: Vec<&Row> = rows.iter().filter_map(|r| r.as_ref().ok()).collect();
    for r in rows {
        if let Err(e) = r {
            let _ = writeln!(out, "- FAILED: {e}");
        }
    }
    let Some(base) = ok.first() else {
        return;
    };
    let _ = writeln!(
        out,
        "Ratios (×) are against the {}-reader row. Page times in ms, AMBER reader / GREEN reader; `cairn apply` in seconds.\n",
        base.members
    );
    let _ = writeln!(out, "| members | ingest obj/s | CPU µs/obj | DB bytes/obj | first page p50 AMBER / GREEN | deep page p50 AMBER / GREEN | apply add member s | apply raise cap s |");
    let _ = writeln!(
        out,
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for r in &ok {
        let _ = writeln!(out, "{}", main_row(r, base));
    }
    let _ = writeln!(out, "\n`cairn apply` in detail (versions counted in the reader's manifest, `match[version]=all`):\n");
    let _ = writeln!(out, "| members | ingest s | DB MB | add: versions the newcomer got | add s | add µs/version | raise: versions GREEN newly got | raise s | raise µs/version | apply, no change, s |");
    let _ = writeln!(
        out,
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for r in &ok {
        let _ = writeln!(out, "{}", detail_row(r));
    }
    let _ = writeln!(out, "\nPages (objects and bytes on the page, timed requests over all rounds) and one round's wall time:\n");
    let _ = writeln!(
        out,
        "| members | first, AMBER | first, GREEN | deep, AMBER | deep, GREEN | size's wall s |"
    );
    let _ = writeln!(out, "| ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in &ok {
        let _ = writeln!(out, "{}", pages_row(r));
    }
    if let Some(big) = ok.last().filter(|b| b.members != base.members) {
        goals(out, big, base);
    }
}

fn git(args: &[&str]) -> String {
    std::process::Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// A report's title and the lines every report starts with: command, commit, date, machine.
pub(crate) fn header(title: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {title}\n");
    let command: Vec<String> = std::env::args().collect();
    let _ = writeln!(out, "- command: `{}`", command.join(" "));
    let _ = writeln!(
        out,
        "- commit: {}",
        git(&["describe", "--always", "--dirty", "--abbrev=12"])
    );
    let _ = writeln!(out, "- date: {}", cairn::clock::Clock::system().now());
    let _ = writeln!(
        out,
        "- machine: {} cores shared with other work; the client runs on it too",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    out
}

pub fn render(args: &Args, corpus: &str, tables: &[(&str, Rows)], took: Duration) -> String {
    let mut out = header("cairn-bench members: what each member of a community costs");
    let _ = writeln!(out, "- corpus: {corpus}");
    let _ = writeln!(
        out,
        "- each size: a fresh Cairn process (default config), one community (backlog on), one producer (contributor) and N readers with one user each: N-1 capped at AMBER, one at GREEN. The producer posts {} objects, {CLIENTS} clients, envelopes of {ENVELOPE}. Pages: limit {PAGE}, the deep one with `added_after` the `date_added` at 90% of the reader's own manifest; {} timed requests per series after 2 untimed, the four series interleaved on one connection.",
        args.objects, args.requests
    );
    let _ = writeln!(out, "- then `cairn apply` (the release binary, a process of its own, the server still running) adds member `newcomer` (AMBER), then raises the GREEN reader to AMBER, then runs once more with nothing to change");
    let _ = writeln!(
        out,
        "- {} round(s): the sizes take turns, each on a fresh server every round; every figure below is the median over the rounds",
        args.rounds.max(1)
    );
    let _ = writeln!(out, "- whole run: {:.0} s", took.as_secs_f64());
    for (label, rows) in tables {
        table(&mut out, label, rows);
    }
    out
}
