//! `reconcile_environment`: read one environment's world, take the next step, persist,
//! repeat until the world has to change on its own (a Job running, a namespace
//! terminating, a retry's backoff, a free slot).
//!
//! Every step is safe to repeat: the namespace kit is server-side applied, the Job of
//! an attempt has a fixed name (`catalyst-deploy-{sha12}-{attempt}`) and is found
//! rather than created twice, attempts are unique per environment, and each phase is
//! written before the next step relies on it. Kill the process anywhere and the next
//! reconcile continues from what is recorded.

use std::hash::{Hash, Hasher};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};

use crate::cluster::health::{self, HealthOptions};
use crate::cluster::{
    ClusterError, EnvironmentSpec, HealthOutcome, JobOutcome, NamespaceState, diagnostics,
    namespaces, pr_pod,
};
use crate::core::deployment::{Event, FailureStage, Phase, transition};
use crate::core::environment_status::{self as core_status, Desired, StatusInputs};
use crate::core::retry::{RetryDecision, RetryHistory};
use crate::github::eligibility::RepositoryPolicy;
use crate::store::deployments;
use crate::store::engine::{self as engine_store, EnvironmentUpdate, engine_state};
use crate::store::entities::{deployment, preview_environment, pull_request, repository};
use crate::store::operator_requests::environment_request;
use crate::store::pull_request_configs::{self, pull_request_config};
use crate::store::world;

use super::admission::{self, Admission};
use super::events::EnvironmentEvent;
use super::preview_config::{FetchFailure, RecordedConfig};
use super::spec;
use super::{Context, Kick, Result};

/// What the scheduler should do with the environment after a reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Nothing to do until desired state changes (or the next resync).
    Done,
    /// Look again after this long.
    After(Duration),
    /// Waiting for a deployment slot; woken when one is freed.
    Queued,
}

/// How many steps one reconcile takes at most before yielding to the scheduler.
const MAX_STEPS: usize = 24;

/// One environment's world as recorded in the database.
#[derive(Clone)]
pub(crate) struct World {
    pub env: preview_environment::Model,
    pub pr: Option<pull_request::Model>,
    pub repo: Option<repository::Model>,
    /// Oldest first.
    pub attempts: Vec<deployment::Model>,
    pub state: engine_state::Model,
    /// What people asked for from the dashboard, the API or MCP.
    pub request: Option<environment_request::Model>,
    /// `.catalyst/preview.yaml` as last read (at whatever SHA).
    pub config: Option<pull_request_config::Model>,
}

impl World {
    async fn read(ctx: &Context, id: &str) -> Result<Option<Self>> {
        // On the writer (see `store::Db`): a reconcile reads what it and other
        // reconciles just wrote, and a SQLite reader drops its whole page cache whenever
        // anything was committed since its last read, which under a burst of pull
        // requests is every time (the 50-PR benchmark's Job p95 rose by 40 % on readers).
        // Two statements (see `store::world`), side by side: on PostgreSQL they run on
        // the pool; SQLite's one writer queues them back to back.
        let db = &ctx.db;
        ctx.metrics
            .world_reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (rows, attempts) = tokio::try_join!(
            world::environment_rows(db, id),
            deployments::for_environment(db, id),
        )?;
        let Some(rows) = rows else {
            return Ok(None);
        };
        Ok(Some(Self {
            state: rows.state.unwrap_or_else(|| engine_state::Model::empty(id)),
            env: rows.env,
            pr: rows.pr,
            repo: rows.repo,
            attempts,
            request: rows.request,
            config: rows.config,
        }))
    }

    fn wanted(&self, defaults: &RepositoryPolicy) -> bool {
        let deletion_requested = self
            .request
            .as_ref()
            .is_some_and(|r| r.delete_requested_at.is_some());
        !deletion_requested
            && self
                .pr
                .as_ref()
                .is_some_and(|pr| spec::is_wanted(pr, self.repo.as_ref(), defaults))
    }

    /// A manual redeploy asked for after the latest attempt was queued.
    fn redeploy_requested(&self) -> bool {
        let asked = self.request.as_ref().and_then(|r| r.redeploy_requested_at);
        match (asked, self.latest()) {
            (Some(t), Some(latest)) => latest.queued_at < t,
            _ => false,
        }
    }

    /// Retries are counted from the last manual redeploy on.
    fn history(&self, sha: &str) -> RetryHistory {
        let since = self.request.as_ref().and_then(|r| r.redeploy_requested_at);
        let attempts: Vec<deployment::Model> = self
            .attempts
            .iter()
            .filter(|a| since.is_none_or(|t| a.queued_at >= t))
            .cloned()
            .collect();
        retry_history(&attempts, sha)
    }

    /// The file recorded at `sha`, if it was read at that commit.
    fn config_at(&self, sha: &str) -> Option<&pull_request_config::Model> {
        self.config.as_ref().filter(|c| c.head_sha == sha)
    }

    fn latest(&self) -> Option<&deployment::Model> {
        self.attempts.last()
    }

    fn next_attempt_number(&self) -> i32 {
        self.latest().map_or(1, |a| a.attempt + 1)
    }

    /// This world after a step stored `row` as the newest attempt.
    fn with_new_attempt(&self, row: deployment::Model) -> Box<Self> {
        let mut next = Box::new(self.clone());
        next.attempts.push(row);
        next
    }

    /// This world after a step stored `row` over the newest attempt.
    fn with_latest(&self, row: deployment::Model) -> Box<Self> {
        let mut next = Box::new(self.clone());
        match next.attempts.last_mut() {
            Some(latest) if latest.id == row.id => *latest = row,
            _ => next.attempts.push(row),
        }
        next
    }

    /// This world after a step recorded `config` as the pull request's preview file.
    fn with_config(&self, config: pull_request_config::Model) -> Box<Self> {
        let mut next = Box::new(self.clone());
        next.config = Some(config);
        next
    }

    fn repository_name(&self) -> String {
        self.repo
            .as_ref()
            .map(|r| r.full_name.clone())
            .or_else(|| self.pr.as_ref().map(|p| p.repository_full_name.clone()))
            .unwrap_or_default()
    }
}

/// The phase recorded on an attempt row (`failed` carries its stage in `outcome`).
pub fn phase_of(row: &deployment::Model) -> Phase {
    match row.phase.as_str() {
        "queued" => Phase::Queued,
        "provisioning" => Phase::Provisioning,
        "deploying" => Phase::Deploying,
        "verifying" => Phase::Verifying,
        "succeeded" => Phase::Succeeded,
        "superseded" => Phase::Superseded,
        "cancelled" => Phase::Cancelled,
        _ => Phase::Failed {
            stage: stage_of(row.outcome.as_deref()),
        },
    }
}

fn stage_of(outcome: Option<&str>) -> FailureStage {
    match outcome {
        Some("provisioning") => FailureStage::Provisioning,
        Some("health") => FailureStage::Health,
        Some("capacity") => FailureStage::Capacity,
        Some("configuration") => FailureStage::Configuration,
        _ => FailureStage::Job,
    }
}

/// Retries spent at `sha` since its last success or reset (a cancelled attempt: PR
/// closed and reopened, or a manual retry), and trailing capacity requeues.
pub fn retry_history(attempts: &[deployment::Model], sha: &str) -> RetryHistory {
    let mut app_failures = 0u32;
    let mut capacity = 0u32;
    for a in attempts.iter().filter(|a| a.head_sha == sha) {
        match phase_of(a) {
            Phase::Succeeded | Phase::Cancelled => {
                app_failures = 0;
                capacity = 0;
            }
            Phase::Failed {
                stage: FailureStage::Capacity,
            } => capacity += 1,
            Phase::Failed { .. } => {
                app_failures += 1;
                capacity = 0;
            }
            _ => {}
        }
    }
    RetryHistory {
        retries_used: app_failures.saturating_sub(1),
        capacity_requeues: capacity.saturating_sub(1),
    }
}

/// Deterministic jitter for an attempt, so a restarted engine waits the same time.
fn jitter(row: &deployment::Model) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    row.id.hash(&mut h);
    h.finish()
}

fn since(t: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - t).to_std().unwrap_or_default()
}

/// What one reconcile learnt from the cluster that the database does not record, for
/// its later steps.
#[derive(Default)]
struct Learnt {
    /// The attempt whose provisioning created its namespace in this reconcile: the
    /// namespace holds no deploy Job, so its deploy step need not look for one (two list
    /// requests on every new pull request's way to its Job). A later reconcile, which
    /// cannot know, looks.
    created_namespace_for: Option<String>,
}

impl Learnt {
    /// Notes what an apply of `row`'s namespace kit found.
    fn kit_applied(&mut self, row: &deployment::Model, applied: crate::cluster::KitApplied) {
        if applied.namespace_created {
            self.created_namespace_for = Some(row.id.clone());
        }
    }
}

enum Step {
    /// The world changed; read it again and look at once.
    Continue,
    /// The world changed by what this step stored and nothing else this step knows of,
    /// and is this: look at once without reading it back. A new pull request's way to
    /// its Job is five steps, and reading the world after each one was two statements
    /// on the SQLite writer per step. What others change meanwhile (a push, a close) is
    /// not missed: it makes the environment due again, and the scheduler runs it once
    /// more, from a fresh read, after this reconcile ends.
    Then(Box<World>),
    /// Wait; something was written, so the status is synced once more from a fresh read.
    Wait(Next),
    /// Wait; nothing was written, so the status synced from the world the step saw
    /// stands and the reconcile ends without reading it again (the polls of a running
    /// Job and the resync's look at every ready environment are most reconciles).
    Idle(Next),
}

/// Reconciles one environment until it has to wait. Returns what to do next and
/// whether a deployment slot was freed.
#[tracing::instrument(
    name = "reconcile",
    skip_all,
    fields(environment_id = %environment_id, deployment_id = tracing::field::Empty)
)]
pub async fn reconcile_environment(ctx: &Context, environment_id: &str) -> Result<Next> {
    let _timer = ctx.metrics.recorder.reconcile_timer();
    let mut recorded_deployment: Option<String> = None;
    ctx.metrics
        .reconciles
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut waiting = None;
    let mut learnt = Learnt::default();
    let mut known: Option<Box<World>> = None;
    for _ in 0..MAX_STEPS {
        let mut world = match known.take() {
            Some(world) => *world,
            None => match World::read(ctx, environment_id).await? {
                Some(world) => world,
                None => return Ok(Next::Done),
            },
        };
        ctx.namespaces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(world.env.namespace.clone(), world.env.id.clone());
        // Recorded once per attempt: text logs append every `record` to the span.
        if let Some(latest) = world.latest()
            && recorded_deployment.as_deref() != Some(latest.id.as_str())
        {
            tracing::Span::current().record("deployment_id", latest.id.as_str());
            recorded_deployment = Some(latest.id.clone());
        }
        sync_status(ctx, &mut world).await?;
        if let Some(next) = waiting {
            return Ok(next);
        }
        match step(ctx, &world, &mut learnt).await? {
            Step::Continue => {}
            Step::Then(next) => known = Some(next),
            Step::Wait(next) => waiting = Some(next),
            Step::Idle(next) => return Ok(next),
        }
    }
    Ok(waiting.unwrap_or(Next::After(Duration::ZERO)))
}

async fn step(ctx: &Context, w: &World, learnt: &mut Learnt) -> Result<Step> {
    if !w.wanted(&ctx.settings.default_policy) {
        return remove(ctx, w).await;
    }
    let Some(pr) = &w.pr else {
        return Ok(Step::Wait(Next::Done));
    };
    let sha = pr.head_sha.as_str();
    let Some(latest) = w.latest() else {
        return new_attempt(ctx, w, sha).await;
    };
    let phase = phase_of(latest);
    if latest.head_sha != sha {
        if !phase.is_terminal() {
            return supersede(ctx, w, latest, phase).await;
        }
        return new_attempt(ctx, w, sha).await;
    }
    if w.redeploy_requested() {
        if !phase.is_terminal() {
            let details = Details {
                error: Some("cancelled for a manual redeploy".to_owned()),
                ..Details::default()
            };
            advance(ctx, latest, Event::Cancel, details).await?;
            if phase.is_in_flight() {
                pr_pod::cancel_active(&ctx.client, &w.env.namespace, None).await?;
            }
            return Ok(Step::Continue);
        }
        tracing::info!(namespace = %w.env.namespace, "manual redeploy requested");
        return new_attempt(ctx, w, sha).await;
    }
    match phase {
        Phase::Queued => {
            if let Some(step) = read_config(ctx, w, latest).await? {
                return Ok(step);
            }
            queued(ctx, w, latest).await
        }
        Phase::Provisioning => provision(ctx, w, latest, learnt).await,
        Phase::Deploying => deploy(ctx, w, latest, learnt).await,
        Phase::Verifying => verify(ctx, w, latest).await,
        Phase::Succeeded => succeeded(ctx, w).await,
        Phase::Failed { stage } => failed(ctx, w, latest, stage).await,
        Phase::Superseded | Phase::Cancelled => new_attempt(ctx, w, sha).await,
    }
}

async fn new_attempt(ctx: &Context, w: &World, sha: &str) -> Result<Step> {
    let n = w.next_attempt_number();
    let row = deployments::insert_queued(&ctx.db, &w.env.id, n, sha, Utc::now()).await?;
    tracing::info!(environment = %w.env.namespace, attempt = n, sha, "deployment queued");
    Ok(Step::Then(w.with_new_attempt(row)))
}

/// Records the next phase of `row` after `event`, with its timestamp and details.
async fn advance(
    ctx: &Context,
    row: &deployment::Model,
    event: Event,
    details: Details,
) -> Result<deployment::Model> {
    let next = transition(phase_of(row), &event)?;
    let now = Utc::now();
    let mut a: deployment::ActiveModel = row.clone().into();
    a.phase = Set(next.as_str().to_owned());
    match next {
        Phase::Provisioning => a.provisioning_at = Set(Some(now)),
        Phase::Deploying => a.deploying_at = Set(Some(now)),
        Phase::Verifying => a.verifying_at = Set(Some(now)),
        _ => {}
    }
    if next.is_terminal() {
        a.finished_at = Set(Some(now));
        a.outcome = Set(Some(
            match next {
                Phase::Failed { stage } => stage.as_str(),
                other => other.as_str(),
            }
            .to_owned(),
        ));
    }
    if let Some(e) = details.error.or_else(|| event.reason().map(str::to_owned)) {
        a.error = Set(Some(e));
    }
    if details.failed_check.is_some() {
        a.failed_check = Set(details.failed_check);
    }
    if details.log_excerpt.is_some() {
        a.log_excerpt = Set(details.log_excerpt);
    }
    let saved = deployments::save(&ctx.db, a).await?;
    if next.is_terminal() && !phase_of(row).is_terminal() {
        record_finished(ctx, &saved).await;
    }
    tracing::info!(
        environment = %row.environment_id,
        attempt = row.attempt,
        phase = %next,
        "deployment phase recorded"
    );
    if phase_of(row).is_in_flight() && !next.is_in_flight() {
        ctx.kick(Kick::Waiting);
    }
    Ok(saved)
}

/// Counts a finished attempt in the Prometheus metrics, labelled with its repository.
async fn record_finished(ctx: &Context, row: &deployment::Model) {
    let repository = match engine_store::environment(&ctx.db, &row.environment_id).await {
        Ok(Some(env)) => repository::Entity::find()
            .filter(repository::Column::Id.eq(env.repository_id))
            .one(&ctx.db)
            .await
            .ok()
            .flatten()
            .map(|r| r.full_name),
        _ => None,
    };
    let repository = repository.unwrap_or_else(|| "unknown".to_owned());
    ctx.metrics.recorder.attempt_finished(&repository, row);
}

#[derive(Default)]
struct Details {
    error: Option<String>,
    failed_check: Option<String>,
    log_excerpt: Option<String>,
}

async fn supersede(
    ctx: &Context,
    w: &World,
    row: &deployment::Model,
    phase: Phase,
) -> Result<Step> {
    let newer =
        w.pr.as_ref()
            .map(|p| p.head_sha.clone())
            .unwrap_or_default();
    advance(
        ctx,
        row,
        Event::NewerShaArrived,
        Details {
            error: Some(format!("superseded by {}", &newer[..newer.len().min(12)])),
            ..Details::default()
        },
    )
    .await?;
    if phase.is_in_flight() {
        let cancelled = pr_pod::cancel_active(&ctx.client, &w.env.namespace, None).await?;
        if !cancelled.is_empty() {
            tracing::info!(environment = %w.env.namespace, jobs = ?cancelled, "older deployment cancelled");
        }
    }
    Ok(Step::Continue)
}

async fn queued(ctx: &Context, w: &World, row: &deployment::Model) -> Result<Step> {
    match admission::admit(ctx, w, row).await? {
        Admission::Started { at } => {
            // The attempt as the decision stored it, out of the line.
            let mut next = w.with_latest(deployments::started(row, at));
            next.state.queue_position = None;
            Ok(Step::Then(next))
        }
        Admission::StartedElsewhere => Ok(Step::Continue),
        Admission::Waiting { .. } => Ok(Step::Wait(Next::Queued)),
    }
}

/// Reads `.catalyst/preview.yaml` at the queued attempt's SHA once, before the attempt
/// takes a slot, and records it; a broken file fails the attempt right here (it is the
/// developer's to fix, no slot or retry is spent on it). `None`: go on.
async fn read_config(ctx: &Context, w: &World, row: &deployment::Model) -> Result<Option<Step>> {
    let Some(source) = &ctx.config_source else {
        return Ok(None);
    };
    let (Some(pr), Some(repo)) = (&w.pr, &w.repo) else {
        return Ok(None);
    };
    if let Some(recorded) = w.config_at(&row.head_sha) {
        if recorded.state == super::preview_config::INVALID_STATE {
            let reason = match RecordedConfig::from_row(recorded)? {
                RecordedConfig::Invalid(problem) => problem.to_string(),
                _ => format!("{} is invalid", crate::github::repo_config::CONFIG_PATH),
            };
            return fail(
                ctx,
                row,
                Event::ConfigurationInvalid { reason },
                Details::default(),
            )
            .await
            .map(Some);
        }
        return Ok(None);
    }
    let (Ok(name), sha) = (
        crate::core::domain::RepositoryName::parse(&repo.full_name),
        crate::core::domain::CommitSha(row.head_sha.clone()),
    ) else {
        return Ok(None);
    };
    let installation = pr.installation_id.or(repo.installation_id);
    let fetched = source.fetch(installation, &name, &sha).await;
    let now = Utc::now();
    let record = match fetched {
        // A file that breaks the repository's limits is as broken as a typo: the
        // developer sees why in the comment.
        Ok(found) => match RecordedConfig::from_fetch(found) {
            RecordedConfig::Found(file) => {
                match super::preview_config::merge(repo, &file, &merge_limits(ctx)) {
                    Ok(_) => RecordedConfig::Found(file),
                    Err(problem) => RecordedConfig::Invalid(problem),
                }
            }
            other => other,
        },
        Err(FetchFailure::Temporary { reason, retry_at })
            if since(row.queued_at, now) < ctx.settings.config_fetch_patience =>
        {
            let patience =
                TimeDelta::from_std(ctx.settings.config_fetch_patience).unwrap_or(TimeDelta::MAX);
            let wait = config_retry_wait(
                now,
                retry_at,
                row.queued_at + patience,
                ctx.settings.poll_interval,
            );
            tracing::info!(environment = %w.env.namespace, error = %reason, retry_in_ms = wait.as_millis() as u64, "cannot read the preview configuration yet; asking again later");
            return Ok(Some(Step::Idle(Next::After(wait))));
        }
        Err(FetchFailure::Temporary { reason: why, .. } | FetchFailure::Permanent(why)) => {
            tracing::warn!(environment = %w.env.namespace, error = %why, "deploying with the stored configuration: the PR's preview configuration cannot be read");
            RecordedConfig::Unavailable(why)
        }
    };
    let (state, body) = record.to_row();
    let stored = pull_request_configs::put(&ctx.db, &pr.id, &row.head_sha, state, body).await?;
    tracing::info!(environment = %w.env.namespace, sha = %row.head_sha, config = state, "preview configuration recorded");
    Ok(Some(Step::Then(w.with_config(stored))))
}

/// How long to wait before asking again for a preview file that cannot be read for now:
/// the poll interval (at least 2 s), or until the time GitHub named (a rate limit's
/// reset) — but never past the attempt's patience, after which it deploys with the
/// stored configuration. Asking every 2 s while GitHub has said "not before the reset"
/// kept hundreds of waiting environments busy for nothing.
fn config_retry_wait(
    now: DateTime<Utc>,
    retry_at: Option<DateTime<Utc>>,
    patience_ends: DateTime<Utc>,
    poll_interval: Duration,
) -> Duration {
    let soonest = poll_interval.max(Duration::from_secs(2));
    let wanted = retry_at.map_or(soonest, |at| since(now, at).max(soonest));
    wanted.min(since(now, patience_ends).max(Duration::from_millis(10)))
}

fn merge_limits(ctx: &Context) -> super::preview_config::MergeLimits {
    let quota = &ctx.settings.cluster.quota;
    super::preview_config::MergeLimits {
        default_cpu: quota.cpu.clone(),
        default_memory: quota.memory.clone(),
        default_pods: quota.pods,
    }
}

/// The attempt's spec: the stored repository configuration with the PR's recorded
/// `.catalyst/preview.yaml` (read at the same SHA) merged over it.
fn spec_of(ctx: &Context, w: &World) -> std::result::Result<EnvironmentSpec, String> {
    let (Some(pr), Some(repo)) = (&w.pr, &w.repo) else {
        return Err("the pull request or its repository is no longer recorded".to_owned());
    };
    let recorded = match w.config_at(&pr.head_sha) {
        Some(row) => RecordedConfig::from_row(row).map_err(|e| e.to_string())?,
        None => RecordedConfig::Missing,
    };
    match recorded {
        RecordedConfig::Found(file) => {
            let merged = super::preview_config::merge(repo, &file, &merge_limits(ctx))
                .map_err(|problem| problem.to_string())?;
            spec::environment_spec(&w.env, pr, &merged, &ctx.settings)
        }
        RecordedConfig::Invalid(problem) => Err(problem.to_string()),
        RecordedConfig::Missing | RecordedConfig::Unavailable(_) => {
            spec::environment_spec(&w.env, pr, repo, &ctx.settings)
        }
    }
}

async fn fail(
    ctx: &Context,
    row: &deployment::Model,
    event: Event,
    details: Details,
) -> Result<Step> {
    advance(ctx, row, event, details).await?;
    Ok(Step::Continue)
}

async fn provision(
    ctx: &Context,
    w: &World,
    row: &deployment::Model,
    learnt: &mut Learnt,
) -> Result<Step> {
    let spec = match spec_of(ctx, w) {
        Ok(s) => s,
        Err(reason) => {
            return fail(
                ctx,
                row,
                Event::ConfigurationInvalid { reason },
                Details::default(),
            )
            .await;
        }
    };
    let applied = crate::cluster::apply_kit(
        &ctx.client,
        &spec,
        &ctx.settings.cluster,
        &ctx.credentials,
        &[],
    )
    .await;
    match applied {
        Ok(applied) => {
            learnt.kit_applied(row, applied);
            let deploying = advance(ctx, row, Event::Provisioned, Details::default()).await?;
            Ok(Step::Then(w.with_latest(deploying)))
        }
        Err(ClusterError::NamespaceTerminating { .. }) => {
            Ok(Step::Idle(Next::After(ctx.settings.poll_interval)))
        }
        Err(ClusterError::InvalidSpec(reason)) => {
            fail(
                ctx,
                row,
                Event::ConfigurationInvalid { reason },
                Details::default(),
            )
            .await
        }
        Err(e @ ClusterError::SecretMissing { .. }) => {
            let reason = e.to_string();
            fail(
                ctx,
                row,
                Event::ProvisioningFailed { reason },
                Details::default(),
            )
            .await
        }
        Err(ClusterError::Capacity { message, .. }) => {
            let reason = format!("the namespace quota was rejected: {message}");
            fail(
                ctx,
                row,
                Event::CapacityUnavailable { reason },
                Details::default(),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

async fn deploy(
    ctx: &Context,
    w: &World,
    row: &deployment::Model,
    learnt: &mut Learnt,
) -> Result<Step> {
    let spec = match spec_of(ctx, w) {
        Ok(s) => s,
        Err(reason) => {
            return fail(
                ctx,
                row,
                Event::ConfigurationInvalid { reason },
                Details::default(),
            )
            .await;
        }
    };
    let ns = w.env.namespace.as_str();
    let attempt = u32::try_from(row.attempt).unwrap_or_default();
    let cs = &ctx.settings.cluster;
    let poll = Step::Idle(Next::After(ctx.settings.poll_interval));
    let started = if learnt.created_namespace_for.take().as_ref() == Some(&row.id) {
        pr_pod::create(&ctx.client, &spec, attempt, cs).await
    } else {
        pr_pod::start(&ctx.client, &spec, attempt, cs).await
    };
    let outcome = match started {
        // Created this instant: its pod cannot have run, so reading its state now (three
        // more requests while a worker waits) would only say "running". The Job watch
        // wakes the environment when it ends; the poll is the fallback.
        Ok(started) if started.created => return Ok(poll),
        Ok(pr_pod::Started {
            existing: Some(found),
            ..
        }) => pr_pod::outcome_of(&ctx.client, ns, &found.job, &found.pods, cs).await?,
        Ok(started) => pr_pod::outcome(&ctx.client, ns, &started.job, cs).await?,
        Err(ClusterError::DeploymentInProgress { job, .. }) => {
            let ours = crate::cluster::job_name(&spec, attempt);
            if job != ours {
                pr_pod::cancel_active(&ctx.client, ns, Some(&ours)).await?;
            }
            return Ok(poll);
        }
        Err(ClusterError::InvalidSpec(reason)) => {
            return fail(
                ctx,
                row,
                Event::ConfigurationInvalid { reason },
                Details::default(),
            )
            .await;
        }
        Err(ClusterError::Capacity { message, .. }) => {
            return capacity_wait(ctx, row, message).await;
        }
        Err(e) => {
            // The namespace may have been deleted under us: put the kit back.
            if namespaces::state(&ctx.client, ns).await? == NamespaceState::Absent {
                tracing::warn!(
                    namespace = ns,
                    "namespace vanished during the deployment; re-applying the kit"
                );
                let applied =
                    crate::cluster::apply_kit(&ctx.client, &spec, cs, &ctx.credentials, &[])
                        .await?;
                learnt.kit_applied(row, applied);
                return Ok(Step::Continue);
            }
            return Err(e.into());
        }
    };
    match outcome {
        JobOutcome::Running | JobOutcome::Missing => Ok(poll),
        JobOutcome::CapacityBlocked { reason } => capacity_wait(ctx, row, reason).await,
        JobOutcome::Succeeded => {
            advance(ctx, row, Event::JobSucceeded, Details::default()).await?;
            Ok(Step::Continue)
        }
        JobOutcome::Failed { reason, logs } => {
            let warnings = diagnostics::warning_events(&ctx.client, ns, 20)
                .await
                .unwrap_or_default();
            let details = Details {
                error: Some(reason.clone()),
                failed_check: Some("job".to_owned()),
                log_excerpt: Some(diagnostics::render(&logs, &warnings)),
            };
            fail(ctx, row, Event::JobFailed { reason }, details).await
        }
    }
}

/// Pods that cannot be placed (or created, for quota) wait up to the capacity timeout,
/// then the attempt fails as "no capacity" (requeued without spending retries).
async fn capacity_wait(ctx: &Context, row: &deployment::Model, reason: String) -> Result<Step> {
    let started = row
        .deploying_at
        .or(row.provisioning_at)
        .unwrap_or(row.queued_at);
    if since(started, Utc::now()) < ctx.settings.capacity_timeout {
        return Ok(Step::Idle(Next::After(ctx.settings.poll_interval)));
    }
    let ns = namespace_of(ctx, row).await?;
    if let Some(ns) = ns {
        pr_pod::cancel_active(&ctx.client, &ns, None).await?;
    }
    fail(
        ctx,
        row,
        Event::CapacityUnavailable { reason },
        Details::default(),
    )
    .await
}

async fn namespace_of(ctx: &Context, row: &deployment::Model) -> Result<Option<String>> {
    Ok(engine_store::environment(&ctx.db, &row.environment_id)
        .await?
        .map(|e| e.namespace))
}

async fn verify(ctx: &Context, w: &World, row: &deployment::Model) -> Result<Step> {
    let ns = w.env.namespace.as_str();
    let health_path = w.repo.as_ref().map_or("/", |r| r.health_path.as_str());
    let health_path = if health_path.starts_with('/') {
        health_path
    } else {
        "/"
    };
    let opts = HealthOptions {
        poll_interval: ctx.settings.health_poll_interval,
        log_lines: ctx.settings.cluster.failure_log_lines,
        ..HealthOptions::new(ctx.settings.cluster.health_timeout)
    };
    let report = health::check_with(&ctx.client, ns, health_path, &opts).await?;
    match report.outcome {
        HealthOutcome::Healthy { .. } => {
            advance(ctx, row, Event::HealthPassed, Details::default()).await?;
            Ok(Step::Continue)
        }
        HealthOutcome::Failed { check, message } => {
            let details = Details {
                error: Some(message.clone()),
                failed_check: Some(check.as_str().to_owned()),
                log_excerpt: Some(diagnostics::render(&report.logs, &report.warnings)),
            };
            fail(ctx, row, Event::HealthFailed { check: message }, details).await
        }
        HealthOutcome::CapacityBlocked { reason } => {
            fail(
                ctx,
                row,
                Event::CapacityUnavailable { reason },
                Details::default(),
            )
            .await
        }
    }
}

async fn succeeded(ctx: &Context, w: &World) -> Result<Step> {
    match namespaces::state(&ctx.client, &w.env.namespace).await? {
        NamespaceState::Active => Ok(Step::Idle(Next::Done)),
        NamespaceState::Terminating => Ok(Step::Idle(Next::After(ctx.settings.poll_interval))),
        NamespaceState::Absent => {
            tracing::warn!(namespace = %w.env.namespace, "namespace of an open pull request was deleted; recreating it");
            let sha =
                w.pr.as_ref()
                    .map(|p| p.head_sha.as_str())
                    .unwrap_or_default();
            new_attempt(ctx, w, sha).await
        }
    }
}

async fn failed(
    ctx: &Context,
    w: &World,
    row: &deployment::Model,
    stage: FailureStage,
) -> Result<Step> {
    // `row` is the latest attempt: the schedule the comment shows is the one kept here.
    match scheduled_retry(ctx, w) {
        None => {
            let finished = row.finished_at.unwrap_or(row.updated_at);
            let announced = w.state.failure_notified_at.is_some_and(|t| t >= finished);
            if announced {
                return Ok(Step::Idle(Next::Done));
            }
            let mut state = w.state.clone();
            state.failure_notified_at = Some(Utc::now());
            engine_store::put_state(&ctx.db, &state).await?;
            let message = format!(
                ":x: Preview `{}` ({} #{}) failed permanently at {}: {}",
                w.env.namespace,
                w.repository_name(),
                w.env.pr_number,
                stage,
                row.error.as_deref().unwrap_or("no details")
            );
            tracing::warn!(namespace = %w.env.namespace, %stage, "deployment failed permanently");
            notify(ctx, message);
            Ok(Step::Wait(Next::Done))
        }
        Some(retry) => {
            let now = Utc::now();
            if now >= retry.at {
                new_attempt(ctx, w, &row.head_sha).await
            } else {
                Ok(Step::Idle(Next::After(since(now, retry.at))))
            }
        }
    }
}

fn notify(ctx: &Context, message: String) {
    ctx.metrics
        .notifications
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    ctx.notifier.send(message);
}

/// The pull request is closed (or no longer eligible): cancel work, delete the
/// namespace and wait until it is really gone.
async fn remove(ctx: &Context, w: &World) -> Result<Step> {
    if let Some(latest) = w.latest()
        && !phase_of(latest).is_terminal()
    {
        advance(
            ctx,
            latest,
            Event::PrClosed,
            Details {
                error: Some("the pull request was closed".to_owned()),
                ..Details::default()
            },
        )
        .await?;
        return Ok(Step::Continue);
    }
    if w.env.status == "deleted" {
        return Ok(Step::Idle(Next::Done));
    }
    let ns = w.env.namespace.as_str();
    let now = Utc::now();
    let state = namespaces::state(&ctx.client, ns).await?;
    let mut update = EnvironmentUpdate::of(&w.env);
    let mut engine_state = w.state.clone();
    if state == NamespaceState::Absent {
        update.status = "deleted".to_owned();
        update.deleted_at = Some(now);
        update.deletion_stuck = false;
        engine_store::update_environment(&ctx.db, &w.env, update).await?;
        if engine_state.deletion_requested_at.is_some() || engine_state.queue_position.is_some() {
            engine_state.deletion_requested_at = None;
            engine_state.queue_position = None;
            engine_store::put_state(&ctx.db, &engine_state).await?;
        }
        tracing::info!(namespace = ns, "preview environment deleted");
        // One active environment fewer: someone waiting may fit now.
        ctx.kick(Kick::Waiting);
        return Ok(Step::Wait(Next::Done));
    }
    let requested = match engine_state.deletion_requested_at {
        Some(t) => t,
        None => {
            engine_state.deletion_requested_at = Some(now);
            engine_state.queue_position = None;
            engine_store::put_state(&ctx.db, &engine_state).await?;
            now
        }
    };
    let overdue = since(requested, now) > ctx.settings.deletion_timeout;
    if state == NamespaceState::Active || overdue {
        // Retried on every look once overdue: a delete is idempotent.
        namespaces::delete(&ctx.client, ns)
            .await
            .inspect_err(|_| ctx.metrics.recorder.namespace_deletion_failed())?;
    }
    update.status = "deleting".to_owned();
    if overdue && !w.env.deletion_stuck {
        update.deletion_stuck = true;
        tracing::error!(
            namespace = ns,
            requested_at = %requested,
            "namespace deletion is stuck; operators must investigate (finalizers?)"
        );
        notify(
            ctx,
            format!(
                ":warning: Namespace `{ns}` ({} #{}) is still terminating {}s after its deletion was requested; please investigate.",
                w.repository_name(),
                w.env.pr_number,
                since(requested, now).as_secs()
            ),
        );
    }
    engine_store::update_environment(&ctx.db, &w.env, update).await?;
    Ok(Step::Wait(Next::After(ctx.settings.poll_interval)))
}

/// The next attempt a failed environment will get, as the comment shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ScheduledRetry {
    at: DateTime<Utc>,
    /// Retry number and budget; `None` for capacity requeues, which spend none.
    number: Option<i32>,
    limit: Option<i32>,
}

/// When the latest (failed) attempt is tried again, if at all: [`failed`] waits for it
/// and the PR comment shows it, so the time shown is the time the retry starts (the
/// jitter is a hash of the row, the same at every reconcile).
fn scheduled_retry(ctx: &Context, w: &World) -> Option<ScheduledRetry> {
    let latest = w.latest()?;
    let Phase::Failed { stage } = phase_of(latest) else {
        return None;
    };
    let history = w.history(&latest.head_sha);
    match ctx.settings.retry.decide(stage, history, jitter(latest)) {
        RetryDecision::GiveUp => None,
        RetryDecision::Retry {
            delay,
            consumes_budget,
        } => {
            let finished = latest.finished_at.unwrap_or(latest.updated_at);
            let at = finished + chrono::TimeDelta::from_std(delay).unwrap_or_default();
            let budget = consumes_budget.then_some(());
            Some(ScheduledRetry {
                at,
                number: budget.and_then(|()| i32::try_from(history.retries_used + 1).ok()),
                limit: budget.and_then(|()| i32::try_from(ctx.settings.retry.max_retries).ok()),
            })
        }
    }
}

/// Writes the status the recorded world implies (for wanted environments) and sends an
/// event when anything a subscriber cares about changed. `w` is left as stored, for a
/// step that goes on from it without reading it back ([`Step::Then`]).
async fn sync_status(ctx: &Context, w: &mut World) -> Result<()> {
    let mut env = w.env.clone();
    let mut stored_state = None;
    if w.wanted(&ctx.settings.default_policy) {
        let latest = w.latest();
        // An attempt at an older commit says nothing about the current one (a push, or
        // an environment coming back after it was removed): the new commit is queued.
        let head = w.pr.as_ref().map(|p| p.head_sha.as_str());
        let phase = latest.map(|l| {
            if head.is_some_and(|h| h != l.head_sha) && phase_of(l).is_terminal() {
                Phase::Queued
            } else {
                phase_of(l)
            }
        });
        let history = latest.map(|l| w.history(&l.head_sha)).unwrap_or_default();
        let derived = core_status::derive_status(
            &StatusInputs {
                desired: Desired::Wanted,
                latest_phase: phase,
                retry_history: history,
                namespace: core_status::NamespaceState::Active,
                now: Utc::now(),
            },
            &ctx.settings.retry,
        );
        let status = to_app(derived.status);
        let mut update = EnvironmentUpdate::of(&w.env);
        update.status = status.as_str().to_owned();
        update.deletion_stuck = false;
        update.deleted_at = None;
        if let Some(url) = ctx.settings.preview_url(&w.env.namespace) {
            update.url = Some(url);
        }
        update.last_error = match phase {
            Some(Phase::Failed { .. }) => latest.and_then(|l| l.error.clone()),
            Some(Phase::Succeeded) => None,
            _ => update.last_error,
        };
        if status == app::model::EnvironmentStatus::Ready && w.env.status != "ready" {
            update.ready_at = Some(Utc::now());
        }
        let mut state = w.state.clone();
        // Reopened: a later close starts a new deletion clock.
        state.deletion_requested_at = None;
        let retry = scheduled_retry(ctx, w);
        // Second precision: the column may not keep nanoseconds, and an unchanged
        // schedule must compare equal to the stored one.
        state.retry_at =
            retry.map(|r| DateTime::from_timestamp(r.at.timestamp(), 0).unwrap_or(r.at));
        state.retry_number = retry.and_then(|r| r.number);
        state.retry_limit = retry.and_then(|r| r.limit);
        if state != w.state {
            engine_store::put_state(&ctx.db, &state).await?;
            stored_state = Some(state);
        }
        if let Some(written) = engine_store::update_environment(&ctx.db, &w.env, update).await? {
            env = written;
        }
    }
    emit(ctx, w, &env, w.latest());
    w.env = env;
    if let Some(state) = stored_state {
        w.state = state;
    }
    Ok(())
}

fn emit(
    ctx: &Context,
    w: &World,
    env: &preview_environment::Model,
    latest: Option<&deployment::Model>,
) {
    let Some(status) = app::model::EnvironmentStatus::parse(&env.status) else {
        return;
    };
    let failed = latest.is_some_and(|l| l.phase == "failed");
    let event = EnvironmentEvent {
        environment_id: env.id.clone(),
        repository: w.repository_name(),
        pr_number: u64::try_from(env.pr_number).unwrap_or_default(),
        namespace: env.namespace.clone(),
        status,
        phase: latest.map(|l| l.phase.clone()),
        attempt: latest.and_then(|l| u32::try_from(l.attempt).ok()),
        head_sha: latest.map(|l| l.head_sha.clone()),
        url: env.url.clone(),
        queue_position: w.state.queue_position.and_then(|p| u32::try_from(p).ok()),
        error: latest.filter(|_| failed).and_then(|l| l.error.clone()),
        failed_check: latest
            .filter(|_| failed)
            .and_then(|l| l.failed_check.clone()),
        log_excerpt: latest
            .filter(|_| failed)
            .and_then(|l| l.log_excerpt.clone()),
        deletion_stuck: env.deletion_stuck,
        at: Utc::now(),
    };
    let key = event.key();
    let mut last = ctx.last_events.lock().unwrap_or_else(|p| p.into_inner());
    if last.get(&env.id) == Some(&key) {
        return;
    }
    last.insert(env.id.clone(), key);
    drop(last);
    // No subscriber is fine.
    let _ = ctx.events.send(event);
}

/// The persisted (API) status for the core's derived status.
pub fn to_app(s: core_status::EnvironmentStatus) -> app::model::EnvironmentStatus {
    use app::model::EnvironmentStatus as A;
    use core_status::EnvironmentStatus as C;
    match s {
        C::Pending => A::Pending,
        C::Deploying => A::Deploying,
        C::Ready => A::Ready,
        C::Failed => A::Failed,
        C::Deleting => A::Deleting,
        C::Deleted => A::Deleted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_preview_file_is_asked_for_again_at_githubs_reset_within_patience() {
        let now = Utc::now();
        let secs = |n: i64| now + TimeDelta::seconds(n);
        let poll = Duration::from_millis(500);
        // No time named: every 2 s at the least.
        assert_eq!(
            config_retry_wait(now, None, secs(100), poll),
            Duration::from_secs(2)
        );
        // A reset 30 s away: not before it.
        let wait = config_retry_wait(now, Some(secs(30)), secs(100), poll);
        assert!((29..=30).contains(&wait.as_secs()), "{wait:?}");
        // A reset an hour away: until the patience ends (then the stored configuration).
        let wait = config_retry_wait(now, Some(secs(3600)), secs(100), poll);
        assert!((99..=100).contains(&wait.as_secs()), "{wait:?}");
        // A reset already past, or patience about to end: never a busy loop.
        assert_eq!(
            config_retry_wait(now, Some(secs(-5)), secs(100), poll),
            Duration::from_secs(2)
        );
        assert_eq!(
            config_retry_wait(now, None, secs(-1), poll),
            Duration::from_millis(10)
        );
    }

    fn attempt(n: i32, sha: &str, phase: &str, outcome: Option<&str>) -> deployment::Model {
        let t = Utc::now();
        deployment::Model {
            id: format!("d{n}"),
            environment_id: "e".to_owned(),
            attempt: n,
            head_sha: sha.to_owned(),
            phase: phase.to_owned(),
            queued_at: t,
            provisioning_at: None,
            deploying_at: None,
            verifying_at: None,
            finished_at: None,
            outcome: outcome.map(str::to_owned),
            error: None,
            failed_check: None,
            log_excerpt: None,
            created_at: t,
            updated_at: t,
        }
    }

    #[test]
    fn failed_rows_read_back_with_their_stage() {
        assert_eq!(
            phase_of(&attempt(1, "a", "failed", Some("health"))),
            Phase::Failed {
                stage: FailureStage::Health
            }
        );
        assert_eq!(
            phase_of(&attempt(1, "a", "verifying", None)),
            Phase::Verifying
        );
    }

    #[test]
    fn retries_are_counted_per_sha_since_the_last_success_or_reset() {
        let rows = vec![
            attempt(1, "a", "failed", Some("job")),
            attempt(2, "a", "succeeded", Some("succeeded")),
            attempt(3, "a", "failed", Some("job")),
            attempt(4, "a", "failed", Some("capacity")),
            attempt(5, "a", "failed", Some("health")),
            attempt(6, "b", "failed", Some("job")),
        ];
        let h = retry_history(&rows, "a");
        assert_eq!(h.retries_used, 1);
        assert_eq!(h.capacity_requeues, 0);
        let h = retry_history(&rows[..4], "a");
        assert_eq!(h.retries_used, 0);
        let reset = vec![
            attempt(1, "a", "failed", Some("job")),
            attempt(2, "a", "cancelled", Some("cancelled")),
            attempt(3, "a", "failed", Some("job")),
        ];
        assert_eq!(retry_history(&reset, "a").retries_used, 0);
    }
}
