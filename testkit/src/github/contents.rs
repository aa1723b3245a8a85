//! File contents at a ref (`.catalyst/preview.yaml`), collaborator permissions and team memberships.

use std::sync::Arc;

use axum::extract::{Extension, Path, Query, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::GhState;
use super::auth::Identity;
use super::errors::{GhError, GhResult};
use super::render;
use super::routes::{Q, ok, visible_repo};

pub(super) async fn contents(
    State(st): State<Arc<GhState>>,
    Extension(id): Extension<Identity>,
    Path((o, r, path)): Path<(String, String, String)>,
    Query(q): Q,
) -> GhResult<Response> {
    let base = st.base();
    let w = st.world();
    let full = format!("{o}/{r}");
    visible_repo(&w, &id, &full)?;
    let repo = &w.repos[&full];
    let git_ref = q
        .get("ref")
        .cloned()
        .unwrap_or_else(|| repo.default_branch.clone());
    // A head SHA of a pull request resolves to its branch.
    let mut refs = vec![git_ref.clone()];
    if let Some(p) = w.pulls.values().find(|p| p.head_sha == git_ref) {
        refs.push(p.head_ref.clone());
    }
    for rf in &refs {
        if let Some(text) = repo.files.get(&(rf.clone(), path.clone())) {
            return Ok(ok(render::content(&base, &full, &path, &git_ref, text)));
        }
    }
    let prefix = format!("{path}/");
    let dir: Vec<Value> = repo
        .files
        .iter()
        .filter(|((rf, p), _)| refs.contains(rf) && p.starts_with(&prefix))
        .map(|((_, p), text)| {
            let mut c = render::content(&base, &full, p, &git_ref, text);
            if let Some(m) = c.as_object_mut() {
                m.remove("content");
                m.remove("encoding");
            }
            c
        })
        .collect();
    if dir.is_empty() {
        return Err(GhError::not_found());
    }
    Ok(ok(Value::Array(dir)))
}

pub(super) async fn permission(
    State(st): State<Arc<GhState>>,
    Extension(id): Extension<Identity>,
    Path((o, r, user)): Path<(String, String, String)>,
) -> GhResult<Response> {
    let base = st.base();
    let mut w = st.world();
    let full = format!("{o}/{r}");
    visible_repo(&w, &id, &full)?;
    if id == Identity::Anonymous {
        return Err(GhError::requires_auth());
    }
    if !w.users.contains_key(&user) {
        return Err(GhError::new(404, format!("{user} is not a user")));
    }
    let role = w.repos[&full]
        .collaborators
        .get(&user)
        .cloned()
        .unwrap_or_else(|| {
            if w.repos[&full].private {
                "none".into()
            } else {
                "read".into()
            }
        });
    let permission = match role.as_str() {
        "maintain" => "write",
        "triage" => "read",
        other => other,
    }
    .to_string();
    let u = render::user_of(&base, &mut w, &user);
    Ok(ok(
        json!({"permission": permission, "role_name": role, "user": u}),
    ))
}

/// `GET /orgs/{org}/teams/{team_slug}/memberships/{username}`: 200 with `state: active`
/// for a member, 404 otherwise (GitHub answers 404, not 200 with a negative, for
/// non-members and for teams the caller cannot see).
pub(super) async fn team_membership(
    State(st): State<Arc<GhState>>,
    Extension(id): Extension<Identity>,
    Path((org, team, user)): Path<(String, String, String)>,
) -> GhResult<Response> {
    if id == Identity::Anonymous {
        return Err(GhError::requires_auth());
    }
    let base = st.base();
    let w = st.world();
    let member = w
        .teams
        .get(&(org.to_lowercase(), team.to_lowercase()))
        .is_some_and(|m| m.contains(&user));
    if !member {
        return Err(GhError::new(404, "Not Found"));
    }
    Ok(ok(json!({
        "url": format!("{base}/orgs/{org}/teams/{team}/memberships/{user}"),
        "role": "member",
        "state": "active",
    })))
}
