//! Real `catalyst` processes for the replica and fault tests: the testkit's doubles run
//! in this test process, each replica is the built binary (`CARGO_BIN_EXE_catalyst`)
//! with the testkit's kubeconfig and GitHub App settings, all on one fresh PostgreSQL
//! database; plus a TCP proxy in front of PostgreSQL that a test can cut.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use catalyst_server::core::domain::RepositoryName;
use catalyst_server::store::Db;
use catalyst_server::store::repositories::{NewRepository, PreviewSettings};
use catalyst_server::store::{self, repositories};
use catalyst_testkit::github::TEST_WEBHOOK_SECRET;
use catalyst_testkit::{Delivery, JobBehaviour, Match, PrSpec, TestKit, WebhookSender};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

pub const REPO: &str = "acme/web";
pub const DOMAIN: &str = "preview.example.test";
pub const LEASE_NAMESPACE: &str = "catalyst";

fn postgres_url(db: &str) -> String {
    let base = std::env::var("CATALYST_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let (server, _) = base.rsplit_once('/').expect("a database URL");
    format!("{server}/{db}")
}

/// A fresh PostgreSQL database, dropped (with its connections) by [`FreshDb::drop_db`].
pub struct FreshDb {
    pub name: String,
    admin: Db,
}

impl FreshDb {
    pub async fn create() -> Self {
        let admin_url = postgres_url("postgres");
        let mut opts = store::connect_options(&admin_url);
        opts.max_connections(1).min_connections(0);
        let admin = store::connect(opts)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin_url} is needed: {e}"));
        let name = format!("ha_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        Self { name, admin }
    }

    pub fn url(&self) -> String {
        postgres_url(&self.name)
    }

    /// The database's address with host and port replaced (a proxy in front of it).
    pub fn url_via(&self, addr: std::net::SocketAddr) -> String {
        let url = self.url();
        let (scheme, rest) = url.split_once("://").unwrap();
        let (userinfo, rest) = rest.split_once('@').unwrap();
        let (_, path) = rest.split_once('/').unwrap();
        format!("{scheme}://{userinfo}@{addr}/{path}")
    }

    pub async fn connect(&self) -> Db {
        let mut opts = store::connect_options(&self.url());
        opts.max_connections(4).min_connections(0);
        store::connect(opts).await.unwrap()
    }

    /// Ends every session of the database (what a database restart does to clients).
    pub async fn terminate_sessions(&self) -> u64 {
        let r = self
            .admin
            .execute_unprepared(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = '{}' AND pid <> pg_backend_pid()",
                self.name
            ))
            .await
            .unwrap();
        r.rows_affected()
    }

    pub async fn drop_db(self) {
        let _ = self
            .admin
            .execute_unprepared(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await;
    }
}

/// The doubles, seeded like the engine tests: the repository, secrets, Jobs that install
/// the app after `job_delay`.
pub async fn start_kit(job_delay: Duration) -> TestKit {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kit = TestKit::start().await.expect("the doubles start");
    kit.github().add_repo(REPO);
    let c = kit.cluster();
    c.set_node_capacity("64", "256Gi", 2000);
    for ns in ["acme-secrets", LEASE_NAMESPACE, "ingress-nginx", "registry"] {
        c.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
            .unwrap();
    }
    c.create(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "web-env", "namespace": "acme-secrets"},
        "data": {"DATABASE_URL": "cG9zdGdyZXM6Ly94"}}))
        .unwrap();
    c.create(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "catalyst-registry", "namespace": LEASE_NAMESPACE},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": "e30="}}))
        .unwrap();
    c.on_job(
        Match::namespace("pr-*"),
        JobBehaviour::succeed()
            .after(job_delay)
            .creates(app_objects()),
    );
    kit
}

fn app_objects() -> Vec<Value> {
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

/// Configures the repository the tests open pull requests on.
pub async fn configure(db: &Db) {
    repositories::create(
        db,
        NewRepository {
            full_name: RepositoryName::parse(REPO).unwrap(),
            project: None,
            settings: PreviewSettings {
                chart_path: Some("deploy/chart".to_owned()),
                health_path: "/healthz".to_owned(),
                secrets: vec!["web-env".to_owned()],
                secret_store_namespace: Some("acme-secrets".to_owned()),
                ..PreviewSettings::default()
            },
        },
        Some(DOMAIN),
    )
    .await
    .unwrap();
}

pub fn sha(n: u64) -> String {
    format!("{n:06x}{}", "cd".repeat(17))
}

/// One `catalyst serve` process.
pub struct Replica {
    pub id: String,
    pub base: String,
    child: Option<Child>,
    pub log: PathBuf,
    _dir: Arc<tempfile::TempDir>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The settings every replica of a test shares; `extra` adds or overrides keys.
pub fn replica_env(
    kit: &TestKit,
    database_url: &str,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = kit.env();
    env.push(("CATALYST_GITHUB_WEB_URL".into(), kit.github_url()));
    for (k, v) in [
        ("CATALYST_DATABASE_URL", database_url),
        ("CATALYST_PREVIEW_DOMAIN", DOMAIN),
        ("CATALYST_LEASE_DURATION_SECS", "3"),
        ("CATALYST_LEADER_LEASE_NAMESPACE", LEASE_NAMESPACE),
        ("CATALYST_PEER_POLL_INTERVAL_MS", "300"),
        ("CATALYST_RESYNC_INTERVAL_SECS", "5"),
        ("CATALYST_GITHUB_SWEEP_INTERVAL_SECS", "2"),
        ("CATALYST_MAX_CONCURRENT_DEPLOYMENTS", "40"),
        ("CATALYST_MAX_CONCURRENT_DEPLOYMENTS_PER_REPOSITORY", "40"),
        ("CATALYST_HEALTH_TIMEOUT_SECS", "30"),
        ("CATALYST_RETRY_BASE_MS", "200"),
        ("CATALYST_RETRY_CAP_MS", "1000"),
        ("CATALYST_INGRESS_NAMESPACE", "ingress-nginx"),
        ("CATALYST_AUXILIARY_NAMESPACES", "registry"),
        ("CATALYST_LOG_FORMAT", "json"),
        ("RUST_LOG", "info,catalyst_server=info"),
    ] {
        env.push((k.into(), v.into()));
    }
    for (k, v) in extra {
        env.retain(|(key, _)| key != k);
        env.push(((*k).into(), (*v).into()));
    }
    env
}

impl Replica {
    /// Starts `catalyst serve` as replica `id` and waits until it answers `/healthz`.
    pub async fn start(id: &str, env: &[(String, String)]) -> Self {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let port = free_port();
        let log = dir.path().join(format!("{id}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_catalyst"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().cloned())
            .env("CATALYST_REPLICA_ID", id)
            .env("CATALYST_BIND", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .expect("the catalyst binary starts");
        let r = Self {
            id: id.to_owned(),
            base: format!("http://127.0.0.1:{port}"),
            child: Some(child),
            log,
            _dir: dir,
        };
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(res) = http.get(format!("{}/healthz", r.base)).send().await
                && res.status().is_success()
            {
                return r;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "replica {id} did not start:\n{}",
                r.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn webhook_url(&self) -> String {
        format!("{}/webhooks/github", self.base)
    }

    pub fn sender(&self) -> WebhookSender {
        WebhookSender::new(self.webhook_url(), TEST_WEBHOOK_SECRET)
    }

    /// `kill -9`: no shutdown, no lease released.
    pub async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.start_kill().unwrap();
            let _ = c.wait().await;
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Log lines whose message is `message`, in order.
    pub fn log_lines(&self, message: &str) -> Vec<String> {
        let needle = format!("\"message\":\"{message}\"");
        self.log_text()
            .lines()
            .filter(|l| l.contains(&needle))
            .map(str::to_owned)
            .collect()
    }

    /// `GET /readyz`: status and body.
    pub async fn readyz(&self) -> (u16, Value) {
        let res = reqwest::Client::new()
            .get(format!("{}/readyz", self.base))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }
}

/// Sends `d` to `replica`; the status it answered.
pub async fn deliver(replica: &Replica, d: &Delivery) -> u16 {
    replica
        .sender()
        .send(d)
        .await
        .map(|r| r.status)
        .unwrap_or(0)
}

/// Opens PR `n` on the GitHub double and returns its webhook (not yet delivered).
pub fn open_pr(kit: &TestKit, n: u64) -> Delivery {
    kit.github()
        .open_pr(REPO, PrSpec::new().number(n).head_sha(sha(n)))
        .unwrap()
}

/// Polls `pred` until it holds, or fails with `what` and the replicas' logs' tails.
pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut pred: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !pred().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A TCP proxy in front of PostgreSQL that a test can cut: while cut, open connections
/// are closed and new ones are closed at once, like a database that went away.
pub struct Proxy {
    pub addr: std::net::SocketAddr,
    cut: Arc<AtomicBool>,
    generation: Arc<tokio::sync::watch::Sender<u64>>,
    task: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let generation = Arc::new(tokio::sync::watch::channel(0u64).0);
        let upstream = upstream.to_owned();
        let (c, g) = (cut.clone(), generation.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if c.load(Ordering::SeqCst) {
                    let _ = inbound.shutdown().await;
                    continue;
                }
                let upstream = upstream.clone();
                let mut cuts = g.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cuts.changed() => {}
                    }
                });
            }
        });
        Self {
            addr,
            cut,
            generation,
            task,
        }
    }

    /// Closes every connection and refuses new ones until [`Proxy::restore`].
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
