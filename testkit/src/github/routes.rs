//! The REST routes Catalyst uses, and the helpers they share: visibility, who writes,
//! pagination with GitHub's `Link` header.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::Query;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;

use super::GhState;
use super::auth::Identity;
use super::errors::{GhError, GhResult};
use super::state::{World, random_hex};
use super::{apps, contents, deployments, pulls};

/// Query parameters of a request.
pub(super) type Q = Query<HashMap<String, String>>;

/// The REST routes (the gate middleware and control routes are added by the caller).
pub fn router() -> Router<Arc<GhState>> {
    Router::new()
        .route("/app", get(apps::app))
        .route("/app/installations", get(apps::installations))
        .route("/app/installations/{id}", get(apps::installation))
        .route(
            "/app/installations/{id}/access_tokens",
            post(apps::access_token),
        )
        .route(
            "/repos/{owner}/{repo}/installation",
            get(apps::repo_installation),
        )
        .route("/installation/repositories", get(apps::installation_repos))
        .route("/rate_limit", get(apps::rate_limit))
        .route("/repos/{owner}/{repo}", get(pulls::repo))
        .route("/repos/{owner}/{repo}/pulls", get(pulls::pulls))
        .route("/repos/{owner}/{repo}/pulls/{number}", get(pulls::pull))
        .route(
            "/repos/{owner}/{repo}/issues/{number}/comments",
            get(pulls::comments).post(pulls::create_comment),
        )
        // GitHub takes POST for PATCH here (octocrab's `update_comment` sends POST).
        .route(
            "/repos/{owner}/{repo}/issues/comments/{id}",
            get(pulls::comment)
                .patch(pulls::update_comment)
                .post(pulls::update_comment)
                .delete(pulls::delete_comment),
        )
        .route(
            "/repos/{owner}/{repo}/deployments",
            get(deployments::deployments).post(deployments::create_deployment),
        )
        .route(
            "/repos/{owner}/{repo}/deployments/{id}",
            get(deployments::deployment).delete(deployments::delete_deployment),
        )
        .route(
            "/repos/{owner}/{repo}/deployments/{id}/statuses",
            get(deployments::statuses).post(deployments::create_status),
        )
        .route(
            "/repos/{owner}/{repo}/contents/{*path}",
            get(contents::contents),
        )
        .route(
            "/repos/{owner}/{repo}/collaborators/{user}/permission",
            get(contents::permission),
        )
        .route(
            "/orgs/{org}/teams/{team}/memberships/{user}",
            get(contents::team_membership),
        )
}

pub(super) fn ok(v: Value) -> Response {
    Json(v).into_response()
}

pub(super) fn created(v: Value) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

pub(super) fn require_app(id: &Identity) -> GhResult<()> {
    match id {
        Identity::App => Ok(()),
        _ => Err(GhError::new(401, "A JSON web token could not be decoded")),
    }
}

/// The repository, if the caller may see it (404 otherwise, as GitHub hides what you cannot see).
pub(super) fn visible_repo(w: &World, id: &Identity, full: &str) -> GhResult<()> {
    let r = w.repos.get(full).ok_or_else(GhError::not_found)?;
    match id {
        Identity::App => Err(GhError::forbidden("Resource not accessible by integration")),
        Identity::Anonymous if r.private => Err(GhError::not_found()),
        _ => Ok(()),
    }
}

/// Who writes: the app's bot for installation tokens, the user for OAuth tokens.
pub(super) fn writer(w: &World, id: &Identity) -> GhResult<String> {
    match id {
        Identity::Installation(_) => Ok(w.bot_login()),
        Identity::User(l) => Ok(l.clone()),
        Identity::App => Err(GhError::forbidden("Resource not accessible by integration")),
        Identity::Anonymous => Err(GhError::requires_auth()),
    }
}

/// Pages `items` by `per_page`/`page` and adds GitHub's `Link` header.
pub(super) fn paginate(
    st: &GhState,
    uri: &axum::http::Uri,
    q: &HashMap<String, String>,
    items: Vec<Value>,
) -> Response {
    let per_page = q
        .get("per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = q
        .get("page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let link_to = |p: usize| {
        let mut params: Vec<(String, String)> = q
            .iter()
            .filter(|(k, _)| *k != "page")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        params.sort();
        params.push(("page".into(), p.to_string()));
        let qs: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{}{}?{}", st.base(), uri.path(), qs.join("&"))
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(format!("<{}>; rel=\"prev\"", link_to(page - 1)));
    }
    if page < last {
        links.push(format!("<{}>; rel=\"next\"", link_to(page + 1)));
        links.push(format!("<{}>; rel=\"last\"", link_to(last)));
    }
    if page > 1 {
        links.push(format!("<{}>; rel=\"first\"", link_to(1)));
    }
    let mut resp = Json(Value::Array(slice)).into_response();
    if !links.is_empty()
        && let Ok(v) = HeaderValue::from_str(&links.join(", "))
    {
        resp.headers_mut().insert("link", v);
    }
    resp
}

/// Unknown paths: GitHub's JSON 404.
pub async fn not_found() -> GhError {
    GhError::not_found()
}

/// A random 40-hex SHA.
pub fn new_sha() -> String {
    random_hex(40)
}
