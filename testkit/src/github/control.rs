//! Control endpoints under `/_testkit/` for the `catalyst-testkit pr …` command: change a
//! pull request in a running double and deliver the webhook; read the state back.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::GhState;
use super::actions::PrAction;
use super::errors::{GhError, GhResult};
use super::handle::GitHub;

/// The control routes.
pub fn router() -> Router<Arc<GhState>> {
    Router::new()
        .route("/_testkit/pr", post(pr))
        .route("/_testkit/state", get(state))
}

/// A `pr` command: a repository and one change; optionally a webhook target to use.
#[derive(Debug, Deserialize)]
pub struct PrCommand {
    pub repo: String,
    #[serde(flatten)]
    pub action: PrAction,
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
    /// Change state only; do not deliver.
    #[serde(default)]
    pub no_deliver: bool,
}

async fn pr(State(st): State<Arc<GhState>>, Json(cmd): Json<PrCommand>) -> GhResult<Response> {
    let gh = GitHub::new(st);
    if let Some(url) = &cmd.webhook_url {
        let secret = cmd
            .webhook_secret
            .clone()
            .unwrap_or_else(|| super::TEST_WEBHOOK_SECRET.to_string());
        gh.set_webhook_target(url, &secret);
    }
    if matches!(cmd.action, PrAction::Open(_)) {
        gh.add_repo(&cmd.repo);
    }
    let d = gh.apply(&cmd.repo, cmd.action)?;
    let payload = d.payload();
    let mut out = json!({
        "delivery": d.id,
        "event": d.event,
        "action": payload["action"],
        "number": payload["number"],
        "head_sha": payload["pull_request"]["head"]["sha"],
    });
    if !cmd.no_deliver {
        let r = gh
            .deliver(&d)
            .await
            .map_err(|e| GhError::new(502, e.to_string()))?;
        out["status"] = json!(r.status);
        out["response"] = json!(r.body);
    }
    Ok(Json(out).into_response())
}

async fn state(State(st): State<Arc<GhState>>) -> Response {
    let w = st.world();
    let pulls: Vec<_> = w.pulls.values().collect();
    Json(json!({
        "pulls": pulls,
        "comments": w.comments,
        "deployments": w.deployments,
        "statuses": w.statuses,
    }))
    .into_response()
}
