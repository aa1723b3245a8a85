//! The app endpoints (JWT): the app, its installation, installation access tokens; and
//! the installation's repositories and `/rate_limit`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, OriginalUri, Path, Query, State};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use super::GhState;
use super::auth::{Identity, new_token};
use super::errors::{GhError, GhResult};
use super::render;
use super::routes::{Q, created, ok, paginate, require_app};
use super::state::IssuedToken;

pub(super) async fn app(
    State(st): State<Arc<GhState>>,
    Extension(id): Extension<Identity>,
) -> GhResult<Response> {
    require_app(&id)?;
    let base = st.base();
    let mut w = st.world();
    let owner = w.app.owner.clone();
    let a = w.app.clone();
    Ok(ok(json!({
        "id": a.id, "slug": a.slug, "node_id": "A_testkit", "name": a.name,
        "owner": render::user_of(&base, &mut w, &owner),
        "description": "Catalyst Preview (test double)", "external_url": base, "html_url": format!("{base}/apps/{}", a.slug),
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
        "permissions": render::permissions(), "events": ["pull_request", "push"], "installations_count": 1
    })))
}

pub(super) async fn installations(
    State(st): State<Arc<GhState>>,
    Extension(id): Extension<Identity>,
) -> GhResult<Response> {
    require_app(&id)?;
    let base = st.base();
    Ok(ok(json!([render::installation(&base, &mut st.world())])))
}

pub(super) async fn installation(
    State(st): State<Arc<GhState>>,
    Extension(id): Extension<Identity>,
    Path(iid): Path<u64>,
) -> GhResult<Response> {
    require_app(&id)?;
    let base = st.base();
    let mut w = st.world();
    if iid != w.installation_id {
        return Err(GhError::not_found());
    }
    Ok(ok(render::installation(&base, &mut w)))
}

pub(super) async fn access_token(
    State(st): State<Arc<GhState>>,
    Extension(id): Extension<Identity>,
    Path(iid): Path<u64>,
) -> GhResult<Response> {
    require_app(&id)?;
    let base = st.base();
    let mut w = st.world();
    if iid != w.installation_id {
        return Err(GhError::not_found());
    }
    let token = new_token("ghs");
    let expires_at = Utc::now() + chrono::Duration::hours(1);
    w.tokens.insert(
        token.clone(),
        IssuedToken {
            installation_id: iid,
            expires_at,
        },
    );
    let repos: Vec<_> = w.repos.values().cloned().collect();
    let repos: Vec<Value> = repos
        .iter()
        .map(|r| render::repo(&base, &mut w, r))
        .collect();
    Ok(created(json!({
        "token": token,
        "expires_at": expires_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "permissions": render::permissions(),
        "repository_selection": "selected",
        "repositories": repos
    })))
}

pub(super) async fn repo_installation(
    State(st): State<Arc<GhState>>,
    Extension(id): Extension<Identity>,
    Path((o, r)): Path<(String, String)>,
) -> GhResult<Response> {
    require_app(&id)?;
    let base = st.base();
    let mut w = st.world();
    if !w.repos.contains_key(&format!("{o}/{r}")) {
        return Err(GhError::not_found());
    }
    Ok(ok(render::installation(&base, &mut w)))
}

pub(super) async fn installation_repos(
    State(st): State<Arc<GhState>>,
    Extension(id): Extension<Identity>,
    OriginalUri(uri): OriginalUri,
    Query(q): Q,
) -> GhResult<Response> {
    if !matches!(id, Identity::Installation(_)) {
        return Err(GhError::forbidden(
            "You must authenticate with an installation access token in order to list repositories for an installation.",
        ));
    }
    let base = st.base();
    let items: Vec<Value> = {
        let mut w = st.world();
        let repos: Vec<_> = w.repos.values().cloned().collect();
        repos
            .iter()
            .map(|r| render::repo(&base, &mut w, r))
            .collect()
    };
    let total = items.len();
    let resp = paginate(&st, &uri, &q, items);
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let list: Value = serde_json::from_slice(&bytes).unwrap_or(json!([]));
    let mut r = Json(
        json!({"total_count": total, "repository_selection": "selected", "repositories": list}),
    )
    .into_response();
    if let Some(l) = parts.headers.get("link") {
        r.headers_mut().insert("link", l.clone());
    }
    Ok(r)
}

pub(super) async fn rate_limit(
    State(st): State<Arc<GhState>>,
    Extension(id): Extension<Identity>,
) -> Response {
    let b = *st.limits().bucket(&id);
    let core = json!({"limit": b.limit, "remaining": b.remaining(), "used": b.used, "reset": b.reset, "resource": "core"});
    ok(json!({"resources": {"core": core.clone()}, "rate": core}))
}
