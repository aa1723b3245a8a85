//! The one client layer every GitHub call goes through. It authenticates (app JWT or
//! installation token), reads `X-RateLimit-*` and `Retry-After` on every answer,
//! classifies failures with [`crate::core::github_rate_limit::classify`], retries
//! transient errors of idempotent calls with exponential backoff and full jitter, and
//! keeps one circuit breaker per installation ([`crate::core::breaker`]). While a
//! breaker is open no request is sent: the call fails at once with the time to come
//! back, and callers (the comment publisher) wait and coalesce.
//!
//! Requests are built here and executed by octocrab's HTTP stack (its typed API hides
//! the headers this layer needs). Paths are relative, so octocrab's base URI — the
//! configured `CATALYST_GITHUB_API_URL`, Enterprise `/api/v3` prefix included — applies.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use http::StatusCode;
use http::header::{AUTHORIZATION, HeaderValue, IF_NONE_MATCH};
use http_body_util::BodyExt;
use octocrab::Octocrab;
use octocrab::service::middleware::retry::RetryConfig;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::core::backoff;
use crate::core::breaker::{Admission, Breaker, BreakerState};
use crate::core::domain::RepositoryName;
use crate::core::github_rate_limit::{GithubFailure, RateLimitInfo, classify};

use super::auth::{AppCredentials, InstallationToken, TokenCache, TokenStore};
use super::request::{ApiRequest, ApiResponse, error_message};
use super::secrets::EncryptionKey;
use super::settings::{ClientTuning, GithubSettings};
use super::{GithubError, InstallationId, Result};

/// Counters for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Requests sent to GitHub (each retry counts).
    pub requests: u64,
    /// Answers that were a primary or secondary rate limit.
    pub rate_limited: u64,
    /// Calls refused by an open breaker without a request.
    pub rejected_by_breaker: u64,
    /// `304 Not Modified` answers (free of rate-limit cost).
    pub not_modified: u64,
    /// Retries after transient errors.
    pub retries: u64,
    /// Installation tokens minted.
    pub tokens_minted: u64,
}

/// The calls one piece of work made, apart from everyone else's: the client's
/// [`ClientStats`] are shared by every task, so the sweep's own count taken as their
/// difference also held the publisher's calls made meanwhile. See [`tallied`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallTally {
    /// Requests sent (each retry counts).
    pub requests: u64,
    /// Answers that were a rate limit, and calls refused by an open breaker.
    pub rate_limited: u64,
}

tokio::task_local! {
    static TALLY: std::cell::Cell<CallTally>;
}

/// Runs `work`, counting the calls it makes on its own task (not on tasks it spawns or
/// merely awaits), through any client.
pub async fn tallied<F: std::future::Future>(work: F) -> (F::Output, CallTally) {
    TALLY
        .scope(std::cell::Cell::new(CallTally::default()), async {
            let out = work.await;
            (out, TALLY.with(std::cell::Cell::get))
        })
        .await
}

/// Adds to the running task's tally, if it keeps one.
fn tally(add: impl FnOnce(&mut CallTally)) {
    let _ = TALLY.try_with(|cell| {
        let mut t = cell.get();
        add(&mut t);
        cell.set(t);
    });
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    rate_limited: AtomicU64,
    rejected_by_breaker: AtomicU64,
    not_modified: AtomicU64,
    retries: AtomicU64,
    tokens_minted: AtomicU64,
}

/// What one attempt led to.
enum Step {
    Done(ApiResponse),
    Retry(Duration),
    Unauthorized(GithubError),
}

/// The GitHub client for one app. Cheap to clone.
#[derive(Clone)]
pub struct GithubClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: Octocrab,
    app: AppCredentials,
    tokens: TokenCache,
    tuning: ClientTuning,
    breakers: Mutex<HashMap<InstallationId, Breaker>>,
    budgets: Mutex<HashMap<InstallationId, RateLimitInfo>>,
    counters: Counters,
    app_slug: tokio::sync::OnceCell<String>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Deserialize)]
struct TokenAnswer {
    token: String,
    expires_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct AppAnswer {
    slug: String,
}

impl GithubClient {
    /// Builds the client. Every configuration problem (encryption key, private key, API
    /// URL) is reported here, at start-up, with the variable to fix. Must run inside a
    /// Tokio runtime.
    pub fn new(settings: &GithubSettings, store: Arc<dyn TokenStore>) -> Result<Self> {
        let key = EncryptionKey::parse(settings.encryption_key.as_deref())?;
        let pem = settings.private_key.read()?;
        let app = AppCredentials::from_pem(settings.app_id, &pem, &settings.private_key.origin())?;
        let base = settings.api_base()?;
        let http = Octocrab::builder()
            .base_uri(base)
            .map_err(|e| GithubError::Settings(format!("CATALYST_GITHUB_API_URL: {e}")))?
            // Retries are this layer's job: it must see every answer.
            .add_retry_config(RetryConfig::None)
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(settings.tuning.request_timeout))
            .build()
            .map_err(|e| GithubError::Settings(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                app,
                tokens: TokenCache::new(store, key, settings.tuning.token_refresh_margin),
                tuning: settings.tuning,
                breakers: Mutex::new(HashMap::new()),
                budgets: Mutex::new(HashMap::new()),
                counters: Counters::default(),
                app_slug: tokio::sync::OnceCell::new(),
            }),
        })
    }

    /// The installation's breaker state, for the metric and the dashboard.
    pub fn breaker_state(&self, installation: InstallationId) -> BreakerState {
        lock(&self.inner.breakers)
            .get(&installation)
            .map_or(BreakerState::Closed, Breaker::state)
    }

    /// While a rate limit holds the installation's calls: until when (the
    /// "github: rate limited until HH:MM" note).
    pub fn rate_limited_until(&self, installation: InstallationId) -> Option<DateTime<Utc>> {
        lock(&self.inner.breakers)
            .get(&installation)
            .and_then(Breaker::rate_limited_until)
    }

    /// The budget headers of the installation's latest answer.
    pub fn rate_limit(&self, installation: InstallationId) -> Option<RateLimitInfo> {
        lock(&self.inner.budgets).get(&installation).cloned()
    }

    /// Installations the client has talked to (or refused to), for per-installation
    /// metrics.
    pub fn installations(&self) -> Vec<InstallationId> {
        let mut ids: Vec<InstallationId> = lock(&self.inner.breakers).keys().copied().collect();
        ids.extend(lock(&self.inner.budgets).keys().copied());
        ids.sort_by_key(|i| i.0);
        ids.dedup();
        ids
    }

    pub fn stats(&self) -> ClientStats {
        let c = &self.inner.counters;
        ClientStats {
            requests: c.requests.load(Ordering::Relaxed),
            rate_limited: c.rate_limited.load(Ordering::Relaxed),
            rejected_by_breaker: c.rejected_by_breaker.load(Ordering::Relaxed),
            not_modified: c.not_modified.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            tokens_minted: c.tokens_minted.load(Ordering::Relaxed),
        }
    }

    /// An installation token (for `git clone` in the PR pod, say), from the cache.
    pub async fn installation_token(&self, installation: InstallationId) -> Result<String> {
        Ok(self.token(installation).await?.token)
    }

    /// The app's slug (its bot writes as `{slug}[bot]`), asked once.
    pub async fn app_slug(&self) -> Result<String> {
        self.inner
            .app_slug
            .get_or_try_init(|| async {
                let response = self.send_as_app(None, &ApiRequest::get("/app")).await?;
                Ok(response.json::<AppAnswer>("GET /app")?.slug)
            })
            .await
            .cloned()
    }

    /// The installation of the app on `repo` (for sweeps of configured repositories;
    /// webhooks carry it themselves).
    pub async fn repository_installation(&self, repo: &RepositoryName) -> Result<InstallationId> {
        #[derive(Deserialize)]
        struct Installation {
            id: u64,
        }
        let request = ApiRequest::get(format!(
            "/repos/{}/{}/installation",
            repo.owner(),
            repo.name()
        ));
        let response = self.send_as_app(None, &request).await?;
        Ok(InstallationId(
            response
                .json::<Installation>("the repository's installation")?
                .id,
        ))
    }

    async fn token(&self, installation: InstallationId) -> Result<InstallationToken> {
        self.inner
            .tokens
            .get(installation, || async {
                let request = ApiRequest::post(
                    format!("/app/installations/{installation}/access_tokens"),
                    serde_json::json!({}),
                );
                let response = self.send_as_app(Some(installation), &request).await?;
                self.inner
                    .counters
                    .tokens_minted
                    .fetch_add(1, Ordering::Relaxed);
                let answer: TokenAnswer = response.json("an installation token")?;
                Ok(InstallationToken {
                    token: answer.token,
                    expires_at: answer.expires_at,
                })
            })
            .await
    }

    /// Sends `request` as the installation, through its breaker.
    pub(crate) async fn send(
        &self,
        installation: InstallationId,
        request: &ApiRequest,
    ) -> Result<ApiResponse> {
        let mut attempt = 0;
        let mut reauthenticated = false;
        loop {
            self.admit(installation)?;
            let token = self.token(installation).await?;
            match self
                .attempt(Some(installation), true, request, &token.token, attempt)
                .await?
            {
                Step::Done(response) => return Ok(response),
                Step::Retry(delay) => {
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                // A revoked token: mint a new one, once.
                Step::Unauthorized(_) if !reauthenticated => {
                    reauthenticated = true;
                    self.inner.tokens.invalidate(installation).await;
                }
                Step::Unauthorized(error) => return Err(error),
            }
        }
    }

    /// Sends `request` as the app (JWT). Its outcome counts for `installation`'s breaker
    /// when given (minting that installation's token), but the app's budget is not the
    /// installation's, so its headers are not recorded.
    async fn send_as_app(
        &self,
        installation: Option<InstallationId>,
        request: &ApiRequest,
    ) -> Result<ApiResponse> {
        let mut attempt = 0;
        loop {
            let jwt = self.inner.app.jwt(Utc::now())?;
            match self
                .attempt(installation, false, request, &jwt, attempt)
                .await?
            {
                Step::Done(response) => return Ok(response),
                Step::Retry(delay) => {
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Step::Unauthorized(error) => return Err(error),
            }
        }
    }

    /// GETs every page of a list, following `Link: rel="next"`.
    pub(crate) async fn get_all_pages<T: DeserializeOwned>(
        &self,
        installation: InstallationId,
        first: String,
        what: &str,
    ) -> Result<Vec<T>> {
        let mut items = Vec::new();
        let mut next = Some(first);
        while let Some(path) = next {
            let response = self.send(installation, &ApiRequest::get(path)).await?;
            items.extend(response.json::<Vec<T>>(what)?);
            next = response.next_page();
        }
        Ok(items)
    }

    fn admit(&self, installation: InstallationId) -> Result<()> {
        let mut breakers = lock(&self.inner.breakers);
        let breaker = breakers
            .entry(installation)
            .or_insert_with(|| Breaker::new(self.inner.tuning.breaker));
        match breaker.allow(Utc::now()) {
            Admission::Permit => Ok(()),
            Admission::Rejected { until } => {
                self.inner
                    .counters
                    .rejected_by_breaker
                    .fetch_add(1, Ordering::Relaxed);
                tally(|t| t.rate_limited += 1);
                if breaker.rate_limited_until().is_some() {
                    Err(GithubError::RateLimited {
                        installation,
                        until,
                    })
                } else {
                    Err(GithubError::Unavailable {
                        installation,
                        until,
                    })
                }
            }
        }
    }

    /// Until when the installation's breaker refuses calls, without taking a probe slot.
    fn open_until(
        &self,
        installation: InstallationId,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        self.with_breaker(installation, |b| {
            if b.state() != BreakerState::Open {
                return None;
            }
            match b.clone().allow(now) {
                Admission::Rejected { until } => Some(until),
                Admission::Permit => None,
            }
        })
    }

    fn with_breaker<R>(
        &self,
        installation: InstallationId,
        f: impl FnOnce(&mut Breaker) -> R,
    ) -> R {
        let mut breakers = lock(&self.inner.breakers);
        f(breakers
            .entry(installation)
            .or_insert_with(|| Breaker::new(self.inner.tuning.breaker)))
    }

    /// One request and what to do next. `record_budget`: the answer's rate-limit headers
    /// are the installation's (not the app's).
    async fn attempt(
        &self,
        installation: Option<InstallationId>,
        record_budget: bool,
        request: &ApiRequest,
        credential: &str,
        attempt: u32,
    ) -> Result<Step> {
        let counters = &self.inner.counters;
        counters.requests.fetch_add(1, Ordering::Relaxed);
        tally(|t| t.requests += 1);
        let outcome = self.execute(request, credential).await;
        let now = Utc::now();
        let response = match outcome {
            Ok(response) => response,
            Err(reason) => {
                if let Some(id) = installation {
                    self.with_breaker(id, |b| b.on_failure(now, GithubFailure::Transient));
                    if let Some(until) = self.open_until(id, now) {
                        return Err(GithubError::Unavailable {
                            installation: id,
                            until,
                        });
                    }
                }
                if attempt < self.inner.tuning.max_retries && request.idempotent() {
                    counters.retries.fetch_add(1, Ordering::Relaxed);
                    return Ok(Step::Retry(self.backoff(attempt)));
                }
                return Err(GithubError::Transport {
                    method: request.method.to_string(),
                    path: request.path.clone(),
                    reason,
                });
            }
        };
        let info = RateLimitInfo::from_header_map(&response.headers);
        let message = error_message(&response.body);
        let failure = classify(response.status.as_u16(), &info, &message);
        if let (Some(id), true) = (installation, record_budget) {
            lock(&self.inner.budgets).insert(id, info.clone());
        }
        if response.status == StatusCode::NOT_MODIFIED {
            counters.not_modified.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(id) = installation {
            self.with_breaker(id, |b| {
                match failure {
                    None => b.on_success(now),
                    Some(f) => b.on_failure(now, f),
                }
                if record_budget {
                    b.observe(now, &info);
                }
            });
        }
        let status = response.status.as_u16();
        match failure {
            None => Ok(Step::Done(response)),
            Some(
                f @ (GithubFailure::PrimaryRateLimited { .. }
                | GithubFailure::SecondaryRateLimited { .. }),
            ) => {
                counters.rate_limited.fetch_add(1, Ordering::Relaxed);
                tally(|t| t.rate_limited += 1);
                let until = installation
                    .and_then(|id| self.with_breaker(id, |b| b.rate_limited_until()))
                    .or_else(|| f.retry_at(now))
                    .unwrap_or(now);
                tracing::warn!(
                    installation = ?installation.map(|i| i.0),
                    kind = f.as_str(),
                    until = %until,
                    "github rate limit"
                );
                Err(GithubError::RateLimited {
                    installation: installation.unwrap_or(InstallationId(0)),
                    until,
                })
            }
            Some(GithubFailure::Transient) => {
                // This failure may have been the one that opened the breaker: then the
                // caller learns when to come back instead of a bare 5xx.
                if let Some(id) = installation
                    && let Some(until) = self.open_until(id, now)
                {
                    tracing::warn!(installation = id.0, %until, status, "github breaker opened after repeated errors");
                    return Err(GithubError::Unavailable {
                        installation: id,
                        until,
                    });
                }
                if attempt < self.inner.tuning.max_retries && request.idempotent() {
                    counters.retries.fetch_add(1, Ordering::Relaxed);
                    return Ok(Step::Retry(self.backoff(attempt)));
                }
                Err(request.api_error(status, message))
            }
            Some(GithubFailure::Permanent) if status == 401 => {
                Ok(Step::Unauthorized(request.api_error(status, message)))
            }
            Some(GithubFailure::Permanent) => Err(request.api_error(status, message)),
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let t = &self.inner.tuning;
        backoff::delay(attempt, t.retry_base, t.retry_cap, rand::random::<u64>())
    }

    /// Sends one request; `Err` is a failure without an answer.
    async fn execute(
        &self,
        request: &ApiRequest,
        credential: &str,
    ) -> std::result::Result<ApiResponse, String> {
        let mut auth = HeaderValue::from_str(&format!("Bearer {credential}"))
            .map_err(|_| "the credential is not a valid header value".to_owned())?;
        auth.set_sensitive(true);
        let mut builder = http::Request::builder()
            .method(request.method.clone())
            .uri(request.path.as_str())
            .header(AUTHORIZATION, auth);
        if let Some(etag) = &request.if_none_match {
            builder = builder.header(IF_NONE_MATCH, etag.as_str());
        }
        let http = &self.inner.http;
        let built = http
            .build_request(builder, request.body.as_ref())
            .map_err(|e| e.to_string())?;
        let exchange = async {
            let response = http.execute(built).await.map_err(|e| e.to_string())?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
            Ok::<_, String>(ApiResponse {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        match tokio::time::timeout(self.inner.tuning.request_timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "no answer within {:?}",
                self.inner.tuning.request_timeout
            )),
        }
    }
}
