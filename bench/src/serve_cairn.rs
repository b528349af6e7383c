//! `serve-cairn` (hidden): Cairn in a process of its own, so that `compare` can measure its
//! memory apart from the load generator's. It does what `cairn serve` does (the same
//! `Application`, the same logging), after applying a setup file to the configured database
//! as `cairn apply` would. When it listens it prints one line, `cairn-bench-serve port=PORT`,
//! to stdout; it runs until it is killed.

use cairn::config::Config;
use cairn::startup::Application;
use std::io::Write;
use std::path::PathBuf;

/// The line the parent waits for.
pub const READY: &str = "cairn-bench-serve port=";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Server config (TOML, as for `cairn serve --config`).
    #[arg(long)]
    pub config: PathBuf,
    /// Setup file applied before serving (as for `cairn apply`; passwords as hashes).
    #[arg(long)]
    pub setup: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    // As `cairn serve` does (see there).
    cairn::startup::cap_malloc_arenas();
    cairn::telemetry::init(cairn::telemetry::Format::Text);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?
        .block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let config = Config::load(&args.config)?;
    let app = Application::build(config.clone()).await?;
    let port = app.port();
    let name = args.setup.display().to_string();
    let text = std::fs::read_to_string(&args.setup)?;
    let parsed = cairn::setup::parse(&name, &text)?;
    let storage = cairn::startup::open_storage(&config).await?;
    let now = cairn::clock::Clock::system().now();
    tokio::task::spawn_blocking(move || {
        storage.write_now(|c| {
            cairn::setup::apply(c, &name, &parsed, &|_| None, now)
                .map_err(|e| cairn::storage::StorageError::Task(e.to_string()))
        })
    })
    .await??;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{READY}{port}")?;
    out.flush()?;
    drop(out);
    app.run_until_stopped().await?;
    Ok(())
}
