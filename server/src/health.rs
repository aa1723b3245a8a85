//! `GET /healthz` (the process answers) and `GET /readyz` (what Catalyst can reach).
//! Readiness fails (503) only when the database is unusable: without a cluster or
//! GitHub Catalyst still serves the dashboard and records webhooks.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};

use crate::state::AppState;
use crate::store;

const CLUSTER_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

#[derive(Serialize)]
pub struct Readiness {
    status: &'static str,
    database: DatabaseCheck,
    cluster: ClusterCheck,
    github: GithubCheck,
}

#[derive(Serialize)]
pub struct DatabaseCheck {
    ok: bool,
    migrations_applied: bool,
    pending_migrations: Option<usize>,
    error: Option<String>,
}

#[derive(Serialize)]
pub struct ClusterCheck {
    /// `reachable`, `unreachable` or `not_configured`.
    status: &'static str,
    version: Option<String>,
    error: Option<String>,
}

#[derive(Serialize)]
pub struct GithubCheck {
    webhook_secret_configured: bool,
    app_configured: bool,
    oauth_configured: bool,
    api_url: String,
}

async fn check_database(state: &AppState) -> DatabaseCheck {
    if let Err(e) = state.db.ping().await {
        return DatabaseCheck {
            ok: false,
            migrations_applied: false,
            pending_migrations: None,
            error: Some(e.to_string()),
        };
    }
    match store::pending_migrations(&state.db).await {
        Ok(pending) => DatabaseCheck {
            ok: pending == 0,
            migrations_applied: pending == 0,
            pending_migrations: Some(pending),
            error: None,
        },
        Err(e) => DatabaseCheck {
            ok: false,
            migrations_applied: false,
            pending_migrations: None,
            error: Some(e.to_string()),
        },
    }
}

async fn check_cluster(state: &AppState) -> ClusterCheck {
    let Some(client) = &state.cluster else {
        return ClusterCheck {
            status: "not_configured",
            version: None,
            error: None,
        };
    };
    match tokio::time::timeout(CLUSTER_PROBE_TIMEOUT, client.apiserver_version()).await {
        Ok(Ok(info)) => ClusterCheck {
            status: "reachable",
            version: Some(info.git_version),
            error: None,
        },
        Ok(Err(e)) => ClusterCheck {
            status: "unreachable",
            version: None,
            error: Some(e.to_string()),
        },
        Err(_) => ClusterCheck {
            status: "unreachable",
            version: None,
            error: Some(format!("no answer within {CLUSTER_PROBE_TIMEOUT:?}")),
        },
    }
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let (database, cluster) = tokio::join!(check_database(&state), check_cluster(&state));
    let github = &state.config.github;
    let ready = database.ok;
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" },
        database,
        cluster,
        github: GithubCheck {
            webhook_secret_configured: github.webhook_secret.is_some(),
            app_configured: github.app_configured(),
            oauth_configured: github.oauth_client_id.is_some(),
            api_url: github.api_url.clone(),
        },
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
