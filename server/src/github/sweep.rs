//! The reconciliation sweep: every few minutes, each configured repository's open pull
//! requests are read from GitHub (conditionally: an unchanged repository answers
//! `304 Not Modified`, which costs no rate limit) and desired state is healed from them,
//! so a webhook that was lost or delayed changes nothing in the end.
//!
//! - open on GitHub, but missing, closed or behind in the database: applied like a
//!   webhook (never over a newer stored snapshot);
//! - open in the database, absent from GitHub's list: read individually and applied as
//!   closed (or dropped as closed when GitHub no longer knows it).
//!
//! The engine is woken after any change. The figures of each sweep are kept for metrics.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;

use crate::core::domain::{CommitSha, PullRequestNumber, RepositoryName};
use crate::core::webhook_event::{PullRequestAction, PullRequestEvent, PullRequestSnapshot};
use crate::store::entities::{pull_request, repository};
use crate::store::{decode_list, github as store, intake};

use super::pulls::{OpenPullRequest, OpenPulls};
use super::sync::{GithubSync, SyncError};
use super::{GithubError, InstallationId, client};

/// Repositories swept at once. GitHub asks integrators to keep concurrent requests per
/// installation low (its secondary rate limits punish bursts), so the sweep overlaps a
/// few repositories' round trips instead of firing all of them: 1,000 pull requests in
/// 100 repositories took 100 sequential list calls plus their database writes.
const SWEEP_CONCURRENCY: usize = 4;

/// What one sweep did, for logs and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub started_at: Option<chrono::DateTime<Utc>>,
    pub duration: Duration,
    /// Configured repositories looked at.
    pub repositories: u32,
    /// Repositories whose list answered `304 Not Modified`.
    pub not_modified: u32,
    /// Pull requests created, brought up to date, or closed in the database.
    pub opened: u32,
    pub updated: u32,
    pub closed: u32,
    /// Repositories that could not be swept (no installation, GitHub or database errors).
    pub errors: u32,
    /// Requests the sweep sent to GitHub (not the publisher's, made meanwhile).
    pub calls: u64,
    /// Of the sweep's calls, those answered with a rate limit or refused by the open
    /// breaker.
    pub rate_limited_calls: u64,
}

impl SweepReport {
    pub fn changes(&self) -> u32 {
        self.opened + self.updated + self.closed
    }
}

#[derive(Default)]
struct RepoOutcome {
    not_modified: bool,
    opened: u32,
    updated: u32,
    closed: u32,
}

impl GithubSync {
    /// One sweep over every configured repository. Never fails as a whole: a repository
    /// that cannot be swept is counted and logged, and the others go on.
    pub async fn sweep_once(&self) -> SweepReport {
        let started = Instant::now();
        let mut report = SweepReport {
            started_at: Some(Utc::now()),
            ..SweepReport::default()
        };
        // Counted on this task: the publisher's calls meanwhile run on others.
        let ((), calls) = client::tallied(self.sweep_repositories(&mut report)).await;
        report.calls = calls.requests;
        report.rate_limited_calls = calls.rate_limited;
        report.duration = started.elapsed();
        if report.changes() > 0 {
            (self.wake_engine)();
            self.signal.wake();
        }
        *self.last_sweep.lock().unwrap_or_else(|p| p.into_inner()) = Some(report.clone());
        report
    }

    /// Sweeps every configured repository, a few at a time, into `report`.
    async fn sweep_repositories(&self, report: &mut SweepReport) {
        match store::configured_repositories(&self.db).await {
            Ok(repos) => {
                let mut outcomes = futures::stream::iter(repos)
                    .map(|repo| async move {
                        let result = self.sweep_repository(&repo).await;
                        (repo, result)
                    })
                    .buffer_unordered(SWEEP_CONCURRENCY);
                while let Some((repo, result)) = outcomes.next().await {
                    report.repositories += 1;
                    match result {
                        Ok(outcome) => {
                            report.not_modified += u32::from(outcome.not_modified);
                            report.opened += outcome.opened;
                            report.updated += outcome.updated;
                            report.closed += outcome.closed;
                        }
                        Err(e) => {
                            report.errors += 1;
                            tracing::warn!(repository = %repo.full_name, error = %e, "cannot sweep the repository");
                        }
                    }
                }
            }
            Err(e) => {
                report.errors += 1;
                tracing::warn!(error = %e, "cannot list configured repositories for the sweep");
            }
        }
    }

    async fn installation(&self, repo: &repository::Model) -> Result<InstallationId, SyncError> {
        let known = match repo.installation_id {
            Some(id) => Some(id),
            None => store::webhook_installation(&self.db, &repo.full_name_key).await?,
        };
        if let Some(id) = known.and_then(|id| u64::try_from(id).ok()) {
            return Ok(InstallationId(id));
        }
        let name = repository_name(&repo.full_name)?;
        let found = self.adapter.client.repository_installation(&name).await?;
        if let Ok(id) = i64::try_from(found.0) {
            store::set_repository_installation(&self.db, &repo.id, id).await?;
        }
        Ok(found)
    }

    async fn sweep_repository(&self, repo: &repository::Model) -> Result<RepoOutcome, SyncError> {
        let installation = self.installation(repo).await?;
        let name = repository_name(&repo.full_name)?;
        let etag = store::open_pulls_etag(&self.db, &repo.id).await?;
        let client = &self.adapter.client;
        let (pulls, new_etag) = match client
            .list_open_pulls(installation, &name, etag.as_deref())
            .await?
        {
            OpenPulls::NotModified => {
                store::touch_sweep(&self.db, &repo.id).await?;
                return Ok(RepoOutcome {
                    not_modified: true,
                    ..RepoOutcome::default()
                });
            }
            OpenPulls::Changed { pulls, etag } => (pulls, etag),
        };
        // Until every change is applied, the old ETag stays: a failure half-way must not
        // turn the next sweep into a 304 that skips the rest.
        let mut outcome = RepoOutcome::default();
        let stored = store::pull_requests_by_number(&self.db, &repo.full_name_key).await?;
        let open_numbers: HashSet<i64> = pulls
            .iter()
            .filter_map(|p| i64::try_from(p.number.0).ok())
            .collect();
        for pull in &pulls {
            let known = i64::try_from(pull.number.0)
                .ok()
                .and_then(|n| stored.get(&n));
            let action = match known {
                None => PullRequestAction::Opened,
                Some(row) if row.github_updated_at > pull.updated_at => continue,
                Some(row) if row.state != "open" => PullRequestAction::Reopened,
                Some(row) if row.head_sha != pull.head_sha.as_str() => {
                    PullRequestAction::Synchronize
                }
                Some(row) if differs(row, pull)? => PullRequestAction::Labeled,
                Some(_) => continue,
            };
            let event = event_from_open(&name, installation, pull, action);
            if intake::apply_snapshot(&self.db, &event, self.preview_domain.as_deref()).await? {
                tracing::info!(repository = %name, pr = pull.number.0, action = action.as_str(), "sweep healed a missed webhook");
                match action {
                    PullRequestAction::Opened => outcome.opened += 1,
                    _ => outcome.updated += 1,
                }
            }
        }
        for row in stored
            .values()
            .filter(|r| r.state == "open" && !open_numbers.contains(&r.number))
        {
            if self.confirm_closed(&name, installation, row).await? {
                outcome.closed += 1;
            }
        }
        store::record_sweep(&self.db, &repo.id, new_etag.as_deref()).await?;
        Ok(outcome)
    }

    /// A PR the database holds open but GitHub's list lacks: read it and apply what
    /// GitHub says. Returns whether it was closed in the database.
    async fn confirm_closed(
        &self,
        name: &RepositoryName,
        installation: InstallationId,
        row: &pull_request::Model,
    ) -> Result<bool, SyncError> {
        let number = PullRequestNumber(u64::try_from(row.number).unwrap_or_default());
        let fetched = self
            .adapter
            .client
            .pull_request(installation, name, number)
            .await?;
        let event = match fetched {
            // Opened after the list was read, or beyond its pages: the next sweep sees it.
            Some(state) if state.open => return Ok(false),
            Some(state) => {
                let mut event =
                    event_from_open(name, installation, &state.pull, PullRequestAction::Closed);
                event.pull_request.open = false;
                event.pull_request.merged = state.merged;
                event
            }
            // Deleted (or the repository moved away): nothing left to preview.
            None => closed_from_row(name, installation, row)?,
        };
        let applied =
            intake::apply_snapshot(&self.db, &event, self.preview_domain.as_deref()).await?;
        if applied {
            tracing::info!(repository = %name, pr = row.number, "sweep closed a pull request whose webhook was missed");
        }
        Ok(applied)
    }
}

fn repository_name(full_name: &str) -> Result<RepositoryName, SyncError> {
    RepositoryName::parse(full_name).map_err(|_| {
        SyncError::Github(GithubError::Settings(format!(
            "stored repository name {full_name:?} is not owner/name"
        )))
    })
}

/// Whether the stored row differs from GitHub's in anything desired state holds.
fn differs(row: &pull_request::Model, pull: &OpenPullRequest) -> Result<bool, SyncError> {
    let mut stored = decode_list(&row.labels)?;
    let mut labels = pull.labels.clone();
    stored.sort();
    labels.sort();
    Ok(stored != labels
        || row.draft != pull.draft
        || row.is_fork != pull.fork
        || row.title != pull.title
        || row.base_ref != pull.base_ref
        || row.head_ref != pull.head_ref)
}

fn installation_column(installation: InstallationId) -> Option<i64> {
    i64::try_from(installation.0).ok()
}

fn event_from_open(
    name: &RepositoryName,
    installation: InstallationId,
    pull: &OpenPullRequest,
    action: PullRequestAction,
) -> PullRequestEvent {
    PullRequestEvent {
        action,
        repository: name.clone(),
        installation_id: installation_column(installation),
        pull_request: PullRequestSnapshot {
            number: pull.number,
            title: pull.title.clone(),
            head_sha: pull.head_sha.clone(),
            head_ref: pull.head_ref.clone(),
            base_ref: pull.base_ref.clone(),
            author: pull.author.clone(),
            is_fork: pull.fork,
            draft: pull.draft,
            labels: pull.labels.clone(),
            open: true,
            merged: false,
            updated_at: pull.updated_at,
        },
    }
}

/// A closing snapshot of a PR GitHub no longer knows, from what is stored.
fn closed_from_row(
    name: &RepositoryName,
    installation: InstallationId,
    row: &pull_request::Model,
) -> Result<PullRequestEvent, SyncError> {
    Ok(PullRequestEvent {
        action: PullRequestAction::Closed,
        repository: name.clone(),
        installation_id: installation_column(installation),
        pull_request: PullRequestSnapshot {
            number: PullRequestNumber(u64::try_from(row.number).unwrap_or_default()),
            title: row.title.clone(),
            head_sha: CommitSha(row.head_sha.clone()),
            head_ref: row.head_ref.clone(),
            base_ref: row.base_ref.clone(),
            author: row.author.clone(),
            is_fork: row.is_fork,
            draft: row.draft,
            labels: decode_list(&row.labels)?,
            open: false,
            merged: row.merged,
            updated_at: row.github_updated_at.max(Utc::now()),
        },
    })
}
