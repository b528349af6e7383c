//! `followers` (issue 21): what follows cost during ingest. One community of readers, measured
//! side by side in one run: without follows, with follows on 1% of the ingested ids, with as
//! many follows on ids the corpus never holds (the lookup without anything to tell), and with
//! some users also following the whole collection. Each run is a fresh Cairn in a process of its
//! own (`serve-cairn`, as `members` starts it); the variants take turns round after round.

use crate::compare::http::{Conn, Target};
use crate::compare::servers::{Backend, CairnServer};
use crate::compare::{build_corpus, ingest, Api, Corpus};
use crate::members::{clock_ticks_per_sec, cpu_ticks, db_bytes, run_tool};
use anyhow::{bail, ensure, Context};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod report;

const COLLECTION: &str = "3b8f0d6e-7a41-4c2e-9f5d-1e6a2b7c8d90";
const PASSWORD: &str = "followers bench";
const PRODUCER: &str = "producer";
const ENVELOPE: usize = 1000;
const CLIENTS: usize = 4;
/// Clients creating follows: a user's first request runs argon2, and Cairn lets one address
/// have at most 4 logins under way.
const FOLLOW_CLIENTS: usize = 4;

/// What the readers follow in one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Variant {
    /// No follows: the baseline.
    None,
    /// Each reader follows `--follows-per-user` of the followed ids.
    Ids,
    /// The same number of follows, on ids the corpus never holds.
    Absent,
    /// `ids`, and the first `--collection-followers` readers follow the whole collection too.
    Collection,
}

impl Variant {
    pub fn label(self) -> &'static str {
        match self {
            Variant::None => "no follows",
            Variant::Ids => "follows on 1% of ids",
            Variant::Absent => "follows on absent ids",
            Variant::Collection => "1% of ids + collection followers",
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Reader partners of the community (one user each, all capped at AMBER).
    #[arg(long, default_value_t = 1000)]
    pub readers: usize,
    /// Objects the producer posts in every run.
    #[arg(long, default_value_t = 100_000)]
    pub objects: usize,
    /// Followed ids, as a share of the objects posted (spread evenly over the corpus).
    #[arg(long, default_value_t = 0.01)]
    pub followed: f64,
    /// Follows per reader, on consecutive followed ids.
    #[arg(long, default_value_t = 2)]
    pub follows_per_user: usize,
    /// Readers that also follow the whole collection in the `collection` variant.
    #[arg(long, default_value_t = 10)]
    pub collection_followers: usize,
    /// Variants measured, comma-separated; the first is the base of the ratios.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "none,ids,absent,collection"
    )]
    pub variants: Vec<Variant>,
    /// Rounds over the variants, each run on a fresh server; figures are medians over them.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Seed of the corpus.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Share of the corpus that is a new version of an earlier object.
    #[arg(long, default_value_t = 0.05)]
    pub versions: f64,
    /// Longest one run (follows and ingest) may take, in seconds; past it, it is reported as
    /// failed.
    #[arg(long, default_value_t = 900)]
    pub run_timeout: u64,
    /// PostgreSQL admin URL (a role with CREATEDB): the same again on PostgreSQL, in a
    /// throwaway database per run.
    #[arg(long)]
    pub postgres: Option<String>,
    /// Also write the report (markdown) to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Run {
    pub variant: Variant,
    pub round: usize,
    pub follows: usize,
    /// Wall-clock seconds to create the follows over HTTP (argon2 of every user included).
    pub follow_secs: f64,
    pub objects: usize,
    pub ingest_secs: f64,
    pub cpu_us_per_object: f64,
    /// Growth of the store over the ingest (after the follows were created).
    pub db_bytes: u64,
    /// Rows in `notifications` after the ingest, and the users they tell.
    pub notifications: u64,
    pub told: u64,
}

impl Run {
    pub fn rate(&self) -> f64 {
        self.objects as f64 / self.ingest_secs
    }
    pub fn db_bytes_per_object(&self) -> f64 {
        self.db_bytes as f64 / self.objects as f64
    }
}

/// `count` of `ids` (distinct, in the order they are first posted), evenly spaced, so that
/// follows match all along the ingest and not only at its start.
pub fn spread(ids: &[String], count: usize) -> Vec<String> {
    let count = count.min(ids.len());
    (0..count)
        .map(|k| ids[k * ids.len() / count].clone())
        .collect()
}

/// Indexes into the followed ids for each reader: reader i follows `per_user` consecutive ones
/// from i x per_user, wrapping, so every id gets about readers x per_user / `followed` followers.
pub fn assign(readers: usize, followed: usize, per_user: usize) -> Vec<Vec<usize>> {
    (0..readers)
        .map(|i| {
            if followed == 0 {
                return vec![];
            }
            let mut mine: Vec<usize> = (0..per_user)
                .map(|j| (i * per_user + j) % followed)
                .collect();
            mine.sort_unstable();
            mine.dedup();
            mine
        })
        .collect()
}

fn reader(i: usize) -> String {
    format!("reader-{:04}", i + 1)
}

fn user_of(partner: &str) -> String {
    format!("{partner}-soc")
}

/// Ids of the corpus's types that it never holds (UUIDv5 in a namespace of this bench's own).
fn absent_ids(count: usize) -> Vec<String> {
    const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x0f3a_61c2_5b7e_4d19_a8c4_2e9d_7b10_f5a3);
    (0..count)
        .map(|k| {
            let u = uuid::Uuid::new_v5(&NAMESPACE, format!("absent {k}").as_bytes());
            format!("indicator--{u}")
        })
        .collect()
}

/// Every follow of a variant: (reader index, target), target '' for the whole collection.
fn follows_of(args: &Args, variant: Variant, followed: &[String]) -> Vec<(usize, String)> {
    let on = |ids: &[String]| -> Vec<(usize, String)> {
        assign(args.readers, ids.len(), args.follows_per_user)
            .into_iter()
            .enumerate()
            .flat_map(|(i, mine)| mine.into_iter().map(move |k| (i, k)).collect::<Vec<_>>())
            .map(|(i, k)| (i, ids[k].clone()))
            .collect()
    };
    match variant {
        Variant::None => vec![],
        Variant::Ids => on(followed),
        Variant::Absent => on(&absent_ids(followed.len())),
        Variant::Collection => {
            let mut all = on(followed);
            let n = args.collection_followers.min(args.readers);
            all.extend((0..n).map(|i| (i, String::new())));
            all
        }
    }
}

fn setup_text(hash: &str, readers: usize) -> String {
    let mut members: Vec<(String, &str, &str)> = vec![(PRODUCER.into(), "contributor", "red")];
    members.extend((0..readers).map(|i| (reader(i), "reader", "amber")));
    let mut s = String::new();
    for (p, _, _) in &members {
        s += &format!("[[partner]]\nid = \"{p}\"\ntitle = \"Member {p}\"\n\n");
        s += &format!(
            "[[user]]\nname = \"{}\"\npartner = \"{p}\"\npassword_hash = \"{hash}\"\n\n",
            user_of(p)
        );
    }
    s += &format!(
        "[[community]]\nid = \"followers\"\ncollection = \"{COLLECTION}\"\ntitle = \"Followers bench\"\n\n"
    );
    for (p, role, cap) in &members {
        s += &format!(
            "[[community.member]]\npartner = \"{p}\"\nrole = \"{role}\"\nmax_tlp = \"{cap}\"\n\n"
        );
    }
    s
}

fn target(addr: std::net::SocketAddr, partner: &str) -> Target {
    Target::new(addr, Some((&user_of(partner), PASSWORD)))
}

fn producer_api(addr: std::net::SocketAddr) -> Api {
    let first = reader(0);
    Api {
        writer: target(addr, PRODUCER),
        reader: target(addr, &first),
        write_coll: format!("/{PRODUCER}/collections/{COLLECTION}/"),
        read_coll: format!("/{first}/collections/{COLLECTION}/"),
        write_root: format!("/{PRODUCER}/"),
        // TLP:RED must name recipients; the AMBER cap keeps RED from the reader all the same.
        post_headers: vec![("Cairn-Recipients".into(), first)],
    }
}

/// Creates the follows over HTTP, each user's on one connection, `FOLLOW_CLIENTS` users at a
/// time. A 429 (too many logins under way) is retried after a second.
async fn create_follows(
    addr: std::net::SocketAddr,
    follows: &[(usize, String)],
) -> anyhow::Result<()> {
    let mut by_user: std::collections::BTreeMap<usize, Vec<String>> = Default::default();
    for (i, t) in follows {
        by_user.entry(*i).or_default().push(t.clone());
    }
    let users: Arc<Vec<(usize, Vec<String>)>> = Arc::new(by_user.into_iter().collect());
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = vec![];
    for _ in 0..FOLLOW_CLIENTS {
        let (users, next) = (users.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::new(addr);
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some((i, targets)) = users.get(k) else {
                    return anyhow::Ok(());
                };
                let partner = reader(*i);
                let t = target(addr, &partner);
                let path = format!("/{partner}/follows/");
                for object in targets {
                    let body = if object.is_empty() {
                        serde_json::json!({ "collection": COLLECTION })
                    } else {
                        serde_json::json!({ "collection": COLLECTION, "object": object })
                    };
                    let request = t.post(&path, &[], body.to_string().as_bytes());
                    let mut tries = 0;
                    loop {
                        let r = conn.send(&request).await?;
                        if r.status == 429 && tries < 120 {
                            tries += 1;
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            continue;
                        }
                        ensure!(r.status == 201, "POST {path}: {} {}", r.status, r.text());
                        break;
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// One number from the store (the `sqlite3` or `psql` command, as `members` measures size).
async fn count(server: &CairnServer, query: &str) -> anyhow::Result<u64> {
    let out = match server.url.strip_prefix("sqlite://") {
        Some(path) => run_tool("sqlite3", &[path, query]).await?,
        None => {
            let args = ["-X", "-q", "-t", "-A", "-d", &server.url, "-c", query];
            run_tool("psql", &args).await?
        }
    };
    out.trim()
        .parse()
        .with_context(|| format!("{query}: {out:?}"))
}

/// Follows, then the timed ingest, on a started server.
async fn measure_on(
    server: &CairnServer,
    corpus: &Corpus,
    follows: &[(usize, String)],
    run: &mut Run,
) -> anyhow::Result<()> {
    let addr = server.proc.addr;
    let started = Instant::now();
    create_follows(addr, follows).await?;
    run.follow_secs = started.elapsed().as_secs_f64();
    let stored = count(server, "SELECT count(*) FROM follows").await?;
    ensure!(
        stored == follows.len() as u64,
        "{stored} follows stored, {} created",
        follows.len()
    );
    let pid = server.proc.pid();
    let before = db_bytes(server).await?;
    let cpu0 = cpu_ticks(pid)?;
    let (stat, _) = ingest(
        &producer_api(addr),
        &corpus.raw,
        run.objects,
        ENVELOPE,
        CLIENTS,
    )
    .await?;
    let ticks = cpu_ticks(pid)? - cpu0;
    run.ingest_secs = stat.secs;
    run.cpu_us_per_object = ticks as f64 / clock_ticks_per_sec() * 1e6 / run.objects as f64;
    run.db_bytes = db_bytes(server).await?.saturating_sub(before);
    run.notifications = count(server, "SELECT count(*) FROM notifications").await?;
    run.told = count(
        server,
        "SELECT count(DISTINCT user_name) FROM notifications",
    )
    .await?;
    Ok(())
}

/// Where every run of one backend gets its files and what it posts.
struct Env<'a> {
    args: &'a Args,
    backend: &'a Backend,
    setup: &'a str,
    exe: &'a Path,
    tmp: &'a Path,
    corpus: &'a Corpus,
    followed: &'a [String],
}

async fn measure(env: &Env<'_>, variant: Variant, round: usize) -> anyhow::Result<Run> {
    let follows = follows_of(env.args, variant, env.followed);
    let mut run = Run {
        variant,
        round,
        follows: follows.len(),
        follow_secs: 0.0,
        objects: env.corpus.raw.len(),
        ingest_secs: 0.0,
        cpu_us_per_object: 0.0,
        db_bytes: 0,
        notifications: 0,
        told: 0,
    };
    let tag = format!("{variant:?}").to_lowercase();
    let dir = env.tmp.join(format!("r{round}-{tag}"));
    std::fs::create_dir_all(&dir)?;
    let server = CairnServer::start(env.backend, env.exe, &dir, &tag, env.setup).await?;
    let limit = Duration::from_secs(env.args.run_timeout);
    let r = tokio::time::timeout(limit, measure_on(&server, env.corpus, &follows, &mut run)).await;
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    match r {
        Ok(r) => r?,
        Err(_) => bail!("longer than --run-timeout ({} s)", env.args.run_timeout),
    }
    eprintln!(
        "  {} follows in {:.1} s; ingest {:.0} objects/s, {:.0} CPU µs/object, {:.0} bytes/object, {} notifications to {} users",
        run.follows,
        run.follow_secs,
        run.rate(),
        run.cpu_us_per_object,
        run.db_bytes_per_object(),
        run.notifications,
        run.told
    );
    Ok(run)
}

/// Every variant, `--rounds` times; each round starts one variant later, so that none is always
/// the first after a pause or the last before one.
async fn measure_backend(env: &Env<'_>) -> Vec<Result<Run, (Variant, String)>> {
    let variants = &env.args.variants;
    let mut out = vec![];
    for round in 0..env.args.rounds.max(1) {
        for k in 0..variants.len() {
            let variant = variants[(k + round) % variants.len()];
            eprintln!(
                "== {}, round {}: {}",
                env.backend.label(),
                round + 1,
                variant.label()
            );
            let r = measure(env, variant, round).await;
            if let Err(e) = &r {
                eprintln!("  FAILED: {e:#}");
            }
            out.push(r.map_err(|e| (variant, format!("{e:#}"))));
        }
    }
    out
}

/// The distinct ids of the corpus in the order they are first posted.
fn ids_in_order(corpus: &Corpus) -> anyhow::Result<Vec<String>> {
    let mut seen = std::collections::HashSet::new();
    let mut out = vec![];
    for raw in corpus.raw.iter() {
        let v: Value = serde_json::from_str(raw)?;
        let id = v["id"].as_str().context("an object without id")?;
        if seen.insert(id.to_owned()) {
            out.push(id.to_owned());
        }
    }
    Ok(out)
}

pub async fn run(mut args: Args) -> anyhow::Result<()> {
    ensure!(args.readers >= 1, "--readers must be at least 1");
    ensure!(
        args.objects >= ENVELOPE,
        "--objects must be at least {ENVELOPE}"
    );
    ensure!(!args.variants.is_empty(), "--variants names none");
    args.variants.dedup();
    let hash = cairn::service::auth::hash_password(PASSWORD).map_err(|e| anyhow::anyhow!("{e}"))?;
    let tmp = tempfile::Builder::new()
        .prefix("cairn-followers-")
        .tempdir()?;
    eprintln!("work directory: {}", tmp.path().display());
    let exe = tmp.path().join("cairn-bench-serve");
    std::fs::copy(std::env::current_exe()?, &exe).context("copying this binary")?;
    let corpus = build_corpus(args.seed, args.objects, args.versions);
    eprintln!("corpus: {}", corpus.summary);
    let ids = ids_in_order(&corpus)?;
    let wanted = (args.objects as f64 * args.followed).round() as usize;
    let followed = spread(&ids, wanted);
    let setup = setup_text(&hash, args.readers);
    let mut backends = vec![Backend::Sqlite];
    backends.extend(args.postgres.clone().map(Backend::Postgres));
    let started = Instant::now();
    let mut tables = vec![];
    for backend in &backends {
        let env = Env {
            args: &args,
            backend,
            setup: &setup,
            exe: &exe,
            tmp: tmp.path(),
            corpus: &corpus,
            followed: &followed,
        };
        tables.push((backend.label(), measure_backend(&env).await));
    }
    let facts = report::Facts {
        corpus: &corpus.summary,
        distinct: ids.len(),
        followed: followed.len(),
        took: started.elapsed(),
    };
    let text = report::render(&args, &facts, &tables);
    println!("{text}");
    if let Some(out) = &args.out {
        std::fs::write(out, &text).with_context(|| format!("writing {}", out.display()))?;
        eprintln!("written to {}", out.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn followed_ids_are_spread_over_the_corpus() {
        let ids: Vec<String> = (0..1000).map(|i| format!("x--{i}")).collect();
        let f = spread(&ids, 10);
        assert_eq!(f.len(), 10);
        assert_eq!(f[0], "x--0");
        assert_eq!(f[9], "x--900");
        // Never more than there are, and nothing from nothing.
        assert_eq!(spread(&ids[..3], 10).len(), 3);
        assert!(spread(&[], 10).is_empty());
    }

    #[test]
    fn every_followed_id_gets_as_many_followers() {
        let a = assign(1000, 1000, 2);
        assert!(a.iter().all(|mine| mine.len() == 2));
        let mut per_id = vec![0; 1000];
        for k in a.iter().flatten() {
            per_id[*k] += 1;
        }
        assert!(per_id.iter().all(|n| *n == 2));
        // More follows per user than ids: each id once.
        assert_eq!(assign(3, 2, 5), vec![vec![0, 1]; 3]);
        assert!(assign(4, 0, 2).iter().all(Vec::is_empty));
    }
}
