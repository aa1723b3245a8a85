//! What a pull request's comment and GitHub deployment should show, from database
//! state alone: pure functions over a [`PublishCandidate`], with no I/O, so every rule
//! (status mapping, fork gating, phases, "Updated" time) is tested without GitHub.

use app::model::EnvironmentStatus;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::core::comment::{CommentStatus, CommentView, FailureDetails, PhaseTiming, RetryNote};
use crate::core::domain::CommitSha;
use crate::store::StoreError;
use crate::store::entities::{deployment, pull_request};
use crate::store::github::PublishCandidate;

use super::super::deployments::{DeploymentState, DeploymentStatusUpdate};
use super::super::eligibility::{
    Eligibility, NotEligibleReason, PullRequestFacts, RepositoryPolicy, eligibility, is_expired,
    pull_request_facts, repository_policy,
};
use super::super::publisher::DeploymentIntent;
use super::super::repo_config::ConfigProblem;
use super::super::settings::GithubSettings;
use crate::engine::preview_config::RecordedConfig;

/// What to publish for one pull request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub view: CommentView,
    pub deployment: Option<DeploymentIntent>,
}

/// The fingerprint of what a plan publishes.
pub(super) fn fingerprint(body: &str, deployment: Option<&DeploymentIntent>) -> String {
    let mut hash = Sha256::new();
    hash.update(body.as_bytes());
    if let Some(intent) = deployment {
        hash.update(format!("\n{intent:?}").as_bytes());
    }
    hex::encode(hash.finalize())
}

/// The repository's web address, from the API URL: `https://github.com/o/r` for
/// api.github.com, `https://HOST/o/r` for an Enterprise server's `/api/v3`.
pub fn repository_web_url(api_url: &str, repo: &str) -> String {
    let api = api_url.trim().trim_end_matches('/');
    let web = if api == "https://api.github.com" {
        "https://github.com"
    } else {
        api.strip_suffix("/api/v3").unwrap_or(api)
    };
    format!("{web}/{repo}")
}

/// The "configuration missing" comment of a pull request in an unconfigured repository.
pub(super) fn config_missing_plan(pr: &pull_request::Model, settings: &GithubSettings) -> Plan {
    Plan {
        view: CommentView {
            status: CommentStatus::ConfigurationMissing {
                setup_guide_url: settings.setup_guide_url.clone(),
            },
            repository_url: repository_web_url(&settings.api_url, &pr.repository_full_name),
            catalyst_url: settings.public_url.clone(),
            environment_id: None,
            preview_url: None,
            head_sha: Some(pr.head_sha.clone()),
            namespace: None,
            phases: Vec::new(),
            updated_at: pr.github_updated_at,
            github_rate_limited_until: None,
        },
        deployment: None,
    }
}

/// What the database says a pull request's comment and deployment should show; `None`
/// when nothing is to be published (a PR that is not eligible for a reason the comment
/// cannot explain, with nothing deployed).
pub fn plan(
    c: &PublishCandidate,
    settings: &GithubSettings,
    rate_limited_until: Option<DateTime<Utc>>,
) -> Result<Option<Plan>, StoreError> {
    let env = &c.environment;
    let pr = &c.pull_request;
    let status = EnvironmentStatus::parse(&env.status)
        .ok_or_else(|| StoreError::Corrupt(format!("environment status {:?}", env.status)))?;
    let policy = repository_policy(&c.repository, &settings.default_policy);
    let facts = pull_request_facts(pr)?;
    let deployment = c.deployment.as_ref();
    let attempted = deployment.is_some();
    let gate = match eligibility(&facts, &policy) {
        Eligibility::NotEligible { reason }
            if status == EnvironmentStatus::Pending && !attempted =>
        {
            Some(reason)
        }
        _ => None,
    };
    let comment_status = match (&gate, status) {
        (Some(NotEligibleReason::ForkAwaitingLabel { label }), _) => {
            CommentStatus::ForkAwaitingLabel {
                label: label.clone(),
            }
        }
        (Some(_), _) => return Ok(None),
        (None, EnvironmentStatus::Pending) => CommentStatus::Pending {
            queue_position: c.queue_position.and_then(|p| u32::try_from(p).ok()),
        },
        (None, EnvironmentStatus::Deploying) => match deployment.map(|d| d.phase.as_str()) {
            Some("verifying") => CommentStatus::Verifying,
            Some("queued") => CommentStatus::Pending {
                queue_position: c.queue_position.and_then(|p| u32::try_from(p).ok()),
            },
            _ => CommentStatus::Deploying,
        },
        (None, EnvironmentStatus::Ready) => CommentStatus::Ready,
        (None, EnvironmentStatus::Failed) => match configuration_problem(c) {
            Some(problem) => CommentStatus::ConfigurationError(problem.to_comment()),
            None => CommentStatus::Failed(failure(c)),
        },
        (None, EnvironmentStatus::Deleting) => CommentStatus::Deleting,
        (None, EnvironmentStatus::Deleted) => match (&policy.ttl, expired(c, &policy, &facts)) {
            (Some(ttl), true) => CommentStatus::Expired {
                idle_hours: ttl.as_secs() / 3600,
                keep_label: policy.keep_label.clone(),
            },
            _ => CommentStatus::CleanedUp,
        },
    };
    let gated = gate.is_some();
    let head_sha = match deployment {
        Some(d) if status != EnvironmentStatus::Pending => d.head_sha.clone(),
        _ => pr.head_sha.clone(),
    };
    let view = CommentView {
        preview_url: env
            .url
            .clone()
            .filter(|_| status == EnvironmentStatus::Ready),
        repository_url: repository_web_url(&settings.api_url, &pr.repository_full_name),
        catalyst_url: settings.public_url.clone(),
        environment_id: (!gated).then(|| env.id.clone()),
        head_sha: Some(head_sha),
        namespace: (!gated).then(|| env.namespace.clone()),
        phases: deployment.map(phases).unwrap_or_default(),
        updated_at: last_change(c),
        github_rate_limited_until: rate_limited_until,
        status: comment_status,
    };
    let deployment = match (gated, deployment) {
        (false, Some(d)) => Some(intent(d, status, env.url.as_deref(), &env.id, settings)),
        _ => None,
    };
    Ok(Some(Plan { view, deployment }))
}

/// A pull request's own `.catalyst/preview.yaml` broke the attempt: the problem as
/// recorded at the attempt's commit, with its line, for the developer to fix.
fn configuration_problem(c: &PublishCandidate) -> Option<ConfigProblem> {
    let d = c.deployment.as_ref()?;
    let config = c.config.as_ref()?;
    if d.outcome.as_deref() != Some("configuration") || config.head_sha != d.head_sha {
        return None;
    }
    match RecordedConfig::from_row(config).ok()? {
        RecordedConfig::Invalid(problem) => Some(problem),
        _ => None,
    }
}

/// Whether the environment was removed because it expired (the PR is still open, was
/// idle for the TTL when the environment was deleted, and carries no `keep` label).
fn expired(c: &PublishCandidate, policy: &RepositoryPolicy, facts: &PullRequestFacts) -> bool {
    let Some(deleted_at) = c.environment.deleted_at else {
        return false;
    };
    c.pull_request.state == "open" && is_expired(facts, policy, deleted_at)
}

fn failure(c: &PublishCandidate) -> FailureDetails {
    let env = &c.environment;
    let deployment = c.deployment.as_ref();
    let retry = c
        .engine_state
        .as_ref()
        .and_then(|s| {
            let at = s.retry_at?;
            Some(match (s.retry_number, s.retry_limit) {
                (Some(n), Some(limit)) => RetryNote::Scheduled {
                    retry: u32::try_from(n).ok()?,
                    max_retries: u32::try_from(limit).ok()?,
                    at,
                },
                _ => RetryNote::Requeued { at },
            })
        })
        .unwrap_or(RetryNote::GivenUp);
    let error = deployment
        .and_then(|d| d.error.clone())
        .or_else(|| env.last_error.clone())
        .unwrap_or_else(|| "The deployment failed.".to_owned());
    FailureDetails {
        error,
        failed_check: deployment.and_then(|d| d.failed_check.clone()),
        log_lines: deployment
            .and_then(|d| d.log_excerpt.as_deref())
            .map(|text| text.lines().map(str::to_owned).collect())
            .unwrap_or_default(),
        retry,
    }
}

/// The attempt's phases with their start and end, oldest first.
fn phases(d: &deployment::Model) -> Vec<PhaseTiming> {
    let starts = [
        ("queued", Some(d.queued_at)),
        ("provisioning", d.provisioning_at),
        ("deploying", d.deploying_at),
        ("verifying", d.verifying_at),
    ];
    let started: Vec<(&str, DateTime<Utc>)> = starts
        .into_iter()
        .filter_map(|(name, at)| at.map(|at| (name, at)))
        .collect();
    started
        .iter()
        .enumerate()
        .map(|(i, (name, at))| PhaseTiming {
            phase: (*name).to_owned(),
            started_at: *at,
            finished_at: started.get(i + 1).map(|(_, next)| *next).or(d.finished_at),
        })
        .collect()
}

/// The newest visible change: what the comment's "Updated" line shows. Built from the
/// facts shown (not from `updated_at` columns that any write touches), so an unchanged
/// state renders the same body and costs no edit.
fn last_change(c: &PublishCandidate) -> DateTime<Utc> {
    let env = &c.environment;
    let mut times = vec![env.created_at, c.pull_request.github_updated_at];
    times.extend(env.ready_at);
    times.extend(env.deleted_at);
    if let Some(d) = &c.deployment {
        times.push(d.queued_at);
        times.extend(
            [
                d.provisioning_at,
                d.deploying_at,
                d.verifying_at,
                d.finished_at,
            ]
            .into_iter()
            .flatten(),
        );
    }
    times.into_iter().max().unwrap_or(env.created_at)
}

/// The GitHub deployment status an attempt implies.
fn intent(
    d: &deployment::Model,
    env_status: EnvironmentStatus,
    url: Option<&str>,
    environment_id: &str,
    settings: &GithubSettings,
) -> DeploymentIntent {
    let short: String = d.head_sha.chars().take(7).collect();
    let (state, description) = if matches!(
        env_status,
        EnvironmentStatus::Deleting | EnvironmentStatus::Deleted
    ) {
        (DeploymentState::Inactive, "Preview removed".to_owned())
    } else {
        match d.phase.as_str() {
            "queued" => (DeploymentState::Queued, format!("Queued {short}")),
            "provisioning" | "deploying" | "verifying" => (
                DeploymentState::InProgress,
                format!("{} {short}", capitalised(&d.phase)),
            ),
            "succeeded" => (
                DeploymentState::Success,
                format!("Preview of {short} is ready"),
            ),
            "failed" => (
                DeploymentState::Failure,
                d.error
                    .as_deref()
                    .and_then(|e| e.lines().next())
                    .map_or_else(|| "Deployment failed".to_owned(), str::to_owned),
            ),
            _ => (
                DeploymentState::Inactive,
                format!("{} {short}", capitalised(&d.phase)),
            ),
        }
    };
    DeploymentIntent {
        attempt: d.id.clone(),
        sha: CommitSha(d.head_sha.clone()),
        status: DeploymentStatusUpdate {
            environment_url: url
                .filter(|_| state == DeploymentState::Success)
                .map(str::to_owned),
            log_url: Some(settings.environment_page(environment_id)),
            description: Some(description),
            state,
        },
    }
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
pub(super) mod tests;
