//! The servers under test, each a child process of its own: Cairn (this binary's hidden
//! `serve-cairn`), medallion 3.0.0 (in a virtual environment created here) and nginx.

use anyhow::{bail, ensure, Context};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const COLLECTION: &str = "7c4d2b1a-9e3f-4a6b-8c5d-2e1f0a9b8c7d";
pub const PASSWORD: &str = "compare bench";
/// Cairn: partner `cert` moderates and posts, partner `member` reads everything (cap RED).
pub const CAIRN_WRITER: (&str, &str) = ("cert", "cert-bot");
pub const CAIRN_READER: (&str, &str) = ("member", "member-soc");
/// medallion: one API root, one collection everybody may read and write.
pub const MEDALLION_ROOT: &str = "bench";
pub const MEDALLION_WRITER: &str = "writer";
pub const MEDALLION_READER: &str = "reader";
pub const MEDALLION_VERSION: &str = "3.0.0";

/// A running server process; killed when dropped.
pub struct Proc {
    pub name: String,
    pub child: Child,
    pub addr: SocketAddr,
    /// Where its stderr (its log) goes.
    pub log: PathBuf,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The peak resident set (VmHWM) of the process and of its child processes (nginx's
    /// workers), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let mut total = vm_hwm_kib(self.pid())?;
        for c in children(self.pid()) {
            total += vm_hwm_kib(c).unwrap_or(0);
        }
        Some(total)
    }

    /// Stops it: SIGTERM (nginx's master then stops its workers), SIGKILL after 5 s.
    pub async fn stop(mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        signal_term(self.child.id()).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Drop kills what is left.
    }

    /// Fails when the process has exited, with the end of its log.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited ({status}); end of its log {}:\n{}",
                self.name,
                self.log.display(),
                tail(&self.log, 20)
            );
        }
        Ok(())
    }
}

impl Drop for Proc {
    /// On every path, stopped or not: SIGKILL when it still runs (nginx was sent SIGTERM by
    /// `stop`, or gets it here first so that its workers go too), then reaped.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        if self.name == "nginx" {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .stderr(Stdio::null())
                .status();
        } else {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// SIGTERM to one process this bench started.
async fn signal_term(pid: u32) {
    let _ = tokio::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status()
        .await;
}

pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let v: Vec<&str> = text.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

fn status_field_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    status_field_kib(pid, "VmHWM:")
}

/// The direct children of a process, from /proc/*/stat.
fn children(pid: u32) -> Vec<u32> {
    let mut out = vec![];
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|s| s.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(p);
        }
    }
    out
}

/// A free port on 127.0.0.1 (for servers that cannot report the one they bound).
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Waits until something accepts connections on `addr`.
async fn wait_listening(proc: &mut Proc, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if tokio::net::TcpStream::connect(proc.addr).await.is_ok() {
            return Ok(());
        }
        proc.check_alive()?;
        ensure!(
            Instant::now() < deadline,
            "{} did not listen on {} within {} s; end of its log:\n{}",
            proc.name,
            proc.addr,
            timeout.as_secs(),
            tail(&proc.log, 20)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------- Cairn

/// Where a Cairn server keeps its data.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    /// The admin URL fresh databases are created from.
    Postgres(String),
}

impl Backend {
    pub fn label(&self) -> &'static str {
        match self {
            Backend::Sqlite => "Cairn SQLite",
            Backend::Postgres(_) => "Cairn PostgreSQL",
        }
    }
}

/// The bench's setup file, with `PASSWORD` hashed for both users.
pub fn cairn_setup() -> anyhow::Result<String> {
    let hash = cairn::service::auth::hash_password(PASSWORD)
        .map_err(|e| anyhow::anyhow!("hashing the bench password: {e}"))?;
    let (wp, wu) = CAIRN_WRITER;
    let (rp, ru) = CAIRN_READER;
    Ok(format!(
        r#"[[partner]]
id = "{wp}"
title = "Sector CERT"

[[partner]]
id = "{rp}"
title = "Member bank"

[[user]]
name = "{wu}"
partner = "{wp}"
password_hash = "{hash}"

[[user]]
name = "{ru}"
partner = "{rp}"
password_hash = "{hash}"
max_tlp = "red"

[[community]]
id = "compare"
collection = "{COLLECTION}"
title = "Compare bench"

[[community.member]]
partner = "{wp}"
role = "moderator"
max_tlp = "red"

[[community.member]]
partner = "{rp}"
role = "reader"
max_tlp = "red"
"#
    ))
}

/// A Cairn server on a fresh store.
pub struct CairnServer {
    pub proc: Proc,
    /// Its storage URL and its config file (for `cairn apply --config` on the same store).
    pub url: String,
    pub config: PathBuf,
    /// Where it serves `GET /metrics`.
    pub metrics: SocketAddr,
    /// For PostgreSQL: the admin URL and the database to drop afterwards.
    drop_db: Option<(String, String)>,
}

impl CairnServer {
    /// Starts `exe serve-cairn` (a copy of this binary) on a fresh database in `dir` (SQLite)
    /// or a fresh PostgreSQL database. `setup` holds the setup file text.
    pub async fn start(
        backend: &Backend,
        exe: &Path,
        dir: &Path,
        tag: &str,
        setup: &str,
    ) -> anyhow::Result<CairnServer> {
        let (url, drop_db) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", dir.join(format!("{tag}.db")).display()),
                None,
            ),
            Backend::Postgres(admin) => {
                // At most 63 characters: PostgreSQL truncates longer identifiers.
                let name = format!("cairn_bench_{}", uuid::Uuid::new_v4().simple());
                let (a, n) = (admin.clone(), name.clone());
                let url = tokio::task::spawn_blocking(move || {
                    cairn::storage::create_postgres_database(&a, &n)
                })
                .await?
                .with_context(|| format!("creating database {name}"))?;
                (url, Some((admin.clone(), name)))
            }
        };
        let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        match Self::launch(&url, metrics, exe, dir, tag, setup).await {
            Ok(proc) => Ok(CairnServer {
                proc,
                config: dir.join(format!("{tag}.toml")),
                metrics,
                url,
                drop_db,
            }),
            Err(e) => {
                if let Some((admin, name)) = drop_db {
                    drop_postgres_database(&admin, &name).await;
                }
                Err(e)
            }
        }
    }

    async fn launch(
        url: &str,
        metrics: SocketAddr,
        exe: &Path,
        dir: &Path,
        tag: &str,
        setup: &str,
    ) -> anyhow::Result<Proc> {
        let config = dir.join(format!("{tag}.toml"));
        // The shipped defaults otherwise: one HTTP worker per core, a pool of 8 connections,
        // pages of at most 1,000.
        std::fs::write(
            &config,
            format!(
                "[server]\nbind = \"127.0.0.1:0\"\nmetrics_bind = \"{metrics}\"\n\
                 [storage]\nurl = \"{url}\"\n"
            ),
        )?;
        let setup_file = dir.join(format!("{tag}-setup.toml"));
        std::fs::write(&setup_file, setup)?;
        let log = dir.join(format!("{tag}.log"));
        let mut child = Command::new(exe)
            .arg("serve-cairn")
            .arg("--config")
            .arg(&config)
            .arg("--setup")
            .arg(&setup_file)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("starting serve-cairn")?;
        let stdout = child.stdout.take().context("no stdout")?;
        // The port line, read on a thread so that a server that never prints it times out.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(p) = line.strip_prefix(crate::serve_cairn::READY) {
                    let _ = tx.send(p.trim().parse::<u16>().ok());
                }
            }
        });
        let mut proc = Proc {
            name: format!("Cairn ({tag})"),
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
        };
        let port =
            tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(120))).await?;
        let port = match port {
            Ok(Some(p)) => p,
            _ => {
                proc.check_alive()?;
                bail!(
                    "Cairn did not report its port; log:\n{}",
                    tail(&proc.log, 20)
                );
            }
        };
        proc.addr = SocketAddr::from(([127, 0, 0, 1], port));
        Ok(proc)
    }

    /// Stops the server and drops its PostgreSQL database.
    pub async fn stop(self) {
        self.proc.stop().await;
        if let Some((admin, name)) = self.drop_db {
            drop_postgres_database(&admin, &name).await;
        }
    }
}

/// Drops a database this bench created (with psql; a failure is only reported). The server's
/// sessions may take a moment to end after it exits, so it tries a few times.
async fn drop_postgres_database(admin: &str, name: &str) {
    let mut last = String::new();
    for _ in 0..10 {
        let r = tokio::process::Command::new("psql")
            .arg("-X")
            .arg("-q")
            .arg("-d")
            .arg(admin)
            .arg("-c")
            .arg(format!("DROP DATABASE IF EXISTS {name}"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .await;
        match r {
            Ok(o) if o.status.success() => return,
            Ok(o) => last = String::from_utf8_lossy(&o.stderr).trim().to_owned(),
            Err(e) => {
                eprintln!("  warning: could not drop database {name} (psql: {e})");
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    eprintln!("  warning: could not drop database {name}: {last}");
}

// ---------------------------------------------------------------- medallion

/// The virtual environment with medallion, created on first use.
pub fn medallion_venv(dir: &Path) -> anyhow::Result<PathBuf> {
    let bin = dir.join("bin").join("medallion");
    let python = dir.join("bin").join("python");
    let installed = Command::new(&python)
        .args([
            "-c",
            "import importlib.metadata as m, sys; sys.exit(m.version('medallion') != sys.argv[1])",
            MEDALLION_VERSION,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if installed && bin.exists() {
        return Ok(bin);
    }
    eprintln!(
        "  creating {} with medallion=={MEDALLION_VERSION} (once)",
        dir.display()
    );
    let ok = Command::new("python3")
        .arg("-m")
        .arg("venv")
        .arg(dir)
        .status()
        .context("python3 -m venv (install python3-venv)")?;
    ensure!(ok.success(), "python3 -m venv {} failed", dir.display());
    let ok = Command::new(dir.join("bin").join("pip"))
        .args([
            "install",
            "-q",
            "--disable-pip-version-check",
            &format!("medallion=={MEDALLION_VERSION}"),
        ])
        .status()
        .context("pip install medallion")?;
    ensure!(
        ok.success(),
        "pip install medallion=={MEDALLION_VERSION} failed"
    );
    Ok(bin)
}

/// Starts medallion with its memory backend, an empty collection and two users.
pub async fn start_medallion(venv_bin: &Path, dir: &Path, tag: &str) -> anyhow::Result<Proc> {
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    // The memory backend's data file: discovery, one API root with its information, an empty
    // status list and one collection (read and write), as the backend reads them.
    let data = serde_json::json!({
        "/discovery": {
            "title": "medallion (compare bench)",
            "description": "memory backend",
            "contact": "",
            "default": format!("{base}/{MEDALLION_ROOT}/"),
            "api_roots": [format!("{base}/{MEDALLION_ROOT}/")],
        },
        MEDALLION_ROOT: {
            "information": {
                "title": "bench",
                "description": "",
                "versions": ["application/taxii+json;version=2.1"],
                "max_content_length": 104_857_600,
            },
            "status": [],
            "collections": [{
                "id": COLLECTION,
                "title": "bench",
                "description": "",
                "can_read": true,
                "can_write": true,
                "media_types": ["application/stix+json;version=2.1"],
                "objects": [],
                "manifest": [],
            }],
        },
    });
    let data_file = dir.join(format!("{tag}-data.json"));
    std::fs::write(&data_file, serde_json::to_vec_pretty(&data)?)?;
    let config = serde_json::json!({
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": data_file,
        },
        "users": { MEDALLION_WRITER: PASSWORD, MEDALLION_READER: PASSWORD },
        "taxii": { "max_page_size": 1000 },
    });
    let config_file = dir.join(format!("{tag}-config.json"));
    std::fs::write(&config_file, serde_json::to_vec_pretty(&config)?)?;
    let log = dir.join(format!("{tag}.log"));
    let child = Command::new(venv_bin)
        .arg("--host")
        .arg("127.0.0.1")
        .arg("--port")
        .arg(port.to_string())
        .arg(&config_file)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join(format!("{tag}.out")))?)
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .context("starting medallion")?;
    let mut proc = Proc {
        name: format!("medallion ({tag})"),
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        log,
    };
    wait_listening(&mut proc, Duration::from_secs(60)).await?;
    Ok(proc)
}

// ---------------------------------------------------------------- nginx

/// nginx, installed with apt-get when missing.
pub fn nginx_binary() -> anyhow::Result<PathBuf> {
    for p in ["/usr/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(p).exists() {
            return Ok(PathBuf::from(p));
        }
    }
    eprintln!("  nginx is missing: apt-get install -y nginx");
    let ok = Command::new("apt-get")
        .args(["install", "-y", "-qq", "nginx"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("apt-get")?;
    ensure!(
        ok.success(),
        "apt-get install nginx failed (apt-get update first?)"
    );
    nginx_binary()
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// nginx in the foreground on 127.0.0.1, serving `body` at `path` with the TAXII media type:
/// one worker per core, no access log, keep-alive without a request limit.
pub async fn start_nginx(dir: &Path, path: &str, body: &[u8]) -> anyhow::Result<Proc> {
    let bin = nginx_binary()?;
    let root = dir.join("nginx");
    let www = root.join("www");
    std::fs::create_dir_all(&www)?;
    std::fs::write(www.join("page.json"), body)?;
    let port = free_port()?;
    let user = if running_as_root() {
        "user root;\n"
    } else {
        ""
    };
    let conf = format!(
        r#"{user}daemon off;
worker_processes auto;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_timeout 65;
    keepalive_requests 10000000;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location = {path} {{
            default_type "application/taxii+json;version=2.1";
            root {www};
            try_files /page.json =404;
        }}
    }}
}}
"#,
        root = root.display(),
        www = www.display(),
    );
    let conf_file = root.join("nginx.conf");
    std::fs::write(&conf_file, conf)?;
    let log = root.join("stderr.log");
    std::fs::create_dir_all(root.join("logs"))?;
    let child = Command::new(bin)
        .arg("-e")
        .arg(root.join("logs").join("error.log"))
        .arg("-p")
        .arg(&root)
        .arg("-c")
        .arg(&conf_file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .context("starting nginx")?;
    let mut proc = Proc {
        name: "nginx".into(),
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        log,
    };
    wait_listening(&mut proc, Duration::from_secs(20)).await?;
    Ok(proc)
}
