//! The report of `followers`: per backend, each variant's medians with the ratio to the first
//! variant, every run, and the goal judged on the `ids` variant.

use super::{Args, Run, Variant, CLIENTS, ENVELOPE, FOLLOW_CLIENTS};
use crate::stats::median;
use std::fmt::Write;
use std::time::Duration;

/// Runs of one backend, in the order they ran: each measured, or why it failed.
type Runs = Vec<Result<Run, (Variant, String)>>;

/// What the report says of the whole run besides the runs.
pub struct Facts<'a> {
    pub corpus: &'a str,
    pub distinct: usize,
    pub followed: usize,
    pub took: Duration,
}

/// The least rate of the `ids` variant against no follows (issue 21).
const GOAL: f64 = 0.8;

/// Each variant's medians over its runs.
struct Summary {
    variant: Variant,
    runs: usize,
    follows: usize,
    rate: f64,
    cpu: f64,
    bytes: f64,
    notifications: f64,
    told: f64,
    follow_secs: f64,
}

fn summarise(variant: Variant, runs: &[&Run]) -> Summary {
    let med = |f: &dyn Fn(&Run) -> f64| median(&runs.iter().map(|r| f(r)).collect::<Vec<_>>());
    Summary {
        variant,
        runs: runs.len(),
        follows: runs[0].follows,
        rate: med(&Run::rate),
        cpu: med(&|r| r.cpu_us_per_object),
        bytes: med(&Run::db_bytes_per_object),
        notifications: med(&|r| r.notifications as f64),
        told: med(&|r| r.told as f64),
        follow_secs: med(&|r| r.follow_secs),
    }
}

/// The ratio of a variant's rate to the base's within each round both ran in, and their median:
/// the two ran minutes apart, so the machine's slower hours fall on both.
fn paired_ratio(runs: &[&Run], variant: Variant, base: Variant) -> Option<f64> {
    let ratios: Vec<f64> = runs
        .iter()
        .filter(|r| r.variant == variant)
        .filter_map(|r| {
            runs.iter()
                .find(|b| b.variant == base && b.round == r.round)
                .map(|b| r.rate() / b.rate())
        })
        .collect();
    (!ratios.is_empty()).then(|| median(&ratios))
}

fn table(out: &mut String, args: &Args, label: &str, runs: &Runs) {
    let _ = writeln!(out, "\n## {label}\n");
    for r in runs {
        if let Err((v, e)) = r {
            let _ = writeln!(out, "- FAILED ({}): {e}", v.label());
        }
    }
    let ok: Vec<&Run> = runs.iter().filter_map(|r| r.as_ref().ok()).collect();
    let summaries: Vec<Summary> = args
        .variants
        .iter()
        .filter_map(|v| {
            let mine: Vec<&Run> = ok.iter().copied().filter(|r| r.variant == *v).collect();
            (!mine.is_empty()).then(|| summarise(*v, &mine))
        })
        .collect();
    let Some(base) = summaries.first() else {
        return;
    };
    let _ = writeln!(
        out,
        "Medians over the runs; × is the variant's median rate over that of {} (and, in brackets, the median of the per-round ratios).\n",
        base.variant.label()
    );
    let _ = writeln!(out, "| variant | follows | ingest objects/s | × | server CPU µs/object | DB bytes/object | notifications written | users told | creating the follows, s | runs |");
    let _ = writeln!(
        out,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for s in &summaries {
        let paired = paired_ratio(&ok, s.variant, base.variant)
            .map_or(String::new(), |p| format!(" (×{p:.2})"));
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | ×{:.2}{paired} | {:.0} | {:.0} | {:.0} | {:.0} | {:.1} | {} |",
            s.variant.label(),
            s.follows,
            s.rate,
            s.rate / base.rate,
            s.cpu,
            s.bytes,
            s.notifications,
            s.told,
            s.follow_secs,
            s.runs
        );
    }
    let _ = writeln!(out, "\nEvery run, in the order they ran:\n");
    let _ = writeln!(
        out,
        "| round | variant | ingest s | objects/s | CPU µs/object | DB bytes/object | notifications |"
    );
    let _ = writeln!(out, "| ---: | --- | ---: | ---: | ---: | ---: | ---: |");
    for r in &ok {
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} | {:.0} | {:.0} | {:.0} | {} |",
            r.round + 1,
            r.variant.label(),
            r.ingest_secs,
            r.rate(),
            r.cpu_us_per_object,
            r.db_bytes_per_object(),
            r.notifications
        );
    }
    let ids = summaries.iter().find(|s| s.variant == Variant::Ids);
    let none = summaries.iter().find(|s| s.variant == Variant::None);
    if let (Some(ids), Some(none)) = (ids, none) {
        let ratio = ids.rate / none.rate;
        let verdict = if ratio >= GOAL { "met" } else { "**not met**" };
        let _ = writeln!(
            out,
            "\nIssue 21's goal: ingest with follows on 1% of the ids at least ×{GOAL} of the rate without: ×{ratio:.2}, {verdict}."
        );
    }
}

pub fn render(args: &Args, facts: &Facts, tables: &[(&str, Runs)]) -> String {
    let mut out =
        crate::members::report::header("cairn-bench followers: what follows cost during ingest");
    let _ = writeln!(out, "- corpus: {}", facts.corpus);
    let _ = writeln!(
        out,
        "- each run: a fresh Cairn process (default config), one community, partner `producer` (contributor) and {} reader partners with one user each, all capped at AMBER (one stream class). The follows are created over HTTP (`POST /{{root}}/follows/`, {FOLLOW_CLIENTS} clients) before the ingest, the followed objects not yet stored; then the producer posts the {} objects, {CLIENTS} clients, envelopes of {ENVELOPE}, each until its status is complete (timed).",
        args.readers, args.objects
    );
    let _ = writeln!(
        out,
        "- followed ids: {} ({:.1}% of the {} objects posted; {} distinct ids), evenly spaced over the corpus in posting order; reader i follows {} consecutive ones from i × {}, so each has about {} followers. A follow also matches what references its id (relationships, sightings, reports).",
        facts.followed,
        facts.followed as f64 * 100.0 / args.objects as f64,
        args.objects,
        facts.distinct,
        args.follows_per_user,
        args.follows_per_user,
        (args.readers * args.follows_per_user).div_ceil(facts.followed.max(1))
    );
    let _ = writeln!(out, "- variants: {}; `follows on absent ids` has as many follows on ids the corpus never holds (the lookup, nothing to tell); `1% of ids + collection followers` adds {} readers following the whole collection", args.variants.iter().map(|v| format!("`{}`", v.label())).collect::<Vec<_>>().join(", "), args.collection_followers);
    let _ = writeln!(out, "- measured over the ingest: objects/s; the server process's CPU (utime + stime, all threads); the store's growth (SQLite file and WAL after a checkpoint, or `pg_database_size`); then the rows of `notifications`. No webhooks are configured.");
    let _ = writeln!(
        out,
        "- {} round(s), each variant on a fresh server every round, each round starting one variant later; whole run {:.0} s",
        args.rounds.max(1),
        facts.took.as_secs_f64()
    );
    for (label, runs) in tables {
        table(&mut out, args, label, runs);
    }
    out
}
