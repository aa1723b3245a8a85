//! Harness for the engine's end-to-end tests: testkit's Kubernetes and GitHub doubles on
//! loopback, Catalyst's HTTP server in-process (webhooks arrive over real HTTP, signed
//! by the GitHub double), a fresh database per test (SQLite file or a Postgres schema),
//! and an engine that can be stopped and started again at any moment.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use catalyst_server::cluster::ClusterSettings;
use catalyst_server::core::domain::{RepositoryName, Role};
use catalyst_server::core::queue::Limits;
use catalyst_server::core::retry::RetryPolicy;
use catalyst_server::engine::{Engine, EngineSettings, EnvironmentEvent};
use catalyst_server::github::eligibility::RepositoryPolicy;
use catalyst_server::store::Db;
use catalyst_server::store::entities::{deployment, preview_environment};
use catalyst_server::store::repositories::{self, NewRepository, PreviewSettings};
use catalyst_server::{AppState, Config, cli};
use catalyst_testkit::github::TEST_WEBHOOK_SECRET;
use catalyst_testkit::{JobBehaviour, Match, PrSpec, TestKit};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use tokio::sync::{broadcast, oneshot};

pub const REPO: &str = "acme/web";
pub const DOMAIN: &str = "preview.example.test";

pub use crate::test_db::Backend;
use crate::test_db::{DbGuard, fresh_database};

/// Engine settings with millisecond timings.
pub fn fast_settings() -> EngineSettings {
    EngineSettings {
        cluster: ClusterSettings {
            health_timeout: Duration::from_secs(3),
            preview_host_template: format!("{{namespace}}.{DOMAIN}"),
            ingress_namespace: "ingress-nginx".to_owned(),
            auxiliary_namespaces: vec!["registry".to_owned()],
            ..ClusterSettings::default()
        },
        limits: Limits {
            global_concurrent_deployments: 10,
            per_repository_concurrent_deployments: 10,
            max_active_environments: 100,
        },
        retry: RetryPolicy {
            max_retries: 3,
            base: Duration::from_millis(5),
            cap: Duration::from_millis(40),
        },
        deletion_timeout: Duration::from_secs(10),
        capacity_timeout: Duration::from_millis(400),
        resync_interval: Duration::from_secs(2),
        poll_interval: Duration::from_millis(50),
        health_poll_interval: Duration::from_millis(20),
        error_backoff_cap: Duration::from_millis(200),
        max_workers: 16,
        preview_url_template: Some(format!("https://{{namespace}}.{DOMAIN}")),
        git_web_url: "https://github.com".to_owned(),
        notify_webhook_url: None,
        watch: true,
        default_policy: RepositoryPolicy::default(),
        config_fetch_patience: Duration::from_millis(300),
    }
}

/// What a chart installs: a Deployment, its Service and an Ingress.
pub fn app_objects() -> Vec<Value> {
    vec![
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "web:1",
                        "ports": [{"containerPort": 8080, "protocol": "TCP"}]}]}}}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}}),
    ]
}

/// Operator notifications received by a local stand-in for Slack.
#[derive(Clone, Default)]
pub struct Inbox(Arc<Mutex<Vec<Value>>>);

impl Inbox {
    pub fn messages(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|v| v["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

async fn start_inbox() -> (String, Inbox) {
    let inbox = Inbox::default();
    let store = inbox.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let store = store.clone();
            async move {
                store.0.lock().unwrap().push(v);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), inbox)
}

pub struct Harness {
    pub kit: TestKit,
    pub client: kube::Client,
    pub state: AppState,
    pub settings: EngineSettings,
    pub engine: Option<Engine>,
    pub events: broadcast::Receiver<EnvironmentEvent>,
    pub inbox: Inbox,
    pub http: reqwest::Client,
    pub base: String,
    guard: Option<DbGuard>,
    shutdown: Option<oneshot::Sender<()>>,
}

/// Starts everything; `tune` adjusts the engine settings before the engine starts.
pub async fn start(backend: Backend, tune: impl FnOnce(&mut EngineSettings)) -> Harness {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let kit = TestKit::start().await.expect("the doubles start");
    let client = kit.kube_client().expect("a client for the double");
    let (db, guard) = fresh_database(backend, true, 8).await;
    let config = Config::from_sources(
        None,
        [
            (
                "CATALYST_GITHUB_WEBHOOK_SECRET".to_owned(),
                TEST_WEBHOOK_SECRET.to_owned(),
            ),
            ("CATALYST_PREVIEW_DOMAIN".to_owned(), DOMAIN.to_owned()),
        ],
    )
    .unwrap();
    let state = AppState::new(config, db, Some(client.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = oneshot::channel::<()>();
    let serve_state = state.clone();
    tokio::spawn(async move {
        let _ = catalyst_server::serve(listener, serve_state, async {
            let _ = rx.await;
        })
        .await;
    });
    kit.github()
        .set_webhook_target(&format!("{base}/webhooks/github"), TEST_WEBHOOK_SECRET);
    kit.github().add_repo(REPO);
    seed_cluster(&kit, &client).await;
    configure(&state.db, REPO).await;

    let (hook, inbox) = start_inbox().await;
    let mut settings = fast_settings();
    settings.notify_webhook_url = Some(hook);
    tune(&mut settings);
    let events = state.engine_events.subscribe();
    let mut h = Harness {
        kit,
        client,
        state,
        settings,
        engine: None,
        events,
        inbox,
        http: reqwest::Client::new(),
        base,
        guard: Some(guard),
        shutdown: Some(tx),
    };
    h.start_engine();
    h
}

/// The repository's secret store and Catalyst's registry credentials; Jobs install the app.
async fn seed_cluster(kit: &TestKit, _client: &kube::Client) {
    let c = kit.cluster();
    // Room for every test's pods (60 previews at once); the capacity test shrinks it.
    c.set_node_capacity("64", "256Gi", 2000);
    for ns in ["acme-secrets", "catalyst", "ingress-nginx", "registry"] {
        c.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
            .unwrap();
    }
    c.create(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "web-env", "namespace": "acme-secrets"},
        "data": {"DATABASE_URL": "cG9zdGdyZXM6Ly94"}}))
        .unwrap();
    c.create(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "catalyst-registry", "namespace": "catalyst"},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": "e30="}}))
        .unwrap();
    c.on_job(
        Match::namespace("pr-*"),
        JobBehaviour::succeed()
            .after(Duration::from_millis(80))
            .creates(app_objects()),
    );
}

/// Configures `full_name` with a chart in the repository, a build, a health path and
/// one secret to copy.
pub async fn configure(db: &Db, full_name: &str) {
    repositories::create(
        db,
        NewRepository {
            full_name: RepositoryName::parse(full_name).unwrap(),
            project: None,
            settings: PreviewSettings {
                chart_path: Some("deploy/chart".to_owned()),
                health_path: "/healthz".to_owned(),
                secrets: vec!["web-env".to_owned()],
                secret_store_namespace: Some("acme-secrets".to_owned()),
                quota_cpu: Some("2".to_owned()),
                ..PreviewSettings::default()
            },
        },
        Some(DOMAIN),
    )
    .await
    .unwrap();
}

pub fn sha(n: u64, generation: u64) -> String {
    format!("{n:06x}{generation:06x}{}", "ab".repeat(14))
}

impl Harness {
    pub fn db(&self) -> &Db {
        &self.state.db
    }

    pub fn start_engine(&mut self) {
        self.engine = Some(Engine::start(
            self.state.db.clone(),
            self.client.clone(),
            self.settings.clone(),
            self.state.reconcile.clone(),
            self.state.engine_events.clone(),
        ));
    }

    /// Restarts the engine so it reads each PR's `.catalyst/preview.yaml` from the GitHub
    /// double (as the installed GitHub App does in production).
    pub fn start_engine_reading_config(&mut self) {
        use base64::Engine as _;
        self.engine = None;
        let gh = self.kit.github();
        let settings = catalyst_server::github::GithubSettings::new(
            gh.app_id(),
            catalyst_server::github::PrivateKeySource::Pem(
                gh.app_private_key_pem().as_bytes().to_vec(),
            ),
            Some(base64::engine::general_purpose::STANDARD.encode([3u8; 32])),
        );
        let settings = catalyst_server::github::GithubSettings {
            api_url: gh.url(),
            tuning: catalyst_server::github::ClientTuning {
                max_retries: 1,
                retry_base: Duration::from_millis(5),
                retry_cap: Duration::from_millis(20),
                request_timeout: Duration::from_secs(5),
                ..catalyst_server::github::ClientTuning::default()
            },
            ..settings
        };
        let adapter = catalyst_server::github::GithubAdapter::start(
            settings,
            Arc::new(catalyst_server::store::github::DbTokenStore::new(
                self.state.db.clone(),
            )),
        )
        .expect("a GitHub client for the double");
        self.engine = Some(Engine::start_with_config_source(
            self.state.db.clone(),
            self.client.clone(),
            self.settings.clone(),
            self.state.reconcile.clone(),
            self.state.engine_events.clone(),
            Arc::new(adapter.client),
        ));
    }

    /// Kills the engine wherever it is (between two API calls, mid-transaction...).
    pub fn kill_engine(&mut self) {
        self.engine = None;
    }

    pub fn engine(&self) -> &Engine {
        self.engine.as_ref().expect("engine running")
    }

    async fn send(&self, d: catalyst_testkit::Delivery) -> catalyst_testkit::Delivery {
        let r = self.kit.github().deliver(&d).await.unwrap();
        assert!(r.status < 300, "webhook answered {}: {}", r.status, r.body);
        d
    }

    pub async fn open(&self, number: u64, head: &str) -> catalyst_testkit::Delivery {
        let d = self
            .kit
            .github()
            .open_pr(REPO, PrSpec::new().number(number).head_sha(head))
            .unwrap();
        self.send(d).await
    }

    /// Opens a pull request described by `spec` (a fork, a draft, with labels).
    pub async fn open_pr(&self, spec: PrSpec) -> catalyst_testkit::Delivery {
        let d = self.kit.github().open_pr(REPO, spec).unwrap();
        self.send(d).await
    }

    pub async fn label(&self, number: u64, label: &str) {
        let d = self.kit.github().label(REPO, number, label).unwrap();
        self.send(d).await;
    }

    pub async fn unlabel(&self, number: u64, label: &str) {
        let d = self.kit.github().unlabel(REPO, number, label).unwrap();
        self.send(d).await;
    }

    pub async fn push(&self, number: u64, head: &str) -> catalyst_testkit::Delivery {
        let d = self.kit.github().push(REPO, number, Some(head)).unwrap();
        self.send(d).await
    }

    pub async fn close(&self, number: u64) {
        let d = self.kit.github().close(REPO, number, true).unwrap();
        self.send(d).await;
    }

    pub async fn redeliver(&self, d: &catalyst_testkit::Delivery) {
        let r = self.kit.github().deliver(d).await.unwrap();
        assert!(r.status < 300, "redelivery answered {}", r.status);
    }

    pub async fn env(&self, number: u64) -> Option<preview_environment::Model> {
        preview_environment::Entity::find()
            .filter(preview_environment::Column::PrNumber.eq(i64::try_from(number).unwrap()))
            .one(self.db())
            .await
            .unwrap()
    }

    pub async fn attempts(&self, number: u64) -> Vec<deployment::Model> {
        let Some(env) = self.env(number).await else {
            return Vec::new();
        };
        deployment::Entity::find()
            .filter(deployment::Column::EnvironmentId.eq(env.id))
            .order_by_asc(deployment::Column::Attempt)
            .all(self.db())
            .await
            .unwrap()
    }

    pub async fn status(&self, number: u64) -> Option<String> {
        self.env(number).await.map(|e| e.status)
    }

    /// Polls until `status` (generous timeout; fails with the last rows seen).
    pub async fn wait_status(&self, number: u64, status: &str) -> preview_environment::Model {
        self.wait_status_within(number, status, Duration::from_secs(30))
            .await
    }

    pub async fn wait_status_within(
        &self,
        number: u64,
        status: &str,
        timeout: Duration,
    ) -> preview_environment::Model {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(env) = self.env(number).await
                && env.status == status
            {
                return env;
            }
            if tokio::time::Instant::now() > deadline {
                let ns = self
                    .env(number)
                    .await
                    .map(|e| e.namespace)
                    .unwrap_or_default();
                let c = self.kit.cluster();
                let jobs: Vec<String> = self
                    .jobs(&ns)
                    .iter()
                    .map(|j| format!("{} {}", j["metadata"]["name"], j["status"]))
                    .collect();
                let pods: Vec<String> = c
                    .list("v1", "Pod", Some(&ns))
                    .iter()
                    .map(|p| format!("{} {}", p["metadata"]["name"], p["status"]["phase"]))
                    .collect();
                panic!(
                    "PR {number} never became {status}: {:?}\nattempts: {:#?}\nerrors: {:?}\njobs: {jobs:#?}\npods: {pods:#?}",
                    self.env(number).await,
                    self.attempts(number).await,
                    self.engine.as_ref().map(|e| e.metrics().errors())
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls `pred` until it holds.
    pub async fn wait_until<F, Fut>(&self, what: &str, timeout: Duration, mut pred: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        while !pred().await {
            assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    }

    /// Events received so far.
    pub fn drain_events(&mut self) -> Vec<EnvironmentEvent> {
        let mut out = Vec::new();
        while let Ok(e) = self.events.try_recv() {
            out.push(e);
        }
        out
    }

    /// `GET /api/v1/environments` as a viewer.
    pub async fn api_environments(&self) -> Vec<Value> {
        let token = cli::create_token(
            self.db(),
            &format!("t-{}", uuid::Uuid::new_v4().simple()),
            Role::Viewer,
        )
        .await
        .unwrap();
        let res = self
            .http
            .get(format!("{}/api/v1/environments", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        body["items"].as_array().cloned().unwrap_or_default()
    }

    pub fn namespace(&self, name: &str) -> Option<Value> {
        self.kit.cluster().get("v1", "Namespace", "", name)
    }

    pub fn jobs(&self, ns: &str) -> Vec<Value> {
        self.kit.cluster().list("batch/v1", "Job", Some(ns))
    }

    /// Stops everything and drops the test's schema.
    pub async fn finish(mut self) {
        self.engine = None;
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(guard) = self.guard.take() {
            guard.drop_schema(&self.state.db).await;
        }
    }
}
