//! `GET /metrics` (families, labels, `promtool check metrics`), request ids and the
//! run-time log level (`PUT /api/v1/log-level`), over real HTTP against the server
//! started in-process on a fresh SQLite database.

#[path = "engine_support/mod.rs"]
mod engine_support;
#[allow(dead_code)]
#[path = "common/test_db.rs"]
mod test_db;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use catalyst_server::core::domain::Role;
use catalyst_server::core::signature;
use catalyst_server::{AppState, Config, cli, store, telemetry};
use catalyst_testkit::{Cluster, TestKit};
use serde_json::{Value, json};
use tokio::sync::oneshot;

const SECRET: &str = "test-webhook-secret";

/// Every test installs Catalyst's reloadable subscriber before anything else can install
/// another one (the engine harness tries to), so the log-level test finds it.
fn logging() {
    telemetry::init(telemetry::LogFormat::Text);
}

struct TestServer {
    base: String,
    http: reqwest::Client,
    state: AppState,
    _dir: tempfile::TempDir,
    _shutdown: oneshot::Sender<()>,
}

async fn start() -> TestServer {
    start_with_cluster(None).await
}

async fn start_with_cluster(cluster: Option<kube::Client>) -> TestServer {
    logging();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("catalyst.db").display()
    );
    let db = store::connect(store::connect_options(&url)).await.unwrap();
    store::migrate(&db).await.unwrap();
    let env = vec![
        (
            "CATALYST_GITHUB_WEBHOOK_SECRET".to_owned(),
            SECRET.to_owned(),
        ),
        (
            "CATALYST_PREVIEW_DOMAIN".to_owned(),
            "preview.example.test".to_owned(),
        ),
    ];
    let config = Config::from_sources(None, env).unwrap();
    let state = AppState::new(config, db, cluster);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let serve_state = state.clone();
    tokio::spawn(async move {
        let _ = catalyst_server::serve(listener, serve_state, async {
            let _ = rx.await;
        })
        .await;
    });
    TestServer {
        base: format!("http://{addr}"),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap(),
        state,
        _dir: dir,
        _shutdown: tx,
    }
}

impl TestServer {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn deliver(&self, event: &str, body: &[u8], signature: &str) -> u16 {
        self.http
            .post(self.url("/webhooks/github"))
            .header("content-type", "application/json")
            .header("x-github-event", event)
            .header("x-github-delivery", uuid::Uuid::new_v4().to_string())
            .header("x-hub-signature-256", signature)
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn token(&self, role: Role) -> String {
        let name = format!("t-{}", uuid::Uuid::new_v4().simple());
        cli::create_token(&self.state.db, &name, role)
            .await
            .unwrap()
    }

    async fn put_log_level(&self, token: Option<&str>, body: &str) -> (u16, Value) {
        let mut req = self
            .http
            .put(self.url("/api/v1/log-level"))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn scrape(&self) -> String {
        let res = self.http.get(self.url("/metrics")).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200);
        let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
        assert_eq!(
            content_type,
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        );
        res.text().await.unwrap()
    }
}

fn fixture(relative: &str) -> Vec<u8> {
    let dir = std::env::var("CATALYST_FIXTURES_DIR").map_or_else(
        |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/github-webhooks"),
        PathBuf::from,
    );
    let path = dir.join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// A managed namespace `ns` with Catalyst's quota and one running pod using 250m CPU and
/// 64 MiB, plus an unmanaged namespace with a pod that must not be reported.
async fn preview_namespace(cluster: &Cluster, ns: &str) {
    let pod = |ns: &str| {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": { "name": "web", "namespace": ns },
            "spec": { "containers": [{
                "name": "app", "image": "nginx",
                "resources": {
                    "requests": { "cpu": "500m", "memory": "128Mi" },
                    "limits": { "cpu": "500m", "memory": "128Mi" }
                }
            }]}
        })
    };
    cluster
        .create(json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": { "name": ns, "labels": { "app.kubernetes.io/managed-by": "catalyst" } }
        }))
        .unwrap();
    cluster
        .create(json!({
            "apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": { "name": "catalyst-quota", "namespace": ns },
            "spec": { "hard": { "limits.cpu": "2", "limits.memory": "1Gi", "pods": "10" } }
        }))
        .unwrap();
    cluster.create(pod(ns)).unwrap();
    cluster
        .create(json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": { "name": "unmanaged" }
        }))
        .unwrap();
    cluster.create(pod("unmanaged")).unwrap();
    for (namespace, kind, name) in [
        (ns, "Pod", "web"),
        ("unmanaged", "Pod", "web"),
        (ns, "ResourceQuota", "catalyst-quota"),
    ] {
        let ready = cluster
            .wait_for("v1", kind, namespace, name, Duration::from_secs(10), |o| {
                o.is_some_and(|o| {
                    o["status"]["phase"] == "Running" || o["status"]["hard"].is_object()
                })
            })
            .await;
        assert!(ready.is_some(), "{namespace}/{name} never became ready");
    }
    cluster.set_pod_metrics(ns, "web", "app", "250m", "64Mi");
}

/// `promtool check metrics` on `text`; `None` (and a note) when promtool is absent.
fn promtool_check(text: &str) -> Option<(bool, String)> {
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            eprintln!(
                "SKIPPED promtool check: cannot run promtool ({e}); install Debian's `prometheus` package"
            );
            return None;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), report))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_in_openmetrics_and_pass_promtool() {
    let kit = TestKit::start().await.unwrap();
    preview_namespace(&kit.cluster(), "pr-acme-web-7").await;
    let s = start_with_cluster(Some(kit.kube_client().unwrap())).await;
    // One repository configured, one pull request opened for it: an active preview.
    let op = s.token(Role::Operator).await;
    let res = s
        .http
        .post(s.url("/api/v1/repositories"))
        .bearer_auth(&op)
        .json(&json!({ "full_name": "Codertocat/Hello-World" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201, "{}", res.text().await.unwrap());
    let body = fixture("pull_request/opened.payload.json");
    let good = signature::sign(SECRET.as_bytes(), &body);
    assert_eq!(s.deliver("pull_request", &body, &good).await, 200);
    let wrong = signature::sign(b"another secret", &body);
    assert_eq!(s.deliver("pull_request", &body, &wrong).await, 401);
    let ping = fixture("ping/payload.json");
    let signed = signature::sign(SECRET.as_bytes(), &ping);
    assert_eq!(s.deliver("ping", &ping, &signed).await, 200);

    // Events the engine records, through the shared recorder.
    s.state
        .metrics
        .deployment_finished("acme/web", "succeeded", Duration::from_secs(42));
    s.state
        .metrics
        .phase_finished("deploying", Duration::from_secs(30));
    s.state.metrics.reconcile_error("api");
    drop(s.state.metrics.reconcile_timer());

    let text = s.scrape().await;
    for expected in [
        "# TYPE catalyst_deployments counter",
        "catalyst_deployments_total{repository=\"acme/web\",outcome=\"succeeded\"} 1",
        "# TYPE catalyst_deployment_duration_seconds histogram",
        "catalyst_deployment_duration_seconds_bucket{le=\"5.0\"} 0",
        "catalyst_deployment_duration_seconds_bucket{le=\"1800.0\"} 1",
        "catalyst_deployment_phase_duration_seconds_count{phase=\"deploying\"} 1",
        "catalyst_active_previews 1",
        "catalyst_deployment_queue_depth 0",
        "catalyst_deployments_in_flight 0",
        "catalyst_namespace_deletions_stuck 0",
        "catalyst_namespace_deletion_failures_total 0",
        "catalyst_webhook_deliveries_total{result=\"applied\"} 1",
        "catalyst_webhook_deliveries_total{result=\"bad_signature\"} 1",
        "catalyst_webhook_deliveries_total{result=\"ping\"} 1",
        "catalyst_reconcile_errors_total{kind=\"api\"} 1",
        "catalyst_reconcile_duration_seconds_count 1",
        "catalyst_namespace_cpu_usage_cores{namespace=\"pr-acme-web-7\"} 0.25",
        "catalyst_namespace_memory_usage_bytes{namespace=\"pr-acme-web-7\"} 67108864.0",
        "catalyst_namespace_cpu_quota_cores{namespace=\"pr-acme-web-7\"} 2.0",
        "catalyst_namespace_memory_quota_bytes{namespace=\"pr-acme-web-7\"} 1073741824.0",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(
        !text.contains("unmanaged"),
        "only managed namespaces: {text}"
    );

    // promtool 2.x lints the Prometheus text format (its parser cannot pair an
    // OpenMetrics counter family with its `_total` samples): check what a `text/plain`
    // client gets, which carries the same families.
    let res = s
        .http
        .get(s.url("/metrics"))
        .header("accept", "text/plain; version=0.0.4")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let plain = res.text().await.unwrap();
    assert!(
        plain.contains("# TYPE catalyst_deployments_total counter"),
        "{plain}"
    );
    assert!(
        plain.contains("catalyst_namespace_cpu_usage_cores{namespace=\"pr-acme-web-7\"} 0.25"),
        "{plain}"
    );
    if let Some((ok, report)) = promtool_check(&plain) {
        assert!(ok, "promtool check metrics failed:\n{report}\n---\n{plain}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_a_request_id() {
    let s = start().await;
    let res = s
        .http
        .get(s.url("/healthz"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-me-42");
    let res = s.http.get(s.url("/healthz")).send().await.unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id:?} is not a UUID");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_level_can_be_changed_by_operators_only() {
    logging();
    let s = start().await;
    let viewer = s.token(Role::Viewer).await;
    let op = s.token(Role::Operator).await;
    let good = r#"{"filter": "info,catalyst_server=debug"}"#;

    let (status, _) = s.put_log_level(None, good).await;
    assert_eq!(status, 401);
    let (status, _) = s.put_log_level(Some("not-a-token"), good).await;
    assert_eq!(status, 401);
    let (status, body) = s.put_log_level(Some(&viewer), good).await;
    assert_eq!(status, 403, "{body}");

    let before = telemetry::current_filter();
    assert!(before.is_some(), "the test installs a reloadable filter");
    for bad in [
        r#"{"filter": "info,catalyst_server=loud"}"#,
        r#"{"filter": ""}"#,
        r#"{"level": "debug"}"#,
    ] {
        let (status, body) = s.put_log_level(Some(&op), bad).await;
        assert_eq!(status, 422, "{bad}: {body}");
    }
    assert_eq!(
        telemetry::current_filter(),
        before,
        "a refused filter changes nothing"
    );

    let (status, body) = s.put_log_level(Some(&op), good).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["filter"], "info,catalyst_server=debug");
    assert_eq!(
        telemetry::current_filter().as_deref(),
        Some("info,catalyst_server=debug")
    );
    let res = s
        .http
        .get(s.url("/api/v1/log-level"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["filter"], "info,catalyst_server=debug");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_records_deployments_phases_and_reconciles() {
    logging();
    let h = engine_support::start(engine_support::Backend::Sqlite, |_| {}).await;
    h.open(1, &engine_support::sha(1, 1)).await;
    h.wait_status(1, "ready").await;
    let text = h.engine().metrics().recorder.encode();
    for expected in [
        "catalyst_deployments_total{repository=\"acme/web\",outcome=\"succeeded\"} 1",
        "catalyst_deployment_duration_seconds_count 1",
        "catalyst_deployment_phase_duration_seconds_count{phase=\"queued\"} 1",
        "catalyst_deployment_phase_duration_seconds_count{phase=\"provisioning\"} 1",
        "catalyst_deployment_phase_duration_seconds_count{phase=\"deploying\"} 1",
        "catalyst_deployment_phase_duration_seconds_count{phase=\"verifying\"} 1",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    let reconciles = text
        .lines()
        .find_map(|l| l.strip_prefix("catalyst_reconcile_duration_seconds_count "))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_default();
    assert!(reconciles >= 1, "no reconcile timed:\n{text}");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_budgets_and_breakers_are_read_at_scrape_time() {
    logging();
    let kit = TestKit::start().await.unwrap();
    kit.github().add_repo("acme/web");
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("catalyst.db").display()
    );
    let db = store::connect(store::connect_options(&url)).await.unwrap();
    store::migrate(&db).await.unwrap();
    let mut env = kit.env();
    env.push((
        "CATALYST_PREVIEW_DOMAIN".to_owned(),
        "preview.example.test".to_owned(),
    ));
    let state = AppState::new(Config::from_sources(None, env).unwrap(), db, None);
    engine_support::configure(&state.db, "acme/web").await;
    let _sync = catalyst_server::start_github(&state)
        .await
        .unwrap()
        .expect("the GitHub App is configured");
    // The first sweep talks to GitHub as the repository's installation.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let text = loop {
        let text = state
            .metrics
            .scrape(
                &state.db,
                None,
                catalyst_server::metrics::Format::OpenMetrics,
            )
            .await;
        if text.contains("catalyst_github_rate_limit_remaining{")
            || tokio::time::Instant::now() >= deadline
        {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        text.contains("catalyst_github_rate_limit_remaining{installation=\""),
        "{text}"
    );
    assert!(
        text.contains("catalyst_github_circuit_breaker_state{installation=\""),
        "{text}"
    );
    let closed = text
        .lines()
        .find(|l| {
            l.starts_with("catalyst_github_circuit_breaker_state{")
                && l.contains("state=\"closed\"")
        })
        .unwrap_or_default();
    assert!(closed.ends_with(" 1"), "{text}");
}

/// `catalyst serve` with `CATALYST_LOG_FORMAT` set, its stderr read line by line.
fn catalyst_serve(format: &str, dir: &std::path::Path, port: u16) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_catalyst"))
        .arg("serve")
        .env("CATALYST_LOG_FORMAT", format)
        .env("CATALYST_GITHUB_WEBHOOK_SECRET", SECRET)
        .env(
            "CATALYST_DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.join("catalyst.db").display()),
        )
        .env("CATALYST_BIND", format!("127.0.0.1:{port}"))
        .env("KUBECONFIG", dir.join("no-kubeconfig"))
        .env_remove("RUST_LOG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = catalyst_serve("json", dir.path(), port);
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let listening = tokio::time::timeout(Duration::from_secs(30), async {
        let mut seen = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            let parsed: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {line}\nafter {seen:?}"));
            if parsed["fields"]["message"] == "catalyst listening" {
                return parsed;
            }
            seen.push(line);
        }
        panic!("catalyst exited before listening: {seen:?}");
    })
    .await
    .expect("catalyst listens within 30 s");
    assert_eq!(listening["level"], "INFO");
    assert!(listening["timestamp"].is_string(), "{listening}");

    // A refused webhook logs a warning inside its request's span, which names the id.
    let status = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/webhooks/github"))
        .header("x-request-id", "json-request-1")
        .header("x-github-event", "ping")
        .body("{}")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 401);
    let refused = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let parsed: Value = serde_json::from_str(&line).unwrap();
            if parsed["fields"]["message"] == "webhook refused: bad signature" {
                return parsed;
            }
        }
        panic!("catalyst exited");
    })
    .await
    .expect("the refusal is logged");
    let spans = refused["spans"].as_array().cloned().unwrap_or_default();
    assert!(
        spans
            .iter()
            .any(|s| s["name"] == "request" && s["request_id"] == "json-request-1"),
        "{refused}"
    );
    child.kill().await.unwrap();

    let bad = tokio::process::Command::new(env!("CARGO_BIN_EXE_catalyst"))
        .arg("serve")
        .env("CATALYST_LOG_FORMAT", "yaml")
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("CATALYST_LOG_FORMAT"), "{stderr}");
}
