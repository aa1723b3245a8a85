//! Service configuration: a TOML file (`--config`) plus `CATALYST_*` environment
//! variables (environment wins), with defaults that start on a laptop.
//!
//! Every key is flat and maps one-to-one to a variable: `github_webhook_secret` in the
//! file is `CATALYST_GITHUB_WEBHOOK_SECRET` in the environment. Values are read into
//! per-area structs and checked at start-up; a bad value stops start-up with a message
//! that names the key and says what is expected. Unknown keys in the file are errors
//! (a typo must not silently fall back to a default).
//!
//! To add a key: add it to [`KEYS`], add a field to the area struct it belongs to and
//! read it in that struct's `from_raw`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

mod ha;

pub use ha::HaConfig;

/// Every key the file may contain; `CATALYST_` + uppercase is the variable name.
pub const KEYS: &[&str] = &[
    "bind",
    "database_url",
    "public_url",
    "preview_domain",
    "github_webhook_secret",
    "github_api_url",
    "github_app_id",
    "github_app_private_key_path",
    "github_oauth_client_id",
    "github_oauth_client_secret",
    "encryption_key",
    "github_sweep_interval_secs",
    "github_fork_label",
    "setup_guide_url",
    "preview_url_template",
    "max_concurrent_deployments",
    "max_concurrent_deployments_per_repository",
    "max_active_environments",
    "retry_base_ms",
    "retry_cap_ms",
    "deletion_timeout_secs",
    "capacity_timeout_secs",
    "health_timeout_secs",
    "resync_interval_secs",
    "reconcile_workers",
    "ingress_namespace",
    "auxiliary_namespaces",
    "builder_image",
    "notify_webhook_url",
    "operators",
    "github_web_url",
    "replica_id",
    "lease_duration_secs",
    "leader_lease_name",
    "leader_lease_namespace",
    "peer_poll_interval_ms",
    "preview_ttl_secs",
    "keep_label",
];

pub const DEFAULT_BIND: &str = "127.0.0.1:3000";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://catalyst.db?mode=rwc";
pub const DEFAULT_GITHUB_API_URL: &str = "https://api.github.com";

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("config file {path}: unknown key `{key}` (known keys: {})", KEYS.join(", "))]
    UnknownKey { path: PathBuf, key: String },
    /// `label` is the variable name, or the file key and file when it came from the file.
    #[error("{label}: {message}")]
    Invalid { label: String, message: String },
}

/// A value that must never be printed (secrets, keys).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Where a raw value came from; used to name it in errors.
#[derive(Clone, Debug)]
enum Origin {
    File(PathBuf),
    Env,
}

/// The raw key/value pairs after merging file and environment.
#[derive(Default, Debug)]
struct Raw {
    values: BTreeMap<&'static str, (String, Origin)>,
}

impl Raw {
    fn label(key: &str, origin: &Origin) -> String {
        match origin {
            Origin::Env => env_name(key),
            Origin::File(path) => format!("{key} (in {})", path.display()),
        }
    }

    fn get(&self, key: &'static str) -> Option<(&str, String)> {
        self.values
            .get(key)
            .map(|(v, origin)| (v.as_str(), Self::label(key, origin)))
    }

    fn invalid(label: String, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            label,
            message: message.into(),
        }
    }

    /// An optional value checked by `check`, which returns the error text.
    fn parse<T>(
        &self,
        key: &'static str,
        check: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some((value, label)) => check(value).map(Some).map_err(|m| Self::invalid(label, m)),
        }
    }
}

/// The variable name of a key.
pub fn env_name(key: &str) -> String {
    format!("CATALYST_{}", key.to_ascii_uppercase())
}

/// The whole configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub preview: PreviewConfig,
    pub github: GithubConfig,
    pub security: SecurityConfig,
    pub engine: EngineConfig,
    pub dashboard: DashboardConfig,
    /// Several replicas on one database.
    pub ha: HaConfig,
}

/// Dashboard sign-in: who operates Catalyst, and where GitHub's OAuth pages are.
#[derive(Clone, Debug, PartialEq)]
pub struct DashboardConfig {
    /// GitHub logins (`octocat`) and teams (`acme/platform`) that may act on every
    /// environment; `CATALYST_OPERATORS`, comma separated.
    pub operators: Vec<String>,
    /// GitHub's web origin for the OAuth flow (`https://github.com`; the testkit's
    /// GitHub URL in tests); `CATALYST_GITHUB_WEB_URL`.
    pub github_web_url: String,
}

pub const DEFAULT_GITHUB_WEB_URL: &str = "https://github.com";

impl Default for DashboardConfig {
    fn default() -> Self {
        Self {
            operators: Vec::new(),
            github_web_url: DEFAULT_GITHUB_WEB_URL.to_owned(),
        }
    }
}

impl DashboardConfig {
    fn from_raw(raw: &Raw) -> Result<Self, ConfigError> {
        let operators = raw
            .parse("operators", |v| {
                let entries: Vec<String> = v
                    .split(',')
                    .map(str::trim)
                    .filter(|e| !e.is_empty())
                    .map(str::to_owned)
                    .collect();
                match entries.iter().find(|e| {
                    e.split('/').count() > 2
                        || !e
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/'))
                }) {
                    Some(bad) => Err(format!(
                        "{bad:?} is not a GitHub login or org/team (expected e.g. octocat,acme/platform)"
                    )),
                    None => Ok(entries),
                }
            })?
            .unwrap_or_default();
        Ok(Self {
            operators,
            github_web_url: raw
                .parse("github_web_url", http_url)?
                .unwrap_or_else(|| DEFAULT_GITHUB_WEB_URL.to_owned()),
        })
    }
}

#[derive(Clone, Debug)]
pub struct HttpConfig {
    pub bind: SocketAddr,
    /// Where people reach Catalyst, without a trailing `/`.
    pub public_url: Option<String>,
}

#[derive(Clone)]
pub struct DatabaseConfig {
    /// May hold a password (`postgres://user:password@host/db`): see [`redact_url`].
    pub url: String,
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_url(&self.url))
            .finish()
    }
}

/// `url` with the password of its user info replaced by `***`, for messages and logs
/// (`postgres://catalyst:***@db/catalyst`). Also for text that is only almost a URL
/// (a bad value is echoed in its error); a password may itself hold `@` or `:`, so
/// everything from the first `:` of the user info to the last `@` goes.
pub fn redact_url(url: &str) -> String {
    let Some(at) = url.rfind('@') else {
        return url.to_owned();
    };
    let start = url.find("://").map_or(0, |i| i + 3).min(at);
    match url[start..at].find(':') {
        Some(colon) => format!("{}:***{}", &url[..start + colon], &url[at..]),
        None => url.to_owned(),
    }
}

#[derive(Clone, Debug)]
pub struct PreviewConfig {
    /// Environments are served at `https://{namespace}.{domain}`.
    pub domain: Option<String>,
}

#[derive(Clone, Debug)]
pub struct GithubConfig {
    pub webhook_secret: Option<Secret>,
    pub api_url: String,
    pub app_id: Option<u64>,
    pub app_private_key_path: Option<PathBuf>,
    pub oauth_client_id: Option<String>,
    pub oauth_client_secret: Option<Secret>,
    /// How often the open pull requests of every configured repository are compared with
    /// the database (missed webhooks are healed). Default 300.
    pub sweep_interval_secs: u64,
    /// The label that lets a fork's pull request be deployed, for repositories that do
    /// not set their own. Default `preview`.
    pub fork_label: String,
    /// Linked from the "configuration missing" comment; default: the setup guide in
    /// Catalyst's repository.
    pub setup_guide_url: Option<String>,
}

pub const DEFAULT_GITHUB_SWEEP_INTERVAL_SECS: u64 = 300;
pub const DEFAULT_GITHUB_FORK_LABEL: &str = "preview";

/// The reconciler and what it puts into the cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineConfig {
    /// Public URL of an environment; `{namespace}` is replaced. Default
    /// `https://{namespace}.{preview_domain}`.
    pub preview_url_template: Option<String>,
    pub max_concurrent_deployments: u32,
    pub max_concurrent_deployments_per_repository: u32,
    pub max_active_environments: u32,
    pub retry_base_ms: u64,
    pub retry_cap_ms: u64,
    pub deletion_timeout_secs: u64,
    /// How long pods may stay unschedulable before the attempt counts as "no capacity".
    pub capacity_timeout_secs: u64,
    pub health_timeout_secs: u64,
    /// The full reconcile of every environment and the orphan sweep.
    pub resync_interval_secs: u64,
    /// Environments reconciled at the same time.
    pub reconcile_workers: u32,
    pub ingress_namespace: Option<String>,
    pub auxiliary_namespaces: Vec<String>,
    pub builder_image: Option<String>,
    /// Slack-compatible incoming webhook for operator notifications.
    pub notify_webhook_url: Option<String>,
    /// Environments of open pull requests without activity for this long are removed
    /// (a push brings them back). `None` (the default): never.
    pub preview_ttl_secs: Option<u64>,
    /// The label that exempts an environment from expiry. Default `keep`.
    pub keep_label: String,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            preview_url_template: None,
            max_concurrent_deployments: 10,
            max_concurrent_deployments_per_repository: 3,
            max_active_environments: 100,
            retry_base_ms: 15_000,
            retry_cap_ms: 300_000,
            deletion_timeout_secs: 300,
            capacity_timeout_secs: 300,
            health_timeout_secs: 300,
            resync_interval_secs: 300,
            reconcile_workers: 16,
            ingress_namespace: None,
            auxiliary_namespaces: Vec::new(),
            builder_image: None,
            notify_webhook_url: None,
            preview_ttl_secs: None,
            keep_label: "keep".to_owned(),
        }
    }
}

impl EngineConfig {
    /// The expiry rules every repository shares.
    pub fn expiry_policy(&self, fork_label: &str) -> crate::github::eligibility::RepositoryPolicy {
        crate::github::eligibility::RepositoryPolicy {
            fork_opt_in_label: fork_label.to_owned(),
            keep_label: self.keep_label.clone(),
            ttl: self.preview_ttl_secs.map(std::time::Duration::from_secs),
            ..crate::github::eligibility::RepositoryPolicy::default()
        }
    }
}

fn positive(v: &str) -> Result<u64, String> {
    match v.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{v:?} is not a positive whole number")),
    }
}

/// Concurrent reconciles: each holds a few connections' worth of work at once, so a
/// typo such as `100000` is refused rather than taken.
fn workers(v: &str) -> Result<u32, String> {
    match v.trim().parse::<u32>() {
        Ok(n @ 1..=1024) => Ok(n),
        _ => Err(format!("{v:?} is not a whole number from 1 to 1024")),
    }
}

fn count(v: &str) -> Result<u32, String> {
    v.parse::<u32>()
        .map_err(|_| format!("{v:?} is not a whole number (0 pauses deployments)"))
}

fn dns_label(v: &str) -> Result<String, String> {
    let ok = !v.is_empty()
        && v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !v.starts_with('-')
        && !v.ends_with('-');
    if ok {
        Ok(v.to_owned())
    } else {
        Err(format!(
            "{v:?} is not a namespace name (lowercase letters, digits and -)"
        ))
    }
}

impl EngineConfig {
    fn from_raw(raw: &Raw) -> Result<Self, ConfigError> {
        let d = Self::default();
        let preview_url_template = raw.parse("preview_url_template", |v| {
            let url = http_url(v)?;
            if url.contains("{namespace}") {
                Ok(url)
            } else {
                Err(format!(
                    "{v:?} does not contain {{namespace}} (expected e.g. https://{{namespace}}.preview.example.com)"
                ))
            }
        })?;
        let auxiliary_namespaces = raw
            .parse("auxiliary_namespaces", |v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(dns_label)
                    .collect::<Result<Vec<_>, _>>()
            })?
            .unwrap_or_default();
        Ok(Self {
            preview_url_template,
            max_concurrent_deployments: raw
                .parse("max_concurrent_deployments", count)?
                .unwrap_or(d.max_concurrent_deployments),
            max_concurrent_deployments_per_repository: raw
                .parse("max_concurrent_deployments_per_repository", count)?
                .unwrap_or(d.max_concurrent_deployments_per_repository),
            max_active_environments: raw
                .parse("max_active_environments", count)?
                .unwrap_or(d.max_active_environments),
            retry_base_ms: raw
                .parse("retry_base_ms", positive)?
                .unwrap_or(d.retry_base_ms),
            retry_cap_ms: raw
                .parse("retry_cap_ms", positive)?
                .unwrap_or(d.retry_cap_ms),
            deletion_timeout_secs: raw
                .parse("deletion_timeout_secs", positive)?
                .unwrap_or(d.deletion_timeout_secs),
            capacity_timeout_secs: raw
                .parse("capacity_timeout_secs", positive)?
                .unwrap_or(d.capacity_timeout_secs),
            health_timeout_secs: raw
                .parse("health_timeout_secs", positive)?
                .unwrap_or(d.health_timeout_secs),
            resync_interval_secs: raw
                .parse("resync_interval_secs", positive)?
                .unwrap_or(d.resync_interval_secs),
            reconcile_workers: raw
                .parse("reconcile_workers", workers)?
                .unwrap_or(d.reconcile_workers),
            ingress_namespace: raw.parse("ingress_namespace", dns_label)?,
            auxiliary_namespaces,
            builder_image: raw.parse("builder_image", |v| Ok(v.trim().to_owned()))?,
            notify_webhook_url: raw.parse("notify_webhook_url", http_url)?,
            // 0 turns expiry off explicitly (the chart's default).
            preview_ttl_secs: raw
                .parse("preview_ttl_secs", |v| {
                    v.trim().parse::<u64>().map_err(|_| {
                        format!("{v:?} is not a whole number of seconds (0: never expire)")
                    })
                })?
                .filter(|secs| *secs > 0),
            keep_label: raw
                .parse("keep_label", |v| {
                    let label = v.trim();
                    if label.is_empty() || label.chars().count() > 50 {
                        Err(format!(
                            "{v:?} is not a GitHub label name (1 to 50 characters)"
                        ))
                    } else {
                        Ok(label.to_owned())
                    }
                })?
                .unwrap_or(d.keep_label),
        })
    }
}

#[derive(Clone, Debug)]
pub struct SecurityConfig {
    /// 32-byte AES-256-GCM key for tokens stored at rest.
    pub encryption_key: Option<Secret>,
}

impl Config {
    /// Reads the file (if given) and the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::from_sources(file, std::env::vars())
    }

    /// Reads the file (if given) and the given environment; tests pass their own.
    pub fn from_sources(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut raw = Raw::default();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            read_toml(&mut raw, &text, path)?;
        }
        let env: BTreeMap<String, String> = env.into_iter().collect();
        for key in KEYS {
            if let Some(value) = env.get(&env_name(key)) {
                raw.values.insert(key, (value.clone(), Origin::Env));
            }
        }
        // An empty value means "unset": container tooling often passes `VAR=`.
        raw.values.retain(|_, (v, _)| !v.trim().is_empty());
        Self::from_raw(&raw)
    }

    /// Defaults only (what a laptop gets with nothing set).
    pub fn defaults() -> Self {
        Self::from_raw(&Raw::default()).unwrap_or_else(|_| unreachable_defaults())
    }

    fn from_raw(raw: &Raw) -> Result<Self, ConfigError> {
        Ok(Self {
            http: HttpConfig::from_raw(raw)?,
            database: DatabaseConfig::from_raw(raw)?,
            preview: PreviewConfig::from_raw(raw)?,
            github: GithubConfig::from_raw(raw)?,
            security: SecurityConfig::from_raw(raw)?,
            engine: EngineConfig::from_raw(raw)?,
            dashboard: DashboardConfig::from_raw(raw)?,
            ha: HaConfig::from_raw(raw)?,
        })
    }
}

// The defaults are constants that parse; this only exists so `defaults()` needs no
// `expect`.
fn unreachable_defaults() -> Config {
    Config {
        http: HttpConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 3000)),
            public_url: None,
        },
        database: DatabaseConfig {
            url: DEFAULT_DATABASE_URL.into(),
        },
        preview: PreviewConfig { domain: None },
        github: GithubConfig {
            webhook_secret: None,
            api_url: DEFAULT_GITHUB_API_URL.into(),
            app_id: None,
            app_private_key_path: None,
            oauth_client_id: None,
            oauth_client_secret: None,
            sweep_interval_secs: DEFAULT_GITHUB_SWEEP_INTERVAL_SECS,
            fork_label: DEFAULT_GITHUB_FORK_LABEL.into(),
            setup_guide_url: None,
        },
        security: SecurityConfig {
            encryption_key: None,
        },
        engine: EngineConfig::default(),
        dashboard: DashboardConfig::default(),
        ha: HaConfig::default(),
    }
}

fn read_toml(raw: &mut Raw, text: &str, path: &Path) -> Result<(), ConfigError> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Syntax {
            path: path.to_owned(),
            message: e.message().to_owned(),
        })?;
    for (key, value) in table {
        let Some(known) = KEYS.iter().find(|k| **k == key) else {
            return Err(ConfigError::UnknownKey {
                path: path.to_owned(),
                key,
            });
        };
        let origin = Origin::File(path.to_owned());
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(Raw::invalid(
                    Raw::label(known, &origin),
                    format!("expected a string, found a {}", other.type_str()),
                ));
            }
        };
        raw.values.insert(known, (text, origin));
    }
    Ok(())
}

fn http_url(value: &str) -> Result<String, String> {
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => {
            Ok(value.trim_end_matches('/').to_owned())
        }
        _ => Err(format!(
            "{value:?} is not an http(s) URL (expected e.g. https://catalyst.example.com)"
        )),
    }
}

impl HttpConfig {
    fn from_raw(raw: &Raw) -> Result<Self, ConfigError> {
        let bind = raw
            .parse("bind", |v| {
                v.parse::<SocketAddr>().map_err(|_| {
                    format!(
                        "{v:?} is not a socket address (expected host:port, e.g. {DEFAULT_BIND})"
                    )
                })
            })?
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 3000)));
        Ok(Self {
            bind,
            public_url: raw.parse("public_url", http_url)?,
        })
    }
}

impl DatabaseConfig {
    fn from_raw(raw: &Raw) -> Result<Self, ConfigError> {
        let url = raw
            .parse("database_url", |v| {
                let supported = ["sqlite:", "postgres://", "postgresql://"];
                if supported.iter().any(|p| v.starts_with(p)) {
                    Ok(v.to_owned())
                } else {
                    // The URL may carry a password: it is named without it.
                    Err(format!(
                        "{:?} is not a supported database URL (expected sqlite://FILE?mode=rwc or postgres://USER@HOST/DB)",
                        redact_url(v)
                    ))
                }
            })?
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        Ok(Self { url })
    }
}

impl PreviewConfig {
    fn from_raw(raw: &Raw) -> Result<Self, ConfigError> {
        let domain = raw.parse("preview_domain", |v| {
            let d = v.trim_matches('.');
            let ok = !d.is_empty()
                && d.len() <= 253
                && d.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                });
            if ok {
                Ok(d.to_ascii_lowercase())
            } else {
                Err(format!(
                    "{v:?} is not a DNS domain (expected e.g. preview.example.com, without scheme)"
                ))
            }
        })?;
        Ok(Self { domain })
    }
}

impl GithubConfig {
    fn from_raw(raw: &Raw) -> Result<Self, ConfigError> {
        let app_id = raw.parse("github_app_id", |v| match v.parse::<u64>() {
            Ok(id) if id > 0 => Ok(id),
            _ => Err(format!(
                "{v:?} is not a GitHub App id (expected a positive number)"
            )),
        })?;
        let app_private_key_path = raw.parse("github_app_private_key_path", |v| {
            let path = PathBuf::from(v);
            if path.is_file() {
                Ok(path)
            } else {
                Err(format!(
                    "{v:?} is not a readable file (expected the App's PEM private key)"
                ))
            }
        })?;
        let oauth_client_id = raw.parse("github_oauth_client_id", |v| Ok(v.to_owned()))?;
        let oauth_client_secret =
            raw.parse("github_oauth_client_secret", |v| Ok(Secret::new(v)))?;
        // Half an OAuth configuration is a mistake worth stopping for.
        match (&oauth_client_id, &oauth_client_secret) {
            (Some(_), None) => {
                return Err(Raw::invalid(
                    env_name("github_oauth_client_secret"),
                    "must be set when CATALYST_GITHUB_OAUTH_CLIENT_ID is set",
                ));
            }
            (None, Some(_)) => {
                return Err(Raw::invalid(
                    env_name("github_oauth_client_id"),
                    "must be set when CATALYST_GITHUB_OAUTH_CLIENT_SECRET is set",
                ));
            }
            _ => {}
        }
        Ok(Self {
            webhook_secret: raw.parse("github_webhook_secret", |v| Ok(Secret::new(v)))?,
            api_url: raw
                .parse("github_api_url", http_url)?
                .unwrap_or_else(|| DEFAULT_GITHUB_API_URL.to_owned()),
            app_id,
            app_private_key_path,
            oauth_client_id,
            oauth_client_secret,
            sweep_interval_secs: raw
                .parse("github_sweep_interval_secs", positive)?
                .unwrap_or(DEFAULT_GITHUB_SWEEP_INTERVAL_SECS),
            fork_label: raw
                .parse("github_fork_label", |v| {
                    let label = v.trim();
                    if label.chars().count() <= 50 {
                        Ok(label.to_owned())
                    } else {
                        Err(format!(
                            "{v:?} is longer than GitHub's 50-character label limit"
                        ))
                    }
                })?
                .unwrap_or_else(|| DEFAULT_GITHUB_FORK_LABEL.to_owned()),
            setup_guide_url: raw.parse("setup_guide_url", http_url)?,
        })
    }

    /// Whether Catalyst can act as a GitHub App (comments, deployments).
    pub fn app_configured(&self) -> bool {
        self.app_id.is_some() && self.app_private_key_path.is_some()
    }
}

impl SecurityConfig {
    fn from_raw(raw: &Raw) -> Result<Self, ConfigError> {
        let encryption_key = raw.parse("encryption_key", |v| {
            let bytes = if v.len() == 64 {
                hex::decode(v).ok()
            } else {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.decode(v).ok()
            };
            match bytes {
                Some(b) if b.len() == 32 => Ok(Secret::new(v)),
                _ => Err("is not a 32-byte key (expected 64 hex digits or 44 base64 characters, e.g. from `openssl rand -base64 32`)".to_owned()),
            }
        })?;
        Ok(Self { encryption_key })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn error(pairs: &[(&str, &str)]) -> String {
        match Config::from_sources(None, env(pairs)) {
            Ok(_) => panic!("expected an error for {pairs:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn database_passwords_are_redacted() {
        for (url, shown) in [
            (
                "postgres://catalyst:s3cret@db:5432/catalyst",
                "postgres://catalyst:***@db:5432/catalyst",
            ),
            ("postgres://u:p@ss:w0rd@db/x", "postgres://u:***@db/x"),
            ("postgres//u:s3cret@db/x", "postgres//u:***@db/x"),
            (
                "postgres://catalyst@db/catalyst",
                "postgres://catalyst@db/catalyst",
            ),
            (
                "sqlite://catalyst.db?mode=rwc",
                "sqlite://catalyst.db?mode=rwc",
            ),
        ] {
            assert_eq!(redact_url(url), shown);
        }
        let c = Config::from_sources(
            None,
            env(&[("CATALYST_DATABASE_URL", "postgres://u:s3cret@db/x")]),
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("s3cret"));
        assert!(!error(&[("CATALYST_DATABASE_URL", "mysql://u:s3cret@db/x")]).contains("s3cret"));
    }

    #[test]
    fn nothing_set_gives_laptop_defaults() {
        let c = Config::from_sources(None, env(&[])).unwrap();
        assert_eq!(c.http.bind.to_string(), DEFAULT_BIND);
        assert_eq!(c.database.url, DEFAULT_DATABASE_URL);
        assert_eq!(c.github.api_url, DEFAULT_GITHUB_API_URL);
        assert!(c.github.webhook_secret.is_none());
        assert_eq!(Config::defaults().http.bind.to_string(), DEFAULT_BIND);
    }

    #[test]
    fn a_bad_bind_names_the_variable_and_the_expectation() {
        assert_eq!(
            error(&[("CATALYST_BIND", "abc")]),
            r#"CATALYST_BIND: "abc" is not a socket address (expected host:port, e.g. 127.0.0.1:3000)"#
        );
    }

    #[test]
    fn other_bad_values_name_their_variables() {
        for (key, value) in [
            ("CATALYST_DATABASE_URL", "mysql://x"),
            ("CATALYST_PUBLIC_URL", "catalyst.example.com"),
            ("CATALYST_PREVIEW_DOMAIN", "https://x.com"),
            ("CATALYST_GITHUB_API_URL", "ftp://x"),
            ("CATALYST_GITHUB_APP_ID", "abc"),
            (
                "CATALYST_GITHUB_APP_PRIVATE_KEY_PATH",
                "/nonexistent/key.pem",
            ),
            ("CATALYST_ENCRYPTION_KEY", "short"),
        ] {
            let message = error(&[(key, value)]);
            assert!(message.starts_with(&format!("{key}: ")), "{message}");
        }
        let half = error(&[("CATALYST_GITHUB_OAUTH_CLIENT_ID", "abc")]);
        assert!(
            half.starts_with("CATALYST_GITHUB_OAUTH_CLIENT_SECRET: "),
            "{half}"
        );
    }

    #[test]
    fn reconcile_workers_are_bounded() {
        assert_eq!(Config::defaults().engine.reconcile_workers, 16);
        let c = Config::from_sources(None, env(&[("CATALYST_RECONCILE_WORKERS", "64")])).unwrap();
        assert_eq!(c.engine.reconcile_workers, 64);
        for bad in ["0", "1025", "many"] {
            assert_eq!(
                error(&[("CATALYST_RECONCILE_WORKERS", bad)]),
                format!("CATALYST_RECONCILE_WORKERS: {bad:?} is not a whole number from 1 to 1024")
            );
        }
    }

    #[test]
    fn environment_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalyst.toml");
        std::fs::write(
            &path,
            "bind = \"0.0.0.0:8080\"\npreview_domain = \"preview.example.com\"\ngithub_app_id = 42\n",
        )
        .unwrap();
        let c =
            Config::from_sources(Some(&path), env(&[("CATALYST_BIND", "127.0.0.1:9")])).unwrap();
        assert_eq!(c.http.bind.to_string(), "127.0.0.1:9");
        assert_eq!(c.preview.domain.as_deref(), Some("preview.example.com"));
        assert_eq!(c.github.app_id, Some(42));
    }

    #[test]
    fn unknown_and_bad_file_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalyst.toml");
        std::fs::write(&path, "bind = \"127.0.0.1:1\"\nwebhook_secret = \"x\"\n").unwrap();
        let message = Config::from_sources(Some(&path), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("unknown key `webhook_secret`"),
            "{message}"
        );

        std::fs::write(&path, "bind = \"nope\"\n").unwrap();
        let message = Config::from_sources(Some(&path), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(message.starts_with("bind (in "), "{message}");
        assert!(message.contains("is not a socket address"), "{message}");
    }

    #[test]
    fn engine_keys_have_defaults_and_are_checked() {
        let c = Config::from_sources(None, env(&[])).unwrap();
        assert_eq!(c.engine, EngineConfig::default());
        assert_eq!(c.engine.max_concurrent_deployments, 10);
        let c = Config::from_sources(
            None,
            env(&[
                ("CATALYST_MAX_CONCURRENT_DEPLOYMENTS", "4"),
                ("CATALYST_RETRY_BASE_MS", "5"),
                ("CATALYST_AUXILIARY_NAMESPACES", "registry, monitoring"),
                (
                    "CATALYST_PREVIEW_URL_TEMPLATE",
                    "https://{namespace}.dev.example.com",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(c.engine.max_concurrent_deployments, 4);
        assert_eq!(c.engine.retry_base_ms, 5);
        assert_eq!(c.engine.auxiliary_namespaces, ["registry", "monitoring"]);
        for (key, value) in [
            ("CATALYST_RETRY_CAP_MS", "0"),
            (
                "CATALYST_PREVIEW_URL_TEMPLATE",
                "https://static.example.com",
            ),
            ("CATALYST_INGRESS_NAMESPACE", "Ingress_Nginx"),
            ("CATALYST_NOTIFY_WEBHOOK_URL", "hooks.slack.com"),
        ] {
            let message = error(&[(key, value)]);
            assert!(message.starts_with(&format!("{key}: ")), "{message}");
        }
    }

    #[test]
    fn github_sync_keys_have_defaults_and_are_checked() {
        let c = Config::from_sources(None, env(&[])).unwrap();
        assert_eq!(c.github.sweep_interval_secs, 300);
        assert_eq!(c.github.fork_label, "preview");
        assert_eq!(c.github.setup_guide_url, None);
        let c = Config::from_sources(
            None,
            env(&[
                ("CATALYST_GITHUB_SWEEP_INTERVAL_SECS", "60"),
                ("CATALYST_GITHUB_FORK_LABEL", "safe-to-deploy"),
                ("CATALYST_SETUP_GUIDE_URL", "https://docs.example.com/setup"),
            ]),
        )
        .unwrap();
        assert_eq!(c.github.sweep_interval_secs, 60);
        assert_eq!(c.github.fork_label, "safe-to-deploy");
        assert_eq!(
            c.github.setup_guide_url.as_deref(),
            Some("https://docs.example.com/setup")
        );
        for (key, value) in [
            ("CATALYST_GITHUB_SWEEP_INTERVAL_SECS", "0"),
            ("CATALYST_SETUP_GUIDE_URL", "docs/setup"),
        ] {
            let message = error(&[(key, value)]);
            assert!(message.starts_with(&format!("{key}: ")), "{message}");
        }
    }

    #[test]
    fn empty_values_count_as_unset_and_secrets_are_not_printed() {
        let c = Config::from_sources(
            None,
            env(&[
                ("CATALYST_GITHUB_WEBHOOK_SECRET", "s3cr3t"),
                ("CATALYST_BIND", ""),
            ]),
        )
        .unwrap();
        assert_eq!(c.http.bind.to_string(), DEFAULT_BIND);
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }

    #[test]
    fn dashboard_operators_and_github_web_url() {
        let d = Config::from_sources(None, env(&[])).unwrap().dashboard;
        assert!(d.operators.is_empty());
        assert_eq!(d.github_web_url, DEFAULT_GITHUB_WEB_URL);
        let c = Config::from_sources(
            None,
            env(&[
                ("CATALYST_OPERATORS", " octocat, acme/platform ,"),
                ("CATALYST_GITHUB_WEB_URL", "http://127.0.0.1:9080/"),
            ]),
        )
        .unwrap();
        assert_eq!(c.dashboard.operators, ["octocat", "acme/platform"]);
        assert_eq!(c.dashboard.github_web_url, "http://127.0.0.1:9080");
        for (key, value) in [
            ("CATALYST_OPERATORS", "a/b/c"),
            ("CATALYST_OPERATORS", "bad login"),
            ("CATALYST_GITHUB_WEB_URL", "github.com"),
        ] {
            let message = error(&[(key, value)]);
            assert!(message.starts_with(&format!("{key}: ")), "{message}");
        }
    }
}
