//! `GET /healthz` (the process answers) and `GET /readyz` (what Catalyst can reach).
//!
//! Readiness fails (503) when something Catalyst is configured to use cannot be
//! reached — the database, the Kubernetes API, GitHub's API — and `down` names each.
//! What is not configured is reported as `not_configured` and is no reason for a 503:
//! without a cluster or a GitHub App Catalyst still serves the dashboard and records
//! webhooks. Every probe is bounded by a short timeout, so `/readyz` answers within
//! about two seconds even while a dependency hangs.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};

use crate::state::AppState;
use crate::store;

const CLUSTER_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
const DATABASE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
const GITHUB_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

#[derive(Serialize)]
pub struct Readiness {
    status: &'static str,
    /// What is configured but unreachable: `database`, `cluster`, `github`.
    down: Vec<&'static str>,
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
    /// `reachable`, `unreachable` or `not_configured` (no GitHub App).
    status: &'static str,
    error: Option<String>,
    webhook_secret_configured: bool,
    app_configured: bool,
    oauth_configured: bool,
    api_url: String,
}

async fn check_database(state: &AppState) -> DatabaseCheck {
    match tokio::time::timeout(DATABASE_PROBE_TIMEOUT, check_database_now(state)).await {
        Ok(check) => check,
        Err(_) => DatabaseCheck {
            ok: false,
            migrations_applied: false,
            pending_migrations: None,
            error: Some(format!("no answer within {DATABASE_PROBE_TIMEOUT:?}")),
        },
    }
}

async fn check_database_now(state: &AppState) -> DatabaseCheck {
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

/// GitHub's API answers: `GET /rate_limit`, which needs no credentials and costs no
/// rate limit.
async fn check_github(state: &AppState) -> (&'static str, Option<String>) {
    let github = &state.config.github;
    if !github.app_configured() {
        return ("not_configured", None);
    }
    let url = format!("{}/rate_limit", github.api_url.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(GITHUB_PROBE_TIMEOUT)
        .user_agent("catalyst-readiness")
        .build();
    let answer = match client {
        Ok(c) => c.get(&url).send().await,
        Err(e) => return ("unreachable", Some(e.to_string())),
    };
    match answer {
        Ok(r) if r.status().is_server_error() => (
            "unreachable",
            Some(format!("GitHub answered {}", r.status())),
        ),
        Ok(_) => ("reachable", None),
        Err(e) if e.is_timeout() => (
            "unreachable",
            Some(format!("no answer within {GITHUB_PROBE_TIMEOUT:?}")),
        ),
        Err(e) => ("unreachable", Some(e.to_string())),
    }
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let (database, cluster, (github_status, github_error)) = tokio::join!(
        check_database(&state),
        check_cluster(&state),
        check_github(&state)
    );
    let github = &state.config.github;
    let mut down = Vec::new();
    if !database.ok {
        down.push("database");
    }
    if cluster.status == "unreachable" {
        down.push("cluster");
    }
    if github_status == "unreachable" {
        down.push("github");
    }
    let ready = down.is_empty();
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" },
        down,
        database,
        cluster,
        github: GithubCheck {
            status: github_status,
            error: github_error,
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
