//! Repositories, pull requests and issue comments.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, OriginalUri, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::Value;

use super::GhState;
use super::auth::Identity;
use super::errors::{GhError, GhResult};
use super::render;
use super::routes::{Q, created, ok, paginate, visible_repo, writer};
use super::state::{Comment, World};

pub(super) async fn repo(
    State(st): State<Arc<GhState>>,
    Extension(id): Extension<Identity>,
    Path((o, r)): Path<(String, String)>,
) -> GhResult<Response> {
    let base = st.base();
    let mut w = st.world();
    let full = format!("{o}/{r}");
    visible_repo(&w, &id, &full)?;
    let repo = w.repos[&full].clone();
    Ok(ok(render::repo(&base, &mut w, &repo)))
}

pub(super) async fn pulls(
    State(st): State<Arc<GhState>>,
    Extension(id): Extension<Identity>,
    Path((o, r)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    Query(q): Q,
) -> GhResult<Response> {
    let base = st.base();
    let mut w = st.world();
    let full = format!("{o}/{r}");
    visible_repo(&w, &id, &full)?;
    let state = q.get("state").map_or("open", String::as_str).to_string();
    if !matches!(state.as_str(), "open" | "closed" | "all") {
        return Err(GhError::validation("PullRequest", "state", "invalid"));
    }
    let mut list: Vec<_> = w
        .pulls
        .values()
        .filter(|p| p.repo == full && (state == "all" || p.state == state))
        .filter(|p| {
            q.get("head").is_none_or(|h| {
                *h == format!(
                    "{}:{}",
                    p.head_repo.split('/').next().unwrap_or(""),
                    p.head_ref
                )
            })
        })
        .filter(|p| q.get("base").is_none_or(|b| *b == p.base_ref))
        .cloned()
        .collect();
    // Default sort: newest first.
    list.sort_by_key(|p| std::cmp::Reverse(p.number));
    if q.get("direction").is_some_and(|d| d == "asc") {
        list.reverse();
    }
    let items: Vec<Value> = list
        .iter()
        .map(|p| render::pull(&base, &mut w, p))
        .collect();
    drop(w);
    Ok(paginate(&st, &uri, &q, items))
}

pub(super) async fn pull(
    State(st): State<Arc<GhState>>,
    Extension(id): Extension<Identity>,
    Path((o, r, n)): Path<(String, String, u64)>,
) -> GhResult<Response> {
    let base = st.base();
    let mut w = st.world();
    let full = format!("{o}/{r}");
    visible_repo(&w, &id, &full)?;
    let p = w
        .pulls
        .get(&(full, n))
        .cloned()
        .ok_or_else(GhError::not_found)?;
    Ok(ok(render::pull(&base, &mut w, &p)))
}

pub(super) async fn comments(
    State(st): State<Arc<GhState>>,
    Extension(id): Extension<Identity>,
    Path((o, r, n)): Path<(String, String, u64)>,
    OriginalUri(uri): OriginalUri,
    Query(q): Q,
) -> GhResult<Response> {
    let base = st.base();
    let mut w = st.world();
    let full = format!("{o}/{r}");
    visible_repo(&w, &id, &full)?;
    if !w.pulls.contains_key(&(full.clone(), n)) {
        return Err(GhError::not_found());
    }
    let list: Vec<Comment> = w
        .comments
        .iter()
        .filter(|c| c.repo == full && c.issue_number == n)
        .cloned()
        .collect();
    let items: Vec<Value> = list
        .iter()
        .map(|c| render::comment(&base, &mut w, c))
        .collect();
    drop(w);
    Ok(paginate(&st, &uri, &q, items))
}

pub(super) fn body_field(body: &Value) -> GhResult<String> {
    match body.get("body") {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(GhError::unprocessable(
            "Invalid request.\n\n\"body\" wasn't supplied.",
        )),
    }
}

pub(super) async fn create_comment(
    State(st): State<Arc<GhState>>,
    Extension(id): Extension<Identity>,
    Path((o, r, n)): Path<(String, String, u64)>,
    Json(body): Json<Value>,
) -> GhResult<Response> {
    let base = st.base();
    let mut w = st.world();
    let full = format!("{o}/{r}");
    visible_repo(&w, &id, &full)?;
    let author = writer(&w, &id)?;
    if !w.pulls.contains_key(&(full.clone(), n)) {
        return Err(GhError::not_found());
    }
    let text = body_field(&body)?;
    if text.chars().count() > 65_536 {
        return Err(GhError::validation("IssueComment", "data", "custom"));
    }
    let c = Comment {
        id: w.next_id(),
        repo: full,
        issue_number: n,
        body: text,
        author,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    };
    w.comments.push(c.clone());
    Ok(created(render::comment(&base, &mut w, &c)))
}

pub(super) fn find_comment(w: &World, full: &str, cid: u64) -> GhResult<usize> {
    w.comments
        .iter()
        .position(|c| c.repo == full && c.id == cid)
        .ok_or_else(GhError::not_found)
}

pub(super) async fn comment(
    State(st): State<Arc<GhState>>,
    Extension(id): Extension<Identity>,
    Path((o, r, cid)): Path<(String, String, u64)>,
) -> GhResult<Response> {
    let base = st.base();
    let mut w = st.world();
    let full = format!("{o}/{r}");
    visible_repo(&w, &id, &full)?;
    let i = find_comment(&w, &full, cid)?;
    let c = w.comments[i].clone();
    Ok(ok(render::comment(&base, &mut w, &c)))
}

pub(super) async fn update_comment(
    State(st): State<Arc<GhState>>,
    Extension(id): Extension<Identity>,
    Path((o, r, cid)): Path<(String, String, u64)>,
    Json(body): Json<Value>,
) -> GhResult<Response> {
    let base = st.base();
    let mut w = st.world();
    let full = format!("{o}/{r}");
    visible_repo(&w, &id, &full)?;
    let who = writer(&w, &id)?;
    let i = find_comment(&w, &full, cid)?;
    if w.comments[i].author != who {
        return Err(GhError::forbidden("Resource not accessible by integration"));
    }
    w.comments[i].body = body_field(&body)?;
    w.comments[i].updated_at = Utc::now();
    let c = w.comments[i].clone();
    Ok(ok(render::comment(&base, &mut w, &c)))
}

pub(super) async fn delete_comment(
    State(st): State<Arc<GhState>>,
    Extension(id): Extension<Identity>,
    Path((o, r, cid)): Path<(String, String, u64)>,
) -> GhResult<Response> {
    let mut w = st.world();
    let full = format!("{o}/{r}");
    visible_repo(&w, &id, &full)?;
    let who = writer(&w, &id)?;
    let i = find_comment(&w, &full, cid)?;
    if w.comments[i].author != who {
        return Err(GhError::forbidden("Resource not accessible by integration"));
    }
    w.comments.remove(i);
    Ok(StatusCode::NO_CONTENT.into_response())
}
