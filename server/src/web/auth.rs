//! Sign-in with GitHub (OAuth web flow), the session's user and CSRF token, sign-out,
//! and the middleware that turns a session into `app::auth::SignedIn` for the pages.
//!
//! Security: the OAuth `state` is random per attempt and checked in constant time; the
//! session id is cycled at sign-in (no fixation); the cookie is HttpOnly, SameSite=Lax
//! and Secure when Catalyst is served over https; every mutation carries the session's
//! CSRF token (server functions, sign-out) and WebSockets check `Origin`.

use std::sync::Arc;

use app::auth::{SignedIn, constant_time_eq};
use app::dto::Viewer;
use axum::Extension;
use axum::Form;
use axum::extract::{Query, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use rand::RngCore;
use sea_orm::sea_query::OnConflict;
use sea_orm::{EntityTrait, Set};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::DashboardBackend;
use super::github_user::{listed_operator, operator_teams};
use crate::store::entities::user;

const USER_KEY: &str = "user";
const STATE_KEY: &str = "oauth_state";
const NEXT_KEY: &str = "oauth_next";

/// What the session remembers about the signed-in person.
#[derive(Clone, Serialize, Deserialize)]
pub struct SessionUser {
    pub github_id: i64,
    pub login: String,
    pub name: Option<String>,
    pub avatar_url: Option<String>,
    pub operator: bool,
    /// The person's OAuth token, sealed with `CATALYST_ENCRYPTION_KEY` when one is set.
    pub github_token: String,
    pub csrf_token: String,
}

impl SessionUser {
    fn signed_in(self, backend: &DashboardBackend) -> SignedIn {
        let github_token = backend.open_token(&self.github_token);
        SignedIn {
            viewer: Viewer {
                login: self.login,
                name: self.name,
                avatar_url: self.avatar_url,
                operator: self.operator,
                csrf_token: self.csrf_token,
            },
            github_token,
        }
    }
}

pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Middleware: puts the session's person (if any) into the request's extensions.
pub async fn resolve_viewer(
    axum::extract::State(backend): axum::extract::State<Arc<DashboardBackend>>,
    session: Session,
    mut req: Request,
    next: Next,
) -> Response {
    match session.get::<SessionUser>(USER_KEY).await {
        Ok(Some(u)) => {
            req.extensions_mut().insert(u.signed_in(&backend));
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "the session could not be read"),
    }
    next.run(req).await
}

/// Only local paths, so the sign-in cannot be used as an open redirect.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

fn callback_url(backend: &DashboardBackend, headers: &HeaderMap) -> String {
    let base = backend.public_url.clone().unwrap_or_else(|| {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1:3000");
        format!("http://{host}")
    });
    format!("{base}/auth/github/callback")
}

fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><link rel=\"stylesheet\" href=\"/pkg/catalyst.css\"></head><body><main id=\"main\"><section class=\"panel error\"><h1>{t}</h1><p>{m}</p><p><a href=\"/\">Back to the dashboard</a></p></section></main></body></html>",
            t = esc(title),
            m = esc(message)
        ),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// `GET /auth/github/login`: off to GitHub with a fresh `state`.
pub async fn login(
    Extension(backend): Extension<Arc<DashboardBackend>>,
    session: Session,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let Some((client_id, _)) = backend.oauth.clone() else {
        return page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in is not configured",
            "Set CATALYST_GITHUB_OAUTH_CLIENT_ID and CATALYST_GITHUB_OAUTH_CLIENT_SECRET to sign in with GitHub.",
        );
    };
    let state = random_token();
    let stored = async {
        session.insert(STATE_KEY, &state).await?;
        session.insert(NEXT_KEY, safe_next(q.next.as_deref())).await
    };
    if let Err(e) = stored.await {
        tracing::error!(error = %e, "storing the OAuth state failed");
        return page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in failed",
            "The session could not be stored; try again.",
        );
    }
    let url = backend
        .github
        .authorize_url(&client_id, &callback_url(&backend, &headers), &state);
    Redirect::to(&url).into_response()
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /auth/github/callback`: checks `state`, exchanges the code, reads the person,
/// decides their role and starts a new session.
pub async fn callback(
    Extension(backend): Extension<Arc<DashboardBackend>>,
    session: Session,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    if let Some(e) = q.error {
        return page(
            StatusCode::FORBIDDEN,
            "GitHub did not sign you in",
            q.error_description.as_deref().unwrap_or(&e),
        );
    }
    let Some((client_id, client_secret)) = backend.oauth.clone() else {
        return page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in is not configured",
            "",
        );
    };
    let expected: Option<String> = session.remove(STATE_KEY).await.ok().flatten();
    let (Some(code), Some(state), Some(expected)) = (q.code, q.state, expected) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "The sign-in link is incomplete or expired; start again.",
        );
    };
    if !constant_time_eq(state.as_bytes(), expected.as_bytes()) {
        return page(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "The sign-in answer does not belong to this browser; start again.",
        );
    }
    let next: String = session
        .remove(NEXT_KEY)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| "/".into());
    let redirect_uri = callback_url(&backend, &headers);
    let token = match backend
        .github
        .exchange_code(&client_id, &client_secret, &code, &redirect_uri)
        .await
    {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "OAuth code exchange failed");
            return page(StatusCode::BAD_GATEWAY, "Sign-in failed", &e.to_string());
        }
    };
    let gh = match backend.github.user(&token).await {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(error = %e, "reading the GitHub user failed");
            return page(StatusCode::BAD_GATEWAY, "Sign-in failed", &e.to_string());
        }
    };
    let mut operator = listed_operator(&backend.operators, &gh.login);
    if !operator {
        for (org, team) in operator_teams(&backend.operators) {
            if backend
                .github
                .in_team(&token, &org, &team, &gh.login)
                .await
                .unwrap_or(false)
            {
                operator = true;
                break;
            }
        }
    }
    if let Err(e) = remember_user(&backend, &gh, operator).await {
        tracing::warn!(error = %e, "recording the user failed");
    }
    let user = SessionUser {
        github_id: gh.id,
        login: gh.login.clone(),
        name: gh.name,
        avatar_url: gh.avatar_url,
        operator,
        github_token: backend.seal_token(&token),
        csrf_token: random_token(),
    };
    let started = async {
        session.cycle_id().await?;
        session.insert(USER_KEY, user).await
    };
    if let Err(e) = started.await {
        tracing::error!(error = %e, "starting the session failed");
        return page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in failed",
            "The session could not be stored; try again.",
        );
    }
    tracing::info!(login = %gh.login, operator, "signed in");
    Redirect::to(&safe_next(Some(&next))).into_response()
}

async fn remember_user(
    backend: &DashboardBackend,
    gh: &super::github_user::GithubUser,
    operator: bool,
) -> Result<(), sea_orm::DbErr> {
    let now = Utc::now();
    let row = user::ActiveModel {
        id: Set(crate::store::new_id()),
        github_id: Set(gh.id),
        login: Set(gh.login.clone()),
        name: Set(gh.name.clone()),
        avatar_url: Set(gh.avatar_url.clone()),
        role: Set(if operator { "operator" } else { "member" }.to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        last_seen_at: Set(Some(now)),
    };
    user::Entity::insert(row)
        .on_conflict(
            OnConflict::column(user::Column::GithubId)
                .update_columns([
                    user::Column::Login,
                    user::Column::Name,
                    user::Column::AvatarUrl,
                    user::Column::Role,
                    user::Column::UpdatedAt,
                    user::Column::LastSeenAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(backend.service.db())
        .await?;
    Ok(())
}

#[derive(Deserialize)]
pub struct LogoutForm {
    /// Missing is refused like a wrong one (403), not as a malformed form.
    #[serde(default)]
    csrf: String,
}

/// `POST /auth/logout` (with the CSRF token): ends the session.
pub async fn logout(session: Session, Form(form): Form<LogoutForm>) -> Response {
    let user: Option<SessionUser> = session.get(USER_KEY).await.ok().flatten();
    match user {
        Some(u) if constant_time_eq(u.csrf_token.as_bytes(), form.csrf.as_bytes()) => {
            if let Err(e) = session.flush().await {
                tracing::warn!(error = %e, "ending the session failed");
            }
            Redirect::to("/").into_response()
        }
        Some(_) => page(
            StatusCode::FORBIDDEN,
            "Sign-out refused",
            "The form is out of date (CSRF check failed); reload the page and try again.",
        ),
        None => Redirect::to("/").into_response(),
    }
}

/// Refuses cross-site WebSocket requests: `Origin`, when sent, must name this host.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .unwrap_or("");
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_must_be_a_local_path() {
        assert_eq!(safe_next(Some("/environments/1")), "/environments/1");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn websockets_need_the_same_origin() {
        let mut h = HeaderMap::new();
        h.insert(
            header::HOST,
            "catalyst.example:3000"
                .parse()
                .unwrap_or(header::HeaderValue::from_static("x")),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            header::HeaderValue::from_static("http://catalyst.example:3000"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            header::HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&h));
    }
}
