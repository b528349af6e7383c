//! Server configuration: defaults, then the TOML file, then `CAIRN_SECTION__KEY` environment overrides.

use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("config: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub taxii: TaxiiConfig,
    /// Where notification mail goes out (the `[[mail]]` entries of the setup file); none
    /// without it.
    #[serde(default)]
    pub mail: Option<MailConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    /// `smtp://host:port` (plain; a local relay), `smtp://host?tls=required` (STARTTLS) or
    /// `smtps://host` (TLS), with `user:password@` when the server asks for them.
    pub server: String,
    /// The sender, like `Cairn <cairn@isac.example>`.
    pub from: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub bind: String,
    pub public_url: Option<String>,
    pub max_content_length: usize,
    pub allow_plain_http: bool,
    /// Key for `next` tokens; when absent, a random one is kept in the database so that every
    /// instance sharing the database accepts the tokens of the others.
    pub secret: Option<String>,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// Peers (IPs or CIDRs) whose `Forwarded`/`X-Forwarded-*` headers are believed.
    pub trusted_proxies: Vec<String>,
    /// How long a POST body may take to arrive, from the moment Cairn starts reading it.
    pub body_timeout: String,
    /// POSTs one user may have in progress at once; more get 429. A feed pushing with 8 clients
    /// (cairn-bench's ingest) fits with room to spare.
    pub max_posts_per_user: usize,
    /// Open connections per worker; 0 derives it from the file-descriptor limit.
    pub max_connections: usize,
    /// Failed logins per (user name, client address), and per client address, allowed within
    /// `login_window` before further attempts get 429 until the window ends.
    pub login_failures: u32,
    pub login_failures_per_address: u32,
    pub login_window: String,
    /// `text` (for people) or `json` (one object per line, for log shippers).
    pub log_format: String,
    /// Where Prometheus metrics are served (`GET /metrics`), apart from the TAXII address;
    /// off when absent.
    pub metrics_bind: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8000".into(),
            public_url: None,
            max_content_length: 10 * 1024 * 1024,
            allow_plain_http: false,
            secret: None,
            workers: 0,
            trusted_proxies: Vec::new(),
            body_timeout: "60s".into(),
            max_posts_per_user: 16,
            max_connections: 0,
            login_failures: 10,
            login_failures_per_address: 100,
            login_window: "15m".into(),
            log_format: "text".into(),
            metrics_bind: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    pub url: String,
    pub pool_size: u32,
    /// Largest size of a SQLite file in bytes, 0 for no cap: past it POSTs answer 507, as on
    /// a full disk.
    pub max_size: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://data/cairn.db".into(),
            pool_size: 8,
            max_size: 0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TaxiiConfig {
    pub title: String,
    pub description: Option<String>,
    pub contact: Option<String>,
    pub default_page_size: usize,
    pub max_page_size: usize,
    /// A page of objects ends early, with `more` and `next`, once its bodies reach this many
    /// bytes; the first object of a page is always served whole.
    pub max_page_bytes: usize,
    pub status_retention: String,
    /// How long receipts (who was served or posted what) are kept.
    pub receipt_retention: String,
}

impl Default for TaxiiConfig {
    fn default() -> Self {
        Self {
            title: "Cairn".into(),
            description: None,
            contact: None,
            default_page_size: 100,
            max_page_size: 1000,
            max_page_bytes: 4 * 1024 * 1024,
            status_retention: "24h".into(),
            receipt_retention: "365d".into(),
        }
    }
}

impl ServerConfig {
    pub fn metrics_bind(&self) -> Result<Option<std::net::SocketAddr>, ConfigError> {
        self.metrics_bind
            .as_deref()
            .map(|text| {
                text.parse().map_err(|_| {
                    ConfigError::Invalid(format!(
                        "server.metrics_bind: '{text}' is not an address:port such as 127.0.0.1:9464"
                    ))
                })
            })
            .transpose()
    }

    pub fn log_format(&self) -> Result<crate::telemetry::Format, ConfigError> {
        match self.log_format.as_str() {
            "text" => Ok(crate::telemetry::Format::Text),
            "json" => Ok(crate::telemetry::Format::Json),
            other => Err(ConfigError::Invalid(format!(
                "server.log_format: '{other}' is not text or json"
            ))),
        }
    }

    pub fn login_window(&self) -> Result<chrono::Duration, ConfigError> {
        match parse_duration(&self.login_window) {
            Ok(d) if d > chrono::Duration::zero() => Ok(d),
            Ok(_) => Err(ConfigError::Invalid(
                "server.login_window: must be positive".into(),
            )),
            Err(m) => Err(ConfigError::Invalid(format!("server.login_window: {m}"))),
        }
    }
}

impl TaxiiConfig {
    pub fn status_retention(&self) -> Result<chrono::Duration, ConfigError> {
        parse_duration(&self.status_retention).map_err(|m| invalid("taxii.status_retention", m))
    }

    pub fn receipt_retention(&self) -> Result<chrono::Duration, ConfigError> {
        parse_duration(&self.receipt_retention).map_err(|m| invalid("taxii.receipt_retention", m))
    }
}

pub const DEFAULT_CONFIG_PATH: &str = "config/cairn.toml";

impl Config {
    /// Reads `path` (which must exist) and applies the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_parts(path, &text, std::env::vars())
    }

    /// Builds a config from file text and an explicit environment (tests pass their own).
    pub fn from_parts(
        path: &Path,
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    path: path.to_owned(),
                    message: e.to_string(),
                })?;
        let mut overrides: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("CAIRN_") && k.contains("__"))
            .collect();
        overrides.sort();
        for (var, value) in overrides {
            apply_env(&mut table, &var, &value)?;
        }
        let config: Config =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    path: path.to_owned(),
                    message: e.to_string(),
                })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.validate_limits()?;
        self.validate_max_size()?;
        self.validate_mail()?;
        self.validate_secret()?;
        if let Some(url) = &self.server.public_url {
            check_public_url(url).map_err(|m| invalid("server.public_url", m))?;
        }
        self.server.trusted_proxies()?;
        self.server.body_timeout()?;
        self.taxii.status_retention()?;
        self.taxii.receipt_retention()?;
        self.server.login_window()?;
        self.server.log_format()?;
        self.server.metrics_bind()?;
        Ok(())
    }

    /// Checks the numeric limits (workers, sizes, pages, login failures) are in range.
    fn validate_limits(&self) -> Result<(), ConfigError> {
        let (srv, t) = (&self.server, &self.taxii);
        within("server.workers", srv.workers, 0, MAX_WORKERS)?;
        within(
            "server.max_content_length",
            srv.max_content_length,
            1,
            1 << 30,
        )?;
        within("server.max_posts_per_user", srv.max_posts_per_user, 1, 1024)?;
        within("server.max_connections", srv.max_connections, 0, 1 << 20)?;
        within(
            "storage.pool_size",
            self.storage.pool_size as usize,
            1,
            1024,
        )?;
        within("taxii.max_page_size", t.max_page_size, 1, MAX_PAGE_SIZE)?;
        within(
            "taxii.default_page_size",
            t.default_page_size,
            1,
            t.max_page_size,
        )?;
        if self.storage.max_size > 0 && !self.storage.url.starts_with("sqlite:") {
            return Err(invalid(
                "storage.max_size",
                "applies to SQLite only: cap a PostgreSQL database with its own quotas",
            ));
        }
        within("taxii.max_page_bytes", t.max_page_bytes, 1024, 1 << 30)?;
        within(
            "server.login_failures",
            srv.login_failures as usize,
            1,
            1 << 20,
        )?;
        within(
            "server.login_failures_per_address",
            srv.login_failures_per_address as usize,
            1,
            1 << 20,
        )
    }

    /// Checks `storage.max_size` is no cap or a cap SQLite can keep.
    fn validate_max_size(&self) -> Result<(), ConfigError> {
        // SQLite counts the cap in pages: below a megabyte it would round to nothing.
        if self.storage.max_size != 0 && self.storage.max_size < 1 << 20 {
            return Err(invalid(
                "storage.max_size",
                format!(
                    "must be 0 (no cap) or at least 1048576 bytes, not {}",
                    self.storage.max_size
                ),
            ));
        }
        Ok(())
    }

    /// Checks the `[mail]` section's sender address and server URL, when there is one.
    fn validate_mail(&self) -> Result<(), ConfigError> {
        let Some(mail) = &self.mail else {
            return Ok(());
        };
        if mail.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(invalid(
                "mail.from",
                "must be an address like Cairn <cairn@isac.example>",
            ));
        }
        let url = reqwest::Url::parse(&mail.server).ok();
        if !url.is_some_and(|u| matches!(u.scheme(), "smtp" | "smtps") && u.host().is_some()) {
            return Err(invalid("mail.server", "must be an smtp:// or smtps:// URL"));
        }
        Ok(())
    }

    /// Checks `server.secret`, when given, is long enough to key the next tokens.
    fn validate_secret(&self) -> Result<(), ConfigError> {
        let Some(secret) = &self.server.secret else {
            return Ok(());
        };
        if secret.len() < MIN_SECRET_BYTES {
            return Err(invalid(
                "server.secret",
                format!(
                    "must be at least {MIN_SECRET_BYTES} bytes (it keys the next tokens), not {}; \
                     leave it out to have a random key kept in the database",
                    secret.len()
                ),
            ));
        }
        Ok(())
    }
}

/// actix-server refuses (panics) above 512 workers.
const MAX_WORKERS: usize = 512;
/// A page is built in memory: 10,000 objects of a few KB each is already tens of MB.
const MAX_PAGE_SIZE: usize = 10_000;
/// HMAC-SHA256 keys shorter than its output weaken it.
const MIN_SECRET_BYTES: usize = 32;

fn invalid(key: &str, message: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid(format!("{key} {message}"))
}

fn within(key: &str, value: usize, min: usize, max: usize) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!("must be between {min} and {max}, not {value}"),
        ))
    }
}

/// An absolute `http(s)://host[:port][/path]` URL, without query, fragment or credentials.
fn check_public_url(url: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "must be an absolute http(s) URL like https://taxii.example.org ({why}), not '{url}'"
        ))
    };
    let Ok(uri) = url.parse::<actix_web::http::Uri>() else {
        return bad("it does not parse");
    };
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return bad("the scheme must be http or https");
    }
    match uri.authority() {
        None => bad("it has no host"),
        Some(a) if a.host().is_empty() => bad("it has no host"),
        Some(a) if a.as_str().contains('@') => bad("it must not hold credentials"),
        Some(_) if uri.query().is_some() || url.contains('#') => {
            bad("it must not have a query or fragment")
        }
        Some(_) => Ok(()),
    }
}

impl ServerConfig {
    /// The trusted proxies as networks; a bare address is a network of one.
    pub fn trusted_proxies(&self) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        self.trusted_proxies
            .iter()
            .map(|p| {
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        invalid(
                            "server.trusted_proxies",
                            format!("'{p}' is neither an IP address nor a CIDR like 10.0.0.0/8"),
                        )
                    })
            })
            .collect()
    }

    pub fn body_timeout(&self) -> Result<std::time::Duration, ConfigError> {
        parse_duration(&self.body_timeout)
            .ok()
            .filter(|d| *d > chrono::Duration::zero())
            .and_then(|d| d.to_std().ok())
            .ok_or_else(|| {
                invalid(
                    "server.body_timeout",
                    format!(
                        "must be a positive duration like 30s or 5m, not '{}'",
                        self.body_timeout
                    ),
                )
            })
    }
}

/// The keys whose values are not strings. An override of any other key is a string, whatever it
/// looks like (`CAIRN_TAXII__TITLE=2024` is the title "2024").
const INTEGER_KEYS: [&str; 11] = [
    "storage.max_size",
    "server.max_content_length",
    "server.workers",
    "server.max_posts_per_user",
    "server.max_connections",
    "server.login_failures",
    "server.login_failures_per_address",
    "storage.pool_size",
    "taxii.default_page_size",
    "taxii.max_page_size",
    "taxii.max_page_bytes",
];
const BOOLEAN_KEYS: [&str; 1] = ["server.allow_plain_http"];
/// Lists are comma-separated in the environment: `CAIRN_SERVER__TRUSTED_PROXIES=10.0.0.1,10.1.0.0/16`.
const LIST_KEYS: [&str; 1] = ["server.trusted_proxies"];

/// `CAIRN_STORAGE__URL=x` sets `storage.url = "x"`; integer and boolean keys get their type.
fn apply_env(table: &mut toml::Table, var: &str, value: &str) -> Result<(), ConfigError> {
    let path: Vec<String> = var["CAIRN_".len()..]
        .split("__")
        .map(|p| p.to_ascii_lowercase())
        .collect();
    if path.iter().any(|p| p.is_empty()) {
        return Err(ConfigError::Env {
            var: var.into(),
            message: "expected CAIRN_SECTION__KEY".into(),
        });
    }
    let key = path.join(".");
    let bad = |what: &str| ConfigError::Env {
        var: var.into(),
        message: format!("{key} must be {what}, not '{value}'"),
    };
    let parsed = if INTEGER_KEYS.contains(&key.as_str()) {
        toml::Value::Integer(value.parse().map_err(|_| bad("an integer"))?)
    } else if BOOLEAN_KEYS.contains(&key.as_str()) {
        toml::Value::Boolean(match value {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => return Err(bad("true or false")),
        })
    } else if LIST_KEYS.contains(&key.as_str()) {
        toml::Value::Array(
            value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| toml::Value::String(v.to_owned()))
                .collect(),
        )
    } else {
        toml::Value::String(value.to_owned())
    };
    let (last, sections) = path.split_last().expect("non-empty");
    let mut current = table;
    for section in sections {
        let entry = current
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry.as_table_mut().ok_or_else(|| ConfigError::Env {
            var: var.into(),
            message: format!("'{section}' is not a section"),
        })?;
    }
    current.insert(last.clone(), parsed);
    Ok(())
}

/// The longest duration accepted: a delay or retention past a century is a typo, and much
/// larger numbers would overflow the microsecond arithmetic.
const MAX_DURATION_DAYS: i64 = 36_500;

/// Durations as in the setup file: `30s`, `15m`, `24h`, `7d` (and `0`), up to 36500d.
pub fn parse_duration(text: &str) -> Result<chrono::Duration, String> {
    if text == "0" {
        return Ok(chrono::Duration::zero());
    }
    let like = || format!("'{text}' is not a duration like 30s, 15m, 24h or 7d");
    let (num, unit) = text.split_at(text.len().saturating_sub(1));
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return Err(like());
    }
    let per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(like()),
    };
    num.parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(per))
        .filter(|secs| *secs <= MAX_DURATION_DAYS * 86400)
        .map(chrono::Duration::seconds)
        .ok_or_else(|| format!("'{text}' is longer than {MAX_DURATION_DAYS}d"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file_and_keeps_types() {
        let env = vec![
            (
                "CAIRN_STORAGE__URL".to_string(),
                "sqlite://x.db".to_string(),
            ),
            ("CAIRN_TAXII__MAX_PAGE_SIZE".to_string(), "50".to_string()),
            ("CAIRN_TEST_POSTGRES_URL".to_string(), "ignored".to_string()),
        ];
        let c = Config::from_parts(
            Path::new("t.toml"),
            "[taxii]\ndefault_page_size = 10\n",
            env,
        )
        .unwrap();
        assert_eq!(c.storage.url, "sqlite://x.db");
        assert_eq!(c.taxii.max_page_size, 50);
        assert_eq!(c.taxii.default_page_size, 10);
    }

    #[test]
    fn env_values_take_the_type_of_their_key() {
        let env = [
            ("CAIRN_TAXII__TITLE", "2024"),
            ("CAIRN_SERVER__SECRET", "12345678901234567890123456789012"),
            ("CAIRN_TAXII__STATUS_RETENTION", "0"),
            ("CAIRN_SERVER__ALLOW_PLAIN_HTTP", "1"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let c = Config::from_parts(Path::new("t.toml"), "", env.to_vec()).unwrap();
        assert_eq!(c.taxii.title, "2024");
        assert_eq!(
            c.server.secret.as_deref(),
            Some("12345678901234567890123456789012")
        );
        assert_eq!(c.taxii.status_retention, "0");
        assert!(c.server.allow_plain_http);
        let e = Config::from_parts(
            Path::new("t.toml"),
            "",
            vec![("CAIRN_STORAGE__POOL_SIZE".into(), "eight".into())],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("CAIRN_STORAGE__POOL_SIZE")
                && e.contains("storage.pool_size must be an integer, not 'eight'"),
            "{e}"
        );
    }

    #[test]
    fn unknown_key_is_refused() {
        let e = Config::from_parts(Path::new("t.toml"), "[server]\nbnid = \"x\"\n", vec![])
            .unwrap_err();
        assert!(e.to_string().contains("bnid"), "{e}");
    }

    fn refused(server: &str) -> String {
        let text = format!("[server]\n{server}\n");
        Config::from_parts(Path::new("t.toml"), &text, vec![])
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn invalid_values_are_refused_naming_the_key() {
        let cases = [
            ("secret = \"\"", "server.secret must be at least 32 bytes"),
            (
                "secret = \"short\"",
                "server.secret must be at least 32 bytes",
            ),
            (
                "public_url = \"taxii.example.org\"",
                "server.public_url must be an absolute http(s) URL",
            ),
            (
                "public_url = \"ftp://taxii.example.org\"",
                "server.public_url must be an absolute http(s) URL",
            ),
            (
                "public_url = \"https://\"",
                "server.public_url must be an absolute http(s) URL",
            ),
            (
                "public_url = \"https://a b\"",
                "server.public_url must be an absolute http(s) URL",
            ),
            (
                "public_url = \"https://x.org/?q=1\"",
                "server.public_url must be an absolute http(s) URL",
            ),
            (
                "public_url = \"https://u:p@x.org\"",
                "server.public_url must be an absolute http(s) URL",
            ),
            (
                "workers = 513",
                "server.workers must be between 0 and 512, not 513",
            ),
            (
                "max_content_length = 0",
                "server.max_content_length must be between 1 and",
            ),
            (
                "max_posts_per_user = 0",
                "server.max_posts_per_user must be between 1 and 1024",
            ),
            (
                "trusted_proxies = [\"10.0.0.0/33\"]",
                "server.trusted_proxies '10.0.0.0/33' is neither",
            ),
            (
                "trusted_proxies = [\"proxy.local\"]",
                "server.trusted_proxies 'proxy.local' is neither",
            ),
            (
                "body_timeout = \"0\"",
                "server.body_timeout must be a positive duration",
            ),
            (
                "body_timeout = \"soon\"",
                "server.body_timeout must be a positive duration",
            ),
            (
                "login_failures = 0",
                "server.login_failures must be between 1 and 1048576, not 0",
            ),
            (
                "login_failures_per_address = 0",
                "server.login_failures_per_address must be between 1 and",
            ),
        ];
        for (line, expected) in cases {
            let e = refused(line);
            assert!(e.contains(expected), "{line}: {e}");
        }
        let pages = |d: usize, m: usize| {
            let text = format!("[taxii]\ndefault_page_size = {d}\nmax_page_size = {m}\n");
            Config::from_parts(Path::new("t.toml"), &text, vec![]).map(|_| ())
        };
        let e = pages(100, 10_001).unwrap_err().to_string();
        assert!(
            e.contains("taxii.max_page_size must be between 1 and 10000, not 10001"),
            "{e}"
        );
        let e = pages(200, 100).unwrap_err().to_string();
        assert!(
            e.contains("taxii.default_page_size must be between 1 and 100, not 200"),
            "{e}"
        );
        pages(10_000, 10_000).unwrap();
        let other = |text: &str| Config::from_parts(Path::new("t.toml"), text, vec![]).map(|_| ());
        let e = other("[storage]\nmax_size = 4095\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("storage.max_size must be 0 (no cap) or at least 1048576 bytes, not 4095"),
            "{e}"
        );
        let e = other("[taxii]\nmax_page_bytes = 100\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("taxii.max_page_bytes must be between 1024 and"),
            "{e}"
        );
    }

    #[test]
    fn valid_edge_values_are_kept() {
        let text =
            "[server]\nworkers = 512\npublic_url = \"https://taxii.example.org:8443/base/\"\n\
                    secret = \"0123456789abcdef0123456789abcdef\"\n\
                    trusted_proxies = [\"10.0.0.1\", \"fd00::/8\"]\nbody_timeout = \"5s\"\n";
        let c = Config::from_parts(Path::new("t.toml"), text, vec![]).unwrap();
        let nets = c.server.trusted_proxies().unwrap();
        assert!(nets[0].contains(&"10.0.0.1".parse::<std::net::IpAddr>().unwrap()));
        assert!(!nets[0].contains(&"10.0.0.2".parse::<std::net::IpAddr>().unwrap()));
        assert!(nets[1].contains(&"fd12::1".parse::<std::net::IpAddr>().unwrap()));
        assert_eq!(
            c.server.body_timeout().unwrap(),
            std::time::Duration::from_secs(5)
        );
        let env = vec![(
            "CAIRN_SERVER__TRUSTED_PROXIES".to_string(),
            "127.0.0.1, 10.0.0.0/8".to_string(),
        )];
        let c = Config::from_parts(Path::new("t.toml"), "", env).unwrap();
        assert_eq!(c.server.trusted_proxies, ["127.0.0.1", "10.0.0.0/8"]);
        assert_eq!(
            Config::from_parts(Path::new("t.toml"), "", vec![])
                .unwrap()
                .server
                .max_posts_per_user,
            16
        );
    }

    #[test]
    fn shipped_configs_are_valid() {
        for (name, text) in [
            ("cairn.toml", include_str!("../config/cairn.toml")),
            (
                "cairn.example.toml",
                include_str!("../config/cairn.example.toml"),
            ),
        ] {
            let c = Config::from_parts(Path::new(name), text, vec![]).unwrap();
            assert_eq!(c.server.body_timeout, "60s", "{name}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h").unwrap(), chrono::Duration::hours(24));
        assert_eq!(parse_duration("7d").unwrap(), chrono::Duration::days(7));
        assert_eq!(parse_duration("0s").unwrap(), chrono::Duration::zero());
        assert!(parse_duration("3 weeks").is_err());
        for bad in ["+5s", " 5s ", "-5s", "s", "5"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_duration("36500d").unwrap(),
            chrono::Duration::days(36_500)
        );
        for huge in [
            "36501d",
            "999999999999999d",
            "9999999999999999s",
            "144115188075855872d",
        ] {
            assert_eq!(
                parse_duration(huge).unwrap_err(),
                format!("'{huge}' is longer than 36500d")
            );
        }
    }
}
