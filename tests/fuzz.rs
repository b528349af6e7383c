//! Fuzzing on the stable toolchain: each parser and checker of outside input is fed mutated
//! inputs, grown from seeds with a dictionary of its own tokens, and must answer every one
//! without panicking. A stack overflow aborts the process instead, so each input is written to
//! `target/fuzz/<target>.last` before it runs: after an abort, that file is the reproducer.
//!
//! The test command runs a short pass (`CAIRN_FUZZ_ITERATIONS`, default 1,500 per target). A
//! long run, one target at a time, in release mode:
//!
//! ```sh
//! CAIRN_FUZZ_SECONDS=1800 CAIRN_FUZZ_TARGET=pattern cargo test --release --test fuzz -- --nocapture
//! ```
//!
//! `CAIRN_FUZZ_SEED` repeats a run. Every crash found is kept under `tests/fuzz/<target>/` and
//! replayed by every run before the mutations, after the hostile probes that once crashed or
//! starved the server.

use cairn::stix::{self, pattern, Validator};
use cairn::taxii::cursor::{CursorKey, Listing, Position};
use cairn::taxii::query::{Endpoint, Limits, Query};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Inputs past this size are cut: every checker bounds its input well below it.
const MAX_INPUT: usize = 1 << 20;

struct Target {
    name: &'static str,
    seeds: Vec<String>,
    dictionary: &'static [&'static str],
    run: Box<dyn Fn(&str)>,
}

fn pattern_target() -> Target {
    let mut seeds: Vec<String> = [
        "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
        "([ipv4-addr:value = '198.51.100.1/32' OR ipv6-addr:value = '2001:db8::1/128'] FOLLOWEDBY [domain-name:value = 'example.com']) WITHIN 600 SECONDS",
        "[file:name = 'a'] START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00Z'",
        "[process:name IN ('a', 'b') AND process:pid > 4] REPEATS 5 TIMES",
        r"[email-message:from_ref.value MATCHES '.+\\@example\\.com$']",
        "[artifact:payload_bin = b'dGhpcw==' OR file:magic_number_hex = h'ffd8']",
        "[NOT EXISTS windows-registry-key:values[*].name]",
    ]
    .map(String::from)
    .to_vec();
    seeds.push(format!("[{}]", vec!["aaa:b=1"; 200].join(" AND ")));
    Target {
        name: "pattern",
        seeds,
        dictionary: &[
            " AND ",
            " OR ",
            " FOLLOWEDBY ",
            "(",
            ")",
            "[",
            "]",
            "'",
            "\\",
            "\\'",
            " NOT ",
            " MATCHES ",
            " LIKE ",
            " IN (",
            ",",
            " ISSUBSET ",
            " EXISTS ",
            " WITHIN 1 SECONDS",
            " REPEATS 2 TIMES",
            " START t'2016-01-01T00:00:00Z' STOP t'2017-01-01T00:00:00Z'",
            "t'",
            "h'",
            "b'",
            "9007199254740993",
            "-0.5",
            "é",
            "\u{3000}",
            "\u{0}",
            ":",
            ".",
            "[*]",
            "(?<a>x\\g<a>)",
            "{1000}",
            "\\p{L}",
            "(?=",
            "(?<!",
            "\\1",
        ],
        run: Box::new(|s| {
            let _ = pattern::parse(s);
        }),
    }
}

fn regex_target() -> Target {
    Target {
        name: "regex",
        seeds: [
            r".+\@example\.com$",
            r"^(?<y>\d{4})-\k<y>(?=x)(?<!z)[\w\p{Greek}&&[^a-f]]{2,8}?",
            r"(a|b)*?(?:c+)++(?>d)\1",
            r"\xd4\xc3\xb2\xa1",
        ]
        .map(String::from)
        .to_vec(),
        dictionary: &[
            "(",
            ")",
            "[",
            "]",
            "{",
            "}",
            "{2,1}",
            "*",
            "+",
            "?",
            "|",
            "\\",
            "\\g<a>",
            "(?<a>",
            "(?&a)",
            "(?R)",
            "\\k<a>",
            "\\p{",
            "\\P{Foo}",
            "[z-a]",
            "(?i)",
            "(?x)",
            "\\Q",
            "\\E",
            "&&",
            "^",
            "$",
            "\u{10ffff}",
        ],
        run: Box::new(|s| {
            let _ = stix::regex::problem(s);
        }),
    }
}

/// Every valid object of the STIX corpus, each in an envelope of its own.
fn corpus_envelopes() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance-tests/stix-corpus/valid");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("the STIX corpus")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| format!("{{\"objects\":[{}]}}", std::fs::read_to_string(p).unwrap()))
        .collect()
}

fn upload_target() -> Target {
    let validator = Validator::new().expect("schemas compile");
    Target {
        name: "upload",
        seeds: corpus_envelopes(),
        dictionary: &[
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\"",
            "\\u0000",
            "\\ud800",
            "null",
            "0",
            "-1e400",
            "\"id\":",
            "\"type\":\"bundle\"",
            "\"objects\":",
            "\"object_marking_refs\":[]",
            "\"created_by_ref\":\"identity--6f3e8f40-2d8e-4b5c-9a4f-0e1c2d3b4a59\"",
            "\"modified\":\"2026-13-01T00:00:00Z\"",
            "\"granular_markings\":[{\"selectors\":[\"a.[0]\"]}]",
            "\"extensions\":{\"x\":{}}",
            "\"hashes\":{\"MD5\":\"x\"}",
            "\"pattern\":\"[a:b=1]\"",
        ],
        run: Box::new(move |s| {
            if let Ok(upload) = stix::parse_upload(s) {
                for (i, raw) in upload.objects.iter().enumerate() {
                    if let Err(r) = validator.check(raw.get(), i) {
                        let _ = r.message();
                    }
                }
            }
        }),
    }
}

fn query_target() -> Target {
    let limits = Limits {
        default_page_size: 100,
        max_page_size: 1000,
    };
    Target {
        name: "query",
        seeds: [
            "added_after=2026-01-01T00:00:00.000Z&limit=5&match[type]=indicator,malware",
            "match[id]=indicator--6f3e8f40-2d8e-4b5c-9a4f-0e1c2d3b4a59&match[version]=first,last,2026-01-01T00:00:00Z",
            "match[spec_version]=2.0,2.1&next=AAAA&limit=1000",
            "match[version]=all",
        ]
        .map(String::from)
        .to_vec(),
        dictionary: &[
            "&", "=", ",", "%", "%00", "%ZZ", "+", "match[", "]", "match[type]=", "match[id]=",
            "match[version]=", "match[ref]=", "limit=", "added_after=", "next=", "-1", "99999999999999999999",
            "2026-02-30T00:00:00Z",
        ],
        run: Box::new(move |s| {
            let pairs: Vec<(String, String)> = form_urlencoded::parse(s.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            for endpoint in [Endpoint::Objects, Endpoint::Manifest, Endpoint::Delete] {
                if let Ok(q) = Query::parse(endpoint, &pairs, &limits) {
                    resumes_to_itself(endpoint, q, &limits);
                }
            }
        }),
    }
}

/// A listing's filters, carried in a token and read back by a request with the token alone,
/// are the same filters.
fn resumes_to_itself(endpoint: Endpoint, q: Query, limits: &Limits) {
    let listing = Listing::of(&q.listing());
    if !matches!(listing, Listing::Filters(_)) {
        return;
    }
    let next = [("next".to_owned(), "t".to_owned())];
    let Ok(alone) = Query::parse(endpoint, &next, limits) else {
        return; // the delete endpoint takes no next
    };
    let resumed = alone
        .resume(endpoint, &listing, limits)
        .expect("a listing resumes");
    assert_eq!(resumed.listing(), q.listing());
    assert_eq!(
        (
            resumed.ids,
            resumed.types,
            resumed.versions,
            resumed.spec_versions
        ),
        (q.ids, q.types, q.versions, q.spec_versions)
    );
    assert_eq!(resumed.added_after, q.added_after);
}

fn cursor_target() -> Target {
    let key = CursorKey::new(b"fuzzing key");
    let seeds = [
        (0, "[]"),
        (1, r#"[["match[type]","indicator"]]"#),
        (i64::MAX, ""),
        (-1, "x"),
    ]
    .map(|(d, f)| {
        key.mint(
            "user\0objects\0c",
            Position {
                date_added: cairn::stix::timestamp::Timestamp::from_micros(d),
            },
            f,
        )
    })
    .to_vec();
    Target {
        name: "cursor",
        seeds,
        dictionary: &["A", "=", "-", "_", "+", "/", "%", "é"],
        run: Box::new(move |s| {
            let _ = key.open("user\0objects\0c", s);
        }),
    }
}

fn targets() -> Vec<Target> {
    vec![
        pattern_target(),
        regex_target(),
        upload_target(),
        query_target(),
        cursor_target(),
    ]
}

/// One random change: a byte, a dictionary token, a cut, a repeated slice (which grows chains
/// and nesting), or a splice with another input.
fn mutate(rng: &mut StdRng, input: &str, t: &Target, other: &str) -> String {
    let mut b = input.as_bytes().to_vec();
    let at = |rng: &mut StdRng, len: usize| rng.gen_range(0..=len);
    match rng.gen_range(0..6) {
        0 if !b.is_empty() => {
            let i = rng.gen_range(0..b.len());
            b[i] = rng.gen();
        }
        1 => {
            let tok = t.dictionary[rng.gen_range(0..t.dictionary.len())];
            let i = at(rng, b.len());
            b.splice(i..i, tok.bytes());
        }
        2 if !b.is_empty() => {
            let i = rng.gen_range(0..b.len());
            let j = (i + rng.gen_range(1..=16)).min(b.len());
            b.drain(i..j);
        }
        3 if !b.is_empty() => {
            let i = rng.gen_range(0..b.len());
            let j = (i + rng.gen_range(1..=64)).min(b.len());
            let times = [2, 10, 100, 1000][rng.gen_range(0..4)];
            let piece = b[i..j].repeat(times);
            b.splice(j..j, piece);
        }
        4 => {
            let i = at(rng, b.len());
            let o = other.as_bytes();
            let j = at(rng, o.len());
            b.truncate(i);
            b.extend_from_slice(&o[j..]);
        }
        _ => b.truncate(at(rng, b.len())),
    }
    b.truncate(MAX_INPUT);
    String::from_utf8_lossy(&b).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{name}.last"))
}

/// Runs one input, leaving it on disk first; a panic is returned as its message.
fn attempt(t: &Target, input: &str, last: &Path) -> Result<(), String> {
    std::fs::write(last, input).unwrap();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (t.run)(input))).map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

/// The crashes kept from earlier runs, replayed first.
fn regressions(name: &str) -> Vec<(PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz")
        .join(name);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![];
    };
    entries
        .map(|e| e.unwrap().path())
        .map(|p| (p.clone(), std::fs::read_to_string(&p).unwrap()))
        .collect()
}

/// The probes that crashed or starved the server before the limits, replayed every run.
fn probes(name: &str) -> Vec<String> {
    match name {
        "pattern" => vec![
            format!("[{}]", vec!["aaa:b=1"; 44_500].join(" OR ")),
            vec!["[aaa:b=1]"; 33_600].join(" AND "),
            format!("[{}]", vec!["aaa:b=1"; 20_000].join(" AND ")),
            format!("{}[aaa:b=1]{}", "(".repeat(50_000), ")".repeat(50_000)),
        ],
        "regex" => vec![
            r"(?<a>x\g<a>\g<a>\g<a>|y)".into(),
            "([a-z]{1000}){100}".into(),
            format!("{}a{}", "(".repeat(100_000), ")".repeat(100_000)),
        ],
        "upload" => {
            let item = r#"{"type":"indicator","spec_version":"2.1","id":"indicator--6f3e8f40-2d8e-4b5c-9a4f-0e1c2d3b4a59","created":"2026-01-01T00:00:00Z","modified":"2026-01-01T00:00:00Z","pattern":"[a:b=1]","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z""#;
            let names: Vec<String> = (0..100_000).map(|i| format!("\"Bad-{i}\":1")).collect();
            vec![
                format!("{{\"objects\":[{}]}}", vec!["0"; 200_000].join(",")),
                format!(
                    "{{\"objects\":[{item},\"labels\":[{}]}}]}}",
                    vec!["0"; 100_000].join(",")
                ),
                format!("{{\"objects\":[{item},{}}}]}}", names.join(",")),
            ]
        }
        _ => vec![],
    }
}

enum Budget {
    Iterations(u64),
    Until(Instant),
}

fn budget() -> Budget {
    let var = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    match var("CAIRN_FUZZ_SECONDS") {
        Some(s) => Budget::Until(Instant::now() + Duration::from_secs(s)),
        None => Budget::Iterations(var("CAIRN_FUZZ_ITERATIONS").unwrap_or(1_500)),
    }
}

fn fuzz(t: &Target, seed: u64) -> Result<u64, String> {
    let last = scratch(t.name);
    for (path, input) in regressions(t.name) {
        attempt(t, &input, &last).map_err(|m| format!("{}: {m}", path.display()))?;
    }
    for input in probes(t.name) {
        attempt(t, &input, &last).map_err(|m| format!("{} probe: {m}", t.name))?;
    }
    let mut rng = StdRng::seed_from_u64(seed);
    // Recent mutants are mutated further, so inputs can grow over many steps.
    let mut pool: Vec<String> = t.seeds.clone();
    let budget = budget();
    let mut n = 0u64;
    let mut slowest = 0f64;
    loop {
        let done = match budget {
            Budget::Iterations(max) => n >= max,
            Budget::Until(end) => Instant::now() >= end,
        };
        if done {
            println!("{}: slowest {:.2} µs per input byte", t.name, slowest * 1e6);
            return Ok(n);
        }
        let base = &pool[rng.gen_range(0..pool.len())];
        let other = &t.seeds[rng.gen_range(0..t.seeds.len())];
        let input = mutate(&mut rng, base, t, other);
        let started = Instant::now();
        let outcome = attempt(t, &input, &last);
        // Reported, not asserted (this machine's timing is noisy): the slowest input per
        // byte (small inputs counted as 4 KiB), kept on disk for a look after a long run.
        let cost = started.elapsed().as_secs_f64() / input.len().max(4096) as f64;
        if cost > slowest {
            slowest = cost;
            std::fs::write(last.with_extension("slowest"), &input).unwrap();
        }
        outcome.map_err(|m| {
            format!(
                "{} crashed on iteration {n} (seed {seed}): {m}; input in {}",
                t.name,
                last.display()
            )
        })?;
        if pool.len() < 256 {
            pool.push(input);
        } else {
            let i = rng.gen_range(t.seeds.len()..pool.len());
            pool[i] = input;
        }
        n += 1;
    }
}

#[test]
fn no_parser_or_checker_panics_on_mutated_input() {
    let seed = std::env::var("CAIRN_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    let only = std::env::var("CAIRN_FUZZ_TARGET").ok();
    // Panics are expected and caught here; keep their reports out of the output.
    std::panic::set_hook(Box::new(|_| {}));
    let mut failures = vec![];
    for t in targets() {
        if only.as_deref().is_some_and(|o| o != t.name) {
            continue;
        }
        let started = Instant::now();
        match fuzz(&t, seed) {
            Ok(n) => println!(
                "{}: {n} inputs in {:.1?} (seed {seed})",
                t.name,
                started.elapsed()
            ),
            Err(e) => failures.push(e),
        }
    }
    let _ = std::panic::take_hook();
    assert!(failures.is_empty(), "{failures:#?}");
}
