//! cairn-bench: measured benchmarks for Cairn. Run in release mode:
//!
//! ```sh
//! cargo run --release -p cairn-bench -- validate
//! cargo run --release -p cairn-bench -- reader-share
//! ```
//!
//! See bench/README.md for what each command measures and the latest figures.

mod corpus;
mod reader_share;
mod rng;
mod stats;
mod validate;

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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
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
    }
}

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
