//! `validate`: single-threaded throughput of `cairn::stix::Validator::check` on a generated corpus,
//! side by side with the OASIS `stix2-validator` on the same objects.

use crate::corpus::{self, Corpus, Level, Markings};
use crate::stats::median;
use anyhow::{bail, Context};
use cairn::stix::Validator;
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The targets.
const TARGET_PER_CORE: f64 = 30_000.0;
const TARGET_RATIO: f64 = 50.0;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Objects in the generated corpus.
    #[arg(long, default_value_t = 20_000)]
    pub objects: usize,
    /// Seed of the corpus (the same seed gives the same objects).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Timed passes over the corpus; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
    /// Python with stix2-validator (default: $CAIRN_BENCH_PYTHON, else .venv/bin/python).
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// Seconds stix2-validator may take before it stops on a random subset.
    #[arg(long, default_value_t = 60.0)]
    pub python_budget: f64,
    /// The smallest subset stix2-validator is measured on.
    #[arg(long, default_value_t = 2000)]
    pub python_min_objects: usize,
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ is inside the workspace")
        .to_owned()
}

fn python(args: &Args) -> PathBuf {
    if let Some(p) = &args.python {
        return p.clone();
    }
    if let Some(p) = std::env::var_os("CAIRN_BENCH_PYTHON") {
        return p.into();
    }
    workspace_root().join(".venv/bin/python")
}

/// How the corpus is marked, in one line.
fn marking_summary(objects: &[Value]) -> String {
    let (mut tlp1, mut tlp2, mut unmarked, mut granular) = (0, 0, 0, 0);
    let mut levels: BTreeMap<Level, usize> = BTreeMap::new();
    for o in objects {
        match o["object_marking_refs"].as_array() {
            None => unmarked += 1,
            Some(refs) => {
                for r in refs.iter().filter_map(Value::as_str) {
                    if corpus::level_of(r).is_some() {
                        if [
                            "marking-definition--613f2e26",
                            "marking-definition--34098fce",
                            "marking-definition--f88d31f6",
                            "marking-definition--5e57c739",
                        ]
                        .iter()
                        .any(|p| r.starts_with(p))
                        {
                            tlp1 += 1;
                        } else {
                            tlp2 += 1;
                        }
                    }
                }
            }
        }
        if o.get("granular_markings").is_some() {
            granular += 1;
        }
        if let Some(l) = corpus::object_level(o) {
            *levels.entry(l).or_default() += 1;
        }
    }
    let levels: Vec<String> = levels.iter().map(|(l, n)| format!("{l:?} {n}")).collect();
    format!(
        "TLP 2.0 ids {tlp2}, TLP 1.0 ids {tlp1}, unmarked {unmarked}, granular {granular}; effective TLP: {}",
        levels.join(", ")
    )
}

#[derive(Debug)]
struct PyResult {
    validator: String,
    python: String,
    total: usize,
    validated: usize,
    seconds: f64,
    rate: f64,
    accepted: usize,
    rejected: Vec<Value>,
}

fn run_python(args: &Args, lines: &[String]) -> anyhow::Result<PyResult> {
    let mut file = tempfile::Builder::new()
        .prefix("cairn-bench-")
        .suffix(".jsonl")
        .tempfile()?;
    {
        let mut w = std::io::BufWriter::new(file.as_file_mut());
        for l in lines {
            w.write_all(l.as_bytes())?;
            w.write_all(b"\n")?;
        }
        w.flush()?;
    }
    let py = python(args);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("stix2_validator_throughput.py");
    let out = std::process::Command::new(&py)
        .arg(&script)
        .arg(file.path())
        .arg("--budget")
        .arg(args.python_budget.to_string())
        .arg("--min-objects")
        .arg(args.python_min_objects.to_string())
        .arg("--seed")
        .arg(args.seed.to_string())
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| {
            format!(
                "running {} (create it with scripts/test, or set CAIRN_BENCH_PYTHON)",
                py.display()
            )
        })?;
    if !out.status.success() {
        bail!(
            "{} {} failed: {}",
            py.display(),
            script.display(),
            out.status
        );
    }
    let v: Value = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "the script's output is not JSON: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })?;
    let num = |k: &str| v[k].as_f64().unwrap_or(0.0);
    Ok(PyResult {
        validator: v["validator"].as_str().unwrap_or("?").to_owned(),
        python: v["python"].as_str().unwrap_or("?").to_owned(),
        total: num("total") as usize,
        validated: num("validated") as usize,
        seconds: num("seconds"),
        rate: num("objects_per_second"),
        accepted: num("accepted") as usize,
        rejected: v["rejected"].as_array().cloned().unwrap_or_default(),
    })
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn fmt_rate(r: f64) -> String {
    let s = format!("{:.0}", r);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Times `f` over every item, `reps` times; the median pass in seconds.
fn median_pass<T>(items: &[T], reps: usize, mut f: impl FnMut(usize, &T)) -> f64 {
    let mut secs = vec![];
    for _ in 0..reps {
        let t = Instant::now();
        for (i, x) in items.iter().enumerate() {
            f(i, x);
        }
        secs.push(t.elapsed().as_secs_f64());
    }
    median(&secs)
}

/// Where one pass of `check` spends its time, from the public steps it is made of.
fn breakdown(raws: &[Box<RawValue>], validator: &Validator, total_secs: f64) -> anyhow::Result<()> {
    let n = raws.len();
    let values: Vec<Value> = raws
        .iter()
        .map(|r| serde_json::from_str(r.get()))
        .collect::<Result<_, _>>()?;
    let schemas = cairn::stix::schema::Schemas::load()?;
    let reps = 3;
    let parse = median_pass(raws, reps, |_, r| {
        black_box(serde_json::from_str::<Value>(black_box(r.get())).ok());
    });
    let schema = median_pass(&values, reps, |_, v| {
        black_box(schemas.check(black_box(v)));
    });
    let rules = median_pass(&values, reps, |_, v| {
        if let Value::Object(m) = v {
            black_box(cairn::stix::rules::check(black_box(m)));
        }
    });
    let pattern = median_pass(&values, reps, |_, v| {
        if v["pattern_type"].as_str() == Some("stix") {
            if let Some(p) = v["pattern"].as_str() {
                black_box(cairn::stix::pattern::check(black_box(p), "/pattern"));
            }
        }
    });
    let problems = median_pass(&values, reps, |_, v| {
        black_box(validator.problems(black_box(v)));
    });
    println!();
    println!("Where one pass of Validator::check goes (median of {reps} passes of each step alone, 1 thread):");
    println!("| step | s per pass | us per object | share of check |");
    println!("| --- | ---: | ---: | ---: |");
    let row = |name: &str, s: f64| {
        println!(
            "| {name} | {s:.3} | {:.1} | {:.0}% |",
            s * 1e6 / n as f64,
            100.0 * s / total_secs
        )
    };
    row("parse JSON (serde_json::Value)", parse);
    row("JSON Schemas (schema::Schemas::check)", schema);
    row("rules (rules::check)", rules);
    row("STIX patterns (pattern::check, indicators)", pattern);
    row("problems() = schemas + rules + patterns + sort", problems);
    row("check() total", total_secs);

    // Per type: the full check, timed object by object (the clock adds ~50 ns per object).
    let mut per_type: BTreeMap<String, (usize, Duration)> = BTreeMap::new();
    for (i, r) in raws.iter().enumerate() {
        let t = Instant::now();
        black_box(validator.check(black_box(r.get()), i).is_ok());
        let d = t.elapsed();
        let e = per_type
            .entry(values[i]["type"].as_str().unwrap_or("?").to_owned())
            .or_default();
        e.0 += 1;
        e.1 += d;
    }
    let all: Duration = per_type.values().map(|(_, d)| *d).sum();
    let mut rows: Vec<_> = per_type.into_iter().collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.1 .1));
    println!();
    println!("check() by object type (one pass, each object timed):");
    println!("| type | objects | us per object | share of time |");
    println!("| --- | ---: | ---: | ---: |");
    for (t, (count, d)) in rows {
        println!(
            "| {t} | {count} | {:.1} | {:.0}% |",
            d.as_secs_f64() * 1e6 / count as f64,
            100.0 * d.as_secs_f64() / all.as_secs_f64()
        );
    }
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.objects == 0 || args.reps == 0 {
        bail!("--objects and --reps must be positive");
    }
    let t = Instant::now();
    let corpus = Corpus::generate(args.seed, args.objects, Markings::Mixed);
    let lines: Vec<String> = corpus
        .objects
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<_, _>>()?;
    let raws: Vec<Box<RawValue>> = lines
        .iter()
        .map(|l| RawValue::from_string(l.clone()))
        .collect::<Result<_, _>>()?;
    let bytes: usize = lines.iter().map(String::len).sum();
    println!(
        "corpus: {} objects, seed {}, {:.1} MB of JSON ({} bytes per object on average), generated in {:.2} s",
        args.objects,
        args.seed,
        bytes as f64 / 1e6,
        bytes / args.objects,
        t.elapsed().as_secs_f64()
    );
    let types: Vec<String> = corpus
        .type_counts()
        .iter()
        .map(|(t, n)| format!("{t} {n}"))
        .collect();
    println!("types: {}", types.join(", "));
    println!("markings: {}", marking_summary(&corpus.objects));

    let t = Instant::now();
    let validator = Validator::new()?;
    println!(
        "Validator::new (schemas compiled): {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    // The corpus must be valid, or the figures mean nothing.
    let refused: Vec<(usize, cairn::stix::Refusal)> = raws
        .iter()
        .enumerate()
        .filter_map(|(i, r)| validator.check(r.get(), i).err().map(|e| (i, e)))
        .collect();
    if !refused.is_empty() {
        for (i, r) in refused.iter().take(10) {
            eprintln!("object {i} refused: {}: {}", r.id, r.message());
            eprintln!("  {}", lines[*i]);
        }
        bail!(
            "the generated corpus must be valid, but Cairn refused {} of {} objects",
            refused.len(),
            args.objects
        );
    }
    println!("every object passes cairn::stix::Validator");

    // One untimed pass warms caches and the allocator; then the timed passes.
    for (i, r) in raws.iter().enumerate() {
        black_box(validator.check(black_box(r.get()), i).is_ok());
    }
    let mut rates = vec![];
    let mut secs = vec![];
    for _ in 0..args.reps {
        let t = Instant::now();
        let mut ok = 0usize;
        for (i, r) in raws.iter().enumerate() {
            if black_box(validator.check(black_box(r.get()), i)).is_ok() {
                ok += 1;
            }
        }
        let d = t.elapsed();
        assert_eq!(ok, args.objects);
        secs.push(d.as_secs_f64());
        rates.push(rate(args.objects, d));
    }
    let cairn_rate = median(&rates);
    let shown: Vec<String> = rates.iter().map(|r| fmt_rate(*r)).collect();
    println!(
        "Cairn Validator::check, 1 thread, {} passes: {} obj/s (median {})",
        args.reps,
        shown.join(", "),
        fmt_rate(cairn_rate)
    );
    breakdown(&raws, &validator, median(&secs))?;

    println!();
    println!(
        "running stix2-validator on the same objects (budget {} s, at least {} objects)...",
        args.python_budget, args.python_min_objects
    );
    let py = run_python(&args, &lines)?;
    if py.accepted != py.validated {
        eprintln!(
            "note: stix2-validator refused {} of the {} objects it validated, e.g.:",
            py.validated - py.accepted,
            py.validated
        );
        for r in &py.rejected {
            eprintln!("  {r}");
        }
    }
    let ratio = cairn_rate / py.rate;
    let subset = if py.validated < py.total {
        format!("{} (random subset)", py.validated)
    } else {
        py.validated.to_string()
    };

    println!();
    println!("| validator | objects | timing | objects/s |");
    println!("| --- | ---: | --- | ---: |");
    println!(
        "| Cairn `stix::Validator::check` (Rust, 1 thread) | {} | median of {} passes | {} per core |",
        args.objects,
        args.reps,
        fmt_rate(cairn_rate)
    );
    println!(
        "| {} `validate_instance` (Python {}) | {} | one pass, {:.1} s | {} |",
        py.validator,
        py.python,
        subset,
        py.seconds,
        fmt_rate(py.rate)
    );
    println!("| ratio Cairn / stix2-validator | | | {ratio:.1}x |");
    println!();
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!(
        "target >= {} obj/s per core: {} ({:.0}% of target)",
        fmt_rate(TARGET_PER_CORE),
        verdict(cairn_rate >= TARGET_PER_CORE),
        100.0 * cairn_rate / TARGET_PER_CORE
    );
    println!(
        "target >= {TARGET_RATIO:.0}x stix2-validator: {} ({ratio:.1}x)",
        verdict(ratio >= TARGET_RATIO)
    );
    Ok(())
}
