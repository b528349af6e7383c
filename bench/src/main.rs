//! cairn-bench: measured benchmarks for Cairn. Run in release mode:
//!
//! ```sh
//! cargo run --release -p cairn-bench -- validate
//! cargo run --release -p cairn-bench -- reader-share
//! cargo run --release -p cairn-bench -- compare
//! cargo run --release -p cairn-bench -- members
//! cargo run --release -p cairn-bench -- followers
//! cargo run --release -p cairn-bench -- web-pages
//! ```
//!
//! See bench/README.md for what each command measures and the latest figures.

mod compare;
mod corpus;
mod corpus_file;
mod followers;
mod members;
mod reader_share;
mod rng;
mod serve_cairn;
mod stats;
mod validate;
mod web_pages;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cairn-bench", about = "Measured benchmarks for Cairn")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Single-threaded throughput of cairn::stix::Validator on a generated STIX 2.1 corpus,
    /// side by side with the OASIS stix2-validator.
    Validate(validate::Args),
    /// Page latency for a reader that sees 1% of a community and one that sees everything,
    /// against a real in-process server.
    ReaderShare(reader_share::Args),
    /// Cairn (SQLite, PostgreSQL when given), medallion 3.0.0 and nginx side by side, each in
    /// a process of its own: ingest, full poll, page latency under load, peak RSS; one table.
    Compare(compare::Args),
    /// What each member of a community costs: ingest, CPU, database bytes, pages and
    /// `cairn apply` at 2 to 1,000 readers, each size on a fresh server in a process of its own.
    Members(members::Args),
    /// What follows cost during ingest: one community of readers without follows, with follows
    /// on 1% of the ingested ids and variants, side by side on fresh servers.
    Followers(followers::Args),
    /// Web pages (a community's objects, first and deep, filtered; an object with a thread) at
    /// 1,000,000 objects, side by side with the API's objects page, against a real server.
    WebPages(web_pages::Args),
    /// Two builds of Cairn (two cairn-bench binaries) side by side, alternated: full polls and
    /// the first page under load, with the server's CPU time.
    PollAb(compare::ab::Args),
    /// Two builds of Cairn (two cairn-bench binaries) ingesting the same corpus into fresh SQLite
    /// servers, alternated: objects/s, server CPU per object, the busiest thread's share, the
    /// writer's time in transactions, peak RSS.
    IngestAb(compare::ingest_ab::Args),
    /// Writes the bench corpus to a file (JSON lines or one bundle), for `cairn import`.
    Corpus(corpus_file::Args),
    /// Runs Cairn for `compare` in a process of its own (internal).
    #[command(hide = true)]
    ServeCairn(serve_cairn::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::ServeCairn(args) = cli.command {
        return serve_cairn::run(args);
    }
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build: figures are meaningless; use cargo run --release");
    }
    println!(
        "cairn-bench {}: {} cores, {}",
        env!("CARGO_PKG_VERSION"),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model()
    );
    match cli.command {
        Command::Validate(args) => validate::run(args),
        Command::ReaderShare(args) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?
            .block_on(reader_share::run(args)),
        Command::Compare(args) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.client_threads.max(1))
            .enable_all()
            .build()?
            .block_on(compare::run(args)),
        Command::Members(args) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(CLIENT_THREADS)
            .enable_all()
            .build()?
            .block_on(members::run(args)),
        Command::Followers(args) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(CLIENT_THREADS)
            .enable_all()
            .build()?
            .block_on(followers::run(args)),
        Command::WebPages(args) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?
            .block_on(web_pages::run(args)),
        Command::PollAb(args) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?
            .block_on(compare::ab::run(args)),
        Command::IngestAb(args) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(CLIENT_THREADS)
            .enable_all()
            .build()?
            .block_on(compare::ingest_ab::run(args)),
        Command::Corpus(args) => corpus_file::run(args),
        Command::ServeCairn(_) => unreachable!("handled above"),
    }
}

/// The client's threads for `members` and `followers`: one, as `compare` defaults to, leaving
/// a core to the server.
const CLIENT_THREADS: usize = 1;

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
