//! Two `cairn serve` processes on one database (PostgreSQL when CAIRN_TEST_POSTGRES_URL is set, a
//! throwaway database; the same SQLite file otherwise), each on its own port, sharing nothing but
//! the database and their config: no `server.secret`, so the `next`-token key is the one in the
//! database. Runs the scenario of `cairn_conformance::instances` on them: writes through both at
//! once, polls through both alternately with `next` tokens and `added_after`; each reader gets
//! exactly what the policy allows, each once, in order; tokens minted by one process work on the
//! other; statuses posted through one are read through the other.

use cairn_conformance::{instances, storage_url, Http, TestServer};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_cairn");
/// How long a process may take to start on a loaded machine.
const START: Duration = Duration::from_secs(30);

/// `cairn ARGS` in `dir`, configured by `dir/cairn.toml` alone: no inherited `CAIRN_SECTION__KEY`
/// override, and info logging (the listening line gives the port).
fn cairn(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .args(args)
        .args(["--config", "cairn.toml"]);
    for (k, _) in std::env::vars_os() {
        if let Some(k) = k
            .to_str()
            .filter(|k| k.starts_with("CAIRN_") && k.contains("__"))
        {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUST_LOG", "info").env_remove("RUST_BACKTRACE");
    cmd
}

/// A `cairn serve` child process, killed when dropped (also when the test panics, after printing
/// the end of its log).
struct Serve {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Serve {
    /// Starts `cairn serve` in `dir`, on port 0 (the kernel picks a free one), logging to a file.
    fn spawn(dir: &Path, name: &'static str) -> Serve {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = cairn(dir, &["serve"])
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .stdin(Stdio::null())
            .spawn()
            .expect("cairn serve starts");
        Serve { name, child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the port the process reports in its `cairn listening ... port=N` line, then for
    /// discovery to answer `user`.
    async fn ready(&mut self, user: &str) -> Http {
        let deadline = Instant::now() + START;
        let port = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("{} exited ({status}):\n{}", self.name, self.log());
            }
            if let Some(port) = listening_port(&self.log()) {
                break port;
            }
            assert!(Instant::now() < deadline, "{} did not start", self.name);
            // Polling a child process for readiness, not timing an assertion.
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let http = Http::new(port);
        loop {
            let r = http
                .client
                .get(http.url("/taxii2/"))
                .header("Authorization", TestServer::auth(user))
                .header("Accept", cairn_conformance::TAXII)
                .send()
                .await;
            match r {
                Ok(r) if r.status() == 200 => return http,
                Ok(r) => panic!("{}: discovery answered {}", self.name, r.status()),
                Err(e) => assert!(
                    Instant::now() < deadline,
                    "{}: discovery never answered: {e}\n{}",
                    self.name,
                    self.log()
                ),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(40)..].join("\n");
            eprintln!("---- {} log, last 40 lines\n{tail}", self.name);
        }
    }
}

/// The port of a `cairn listening addr=... port=N ...` log line.
fn listening_port(log: &str) -> Option<u16> {
    let line = log.lines().find(|l| l.contains("cairn listening"))?;
    let rest = &line[line.find(" port=")? + " port=".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_processes_share_one_database_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let url = storage_url(&dir);
    std::fs::write(
        dir.path().join("cairn.toml"),
        format!(
            "[server]\nbind = \"127.0.0.1:0\"\nworkers = 2\n\n[storage]\nurl = \"{url}\"\npool_size = 4\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("setup.toml"), instances::setup()).unwrap();
    let apply = cairn(dir.path(), &["apply", "setup.toml"])
        .output()
        .unwrap();
    assert!(
        apply.status.success(),
        "{}",
        String::from_utf8_lossy(&apply.stderr)
    );

    // Both at once: they race to create the next-token key in the database.
    let mut a = Serve::spawn(dir.path(), "a");
    let mut b = Serve::spawn(dir.path(), "b");
    let ha = a.ready("acme-soc").await;
    let hb = b.ready("acme-soc").await;
    assert_ne!(ha.base, hb.base);

    instances::share_one_database([ha, hb]).await;
    for s in [&mut a, &mut b] {
        assert!(
            s.child.try_wait().unwrap().is_none(),
            "{} exited:\n{}",
            s.name,
            s.log()
        );
    }
}
