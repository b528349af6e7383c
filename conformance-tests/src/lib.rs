//! Test harness: starts a real Cairn (SQLite in a temporary directory) on 127.0.0.1 port 0 and
//! talks to it over HTTP. Every conformance test starts its own server, so tests run in parallel.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cairn::clock::Clock;
use cairn::config::Config;
use cairn::startup::Application;
use reqwest::header::HeaderMap;
use serde_json::Value;
use std::path::Path;
use std::sync::OnceLock;

pub mod instances;

/// Every test user's password.
pub const PASSWORD: &str = "correct horse battery staple";
pub const TAXII: &str = "application/taxii+json;version=2.1";
pub const FINANCE: &str = "2f0e4c8e-6b1a-4c55-9d8e-6f1b7e0a9c11";
pub const CLUB: &str = "7d1f3a52-9c4e-4b8a-8f2d-3e5b6a7c8d90";

/// One argon2id hash of PASSWORD, computed once per test binary.
pub fn password_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| cairn::service::auth::hash_password(PASSWORD).unwrap())
}

/// The standard community used by most tests:
/// - finance-isac: acme moderator, globex contributor, initech reader;
/// - club: globex only.
///
/// Users: acme-soc and acme-bot (acme), globex-soc (globex), initech-soc (initech).
pub fn standard_setup() -> String {
    let h = password_hash();
    format!(
        r#"
[[partner]]
id = "acme"
title = "ACME Bank"
[[partner]]
id = "globex"
title = "Globex"
[[partner]]
id = "initech"
title = "Initech"

[[user]]
name = "acme-soc"
partner = "acme"
password_hash = "{h}"
[[user]]
name = "acme-bot"
partner = "acme"
password_hash = "{h}"
[[user]]
name = "globex-soc"
partner = "globex"
password_hash = "{h}"
[[user]]
name = "initech-soc"
partner = "initech"
password_hash = "{h}"

[[community]]
id = "finance-isac"
collection = "{FINANCE}"
title = "Finance ISAC"
description = "Banks of the region"
[[community.member]]
partner = "acme"
role = "moderator"
[[community.member]]
partner = "globex"
role = "contributor"
[[community.member]]
partner = "initech"
role = "reader"

[[community]]
id = "club"
collection = "{CLUB}"
title = "Globex club"
[[community.member]]
partner = "globex"
role = "moderator"
"#
    )
}

/// `cairn check` of setup `text` against an empty database at the epoch, with `env` for its
/// `env:` values: the plan, or why the file is refused.
pub fn plan_setup(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<cairn::setup::Plan, cairn::setup::SetupError> {
    let parsed = cairn::setup::parse("setup.toml", text)?;
    let empty = cairn::storage::setup::SetupRows::default();
    let epoch = cairn::stix::timestamp::Timestamp::EPOCH;
    cairn::setup::plan("setup.toml", &parsed, &empty, env, epoch)
}

/// The database of one test server: a fresh SQLite file, or, when `CAIRN_TEST_POSTGRES_URL`
/// names a PostgreSQL database the role may create databases from, a fresh PostgreSQL database.
pub fn storage_url(dir: &tempfile::TempDir) -> String {
    match std::env::var("CAIRN_TEST_POSTGRES_URL") {
        Ok(admin) if !admin.is_empty() => {
            let name = format!("cairn_test_{}", uuid::Uuid::new_v4().simple());
            cairn::storage::create_postgres_database(&admin, &name)
                .expect("creating a test database")
        }
        _ => format!("sqlite://{}", dir.path().join("cairn.db").display()),
    }
}

/// A response, fully read.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
    pub fn content_type(&self) -> Option<String> {
        self.header("content-type")
    }
    /// Asserts a TAXII error resource with this status and returns it.
    pub fn assert_error(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "body: {}", self.text());
        assert_eq!(self.content_type().as_deref(), Some(TAXII));
        let e = self.json();
        for k in ["title", "description", "error_id"] {
            assert!(
                e[k].as_str().is_some_and(|s| !s.is_empty()),
                "error lacks {k}: {e}"
            );
        }
        assert_eq!(e["http_status"], Value::String(status.to_string()), "{e}");
        e
    }
    /// Body and headers with the per-occurrence parts (error_id, Date) removed, to compare two
    /// responses that must say exactly the same thing.
    pub fn comparable(&self) -> (u16, Vec<(String, String)>, String) {
        let mut headers: Vec<(String, String)> = self
            .headers
            .iter()
            // Per-occurrence or transport-level: the Date, and whether actix closes the connection
            // (which depends on how much of an unread body had arrived).
            .filter(|(k, _)| k.as_str() != "date" && k.as_str() != "connection")
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        headers.sort();
        let mut body = self.text();
        if let Ok(Value::Object(mut m)) = serde_json::from_slice::<Value>(&self.body) {
            if m.contains_key("error_id") {
                m.insert("error_id".into(), Value::String("*".into()));
                body = serde_json::to_string(&m).unwrap();
            }
        }
        (self.status, headers, body)
    }
}

/// An HTTP client of one running Cairn, wherever it runs: in this process (a `TestServer`
/// dereferences to one) or in a `cairn serve` child process.
#[derive(Debug, Clone)]
pub struct Http {
    /// `http://127.0.0.1:{port}`.
    pub base: String,
    pub client: reqwest::Client,
}

pub struct TestServer {
    pub port: u16,
    /// Where `server.metrics_bind` serves metrics, when the config sets it.
    pub metrics_port: Option<u16>,
    pub clock: Clock,
    pub config: Config,
    pub http: Http,
    handle: cairn::startup::ServerHandle,
    dir: tempfile::TempDir,
}

impl std::ops::Deref for TestServer {
    type Target = Http;
    fn deref(&self) -> &Http {
        &self.http
    }
}

impl TestServer {
    /// The standard setup with the default config.
    pub async fn start() -> TestServer {
        Self::start_with(&standard_setup(), "").await
    }

    /// Starts with this setup file and extra config TOML appended to the test config.
    pub async fn start_with(setup: &str, extra_config: &str) -> TestServer {
        Self::start_with_clock(setup, extra_config, Clock::system()).await
    }

    /// The same, on a given clock (a frozen one makes two servers comparable byte for byte).
    pub async fn start_with_clock(setup: &str, extra_config: &str, clock: Clock) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let url = storage_url(&dir);
        let text = format!(
            "[server]\nbind = \"127.0.0.1:0\"\nworkers = 2\n{extra_config}\n[storage]\nurl = \"{url}\"\npool_size = 4\n"
        );
        let config = Config::from_parts(
            Path::new("test.toml"),
            &text,
            Vec::<(String, String)>::new(),
        )
        .unwrap();
        let server = TestServer::launch(config, dir, clock).await;
        server.apply(setup).await;
        server
    }

    /// Starts a server on an existing config and directory (to restart over the same database).
    pub async fn launch(config: Config, dir: tempfile::TempDir, clock: Clock) -> TestServer {
        let app = Application::build_with_clock(config.clone(), clock.clone())
            .await
            .unwrap();
        let port = app.port();
        let metrics_port = app.metrics_port();
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        TestServer {
            port,
            metrics_port,
            clock,
            config,
            http: Http::new(port),
            handle,
            dir,
        }
    }

    /// Stops the server and lets its workers drop their database connections (libpq must not
    /// still be in use by worker threads while the test process exits).
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }

    /// Hands the database directory over (to start another server on it).
    pub fn into_dir(self) -> (Config, tempfile::TempDir) {
        (self.config, self.dir)
    }

    /// Runs `cairn apply` logic on this server's database.
    pub async fn apply(&self, setup: &str) -> Vec<String> {
        self.apply_with_env(setup, &[]).await
    }

    /// The same, with these environment variables for the file's `env:` values.
    pub async fn apply_with_env(&self, setup: &str, env: &[(&str, &str)]) -> Vec<String> {
        let parsed = cairn::setup::parse("setup.toml", setup).unwrap();
        let storage = cairn::startup::open_storage(&self.config).await.unwrap();
        let now = self.clock.now();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        tokio::task::spawn_blocking(move || {
            let lookup = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
            storage
                .write_now(|c| {
                    cairn::setup::apply(c, "setup.toml", &parsed, &lookup, now)
                        .map_err(|e| cairn::storage::StorageError::Task(e.to_string()))
                })
                .unwrap()
        })
        .await
        .unwrap()
    }

    /// `cairn token create` for `user`: the token's id and the token.
    pub async fn token(
        &self,
        user: &str,
        read_only: bool,
        lifetime: Option<chrono::Duration>,
    ) -> (String, String) {
        let now = self.clock.now().micros();
        let req = cairn::service::auth::token::Request {
            user: user.to_owned(),
            expires_at: lifetime.map(|d| now + d.num_microseconds().unwrap()),
            read_only,
            note: "test".into(),
        };
        let storage = cairn::startup::open_storage(&self.config).await.unwrap();
        let minted = tokio::task::spawn_blocking(move || {
            storage.write_now(|c| cairn::service::tokens::create(c, req, now))
        })
        .await
        .unwrap()
        .unwrap()
        .unwrap();
        (minted.row.id, minted.token)
    }

    /// `cairn token revoke ID`.
    pub async fn revoke_token(&self, id: &str) {
        let now = self.clock.now().micros();
        let storage = cairn::startup::open_storage(&self.config).await.unwrap();
        let id = id.to_owned();
        tokio::task::spawn_blocking(move || {
            storage.write_now(|c| cairn::service::tokens::revoke(c, &id, now))
        })
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    }

    /// The lines of `cairn receipts OBJECT` (when `object` is given) or `cairn receipts --user`.
    pub async fn receipts(&self, object: Option<&str>, user: Option<&str>) -> Vec<String> {
        let storage = cairn::startup::open_storage(&self.config).await.unwrap();
        let (object, user) = (object.map(str::to_owned), user.map(str::to_owned));
        tokio::task::spawn_blocking(move || {
            storage.read_now(|c| match (&object, &user) {
                (Some(o), _) => cairn::service::receipts::for_object(c, o, None),
                (None, Some(u)) => cairn::service::receipts::for_user(c, u, i64::MIN),
                (None, None) => Ok(vec![]),
            })
        })
        .await
        .unwrap()
        .unwrap()
    }

    /// The lines of `cairn token list`.
    pub async fn token_list(&self) -> Vec<String> {
        let now = self.clock.now().micros();
        let storage = cairn::startup::open_storage(&self.config).await.unwrap();
        tokio::task::spawn_blocking(move || {
            storage.read_now(|c| cairn::service::tokens::list(c, None, now))
        })
        .await
        .unwrap()
        .unwrap()
    }

    /// `/{root}/collections/{coll}/` + rest.
    pub fn coll(root: &str, coll: &str, rest: &str) -> String {
        format!("/{root}/collections/{coll}/{rest}")
    }

    pub fn auth(user: &str) -> String {
        Self::basic(user, PASSWORD)
    }

    /// The `Authorization` value for any user name and password.
    pub fn basic(user: &str, password: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
    }
}

impl Http {
    /// A client of the Cairn listening on 127.0.0.1:`port`.
    pub fn new(port: u16) -> Http {
        Http {
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder().build().unwrap(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request with the given headers; `user` None sends no credentials.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        user: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        let mut req = self.client.request(method, self.url(path));
        if let Some(u) = user {
            req = req.header("Authorization", TestServer::auth(u));
        }
        let mut has_accept = false;
        for (k, v) in headers {
            has_accept |= k.eq_ignore_ascii_case("accept");
            req = req.header(*k, *v);
        }
        if !has_accept {
            req = req.header("Accept", TAXII);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.unwrap().to_vec();
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, user: &str, path: &str) -> Resp {
        self.send(reqwest::Method::GET, path, Some(user), &[], None)
            .await
    }

    pub async fn delete(&self, user: &str, path: &str) -> Resp {
        self.send(reqwest::Method::DELETE, path, Some(user), &[], None)
            .await
    }

    /// POSTs `body` with the TAXII content type.
    pub async fn post(&self, user: &str, path: &str, body: impl Into<Vec<u8>>) -> Resp {
        self.send(
            reqwest::Method::POST,
            path,
            Some(user),
            &[("Content-Type", TAXII)],
            Some(body.into()),
        )
        .await
    }

    /// POSTs an envelope of these objects to finance-isac as `user`; asserts 202, returns the status.
    pub async fn post_objects(&self, user: &str, objects: &[Value]) -> Value {
        let root = user_root(user);
        let body = serde_json::to_vec(&serde_json::json!({ "objects": objects })).unwrap();
        let r = self
            .post(user, &TestServer::coll(root, FINANCE, "objects/"), body)
            .await;
        assert_eq!(r.status, 202, "{}", r.text());
        r.json()
    }

    /// Follows `next` from `first_path` (which must already hold a `?`), returning every page.
    pub async fn all_pages(&self, user: &str, first_path: &str) -> Vec<Resp> {
        let mut pages = vec![];
        let mut path = first_path.to_owned();
        loop {
            let r = self.get(user, &path).await;
            assert_eq!(r.status, 200, "{}", r.text());
            let j = r.json();
            let more = j["more"].as_bool().unwrap_or(false);
            let next = j["next"].as_str().map(str::to_owned);
            pages.push(r);
            if !more {
                assert!(pages.len() < 100_000);
                return pages;
            }
            let next = next.expect("more is true, so next must be present");
            path = format!("{first_path}&next={next}");
        }
    }
}

/// The API root of the standard users.
pub fn user_root(user: &str) -> &'static str {
    match user.split('-').next().unwrap() {
        "acme" => "acme",
        "globex" => "globex",
        "initech" => "initech",
        other => panic!("unknown test user prefix {other}"),
    }
}

/// A STIX 2.1 indicator with this UUID-ish suffix number and modified timestamp.
pub fn indicator(n: u32, modified: &str) -> Value {
    serde_json::json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": format!("indicator--{}", uuid_for(n)),
        "created": "2026-01-01T00:00:00.000Z",
        "modified": modified,
        "name": format!("indicator {n}"),
        "pattern": "[ipv4-addr:value = '198.51.100.1']",
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z"
    })
}

/// A STIX 2.1 malware object.
pub fn malware(n: u32) -> Value {
    serde_json::json!({
        "type": "malware",
        "spec_version": "2.1",
        "id": format!("malware--{}", uuid_for(n)),
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": format!("malware {n}"),
        "is_family": false
    })
}

/// A deterministic UUIDv4-shaped string for `n`.
pub fn uuid_for(n: u32) -> String {
    format!("6f3e8f40-2d8e-4b5c-9a4f-{n:012x}")
}

/// URL-encodes a query value (the form encoding the server decodes).
pub fn enc(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

// ---- Built-ins: what every collection serves before anything is posted ----

/// The ids of the objects every collection serves to each member from the moment its membership
/// began (docs/sharing.md section 2): the five TLP 2.0 marking-definitions (CLEAR, GREEN, AMBER,
/// AMBER+STRICT, RED) and the TLP 2.0 extension-definition, in the order they are listed.
pub const BUILTIN_IDS: [&str; 6] = [
    "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
    "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d",
];

/// Whether `id` is one of the built-ins.
pub fn is_builtin(id: &str) -> bool {
    BUILTIN_IDS.contains(&id)
}

/// `objects` (STIX objects or manifest records) without the built-ins, order kept.
pub fn without_builtins(objects: &[Value]) -> Vec<Value> {
    objects
        .iter()
        .filter(|o| !o["id"].as_str().is_some_and(is_builtin))
        .cloned()
        .collect()
}

/// The `objects` list of an objects or manifest page (empty for `{}`); asserts a 200.
pub fn listed(r: &Resp) -> Vec<Value> {
    assert_eq!(r.status, 200, "{}", r.text());
    match r.json().get("objects") {
        None => vec![],
        Some(list) => list.as_array().expect("objects is a list").clone(),
    }
}

/// The objects (or manifest records) of a page that the test posted: the page without the
/// built-ins. Also asserts that every built-in on the page comes before every posted object,
/// since built-ins are dated when the reader's membership began.
pub fn posted(r: &Resp) -> Vec<Value> {
    let all = listed(r);
    let builtins = all.len() - without_builtins(&all).len();
    let prefix: Vec<&str> = all[..builtins]
        .iter()
        .map(|o| o["id"].as_str().unwrap_or(""))
        .collect();
    assert!(
        prefix.iter().all(|id| is_builtin(id)),
        "built-ins must come before everything posted: {}",
        r.text()
    );
    without_builtins(&all)
}

/// The ids of `posted(r)`, in order.
pub fn posted_ids(r: &Resp) -> Vec<String> {
    posted(r)
        .iter()
        .map(|o| o["id"].as_str().expect("an id").to_owned())
        .collect()
}

/// The ids of a listing in which nothing was posted yet: exactly the built-ins, in order.
pub fn builtin_ids() -> Vec<String> {
    BUILTIN_IDS.iter().map(|id| id.to_string()).collect()
}

/// The ids of every object (or manifest record) of a page, built-ins included, in order.
pub fn listed_ids(r: &Resp) -> Vec<String> {
    listed(r)
        .iter()
        .map(|o| o["id"].as_str().expect("an id").to_owned())
        .collect()
}

/// The Python of the virtual environment `scripts/test` creates (taxii2-client, stix2-validator),
/// or `CAIRN_TEST_PYTHON`.
pub fn python() -> std::path::PathBuf {
    if let Ok(p) = std::env::var("CAIRN_TEST_PYTHON") {
        return p.into();
    }
    let venv = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(
        venv.exists(),
        "{} is missing: run scripts/test (it creates the virtual environment)",
        venv.display()
    );
    venv
}
