//! The wire floor: a stand-in for `catalyst serve` that does, for each signed
//! `pull_request` `opened` delivery, only the requests that no implementation of the
//! product can skip, and nothing else — no database, no state machine, no admission, no
//! publisher, no retries, every pull request at once.
//!
//! Why it exists: on the benchmark's two cores the doubles (the Kubernetes API server,
//! the kubelet and controllers, GitHub) and the load generator share the CPU with the
//! process under test, so a figure like "webhook → Job p95" includes their work. The
//! floor measures that part alone, with the same doubles, the same client libraries and
//! Catalyst's own request builders (`cluster::apply_kit`, `pr_pod::create`,
//! `GithubClient`), so each request costs the doubles what Catalyst's does. Catalyst's
//! figure minus the floor's is Catalyst's own overhead, and a target the floor itself
//! misses is out of reach on that machine for any implementation that must make these
//! requests (the floor is the fastest way found to make them, not a proven minimum).
//!
//! The kinds of work are measured in separate runs ([`Work`]), because an
//! implementation could put one before the other: the Job run is the least any
//! implementation needs before its Jobs exist, the comment run the least before its
//! comments exist, and the recorded-comment run the least before them for an
//! implementation that, like Catalyst, acknowledges a delivery only once it is stored
//! (so that a crash loses nothing GitHub will not send again). Every pull request is worked on at once: with the floor bounded to
//! 16 or 64 at a time (as Catalyst's 16 reconcile workers are), its Job p95 was higher
//! at both sizes (50 PRs: 273 ms with 16 against 197 ms unbounded; 500 PRs: 4.0 s with 64
//! against 1.4 s), because the doubles' simulated kubelet and controllers then work on
//! the first pull requests' Jobs while the later ones wait.
//!
//! The harness runs it as a child process (`bench floor job serve`, with the same
//! environment Catalyst gets) or, in the smoke test where there is no bench binary, as a
//! task in its own process.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use catalyst_server::Config;
use catalyst_server::cluster::{
    self, ChartSource, Credentials, EnvironmentSpec, ImageSource, QuotaOverrides, SecretCopies,
};
use catalyst_server::core::domain::{CommitSha, PullRequestNumber, RepositoryName};
use catalyst_server::core::naming;
use catalyst_server::core::signature;
use catalyst_server::engine::settings::EngineSettings;
use catalyst_server::engine::spec::DEFAULT_CHART_PATH;
use catalyst_server::github::{
    GithubClient, GithubSettings, InstallationId, MemoryTokenStore, PullRequestRef,
};
use serde_json::Value;
use tokio::net::TcpListener;

/// What the floor does for each opened pull request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// Read the preview file and apply the namespace kit side by side, then create the
    /// pull request pod's Job (attempt 1, in the namespace just made: no list first).
    Job,
    /// Post the pull request's comment (no look for an earlier one first).
    Comment,
    /// Record the delivery durably first (its id, group-committed to a SQLite file in
    /// WAL mode as Catalyst's intake is), answer, then post the comment: the least an
    /// implementation that acknowledges only what it stored does before each comment.
    RecordedComment,
}

impl Work {
    pub fn name(self) -> &'static str {
        match self {
            Self::Job => "job",
            Self::Comment => "comment",
            Self::RecordedComment => "recorded-comment",
        }
    }

    pub fn parse(name: &str) -> anyhow::Result<Self> {
        match name {
            "job" => Ok(Self::Job),
            "comment" => Ok(Self::Comment),
            "recorded-comment" => Ok(Self::RecordedComment),
            other => anyhow::bail!("no floor work {other:?} (job, comment, recorded-comment)"),
        }
    }
}

struct Floor {
    work: Work,
    /// Where [`Work::RecordedComment`] records deliveries.
    recorder: Option<Recorder>,
    secret: Vec<u8>,
    kube: kube::Client,
    github: GithubClient,
    engine: EngineSettings,
    credentials: Credentials,
}

/// One opened pull request, as the delivery names it.
struct Opened {
    repo: RepositoryName,
    number: u64,
    sha: String,
    head_ref: String,
    installation: u64,
}

impl Opened {
    fn from_payload(v: &Value) -> Option<Self> {
        let pr = &v["pull_request"];
        Some(Self {
            repo: RepositoryName::parse(v["repository"]["full_name"].as_str()?).ok()?,
            number: v["number"].as_u64()?,
            sha: pr["head"]["sha"].as_str()?.to_owned(),
            head_ref: pr["head"]["ref"].as_str()?.to_owned(),
            installation: v["installation"]["id"].as_u64()?,
        })
    }
}

impl Floor {
    /// The spec Catalyst builds for a repository configured with defaults only (what the
    /// benchmark configures), so the objects sent are the same size as Catalyst's.
    fn spec(&self, pr: &Opened) -> EnvironmentSpec {
        let namespace = naming::namespace(
            &naming::slug_for_new_repository(&pr.repo, false),
            PullRequestNumber(pr.number),
        );
        let preview_host = self.engine.cluster.preview_host(namespace.as_str());
        EnvironmentSpec {
            preview_url: self
                .engine
                .preview_url(namespace.as_str())
                .unwrap_or_else(|| format!("https://{preview_host}")),
            preview_host,
            clone_url: format!(
                "{}/{}.git",
                self.engine.git_web_url.trim_end_matches('/'),
                pr.repo
            ),
            namespace,
            repository: pr.repo.clone(),
            pr_number: PullRequestNumber(pr.number),
            head_sha: CommitSha(pr.sha.clone()),
            head_ref: pr.head_ref.clone(),
            chart: ChartSource::InRepository {
                path: DEFAULT_CHART_PATH.to_owned(),
            },
            values_yaml: None,
            values_files: Vec::new(),
            image: ImageSource::Build {
                dockerfile: "Dockerfile".to_owned(),
                context: ".".to_owned(),
            },
            health_path: "/".to_owned(),
            quota: QuotaOverrides::default(),
            secrets: SecretCopies::default(),
        }
    }

    async fn handle(self: Arc<Self>, pr: Opened) {
        let result = match self.work {
            Work::Job => self.job(&pr).await,
            Work::Comment | Work::RecordedComment => self.comment(&pr).await,
        };
        if let Err(e) = result {
            eprintln!("floor: {}#{}: {e:#}", pr.repo, pr.number);
        }
    }

    async fn job(&self, pr: &Opened) -> anyhow::Result<()> {
        let spec = self.spec(pr);
        let (config, kit) = tokio::join!(
            self.github
                .preview_config(InstallationId(pr.installation), &pr.repo, &spec.head_sha),
            cluster::apply_kit(
                &self.kube,
                &spec,
                &self.engine.cluster,
                &self.credentials,
                &[]
            ),
        );
        config.context("reading the preview file")?;
        kit.context("applying the namespace kit")?;
        cluster::pr_pod::create(&self.kube, &spec, 1, &self.engine.cluster)
            .await
            .context("creating the Job")?;
        Ok(())
    }

    async fn comment(&self, pr: &Opened) -> anyhow::Result<()> {
        let target = PullRequestRef {
            installation: InstallationId(pr.installation),
            repo: pr.repo.clone(),
            number: PullRequestNumber(pr.number),
        };
        let body = format!(
            "<!-- catalyst-preview -->\n### Preview environment\n\n| | |\n|---|---|\n\
             | Status | ⏳ Queued |\n| Commit | `{}` |\n",
            &pr.sha[..pr.sha.len().min(12)]
        );
        self.github
            .create_comment(&target, &body)
            .await
            .context("posting the comment")?;
        Ok(())
    }
}

/// Verifies, parses and answers at once; the work runs on its own task.
async fn webhook(
    State(floor): State<Arc<Floor>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if signature::verify(&floor.secret, &body, header("x-hub-signature-256"), false).is_err() {
        return (StatusCode::UNAUTHORIZED, "signature does not match");
    }
    if header("x-github-event") != Some("pull_request") {
        return (StatusCode::ACCEPTED, "ignored");
    }
    let Ok(payload) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "the body is not JSON");
    };
    if payload["action"] != "opened" {
        return (StatusCode::ACCEPTED, "ignored");
    }
    let Some(pr) = Opened::from_payload(&payload) else {
        return (StatusCode::BAD_REQUEST, "not a pull_request payload");
    };
    if let Some(recorder) = &floor.recorder {
        let Some(id) = header("x-github-delivery") else {
            return (StatusCode::BAD_REQUEST, "no X-GitHub-Delivery");
        };
        if let Err(e) = recorder.record(id.to_owned()).await {
            eprintln!("floor: recording {id}: {e:#}");
            return (StatusCode::INTERNAL_SERVER_ERROR, "not recorded");
        }
    }
    tokio::spawn(floor.handle(pr));
    (StatusCode::ACCEPTED, "accepted")
}

/// Group commit of delivery ids to SQLite: one task takes every id waiting when the
/// last commit ended and writes them with one multi-row `INSERT` in one transaction;
/// each id's answer waits for that commit. Nothing else is stored.
#[derive(Clone)]
struct Recorder {
    tx: tokio::sync::mpsc::Sender<(String, tokio::sync::oneshot::Sender<Result<(), String>>)>,
}

impl Recorder {
    async fn open(url: &str) -> anyhow::Result<Self> {
        use sea_orm::ConnectionTrait;
        let options = sea_orm::ConnectOptions::new(url.to_owned())
            .max_connections(1)
            .to_owned();
        let db = sea_orm::Database::connect(options)
            .await
            .with_context(|| format!("opening {url}"))?;
        for sql in [
            "PRAGMA journal_mode = WAL",
            "PRAGMA synchronous = NORMAL",
            "CREATE TABLE IF NOT EXISTS deliveries (id TEXT PRIMARY KEY)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(
            String,
            tokio::sync::oneshot::Sender<Result<(), String>>,
        )>(4096);
        tokio::spawn(async move {
            let mut batch = Vec::new();
            while rx.recv_many(&mut batch, 64).await > 0 {
                let waiting = std::mem::take(&mut batch);
                let result = Self::commit(&db, &waiting).await.map_err(|e| e.to_string());
                for (_, reply) in waiting {
                    let _ = reply.send(result.clone());
                }
            }
        });
        Ok(Self { tx })
    }

    async fn commit(
        db: &sea_orm::DatabaseConnection,
        ids: &[(String, tokio::sync::oneshot::Sender<Result<(), String>>)],
    ) -> Result<(), sea_orm::DbErr> {
        use sea_orm::{ConnectionTrait, TransactionTrait};
        let txn = db.begin().await?;
        let marks = vec!["(?)"; ids.len()].join(", ");
        let sql = format!("INSERT INTO deliveries (id) VALUES {marks} ON CONFLICT DO NOTHING");
        let values = ids.iter().map(|(id, _)| id.clone().into());
        txn.execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Sqlite,
            sql,
            values,
        ))
        .await?;
        txn.commit().await
    }

    async fn record(&self, id: String) -> anyhow::Result<()> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.tx
            .send((id, reply))
            .await
            .map_err(|_| anyhow::anyhow!("the recorder stopped"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the recorder stopped"))?
            .map_err(|e| anyhow::anyhow!(e))
    }
}

/// A Kubernetes client from the `KUBECONFIG` in `env` (not the process's own: in the
/// smoke test the floor shares the harness's process).
async fn kube_client(env: &[(String, String)]) -> anyhow::Result<kube::Client> {
    let path = env
        .iter()
        .find(|(k, _)| k == "KUBECONFIG")
        .map(|(_, v)| v.clone())
        .context("KUBECONFIG is not set")?;
    let kubeconfig =
        kube::config::Kubeconfig::read_from(&path).with_context(|| format!("reading {path}"))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

/// Binds `CATALYST_BIND` from `env` and returns the listener and the floor's routes:
/// `GET /healthz`, `POST /webhooks/github`, and `POST /api/v1/repositories`, which
/// accepts and keeps nothing (the floor works for every pull request it hears of).
pub async fn bind(env: &[(String, String)], work: Work) -> anyhow::Result<(TcpListener, Router)> {
    let config = Config::from_sources(None, env.iter().cloned()).context("the floor's settings")?;
    let secret = config
        .github
        .webhook_secret
        .as_ref()
        .context("CATALYST_GITHUB_WEBHOOK_SECRET is not set")?
        .expose()
        .as_bytes()
        .to_vec();
    let settings = GithubSettings::from_config(&config).context("the GitHub App is not set")?;
    let github = GithubClient::new(&settings, Arc::new(MemoryTokenStore::default()))?;
    let engine = EngineSettings::from_config(&config);
    let recorder = match work {
        Work::RecordedComment => Some(Recorder::open(&config.database.url).await?),
        Work::Job | Work::Comment => None,
    };
    let floor = Arc::new(Floor {
        work,
        recorder,
        secret,
        kube: kube_client(env).await?,
        github,
        credentials: Credentials::new(engine.cluster.credentials_window),
        engine,
    });
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/webhooks/github", post(webhook))
        .route(
            "/api/v1/repositories",
            post(|| async { (StatusCode::CREATED, "{}") }),
        )
        .with_state(floor);
    let listener = TcpListener::bind(config.http.bind)
        .await
        .with_context(|| format!("binding {}", config.http.bind))?;
    Ok((listener, router))
}

/// `bench floor {job|comment} serve`: the floor as its own process, until killed.
pub async fn serve_process(work: Work) -> anyhow::Result<()> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let (listener, router) = bind(&env, work).await?;
    axum::serve(listener, router.into_make_service()).await?;
    Ok(())
}

/// The floor as a task of this process; its address.
pub async fn spawn_task(
    env: &[(String, String)],
    work: Work,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let (listener, router) = bind(env, work).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router.into_make_service()).await {
            eprintln!("floor: {e}");
        }
    });
    Ok((addr, task))
}
