//! Deployments and deployment statuses (with `auto_inactive`).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, OriginalUri, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use super::GhState;
use super::auth::Identity;
use super::errors::{GhError, GhResult};
use super::render;
use super::routes::{Q, created, ok, paginate, visible_repo, writer};
use super::state::{Deployment, DeploymentStatus, World};

pub(super) async fn deployments(
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
    let mut list: Vec<Deployment> = w
        .deployments
        .iter()
        .filter(|d| d.repo == full)
        .filter(|d| q.get("sha").is_none_or(|s| *s == d.sha))
        .filter(|d| q.get("ref").is_none_or(|s| *s == d.git_ref))
        .filter(|d| q.get("task").is_none_or(|s| *s == d.task))
        .filter(|d| q.get("environment").is_none_or(|s| *s == d.environment))
        .cloned()
        .collect();
    list.reverse();
    let items: Vec<Value> = list
        .iter()
        .map(|d| render::deployment(&base, &mut w, d))
        .collect();
    drop(w);
    Ok(paginate(&st, &uri, &q, items))
}

pub(super) async fn create_deployment(
    State(st): State<Arc<GhState>>,
    Extension(id): Extension<Identity>,
    Path((o, r)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> GhResult<Response> {
    let base = st.base();
    let mut w = st.world();
    let full = format!("{o}/{r}");
    visible_repo(&w, &id, &full)?;
    let creator = writer(&w, &id)?;
    let Some(git_ref) = body["ref"].as_str().map(str::to_string) else {
        return Err(GhError::unprocessable(
            "Invalid request.\n\n\"ref\" wasn't supplied.",
        ));
    };
    let is_sha = git_ref.len() == 40 && git_ref.chars().all(|c| c.is_ascii_hexdigit());
    let sha = if is_sha {
        git_ref.clone()
    } else {
        w.pulls
            .values()
            .find(|p| p.repo == full && p.head_ref == git_ref)
            .map(|p| p.head_sha.clone())
            .ok_or_else(|| GhError::unprocessable(format!("No ref found for: {git_ref}")))?
    };
    let environment = body["environment"]
        .as_str()
        .unwrap_or("production")
        .to_string();
    let payload = match &body["payload"] {
        Value::String(s) => serde_json::from_str(s).unwrap_or(json!({})),
        Value::Null => json!({}),
        v => v.clone(),
    };
    let d = Deployment {
        id: w.next_id(),
        repo: full,
        sha,
        git_ref,
        task: body["task"].as_str().unwrap_or("deploy").to_string(),
        description: body["description"].as_str().map(str::to_string),
        payload,
        transient_environment: body["transient_environment"].as_bool().unwrap_or(false),
        production_environment: body["production_environment"]
            .as_bool()
            .unwrap_or(environment == "production"),
        environment,
        creator,
        created_at: Utc::now(),
    };
    w.deployments.push(d.clone());
    Ok(created(render::deployment(&base, &mut w, &d)))
}

pub(super) fn find_deployment(w: &World, full: &str, did: u64) -> GhResult<Deployment> {
    w.deployments
        .iter()
        .find(|d| d.repo == full && d.id == did)
        .cloned()
        .ok_or_else(GhError::not_found)
}

pub(super) async fn deployment(
    State(st): State<Arc<GhState>>,
    Extension(id): Extension<Identity>,
    Path((o, r, did)): Path<(String, String, u64)>,
) -> GhResult<Response> {
    let base = st.base();
    let mut w = st.world();
    let full = format!("{o}/{r}");
    visible_repo(&w, &id, &full)?;
    let d = find_deployment(&w, &full, did)?;
    Ok(ok(render::deployment(&base, &mut w, &d)))
}

pub(super) async fn delete_deployment(
    State(st): State<Arc<GhState>>,
    Extension(id): Extension<Identity>,
    Path((o, r, did)): Path<(String, String, u64)>,
) -> GhResult<Response> {
    let mut w = st.world();
    let full = format!("{o}/{r}");
    visible_repo(&w, &id, &full)?;
    writer(&w, &id)?;
    find_deployment(&w, &full, did)?;
    let latest = w
        .statuses
        .iter()
        .rev()
        .find(|s| s.deployment_id == did)
        .map(|s| s.state.clone());
    if latest
        .as_deref()
        .is_some_and(|s| s != "inactive" && s != "error" && s != "failure")
    {
        return Err(GhError::unprocessable(
            "We cannot delete an active deployment unless it is the only deployment in a given environment.",
        ));
    }
    w.deployments.retain(|d| d.id != did);
    w.statuses.retain(|s| s.deployment_id != did);
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn statuses(
    State(st): State<Arc<GhState>>,
    Extension(id): Extension<Identity>,
    Path((o, r, did)): Path<(String, String, u64)>,
    OriginalUri(uri): OriginalUri,
    Query(q): Q,
) -> GhResult<Response> {
    let base = st.base();
    let mut w = st.world();
    let full = format!("{o}/{r}");
    visible_repo(&w, &id, &full)?;
    find_deployment(&w, &full, did)?;
    let list: Vec<DeploymentStatus> = w
        .statuses
        .iter()
        .rev()
        .filter(|s| s.deployment_id == did)
        .cloned()
        .collect();
    let items: Vec<Value> = list
        .iter()
        .map(|s| render::deployment_status(&base, &mut w, s))
        .collect();
    drop(w);
    Ok(paginate(&st, &uri, &q, items))
}

const STATES: &[&str] = &[
    "error",
    "failure",
    "inactive",
    "in_progress",
    "queued",
    "pending",
    "success",
];

pub(super) async fn create_status(
    State(st): State<Arc<GhState>>,
    Extension(id): Extension<Identity>,
    Path((o, r, did)): Path<(String, String, u64)>,
    Json(body): Json<Value>,
) -> GhResult<Response> {
    let base = st.base();
    let mut w = st.world();
    let full = format!("{o}/{r}");
    visible_repo(&w, &id, &full)?;
    let creator = writer(&w, &id)?;
    let d = find_deployment(&w, &full, did)?;
    let state = body["state"].as_str().unwrap_or("").to_string();
    if !STATES.contains(&state.as_str()) {
        let mut e = GhError::new(422, "Validation Failed");
        e.errors = Some(
            json!([{"resource": "DeploymentStatus", "code": "custom", "field": "state", "message": format!("state is not included in the list")}]),
        );
        return Err(e);
    }
    let environment = body["environment"]
        .as_str()
        .unwrap_or(&d.environment)
        .to_string();
    let s = DeploymentStatus {
        id: w.next_id(),
        deployment_id: did,
        repo: full.clone(),
        state: state.clone(),
        description: body["description"].as_str().map(str::to_string),
        environment: environment.clone(),
        environment_url: body["environment_url"].as_str().map(str::to_string),
        log_url: body["log_url"]
            .as_str()
            .or(body["target_url"].as_str())
            .map(str::to_string),
        creator: creator.clone(),
        created_at: Utc::now(),
    };
    w.statuses.push(s.clone());
    // auto_inactive: a success marks the environment's earlier successful deployments inactive.
    if state == "success" && body["auto_inactive"].as_bool() != Some(false) {
        let others: Vec<u64> = w
            .deployments
            .iter()
            .filter(|o| o.repo == full && o.environment == environment && o.id != did)
            .map(|o| o.id)
            .collect();
        for other in others {
            let latest = w
                .statuses
                .iter()
                .rev()
                .find(|s| s.deployment_id == other)
                .map(|s| s.state.clone());
            if latest.as_deref() == Some("success") {
                let sid = w.next_id();
                w.statuses.push(DeploymentStatus {
                    id: sid,
                    deployment_id: other,
                    state: "inactive".into(),
                    description: None,
                    environment_url: None,
                    log_url: None,
                    created_at: Utc::now(),
                    creator: creator.clone(),
                    repo: full.clone(),
                    environment: environment.clone(),
                });
            }
        }
    }
    Ok(created(render::deployment_status(&base, &mut w, &s)))
}
