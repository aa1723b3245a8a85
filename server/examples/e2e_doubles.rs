//! The end-to-end tests' doubles: `catalyst-testkit`'s Kubernetes and GitHub doubles,
//! plus a small control API the Playwright tests drive (who signs in next, repository
//! collaborators, pods with live log lines, pod metrics). Prints the same `KEY=value`
//! lines as `catalyst-testkit serve` and `E2E_CONTROL_URL=…`, then runs until killed.
//!
//! `cargo run -p catalyst-server --example e2e_doubles -- WEBHOOK_URL`

use std::net::SocketAddr;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use catalyst_testkit::{Match, TestKit, TestKitOptions, WorkloadBehaviour};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Clone)]
struct Control {
    kit: std::sync::Arc<TestKit>,
}

#[derive(Deserialize)]
struct LoginAs {
    login: String,
}

#[derive(Deserialize)]
struct Collaborator {
    repo: String,
    login: String,
    role: String,
}

#[derive(Deserialize)]
struct PodSpec {
    namespace: String,
    name: String,
    container: String,
}

#[derive(Deserialize)]
struct Log {
    namespace: String,
    pod: String,
    container: String,
    lines: Vec<String>,
}

#[derive(Deserialize)]
struct Metrics {
    namespace: String,
    pod: String,
    container: String,
    cpu: String,
    memory: String,
}

async fn login_as(State(c): State<Control>, Json(b): Json<LoginAs>) -> StatusCode {
    c.kit.github().set_oauth_user(&b.login);
    StatusCode::NO_CONTENT
}

async fn collaborator(State(c): State<Control>, Json(b): Json<Collaborator>) -> StatusCode {
    c.kit.github().add_repo(&b.repo);
    c.kit.github().set_collaborator(&b.repo, &b.login, &b.role);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct TeamMember {
    org: String,
    team: String,
    login: String,
}

async fn team_member(State(c): State<Control>, Json(b): Json<TeamMember>) -> StatusCode {
    c.kit.github().add_team_member(&b.org, &b.team, &b.login);
    StatusCode::NO_CONTENT
}

async fn pod(State(c): State<Control>, Json(b): Json<PodSpec>) -> (StatusCode, Json<Value>) {
    let cluster = c.kit.cluster();
    if cluster.get("v1", "Namespace", "", &b.namespace).is_none() {
        let _ = cluster.create(json!({
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": b.namespace}
        }));
    }
    let created = cluster.create(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": b.name, "namespace": b.namespace, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": b.container, "image": "example/web:e2e"}]}
    }));
    match created {
        Ok(v) => (StatusCode::CREATED, Json(v)),
        Err(e) => (
            StatusCode::CONFLICT,
            Json(json!({"error": format!("{e:?}")})),
        ),
    }
}

async fn log(State(c): State<Control>, Json(b): Json<Log>) -> StatusCode {
    let lines: Vec<&str> = b.lines.iter().map(String::as_str).collect();
    c.kit
        .cluster()
        .append_log(&b.namespace, &b.pod, &b.container, &lines);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Flood {
    namespace: String,
    pod: String,
    container: String,
    lines: usize,
    per_second: usize,
}

/// Appends `lines` numbered lines at about `per_second`, in ten batches a second.
async fn flood(State(c): State<Control>, Json(b): Json<Flood>) -> StatusCode {
    let cluster = c.kit.cluster();
    let batch = (b.per_second / 10).max(1);
    let mut sent = 0;
    while sent < b.lines {
        let n = batch.min(b.lines - sent);
        let lines: Vec<String> = (sent..sent + n)
            .map(|i| format!("flood line {i:05} lorem ipsum dolor sit amet"))
            .collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        cluster.append_log(&b.namespace, &b.pod, &b.container, &refs);
        sent += n;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    StatusCode::NO_CONTENT
}

async fn metrics(State(c): State<Control>, Json(b): Json<Metrics>) -> StatusCode {
    c.kit
        .cluster()
        .set_pod_metrics(&b.namespace, &b.pod, &b.container, &b.cpu, &b.memory);
    StatusCode::NO_CONTENT
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let webhook_url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:3000/webhooks/github".to_owned());
    let kit = TestKit::start_with(TestKitOptions {
        kube_port: 0,
        github_port: 0,
        state_dir: None,
    })
    .await?;
    kit.github()
        .set_webhook_target(&webhook_url, catalyst_testkit::github::TEST_WEBHOOK_SECRET);
    // Pods named `crash-*` crash-loop: their logs end and restart, like a real one.
    kit.cluster().on_workload(
        Match::name("crash-*"),
        WorkloadBehaviour::crash_loop(1, ["starting worker", "panic: boom"]),
    );
    for (k, v) in kit.env() {
        println!("{k}={v}");
    }
    println!("CATALYST_GITHUB_WEB_URL={}", kit.github_url());
    let control = Control {
        kit: std::sync::Arc::new(kit),
    };
    let app = Router::new()
        .route("/login-as", post(login_as))
        .route("/collaborator", post(collaborator))
        .route("/team-member", post(team_member))
        .route("/pod", post(pod))
        .route("/log", post(log))
        .route("/metrics", post(metrics))
        .route("/flood", post(flood))
        .with_state(control);
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    println!("E2E_CONTROL_URL=http://{}", listener.local_addr()?);
    println!("# ready");
    axum::serve(listener, app).await?;
    Ok(())
}
