//! The publishing loop: keeps every pull request's sticky comment and GitHub deployment
//! equal to what the database says, without the engine calling GitHub.
//!
//! It is level-triggered like the engine: each pass reads environments, their newest
//! deployment attempt and queue position, renders the
//! [`CommentView`](crate::core::comment::CommentView) and the deployment status they imply,
//! and hands to the [`PrPublisher`](super::PrPublisher) only what differs from what was
//! last published (a fingerprint of both, stored per pull request). Many changes between two
//! passes coalesce into one edit; a restart loses nothing, because the comment id, the
//! attempt's GitHub deployment and the fingerprint are stored once GitHub has them.
//!
//! A pass runs when [`PublishSignal`] is woken (webhook intake, the sweep) and every
//! [`SyncTuning::publish_interval`] otherwise, which is how engine progress is noticed.
//!
//! Both loops are singleton work: with several replicas only the leader
//! ([`crate::leadership`]) publishes and sweeps, so two replicas never both create a
//! PR's comment or deployment. A replica that stops leading drops what it had not
//! written yet; the new leader starts from the fingerprints and ids stored.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::TransactionTrait;
use tokio::sync::{Mutex, Notify};

use crate::core::comment::{CommentStatus, render};
use crate::core::domain::{PullRequestNumber, RepositoryName};
use crate::store::entities::{pull_request, repository};
use crate::store::github::{self as store, Published};
use crate::store::{Db, StoreError};

use super::deployments::{DeploymentId, DeploymentState};
use super::settings::GithubSettings;
use super::sweep::SweepReport;
use super::{CommentId, GithubAdapter, InstallationId, PullRequestRef};

mod plan;
mod unseen;

pub use super::eligibility::repository_policy;
pub use plan::{Plan, plan, repository_web_url};
use plan::{config_missing_plan, fingerprint};
use unseen::Unseen;

/// Least time between the starts of two publishing passes woken by signals.
const PASS_SPACING: std::time::Duration = std::time::Duration::from_millis(50);

/// Wakes the publishing loop. Separate from the engine's `ReconcileSignal`, whose single
/// permit must not be taken by another waiter. Wakes coalesce into one pass.
#[derive(Clone, Debug, Default)]
pub struct PublishSignal(Arc<Notify>);

impl PublishSignal {
    pub fn wake(&self) {
        self.0.notify_one();
    }

    pub async fn notified(&self) {
        self.0.notified().await;
    }
}

/// How often the loops run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncTuning {
    /// A publishing pass at least this often (engine progress is noticed this way).
    pub publish_interval: Duration,
    /// The reconciliation sweep of GitHub's open pull requests.
    pub sweep_interval: Duration,
    /// Deleted environments are still published this long after their last change
    /// (their final "cleaned up" comment), then left alone.
    pub deleted_window: Duration,
}

impl Default for SyncTuning {
    fn default() -> Self {
        Self {
            publish_interval: Duration::from_secs(3),
            sweep_interval: Duration::from_secs(300),
            deleted_window: Duration::from_secs(24 * 3600),
        }
    }
}

/// What one publishing pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PublishReport {
    /// Updates handed to the publisher.
    pub handed: usize,
    /// Updates GitHub confirmed (or refused for good) and that were recorded.
    pub recorded: usize,
    /// Pull requests that could not be published (no installation known).
    pub skipped: usize,
}

/// One update handed to the publisher and not yet recorded.
struct Inflight {
    pr: PullRequestRef,
    generation: u64,
    fingerprint: String,
    deployment: Option<(String, DeploymentState)>,
    /// The deployment state stored before, kept when this update posts none.
    previous_state: Option<String>,
    config_missing: bool,
    /// Nothing follows this update (cleaned up, or the one "missing" comment): the
    /// publisher may forget the PR once it is written.
    last: bool,
}

#[derive(Default)]
struct LoopState {
    inflight: HashMap<String, Inflight>,
    /// Pull requests handed to the publisher in this term (with their stored comment id
    /// and deployment, or the promise that they have no comment yet), each with the
    /// attempt this term vouched has no GitHub deployment yet, if any.
    primed: HashMap<String, Option<String>>,
    /// When this replica began publishing: its first pass since it started or became
    /// the leader ([`unseen`]). Reset with the rest when it stands down.
    term_started: Option<DateTime<Utc>>,
    /// When the last pass that went through every candidate finished.
    last_full_pass: Option<tokio::time::Instant>,
    /// When the last successful pass started, in the clock the stored change times use.
    last_pass_started: Option<DateTime<Utc>>,
    /// Per environment, the stamps of the inputs its comment was last rendered from: a
    /// pass over changes reads whole rows only where they moved since.
    rendered: HashMap<String, store::CommentStamps>,
}

/// How far before the previous pass a pass over changes looks: a change is stamped
/// before its transaction commits, so the previous pass may have missed one stamped
/// just before it read.
const CHANGE_MARGIN: TimeDelta = TimeDelta::seconds(2);

/// The publishing loop and the sweep, with what they share.
pub struct GithubSync {
    pub(super) db: Db,
    pub(super) adapter: GithubAdapter,
    pub(super) preview_domain: Option<String>,
    pub(super) tuning: SyncTuning,
    pub(super) signal: PublishSignal,
    /// Wakes the engine after the sweep changed desired state.
    pub(super) wake_engine: Arc<dyn Fn() + Send + Sync>,
    state: Mutex<LoopState>,
    pub(super) last_sweep: std::sync::Mutex<Option<SweepReport>>,
    /// Whether this replica runs the loops now.
    leader: crate::leadership::Leadership,
}

/// Why a pass failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Github(#[from] super::GithubError),
}

impl GithubSync {
    pub fn new(
        db: Db,
        adapter: GithubAdapter,
        preview_domain: Option<String>,
        tuning: SyncTuning,
        signal: PublishSignal,
        wake_engine: Arc<dyn Fn() + Send + Sync>,
    ) -> Arc<Self> {
        Arc::new(Self {
            db,
            adapter,
            preview_domain,
            tuning,
            signal,
            wake_engine,
            state: Mutex::new(LoopState::default()),
            last_sweep: std::sync::Mutex::new(None),
            leader: crate::leadership::Leadership::always(),
        })
    }

    /// Starts both loops; they run until the runtime stops.
    pub fn spawn(self: &Arc<Self>) {
        let publisher = self.clone();
        tokio::spawn(async move { publisher.run_publisher().await });
        let sweeper = self.clone();
        tokio::spawn(async move { sweeper.run_sweeper().await });
    }

    async fn run_publisher(&self) {
        let mut leader = self.leader.clone();
        // Woken by a signal: a pass over what changed will do (a full pass still runs
        // every `publish_interval`). Timers and leadership changes pass over everything.
        let mut woken = false;
        loop {
            if !leader.is_leader() {
                self.stand_down().await;
                leader.until_leader().await;
                tracing::info!("publishing to GitHub from this replica");
            }
            let pass_started = tokio::time::Instant::now();
            if let Err(e) = self.publish_pass(woken).await {
                tracing::warn!(error = %e, "publishing pass failed");
            }
            woken = false;
            tokio::select! {
                () = self.signal.notified() => {
                    woken = true;
                    // Every applied webhook and every engine event wakes the publisher;
                    // a pass reads all live pull requests, so a burst of wakes makes one
                    // pass per `PASS_SPACING` instead of back-to-back passes that kept
                    // the database busy under the webhook intake (500 deliveries/s).
                    tokio::time::sleep_until(pass_started + PASS_SPACING).await;
                }
                () = tokio::time::sleep(self.tuning.publish_interval) => {}
                () = leader.until_follower() => {}
            }
        }
    }

    /// Another replica leads: forget what was handed out and not recorded, so nothing
    /// stale is written and the next turn starts from what is stored.
    async fn stand_down(&self) {
        let mut state = self.state.lock().await;
        *state = LoopState::default();
        self.adapter.publisher.stand_down();
    }

    async fn run_sweeper(&self) {
        let mut leader = self.leader.clone();
        loop {
            leader.until_leader().await;
            let report = self.sweep_once().await;
            tracing::info!(
                repositories = report.repositories,
                not_modified = report.not_modified,
                opened = report.opened,
                updated = report.updated,
                closed = report.closed,
                errors = report.errors,
                calls = report.calls,
                rate_limited_calls = report.rate_limited_calls,
                duration_ms = u64::try_from(report.duration.as_millis()).unwrap_or(u64::MAX),
                "github sweep"
            );
            tokio::time::sleep(self.tuning.sweep_interval).await;
        }
    }

    /// One publishing pass over every pull request: records what GitHub confirmed since
    /// the last pass, then hands every pull request whose state differs from what was
    /// published to the publisher.
    pub async fn publish_once(&self) -> Result<PublishReport, SyncError> {
        self.publish_pass(false).await
    }

    /// A publishing pass. With `only_changes`, and a full pass within the last
    /// `publish_interval`, it looks only at environments where an input of the comment
    /// changed since shortly before the previous pass: a burst of 500 pull requests
    /// woke the publisher every 50 ms, and each pass read and rendered all 500. Of
    /// those it reads whole only the ones whose inputs' stamps differ from the ones it
    /// last rendered ([`LoopState::rendered`]).
    async fn publish_pass(&self, only_changes: bool) -> Result<PublishReport, SyncError> {
        let mut state = self.state.lock().await;
        let started = Utc::now();
        let term_started = *state.term_started.get_or_insert(started);
        let full_pass_due = state
            .last_full_pass
            .is_none_or(|t| t.elapsed() >= self.tuning.publish_interval);
        let changed_since = match state.last_pass_started {
            Some(previous) if only_changes && !full_pass_due => Some(previous - CHANGE_MARGIN),
            _ => None,
        };
        let mut report = PublishReport {
            recorded: self.record_settled(&mut state).await?,
            ..PublishReport::default()
        };
        let settings = &self.adapter.settings;
        let window = TimeDelta::from_std(self.tuning.deleted_window).unwrap_or(TimeDelta::MAX);
        let since = started
            .checked_sub_signed(window)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let reads = self.db.background_reads();
        let candidates = match changed_since {
            None => {
                let all = store::publish_candidates(&reads, since).await?;
                state.rendered.clear();
                all
            }
            Some(t) => {
                let moved: Vec<String> = store::changed_stamps(&reads, since, t)
                    .await?
                    .into_iter()
                    .filter(|(id, stamps)| state.rendered.get(id) != Some(stamps))
                    .map(|(id, _)| id)
                    .collect();
                if moved.is_empty() {
                    Vec::new()
                } else {
                    store::publish_candidates_among(&reads, &moved).await?
                }
            }
        };
        for candidate in candidates {
            let Some(pr) = pr_ref(&candidate.pull_request, Some(&candidate.repository)) else {
                report.skipped += 1;
                continue;
            };
            let limited = self.adapter.client.rate_limited_until(pr.installation);
            let planned = plan(&candidate, settings, limited)?;
            // Looked at: until an input moves, a pass over changes need not read it again
            // (a failed pass above leaves it out, to be read again).
            state
                .rendered
                .insert(candidate.environment.id.clone(), candidate.stamps());
            let Some(plan) = planned else {
                continue;
            };
            let stored = candidate.publication.as_ref();
            let published = stored.and_then(|p| p.fingerprint.as_deref());
            let unseen = Unseen::of(
                &candidate.pull_request,
                candidate.deployment.as_ref(),
                term_started,
            );
            if self.hand_over(
                &mut state,
                &candidate.pull_request.id,
                pr,
                plan,
                published,
                stored.map(published_of).as_ref(),
                &unseen,
                false,
            ) {
                report.handed += 1;
            }
        }
        for (pull, publication) in store::unnotified_unconfigured(&reads).await? {
            let Some(pr) = pr_ref(&pull, None) else {
                continue;
            };
            let plan = config_missing_plan(&pull, settings);
            let stored = publication.as_ref().map(published_of);
            let unseen = Unseen::of(&pull, None, term_started);
            let stored = stored.as_ref();
            if self.hand_over(&mut state, &pull.id, pr, plan, None, stored, &unseen, true) {
                report.handed += 1;
            }
        }
        state.last_pass_started = Some(started);
        if changed_since.is_none() {
            state.last_full_pass = Some(tokio::time::Instant::now());
        }
        Ok(report)
    }

    /// Waits (at most `timeout`) until every handed update is settled and records it.
    /// For tests and an orderly shutdown.
    pub async fn settle(&self, timeout: Duration) -> Result<usize, SyncError> {
        let waits: Vec<_> = {
            let state = self.state.lock().await;
            state
                .inflight
                .values()
                .map(|i| (i.pr.clone(), i.generation))
                .collect()
        };
        let publisher = &self.adapter.publisher;
        let all = futures::future::join_all(
            waits
                .iter()
                .map(|(pr, generation)| publisher.settled(pr, *generation)),
        );
        if tokio::time::timeout(timeout, all).await.is_err() {
            tracing::warn!("GitHub updates still pending after {timeout:?}");
        }
        let mut state = self.state.lock().await;
        self.record_settled(&mut state).await
    }

    /// The adapter the loops write through (its client's stats and breaker states).
    pub fn adapter(&self) -> &GithubAdapter {
        &self.adapter
    }

    /// The figures of the latest sweep.
    pub fn last_sweep(&self) -> Option<SweepReport> {
        self.last_sweep
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Hands one plan to the publisher unless it is what was last published (or is
    /// already on its way). Returns whether it was handed over.
    #[allow(clippy::too_many_arguments)]
    fn hand_over(
        &self,
        state: &mut LoopState,
        pull_request_id: &str,
        pr: PullRequestRef,
        plan: Plan,
        published_fingerprint: Option<&str>,
        stored: Option<&Published>,
        unseen: &Unseen,
        config_missing: bool,
    ) -> bool {
        let body = render(&plan.view);
        let fingerprint = fingerprint(&body, plan.deployment.as_ref());
        let current = state
            .inflight
            .get(pull_request_id)
            .map(|i| i.fingerprint.as_str())
            .or(published_fingerprint);
        if current == Some(fingerprint.as_str()) {
            return false;
        }
        let publisher = &self.adapter.publisher;
        if !state.primed.contains_key(pull_request_id) {
            state.primed.insert(pull_request_id.to_owned(), None);
            match stored {
                Some(stored) => {
                    if let Some(id) = stored.comment_id.and_then(|id| u64::try_from(id).ok()) {
                        publisher.remember_comment_id(&pr, CommentId(id));
                    }
                    if let (Some(attempt), Some(id)) = (
                        stored.deployment_attempt.clone(),
                        stored
                            .github_deployment_id
                            .and_then(|id| u64::try_from(id).ok()),
                    ) {
                        let posted = stored.deployment_state.as_deref().and_then(state_from_str);
                        publisher.remember_deployment(&pr, attempt, DeploymentId(id), posted);
                    }
                }
                // The first hand-over of the term vouches; a later one may follow a
                // create that failed half-way.
                None if unseen.comment => publisher.assume_uncommented(&pr),
                None => {}
            }
        }
        // An attempt that GitHub never saw needs no "inactive" status, and a status
        // already posted to the attempt is not posted again (only the comment changed).
        let deployment = plan.deployment.filter(|intent| {
            let seen = publisher
                .state(&pr)
                .deployment
                .is_some_and(|(attempt, _)| attempt == intent.attempt);
            let posted = stored.is_some_and(|s| {
                s.deployment_attempt.as_deref() == Some(intent.attempt.as_str())
                    && s.deployment_state.as_deref() == Some(intent.status.state.as_str())
            });
            (seen || intent.status.state != DeploymentState::Inactive) && !posted
        });
        // Likewise the first hand-over of an attempt in this term.
        if let Some(attempt) = unseen.attempt.as_ref().filter(|attempt| {
            deployment.as_ref().is_some_and(|i| &i.attempt == *attempt)
                && stored.is_none_or(|s| s.deployment_attempt.as_ref() != Some(*attempt))
                && state.primed.get(pull_request_id).and_then(Option::as_ref) != Some(*attempt)
        }) {
            state
                .primed
                .insert(pull_request_id.to_owned(), Some(attempt.clone()));
            publisher.assume_new_attempt(&pr, attempt.clone());
        }
        let posted = deployment
            .as_ref()
            .map(|intent| (intent.attempt.clone(), intent.status.state));
        let last = config_missing || plan.view.status == CommentStatus::CleanedUp;
        let generation = publisher.publish(&pr, Some(body), deployment);
        state.inflight.insert(
            pull_request_id.to_owned(),
            Inflight {
                pr,
                generation,
                fingerprint,
                deployment: posted,
                previous_state: stored.and_then(|s| s.deployment_state.clone()),
                config_missing,
                last,
            },
        );
        true
    }

    /// Stores what the publisher finished since the last pass, in one transaction of two
    /// statements: in a burst every save on its own queued behind the webhooks waiting
    /// for the SQLite writer, and the pass (and so every first comment) waited for all
    /// of them; a statement per pull request held the writer for milliseconds, and every
    /// webhook arriving meanwhile waited (the acknowledgement tail at 500/s). An update
    /// leaves the in-flight set only once its record is committed.
    async fn record_settled(&self, state: &mut LoopState) -> Result<usize, SyncError> {
        let publisher = &self.adapter.publisher;
        let done: Vec<String> = state
            .inflight
            .iter()
            .filter(|(_, i)| publisher.state(&i.pr).published >= i.generation)
            .map(|(id, _)| id.clone())
            .collect();
        if done.is_empty() {
            return Ok(0);
        }
        let mut records = Vec::with_capacity(done.len());
        let mut config_missing = Vec::new();
        for id in &done {
            let Some(inflight) = state.inflight.get(id) else {
                continue;
            };
            let published = publisher.state(&inflight.pr);
            if let Some(error) = &published.last_error {
                tracing::warn!(pr = %inflight.pr, %error, "GitHub refused an update; not retried until the state changes");
            }
            let github_deployment = published.deployment.clone();
            let deployment_state = match &inflight.deployment {
                Some((attempt, state)) => github_deployment
                    .as_ref()
                    .filter(|(current, _)| current == attempt)
                    .map(|_| state.as_str().to_owned()),
                None => inflight.previous_state.clone(),
            };
            let record = Published {
                comment_id: published.comment_id.and_then(|c| i64::try_from(c.0).ok()),
                fingerprint: Some(inflight.fingerprint.clone()),
                deployment_attempt: github_deployment.as_ref().map(|(a, _)| a.clone()),
                github_deployment_id: github_deployment.and_then(|(_, d)| i64::try_from(d.0).ok()),
                deployment_state,
            };
            records.push((id.clone(), record));
            // Also after a refusal (no permission to comment, say): asking again every
            // few seconds would not change GitHub's mind.
            if inflight.config_missing {
                config_missing.push(id.clone());
            }
        }
        let txn = self.db.begin().await.map_err(StoreError::from)?;
        store::save_publications(&txn, &records).await?;
        store::mark_config_missing_notified(&txn, &config_missing, Utc::now()).await?;
        txn.commit().await.map_err(StoreError::from)?;
        for id in &done {
            let Some(inflight) = state.inflight.remove(id) else {
                continue;
            };
            if inflight.last {
                publisher.forget(&inflight.pr);
                state.primed.remove(id);
            }
        }
        Ok(done.len())
    }
}

fn published_of(p: &crate::store::entities::pull_request_publication::Model) -> Published {
    Published {
        comment_id: p.comment_id,
        fingerprint: p.fingerprint.clone(),
        deployment_attempt: p.deployment_attempt.clone(),
        github_deployment_id: p.github_deployment_id,
        deployment_state: p.deployment_state.clone(),
    }
}

fn state_from_str(s: &str) -> Option<DeploymentState> {
    Some(match s {
        "queued" => DeploymentState::Queued,
        "in_progress" => DeploymentState::InProgress,
        "success" => DeploymentState::Success,
        "failure" => DeploymentState::Failure,
        "error" => DeploymentState::Error,
        "inactive" => DeploymentState::Inactive,
        _ => return None,
    })
}

/// Starts the GitHub side of Catalyst on `db`: the adapter (tokens persisted sealed in the
/// database), a check that the configured encryption key opens the stored tokens, and the
/// publishing and sweep loops. Every configuration problem is an error here, at start-up.
pub async fn start(
    db: Db,
    settings: GithubSettings,
    preview_domain: Option<String>,
    tuning: SyncTuning,
    signal: PublishSignal,
    wake_engine: Arc<dyn Fn() + Send + Sync>,
) -> Result<Arc<GithubSync>, SyncError> {
    start_led(
        db,
        settings,
        preview_domain,
        tuning,
        signal,
        wake_engine,
        crate::leadership::Leadership::always(),
    )
    .await
}

/// [`start`] on one replica of several: the loops run only while `leader` says so.
pub async fn start_led(
    db: Db,
    settings: GithubSettings,
    preview_domain: Option<String>,
    tuning: SyncTuning,
    signal: PublishSignal,
    wake_engine: Arc<dyn Fn() + Send + Sync>,
    leader: crate::leadership::Leadership,
) -> Result<Arc<GithubSync>, SyncError> {
    let tokens = Arc::new(store::DbTokenStore::new(db.clone()));
    let adapter = GithubAdapter::start(settings, tokens)?;
    if let Some((installation, sealed)) = store::any_sealed_token(&db).await? {
        let key = super::EncryptionKey::parse(adapter.settings.encryption_key.as_deref())
            .map_err(super::GithubError::from)?;
        super::auth::open_sealed(&key, installation, &sealed)?;
    }
    let mut sync = GithubSync::new(db, adapter, preview_domain, tuning, signal, wake_engine);
    if let Some(s) = Arc::get_mut(&mut sync) {
        s.leader = leader;
    }
    sync.spawn();
    Ok(sync)
}

/// The pull request on GitHub: its installation (the webhook's, else the repository's).
fn pr_ref(pr: &pull_request::Model, repo: Option<&repository::Model>) -> Option<PullRequestRef> {
    let installation = pr
        .installation_id
        .or(repo.and_then(|r| r.installation_id))
        .and_then(|id| u64::try_from(id).ok())?;
    Some(PullRequestRef {
        installation: InstallationId(installation),
        repo: RepositoryName::parse(&pr.repository_full_name).ok()?,
        number: PullRequestNumber(u64::try_from(pr.number).ok()?),
    })
}
