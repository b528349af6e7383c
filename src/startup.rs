//! Builds the running server from a config: storage (schema migrated), the `next` key, the bound
//! listener and the actix server. `main` and every test start Cairn through `Application::build`.

use crate::clock::Clock;
use crate::config::Config;
use crate::service::auth::Limits;
use crate::service::{Cairn, Settings};
use crate::storage::{meta_get_or_init, Storage};
/// The handle that stops a running server (tests stop theirs before exiting).
pub use actix_web::dev::ServerHandle;
use actix_web::{dev::Server, web, HttpServer};
use anyhow::Context;
use rand::RngCore;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

/// File descriptors kept back from connections: database files and connections, the WAL,
/// logs, the blocking pool's work.
const RESERVED_FDS: u64 = 256;

/// Raises the soft limit on open files to the hard limit (often 1,024 against 524,288): at
/// 1,024, slow clients holding connections used up the descriptors and locked everyone out.
/// Returns the limit now in force.
fn raise_fd_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!(error = %e, "could not raise the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}

/// `server.max_connections`, or else what the descriptor limit allows after the reserve,
/// shared among the workers: at the limit actix stops accepting instead of failing accept().
fn connections_per_worker(server: &crate::config::ServerConfig, fds: u64, workers: usize) -> usize {
    if server.max_connections > 0 {
        return server.max_connections;
    }
    let usable = fds.saturating_sub(RESERVED_FDS).max(64);
    (usable / workers as u64).clamp(16, 25_000) as usize
}

pub struct Application {
    port: u16,
    server: Server,
    cairn: Cairn,
    /// The metrics listener's port and server, when `server.metrics_bind` is set.
    metrics: Option<(u16, Server)>,
    /// Notification mail, when `[mail]` is set.
    mailer: Option<crate::service::mail::Mailer>,
}

/// On glibc, runs this program again with `MALLOC_ARENA_MAX` set to four arenas per core unless
/// that variable is set. glibc's default, eight per core, let each busy thread keep what its
/// largest envelope needed (peak RSS 135 MB after a 100,000-object ingest, against 108 MB with
/// two arenas). But with two, the writer waited on the arena lock that the checking threads held:
/// off its core for a tenth of each transaction, in `malloc` and `free`. Four per core (the
/// writer, a checking thread, an HTTP worker and a reader task each) measured 24,412 against
/// 21,114 objects/s and 114 against 110 MB (`cairn-bench ingest-ab`, three rounds; 16 arenas
/// gave no more; on many cores this is close to glibc's own bound, and RSS was measured on
/// two). glibc reads the variable only at start, and `mallopt` would need unsafe code,
/// so the process replaces itself (same pid) before doing anything else. Set it to opt out.
pub fn cap_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        const VAR: &str = "MALLOC_ARENA_MAX";
        if std::env::var_os(VAR).is_some() {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let arenas = (4 * cores).to_string();
        let err = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env(VAR, &arenas)
            .exec();
        // Still here: the program could not be run again; go on with the default arenas.
        eprintln!("cairn: could not restart with {VAR}={arenas} ({err}); going on without it");
    }
}

/// Opens storage off the async executor (migrations may take a while).
pub async fn open_storage(config: &Config) -> anyhow::Result<Storage> {
    let url = config.storage.url.clone();
    let (size, cap) = (config.storage.pool_size, config.storage.max_size);
    let storage = tokio::task::spawn_blocking(move || Storage::open_capped(&url, size, cap))
        .await
        .context("opening storage")??;
    Ok(storage)
}

/// `GET /metrics` on an address of its own, on one worker: a scrape is rare and small.
fn metrics_server(addr: SocketAddr, cairn: Cairn) -> anyhow::Result<(u16, Server)> {
    let listener = TcpListener::bind(addr).with_context(|| format!("binding metrics {addr}"))?;
    let port = listener.local_addr()?.port();
    let data = web::Data::new(cairn);
    let server = HttpServer::new(move || crate::http::metrics_app(data.clone()))
        .workers(1)
        .listen(listener)?
        .run();
    tracing::info!(%addr, port, "metrics listening");
    Ok((port, server))
}

fn tls_config(tls: &crate::config::TlsConfig) -> anyhow::Result<rustls::ServerConfig> {
    use std::io::BufReader;
    let certs = rustls_pemfile::certs(&mut BufReader::new(
        std::fs::File::open(&tls.cert)
            .with_context(|| format!("reading tls.cert {}", tls.cert.display()))?,
    ))
    .collect::<Result<Vec<_>, _>>()
    .with_context(|| format!("parsing tls.cert {}", tls.cert.display()))?;
    let key = rustls_pemfile::private_key(&mut BufReader::new(
        std::fs::File::open(&tls.key)
            .with_context(|| format!("reading tls.key {}", tls.key.display()))?,
    ))
    .with_context(|| format!("parsing tls.key {}", tls.key.display()))?
    .with_context(|| format!("no private key in {}", tls.key.display()))?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("tls certificate and key do not match")?;
    Ok(cfg)
}

/// The key of `next` tokens and credential caches: `server.secret`, or a random one kept in
/// the database (the same for every instance sharing it).
async fn secret(config: &Config, storage: &Storage) -> anyhow::Result<String> {
    if let Some(s) = &config.server.secret {
        return Ok(s.clone());
    }
    let s = storage.clone();
    let key = tokio::task::spawn_blocking(move || {
        s.write_now(|c| {
            meta_get_or_init(c, "next_token_key", || {
                let mut k = [0u8; 32];
                rand::thread_rng().fill_bytes(&mut k);
                crate::service::auth::token::hex(&k)
            })
        })
    })
    .await??;
    Ok(key)
}

fn settings(config: &Config) -> anyhow::Result<Settings> {
    Ok(Settings {
        title: config.taxii.title.clone(),
        description: config.taxii.description.clone(),
        contact: config.taxii.contact.clone(),
        default_page_size: config.taxii.default_page_size,
        max_page_size: config.taxii.max_page_size,
        max_page_bytes: config.taxii.max_page_bytes,
        max_content_length: config.server.max_content_length,
        status_retention: config.taxii.status_retention()?,
        receipt_retention: config.taxii.receipt_retention()?,
        public_url: config.server.public_url.clone(),
    })
}

/// The state every request shares: storage, clock, settings, keys, the validator.
async fn state(config: &Config, clock: Clock) -> anyhow::Result<Cairn> {
    let storage = open_storage(config).await?;
    let secret = secret(config, &storage).await?;
    let limits = Limits {
        per_name_and_address: config.server.login_failures,
        per_address: config.server.login_failures_per_address,
        window: config.server.login_window()?,
    };
    let settings = settings(config)?;
    Ok(Cairn::new(
        storage,
        clock,
        settings,
        secret.as_bytes(),
        limits,
    )?)
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        Self::build_with_clock(config, Clock::system()).await
    }

    pub async fn build_with_clock(config: Config, clock: Clock) -> anyhow::Result<Application> {
        let addr: SocketAddr = config.server.bind.parse().with_context(|| {
            format!(
                "server.bind '{}' is not an address:port",
                config.server.bind
            )
        })?;
        if !addr.ip().is_loopback() && config.tls.is_none() && !config.server.allow_plain_http {
            anyhow::bail!(
                "refusing plain HTTP on non-loopback address {addr}: configure [tls], or set \
                 server.allow_plain_http = true behind a TLS-terminating proxy"
            );
        }
        let tls = config.tls.as_ref().map(tls_config).transpose()?;
        let cairn = state(&config, clock).await?;
        let listener = TcpListener::bind(addr).with_context(|| format!("binding {addr}"))?;
        let port = listener.local_addr()?.port();
        let data = web::Data::new(cairn.clone());
        let edge = web::Data::new(crate::http::edge::Edge::new(&config.server)?);
        let workers = match config.server.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let connections = connections_per_worker(&config.server, raise_fd_limit(), workers);
        let server = HttpServer::new(move || crate::http::app(data.clone(), edge.clone()))
            .workers(workers)
            .max_connections(connections)
            // The head must arrive within 5 s (actix's default, stated); the body has
            // server.body_timeout, enforced where it is read.
            .client_request_timeout(Duration::from_secs(5))
            .client_disconnect_timeout(Duration::from_secs(2));
        let server = match tls {
            Some(tls) => server.listen_rustls_0_23(listener, tls)?,
            None => server.listen(listener)?,
        }
        .run();
        let metrics = match config.server.metrics_bind()? {
            Some(addr) => Some(metrics_server(addr, cairn.clone())?),
            None => None,
        };
        crate::telemetry::report_dropped_lines();
        tracing::info!(%addr, port, tls = config.tls.is_some(), workers, connections, "cairn listening");
        let mailer = config
            .mail
            .as_ref()
            .map(crate::service::mail::Mailer::new)
            .transpose()
            .map_err(anyhow::Error::msg)?;
        Ok(Application {
            port,
            server,
            cairn,
            metrics,
            mailer,
        })
    }

    /// The port metrics are served on, when they are.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shared state, for tests that move the clock.
    pub fn cairn(&self) -> &Cairn {
        &self.cairn
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Runs the TAXII server, and the metrics server beside it, until the TAXII server stops
    /// (the metrics server stops with it).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        // Webhooks are sent while the server runs, and stop with it.
        let sender = tokio::spawn(self.cairn.clone().send_notifications(self.mailer));
        let _stop_sender = crate::service::webhooks::AbortOnDrop(sender);
        let Some((_, metrics)) = self.metrics else {
            return self.server.await;
        };
        let metrics_handle = metrics.handle();
        let beside = tokio::spawn(metrics);
        let served = self.server.await;
        metrics_handle.stop(true).await;
        let _ = beside.await;
        served
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_follow_the_descriptor_limit_unless_configured() {
        let mut server = crate::config::ServerConfig::default();
        assert_eq!(connections_per_worker(&server, 1024, 2), 384);
        assert_eq!(connections_per_worker(&server, 524_288, 2), 25_000);
        assert_eq!(connections_per_worker(&server, 100, 8), 16);
        server.max_connections = 50;
        assert_eq!(connections_per_worker(&server, 1024, 2), 50);
    }
}
