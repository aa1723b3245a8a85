//! Keeps each PR's comment and deployment status on GitHub equal to the newest state,
//! whatever GitHub's rate limits do. Each PR has one slot holding the latest wanted
//! comment body and deployment status (latest wins: an update replaces what is still
//! waiting), and at most one worker task writing it, so two updates racing for the
//! same PR can never both create a comment. While the installation's breaker is open
//! the worker sleeps until it may try again; updates arriving meanwhile only replace
//! the slot's content, and after the reset the newest state is written once.
//!
//! The engine calls [`PrPublisher::publish`] (or the `publish_*` helpers) whenever an
//! environment changes and never waits for GitHub. It may hand over a comment id it
//! stored earlier ([`PrPublisher::remember_comment_id`]), or vouch that the PR has no
//! comment yet ([`PrPublisher::assume_uncommented`]) or an attempt no deployment
//! ([`PrPublisher::assume_new_attempt`]), and read the ids back from [`PublishState`] to
//! store them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::core::backoff;
use crate::core::comment::{CommentView, render};
use crate::core::domain::CommitSha;

use super::comments::{CommentId, KnownComment};
use super::deployments::{DeploymentId, DeploymentState, DeploymentStatusUpdate};
use super::{GithubClient, GithubError, PullRequestRef};

/// The deployment side of an update: which attempt, at which commit, in which state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentIntent {
    /// The engine's id of the attempt; a new attempt gets a new GitHub deployment.
    pub attempt: String,
    pub sha: CommitSha,
    pub status: DeploymentStatusUpdate,
}

/// Where a PR's publishing stands, for the dashboard, the engine and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PublishState {
    /// Generation of the newest update handed in.
    pub requested: u64,
    /// Generation of the newest update fully handled (written, or dropped after a
    /// permanent error).
    pub published: u64,
    pub comment_id: Option<CommentId>,
    /// The newest attempt's GitHub deployment.
    pub deployment: Option<(String, DeploymentId)>,
    /// Set while GitHub asked us to wait (rate limit or open breaker).
    pub waiting_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// Tuning of the workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublisherTuning {
    /// Longest sleep while waiting for a breaker: a half-open breaker lets one probe
    /// through, and the others should follow soon after it succeeds.
    pub poll_interval: Duration,
    /// Backoff after transient errors that did not open the breaker.
    pub error_base: Duration,
    pub error_cap: Duration,
    /// Least time between two writes to the same pull request. States that follow each
    /// other faster coalesce into one edit (the newest wins): in a burst a preview goes
    /// from queued to ready within a second, and writing every step cost about four
    /// comment edits and three deployment statuses per pull request, each counted
    /// against the installation's hourly budget and GitHub's secondary limit on
    /// content-creating requests. A PR's first comment is never held back; its first
    /// deployment is, like an edit.
    pub edit_spacing: Duration,
}

impl Default for PublisherTuning {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            error_base: Duration::from_secs(1),
            error_cap: Duration::from_secs(60),
            edit_spacing: Duration::from_secs(1),
        }
    }
}

#[derive(Default)]
struct Pending {
    comment: Option<String>,
    deployment: Option<DeploymentIntent>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.comment.is_none() && self.deployment.is_none()
    }
}

struct Slot {
    pending: Pending,
    running: bool,
    /// The newest attempt's deployment and the last state posted for it.
    current: Option<CurrentDeployment>,
    /// The body last written, so republishing an unchanged state (the periodic
    /// reconciler does) costs no request.
    written_comment: Option<String>,
    /// When the last round that sent something ended ([`PublisherTuning::edit_spacing`]).
    /// Kept in the slot, not the worker, so a worker started later still keeps the pace.
    written_at: Option<tokio::time::Instant>,
    /// The PR certainly has no sticky comment ([`PrPublisher::assume_uncommented`]). Used
    /// up by the first round that writes a comment, whatever becomes of it: a create
    /// that failed may still have created the comment, so a retry lists first.
    uncommented: bool,
    /// An attempt that certainly has no GitHub deployment yet
    /// ([`PrPublisher::assume_new_attempt`]), used up likewise by the first round that
    /// creates its deployment.
    new_attempt: Option<String>,
    state: watch::Sender<PublishState>,
}

struct CurrentDeployment {
    attempt: String,
    id: DeploymentId,
    posted: Option<DeploymentState>,
}

impl Slot {
    fn new() -> Self {
        Self {
            pending: Pending::default(),
            running: false,
            current: None,
            written_comment: None,
            written_at: None,
            uncommented: false,
            new_attempt: None,
            state: watch::Sender::new(PublishState::default()),
        }
    }
}

/// The per-PR publisher. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct PrPublisher {
    inner: Arc<Inner>,
}

struct Inner {
    client: GithubClient,
    tuning: PublisherTuning,
    slots: Mutex<HashMap<PullRequestRef, Slot>>,
    /// Bumped by [`PrPublisher::stand_down`]; a round taken before is not retried.
    epoch: std::sync::atomic::AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl PrPublisher {
    pub fn new(client: GithubClient, tuning: PublisherTuning) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                tuning,
                slots: Mutex::new(HashMap::new()),
                epoch: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// Hands in the newest wanted state of `pr`; `None` parts keep what is pending.
    /// Returns the update's generation (see [`PrPublisher::settled`]). Must be called
    /// inside a Tokio runtime (it may start the PR's worker).
    pub fn publish(
        &self,
        pr: &PullRequestRef,
        comment: Option<String>,
        deployment: Option<DeploymentIntent>,
    ) -> u64 {
        let mut slots = lock(&self.inner.slots);
        let slot = slots.entry(pr.clone()).or_insert_with(Slot::new);
        if comment.is_some() {
            slot.pending.comment = comment;
        }
        if deployment.is_some() {
            slot.pending.deployment = deployment;
        }
        let mut generation = 0;
        slot.state.send_modify(|s| {
            s.requested += 1;
            generation = s.requested;
        });
        if !slot.running {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    slot.running = true;
                    runtime.spawn(run(self.inner.clone(), pr.clone()));
                }
                Err(_) => tracing::error!(%pr, "PR publisher used outside a Tokio runtime"),
            }
        }
        generation
    }

    /// [`PrPublisher::publish`] of a rendered comment only.
    pub fn publish_comment(&self, pr: &PullRequestRef, view: &CommentView) -> u64 {
        self.publish(pr, Some(render(view)), None)
    }

    /// [`PrPublisher::publish`] of a deployment status only.
    pub fn publish_deployment(&self, pr: &PullRequestRef, intent: DeploymentIntent) -> u64 {
        self.publish(pr, None, Some(intent))
    }

    /// A comment id the engine stored earlier (after a restart), so the first write edits
    /// it without listing. A wrong or deleted id is harmless: the comment is searched.
    pub fn remember_comment_id(&self, pr: &PullRequestRef, id: CommentId) {
        let mut slots = lock(&self.inner.slots);
        let slot = slots.entry(pr.clone()).or_insert_with(Slot::new);
        slot.uncommented = false;
        slot.state.send_modify(|s| {
            s.comment_id.get_or_insert(id);
        });
    }

    /// The caller knows `pr` has no sticky comment (Catalyst saw it open and nothing has
    /// tried to comment on it since), so its first comment is created without listing
    /// the PR's comments. Ignored when a comment id is known already.
    pub fn assume_uncommented(&self, pr: &PullRequestRef) {
        let mut slots = lock(&self.inner.slots);
        let slot = slots.entry(pr.clone()).or_insert_with(Slot::new);
        slot.uncommented = slot.state.borrow().comment_id.is_none();
    }

    /// The caller knows no GitHub deployment carries `attempt` (it was created after the
    /// caller began publishing, and not handed over before), so its deployment is created
    /// without listing the commit's deployments. Ignored when the attempt's deployment
    /// is known already.
    pub fn assume_new_attempt(&self, pr: &PullRequestRef, attempt: String) {
        let mut slots = lock(&self.inner.slots);
        let slot = slots.entry(pr.clone()).or_insert_with(Slot::new);
        let known = slot.current.as_ref().is_some_and(|c| c.attempt == attempt);
        slot.new_attempt = (!known).then_some(attempt);
    }

    /// The GitHub deployment of `attempt` stored earlier (after a restart), and the last
    /// state posted to it, so the attempt's next status goes to the same deployment.
    pub fn remember_deployment(
        &self,
        pr: &PullRequestRef,
        attempt: String,
        id: DeploymentId,
        posted: Option<DeploymentState>,
    ) {
        let mut slots = lock(&self.inner.slots);
        let slot = slots.entry(pr.clone()).or_insert_with(Slot::new);
        if slot.current.is_some() {
            return;
        }
        slot.current = Some(CurrentDeployment {
            attempt: attempt.clone(),
            id,
            posted,
        });
        slot.state
            .send_modify(|s| s.deployment = Some((attempt, id)));
    }

    pub fn state(&self, pr: &PullRequestRef) -> PublishState {
        lock(&self.inner.slots)
            .get(pr)
            .map(|slot| slot.state.borrow().clone())
            .unwrap_or_default()
    }

    /// Follows `pr`'s state.
    pub fn subscribe(&self, pr: &PullRequestRef) -> watch::Receiver<PublishState> {
        let mut slots = lock(&self.inner.slots);
        slots
            .entry(pr.clone())
            .or_insert_with(Slot::new)
            .state
            .subscribe()
    }

    /// Waits until update `generation` (or a newer one) of `pr` has been handled.
    pub async fn settled(&self, pr: &PullRequestRef, generation: u64) -> PublishState {
        let mut rx = self.subscribe(pr);
        match rx.wait_for(|s| s.published >= generation).await {
            Ok(state) => state.clone(),
            // The sender lives in the slot, which is never dropped while we hold it.
            Err(_) => self.state(pr),
        }
    }

    /// Another replica publishes from now on: drops every update not yet written (a
    /// write in progress finishes but is not retried) and what was last written, so
    /// nothing stale is written later and, on a later return, everything is
    /// compared afresh.
    pub fn stand_down(&self) {
        let mut slots = lock(&self.inner.slots);
        self.inner
            .epoch
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        slots.retain(|_, slot| {
            slot.pending = Pending::default();
            slot.written_comment = None;
            // Another replica may comment and deploy meanwhile.
            slot.uncommented = false;
            slot.new_attempt = None;
            // A running worker finds nothing pending and stops; its slot stays so no
            // second worker starts for the PR meanwhile.
            slot.running
        });
    }

    /// Forgets a PR that is gone (after its final comment settled).
    pub fn forget(&self, pr: &PullRequestRef) {
        let mut slots = lock(&self.inner.slots);
        if slots
            .get(pr)
            .is_some_and(|s| !s.running && s.pending.is_empty())
        {
            slots.remove(pr);
        }
    }
}

/// What the worker takes out of the slot for one round.
struct Round {
    generation: u64,
    /// [`Inner::epoch`] when the round was taken.
    epoch: u64,
    comment: Option<String>,
    deployment: Option<DeploymentIntent>,
    /// What is known of the comment to write.
    known_comment: KnownComment,
    deployment_id: Option<DeploymentId>,
    /// The attempt's deployment is created without looking for one first.
    new_deployment: bool,
    /// The previous attempt's deployment, still shown as queued or in progress: it is
    /// marked inactive before the new one is created, or GitHub would show it running
    /// forever (`auto_inactive` only retires successful deployments).
    superseded: Option<DeploymentId>,
}

/// The PR's worker: writes what is pending until nothing is.
async fn run(inner: Arc<Inner>, pr: PullRequestRef) {
    let mut errors = 0u32;
    loop {
        // Keep the pace: what is handed in meanwhile replaces what is pending.
        if let Some(next) = next_write_at(&inner, &pr) {
            tokio::time::sleep_until(next).await;
        }
        let Some(mut round) = take(&inner, &pr) else {
            return;
        };
        let sends = round.comment.is_some() || round.deployment.is_some();
        let error = match write(&inner, &pr, &mut round).await {
            Ok(()) => {
                errors = 0;
                if sends && let Some(slot) = lock(&inner.slots).get_mut(&pr) {
                    slot.written_at = Some(tokio::time::Instant::now());
                }
                finish(&inner, &pr, round.generation, None);
                continue;
            }
            Err(error) => error,
        };
        let (wait, until) = if let Some(until) = error.retry_at() {
            let left = (until - Utc::now()).to_std().unwrap_or_default();
            (left.min(inner.tuning.poll_interval), Some(until))
        } else if error.is_temporary() {
            let wait = backoff::delay_at_least(
                errors,
                inner.tuning.error_base,
                inner.tuning.error_cap,
                inner.tuning.error_base / 2,
                rand::random::<u64>(),
            );
            errors = errors.saturating_add(1);
            (wait, None)
        } else {
            // A 403/404/422: the same write will fail again; newer updates still run.
            tracing::warn!(%pr, error = %error, "dropping a GitHub update that cannot succeed");
            finish(&inner, &pr, round.generation, Some(error.to_string()));
            continue;
        };
        put_back(&inner, &pr, round, until, &error);
        tokio::time::sleep(wait).await;
    }
}

/// When the PR's next write may start, if something waits for it and that is still
/// ahead (a worker with nothing to write stops at once, so [`PrPublisher::forget`] can
/// drop the slot).
fn next_write_at(inner: &Inner, pr: &PullRequestRef) -> Option<tokio::time::Instant> {
    let slots = lock(&inner.slots);
    let slot = slots.get(pr).filter(|slot| !slot.pending.is_empty())?;
    let next = slot.written_at? + inner.tuning.edit_spacing;
    (next > tokio::time::Instant::now()).then_some(next)
}

/// Takes the pending work, or marks the worker stopped when there is none (under the
/// lock, so a concurrent `publish` either sees `running` or starts a new worker).
fn take(inner: &Inner, pr: &PullRequestRef) -> Option<Round> {
    let mut slots = lock(&inner.slots);
    let slot = slots.get_mut(pr)?;
    if slot.pending.is_empty() {
        slot.running = false;
        return None;
    }
    let mut pending = std::mem::take(&mut slot.pending);
    if pending.comment.is_some() && pending.comment == slot.written_comment {
        pending.comment = None;
    }
    // A PR's first write is its comment alone: the deployment waits the spacing like an
    // edit, and is then created with the state of that moment. In a burst the first
    // rounds are what every new pull request's first comment (and every Job, on the
    // same cores) waits behind, and a deployment created at once only had its `queued`
    // status overtaken within the second anyway.
    let held = slot.written_at.is_none()
        && !inner.tuning.edit_spacing.is_zero()
        && pending.comment.is_some()
        && pending.deployment.is_some();
    if held {
        slot.pending.deployment = pending.deployment.take();
    }
    let uncommented = pending.comment.is_some() && std::mem::take(&mut slot.uncommented);
    let state = slot.state.borrow();
    let known_comment = match state.comment_id {
        Some(id) => KnownComment::Id(id),
        None if uncommented => KnownComment::Absent,
        None => KnownComment::Unknown,
    };
    let (deployment_id, superseded) = match (&pending.deployment, &slot.current) {
        (Some(intent), Some(current)) if current.attempt == intent.attempt => {
            (Some(current.id), None)
        }
        (Some(_), Some(current)) => {
            let live = matches!(
                current.posted,
                None | Some(DeploymentState::Queued | DeploymentState::InProgress)
            );
            (None, live.then_some(current.id))
        }
        _ => (None, None),
    };
    let new_deployment = match (&pending.deployment, deployment_id) {
        (Some(intent), None) => slot
            .new_attempt
            .take_if(|attempt| *attempt == intent.attempt)
            .is_some(),
        _ => false,
    };
    Some(Round {
        // A round that leaves part of the update behind does not settle it.
        generation: if held {
            state.published
        } else {
            state.requested
        },
        epoch: inner.epoch.load(std::sync::atomic::Ordering::SeqCst),
        comment: pending.comment,
        deployment: pending.deployment,
        known_comment,
        deployment_id,
        new_deployment,
        superseded,
    })
}

/// Returns unfinished work to the slot; anything published meanwhile is newer and wins.
fn put_back(
    inner: &Inner,
    pr: &PullRequestRef,
    round: Round,
    until: Option<DateTime<Utc>>,
    error: &GithubError,
) {
    let mut slots = lock(&inner.slots);
    let Some(slot) = slots.get_mut(pr) else {
        return;
    };
    if round.epoch != inner.epoch.load(std::sync::atomic::Ordering::SeqCst) {
        // Taken before a stand-down: another replica publishes now.
        return;
    }
    if slot.pending.comment.is_none() {
        slot.pending.comment = round.comment;
    }
    if slot.pending.deployment.is_none() {
        slot.pending.deployment = round.deployment;
    }
    slot.state.send_modify(|s| {
        s.waiting_until = until;
        s.last_error = Some(error.to_string());
    });
}

fn finish(inner: &Inner, pr: &PullRequestRef, generation: u64, error: Option<String>) {
    let slots = lock(&inner.slots);
    if let Some(slot) = slots.get(pr) {
        slot.state.send_modify(|s| {
            s.published = s.published.max(generation);
            s.waiting_until = None;
            s.last_error = error;
        });
    }
}

/// Writes one round: the comment first (people read it), then the deployment status.
/// Each part that succeeds is removed from the round, so a retry repeats only the rest.
async fn write(inner: &Inner, pr: &PullRequestRef, round: &mut Round) -> Result<(), GithubError> {
    let client = &inner.client;
    if let Some(body) = &round.comment {
        let written = client
            .upsert_sticky_comment(pr, round.known_comment, body)
            .await?;
        round.known_comment = KnownComment::Id(written.id());
        let body = round.comment.take();
        if let Some(slot) = lock(&inner.slots).get_mut(pr) {
            slot.written_comment = body;
            slot.state
                .send_modify(|s| s.comment_id = Some(written.id()));
        }
    }
    if let Some(intent) = &round.deployment {
        let id = match round.deployment_id {
            Some(id) => id,
            None => {
                if let Some(old) = round.superseded {
                    retire(client, pr, old).await?;
                    round.superseded = None;
                }
                let description = format!("Catalyst preview of {}", short(&intent.sha));
                let id = if std::mem::take(&mut round.new_deployment) {
                    client
                        .create_deployment(pr, &intent.sha, Some(&intent.attempt), &description)
                        .await?
                } else {
                    client
                        .find_or_create_deployment(pr, &intent.sha, &intent.attempt, &description)
                        .await?
                };
                round.deployment_id = Some(id);
                if let Some(slot) = lock(&inner.slots).get_mut(pr) {
                    slot.current = Some(CurrentDeployment {
                        attempt: intent.attempt.clone(),
                        id,
                        posted: None,
                    });
                    slot.state
                        .send_modify(|s| s.deployment = Some((intent.attempt.clone(), id)));
                }
                id
            }
        };
        client
            .create_deployment_status(pr, id, &intent.status)
            .await?;
        if let Some(current) = lock(&inner.slots)
            .get_mut(pr)
            .and_then(|slot| slot.current.as_mut())
            .filter(|current| current.id == id)
        {
            current.posted = Some(intent.status.state);
        }
        round.deployment = None;
    }
    Ok(())
}

/// Marks a superseded deployment inactive. GitHub refusing (it was deleted, say) does
/// not hold up the new attempt; waiting for a rate limit does.
async fn retire(
    client: &GithubClient,
    pr: &PullRequestRef,
    old: DeploymentId,
) -> Result<(), GithubError> {
    let inactive = DeploymentStatusUpdate {
        state: DeploymentState::Inactive,
        environment_url: None,
        log_url: None,
        description: Some("Superseded by a newer deployment".to_owned()),
    };
    match client.create_deployment_status(pr, old, &inactive).await {
        Err(e) if e.retry_at().is_some() || e.is_temporary() => Err(e),
        Err(e) => {
            tracing::info!(%pr, deployment = old.0, error = %e, "cannot retire a superseded deployment");
            Ok(())
        }
        Ok(()) => Ok(()),
    }
}

fn short(sha: &CommitSha) -> String {
    sha.as_str().chars().take(7).collect()
}
