//! How an environment's status (`pending | deploying | ready | failed | deleting |
//! deleted`) follows from desired state, the latest deployment attempt, the retry
//! budget and the namespace observed in the cluster. One function, so the dashboard,
//! the API, MCP, metrics and the PR comment can never disagree.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::deployment::{FailureStage, Phase};
use super::retry::{RetryHistory, RetryPolicy};

/// The environment status shown everywhere (dashboard, API, MCP, metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvironmentStatus {
    Pending,
    Deploying,
    Ready,
    Failed,
    Deleting,
    Deleted,
}

impl EnvironmentStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Deploying => "deploying",
            Self::Ready => "ready",
            Self::Failed => "failed",
            Self::Deleting => "deleting",
            Self::Deleted => "deleted",
        }
    }
}

impl fmt::Display for EnvironmentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the PR wants an environment (recorded from webhooks and the periodic sync).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Desired {
    Wanted,
    /// PR closed/merged or deleted by an operator at `since`.
    Removed {
        since: DateTime<Utc>,
    },
}

/// The preview namespace as last observed in the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NamespaceState {
    Absent,
    Active,
    /// Kubernetes is deleting it (finalizers still running).
    Terminating,
}

/// Everything [`derive_status`] looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusInputs {
    pub desired: Desired,
    /// The newest attempt for this environment, if any.
    pub latest_phase: Option<Phase>,
    pub retry_history: RetryHistory,
    pub namespace: NamespaceState,
    pub now: DateTime<Utc>,
}

/// An environment's status plus the operator warning for a deletion that hangs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DerivedStatus {
    pub status: EnvironmentStatus,
    pub deletion_stuck: bool,
}

/// How long a namespace deletion may take before operators are warned (SC-004).
pub const DELETION_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Derives the environment status from desired and actual state.
pub fn derive_status(inputs: &StatusInputs, policy: &RetryPolicy) -> DerivedStatus {
    use EnvironmentStatus as S;
    let status = match inputs.desired {
        Desired::Removed { since } => {
            let status = if inputs.namespace == NamespaceState::Absent {
                S::Deleted
            } else {
                S::Deleting
            };
            let overdue = chrono::TimeDelta::from_std(DELETION_TIMEOUT)
                .ok()
                .and_then(|timeout| since.checked_add_signed(timeout))
                .is_some_and(|deadline| inputs.now > deadline);
            return DerivedStatus {
                status,
                deletion_stuck: status == S::Deleting && overdue,
            };
        }
        Desired::Wanted => match inputs.latest_phase {
            // A superseded or cancelled attempt is replaced by a new one on the next
            // reconcile; until it exists the environment waits.
            None | Some(Phase::Queued | Phase::Superseded | Phase::Cancelled) => S::Pending,
            Some(Phase::Provisioning | Phase::Deploying | Phase::Verifying) => S::Deploying,
            Some(Phase::Succeeded) if inputs.namespace == NamespaceState::Active => S::Ready,
            // Reopened after a close: the old deployment is gone (or going) and a new
            // attempt has not been recorded yet.
            Some(Phase::Succeeded) => S::Pending,
            // Waiting for room in the cluster, shown as pending with a queue position.
            Some(Phase::Failed {
                stage: FailureStage::Capacity,
            }) => S::Pending,
            // A retry is coming, so the work is still in progress.
            Some(Phase::Failed { stage }) if policy.will_retry(stage, inputs.retry_history) => {
                S::Deploying
            }
            Some(Phase::Failed { .. }) => S::Failed,
        },
    };
    DerivedStatus {
        status,
        deletion_stuck: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn fail(stage: FailureStage) -> Phase {
        Phase::Failed { stage }
    }

    fn history(retries_used: u32) -> RetryHistory {
        RetryHistory {
            retries_used,
            capacity_requeues: 0,
        }
    }

    fn t(minute: u32, second: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 14, minute, second)
            .unwrap()
    }

    fn status(
        desired: Desired,
        phase: Option<Phase>,
        retries_used: u32,
        ns: NamespaceState,
    ) -> DerivedStatus {
        let inputs = StatusInputs {
            desired,
            latest_phase: phase,
            retry_history: history(retries_used),
            namespace: ns,
            now: t(10, 0),
        };
        derive_status(&inputs, &RetryPolicy::default())
    }

    #[test]
    fn wanted_environments_follow_their_latest_attempt() {
        use EnvironmentStatus as S;
        use NamespaceState::Active;
        let cases = [
            (None, 0, S::Pending),
            (Some(Phase::Queued), 0, S::Pending),
            (Some(Phase::Provisioning), 0, S::Deploying),
            (Some(Phase::Verifying), 0, S::Deploying),
            (Some(Phase::Succeeded), 0, S::Ready),
            (Some(Phase::Superseded), 0, S::Pending),
            (Some(fail(FailureStage::Capacity)), 3, S::Pending),
            (Some(fail(FailureStage::Job)), 2, S::Deploying),
            (Some(fail(FailureStage::Job)), 3, S::Failed),
            (Some(fail(FailureStage::Configuration)), 0, S::Failed),
        ];
        for (phase, used, expected) in cases {
            let got = status(Desired::Wanted, phase, used, Active);
            assert_eq!(got.status, expected, "{phase:?} with {used} retries used");
            assert!(!got.deletion_stuck);
        }
    }

    #[test]
    fn a_success_counts_only_while_its_namespace_exists() {
        for ns in [NamespaceState::Terminating, NamespaceState::Absent] {
            let got = status(Desired::Wanted, Some(Phase::Succeeded), 0, ns);
            assert_eq!(got.status, EnvironmentStatus::Pending, "{ns:?}");
        }
    }

    #[test]
    fn removed_environments_are_deleting_until_the_namespace_is_gone() {
        let recent = Desired::Removed { since: t(8, 0) };
        let got = status(
            recent,
            Some(Phase::Succeeded),
            0,
            NamespaceState::Terminating,
        );
        assert_eq!(
            got,
            DerivedStatus {
                status: EnvironmentStatus::Deleting,
                deletion_stuck: false
            }
        );
        let got = status(recent, Some(Phase::Succeeded), 0, NamespaceState::Absent);
        assert_eq!(got.status, EnvironmentStatus::Deleted);
    }

    #[test]
    fn a_deletion_past_five_minutes_is_flagged_stuck() {
        let old = Desired::Removed { since: t(4, 59) };
        let got = status(old, None, 0, NamespaceState::Terminating);
        assert_eq!(
            got,
            DerivedStatus {
                status: EnvironmentStatus::Deleting,
                deletion_stuck: true
            }
        );
        // Exactly five minutes is still within the allowance.
        let edge = Desired::Removed { since: t(5, 0) };
        assert!(!status(edge, None, 0, NamespaceState::Active).deletion_stuck);
        // Once the namespace is gone nothing is stuck, however long it took.
        assert!(!status(old, None, 0, NamespaceState::Absent).deletion_stuck);
    }

    #[test]
    fn statuses_have_stable_names() {
        assert_eq!(EnvironmentStatus::Deleting.to_string(), "deleting");
        let json = serde_json::to_string(&EnvironmentStatus::Ready).unwrap();
        assert_eq!(json, r#""ready""#);
    }
}
