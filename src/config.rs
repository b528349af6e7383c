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
    /// Failed logins per (user name, client address), and per client address, allowed within
    /// `login_window` before further attempts get 429 until the window ends.
    pub login_failures: u32,
    pub login_failures_per_address: u32,
    pub login_window: String,
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
            login_failures: 10,
            login_failures_per_address: 100,
            login_window: "15m".into(),
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
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://data/cairn.db".into(),
            pool_size: 8,
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
    pub status_retention: String,
}

impl Default for TaxiiConfig {
    fn default() -> Self {
        Self {
            title: "Cairn".into(),
            description: None,
            contact: None,
            default_page_size: 100,
            max_page_size: 1000,
            status_retention: "24h".into(),
        }
    }
}

impl ServerConfig {
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
        parse_duration(&self.status_retention)
            .map_err(|m| ConfigError::Invalid(format!("taxii.status_retention: {m}")))
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
        let t = &self.taxii;
        if t.default_page_size == 0 || t.max_page_size == 0 || t.default_page_size > t.max_page_size
        {
            return Err(ConfigError::Invalid(
                "taxii.default_page_size and taxii.max_page_size must be positive, default <= max"
                    .into(),
            ));
        }
        if self.server.max_content_length == 0 {
            return Err(ConfigError::Invalid(
                "server.max_content_length must be positive".into(),
            ));
        }
        if self.storage.pool_size == 0 {
            return Err(ConfigError::Invalid(
                "storage.pool_size must be positive".into(),
            ));
        }
        t.status_retention()?;
        self.server.login_window()?;
        Ok(())
    }
}

/// The keys whose values are not strings. An override of any other key is a string, whatever it
/// looks like (`CAIRN_TAXII__TITLE=2024` is the title "2024").
const INTEGER_KEYS: [&str; 7] = [
    "server.max_content_length",
    "server.workers",
    "server.login_failures",
    "server.login_failures_per_address",
    "storage.pool_size",
    "taxii.default_page_size",
    "taxii.max_page_size",
];
const BOOLEAN_KEYS: [&str; 1] = ["server.allow_plain_http"];

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
            ("CAIRN_SERVER__SECRET", "123456789"),
            ("CAIRN_TAXII__STATUS_RETENTION", "0"),
            ("CAIRN_SERVER__ALLOW_PLAIN_HTTP", "1"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let c = Config::from_parts(Path::new("t.toml"), "", env.to_vec()).unwrap();
        assert_eq!(c.taxii.title, "2024");
        assert_eq!(c.server.secret.as_deref(), Some("123456789"));
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
