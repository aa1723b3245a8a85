//! The GitHub adapter against testkit's GitHub double, through the real octocrab stack:
//! app JWT → installation token, the sticky comment and its publisher, deployments, rate
//! limits and the breaker, conditional requests, and `.catalyst/preview.yaml`.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use catalyst_server::core::breaker::{BreakerConfig, BreakerState};
use catalyst_server::core::comment::MARKER;
use catalyst_server::core::domain::{CommitSha, PullRequestNumber, RepositoryName};
use catalyst_server::github::publisher::PublisherTuning;
use catalyst_server::github::{
    ClientTuning, DeploymentIntent, DeploymentState, DeploymentStatusUpdate, GithubClient,
    GithubError, GithubSettings, InstallationId, MemoryTokenStore, OpenPulls, PrPublisher,
    PrivateKeySource, PullRequestRef, RepositoryConfig, SecretsError, TokenStore,
};
use catalyst_testkit::PrSpec;
use catalyst_testkit::github::auth::Identity;
use catalyst_testkit::github::state::Comment;
use catalyst_testkit::github::{GitHub, GitHubServer};

const REPO: &str = "acme/web";

struct Setup {
    _server: GitHubServer,
    gh: GitHub,
    store: Arc<MemoryTokenStore>,
    client: GithubClient,
    installation: InstallationId,
}

fn key() -> String {
    base64::engine::general_purpose::STANDARD.encode([42u8; 32])
}

fn settings(gh: &GitHub) -> GithubSettings {
    let mut s = GithubSettings::new(
        gh.app_id(),
        PrivateKeySource::Pem(gh.app_private_key_pem().as_bytes().to_vec()),
        Some(key()),
    );
    s.api_url = gh.url();
    s.public_url = "http://catalyst.test".into();
    s.tuning = ClientTuning {
        max_retries: 3,
        retry_base: Duration::from_millis(5),
        retry_cap: Duration::from_millis(20),
        request_timeout: Duration::from_secs(5),
        token_refresh_margin: Duration::from_secs(300),
        breaker: BreakerConfig {
            failure_threshold: 3,
            cool_down_base: Duration::from_millis(300),
            cool_down_cap: Duration::from_secs(1),
            probe_timeout: Duration::from_secs(5),
            reset_margin: Duration::from_millis(200),
        },
    };
    s
}

async fn setup() -> Setup {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = GitHubServer::start(0).await.unwrap();
    let gh = server.handle();
    gh.add_repo(REPO);
    let store = Arc::new(MemoryTokenStore::default());
    let client = GithubClient::new(&settings(&gh), store.clone()).unwrap();
    let installation = InstallationId(gh.installation_id());
    Setup {
        _server: server,
        gh,
        store,
        client,
        installation,
    }
}

impl Setup {
    fn pr(&self, number: u64) -> PullRequestRef {
        PullRequestRef {
            installation: self.installation,
            repo: RepositoryName::parse(REPO).unwrap(),
            number: PullRequestNumber(number),
        }
    }

    fn open(&self, number: u64) -> String {
        self.gh.open_pr(REPO, PrSpec::new().number(number)).unwrap();
        self.gh.pull(REPO, number).unwrap().head_sha
    }

    /// A publisher that writes every update as soon as it can (no edit spacing), so
    /// the tests below see each state they settle.
    fn publisher(&self) -> PrPublisher {
        self.paced_publisher(Duration::ZERO)
    }

    fn paced_publisher(&self, edit_spacing: Duration) -> PrPublisher {
        PrPublisher::new(
            self.client.clone(),
            PublisherTuning {
                poll_interval: Duration::from_millis(50),
                error_base: Duration::from_millis(20),
                error_cap: Duration::from_millis(200),
                edit_spacing,
            },
        )
    }

    fn count(&self, method: &str, path_fragment: &str) -> usize {
        self.gh
            .state()
            .recorder
            .matching(method, path_fragment)
            .len()
    }

    fn sticky_comments(&self, number: u64) -> Vec<Comment> {
        self.gh
            .comments(REPO, number)
            .into_iter()
            .filter(|c| c.body.starts_with(MARKER))
            .collect()
    }

    /// Sets the installation's rate-limit window to end `secs` from now.
    fn reset_in(&self, secs: i64) {
        let id = Identity::Installation(self.installation.0);
        self.gh.state().limits().bucket(&id).reset = chrono::Utc::now().timestamp() + secs;
    }
}

fn body(text: &str) -> String {
    format!("{MARKER}\n{text}")
}

/// Polls `condition` (a state that follows a request the test cannot await).
async fn wait_for(condition: impl Fn() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached within 5 s");
}

async fn settle(publisher: &PrPublisher, pr: &PullRequestRef, generation: u64) {
    tokio::time::timeout(Duration::from_secs(20), publisher.settled(pr, generation))
        .await
        .expect("the publisher settles");
}

#[tokio::test]
async fn installation_token_is_fetched_once_cached_and_stored_sealed() {
    let s = setup().await;
    s.open(1);
    let repo = RepositoryName::parse(REPO).unwrap();
    for _ in 0..3 {
        s.client
            .list_open_pulls(s.installation, &repo, None)
            .await
            .unwrap();
    }
    assert_eq!(s.count("POST", "/access_tokens"), 1);
    let stored = s.store.load(s.installation).await.unwrap().unwrap();
    let token = s.client.installation_token(s.installation).await.unwrap();
    assert!(token.starts_with("ghs_"));
    assert!(
        !stored.sealed.contains(&token),
        "stored sealed, not in clear"
    );

    // A restart with the same store and key reuses the stored token.
    let again = GithubClient::new(&settings(&s.gh), s.store.clone()).unwrap();
    again
        .list_open_pulls(s.installation, &repo, None)
        .await
        .unwrap();
    assert_eq!(s.count("POST", "/access_tokens"), 1);

    // With another key the stored token cannot be opened: a clear error.
    let mut other = settings(&s.gh);
    other.encryption_key = Some(hex_key());
    let wrong = GithubClient::new(&other, s.store.clone()).unwrap();
    let err = wrong
        .list_open_pulls(s.installation, &repo, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, GithubError::Secrets(SecretsError::WrongKeyOrTampered)),
        "{err}"
    );
}

fn hex_key() -> String {
    "11".repeat(32)
}

#[tokio::test]
async fn missing_key_and_bad_private_key_are_start_up_errors() {
    let s = setup().await;
    let mut no_key = settings(&s.gh);
    no_key.encryption_key = None;
    let err = GithubClient::new(&no_key, s.store.clone()).err().unwrap();
    assert!(err.to_string().contains("CATALYST_ENCRYPTION_KEY"), "{err}");
    let mut bad_pem = settings(&s.gh);
    bad_pem.private_key = PrivateKeySource::Path("/nonexistent/app.pem".into());
    let err = GithubClient::new(&bad_pem, s.store.clone()).err().unwrap();
    assert!(err.to_string().contains("/nonexistent/app.pem"), "{err}");
}

#[tokio::test]
async fn sticky_comment_is_created_once_then_edited() {
    let s = setup().await;
    s.open(1);
    let pr = s.pr(1);
    let publisher = s.publisher();
    let g = publisher.publish(&pr, Some(body("deploying")), None);
    let first = publisher.settled(&pr, g).await;
    let g = publisher.publish(&pr, Some(body("ready")), None);
    let second = publisher.settled(&pr, g).await;
    assert_eq!(first.comment_id, second.comment_id);
    let comments = s.sticky_comments(1);
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].body, body("ready"));
    assert_eq!(comments[0].author, s.gh.bot_login());
    assert_eq!(s.count("POST", "/issues/1/comments"), 1);
    assert_eq!(s.count("PATCH", "/issues/comments/"), 1);

    // Republishing the same state (the periodic reconciler does) sends nothing.
    let sent = s.gh.requests().len();
    let g = publisher.publish(&pr, Some(body("ready")), None);
    settle(&publisher, &pr, g).await;
    assert_eq!(s.gh.requests().len(), sent);
}

#[tokio::test]
async fn racing_updates_leave_one_comment_with_the_newest_body() {
    let s = setup().await;
    s.open(1);
    let pr = s.pr(1);
    // Slow answers, so the first write is in flight while the others arrive.
    s.gh.faults().set_latency(Duration::from_millis(40));
    let publisher = s.publisher();
    let mut tasks = Vec::new();
    for i in 0..10 {
        let publisher = publisher.clone();
        let pr = pr.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(i * 7)).await;
            publisher.publish(&pr, Some(body(&format!("state {i}"))), None)
        }));
    }
    let mut newest = 0;
    for task in tasks {
        newest = newest.max(task.await.unwrap());
    }
    settle(&publisher, &pr, newest).await;
    let comments = s.sticky_comments(1);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert_eq!(comments[0].body, body("state 9"));
    // Coalesced: far fewer writes than updates.
    let writes = s.count("POST", "/issues/1/comments") + s.count("PATCH", "/issues/comments/");
    assert!(writes < 10, "{writes} writes");
}

#[tokio::test]
async fn a_lost_comment_id_is_recovered_by_listing_every_page() {
    let s = setup().await;
    s.open(1);
    let pr = s.pr(1);
    // 120 human comments first, so Catalyst's lands on the second page of 100.
    s.gh.with_world(|w| {
        for i in 0..120 {
            let id = w.next_id();
            w.comments.push(Comment {
                id,
                repo: REPO.into(),
                issue_number: 1,
                body: format!("comment {i}"),
                author: "octocat".into(),
                created_at: chrono::Utc::now(),
                updated_at: chrono::Utc::now(),
            });
        }
    });
    let before_restart = s.publisher();
    let g = before_restart.publish(&pr, Some(body("deploying")), None);
    let id = before_restart.settled(&pr, g).await.comment_id.unwrap();

    // A restart: a new publisher (and client) that does not know the id.
    let client = GithubClient::new(&settings(&s.gh), s.store.clone()).unwrap();
    let after_restart = PrPublisher::new(client, PublisherTuning::default());
    let g = after_restart.publish(&pr, Some(body("ready")), None);
    let state = after_restart.settled(&pr, g).await;
    assert_eq!(state.comment_id, Some(id));
    assert_eq!(s.gh.comments(REPO, 1).len(), 121);
    let sticky = s.sticky_comments(1);
    assert_eq!(sticky.len(), 1);
    assert_eq!(sticky[0].body, body("ready"));
    let pages: Vec<String> =
        s.gh.state()
            .recorder
            .matching("GET", "/issues/1/comments")
            .iter()
            .filter_map(|r| r.query_param("page"))
            .collect();
    assert!(pages.contains(&"2".to_owned()), "{pages:?}");

    // A stored id of a comment someone deleted: found again (or recreated), never two.
    s.gh.with_world(|w| w.comments.retain(|c| c.id != id.0));
    let third = s.publisher();
    third.remember_comment_id(&pr, id);
    let g = third.publish(&pr, Some(body("failed")), None);
    let state = third.settled(&pr, g).await;
    assert_ne!(state.comment_id, Some(id));
    assert_eq!(s.sticky_comments(1).len(), 1);
}

fn intent(attempt: &str, sha: &str, state: DeploymentState) -> DeploymentIntent {
    let success = state == DeploymentState::Success;
    DeploymentIntent {
        attempt: attempt.into(),
        sha: CommitSha(sha.into()),
        status: DeploymentStatusUpdate {
            state,
            environment_url: success.then(|| "https://pr-web-1.preview.test".into()),
            log_url: Some("http://catalyst.test/environments/e1".into()),
            description: None,
        },
    }
}

#[tokio::test]
async fn deployments_get_statuses_per_attempt() {
    let s = setup().await;
    let sha = s.open(1);
    let pr = s.pr(1);
    let publisher = s.publisher();
    for state in [
        DeploymentState::Queued,
        DeploymentState::InProgress,
        DeploymentState::Success,
    ] {
        let g = publisher.publish_deployment(&pr, intent("a1", &sha, state));
        settle(&publisher, &pr, g).await;
    }
    let deployments = s.gh.deployments(REPO);
    assert_eq!(deployments.len(), 1);
    let d = &deployments[0];
    assert_eq!(d.environment, "preview/pr-1");
    assert_eq!(d.sha, sha);
    assert!(d.transient_environment);
    assert!(!d.production_environment);
    let statuses = s.gh.deployment_statuses(d.id);
    let states: Vec<&str> = statuses.iter().map(|s| s.state.as_str()).collect();
    assert_eq!(states, ["queued", "in_progress", "success"]);
    let success = &statuses[2];
    assert_eq!(
        success.environment_url.as_deref(),
        Some("https://pr-web-1.preview.test")
    );
    assert_eq!(
        success.log_url.as_deref(),
        Some("http://catalyst.test/environments/e1")
    );

    // A new attempt is a new deployment; cleanup marks it inactive.
    let g = publisher.publish_deployment(&pr, intent("a2", &sha, DeploymentState::Failure));
    settle(&publisher, &pr, g).await;
    let g = publisher.publish_deployment(&pr, intent("a2", &sha, DeploymentState::Inactive));
    let state = publisher.settled(&pr, g).await;
    let deployments = s.gh.deployments(REPO);
    assert_eq!(deployments.len(), 2);
    let (attempt, id) = state.deployment.unwrap();
    assert_eq!((attempt.as_str(), id.0), ("a2", deployments[1].id));
    let states: Vec<String> =
        s.gh.deployment_statuses(id.0)
            .into_iter()
            .map(|s| s.state)
            .collect();
    assert_eq!(states, ["failure", "inactive"]);
}

#[tokio::test]
async fn writes_to_one_pull_request_keep_their_spacing_and_coalesce() {
    let s = setup().await;
    let sha = s.open(1);
    s.open(2);
    let (pr, other) = (s.pr(1), s.pr(2));
    let spacing = Duration::from_millis(400);
    let publisher = s.paced_publisher(spacing);

    // The first comment goes out at once; the deployment waits the spacing, and the
    // update is not settled before it is written.
    let started = tokio::time::Instant::now();
    let g = publisher.publish(
        &pr,
        Some(body("queued")),
        Some(intent("a1", &sha, DeploymentState::Queued)),
    );
    wait_for(|| s.sticky_comments(1).len() == 1).await;
    assert!(started.elapsed() < spacing, "{:?}", started.elapsed());
    assert!(
        s.gh.deployments(REPO).is_empty(),
        "no deployment before the spacing"
    );
    assert!(publisher.state(&pr).published < g);

    // Two states in quick succession, then a first write to another pull request.
    publisher.publish(
        &pr,
        Some(body("deploying")),
        Some(intent("a1", &sha, DeploymentState::InProgress)),
    );
    let last = publisher.publish(
        &pr,
        Some(body("ready")),
        Some(intent("a1", &sha, DeploymentState::Success)),
    );
    let g = publisher.publish(&other, Some(body("queued")), None);
    settle(&publisher, &other, g).await;
    assert_eq!(
        s.count("PATCH", "/issues/comments/"),
        0,
        "pull request 1 waits for its spacing; pull request 2 did not wait for it"
    );
    settle(&publisher, &pr, last).await;

    // One edit with the newest state, and the deployment created then with it: the
    // `queued` status it would have had for a moment was never sent.
    let comments = s.sticky_comments(1);
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].body, body("ready"));
    assert_eq!(s.count("PATCH", "/issues/comments/"), 1);
    let deployments = s.gh.deployments(REPO);
    assert_eq!(deployments.len(), 1);
    let states: Vec<String> =
        s.gh.deployment_statuses(deployments[0].id)
            .into_iter()
            .map(|status| status.state)
            .collect();
    assert_eq!(states, ["success"]);
    // The edit and the deployment started no sooner than the spacing after the first
    // round (the comment) ended.
    let recorder = &s.gh.state().recorder;
    let first_round_end = recorder
        .matching("POST", "/issues/1/comments")
        .iter()
        .map(|r| r.at)
        .min()
        .unwrap();
    let edit = recorder.matching("PATCH", "/issues/comments/")[0].received;
    let created = recorder
        .matching("POST", "/deployments")
        .iter()
        .filter(|r| !r.path.ends_with("/statuses"))
        .map(|r| r.received)
        .min()
        .unwrap();
    for (what, at) in [("edit", edit), ("deployment", created)] {
        assert!(
            (at - first_round_end).to_std().unwrap() >= spacing,
            "{what} at {at}, the first round ended at {first_round_end}"
        );
    }
}

#[tokio::test]
async fn primary_rate_limit_opens_the_breaker_and_the_latest_state_follows_the_reset() {
    let s = setup().await;
    s.open(1);
    let pr = s.pr(1);
    let publisher = s.publisher();
    let g = publisher.publish(&pr, Some(body("queued")), None);
    settle(&publisher, &pr, g).await;

    s.gh.set_rate_limit(5000, 0);
    s.reset_in(3);
    for state in ["deploying", "verifying", "ready"] {
        publisher.publish(&pr, Some(body(state)), None);
    }
    // The first write meets the 403; after that the breaker holds every call.
    wait_for(|| s.client.breaker_state(s.installation) == BreakerState::Open).await;
    let until = s.client.rate_limited_until(s.installation).unwrap();
    assert!(until > chrono::Utc::now());
    wait_for(|| publisher.state(&pr).waiting_until.is_some()).await;
    assert_eq!(publisher.state(&pr).waiting_until, Some(until));
    let sent = s.gh.requests().len();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        s.gh.requests().len(),
        sent,
        "no call while the breaker is open"
    );
    assert_eq!(s.sticky_comments(1)[0].body, body("queued"));

    let state = publisher.state(&pr);
    settle(&publisher, &pr, state.requested).await;
    let comments = s.sticky_comments(1);
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].body, body("ready"), "only the newest state");
    let stats = s.client.stats();
    assert_eq!(stats.rate_limited, 1, "{stats:?}");
    assert!(stats.rejected_by_breaker > 0, "{stats:?}");
    assert_eq!(s.client.breaker_state(s.installation), BreakerState::Closed);
    assert_eq!(s.client.rate_limited_until(s.installation), None);
    assert!(s.client.rate_limit(s.installation).unwrap().remaining > Some(0));
}

#[tokio::test]
async fn secondary_rate_limit_waits_for_retry_after() {
    let s = setup().await;
    s.open(1);
    let pr = s.pr(1);
    let publisher = s.publisher();
    let g = publisher.publish(&pr, Some(body("queued")), None);
    settle(&publisher, &pr, g).await;

    s.gh.trigger_secondary_rate_limit(1, 429, 1);
    let started = std::time::Instant::now();
    publisher.publish(&pr, Some(body("deploying")), None);
    wait_for(|| s.client.breaker_state(s.installation) == BreakerState::Open).await;
    assert!(s.client.rate_limited_until(s.installation).is_some());
    let g = publisher.publish(&pr, Some(body("ready")), None);
    settle(&publisher, &pr, g).await;
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(s.sticky_comments(1)[0].body, body("ready"));
    assert_eq!(s.client.stats().rate_limited, 1);
    let patches = s.gh.state().recorder.matching("PATCH", "/issues/comments/");
    let statuses: Vec<u16> = patches.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 200], "one refused write, one newest write");
}

#[tokio::test]
async fn transient_errors_are_retried_and_persistent_ones_open_the_breaker() {
    let s = setup().await;
    s.open(1);
    let repo = RepositoryName::parse(REPO).unwrap();
    s.client
        .list_open_pulls(s.installation, &repo, None)
        .await
        .unwrap();
    s.gh.faults().fail_next(2, 502);
    s.client
        .list_open_pulls(s.installation, &repo, None)
        .await
        .unwrap();
    assert_eq!(s.client.stats().retries, 2);

    s.gh.faults().fail_next(10, 503);
    let err = s
        .client
        .list_open_pulls(s.installation, &repo, None)
        .await
        .unwrap_err();
    assert!(matches!(err, GithubError::Unavailable { .. }), "{err}");
    assert_eq!(s.client.breaker_state(s.installation), BreakerState::Open);
    assert_eq!(s.client.rate_limited_until(s.installation), None);
}

#[tokio::test]
async fn an_unchanged_repository_answers_304_without_cost() {
    let s = setup().await;
    s.open(1);
    s.gh.open_pr(
        REPO,
        PrSpec::new()
            .number(2)
            .fork()
            .label("preview")
            .title("From a fork"),
    )
    .unwrap();
    let repo = RepositoryName::parse(REPO).unwrap();
    let OpenPulls::Changed { pulls, etag } = s
        .client
        .list_open_pulls(s.installation, &repo, None)
        .await
        .unwrap()
    else {
        panic!("the first sweep has no ETag to match");
    };
    assert_eq!(pulls.len(), 2);
    let fork = pulls.iter().find(|p| p.number.0 == 2).unwrap();
    assert!(fork.fork);
    assert_eq!(fork.labels, ["preview"]);
    assert_eq!(fork.title, "From a fork");
    assert!(!pulls.iter().find(|p| p.number.0 == 1).unwrap().fork);
    let etag = etag.unwrap();

    let remaining = s.gh.installation_rate_remaining();
    let again = s
        .client
        .list_open_pulls(s.installation, &repo, Some(&etag))
        .await
        .unwrap();
    assert_eq!(again, OpenPulls::NotModified);
    assert_eq!(
        s.gh.installation_rate_remaining(),
        remaining,
        "a 304 is free"
    );
    assert_eq!(s.client.stats().not_modified, 1);

    let new_sha = "b".repeat(40);
    s.gh.push(REPO, 1, Some(&new_sha)).unwrap();
    let OpenPulls::Changed { pulls, .. } = s
        .client
        .list_open_pulls(s.installation, &repo, Some(&etag))
        .await
        .unwrap()
    else {
        panic!("a push changes the list");
    };
    let one = pulls.iter().find(|p| p.number.0 == 1).unwrap();
    assert_eq!(one.head_sha.as_str(), new_sha);
}

#[tokio::test]
async fn open_pulls_are_read_across_pages() {
    let s = setup().await;
    for n in 1..=105 {
        s.open(n);
    }
    let repo = RepositoryName::parse(REPO).unwrap();
    let OpenPulls::Changed { pulls, .. } = s
        .client
        .list_open_pulls(s.installation, &repo, None)
        .await
        .unwrap()
    else {
        panic!("no ETag given");
    };
    assert_eq!(pulls.len(), 105);
}

#[tokio::test]
async fn preview_yaml_is_read_at_the_head_sha() {
    let s = setup().await;
    let sha = s.open(1);
    let repo = RepositoryName::parse(REPO).unwrap();
    let head = CommitSha(sha.clone());
    let missing = s
        .client
        .preview_config(s.installation, &repo, &head)
        .await
        .unwrap();
    assert_eq!(missing, RepositoryConfig::Missing);

    let path = ".catalyst/preview.yaml";
    s.gh.set_file(
        REPO,
        &sha,
        path,
        "chart:\n  path: charts/web\nhealth_path: /healthz\n",
    );
    let RepositoryConfig::Found(config) = s
        .client
        .preview_config(s.installation, &repo, &head)
        .await
        .unwrap()
    else {
        panic!("a valid file");
    };
    assert_eq!(
        config.chart.as_ref().and_then(|c| c.path.as_deref()),
        Some("charts/web")
    );

    s.gh.set_file(
        REPO,
        &sha,
        path,
        "chart:\n  path: charts/web\n\nimage:\n  biuld: {}\n",
    );
    let RepositoryConfig::Invalid(problem) = s
        .client
        .preview_config(s.installation, &repo, &head)
        .await
        .unwrap()
    else {
        panic!("an invalid file");
    };
    assert_eq!(problem.line, Some(5), "{problem}");
    assert!(problem.message.contains("biuld"), "{problem}");
    assert!(problem.expected.contains("`build`"), "{problem}");
}

#[tokio::test]
async fn a_superseded_deployment_is_marked_inactive() {
    let s = setup().await;
    let sha = s.open(1);
    let pr = s.pr(1);
    let adapter =
        catalyst_server::github::GithubAdapter::start(settings(&s.gh), s.store.clone()).unwrap();
    let publisher = adapter.publisher;
    let g = publisher.publish_deployment(&pr, intent("a1", &sha, DeploymentState::InProgress));
    settle(&publisher, &pr, g).await;
    let newer = "c".repeat(40);
    s.gh.push(REPO, 1, Some(&newer)).unwrap();
    let g = publisher.publish_deployment(&pr, intent("a2", &newer, DeploymentState::Queued));
    settle(&publisher, &pr, g).await;
    let deployments = s.gh.deployments(REPO);
    assert_eq!(deployments.len(), 2);
    let states = |id: u64| -> Vec<String> {
        s.gh.deployment_statuses(id)
            .into_iter()
            .map(|s| s.state)
            .collect()
    };
    assert_eq!(states(deployments[0].id), ["in_progress", "inactive"]);
    assert_eq!(states(deployments[1].id), ["queued"]);
    assert_eq!(deployments[1].sha, newer);
}

#[tokio::test]
async fn a_revoked_token_is_replaced_once_and_installations_are_found_per_repository() {
    let s = setup().await;
    s.open(1);
    let repo = RepositoryName::parse(REPO).unwrap();
    assert_eq!(
        s.client.repository_installation(&repo).await.unwrap(),
        s.installation
    );
    s.client
        .list_open_pulls(s.installation, &repo, None)
        .await
        .unwrap();
    // GitHub forgets the token (revoked, or the app was reinstalled).
    s.gh.with_world(|w| w.tokens.clear());
    s.client
        .list_open_pulls(s.installation, &repo, None)
        .await
        .unwrap();
    assert_eq!(s.count("POST", "/access_tokens"), 2);
    assert_eq!(s.client.stats().tokens_minted, 2);
    let unknown = RepositoryName::parse("acme/unknown").unwrap();
    let err = s
        .client
        .repository_installation(&unknown)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");
}
