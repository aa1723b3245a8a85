//! The OAuth web flow of the dashboard's sign-in: `/login/oauth/authorize` (redirects back
//! with a code for the scripted user), `/login/oauth/access_token`, and `GET /user`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::GhState;
use super::auth::{Identity, new_token};
use super::errors::{GhError, GhResult};
use super::render;
use super::state::random_hex;
use crate::http_util::parse_query;

/// The OAuth and user routes.
pub fn router() -> Router<Arc<GhState>> {
    Router::new()
        .route("/login/oauth/authorize", get(authorize))
        .route("/login/oauth/access_token", post(access_token))
        .route("/user", get(user))
}

async fn authorize(
    State(st): State<Arc<GhState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut w = st.world();
    if q.get("client_id") != Some(&w.oauth.client_id) {
        return (StatusCode::NOT_FOUND, "Not Found").into_response();
    }
    let Some(redirect) = q.get("redirect_uri").cloned() else {
        return (
            StatusCode::BAD_REQUEST,
            "The redirect_uri MUST match the registered callback URL for this application.",
        )
            .into_response();
    };
    let code = random_hex(20);
    let login = w.oauth.next_login.clone();
    w.ensure_user(&login, "User");
    w.oauth_codes
        .insert(code.clone(), (login, redirect.clone()));
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let mut location = format!("{redirect}{sep}code={code}");
    if let Some(s) = q.get("state") {
        location.push_str(&format!(
            "&state={}",
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
        ));
    }
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

async fn access_token(
    State(st): State<Arc<GhState>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    // Parameters may come in the query, a form body or a JSON body.
    let mut p = q;
    let text = String::from_utf8_lossy(&body).into_owned();
    if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(&text) {
        for (k, v) in m {
            p.insert(k, v.as_str().map_or_else(|| v.to_string(), str::to_string));
        }
    } else {
        p.extend(parse_query(&text));
    }
    let mut w = st.world();
    let answer = if p.get("client_id") != Some(&w.oauth.client_id)
        || p.get("client_secret") != Some(&w.oauth.client_secret)
    {
        json!({"error": "incorrect_client_credentials", "error_description": "The client_id and/or client_secret passed are incorrect.", "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#incorrect-client-credentials"})
    } else {
        match p.get("code").and_then(|c| w.oauth_codes.remove(c)) {
            Some((login, redirect)) if p.get("redirect_uri").is_none_or(|r| *r == redirect) => {
                let token = new_token("gho");
                w.user_tokens.insert(token.clone(), login);
                json!({"access_token": token, "token_type": "bearer", "scope": "read:user"})
            }
            Some(_) => {
                json!({"error": "redirect_uri_mismatch", "error_description": "The redirect_uri MUST match the registered callback URL for this application.", "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#redirect-uri-mismatch2"})
            }
            None => {
                json!({"error": "bad_verification_code", "error_description": "The code passed is incorrect or expired.", "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code"})
            }
        }
    };
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("json"));
    if wants_json {
        return Json(answer).into_response();
    }
    let form: Vec<String> = answer
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                percent_encoding::utf8_percent_encode(
                    v.as_str().unwrap_or(""),
                    percent_encoding::NON_ALPHANUMERIC
                )
            )
        })
        .collect();
    (
        [(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=utf-8",
        )],
        form.join("&"),
    )
        .into_response()
}

async fn user(
    State(st): State<Arc<GhState>>,
    Extension(id): Extension<Identity>,
) -> GhResult<Response> {
    let base = st.base();
    let mut w = st.world();
    let login = match id {
        Identity::User(l) => l,
        Identity::Anonymous => return Err(GhError::requires_auth()),
        _ => return Err(GhError::forbidden("Resource not accessible by integration")),
    };
    let u = w.ensure_user(&login, "User");
    let mut v = render::user(&base, &u);
    v["name"] = json!(u.name.clone().unwrap_or_else(|| login.clone()));
    v["email"] = json!(u.email);
    v["company"] = Value::Null;
    v["blog"] = json!("");
    v["location"] = Value::Null;
    v["hireable"] = Value::Null;
    v["bio"] = Value::Null;
    v["twitter_username"] = Value::Null;
    v["public_repos"] = json!(0);
    v["public_gists"] = json!(0);
    v["followers"] = json!(0);
    v["following"] = json!(0);
    v["created_at"] = json!("2026-01-01T00:00:00Z");
    v["updated_at"] = json!("2026-01-01T00:00:00Z");
    Ok(Json(v).into_response())
}
