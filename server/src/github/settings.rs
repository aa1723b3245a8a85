//! What the GitHub adapter needs to know, in one struct the configuration layer fills
//! (`CATALYST_GITHUB_APP_ID`, `CATALYST_GITHUB_APP_PRIVATE_KEY_PATH`,
//! `CATALYST_GITHUB_API_URL`, `CATALYST_ENCRYPTION_KEY`, `CATALYST_PUBLIC_URL`), plus the
//! tuning of retries and the breaker, with defaults that suit api.github.com.

use std::path::PathBuf;
use std::time::Duration;

use crate::core::breaker::BreakerConfig;

use super::eligibility::RepositoryPolicy;
use super::{GithubError, Result};

/// GitHub's public API; Enterprise Server uses `https://HOST/api/v3`.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// Where the app's RSA private key comes from.
#[derive(Clone)]
pub enum PrivateKeySource {
    /// `CATALYST_GITHUB_APP_PRIVATE_KEY_PATH`.
    Path(PathBuf),
    /// The PEM itself (tests, or a secret mounted as a value).
    Pem(Vec<u8>),
}

impl std::fmt::Debug for PrivateKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Path(path) => f.debug_tuple("Path").field(path).finish(),
            Self::Pem(_) => f.write_str("Pem(..)"),
        }
    }
}

impl PrivateKeySource {
    /// The PEM bytes; a missing or unreadable file names the path and the variable.
    pub fn read(&self) -> Result<Vec<u8>> {
        match self {
            Self::Pem(bytes) => Ok(bytes.clone()),
            Self::Path(path) => std::fs::read(path).map_err(|e| GithubError::PrivateKey {
                origin: format!("{} (CATALYST_GITHUB_APP_PRIVATE_KEY_PATH)", path.display()),
                reason: e.to_string(),
            }),
        }
    }

    /// How errors name this key.
    pub fn origin(&self) -> String {
        match self {
            Self::Path(path) => {
                format!("{} (CATALYST_GITHUB_APP_PRIVATE_KEY_PATH)", path.display())
            }
            Self::Pem(_) => "given inline".to_owned(),
        }
    }
}

/// Retries, timeouts and breaker tuning of the client layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientTuning {
    /// Retries of one idempotent call after transient errors (5xx, timeouts).
    pub max_retries: u32,
    /// Backoff between those retries: full jitter under `min(cap, base * 2^n)`.
    pub retry_base: Duration,
    pub retry_cap: Duration,
    /// One request, from sending to the last body byte.
    pub request_timeout: Duration,
    /// An installation token is renewed when it has less than this left (GitHub's
    /// tokens last an hour).
    pub token_refresh_margin: Duration,
    pub breaker: BreakerConfig,
}

impl Default for ClientTuning {
    fn default() -> Self {
        Self {
            max_retries: 3,
            retry_base: Duration::from_millis(500),
            retry_cap: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            token_refresh_margin: Duration::from_secs(5 * 60),
            breaker: BreakerConfig::default(),
        }
    }
}

/// Everything the GitHub adapter is configured with.
#[derive(Clone, Debug)]
pub struct GithubSettings {
    /// `CATALYST_GITHUB_APP_ID`.
    pub app_id: u64,
    pub private_key: PrivateKeySource,
    /// `CATALYST_GITHUB_API_URL`: api.github.com, an Enterprise server or a test double.
    pub api_url: String,
    /// `CATALYST_ENCRYPTION_KEY` as configured (base64 or hex of 32 bytes).
    pub encryption_key: Option<String>,
    /// `CATALYST_PUBLIC_URL`: links from comments and deployments to Catalyst's pages.
    pub public_url: String,
    /// Linked from the "configuration missing" comment.
    pub setup_guide_url: String,
    /// The defaults for repositories that do not set their own policy.
    pub default_policy: RepositoryPolicy,
    pub tuning: ClientTuning,
}

impl GithubSettings {
    /// Settings with the defaults for everything but the app's identity.
    pub fn new(app_id: u64, private_key: PrivateKeySource, encryption_key: Option<String>) -> Self {
        Self {
            app_id,
            private_key,
            api_url: DEFAULT_API_URL.to_owned(),
            encryption_key,
            public_url: "http://127.0.0.1:3000".to_owned(),
            setup_guide_url: "https://github.com/catalyst-preview/catalyst/blob/main/docs/setup.md"
                .to_owned(),
            default_policy: RepositoryPolicy::default(),
            tuning: ClientTuning::default(),
        }
    }

    /// The API URL without a trailing slash, checked to be absolute http(s).
    pub fn api_base(&self) -> Result<http::Uri> {
        let trimmed = self.api_url.trim().trim_end_matches('/');
        let uri: http::Uri = trimmed.parse().map_err(|e| {
            GithubError::Settings(format!(
                "CATALYST_GITHUB_API_URL `{}` is not a URL: {e}",
                self.api_url
            ))
        })?;
        match (uri.scheme_str(), uri.authority()) {
            (Some("http" | "https"), Some(_)) => Ok(uri),
            _ => Err(GithubError::Settings(format!(
                "CATALYST_GITHUB_API_URL `{}` must be an absolute http(s) URL",
                self.api_url
            ))),
        }
    }

    /// A link to an environment's page in Catalyst (the deployment's `log_url`).
    pub fn environment_page(&self, environment_id: &str) -> String {
        format!(
            "{}/environments/{environment_id}",
            self.public_url.trim_end_matches('/')
        )
    }
}

impl GithubSettings {
    /// The settings of a configured GitHub App (`CATALYST_GITHUB_APP_ID` and
    /// `CATALYST_GITHUB_APP_PRIVATE_KEY_PATH`); `None` when the app is not configured.
    pub fn from_config(config: &crate::config::Config) -> Option<Self> {
        let github = &config.github;
        let (Some(app_id), Some(path)) = (github.app_id, github.app_private_key_path.clone())
        else {
            return None;
        };
        let mut settings = Self::new(
            app_id,
            PrivateKeySource::Path(path),
            config
                .security
                .encryption_key
                .as_ref()
                .map(|k| k.expose().to_owned()),
        );
        settings.api_url = github.api_url.clone();
        settings.public_url = config
            .http
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", config.http.bind));
        if let Some(url) = &github.setup_guide_url {
            settings.setup_guide_url = url.clone();
        }
        settings.default_policy = config.engine.expiry_policy(&github.fork_label);
        Some(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> GithubSettings {
        let mut s = GithubSettings::new(1, PrivateKeySource::Pem(Vec::new()), None);
        s.api_url = url.to_owned();
        s
    }

    #[test]
    fn api_urls_must_be_absolute_http() {
        assert!(settings("https://api.github.com").api_base().is_ok());
        assert!(settings("http://127.0.0.1:9/").api_base().is_ok());
        let ghe = settings("https://ghe.example.com/api/v3/")
            .api_base()
            .unwrap();
        assert_eq!(ghe.path(), "/api/v3");
        for bad in ["api.github.com", "ftp://x", "not a url"] {
            let err = settings(bad).api_base().unwrap_err().to_string();
            assert!(err.contains("CATALYST_GITHUB_API_URL"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_missing_key_file_names_the_path_and_the_variable() {
        let source = PrivateKeySource::Path("/nonexistent/key.pem".into());
        let err = source.read().unwrap_err().to_string();
        assert!(err.contains("/nonexistent/key.pem"), "{err}");
        assert!(
            err.contains("CATALYST_GITHUB_APP_PRIVATE_KEY_PATH"),
            "{err}"
        );
        assert_eq!(
            format!("{:?}", PrivateKeySource::Pem(b"secret".to_vec())),
            "Pem(..)"
        );
    }

    #[test]
    fn environment_pages_hang_off_the_public_url() {
        let mut s = settings("https://api.github.com");
        s.public_url = "https://catalyst.example.com/".into();
        assert_eq!(
            s.environment_page("abc"),
            "https://catalyst.example.com/environments/abc"
        );
    }
}
