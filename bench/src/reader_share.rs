//! `reader-share`: issue 4's target, "a page of 100 for a reader that may see 1% of a
//! 100,000-object community is served about as fast as a page for a reader who sees everything".
//!
//! A real Cairn runs in this process (as conformance-tests/src/lib.rs starts it: a temporary
//! SQLite file, 127.0.0.1 port 0, the setup applied with `cairn::setup::apply`). Partner `feed`
//! posts the whole stream in envelopes of 1,000; partner `big` (moderator, cap RED) may see all
//! of it, partner `small` (contributor, member cap CLEAR) only the 1% marked TLP:CLEAR. Both are
//! readers of what `feed` posted, so both views go through the same delivery decision.

use crate::compare::enc;
use crate::corpus::{Generator, Markings};
use crate::stats::{ms, percentile, rss_kib};
use anyhow::{bail, ensure, Context};
use cairn::config::Config;
use cairn::startup::Application;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

const TAXII: &str = "application/taxii+json;version=2.1";
const COLLECTION: &str = "3c9a6f1e-5b2d-4e8f-9a7c-1d2e3f4a5b6c";
const PASSWORD: &str = "reader share bench";
const ENVELOPE: usize = 1000;
const PAGE: usize = 100;
/// Every collection serves the TLP 2.0 marking-definitions and extension-definition.
const BUILTINS: usize = 6;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Objects posted to the community.
    #[arg(long, default_value_t = 100_000)]
    pub objects: usize,
    /// Seed of the corpus.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Measured requests per reader and kind of page (after a warm-up).
    #[arg(long, default_value_t = 200)]
    pub requests: usize,
    /// Wall-clock budget of the measured reads, in seconds. When pages are so slow that
    /// --requests rounds do not fit, the slow series stop early (with at least
    /// --min-requests samples) and the table says how many were taken.
    #[arg(long, default_value_t = 900)]
    pub budget: u64,
    /// The fewest samples per series, whatever the budget.
    #[arg(long, default_value_t = 10)]
    pub min_requests: usize,
    /// Keep the SQLite database in this directory (to inspect query plans afterwards).
    #[arg(long)]
    pub keep_db: Option<std::path::PathBuf>,
}

fn setup(hash: &str) -> String {
    let mut s = String::new();
    for (id, title) in [
        ("feed", "Threat feed"),
        ("big", "Big bank"),
        ("small", "Small credit union"),
    ] {
        s += &format!("[[partner]]\nid = \"{id}\"\ntitle = \"{title}\"\n\n");
    }
    for (user, partner) in [
        ("feed-bot", "feed"),
        ("big-soc", "big"),
        ("small-soc", "small"),
    ] {
        s += &format!(
            "[[user]]\nname = \"{user}\"\npartner = \"{partner}\"\npassword_hash = \"{hash}\"\n\n"
        );
    }
    s += &format!(
        "[[community]]\nid = \"bench\"\ncollection = \"{COLLECTION}\"\ntitle = \"Reader share bench\"\n\n"
    );
    for (partner, role, cap) in [
        ("feed", "contributor", "red"),
        ("big", "moderator", "red"),
        ("small", "contributor", "clear"),
    ] {
        s += &format!(
            "[[community.member]]\npartner = \"{partner}\"\nrole = \"{role}\"\nmax_tlp = \"{cap}\"\n\n"
        );
    }
    s
}

fn objects_path(root: &str) -> String {
    format!("/{root}/collections/{COLLECTION}/objects/")
}

struct Client {
    http: reqwest::Client,
    base: String,
}

/// One response, fully read, and how long it took.
struct Got {
    status: u16,
    took: Duration,
    /// The body as received; parsed only outside the timed part.
    body: Vec<u8>,
}

impl Got {
    fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_slice(&self.body).context("response is not JSON")
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Client {
    async fn get(&self, user: &str, path_and_query: &str) -> anyhow::Result<Got> {
        self.send(
            self.http.get(format!("{}{path_and_query}", self.base)),
            user,
        )
        .await
    }

    async fn post(&self, user: &str, path: &str, body: String) -> anyhow::Result<Got> {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Content-Type", TAXII)
            .body(body);
        self.send(request, user).await
    }

    /// Sends with the bench's credentials and reads the whole body, timing both.
    async fn send(&self, request: reqwest::RequestBuilder, user: &str) -> anyhow::Result<Got> {
        let start = Instant::now();
        let r = request
            .basic_auth(user, Some(PASSWORD))
            .header("Accept", TAXII)
            .send()
            .await?;
        let status = r.status().as_u16();
        let body = r.bytes().await?.to_vec();
        Ok(Got {
            status,
            took: start.elapsed(),
            body,
        })
    }

    /// A page's objects, checking the answer is a 200.
    async fn page(&self, user: &str, path: &str) -> anyhow::Result<(Got, Value)> {
        let g = self.get(user, path).await?;
        ensure!(
            g.status == 200,
            "GET {path} as {user}: {} {}",
            g.status,
            g.text()
        );
        let j = g.json()?;
        Ok((g, j))
    }

    /// Every object `user` sees, counted by following `next` at the largest page size.
    async fn count_all(&self, user: &str, root: &str) -> anyhow::Result<usize> {
        let first = format!("{}?limit=1000", objects_path(root));
        let mut path = first.clone();
        let mut n = 0;
        loop {
            let (_, j) = self.page(user, &path).await?;
            n += j["objects"].as_array().map_or(0, Vec::len);
            if j["more"].as_bool() != Some(true) {
                return Ok(n);
            }
            let next = j["next"].as_str().context("more without next")?;
            path = format!("{first}&next={}", enc(next));
        }
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn rss_line(when: &str) -> String {
    match rss_kib() {
        Some((rss, hwm)) => format!(
            "{when}: VmRSS {:.0} MiB (peak VmHWM {:.0} MiB)",
            mib(rss),
            mib(hwm)
        ),
        None => format!("{when}: /proc/self/status not readable"),
    }
}

/// One kind of request, measured for one reader.
struct Series {
    label: &'static str,
    user: &'static str,
    path: String,
    /// The number of objects every answer must hold (None: at least one).
    expect: Option<usize>,
    /// Objects on the page, as first checked.
    listed: usize,
    samples: Vec<Duration>,
    bytes: usize,
}

impl Series {
    fn new(label: &'static str, user: &'static str, path: String, expect: Option<usize>) -> Series {
        Series {
            label,
            user,
            path,
            expect,
            listed: 0,
            samples: vec![],
            bytes: 0,
        }
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    ensure!(
        args.objects >= 2 * ENVELOPE && args.requests > 0,
        "--objects must be at least {} and --requests positive",
        2 * ENVELOPE
    );
    println!("{}", rss_line("RSS before the server starts (bench only)"));

    // ---- the server, in this process ----
    let tmp = tempfile::tempdir()?;
    let dir = match &args.keep_db {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => tmp.path().to_owned(),
    };
    let db = dir.join("cairn.db");
    ensure!(!db.exists(), "{} exists already", db.display());
    let text = format!(
        "[server]\nbind = \"127.0.0.1:0\"\n[storage]\nurl = \"sqlite://{}\"\n",
        db.display()
    );
    let config = Config::from_parts(
        Path::new("reader-share.toml"),
        &text,
        Vec::<(String, String)>::new(),
    )?;
    let app = Application::build(config.clone()).await?;
    let port = app.port();
    tokio::spawn(app.run_until_stopped());
    let hash = cairn::service::auth::hash_password(PASSWORD).map_err(|e| anyhow::anyhow!("{e}"))?;
    let parsed = cairn::setup::parse("reader-share-setup.toml", &setup(&hash))?;
    let storage = cairn::startup::open_storage(&config).await?;
    let clock = cairn::clock::Clock::system();
    let now = clock.now();
    tokio::task::spawn_blocking(move || {
        storage.write_now(|c| {
            cairn::setup::apply(c, "reader-share-setup.toml", &parsed, &|_| None, now)
                .map_err(|e| cairn::storage::StorageError::Task(e.to_string()))
        })
    })
    .await??;
    let client = Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(600))
            // actix closes idle keep-alive connections after 5 s: never reuse one that old.
            .pool_idle_timeout(Duration::from_secs(3))
            .build()?,
        base: format!("http://127.0.0.1:{port}"),
    };
    println!(
        "server: in-process on 127.0.0.1:{port}, SQLite {} (config defaults: one HTTP worker per core, pool of 8)",
        db.display()
    );
    println!("{}", rss_line("RSS after start and setup"));

    // ---- ingest ----
    let mut gen = Generator::new(args.seed, args.objects, Markings::ReaderShare);
    let mut posted = 0;
    let mut clear = 0;
    let mut envelope_times = vec![];
    let mut ingest = Duration::ZERO;
    let post_path = objects_path("feed");
    let envelopes = args.objects.div_ceil(ENVELOPE);
    // The server's clock between the two middle envelopes: the middle of the community.
    let mut middle_added = String::new();
    while posted < args.objects {
        let k = ENVELOPE.min(args.objects - posted);
        let objects: Vec<Value> = (0..k).map(|_| gen.next_object()).collect();
        clear += objects
            .iter()
            .filter(|o| crate::corpus::object_level(o) == Some(crate::corpus::Level::Clear))
            .count();
        let body = serde_json::to_string(&serde_json::json!({ "objects": objects }))?;
        drop(objects);
        let g = client.post("feed-bot", &post_path, body).await?;
        ensure!(g.status == 202, "POST: {} {}", g.status, g.text());
        let status = g.json()?;
        if status["success_count"].as_u64() != Some(k as u64) {
            bail!(
                "envelope at object {posted}: {} of {k} stored; failures: {}",
                status["success_count"],
                status["failures"]
            );
        }
        ingest += g.took;
        envelope_times.push(g.took);
        posted += k;
        if envelope_times.len() == envelopes / 2 {
            middle_added = clock.now().to_string();
        }
        if envelope_times.len() % 20 == 0 {
            eprintln!(
                "  posted {posted} objects ({:.0} obj/s so far)",
                posted as f64 / ingest.as_secs_f64()
            );
        }
    }
    drop(gen);
    println!(
        "ingest: {posted} objects in {} envelopes of {ENVELOPE} over HTTP, {:.1} s of POSTs: {:.0} objects/s (envelope p50 {:.0} ms, p99 {:.0} ms)",
        envelope_times.len(),
        ingest.as_secs_f64(),
        posted as f64 / ingest.as_secs_f64(),
        ms(percentile(&envelope_times, 50.0)),
        ms(percentile(&envelope_times, 99.0)),
    );
    println!("{}", rss_line("RSS after ingest"));

    // ---- what each reader sees ----
    let small_total = client.count_all("small-soc", "small").await?;
    ensure!(
        small_total == clear + BUILTINS,
        "small must see exactly the TLP:CLEAR objects: {small_total} listed, {clear} CLEAR + {BUILTINS} built-ins"
    );
    let first_big = format!("{}?limit={PAGE}", objects_path("big"));
    let (probe, j) = client.page("big-soc", &first_big).await?;
    ensure!(
        j["objects"].as_array().map_or(0, Vec::len) == PAGE,
        "big's first page must be full"
    );
    let big_pages = (posted + BUILTINS).div_ceil(PAGE);
    // Whole walks through big's view only when pages are fast enough for them.
    let walk_estimate = probe.took.as_secs_f64() * big_pages as f64;
    let big_seen = if walk_estimate < 120.0 {
        let n = client.count_all("big-soc", "big").await?;
        ensure!(
            n == posted + BUILTINS,
            "big must see everything: {n} listed, {posted} posted + {BUILTINS} built-ins"
        );
        format!("{n} objects")
    } else {
        format!(
            "all {posted} + {BUILTINS} built-ins (every POST fully stored; not counted page by page: at {:.1} s per page that would take ~{:.0} s)",
            probe.took.as_secs_f64(),
            walk_estimate
        )
    };
    println!(
        "views: big sees {big_seen}; small sees {small_total} ({clear} TLP:CLEAR = {:.2}% of the community, + {BUILTINS} built-ins)",
        100.0 * clear as f64 / posted as f64
    );

    // ---- big's middle page, reached through `next` ----
    let middle = big_pages / 2;
    let after = enc(&middle_added);
    let deep_big = if walk_estimate / 2.0 < 120.0 {
        let mut path = first_big.clone();
        let walk = Instant::now();
        for _ in 1..middle {
            let (_, j) = client.page("big-soc", &path).await?;
            let next = j["next"].as_str().context("more without next")?;
            path = format!("{first_big}&next={}", enc(next));
        }
        println!(
            "middle: page {middle} of {big_pages} for big, reached by following next {} times from the first page ({:.1} s)",
            middle - 1,
            walk.elapsed().as_secs_f64()
        );
        path
    } else {
        // Following next from the first page would take hours: start from the middle with
        // added_after, and measure the page its `next` leads to.
        let start = format!("{first_big}&added_after={after}");
        let (_, j) = client.page("big-soc", &start).await?;
        let next = j["next"].as_str().context("more without next")?;
        println!(
            "middle: following next from the first page would take ~{:.0} s ({middle} pages at {:.1} s), so big's middle page is reached with added_after={middle_added} (after envelope {} of {envelopes}) and one next",
            walk_estimate / 2.0,
            probe.took.as_secs_f64(),
            envelopes / 2
        );
        format!("{start}&next={}", enc(next))
    };
    println!("small's middle page: added_after={middle_added}");

    let mut series = vec![
        Series::new("first page", "big-soc", first_big.clone(), Some(PAGE)),
        Series::new(
            "first page",
            "small-soc",
            format!("{}?limit={PAGE}", objects_path("small")),
            Some(PAGE.min(small_total)),
        ),
        Series::new("middle page", "big-soc", deep_big, Some(PAGE)),
        Series::new(
            "middle page",
            "small-soc",
            format!("{}?limit={PAGE}&added_after={after}", objects_path("small")),
            None,
        ),
    ];

    // ---- measure: round robin over the series, so readers are compared side by side ----
    let slow = probe.took > Duration::from_millis(500);
    let warmup = if slow { 2 } else { 20 };
    let budget = Duration::from_secs(args.budget);
    let measuring = Instant::now();
    let mut out_of_budget = false;
    for round in 0..warmup + args.requests {
        if round == warmup {
            println!("{}", rss_line("RSS after the warm-up reads"));
        }
        for s in series.iter_mut() {
            if round >= warmup
                && s.samples.len() >= args.min_requests
                && measuring.elapsed() > budget
                && s.user == "big-soc"
            {
                out_of_budget = true;
                continue;
            }
            let g = client.get(s.user, &s.path).await?;
            ensure!(
                g.status == 200,
                "GET {} as {}: {} {}",
                s.path,
                s.user,
                g.status,
                g.text()
            );
            if round >= warmup {
                s.samples.push(g.took);
                s.bytes += g.body.len();
            }
            if round == 0 {
                let n = g.json()?["objects"].as_array().map_or(0, Vec::len);
                s.listed = n;
                match s.expect {
                    Some(e) => ensure!(
                        n == e,
                        "{} as {}: {n} objects, expected {e}",
                        s.path,
                        s.user
                    ),
                    None => ensure!(n > 0, "{} as {}: empty page", s.path, s.user),
                }
            }
        }
        if round >= warmup && (round - warmup + 1) % 25 == 0 {
            eprintln!(
                "  {} measured rounds, {:.0} s",
                round - warmup + 1,
                measuring.elapsed().as_secs_f64()
            );
        }
    }
    println!("{}", rss_line("RSS after the measured reads"));
    if out_of_budget {
        println!(
            "note: big's pages did not fit {} requests in the --budget of {} s; big's rows have fewer samples (n), so their p99 is the largest or nearly the largest sample",
            args.requests, args.budget
        );
    }

    println!();
    println!(
        "GET objects, limit={PAGE}, sequential requests after {warmup} warm-up rounds, big and small interleaved; latency to the last body byte, in ms:"
    );
    println!("| page | reader | objects on page | n | p50 | p99 | small/big p50 | small/big p99 |");
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for pair in series.chunks(2) {
        let (b, s) = (&pair[0], &pair[1]);
        let (b50, b99) = (percentile(&b.samples, 50.0), percentile(&b.samples, 99.0));
        let (s50, s99) = (percentile(&s.samples, 50.0), percentile(&s.samples, 99.0));
        println!(
            "| {} | big | {} | {} | {:.2} | {:.2} | | |",
            b.label,
            b.listed,
            b.samples.len(),
            ms(b50),
            ms(b99)
        );
        println!(
            "| {} | small | {} | {} | {:.2} | {:.2} | {:.3} | {:.3} |",
            s.label,
            s.listed,
            s.samples.len(),
            ms(s50),
            ms(s99),
            s50.as_secs_f64() / b50.as_secs_f64(),
            s99.as_secs_f64() / b99.as_secs_f64()
        );
    }
    println!();
    for s in &series {
        println!(
            "  {} as {}: {} bytes per answer on average; {}",
            s.label,
            s.user,
            s.bytes / s.samples.len().max(1),
            s.path
        );
    }
    println!(
        "RSS is this process's (/proc/self/status VmRSS): the server runs in-process, so it includes the bench's own client and corpus generator as well as the server and its SQLite page cache."
    );
    Ok(())
}
