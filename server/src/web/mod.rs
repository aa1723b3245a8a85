//! The dashboard's server-only entrances: GitHub sign-in and sessions (stored in the
//! database), CSRF and role checks, the log WebSocket and download, the live
//! environments WebSocket, and [`DashboardBackend`] — the `app::service::DashboardService`
//! the Leptos pages call, which authorises and then calls [`CatalystService`].

mod auth;
mod dashboard;
mod github_user;
mod live;
mod logs;
mod session_store;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use app::auth::SignedIn;
use app::error::AppError;
use axum::Extension;
use axum::Router;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use leptos::server_fn::error::SERVER_FN_ERROR_HEADER;
use tower_sessions::cookie::SameSite;
use tower_sessions::cookie::time::Duration;
use tower_sessions::{Expiry, SessionManagerLayer};

pub use auth::resolve_viewer;
pub use session_store::DbSessionStore;

use crate::service::CatalystService;
use crate::state::AppState;
use github_user::GithubUserClient;

/// Binds sealed session tokens to their use.
const SESSION_TOKEN_CONTEXT: &str = "catalyst/session/github-token";

/// How long a "can push" answer from GitHub is trusted.
const PERMISSION_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// The dashboard's view of the service layer, with who may do what.
pub struct DashboardBackend {
    pub(crate) service: Arc<CatalystService>,
    /// `(client id, client secret)` when sign-in is configured.
    oauth: Option<(String, String)>,
    operators: Vec<String>,
    public_url: Option<String>,
    github: GithubUserClient,
    permissions: Mutex<HashMap<(String, String), (bool, Instant)>>,
    /// Seals the person's GitHub token inside the session record (`CATALYST_ENCRYPTION_KEY`);
    /// without a key the token is kept as is (a laptop without a GitHub App).
    session_key: Option<crate::github::EncryptionKey>,
    /// The shared live feed of the environments overview (started on first use).
    feed: std::sync::OnceLock<live::OverviewFeed>,
}

impl DashboardBackend {
    pub fn new(state: &AppState) -> Self {
        let c = &state.config;
        let oauth = match (&c.github.oauth_client_id, &c.github.oauth_client_secret) {
            (Some(id), Some(secret)) => Some((id.clone(), secret.expose().to_owned())),
            _ => None,
        };
        Self {
            service: state.service.clone(),
            oauth,
            operators: c.dashboard.operators.clone(),
            public_url: c.http.public_url.clone(),
            github: GithubUserClient::new(&c.github.api_url, &c.dashboard.github_web_url),
            permissions: Mutex::new(HashMap::new()),
            session_key: crate::github::EncryptionKey::parse(
                c.security.encryption_key.as_ref().map(|k| k.expose()),
            )
            .ok(),
            feed: std::sync::OnceLock::new(),
        }
    }

    /// A receiver of the live environments overview, shared by all pages (each
    /// connection cuts its own page out of it; nobody parses it again).
    pub fn overview_feed(self: &Arc<Self>) -> &live::OverviewFeed {
        self.feed.get_or_init(|| live::start_feed(self.clone()))
    }

    /// Operators may act on everything; others on repositories they can push to.
    pub async fn can_manage(&self, who: &SignedIn, repository: &str) -> bool {
        if who.viewer.operator {
            return true;
        }
        let key = (who.viewer.login.to_lowercase(), repository.to_lowercase());
        if let Ok(cache) = self.permissions.lock()
            && let Some((ok, at)) = cache.get(&key)
            && at.elapsed() < PERMISSION_TTL
        {
            return *ok;
        }
        let ok = match self
            .github
            .can_push(&who.github_token, repository, &who.viewer.login)
            .await
        {
            Ok(ok) => ok,
            Err(e) => {
                tracing::warn!(error = %e, login = %who.viewer.login, repository, "permission check failed");
                return false;
            }
        };
        if let Ok(mut cache) = self.permissions.lock() {
            cache.insert(key, (ok, Instant::now()));
        }
        ok
    }

    pub fn sign_in_enabled(&self) -> bool {
        self.oauth.is_some()
    }

    /// The GitHub token as stored in the session.
    fn seal_token(&self, token: &str) -> String {
        match &self.session_key {
            Some(key) => match key.seal(token.as_bytes(), SESSION_TOKEN_CONTEXT) {
                Ok(sealed) => format!("sealed:{sealed}"),
                Err(e) => {
                    tracing::warn!(error = %e, "sealing the session token failed");
                    String::new()
                }
            },
            None => token.to_owned(),
        }
    }

    /// The GitHub token from a session (empty when it cannot be opened any more, e.g.
    /// after the encryption key changed: permission checks then fail closed).
    fn open_token(&self, stored: &str) -> String {
        match (stored.strip_prefix("sealed:"), &self.session_key) {
            (Some(sealed), Some(key)) => key
                .open(sealed, SESSION_TOKEN_CONTEXT)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_default(),
            (Some(_), None) => String::new(),
            (None, _) => stored.to_owned(),
        }
    }
}

/// The session layer: the `sessions` table, an HttpOnly SameSite=Lax cookie that is
/// Secure when Catalyst's public URL is https, a week of inactivity.
pub fn session_layer(state: &AppState) -> SessionManagerLayer<DbSessionStore> {
    let secure = state
        .config
        .http
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    let store = DbSessionStore::new(state.db.clone());
    let sweeper = store.clone();
    // Swept hourly while a runtime is there (a router built outside one just skips it).
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return manager(store, secure);
    };
    runtime.spawn(async move {
        // The first sweep waits a full period: `load` already ignores expired rows, and
        // an immediate sweep would race with whatever the process does at start-up.
        let every = std::time::Duration::from_secs(3_600);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tick.tick().await;
            if let Err(e) = sweeper.delete_expired().await {
                tracing::warn!(error = %e, "deleting expired sessions failed");
            }
        }
    });
    manager(store, secure)
}

fn manager(store: DbSessionStore, secure: bool) -> SessionManagerLayer<DbSessionStore> {
    SessionManagerLayer::new(store)
        .with_name("catalyst_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(secure)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(Duration::days(7)))
}

/// Middleware: a failed server function answers with the status its [`AppError`] means
/// (401 not signed in, 403 refused, 404, 409, 422, 503) instead of server_fn's blanket
/// 500, so clients, proxies and logs can tell a refusal from a crash. The browser code
/// treats every 4xx/5xx the same way, so the pages are unaffected.
pub async fn server_fn_status(req: axum::extract::Request, next: Next) -> Response {
    let res = next.run(req).await;
    if res.status() != StatusCode::INTERNAL_SERVER_ERROR
        || !res.headers().contains_key(SERVER_FN_ERROR_HEADER)
    {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    // An error body is one small JSON value; anything else is left a 500.
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if let Ok(error) = serde_json::from_slice::<AppError>(&bytes)
        && let Ok(status) = StatusCode::from_u16(error.status())
    {
        parts.status = status;
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// `/auth/...`, `/ws/...` and `/logs/...`.
pub fn router(backend: Arc<DashboardBackend>) -> Router<AppState> {
    Router::new()
        .route("/auth/github/login", get(auth::login))
        .route("/auth/github/callback", get(auth::callback))
        .route("/auth/logout", post(auth::logout))
        .route("/ws/environments", get(live::environments))
        .route("/ws/logs/{environment_id}", get(logs::follow))
        .route("/logs/{environment_id}/download", get(logs::download))
        .layer(Extension(backend))
}
