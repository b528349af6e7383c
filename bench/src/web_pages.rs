//! `web-pages`: issue 22's target, "a page renders in under 20 ms server time at 1,000,000
//! objects".
//!
//! A real Cairn runs in this process (a temporary SQLite file, 127.0.0.1 port 0, the setup
//! applied with `cairn::setup::apply`). Partner `cert` (moderator) loads the corpus through
//! `cairn::service::import`, the library `cairn import` uses (far faster than POSTs), naming
//! partner `bank` as the recipient of its RED objects. `bank-soc` (contributor, cap RED) signs
//! in on `/web/`, comments on, reports sightings of and follows one indicator, then reads pages
//! and the API's objects page (the baseline) in turn, sequentially, over loopback HTTP.

use crate::compare::enc;
use crate::corpus::{object_level, Generator, Level, Markings};
use crate::stats::{ms, percentile};
use anyhow::{ensure, Context};
use cairn::config::Config;
use cairn::startup::Application;
use cairn::storage::Storage;
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver};
use std::time::{Duration, Instant};

const COLLECTION: &str = "5e7b1c2d-8a4f-4b6e-9c3d-7f1a2b3c4d5e";
const COMMUNITY: &str = "bench";
const PASSWORD: &str = "web pages bench";
const LOADER: &str = "cert-bot";
const READER: (&str, &str) = ("bank", "bank-soc");
/// The page size of the web's listing, asked of the API too.
const PAGE: usize = 50;
/// The goal of issue 22, in ms.
const GOAL_MS: f64 = 20.0;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Objects loaded into the community.
    #[arg(long, default_value_t = 1_000_000)]
    pub objects: usize,
    /// Seed of the corpus (as for `compare` and `corpus`).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Share of the corpus that is a new version of an earlier object.
    #[arg(long, default_value_t = 0.05)]
    pub versions: f64,
    /// Measured requests per kind of page, after the warm-up.
    #[arg(long, default_value_t = 200)]
    pub requests: usize,
    /// Warm-up rounds (every kind once a round), not measured.
    #[arg(long, default_value_t = 20)]
    pub warmup: usize,
    /// How many `next` links the deep pages are reached through.
    #[arg(long, default_value_t = 300)]
    pub deep: usize,
    /// Keep the SQLite database in this directory (to inspect query plans afterwards).
    #[arg(long)]
    pub keep_db: Option<std::path::PathBuf>,
}

fn setup(hash: &str) -> String {
    let (rp, ru) = READER;
    format!(
        r#"[[partner]]
id = "cert"
title = "Sector CERT"

[[partner]]
id = "{rp}"
title = "Member bank"

[[user]]
name = "{LOADER}"
partner = "cert"
password_hash = "{hash}"

[[user]]
name = "{ru}"
partner = "{rp}"
password_hash = "{hash}"
max_tlp = "red"

[[community]]
id = "{COMMUNITY}"
collection = "{COLLECTION}"
title = "Web pages bench"

[[community.member]]
partner = "cert"
role = "moderator"
max_tlp = "red"

[[community.member]]
partner = "{rp}"
role = "contributor"
max_tlp = "red"
"#
    )
}

/// The in-process server: its address, and a storage handle of its database for the load.
struct Server {
    base: String,
    storage: Storage,
    config: Config,
    db: std::path::PathBuf,
    _tmp: tempfile::TempDir,
}

async fn start(keep_db: Option<&Path>) -> anyhow::Result<Server> {
    let tmp = tempfile::tempdir()?;
    let dir = keep_db.unwrap_or(tmp.path()).to_owned();
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("cairn.db");
    ensure!(!db.exists(), "{} exists already", db.display());
    let text = format!(
        "[server]\nbind = \"127.0.0.1:0\"\n[storage]\nurl = \"sqlite://{}\"\n",
        db.display()
    );
    let config = Config::from_parts(Path::new("web-pages.toml"), &text, Vec::<(_, _)>::new())?;
    let app = Application::build(config.clone()).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let hash = cairn::service::auth::hash_password(PASSWORD).map_err(|e| anyhow::anyhow!("{e}"))?;
    let parsed = cairn::setup::parse("web-pages-setup.toml", &setup(&hash))?;
    let storage = cairn::startup::open_storage(&config).await?;
    let now = cairn::clock::Clock::system().now();
    let s = storage.clone();
    tokio::task::spawn_blocking(move || {
        s.write_now(|c| {
            cairn::setup::apply(c, "web-pages-setup.toml", &parsed, &|_| None, now)
                .map_err(|e| cairn::storage::StorageError::Task(e.to_string()))
        })
    })
    .await??;
    Ok(Server {
        base,
        storage,
        config,
        db,
        _tmp: tmp,
    })
}

/// JSON lines made by the generator on a thread of their own, read as one file.
struct Lines {
    rx: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for Lines {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.buf.len() {
            match self.rx.recv() {
                Ok(b) => (self.buf, self.pos) = (b, 0),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Generates the corpus as JSON lines into `Lines`, on the other core; its result is the
/// GREEN indicator with the most versions (the latest of those with as many), for the thread.
fn generate(args: &Args) -> (Lines, std::thread::JoinHandle<Option<(String, usize)>>) {
    let (tx, rx) = sync_channel::<Vec<u8>>(8);
    let mut g =
        Generator::new(args.seed, args.objects, Markings::Mixed).with_versions(args.versions);
    let n = args.objects;
    let handle = std::thread::spawn(move || {
        let mut green: HashMap<String, usize> = HashMap::new();
        let mut chunk = Vec::with_capacity(1 << 20);
        for _ in 0..n {
            let o = g.next_object();
            if o["type"] == "indicator" && object_level(&o) == Some(Level::Green) {
                *green.entry(o["id"].as_str()?.to_owned()).or_default() += 1;
            }
            serde_json::to_writer(&mut chunk, &o).ok()?;
            chunk.push(b'\n');
            if chunk.len() >= 1 << 20 {
                tx.send(std::mem::replace(&mut chunk, Vec::with_capacity(1 << 20)))
                    .ok()?;
            }
        }
        tx.send(chunk).ok()?;
        green
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)))
    });
    let lines = Lines {
        rx,
        buf: vec![],
        pos: 0,
    };
    (lines, handle)
}

/// Progress to stderr every 100,000 objects.
struct Progress(u64);

impl cairn::service::import::Report for Progress {
    fn progress(&mut self, p: &cairn::service::import::Progress) {
        if p.objects >= self.0 {
            eprintln!("  loaded {} objects ({} refused)", p.objects, p.refused);
            self.0 += 100_000;
        }
    }
    fn refused(&mut self, _: &cairn::taxii::resources::StatusDetail) {}
}

/// Loads the corpus as `cairn import` would, with `bank` as the RED objects' recipient.
fn load(storage: &Storage, config: &Config, args: &Args) -> anyhow::Result<(String, usize)> {
    let validator = cairn::stix::Validator::new()?;
    let now = || cairn::clock::Clock::system().now();
    let keep = cairn::service::ingest::Keep::new(
        now(),
        config.taxii.status_retention()?,
        config.taxii.receipt_retention()?,
    );
    let mut import = cairn::service::import::Import::new(
        storage,
        &validator,
        LOADER,
        COMMUNITY,
        keep,
        now,
        0,
        Progress(100_000),
    )?;
    import.recipients = Some(READER.0.to_owned());
    let started = Instant::now();
    let (lines, generator) = generate(args);
    import.file("generated corpus", lines)?;
    let p = import.progress().clone();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "load: {} objects through cairn::service::import in {secs:.1} s ({:.0} objects/s): {} accepted, {} refused",
        p.objects,
        p.objects as f64 / secs,
        p.accepted,
        p.refused
    );
    ensure!(p.refused == 0, "objects were refused");
    let picked = generator
        .join()
        .map_err(|_| anyhow::anyhow!("generator panicked"))?;
    picked.context("the corpus has no GREEN indicator")
}

/// One response, fully read, and how long it took from sending to its last byte.
struct Got {
    status: u16,
    took: Duration,
    headers: reqwest::header::HeaderMap,
    body: String,
}

/// A client that signs in on `/web/` (keeping its cookies) and reads the API with Basic auth.
struct Client {
    http: reqwest::Client,
    base: String,
    cookies: HashMap<String, String>,
}

impl Client {
    fn new(base: &str) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(600))
            // actix closes idle keep-alive connections after 5 s: never reuse one that old.
            .pool_idle_timeout(Duration::from_secs(3))
            .build()?;
        Ok(Client {
            http,
            base: base.to_owned(),
            cookies: HashMap::new(),
        })
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> anyhow::Result<Got> {
        let start = Instant::now();
        let r = req.send().await?;
        let (status, headers) = (r.status().as_u16(), r.headers().clone());
        let body = r.text().await?;
        let took = start.elapsed();
        for c in headers.get_all("set-cookie") {
            let c = c.to_str()?;
            let pair = c.split(';').next().unwrap_or_default();
            if let Some((k, v)) = pair.split_once('=') {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        Ok(Got {
            status,
            took,
            headers,
            body,
        })
    }

    fn cookie_header(&self) -> String {
        let pairs = self.cookies.iter().map(|(k, v)| format!("{k}={v}"));
        pairs.collect::<Vec<_>>().join("; ")
    }

    /// A web page, as a browser asks for it.
    async fn page(&mut self, path: &str) -> anyhow::Result<Got> {
        let req = self.http.get(format!("{}{path}", self.base));
        let req = req
            .header("Cookie", self.cookie_header())
            .header("Accept", "text/html");
        self.send(req).await
    }

    async fn form(&mut self, path: &str, form: &[(&str, &str)]) -> anyhow::Result<Got> {
        let req = self.http.post(format!("{}{path}", self.base)).form(form);
        let req = req.header("Cookie", self.cookie_header());
        self.send(req).await
    }

    /// An API answer, as `bank-soc` with Basic auth.
    async fn api(&mut self, path: &str) -> anyhow::Result<Got> {
        let req = self.http.get(format!("{}{path}", self.base));
        let req = req
            .basic_auth(READER.1, Some(PASSWORD))
            .header("Accept", "application/taxii+json;version=2.1");
        self.send(req).await
    }
}

/// The form key of a page's forms.
fn form_key(body: &str) -> anyhow::Result<String> {
    let at = body
        .find("name=\"form_key\" value=\"")
        .context("a page without a form")?
        + 23;
    Ok(body
        .get(at..at + 32)
        .context("a short form key")?
        .to_owned())
}

async fn sign_in(c: &mut Client) -> anyhow::Result<()> {
    let key = form_key(&c.page("/web/sign-in/").await?.body)?;
    let form = [
        ("form_key", &*key),
        ("user", READER.1),
        ("password", PASSWORD),
    ];
    let r = c.form("/web/sign-in/", &form).await?;
    ensure!(r.status == 303, "sign-in: {} {}", r.status, r.body);
    ensure!(c.cookies.contains_key("cairn_session"), "no session cookie");
    Ok(())
}

fn object_path(id: &str) -> String {
    format!("/web/c/{COMMUNITY}/o/{id}/")
}

/// Posts one of `kind` (comment, opinion, sighting) about `id` through its page's form.
async fn say(c: &mut Client, id: &str, kind: &str, text: &str) -> anyhow::Result<()> {
    let key = form_key(&c.page(&object_path(id)).await?.body)?;
    let form = [
        ("form_key", key.as_str()),
        ("tlp", "green"),
        ("text", text),
        ("opinion", "agree"),
    ];
    let r = c
        .form(&format!("{}{kind}/", object_path(id)), &form)
        .await?;
    ensure!(r.status == 303, "{kind} on {id}: {} {}", r.status, r.body);
    Ok(())
}

/// The ids of the notes a page's thread links to.
fn notes_on(body: &str) -> Vec<String> {
    let mark = format!("/web/c/{COMMUNITY}/o/note--");
    let mut out = vec![];
    for (at, _) in body.match_indices(&mark) {
        let id = &body[at + mark.len() - 6..];
        if let Some(end) = id.find('/') {
            out.push(id[..end].to_owned());
        }
    }
    out.dedup();
    out
}

/// A thread on the indicator: notes, opinions and sightings, replies to three notes, a follow.
async fn thread(c: &mut Client, id: &str) -> anyhow::Result<usize> {
    for i in 0..5 {
        say(c, id, "comment", &format!("Seen at our edge, note {i}.")).await?;
    }
    for _ in 0..3 {
        say(c, id, "sighting", "").await?;
    }
    for i in 0..2 {
        say(c, id, "opinion", &format!("Opinion {i}.")).await?;
    }
    let page = c.page(&object_path(id)).await?;
    let notes = notes_on(&page.body);
    ensure!(notes.len() >= 3, "the thread shows {} notes", notes.len());
    for n in notes.iter().take(3) {
        say(c, n, "comment", "A reply to the note.").await?;
    }
    let key = form_key(&page.body)?;
    let form = [("form_key", key.as_str()), ("action", "follow")];
    let r = c
        .form(&format!("{}follow/", object_path(id)), &form)
        .await?;
    ensure!(r.status == 303, "follow: {} {}", r.status, r.body);
    let entries = c
        .page(&object_path(id))
        .await?
        .body
        .matches("\">open</a>")
        .count();
    ensure!(
        entries >= 13,
        "the thread shows {entries} entries, expected 13"
    );
    Ok(entries)
}

/// The link to a web listing's next page.
fn more(body: &str) -> Option<String> {
    let end = body.find("\">More</a>")?;
    let start = body[..end].rfind("href=\"")? + 6;
    Some(body[start..end].replace("&#38;", "&").replace("&amp;", "&"))
}

/// The web listing's page reached by following `next` `deep` times from `first`.
async fn web_deep(c: &mut Client, first: &str, deep: usize) -> anyhow::Result<String> {
    let mut path = first.to_owned();
    for i in 0..deep {
        let g = c.page(&path).await?;
        ensure!(g.status == 200, "{path}: {}", g.status);
        path = more(&g.body).with_context(|| format!("no More link on page {}", i + 1))?;
    }
    Ok(path)
}

fn api_objects(query: &str) -> String {
    format!("/{}/collections/{COLLECTION}/objects/{query}", READER.0)
}

/// The API's objects page reached by following `next` `deep` times from the first.
async fn api_deep(c: &mut Client, deep: usize) -> anyhow::Result<String> {
    let first = api_objects(&format!("?limit={PAGE}"));
    let mut path = first.clone();
    for _ in 0..deep {
        let g = c.api(&path).await?;
        ensure!(g.status == 200, "{path}: {} {}", g.status, g.body);
        let j: serde_json::Value = serde_json::from_str(&g.body)?;
        let next = j["next"].as_str().context("more without next")?;
        path = format!("{first}&next={}", enc(next));
    }
    Ok(path)
}

/// One kind of request, and what every answer must hold.
struct Series {
    label: String,
    path: String,
    web: bool,
    /// A check of the first answer: how many items it lists.
    count: fn(&str) -> usize,
    at_least: usize,
    samples: Vec<Duration>,
    bytes: usize,
}

fn rows(body: &str) -> usize {
    body.matches("<td><span class=\"tlp").count()
}

fn entries(body: &str) -> usize {
    body.matches("\">open</a>").count()
}

fn api_rows(body: &str) -> usize {
    let j: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    j["objects"].as_array().map_or(0, Vec::len)
}

fn series(label: &str, path: String, web: bool, count: fn(&str) -> usize, n: usize) -> Series {
    Series {
        label: label.to_owned(),
        path,
        web,
        count,
        at_least: n,
        samples: vec![],
        bytes: 0,
    }
}

fn web(label: String, path: String, count: fn(&str) -> usize, n: usize) -> Series {
    series(&label, path, true, count, n)
}

fn api(label: &str, query: String, n: usize) -> Series {
    series(label, api_objects(&query), false, api_rows, n)
}

/// The web listing's and the API's pages `--deep` `next` links from their first.
async fn deep_paths(c: &mut Client, feed: &str, deep: usize) -> anyhow::Result<(String, String)> {
    let walk = Instant::now();
    let paths = (web_deep(c, feed, deep).await?, api_deep(c, deep).await?);
    println!(
        "deep pages: reached by following next {deep} times, on the web and on the API ({:.1} s)",
        walk.elapsed().as_secs_f64()
    );
    Ok(paths)
}

/// A filter on both the type and the producer (every object here is `cert`'s).
const FILTER: &str = "?type=campaign&producer=cert";

/// What is measured, side by side: the API (the baseline first), the pages, then the two
/// queries of the object page on their own, to tell which part of it is slow.
async fn plan(
    c: &mut Client,
    args: &Args,
    indicator: &str,
    n: usize,
) -> anyhow::Result<Vec<Series>> {
    let feed = format!("/web/c/{COMMUNITY}/");
    let (deep, deep_api) = deep_paths(c, &feed, args.deep).await?;
    let d = args.deep + 1;
    let id = enc(indicator);
    let mut all = vec![api(
        "API objects page, first (baseline)",
        format!("?limit={PAGE}"),
        PAGE,
    )];
    all.push(series(
        &format!("API objects page {d} (via next)"),
        deep_api,
        false,
        api_rows,
        PAGE,
    ));
    all.push(web(
        "web: community page, first".into(),
        feed.clone(),
        rows,
        PAGE,
    ));
    all.push(web(
        format!("web: community page {d} (via next)"),
        deep,
        rows,
        PAGE,
    ));
    all.push(web(
        format!("web: community page, {FILTER}"),
        format!("{feed}{FILTER}"),
        rows,
        PAGE,
    ));
    all.push(web(
        "web: object page (indicator with a thread)".into(),
        object_path(indicator),
        entries,
        n,
    ));
    all.push(api(
        "API: the object page's versions query",
        format!("{id}/?match[version]=all&limit=200"),
        1,
    ));
    all.push(api(
        "API: the object page's thread query",
        format!("?match[ref]={id}&limit=200"),
        10,
    ));
    Ok(all)
}

/// Round robin over the series, so every kind sees the same noise; the first answer checked.
async fn measure(c: &mut Client, all: &mut [Series], args: &Args) -> anyhow::Result<()> {
    let started = Instant::now();
    for round in 0..args.warmup + args.requests {
        for s in all.iter_mut() {
            let g = match s.web {
                true => c.page(&s.path).await?,
                false => c.api(&s.path).await?,
            };
            ensure!(g.status == 200, "{}: {} {}", s.path, g.status, g.body);
            if round == 0 {
                let n = (s.count)(&g.body);
                ensure!(
                    n >= s.at_least,
                    "{}: {n} items, expected {}",
                    s.path,
                    s.at_least
                );
                let html = g
                    .headers
                    .get("content-type")
                    .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
                ensure!(html == s.web, "{}: unexpected content type", s.path);
            }
            if round >= args.warmup {
                s.samples.push(g.took);
                s.bytes += g.body.len();
            }
        }
        if round >= args.warmup && (round - args.warmup + 1).is_multiple_of(50) {
            eprintln!(
                "  {} measured rounds, {:.0} s",
                round - args.warmup + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}

fn table(all: &[Series]) {
    let base = &all[0].samples;
    let (b50, b90) = (percentile(base, 50.0), percentile(base, 90.0));
    println!("| request | bytes | n | p50 ms | p90 ms | p99 ms | p50 / baseline | p90 / baseline | p90 under {GOAL_MS} ms |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for s in all {
        let (p50, p90, p99) = (
            percentile(&s.samples, 50.0),
            percentile(&s.samples, 90.0),
            percentile(&s.samples, 99.0),
        );
        println!(
            "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
            s.label,
            s.bytes / s.samples.len().max(1),
            s.samples.len(),
            ms(p50),
            ms(p90),
            ms(p99),
            p50.as_secs_f64() / b50.as_secs_f64(),
            p90.as_secs_f64() / b90.as_secs_f64(),
            if ms(p90) < GOAL_MS { "yes" } else { "no" }
        );
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    ensure!(
        args.objects >= 20_000 && args.requests > 0,
        "--objects must be at least 20000 and --requests positive"
    );
    ensure!(
        args.deep * PAGE < args.objects / 2,
        "--deep reaches past the middle of the community"
    );
    let server = start(args.keep_db.as_deref()).await?;
    println!(
        "server: in-process on {}, SQLite {} (config defaults: one HTTP worker per core, pool of 8)",
        server.base,
        server.db.display()
    );
    let (storage, config, a) = (server.storage.clone(), server.config.clone(), args.clone());
    let (indicator, versions) =
        tokio::task::spawn_blocking(move || load(&storage, &config, &a)).await??;
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let wal = server.db.with_extension("db-wal");
    println!(
        "database: {} bytes, WAL {} bytes",
        size(&server.db),
        size(&wal)
    );
    let mut c = Client::new(&server.base)?;
    sign_in(&mut c).await?;
    let entries = thread(&mut c, &indicator).await?;
    println!(
        "object page: {indicator} (GREEN, {versions} versions), a thread of {entries} entries (the corpus's own sightings and relationships of it, and the bench's 5 notes, 3 sightings, 2 opinions and 3 replies); followed by {}",
        READER.1
    );
    let mut all = plan(&mut c, &args, &indicator, entries).await?;
    measure(&mut c, &mut all, &args).await?;
    println!();
    println!(
        "Sequential requests as {} over loopback, {} warm-up rounds then {} measured, every kind in turn; latency from sending to the last body byte, measured by the client, in ms; baseline: the API's first objects page, limit={PAGE}:",
        READER.1, args.warmup, args.requests
    );
    println!();
    table(&all);
    println!();
    for s in &all {
        println!("  {}: {}", s.label, s.path);
    }
    Ok(())
}
