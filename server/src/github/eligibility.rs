//! Who gets a preview: pure rules over a PR's facts and the repository's policy.
//!
//! - A PR from a fork runs untrusted code, so it waits until a maintainer adds the
//!   opt-in label (`preview` by default).
//! - A repository may require a label on every PR.
//! - Draft PRs are deployed or not, per repository.
//! - The `keep` label exempts an environment from expiry; expiry after a period without
//!   activity is off unless the repository sets a TTL.
//!
//! GitHub treats label names case-insensitively, and so does everything here.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::pulls::OpenPullRequest;
use crate::store::entities::{pull_request, repository};
use crate::store::{StoreError, decode_list};

/// The rules a stored repository applies, with the service's defaults (the configured
/// fork opt-in label) for what it leaves unset. Shared by the GitHub sync (comments) and
/// the engine (what gets deployed).
pub fn repository_policy(
    repo: &repository::Model,
    defaults: &RepositoryPolicy,
) -> RepositoryPolicy {
    RepositoryPolicy {
        fork_opt_in_label: repo
            .fork_opt_in_label
            .clone()
            .unwrap_or_else(|| defaults.fork_opt_in_label.clone()),
        required_label: repo.required_label.clone(),
        deploy_drafts: repo.deploy_drafts,
        ..defaults.clone()
    }
}

/// The facts the rules look at, from a stored pull request row.
pub fn pull_request_facts(pr: &pull_request::Model) -> Result<PullRequestFacts, StoreError> {
    Ok(PullRequestFacts {
        fork: pr.is_fork,
        draft: pr.draft,
        labels: decode_list(&pr.labels)?,
        last_activity: pr.github_updated_at,
    })
}

/// A repository's rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepositoryPolicy {
    /// The label that lets a fork's PR be deployed.
    pub fork_opt_in_label: String,
    /// When set, only PRs carrying it are deployed.
    pub required_label: Option<String>,
    pub deploy_drafts: bool,
    /// Exempts an environment from expiry.
    pub keep_label: String,
    /// Environments of PRs without activity for this long expire; `None`: never.
    pub ttl: Option<Duration>,
}

impl Default for RepositoryPolicy {
    fn default() -> Self {
        Self {
            fork_opt_in_label: "preview".to_owned(),
            required_label: None,
            deploy_drafts: true,
            keep_label: "keep".to_owned(),
            ttl: None,
        }
    }
}

/// What the rules look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullRequestFacts {
    pub fork: bool,
    pub draft: bool,
    pub labels: Vec<String>,
    /// The last push, label change or other update.
    pub last_activity: DateTime<Utc>,
}

impl From<&OpenPullRequest> for PullRequestFacts {
    fn from(pr: &OpenPullRequest) -> Self {
        Self {
            fork: pr.fork,
            draft: pr.draft,
            labels: pr.labels.clone(),
            last_activity: pr.updated_at,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Eligibility {
    Eligible,
    NotEligible { reason: NotEligibleReason },
}

/// Why a PR gets no preview; the comment explains each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotEligibleReason {
    /// A fork's PR without the opt-in label.
    ForkAwaitingLabel { label: String },
    /// The repository requires a label this PR lacks.
    MissingRequiredLabel { label: String },
    /// A draft, in a repository that does not deploy drafts.
    Draft,
}

fn has_label(labels: &[String], wanted: &str) -> bool {
    labels.iter().any(|l| l.eq_ignore_ascii_case(wanted))
}

/// Whether `pr` gets a preview under `policy`. The fork rule comes first: it is the
/// security boundary, and its comment tells a maintainer exactly what to do.
pub fn eligibility(pr: &PullRequestFacts, policy: &RepositoryPolicy) -> Eligibility {
    let not = |reason| Eligibility::NotEligible { reason };
    if pr.fork && !has_label(&pr.labels, &policy.fork_opt_in_label) {
        return not(NotEligibleReason::ForkAwaitingLabel {
            label: policy.fork_opt_in_label.clone(),
        });
    }
    if let Some(label) = &policy.required_label
        && !has_label(&pr.labels, label)
    {
        return not(NotEligibleReason::MissingRequiredLabel {
            label: label.clone(),
        });
    }
    if pr.draft && !policy.deploy_drafts {
        return not(NotEligibleReason::Draft);
    }
    Eligibility::Eligible
}

/// Whether the environment is exempt from expiry.
pub fn is_kept(labels: &[String], policy: &RepositoryPolicy) -> bool {
    has_label(labels, &policy.keep_label)
}

/// Whether the environment has expired at `now`: a TTL is set, the PR is not kept, and
/// it has been inactive for longer than the TTL.
pub fn is_expired(pr: &PullRequestFacts, policy: &RepositoryPolicy, now: DateTime<Utc>) -> bool {
    let Some(ttl) = policy.ttl else {
        return false;
    };
    if is_kept(&pr.labels, policy) {
        return false;
    }
    let ttl = TimeDelta::from_std(ttl).unwrap_or(TimeDelta::MAX);
    pr.last_activity
        .checked_add_signed(ttl)
        .is_some_and(|deadline| deadline <= now)
}

/// Whether a label change can change what is deployed. Only the opt-in and required
/// labels matter; `keep` and everything else must not redeploy.
pub fn affects_deployment(old: &[String], new: &[String], policy: &RepositoryPolicy) -> bool {
    let relevant = std::iter::once(&policy.fork_opt_in_label).chain(policy.required_label.iter());
    relevant
        .into_iter()
        .any(|label| has_label(old, label) != has_label(new, label))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    fn pr(fork: bool, draft: bool, names: &[&str]) -> PullRequestFacts {
        PullRequestFacts {
            fork,
            draft,
            labels: labels(names),
            last_activity: DateTime::from_timestamp(1_000_000, 0).unwrap(),
        }
    }

    fn reason(e: Eligibility) -> Option<NotEligibleReason> {
        match e {
            Eligibility::Eligible => None,
            Eligibility::NotEligible { reason } => Some(reason),
        }
    }

    #[test]
    fn own_pull_requests_are_eligible_by_default() {
        let policy = RepositoryPolicy::default();
        assert_eq!(
            eligibility(&pr(false, false, &[]), &policy),
            Eligibility::Eligible
        );
        assert_eq!(
            eligibility(&pr(false, true, &[]), &policy),
            Eligibility::Eligible
        );
    }

    #[test]
    fn forks_wait_for_the_opt_in_label() {
        let mut policy = RepositoryPolicy::default();
        assert_eq!(
            reason(eligibility(&pr(true, false, &["bug"]), &policy)),
            Some(NotEligibleReason::ForkAwaitingLabel {
                label: "preview".into()
            })
        );
        assert_eq!(
            eligibility(&pr(true, false, &["Preview"]), &policy),
            Eligibility::Eligible
        );
        policy.fork_opt_in_label = "safe-to-deploy".into();
        assert!(reason(eligibility(&pr(true, false, &["preview"]), &policy)).is_some());
    }

    #[test]
    fn required_labels_and_drafts_follow_the_repository() {
        let policy = RepositoryPolicy {
            required_label: Some("deploy-me".into()),
            deploy_drafts: false,
            ..RepositoryPolicy::default()
        };
        assert_eq!(
            reason(eligibility(&pr(false, false, &[]), &policy)),
            Some(NotEligibleReason::MissingRequiredLabel {
                label: "deploy-me".into()
            })
        );
        assert_eq!(
            reason(eligibility(&pr(false, true, &["deploy-me"]), &policy)),
            Some(NotEligibleReason::Draft)
        );
        assert_eq!(
            eligibility(&pr(false, false, &["deploy-me"]), &policy),
            Eligibility::Eligible
        );
        // The fork rule is reported first.
        assert!(matches!(
            reason(eligibility(&pr(true, true, &[]), &policy)),
            Some(NotEligibleReason::ForkAwaitingLabel { .. })
        ));
    }

    #[test]
    fn expiry_is_off_by_default_and_keep_exempts() {
        let old = pr(false, false, &[]);
        let later = old.last_activity + TimeDelta::days(30);
        assert!(!is_expired(&old, &RepositoryPolicy::default(), later));
        let policy = RepositoryPolicy {
            ttl: Some(Duration::from_secs(7 * 24 * 3600)),
            ..RepositoryPolicy::default()
        };
        assert!(is_expired(&old, &policy, later));
        assert!(!is_expired(
            &old,
            &policy,
            old.last_activity + TimeDelta::days(6)
        ));
        assert!(!is_expired(&pr(false, false, &["KEEP"]), &policy, later));
        assert!(is_kept(&labels(&["keep"]), &policy));
    }

    #[test]
    fn only_relevant_label_changes_affect_deployment() {
        let policy = RepositoryPolicy {
            required_label: Some("deploy-me".into()),
            ..RepositoryPolicy::default()
        };
        let before = labels(&["bug"]);
        assert!(!affects_deployment(
            &before,
            &labels(&["bug", "keep"]),
            &policy
        ));
        assert!(!affects_deployment(&before, &labels(&[]), &policy));
        assert!(affects_deployment(
            &before,
            &labels(&["bug", "preview"]),
            &policy
        ));
        assert!(affects_deployment(
            &labels(&["deploy-me"]),
            &before,
            &policy
        ));
        assert!(!affects_deployment(
            &labels(&["Preview"]),
            &labels(&["preview"]),
            &policy
        ));
    }
}
