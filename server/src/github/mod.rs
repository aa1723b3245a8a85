//! The GitHub adapter: GitHub App authentication, the one client layer every call goes
//! through (rate limits, retries, a circuit breaker per installation), the sticky PR
//! comment and its coalescing publisher, deployments, the open-PR sweep, the
//! repository's `.catalyst/preview.yaml`, and who gets a preview.
//!
//! The pure decisions (rate-limit classification, breaker, backoff, comment text) live in
//! [`crate::core`]; this module does the I/O around them. The adapter proper does not
//! import the store: persistence it needs (installation tokens) goes through the small
//! [`auth::TokenStore`] trait, which the store implements. Only the two loops that wire
//! it into the service read the store: [`sync`] (publishes each PR's state from the
//! database) and [`sweep`] (heals desired state from GitHub's open-PR lists).

pub mod auth;
pub mod client;
pub mod comments;
pub mod deployments;
pub mod eligibility;
pub mod publisher;
pub mod pulls;
pub mod repo_config;
pub(crate) mod request;
pub mod secrets;
pub mod settings;
pub mod sweep;
pub mod sync;

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::core::domain::{PullRequestNumber, RepositoryName};

pub use auth::{AppCredentials, MemoryTokenStore, SealedToken, TokenStore};
pub use client::{ClientStats, GithubClient};
pub use comments::{CommentId, KnownComment};
pub use deployments::{DeploymentId, DeploymentState, DeploymentStatusUpdate};
pub use eligibility::{Eligibility, NotEligibleReason, PullRequestFacts, RepositoryPolicy};
pub use publisher::{DeploymentIntent, PrPublisher, PublishState, PublisherTuning};
pub use pulls::{OpenPullRequest, OpenPulls, PullRequestState};
pub use repo_config::{ConfigProblem, PreviewConfig, RepositoryConfig};
pub use secrets::{EncryptionKey, SecretsError};
pub use settings::{ClientTuning, GithubSettings, PrivateKeySource};

/// The adapter as the rest of Catalyst holds it: one client (tokens, budgets, breakers)
/// and one publisher per process, with the settings they were built from.
#[derive(Clone)]
pub struct GithubAdapter {
    pub client: GithubClient,
    pub publisher: PrPublisher,
    pub settings: Arc<GithubSettings>,
}

impl GithubAdapter {
    /// Builds everything; a bad encryption key, private key or API URL is an error here,
    /// at start-up. Must run inside a Tokio runtime.
    pub fn start(settings: GithubSettings, tokens: Arc<dyn TokenStore>) -> Result<Self> {
        let client = GithubClient::new(&settings, tokens)?;
        let publisher = PrPublisher::new(client.clone(), PublisherTuning::default());
        Ok(Self {
            client,
            publisher,
            settings: Arc::new(settings),
        })
    }
}

/// A GitHub App installation: the unit GitHub budgets requests by and issues tokens for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstallationId(pub u64);

impl fmt::Display for InstallationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One pull request, with the installation that may write to it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PullRequestRef {
    pub installation: InstallationId,
    pub repo: RepositoryName,
    pub number: PullRequestNumber,
}

impl fmt::Display for PullRequestRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.repo, self.number)
    }
}

/// Why a GitHub operation failed. One type for the whole adapter, so callers match on
/// what they can act on: wait until a time, fix configuration, or give up.
#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    /// The installation's budget is spent (or a secondary limit hit); nothing was sent.
    #[error("github: rate limited until {} UTC (installation {installation})", until.format("%H:%M:%S"))]
    RateLimited {
        installation: InstallationId,
        until: DateTime<Utc>,
    },
    /// The circuit breaker is open after repeated errors; nothing was sent.
    #[error("github: unavailable after repeated errors; next try at {} UTC", until.format("%H:%M:%S"))]
    Unavailable {
        installation: InstallationId,
        until: DateTime<Utc>,
    },
    /// GitHub answered with an error that retrying will not fix (or retries ran out).
    #[error("github: {method} {path} answered {status}: {message}")]
    Api {
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    /// No answer at all (connection refused, reset, timeout) after the retries.
    #[error("github: {method} {path} failed: {reason}")]
    Transport {
        method: String,
        path: String,
        reason: String,
    },
    /// GitHub's answer did not have the expected shape.
    #[error("github: cannot read the answer to {what}: {source}")]
    Decode {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// The app's private key cannot be read or is not an RSA key.
    #[error("GitHub App private key {origin}: {reason}")]
    PrivateKey { origin: String, reason: String },
    /// Signing the app JWT failed.
    #[error("cannot sign the GitHub App JWT: {0}")]
    Jwt(#[source] jsonwebtoken::errors::Error),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// Reading or writing persisted installation tokens failed.
    #[error("installation token store: {0}")]
    TokenStore(String),
    /// The configuration cannot work (a bad API URL, a missing setting).
    #[error("GitHub configuration: {0}")]
    Settings(String),
}

impl GithubError {
    /// A stable label for metrics and logs.
    pub const fn metric_label(&self) -> &'static str {
        match self {
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable { .. } => "unavailable",
            Self::Api { .. } => "api",
            Self::Transport { .. } => "transport",
            Self::Decode { .. } => "decode",
            Self::PrivateKey { .. } => "private_key",
            Self::Jwt(_) => "jwt",
            Self::Secrets(_) => "secrets",
            Self::TokenStore(_) => "token_store",
            Self::Settings(_) => "settings",
        }
    }

    /// When a call may be tried again because GitHub asked us to wait (rate limit or
    /// open breaker); `None` for everything else.
    pub fn retry_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::RateLimited { until, .. } | Self::Unavailable { until, .. } => Some(*until),
            _ => None,
        }
    }

    /// The HTTP status GitHub answered with, if it answered with an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the same call may succeed later without anyone changing anything.
    pub fn is_temporary(&self) -> bool {
        match self {
            Self::RateLimited { .. } | Self::Unavailable { .. } | Self::Transport { .. } => true,
            Self::Api { status, .. } => *status >= 500 || *status == 408,
            _ => false,
        }
    }
}

pub type Result<T, E = GithubError> = std::result::Result<T, E>;
