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
use axum::Extension;
use axum::Router;
use axum::routing::{get, post};
use tower_sessions::cookie::SameSite;
use tower_sessions::cookie::time::Duration;
use tower_sessions::{Expiry, SessionManagerLayer};

pub use auth::resolve_viewer;
pub use session_store::DbSessionStore;

use crate::service::CatalystService;
use crate::state::AppState;
use github_user::GithubUserClient;

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
        }
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
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3_600));
        loop {
            tick.tick().await;
            if let Err(e) = sweeper.delete_expired().await {
                tracing::warn!(error = %e, "deleting expired sessions failed");
            }
        }
    });
    SessionManagerLayer::new(store)
        .with_name("catalyst_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(secure)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(Duration::days(7)))
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
