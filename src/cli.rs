//! The command line: serve, apply, check, validate, explain, import, receipts, webhooks, token,
//! migrate-storage.

use crate::config::{Config, DEFAULT_CONFIG_PATH};
use crate::startup::Application;
use crate::storage::Storage;
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Debug, Parser)]
#[command(
    name = "cairn",
    version,
    about = "A STIX/TAXII 2.1 sharing server for private communities"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the TAXII server.
    Serve {
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
    },
    /// Make partners, users, communities, members and rules match FILE.
    Apply {
        file: PathBuf,
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
    },
    /// Copy a whole database to another (e.g. sqlite://... to postgres://...) and verify it.
    MigrateStorage {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// Replace the contents of a target that is not empty.
        #[arg(long)]
        force: bool,
    },
    /// Validate bundles or envelopes offline, as the server would; one line per problem.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Say whether each version of an object is delivered to a user, since when, and why.
    Explain {
        #[arg(long)]
        user: String,
        #[arg(long)]
        community: String,
        object_id: String,
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
    },
    /// Validate a setup file and print what apply would change; change nothing.
    Check {
        file: PathBuf,
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
    },
    /// Load bundles, envelopes or JSON lines into a community as USER, with the same checks
    /// and policy as a POST; prints each refusal and a summary, shows progress on stderr.
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long)]
        community: String,
        /// The user the objects are posted as (a moderator or contributor of the community).
        #[arg(long = "as")]
        user: String,
        /// Recipients of the TLP:RED objects, as the Cairn-Recipients header names them
        /// ("acme, globex/soc-lead"); without it RED objects are refused.
        #[arg(long)]
        recipients: Option<String>,
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
    },
    /// Who received or posted which versions, and when: of one object, or by one user.
    Receipts {
        /// The object whose receipts to list (every version, every user).
        object_id: Option<String>,
        /// Only this community (with OBJECT_ID).
        #[arg(long)]
        community: Option<String>,
        /// What this user pulled and pushed (instead of OBJECT_ID).
        #[arg(long, conflicts_with = "object_id")]
        user: Option<String>,
        /// With --user: only from this time on (RFC 3339); default: everything kept.
        #[arg(long, requires = "user")]
        since: Option<String>,
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
    },
    /// The webhook delivery log, newest first: event, user, webhook, attempts, state, result.
    Webhooks {
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
    },
    /// API tokens for SIEMs and TIPs, each acting as one user: create, list, revoke.
    Token {
        #[command(subcommand)]
        action: TokenAction,
        #[arg(long, default_value = DEFAULT_CONFIG_PATH, global = true)]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Create a token acting as USER; prints `id <ID>` and `token <TOKEN>`, the token only once.
    Create {
        #[arg(long)]
        user: String,
        /// Lifetime, like 90d or 12h; none by default.
        #[arg(long)]
        expires: Option<String>,
        /// The token reads but never adds nor deletes objects.
        #[arg(long)]
        read_only: bool,
        /// What it is for, shown by `list` (e.g. "Sentinel prod").
        #[arg(long, default_value = "")]
        note: String,
    },
    /// List tokens (of one user): id, user, created, expires, last used, state, note.
    List {
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke a token by id; it stops working at the next request, on every instance.
    Revoke { id: String },
}

async fn token_command(action: TokenAction, config: &Path) -> anyhow::Result<Vec<String>> {
    use crate::service::operator;
    let config = Config::load(config)?;
    let storage = crate::startup::open_storage(&config).await?;
    let now = crate::clock::Clock::system().now().micros();
    tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
        Ok(match action {
            TokenAction::Create {
                user,
                expires,
                read_only,
                note,
            } => {
                let expires_at = match expires {
                    Some(text) => Some(now.saturating_add(lifetime(&text)?)),
                    None => None,
                };
                let req = crate::service::auth::token::Request {
                    user,
                    expires_at,
                    read_only,
                    note,
                };
                let minted = operator::create_token(&storage, req, now)??;
                vec![
                    format!("id {}", minted.row.id),
                    format!("token {}", minted.token),
                ]
            }
            TokenAction::List { user } => operator::list_tokens(&storage, user.as_deref(), now)?,
            TokenAction::Revoke { id } => {
                operator::revoke_token(&storage, &id, now)??;
                vec![format!("revoked {id}")]
            }
        })
    })
    .await?
}

/// Prints each refusal as found (stdout) and progress at most twice a second (stderr).
struct Console {
    started: std::time::Instant,
    shown: Option<std::time::Instant>,
    terminal: bool,
}

impl crate::service::import::Report for Console {
    fn progress(&mut self, p: &crate::service::import::Progress) {
        let now = std::time::Instant::now();
        if self
            .shown
            .is_some_and(|t| now - t < std::time::Duration::from_millis(500))
        {
            return;
        }
        self.shown = Some(now);
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = p.objects as f64 / secs;
        let left = match p.read {
            0 => "?".to_owned(),
            read => format!(
                "{:.0}s",
                secs * (p.total.saturating_sub(read)) as f64 / read as f64
            ),
        };
        let line = format!(
            "{} objects, {rate:.0}/s, {} accepted, {} refused, {left} left",
            p.objects, p.accepted, p.refused
        );
        if self.terminal {
            eprint!("\r{line}  ");
        } else {
            eprintln!("{line}");
        }
    }

    fn refused(&mut self, d: &crate::taxii::resources::StatusDetail) {
        println!(
            "refused {} {}: {}",
            d.id,
            d.version,
            d.message.as_deref().unwrap_or("")
        );
    }
}

/// Counts the bytes read from a file, for the time left.
struct Counted<R> {
    inner: R,
    read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: std::io::Read> std::io::Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Imports every file; false when any object was refused.
fn import_files(
    storage: &Storage,
    files: &[PathBuf],
    (community, user): (&str, &str),
    recipients: Option<String>,
    keep: (chrono::Duration, chrono::Duration),
) -> anyhow::Result<bool> {
    use crate::service::import::Import;
    let total = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()))
        .sum::<std::io::Result<u64>>()
        .context("reading the files' sizes")?;
    let validator = crate::stix::Validator::new()?;
    let now = || crate::clock::Clock::system().now();
    let keep = crate::service::ingest::Keep::new(now(), keep.0, keep.1);
    let console = Console {
        started: std::time::Instant::now(),
        shown: None,
        terminal: std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let mut import = Import::new(
        storage, &validator, user, community, keep, now, total, console,
    )?;
    import.recipients = recipients;
    for file in files {
        let name = file.display().to_string();
        let inner = std::fs::File::open(file).with_context(|| format!("opening {name}"))?;
        let read = std::sync::Arc::clone(&import.read);
        import.file(&name, Counted { inner, read })?;
    }
    let p = import.progress().clone();
    // The last figures, whenever the one before was shown.
    import.report.shown = None;
    crate::service::import::Report::progress(&mut import.report, &p);
    if import.report.terminal {
        eprintln!();
    }
    println!(
        "imported {} objects into {community} as {user}: {} accepted, {} refused",
        p.objects, p.accepted, p.refused
    );
    Ok(p.refused == 0)
}

async fn receipts_command(
    object: Option<String>,
    community: Option<String>,
    user: Option<String>,
    since: Option<String>,
    config: &Path,
) -> anyhow::Result<Vec<String>> {
    use crate::service::operator;
    let since = match since.as_deref() {
        Some(t) => crate::stix::timestamp::Timestamp::parse_rfc3339(t)
            .ok_or_else(|| anyhow::anyhow!("--since: '{t}' is not an RFC 3339 timestamp"))?
            .micros(),
        None => i64::MIN,
    };
    let config = Config::load(config)?;
    let storage = crate::startup::open_storage(&config).await?;
    tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
        Ok(match (object, user) {
            (Some(object), None) => {
                operator::receipts_of_object(&storage, &object, community.as_deref())?
            }
            (None, Some(user)) => operator::receipts_of_user(&storage, &user, since)?,
            _ => anyhow::bail!("name an OBJECT_ID, or --user USER"),
        })
    })
    .await?
}

/// `--expires` in microseconds.
fn lifetime(text: &str) -> anyhow::Result<i64> {
    let d = crate::config::parse_duration(text).map_err(|e| anyhow::anyhow!("--expires: {e}"))?;
    d.num_microseconds()
        .filter(|m| *m > 0)
        .ok_or_else(|| anyhow::anyhow!("--expires: '{text}' must be a positive duration"))
}

impl Cli {
    /// The configured log format of `serve`; text for the other commands, and when the config
    /// cannot be read (`serve` then reports why).
    pub fn log_format(&self) -> crate::telemetry::Format {
        let Command::Serve { config } = &self.command else {
            return crate::telemetry::Format::Text;
        };
        Config::load(config)
            .ok()
            .and_then(|c| c.server.log_format().ok())
            .unwrap_or(crate::telemetry::Format::Text)
    }
}

fn read_setup(file: &Path) -> anyhow::Result<(String, crate::setup::SetupFile)> {
    let name = file.display().to_string();
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading setup file {name}"))?;
    let setup = crate::setup::parse(&name, &text)?;
    Ok((name, setup))
}

fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// What apply changed (or check would), one line each, or `no changes`.
fn change_lines(changes: &[String], verb: &str) -> Vec<String> {
    if changes.is_empty() {
        return vec!["no changes".into()];
    }
    changes.iter().map(|c| format!("{verb}{c}")).collect()
}

/// Validates each file; prints one line per problem and a summary. Returns whether all were valid.
pub fn validate(
    validator: &crate::stix::Validator,
    files: &[PathBuf],
    out: &mut impl std::io::Write,
) -> anyhow::Result<bool> {
    let (mut good, mut bad) = (0usize, 0usize);
    for file in files {
        let name = file.display();
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                writeln!(out, "{name}: cannot read: {e}")?;
                bad += 1;
                continue;
            }
        };
        let upload = match crate::stix::parse_upload(&text) {
            Ok(u) => u,
            Err(e) => {
                writeln!(out, "{name}: {e}")?;
                bad += 1;
                continue;
            }
        };
        for (i, raw) in upload.objects.iter().enumerate() {
            let Err(r) = validator.check(raw.get(), i) else {
                good += 1;
                continue;
            };
            bad += 1;
            for p in &r.problems {
                writeln!(out, "{name}: {}: {p}", r.id)?;
            }
        }
    }
    writeln!(out, "{good} valid, {bad} invalid")?;
    Ok(bad == 0)
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let lines = match cli.command {
        Command::MigrateStorage { from, to, force } => migrate_storage(from, to, force).await?,
        Command::Validate { files } => return validate_command(files).await,
        Command::Serve { config } => return serve(&config).await,
        Command::Apply { file, config } => apply(&file, &config).await?,
        Command::Explain {
            user,
            community,
            object_id,
            config,
        } => explain(user, community, object_id, &config).await?,
        Command::Import {
            files,
            community,
            user,
            recipients,
            config,
        } => return import_command(files, (community, user), recipients, &config).await,
        Command::Receipts {
            object_id,
            community,
            user,
            since,
            config,
        } => receipts_command(object_id, community, user, since, &config).await?,
        Command::Webhooks { limit, config } => webhook_log(limit, &config).await?,
        Command::Token { action, config } => token_command(action, &config).await?,
        Command::Check { file, config } => check(&file, &config).await?,
    };
    for line in lines {
        println!("{line}");
    }
    Ok(())
}

async fn migrate_storage(from: String, to: String, force: bool) -> anyhow::Result<Vec<String>> {
    let sums = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let source = Storage::open(&from, 2)?;
        let target = Storage::open(&to, 2)?;
        Ok(crate::storage::migrate::migrate(&source, &target, force)?)
    })
    .await??;
    Ok(sums
        .into_iter()
        .map(|s| {
            format!(
                "{:<14} {:>9} rows  sha256 {}  verified",
                s.table, s.rows, s.sha256
            )
        })
        .collect())
}

/// Exits with status 1 when anything is invalid.
async fn validate_command(files: Vec<PathBuf>) -> anyhow::Result<()> {
    let ok = tokio::task::spawn_blocking(move || -> anyhow::Result<bool> {
        let validator = crate::stix::Validator::new()?;
        validate(&validator, &files, &mut std::io::stdout().lock())
    })
    .await??;
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}

async fn serve(config: &Path) -> anyhow::Result<()> {
    let config = Config::load(config)?;
    let app = Application::build(config).await?;
    app.run_until_stopped().await?;
    Ok(())
}

async fn apply(file: &Path, config: &Path) -> anyhow::Result<Vec<String>> {
    let config = Config::load(config)?;
    let (name, setup) = read_setup(file)?;
    let storage = crate::startup::open_storage(&config).await?;
    let now = crate::clock::Clock::system().now();
    let changes = tokio::task::spawn_blocking(move || {
        storage.write_now(|c| {
            crate::setup::apply(c, &name, &setup, &env_lookup, now)
                .map_err(|e| crate::storage::StorageError::Task(e.to_string()))
        })
    })
    .await??;
    Ok(change_lines(&changes, ""))
}

async fn explain(
    user: String,
    community: String,
    object_id: String,
    config: &Path,
) -> anyhow::Result<Vec<String>> {
    let config = Config::load(config)?;
    let storage = crate::startup::open_storage(&config).await?;
    let now = crate::clock::Clock::system().now();
    let lines = tokio::task::spawn_blocking(move || {
        crate::service::operator::explain(&storage, &user, &community, &object_id, now)
    })
    .await??;
    Ok(lines)
}

/// Exits with status 1 when anything was refused.
async fn import_command(
    files: Vec<PathBuf>,
    (community, user): (String, String),
    recipients: Option<String>,
    config: &Path,
) -> anyhow::Result<()> {
    let config = Config::load(config)?;
    let storage = crate::startup::open_storage(&config).await?;
    let keep = (
        config.taxii.status_retention()?,
        config.taxii.receipt_retention()?,
    );
    let ok = tokio::task::spawn_blocking(move || {
        import_files(&storage, &files, (&community, &user), recipients, keep)
    })
    .await??;
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}

async fn webhook_log(limit: i64, config: &Path) -> anyhow::Result<Vec<String>> {
    let config = Config::load(config)?;
    let storage = crate::startup::open_storage(&config).await?;
    let lines =
        tokio::task::spawn_blocking(move || crate::service::operator::webhook_log(&storage, limit))
            .await??;
    Ok(lines)
}

async fn check(file: &Path, config: &Path) -> anyhow::Result<Vec<String>> {
    let (name, setup) = read_setup(file)?;
    let config = Config::load(config)?;
    // Compare against the configured database when it exists; never create one.
    let url = match config.storage.url.strip_prefix("sqlite://") {
        Some(path) if !Path::new(path).exists() => "sqlite::memory:".to_owned(),
        _ => config.storage.url.clone(),
    };
    let now = crate::clock::Clock::system().now();
    let changes = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
        let storage = Storage::open(&url, 1)?;
        storage
            .read_now(|c| {
                crate::setup::check(c, &name, &setup, &env_lookup, now)
                    .map_err(|e| crate::storage::StorageError::Task(e.to_string()))
            })
            .map_err(Into::into)
    })
    .await??;
    Ok(change_lines(&changes, "would apply: "))
}
