//! GitHub wired into the service: the publishing loop renders each PR's sticky comment
//! and GitHub deployment from database state (written here directly, as the engine
//! would), and the sweep heals desired state from the GitHub double's open pull requests.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use catalyst_server::core::breaker::BreakerConfig;
use catalyst_server::core::comment::MARKER;
use catalyst_server::core::domain::RepositoryName;
use catalyst_server::core::webhook_event;
use catalyst_server::github::sync::{GithubSync, PublishSignal, SyncTuning};
use catalyst_server::github::{
    ClientTuning, GithubAdapter, GithubSettings, PrivateKeySource, sync,
};
use catalyst_server::store;
use catalyst_server::store::Db;
use catalyst_server::store::entities::{
    deployment, preview_environment, pull_request, pull_request_publication,
};
use catalyst_server::store::github::DbTokenStore;
use catalyst_server::store::intake::{self, Delivery};
use catalyst_server::store::repositories::{self, NewRepository, PreviewSettings};
use catalyst_testkit::PrSpec;
use catalyst_testkit::github::state::Comment;
use catalyst_testkit::github::{GitHub, GitHubServer};
use chrono::{TimeDelta, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

const REPO: &str = "acme/web";
const DOMAIN: &str = "preview.example.test";

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

struct Setup {
    _server: GitHubServer,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(Db, String)>,
    gh: GitHub,
    db: Db,
    sync: Arc<GithubSync>,
    engine_wakes: Arc<AtomicUsize>,
}

fn key(byte: u8) -> String {
    base64::engine::general_purpose::STANDARD.encode([byte; 32])
}

fn settings(gh: &GitHub, key: String) -> GithubSettings {
    let mut s = GithubSettings::new(
        gh.app_id(),
        PrivateKeySource::Pem(gh.app_private_key_pem().as_bytes().to_vec()),
        Some(key),
    );
    s.api_url = gh.url();
    s.public_url = "http://catalyst.test".into();
    s.setup_guide_url = "https://docs.example.test/setup".into();
    s.tuning = ClientTuning {
        max_retries: 2,
        retry_base: Duration::from_millis(5),
        retry_cap: Duration::from_millis(20),
        request_timeout: Duration::from_secs(5),
        token_refresh_margin: Duration::from_secs(300),
        breaker: BreakerConfig::default(),
    };
    s
}

async fn database(backend: Backend) -> (Db, Option<tempfile::TempDir>, Option<(Db, String)>) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("c.db").display());
            let db = store::connect(store::connect_options(&url)).await.unwrap();
            store::migrate(&db).await.unwrap();
            (db, Some(dir), None)
        }
        Backend::Postgres => {
            let url = std::env::var("CATALYST_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
            let mut admin_opts = store::connect_options(&url);
            admin_opts.max_connections(1).min_connections(0);
            let admin = store::connect(admin_opts).await.unwrap_or_else(|e| {
                panic!("PostgreSQL at {url} is needed for the postgres tests: {e}")
            });
            let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
            admin
                .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
                .await
                .unwrap();
            let mut opts = store::connect_options(&url);
            opts.max_connections(5)
                .min_connections(0)
                .set_schema_search_path(schema.clone());
            let db = store::connect(opts).await.unwrap();
            store::migrate(&db).await.unwrap();
            (db, None, Some((admin, schema)))
        }
    }
}

fn new_sync(gh: &GitHub, db: &Db, wakes: &Arc<AtomicUsize>) -> Arc<GithubSync> {
    let adapter = GithubAdapter::start(
        settings(gh, key(7)),
        Arc::new(DbTokenStore::new(db.clone())),
    )
    .unwrap();
    let wakes = wakes.clone();
    GithubSync::new(
        db.clone(),
        adapter,
        Some(DOMAIN.to_owned()),
        SyncTuning::default(),
        PublishSignal::default(),
        Arc::new(move || {
            wakes.fetch_add(1, Ordering::SeqCst);
        }),
    )
}

async fn setup(backend: Backend) -> Setup {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = GitHubServer::start(0).await.unwrap();
    let gh = server.handle();
    gh.add_repo(REPO);
    let (db, dir, pg) = database(backend).await;
    repositories::create(
        &db,
        NewRepository {
            full_name: RepositoryName::parse(REPO).unwrap(),
            project: None,
            settings: PreviewSettings {
                health_path: "/healthz".into(),
                deploy_drafts: true,
                installation_id: Some(i64::try_from(gh.installation_id()).unwrap()),
                ..PreviewSettings::default()
            },
        },
        Some(DOMAIN),
    )
    .await
    .unwrap();
    let engine_wakes = Arc::new(AtomicUsize::new(0));
    let sync = new_sync(&gh, &db, &engine_wakes);
    Setup {
        _server: server,
        _dir: dir,
        pg,
        gh,
        db,
        sync,
        engine_wakes,
    }
}

impl Setup {
    async fn finish(self) {
        if let Some((admin, schema)) = &self.pg {
            let _ = self.db.clone().close().await;
            let _ = admin
                .execute_unprepared(&format!("DROP SCHEMA {schema} CASCADE"))
                .await;
        }
    }

    /// One publishing pass, waited for until GitHub has everything, then recorded.
    async fn publish(&self) -> usize {
        let report = self.sync.publish_once().await.unwrap();
        self.sync.settle(Duration::from_secs(10)).await.unwrap();
        report.handed
    }

    /// Records a delivery the GitHub double rendered, as the webhook entrance would.
    async fn record(&self, delivery: &catalyst_testkit::Delivery) {
        let event = webhook_event::parse(&delivery.event, &delivery.body).unwrap();
        let headers = Delivery {
            id: &delivery.id,
            event: &delivery.event,
        };
        intake::record(&self.db, headers, &event, Some(DOMAIN))
            .await
            .unwrap();
    }

    /// Opens pull request `number` of `repo` on GitHub and records its `opened` delivery.
    async fn open(&self, repo: &str, number: u64) {
        self.record(&self.gh.open_pr(repo, PrSpec::new().number(number)).unwrap())
            .await;
    }

    fn sticky(&self, repo: &str, number: u64) -> Vec<Comment> {
        self.gh
            .comments(repo, number)
            .into_iter()
            .filter(|c| c.body.starts_with(MARKER))
            .collect()
    }

    fn count(&self, method: &str, path_fragment: &str) -> usize {
        self.gh
            .state()
            .recorder
            .matching(method, path_fragment)
            .len()
    }

    async fn pr(&self, number: i64) -> pull_request::Model {
        pull_request::Entity::find()
            .filter(pull_request::Column::RepositoryKey.eq(REPO))
            .filter(pull_request::Column::Number.eq(number))
            .one(&self.db)
            .await
            .unwrap()
            .expect("the pull request is stored")
    }

    /// What is stored of PR `number`'s publishing, if anything.
    async fn publication(&self, number: i64) -> Option<pull_request_publication::Model> {
        let pr = self.pr(number).await;
        pull_request_publication::Entity::find_by_id(pr.id)
            .one(&self.db)
            .await
            .unwrap()
    }

    async fn environment(&self, number: i64) -> preview_environment::Model {
        let pr = self.pr(number).await;
        preview_environment::Entity::find()
            .filter(preview_environment::Column::PullRequestId.eq(pr.id))
            .one(&self.db)
            .await
            .unwrap()
            .expect("the environment exists")
    }

    async fn set_status(&self, number: i64, status: &str) {
        let env = self.environment(number).await;
        let mut active: preview_environment::ActiveModel = env.into();
        active.status = Set(status.to_owned());
        if status == "ready" {
            active.ready_at = Set(Some(Utc::now()));
        }
        active.updated_at = Set(Utc::now());
        active.update(&self.db).await.unwrap();
    }

    /// Writes attempt 1 of PR `number`'s environment in `phase`, as the engine would.
    async fn set_attempt(&self, number: i64, phase: &str, failure: Option<(&str, &str, &str)>) {
        let env = self.environment(number).await;
        let pr = self.pr(number).await;
        let t0 = Utc::now() - TimeDelta::seconds(60);
        let at = |s: i64| Some(t0 + TimeDelta::seconds(s));
        let reached = |p: &str| {
            let order = ["queued", "provisioning", "deploying", "verifying"];
            let end = ["succeeded", "failed"].contains(&phase);
            end || order.iter().position(|o| *o == p) <= order.iter().position(|o| *o == phase)
        };
        let existing = deployment::Entity::find()
            .filter(deployment::Column::EnvironmentId.eq(&env.id))
            .one(&self.db)
            .await
            .unwrap();
        let mut row = deployment::ActiveModel {
            environment_id: Set(env.id.clone()),
            attempt: Set(1),
            head_sha: Set(pr.head_sha.clone()),
            phase: Set(phase.to_owned()),
            queued_at: Set(t0),
            provisioning_at: Set(at(2).filter(|_| reached("provisioning"))),
            deploying_at: Set(at(5).filter(|_| reached("deploying"))),
            verifying_at: Set(at(40).filter(|_| reached("verifying"))),
            finished_at: Set(at(50).filter(|_| ["succeeded", "failed"].contains(&phase))),
            outcome: Set(None),
            error: Set(failure.map(|f| f.0.to_owned())),
            failed_check: Set(failure.map(|f| f.1.to_owned())),
            log_excerpt: Set(failure.map(|f| f.2.to_owned())),
            updated_at: Set(Utc::now()),
            ..Default::default()
        };
        match existing {
            Some(d) => {
                row.id = Set(d.id);
                row.created_at = Set(d.created_at);
                row.update(&self.db).await.unwrap();
            }
            None => {
                row.id = Set(store::new_id());
                row.created_at = Set(Utc::now());
                row.insert(&self.db).await.unwrap();
            }
        }
    }

    fn deployment_states(&self) -> Vec<Vec<String>> {
        self.gh
            .deployments(REPO)
            .into_iter()
            .map(|d| {
                self.gh
                    .deployment_statuses(d.id)
                    .into_iter()
                    .map(|s| s.state)
                    .collect()
            })
            .collect()
    }
}

async fn comment_follows_the_environment_and_is_edited_in_place(backend: Backend) {
    let s = setup(backend).await;
    s.gh.open_pr(REPO, PrSpec::new().number(1)).unwrap();
    assert_eq!(s.sync.sweep_once().await.opened, 1);
    assert_eq!(s.publish().await, 1);
    let comments = s.sticky(REPO, 1);
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0].body.contains("**Status: pending.**"),
        "{}",
        comments[0].body
    );
    assert!(
        s.gh.deployments(REPO).is_empty(),
        "no attempt yet, no deployment"
    );

    s.set_attempt(1, "queued", None).await;
    s.publish().await;
    s.set_status(1, "deploying").await;
    s.set_attempt(1, "deploying", None).await;
    s.publish().await;
    s.set_status(1, "ready").await;
    s.set_attempt(1, "succeeded", None).await;
    s.publish().await;

    let comments = s.sticky(REPO, 1);
    assert_eq!(comments.len(), 1, "one comment, edited in place");
    let body = &comments[0].body;
    let env = s.environment(1).await;
    let url = env.url.clone().unwrap();
    assert!(body.contains("**Status: ready.**"), "{body}");
    assert!(body.contains(&url), "{body}");
    assert!(body.contains(&env.namespace), "{body}");
    assert!(body.contains("| deploying |"), "{body}");
    assert_eq!(
        s.deployment_states(),
        [["queued", "in_progress", "success"]],
        "one deployment for the attempt"
    );
    let success = s.gh.deployment_statuses(s.gh.deployments(REPO)[0].id);
    assert_eq!(success[2].environment_url.as_deref(), Some(url.as_str()));

    // Nothing changed: nothing is handed over, nothing is sent.
    let requests = s.gh.state().recorder.all().len();
    assert_eq!(s.publish().await, 0);
    assert_eq!(s.gh.state().recorder.all().len(), requests);

    // A restart: a new publisher edits the stored comment and deployment, never lists
    // comments or creates another deployment.
    let listed = s.count("GET", "/issues/1/comments");
    let restarted = new_sync(&s.gh, &s.db, &s.engine_wakes);
    s.set_status(1, "deleting").await;
    restarted.publish_once().await.unwrap();
    restarted.settle(Duration::from_secs(10)).await.unwrap();
    let comments = s.sticky(REPO, 1);
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0].body.contains("**Status: deleting.**"),
        "{}",
        comments[0].body
    );
    assert_eq!(s.count("GET", "/issues/1/comments"), listed);
    assert_eq!(
        s.deployment_states(),
        [["queued", "in_progress", "success", "inactive"]]
    );
    let publication = s.publication(1).await.unwrap();
    assert_eq!(
        publication.comment_id,
        Some(i64::try_from(comments[0].id).unwrap())
    );
    assert_eq!(publication.deployment_state.as_deref(), Some("inactive"));

    // Deleted: the final comment, then nothing more (the publisher forgets the PR).
    s.set_status(1, "deleted").await;
    restarted.publish_once().await.unwrap();
    restarted.settle(Duration::from_secs(10)).await.unwrap();
    let comments = s.sticky(REPO, 1);
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0].body.contains("**Status: cleaned up.**"),
        "{}",
        comments[0].body
    );
    assert_eq!(restarted.publish_once().await.unwrap().handed, 0);
    assert_eq!(s.deployment_states()[0].len(), 4, "inactive is posted once");
    s.finish().await;
}

async fn a_failed_deployment_shows_the_error_and_the_logs(backend: Backend) {
    let s = setup(backend).await;
    s.gh.open_pr(REPO, PrSpec::new().number(2)).unwrap();
    s.sync.sweep_once().await;
    s.set_status(2, "failed").await;
    s.set_attempt(
        2,
        "failed",
        Some((
            "health check failed after 300s",
            "GET /healthz returned 503",
            "starting web\npanic: database unreachable",
        )),
    )
    .await;
    s.publish().await;
    let comments = s.sticky(REPO, 2);
    assert_eq!(comments.len(), 1);
    let body = &comments[0].body;
    assert!(body.contains("**Status: failed.**"), "{body}");
    assert!(body.contains("health check failed after 300s"), "{body}");
    assert!(body.contains("GET /healthz returned 503"), "{body}");
    assert!(body.contains("panic: database unreachable"), "{body}");
    assert_eq!(s.deployment_states(), [["failure"]]);
    s.finish().await;
}

async fn a_broken_preview_yaml_and_a_scheduled_retry_are_shown(backend: Backend) {
    use catalyst_server::engine::preview_config::RecordedConfig;
    use catalyst_server::github::repo_config::parse_preview_config;
    use catalyst_server::store::engine::{self as engine_store};
    use catalyst_server::store::pull_request_configs;

    let s = setup(backend).await;
    // PR 3's own `.catalyst/preview.yaml` is broken: the engine recorded the problem and
    // failed the attempt as a configuration error.
    s.gh.open_pr(REPO, PrSpec::new().number(3)).unwrap();
    s.sync.sweep_once().await;
    let pr = s.pr(3).await;
    let problem = parse_preview_config("values: {}\nchart:\n  path: ../../etc\n").unwrap_err();
    let (state, body) = RecordedConfig::Invalid(problem.clone()).to_row();
    pull_request_configs::put(&s.db, &pr.id, &pr.head_sha, state, body)
        .await
        .unwrap();
    s.set_status(3, "failed").await;
    s.set_attempt(3, "failed", Some((&problem.to_string(), "", "")))
        .await;
    let env = s.environment(3).await;
    let mut attempt: deployment::ActiveModel = deployment::Entity::find()
        .filter(deployment::Column::EnvironmentId.eq(&env.id))
        .one(&s.db)
        .await
        .unwrap()
        .unwrap()
        .into();
    attempt.outcome = Set(Some("configuration".to_owned()));
    attempt.update(&s.db).await.unwrap();
    s.publish().await;
    let body = &s.sticky(REPO, 3)[0].body;
    assert!(body.contains("**Status: configuration error.**"), "{body}");
    assert!(body.contains(".catalyst/preview.yaml"), "{body}");
    assert!(body.contains("line 3"), "{body}");
    assert!(body.contains("outside the repository"), "{body}");

    // PR 4 failed and the engine scheduled retry 2 of 3: the comment says when.
    s.gh.open_pr(REPO, PrSpec::new().number(4)).unwrap();
    s.sync.sweep_once().await;
    s.set_status(4, "failed").await;
    s.set_attempt(4, "failed", Some(("helm: timed out", "", "")))
        .await;
    let env = s.environment(4).await;
    let mut state = engine_store::state(&s.db, &env.id).await.unwrap();
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-27T14:07:00Z")
        .unwrap()
        .with_timezone(&Utc);
    state.retry_at = Some(at);
    state.retry_number = Some(2);
    state.retry_limit = Some(3);
    engine_store::put_state(&s.db, &state).await.unwrap();
    s.publish().await;
    let body = &s.sticky(REPO, 4)[0].body;
    assert!(
        body.contains("**Status: failed.** Retry 2 of 3 starts at 14:07 UTC."),
        "{body}"
    );
    s.finish().await;
}

async fn an_unconfigured_repository_gets_one_configuration_missing_comment(backend: Backend) {
    let s = setup(backend).await;
    let other = "acme/unconfigured";
    // Two pull requests, settled and stored by one pass.
    for number in [3, 4] {
        s.record(&s.gh.open_pr(other, PrSpec::new().number(number)).unwrap())
            .await;
    }
    assert_eq!(s.publish().await, 2);
    assert_eq!(s.publish().await, 0);
    assert_eq!(s.sticky(other, 4).len(), 1);
    // A later delivery for the same PR (a push) does not comment again.
    s.record(&s.gh.push(other, 3, None).unwrap()).await;
    assert_eq!(s.publish().await, 0);
    let comments = s.sticky(other, 3);
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0].body.contains("configuration missing"),
        "{}",
        comments[0].body
    );
    assert!(comments[0].body.contains("https://docs.example.test/setup"));
    assert_eq!(s.count("PATCH", "/issues/comments/"), 0, "written once");
    let prs = pull_request::Entity::find()
        .filter(pull_request::Column::RepositoryKey.eq(other))
        .all(&s.db)
        .await
        .unwrap();
    assert_eq!(prs.len(), 2);
    for pr in &prs {
        assert!(pr.config_missing_notified_at.is_some(), "{pr:?}");
        let publication = pull_request_publication::Entity::find_by_id(pr.id.clone())
            .one(&s.db)
            .await
            .unwrap()
            .expect("the settled comment is stored");
        assert!(publication.comment_id.is_some() && publication.fingerprint.is_some());
    }
    s.finish().await;
}

async fn the_sweep_heals_missed_open_push_and_close(backend: Backend) {
    let s = setup(backend).await;
    // `opened` never delivered.
    s.gh.open_pr(REPO, PrSpec::new().number(4)).unwrap();
    let report = s.sync.sweep_once().await;
    assert_eq!((report.opened, report.errors), (1, 0), "{report:?}");
    let stored = s.pr(4).await;
    assert_eq!(stored.state, "open");
    assert_eq!(stored.head_sha, s.gh.pull(REPO, 4).unwrap().head_sha);
    assert!(stored.configured);
    assert_eq!(s.environment(4).await.status, "pending");
    assert_eq!(s.engine_wakes.load(Ordering::SeqCst), 1);

    // `synchronize` never delivered.
    let sha = "b".repeat(40);
    s.gh.push(REPO, 4, Some(&sha)).unwrap();
    let report = s.sync.sweep_once().await;
    assert_eq!(report.updated, 1, "{report:?}");
    assert_eq!(s.pr(4).await.head_sha, sha);

    // `closed` never delivered: the PR drops out of the open list and is read alone.
    s.gh.close(REPO, 4, true).unwrap();
    let report = s.sync.sweep_once().await;
    assert_eq!(report.closed, 1, "{report:?}");
    let stored = s.pr(4).await;
    assert_eq!(stored.state, "closed");
    assert!(stored.merged);
    assert_eq!(s.engine_wakes.load(Ordering::SeqCst), 3);
    let last = s.sync.last_sweep().unwrap();
    assert_eq!(last.repositories, 1);
    assert!(last.calls >= 2, "{last:?}");
    s.finish().await;
}

async fn an_unchanged_repository_costs_no_rate_limit(backend: Backend) {
    let s = setup(backend).await;
    s.gh.open_pr(REPO, PrSpec::new().number(5)).unwrap();
    s.sync.sweep_once().await;
    let remaining = s.gh.installation_rate_remaining();
    let report = s.sync.sweep_once().await;
    assert_eq!(report.not_modified, 1, "{report:?}");
    assert_eq!(report.changes(), 0);
    assert_eq!(s.gh.installation_rate_remaining(), remaining);
    assert_eq!(
        s.engine_wakes.load(Ordering::SeqCst),
        1,
        "only the first sweep changed state"
    );
    s.finish().await;
}

/// The sweep's `calls` are its own: calls through the same client on other tasks (the
/// publisher's) while it runs are not among them, though the client's totals hold them.
async fn the_sweep_counts_only_its_own_calls(backend: Backend) {
    use catalyst_server::github::client::tallied;
    use catalyst_server::github::{InstallationId, PullRequestRef};

    let s = setup(backend).await;
    s.gh.open_pr(REPO, PrSpec::new().number(6)).unwrap();
    // Mints the token and stores the list's ETag: the next sweep is one `304`.
    s.sync.sweep_once().await;
    let client = s.sync.adapter().client.clone();
    let pr = PullRequestRef {
        installation: InstallationId(s.gh.installation_id()),
        repo: RepositoryName::parse(REPO).unwrap(),
        number: catalyst_server::core::domain::PullRequestNumber(6),
    };

    // Looks the app's own login up once (`GET /app`), so each call below is one request.
    client.find_sticky_comment(&pr).await.unwrap();
    // A call on a task of its own is not the awaiting task's; a call made on it is.
    let before = client.stats().requests;
    let elsewhere = {
        let (client, pr) = (client.clone(), pr.clone());
        tokio::spawn(async move { client.find_sticky_comment(&pr).await.unwrap() })
    };
    let ((), tally) = tallied(async {
        client.find_sticky_comment(&pr).await.unwrap();
        elsewhere.await.unwrap();
    })
    .await;
    assert_eq!(tally.requests, 1, "{tally:?}");
    assert_eq!(client.stats().requests - before, 2);

    // The publisher's calls go on beside the sweep.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let publisher = {
        let (client, pr, stop) = (client.clone(), pr.clone(), stop.clone());
        tokio::spawn(async move {
            let mut calls = 0u32;
            while !stop.load(Ordering::SeqCst) {
                client.find_sticky_comment(&pr).await.unwrap();
                calls += 1;
                tokio::task::yield_now().await;
            }
            calls
        })
    };
    let before = client.stats().requests;
    let report = s.sync.sweep_once().await;
    let during = client.stats().requests - before;
    stop.store(true, Ordering::SeqCst);
    let others = publisher.await.unwrap();
    assert_eq!(report.not_modified, 1, "{report:?}");
    assert_eq!(
        report.calls, 1,
        "{report:?}; the client sent {during} meanwhile"
    );
    assert_eq!(report.rate_limited_calls, 0, "{report:?}");
    assert!(others >= 1);
    s.finish().await;
}

async fn a_rate_limited_sweep_is_counted_and_changes_nothing(backend: Backend) {
    let s = setup(backend).await;
    s.gh.open_pr(REPO, PrSpec::new().number(8)).unwrap();
    // Mint the token first: the app's own budget is not the installation's.
    s.sync.sweep_once().await;
    s.gh.push(REPO, 8, Some(&"c".repeat(40))).unwrap();
    s.gh.set_rate_limit(5000, 0);
    let report = s.sync.sweep_once().await;
    assert_eq!(report.errors, 1, "{report:?}");
    assert!(report.rate_limited_calls >= 1, "{report:?}");
    assert_eq!(report.changes(), 0);
    assert_ne!(
        s.pr(8).await.head_sha,
        "c".repeat(40),
        "healed after the reset"
    );
    assert_eq!(s.sync.last_sweep(), Some(report));
    s.finish().await;
}

async fn a_fork_pull_request_waits_for_the_label(backend: Backend) {
    let s = setup(backend).await;
    s.gh.open_pr(REPO, PrSpec::new().number(6).fork()).unwrap();
    s.sync.sweep_once().await;
    assert!(s.pr(6).await.is_fork);
    s.publish().await;
    let body = s.sticky(REPO, 6)[0].body.clone();
    assert!(body.contains("**Status: not deployed.**"), "{body}");
    assert!(body.contains("`preview`"), "{body}");
    assert!(s.gh.deployments(REPO).is_empty());

    s.gh.label(REPO, 6, "preview").unwrap();
    assert_eq!(s.sync.sweep_once().await.updated, 1);
    s.publish().await;
    let comments = s.sticky(REPO, 6);
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0].body.contains("**Status: pending.**"),
        "{}",
        comments[0].body
    );
    s.finish().await;
}

async fn tokens_are_stored_sealed_and_a_wrong_key_stops_start_up(backend: Backend) {
    let s = setup(backend).await;
    s.gh.open_pr(REPO, PrSpec::new().number(7)).unwrap();
    s.sync.sweep_once().await;
    let token = s
        .sync
        .adapter()
        .client
        .installation_token(catalyst_server::github::InstallationId(
            s.gh.installation_id(),
        ))
        .await
        .unwrap();
    let (_, sealed) = store::github::any_sealed_token(&s.db)
        .await
        .unwrap()
        .unwrap();
    assert!(!sealed.sealed.contains(&token), "sealed, not in clear");

    let error = sync::start(
        s.db.clone(),
        settings(&s.gh, key(8)),
        None,
        SyncTuning::default(),
        PublishSignal::default(),
        Arc::new(|| {}),
    )
    .await
    .err()
    .expect("another key cannot open the stored token");
    assert!(
        error.to_string().contains("CATALYST_ENCRYPTION_KEY"),
        "{error}"
    );
    let mut missing = settings(&s.gh, key(7));
    missing.encryption_key = None;
    let error = sync::start(
        s.db.clone(),
        missing,
        None,
        SyncTuning::default(),
        PublishSignal::default(),
        Arc::new(|| {}),
    )
    .await
    .err()
    .expect("a missing key is a start-up error");
    assert!(
        error.to_string().contains("CATALYST_ENCRYPTION_KEY"),
        "{error}"
    );
    s.finish().await;
}

/// The whole wiring: `catalyst serve`'s start-up starts the loops, a webhook delivered to
/// the running server wakes the publisher, and the comment appears without anyone
/// calling a pass by hand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivered_webhook_gets_its_comment_from_the_running_service() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = GitHubServer::start(0).await.unwrap();
    let gh = server.handle();
    gh.add_repo(REPO);
    let (db, _dir, _) = database(Backend::Sqlite).await;
    let pem = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(pem.path(), gh.app_private_key_pem()).unwrap();
    let env = vec![
        ("CATALYST_GITHUB_WEBHOOK_SECRET", "s3cret".to_owned()),
        ("CATALYST_PREVIEW_DOMAIN", DOMAIN.to_owned()),
        ("CATALYST_GITHUB_API_URL", gh.url()),
        ("CATALYST_GITHUB_APP_ID", gh.app_id().to_string()),
        (
            "CATALYST_GITHUB_APP_PRIVATE_KEY_PATH",
            pem.path().display().to_string(),
        ),
        ("CATALYST_ENCRYPTION_KEY", key(7)),
        (
            "CATALYST_SETUP_GUIDE_URL",
            "https://docs.example.test/setup".to_owned(),
        ),
    ];
    let config = catalyst_server::Config::from_sources(
        None,
        env.into_iter().map(|(k, v)| (k.to_owned(), v)),
    )
    .unwrap();
    let state = catalyst_server::AppState::new(config, db, None);
    let started = catalyst_server::start_github(&state).await.unwrap();
    assert!(started.is_some(), "the app is configured");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(catalyst_server::serve(
        listener,
        state,
        std::future::pending::<()>(),
    ));
    gh.set_webhook_target(&format!("http://{addr}/webhooks/github"), "s3cret");
    // No repository is configured: the delivered PR gets the one "missing" comment.
    let opened = gh.open_pr(REPO, PrSpec::new().number(9)).unwrap();
    assert_eq!(gh.deliver(&opened).await.unwrap().status, 200);
    for _ in 0..500 {
        if !gh.comments(REPO, 9).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let comments = gh.comments(REPO, 9);
    assert_eq!(comments.len(), 1, "the webhook woke the publisher");
    assert!(comments[0].body.contains("configuration missing"));
}

/// A publishing pass woken by a change looks only at environments where an input of
/// the comment moved since (shortly before) the previous pass, by the inputs' stamps,
/// which are those of the rows a full read returns; a full pass sees all.
async fn a_pass_over_changes_reads_only_what_moved(backend: Backend) {
    let s = setup(backend).await;
    for n in 1..=3 {
        s.gh.open_pr(REPO, PrSpec::new().number(n)).unwrap();
    }
    assert_eq!(s.sync.sweep_once().await.opened, 3);
    assert_eq!(s.publish().await, 3);
    // PR 1 has an attempt (its stamp is the newest attempt's).
    s.set_attempt(1, "queued", None).await;
    let long_ago = Utc::now() - TimeDelta::days(1);
    let numbers = |candidates: &[store::github::PublishCandidate]| {
        let mut n: Vec<i64> = candidates.iter().map(|c| c.pull_request.number).collect();
        n.sort_unstable();
        n
    };
    let all = store::github::publish_candidates(&s.db, long_ago)
        .await
        .unwrap();
    assert_eq!(numbers(&all), [1, 2, 3]);
    // Every input's stamp as the cheap read gives it equals the full read's.
    let stamped = store::github::changed_stamps(&s.db, long_ago, long_ago)
        .await
        .unwrap();
    assert_eq!(stamped.len(), 3);
    for (id, stamps) in &stamped {
        let full = all.iter().find(|c| &c.environment.id == id).unwrap();
        assert_eq!(stamps, &full.stamps(), "environment {id}");
        assert_eq!(
            stamps.deployment.is_some(),
            full.pull_request.number == 1,
            "environment {id}"
        );
    }

    tokio::time::sleep(Duration::from_millis(20)).await;
    let t = Utc::now();
    let quiet = store::github::changed_stamps(&s.db, long_ago, t)
        .await
        .unwrap();
    assert!(quiet.is_empty(), "nothing moved after {t}: {quiet:?}");
    // An attempt of PR 2 and the status of PR 3's environment change.
    s.set_attempt(2, "deploying", None).await;
    s.set_status(3, "deploying").await;
    let moved = store::github::changed_stamps(&s.db, long_ago, t)
        .await
        .unwrap();
    let ids: Vec<String> = moved.iter().map(|(id, _)| id.clone()).collect();
    let read = store::github::publish_candidates_among(&s.db, &ids)
        .await
        .unwrap();
    assert_eq!(numbers(&read), [2, 3]);
    for (id, stamps) in &moved {
        let before = &stamped.iter().find(|(i, _)| i == id).unwrap().1;
        assert_ne!(stamps, before, "a moved input changes the stamps of {id}");
        let now = read.iter().find(|c| &c.environment.id == id).unwrap();
        assert_eq!(stamps, &now.stamps());
    }
    s.finish().await;
}

/// A setup whose publisher's term has begun: pull requests opened from now on were seen
/// by no earlier publisher. The term starts with the first pass, and rows must be younger
/// than its start by more than the clock margin (1 s).
async fn setup_in_term(backend: Backend) -> Setup {
    let s = setup(backend).await;
    assert_eq!(s.publish().await, 0);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    s
}

/// `delivery` as GitHub would redeliver it, its pull request last updated `at`.
fn updated_at(
    delivery: &catalyst_testkit::Delivery,
    at: chrono::DateTime<Utc>,
) -> catalyst_testkit::Delivery {
    let mut payload: serde_json::Value = serde_json::from_slice(&delivery.body).unwrap();
    payload["pull_request"]["updated_at"] = serde_json::json!(at.to_rfc3339());
    catalyst_testkit::Delivery {
        body: serde_json::to_vec(&payload).unwrap(),
        ..delivery.clone()
    }
}

async fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn only_a_pull_request_seen_opening_skips_the_listing(backend: Backend) {
    let s = setup_in_term(backend).await;
    // 1: opened, delivered as it happens.
    s.open(REPO, 1).await;
    // 2: its opening never delivered; stored by the sweep.
    s.gh.open_pr(REPO, PrSpec::new().number(2)).unwrap();
    assert_eq!(s.sync.sweep_once().await.opened, 1);
    // 3: first seen through a push.
    s.gh.open_pr(REPO, PrSpec::new().number(3)).unwrap();
    s.record(&s.gh.push(REPO, 3, None).unwrap()).await;
    // 4: an opening redelivered hours later (a restored database, say).
    let opened = s.gh.open_pr(REPO, PrSpec::new().number(4)).unwrap();
    s.record(&updated_at(&opened, Utc::now() - TimeDelta::hours(3)))
        .await;
    // 5: opened in an unconfigured repository (its one "configuration missing" comment).
    let other = "acme/unconfigured";
    s.open(other, 5).await;

    assert_eq!(s.publish().await, 5);
    let seen: Vec<bool> = futures::future::join_all((1..=4).map(|n| s.pr(n)))
        .await
        .iter()
        .map(|pr| pr.opened_by_webhook)
        .collect();
    assert_eq!(seen, [true, false, false, false]);
    for n in 1..=4 {
        assert_eq!(s.sticky(REPO, n).len(), 1, "PR {n} has its comment");
    }
    assert_eq!(s.sticky(other, 5).len(), 1);
    let listed = |n: u64| s.count("GET", &format!("/issues/{n}/comments"));
    assert_eq!(
        (listed(1), listed(5)),
        (0, 0),
        "seen opening: created at once"
    );
    assert_eq!(
        (listed(2), listed(3), listed(4)),
        (1, 1, 1),
        "not seen opening: listed first"
    );
    assert_eq!(s.count("POST", "/issues/1/comments"), 1);
    s.finish().await;
}

async fn a_comment_whose_id_was_lost_is_found_after_a_restart(backend: Backend) {
    let s = setup_in_term(backend).await;
    s.open(REPO, 1).await;
    // The comment is created, and the process stops before a pass stores its id.
    assert_eq!(s.sync.publish_once().await.unwrap().handed, 1);
    wait_for("the first comment", || s.sticky(REPO, 1).len() == 1).await;
    assert_eq!(s.count("GET", "/issues/1/comments"), 0);
    assert!(s.publication(1).await.is_none(), "nothing stored yet");

    // The restarted publisher's term began after the pull request was stored: it lists
    // the comments, finds the one created before the crash, and creates no second one.
    let restarted = new_sync(&s.gh, &s.db, &s.engine_wakes);
    s.set_status(1, "deploying").await;
    assert_eq!(restarted.publish_once().await.unwrap().handed, 1);
    restarted.settle(Duration::from_secs(10)).await.unwrap();
    let comments = s.sticky(REPO, 1);
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(
        comments[0].body.contains("**Status: deploying.**"),
        "{}",
        comments[0].body
    );
    assert_eq!(s.count("GET", "/issues/1/comments"), 1);
    let publication = s.publication(1).await.unwrap();
    assert_eq!(
        publication.comment_id,
        Some(i64::try_from(comments[0].id).unwrap())
    );
    s.finish().await;
}

async fn a_first_comment_that_failed_is_retried_after_a_listing(backend: Backend) {
    let s = setup_in_term(backend).await;
    // A first pull request fetches the installation token, so the failures below hit
    // the comment's creation.
    s.open(REPO, 1).await;
    assert_eq!(s.publish().await, 1);
    s.open(REPO, 2).await;
    // The create fails (the client does not retry a `POST`), and it may have reached
    // GitHub for all Catalyst knows: the publisher's next round lists first.
    s.gh.faults().fail_next(1, 502);
    assert_eq!(s.publish().await, 1);
    assert_eq!(s.sticky(REPO, 2).len(), 1);
    assert_eq!(s.count("GET", "/issues/1/comments"), 0);
    assert_eq!(s.count("GET", "/issues/2/comments"), 1);
    s.finish().await;
}

async fn an_attempt_of_this_term_is_deployed_without_listing(backend: Backend) {
    let s = setup_in_term(backend).await;
    s.open(REPO, 1).await;
    assert_eq!(s.publish().await, 1);
    // The attempt was stored after the term began: its deployment is created at once.
    s.set_attempt(1, "queued", None).await;
    assert_eq!(s.sync.publish_once().await.unwrap().handed, 1);
    wait_for("the deployment's first status", || {
        s.deployment_states() == [["queued"]]
    })
    .await;
    assert_eq!(s.count("GET", "/deployments"), 0);
    assert_eq!(
        s.count("POST", "/deployments"),
        2,
        "the deployment and its status"
    );

    // The process stops before a pass stores the deployment's id. The restarted
    // publisher's term began after the attempt was stored: it lists the commit's
    // deployments, finds the attempt's, and creates no second one.
    let restarted = new_sync(&s.gh, &s.db, &s.engine_wakes);
    s.set_status(1, "deploying").await;
    s.set_attempt(1, "deploying", None).await;
    assert_eq!(restarted.publish_once().await.unwrap().handed, 1);
    restarted.settle(Duration::from_secs(10)).await.unwrap();
    assert_eq!(s.deployment_states(), [["queued", "in_progress"]]);
    assert_eq!(s.count("GET", "/deployments"), 1);
    s.finish().await;
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(super::Backend::Sqlite).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(super::Backend::Postgres).await;
                }
            }
        )*
    };
}

both_backends!(
    comment_follows_the_environment_and_is_edited_in_place,
    a_failed_deployment_shows_the_error_and_the_logs,
    a_broken_preview_yaml_and_a_scheduled_retry_are_shown,
    an_unconfigured_repository_gets_one_configuration_missing_comment,
    the_sweep_heals_missed_open_push_and_close,
    an_unchanged_repository_costs_no_rate_limit,
    a_rate_limited_sweep_is_counted_and_changes_nothing,
    the_sweep_counts_only_its_own_calls,
    a_fork_pull_request_waits_for_the_label,
    tokens_are_stored_sealed_and_a_wrong_key_stops_start_up,
    a_pass_over_changes_reads_only_what_moved,
    only_a_pull_request_seen_opening_skips_the_listing,
    a_comment_whose_id_was_lost_is_found_after_a_restart,
    a_first_comment_that_failed_is_retried_after_a_listing,
    an_attempt_of_this_term_is_deployed_without_listing,
);
