//! The test harness: a fresh database per test on either backend, the server started
//! in-process, signed webhook deliveries and API helpers.

use std::path::PathBuf;
use std::time::Duration;

use catalyst_server::core::domain::Role;
use catalyst_server::core::signature;
use catalyst_server::store::Db;
use catalyst_server::{AppState, Config, cli};
use sea_orm::ConnectionTrait;
use serde_json::Value;
use tokio::sync::oneshot;

pub const SECRET: &str = "test-webhook-secret";

pub use crate::test_db::Backend;
use crate::test_db::{DbGuard, fresh_database};

/// Settings a test may change.
#[derive(Clone, Debug)]
pub struct Options {
    pub webhook_secret: Option<&'static str>,
    pub preview_domain: Option<&'static str>,
    pub migrate: bool,
    /// A Kubernetes API URL for the cluster client (none: "not configured").
    pub cluster_url: Option<&'static str>,
    /// More `CATALYST_*` settings, e.g. the GitHub double's URL.
    pub extra_env: Vec<(&'static str, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            webhook_secret: Some(SECRET),
            preview_domain: Some("preview.example.test"),
            migrate: true,
            cluster_url: None,
            extra_env: Vec::new(),
        }
    }
}

pub struct TestServer {
    pub base: String,
    pub http: reqwest::Client,
    pub state: AppState,
    guard: Option<DbGuard>,
    shutdown: Option<oneshot::Sender<()>>,
    next_delivery: std::sync::atomic::AtomicU64,
}

pub async fn start(backend: Backend) -> TestServer {
    start_with(backend, Options::default()).await
}

/// A server on `backend` wired to a fresh Kubernetes double, returned beside it so the
/// test can seed pods and read what Catalyst asked the cluster.
pub async fn start_with_cluster(backend: Backend) -> (catalyst_testkit::TestKit, TestServer) {
    let kit = catalyst_testkit::TestKit::start().await.unwrap();
    let url: &'static str = Box::leak(kit.kube_url().into_boxed_str());
    let s = start_with(
        backend,
        Options {
            cluster_url: Some(url),
            ..Options::default()
        },
    )
    .await;
    (kit, s)
}

pub async fn start_with(backend: Backend, options: Options) -> TestServer {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (db, guard) = fresh_database(backend, options.migrate, 5).await;
    let mut env = vec![];
    if let Some(secret) = options.webhook_secret {
        env.push((
            "CATALYST_GITHUB_WEBHOOK_SECRET".to_owned(),
            secret.to_owned(),
        ));
    }
    if let Some(domain) = options.preview_domain {
        env.push(("CATALYST_PREVIEW_DOMAIN".to_owned(), domain.to_owned()));
    }
    env.extend(
        options
            .extra_env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone())),
    );
    let config = Config::from_sources(None, env).unwrap();
    let cluster = options.cluster_url.map(|url| {
        let mut cfg = kube::Config::new(url.parse().unwrap());
        cfg.connect_timeout = Some(Duration::from_millis(500));
        kube::Client::try_from(cfg).unwrap()
    });
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
        guard: Some(guard),
        shutdown: Some(tx),
        next_delivery: std::sync::atomic::AtomicU64::new(1),
    }
}

impl TestServer {
    /// Stops the server and drops the test's database.
    pub async fn finish(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(guard) = self.guard.take() {
            guard.drop_schema(&self.state.db).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn db(&self) -> &Db {
        &self.state.db
    }

    pub fn fresh_delivery_id(&self) -> String {
        let n = self
            .next_delivery
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("delivery-{n}-{}", uuid::Uuid::new_v4())
    }

    /// Posts `body` signed with the test secret as GitHub would.
    pub async fn deliver(&self, event: &str, body: &[u8]) -> (u16, Value) {
        let id = self.fresh_delivery_id();
        self.deliver_as(event, &id, body).await
    }

    pub async fn deliver_as(&self, event: &str, delivery: &str, body: &[u8]) -> (u16, Value) {
        let res = self
            .http
            .post(self.url("/webhooks/github"))
            .header("content-type", "application/json")
            .header("x-github-event", event)
            .header("x-github-delivery", delivery)
            .header(
                "x-hub-signature-256",
                signature::sign(SECRET.as_bytes(), body),
            )
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        json_of(res).await
    }

    /// Delivers a signed `pull_request` `opened` for PR `number` of `repo` (head
    /// `sha{number}`) and checks it was accepted.
    pub async fn open_pr(&self, repo: &str, number: u64) {
        let (status, body) = self
            .deliver(
                "pull_request",
                &pr_payload(
                    "opened",
                    repo,
                    number,
                    &format!("sha{number}"),
                    "2026-01-01T00:00:00Z",
                    true,
                ),
            )
            .await;
        assert!(status < 300, "{body}");
    }

    pub async fn token(&self, name: &str, role: Role) -> String {
        cli::create_token(self.db(), name, role).await.unwrap()
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        json_of(req.send().await.unwrap()).await
    }

    pub async fn post_raw(&self, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
        let mut req = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        json_of(req.send().await.unwrap()).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        self.post_raw(path, token, &body.to_string()).await
    }

    /// Configures `full_name` through the API with an operator token.
    pub async fn configure(&self, full_name: &str) -> Value {
        let token = self
            .token(
                &format!("setup-{}", uuid::Uuid::new_v4().simple()),
                Role::Operator,
            )
            .await;
        let (status, body) = self
            .post(
                "/api/v1/repositories",
                Some(&token),
                &serde_json::json!({ "full_name": full_name }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }

    /// The environments list as an operator sees it.
    pub async fn environments(&self) -> Vec<Value> {
        let token = self
            .token(
                &format!("env-{}", uuid::Uuid::new_v4().simple()),
                Role::Viewer,
            )
            .await;
        let (status, body) = self.get("/api/v1/environments", Some(&token)).await;
        assert_eq!(status, 200, "{body}");
        body["items"].as_array().cloned().unwrap_or_default()
    }

    pub async fn count(&self, table: &str) -> i64 {
        let row = self
            .db()
            .query_one_raw(sea_orm::Statement::from_string(
                self.db().get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    }
}

pub async fn json_of(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// The shared fixtures (real GitHub payloads), beside the repository.
pub fn fixtures_dir() -> PathBuf {
    std::env::var("CATALYST_FIXTURES_DIR").map_or_else(
        |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/github-webhooks"),
        PathBuf::from,
    )
}

pub fn fixture(relative: &str) -> Vec<u8> {
    let path = fixtures_dir().join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// A `pull_request` payload built from the real `opened` fixture with the given fields.
pub fn pr_payload(
    action: &str,
    repo: &str,
    number: u64,
    head_sha: &str,
    updated_at: &str,
    open: bool,
) -> Vec<u8> {
    let mut v: Value =
        serde_json::from_slice(&fixture("pull_request/opened.payload.json")).unwrap();
    v["action"] = action.into();
    v["number"] = number.into();
    v["repository"]["full_name"] = repo.into();
    let pr = &mut v["pull_request"];
    pr["number"] = number.into();
    pr["head"]["sha"] = head_sha.into();
    pr["head"]["repo"]["full_name"] = repo.into();
    pr["base"]["repo"]["full_name"] = repo.into();
    pr["updated_at"] = updated_at.into();
    pr["state"] = if open { "open" } else { "closed" }.into();
    serde_json::to_vec(&v).unwrap()
}
