//! The deployment attempt state machine.
//!
//! One attempt deploys one head SHA and is persisted with its [`Phase`]; the engine
//! feeds it [`Event`]s and stores what [`transition`] answers, before and after each
//! step, so a restart resumes exactly where it stopped:
//!
//! ```text
//! queued -> provisioning -> deploying -> verifying -> succeeded
//!              |               |            '-> failed (health)
//!              |               '-> failed (job)
//!              '-> failed (provisioning | configuration)
//! provisioning/deploying/verifying -> failed (capacity)
//! any non-terminal phase -> superseded (newer SHA) | cancelled (PR closed, manual)
//! ```
//!
//! A failed attempt is never revived: a retry is a new attempt in `queued`, decided
//! by [`super::retry::RetryPolicy::decide`]. That keeps the history honest (every try
//! is a row) and lets the retry budget be counted from the rows.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a failed attempt failed. The stage decides whether a retry can help.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureStage {
    /// Applying the namespace kit (namespace, quota, policies, RBAC, secrets) failed.
    Provisioning,
    /// The pull request pod (build + `helm upgrade --install`) failed.
    Job,
    /// Rollout or the HTTP probe of the health path failed.
    Health,
    /// The cluster had no room (quota rejection, pods unschedulable for too long).
    /// Not the application's fault: requeued without spending the retry budget.
    Capacity,
    /// The repository's configuration is unusable. Retrying the same SHA cannot help;
    /// a push (or a configuration change plus manual retry) can.
    Configuration,
}

impl FailureStage {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Provisioning => "provisioning",
            Self::Job => "job",
            Self::Health => "health",
            Self::Capacity => "capacity",
            Self::Configuration => "configuration",
        }
    }
}

impl fmt::Display for FailureStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The phase of one deployment attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "phase")]
pub enum Phase {
    Queued,
    Provisioning,
    Deploying,
    Verifying,
    Succeeded,
    Failed {
        stage: FailureStage,
    },
    /// A newer head SHA arrived; this attempt's work was abandoned.
    Superseded,
    /// The PR closed or someone cancelled the attempt.
    Cancelled,
}

impl Phase {
    /// The name stored in the database and shown in the API (`failed` for every stage).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Provisioning => "provisioning",
            Self::Deploying => "deploying",
            Self::Verifying => "verifying",
            Self::Succeeded => "succeeded",
            Self::Failed { .. } => "failed",
            Self::Superseded => "superseded",
            Self::Cancelled => "cancelled",
        }
    }

    /// No event moves the attempt on from here.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed { .. } | Self::Superseded | Self::Cancelled
        )
    }

    /// Doing work in the cluster, so it holds one of the concurrent-deployment slots.
    /// A queued attempt waits for a slot and does not hold one.
    pub const fn is_in_flight(self) -> bool {
        matches!(self, Self::Provisioning | Self::Deploying | Self::Verifying)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed { stage } => write!(f, "failed ({stage})"),
            other => f.write_str(other.as_str()),
        }
    }
}

/// Something that happened to an attempt. Reasons travel with the event so the engine
/// can persist them next to the new phase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A capacity slot was granted; provisioning begins.
    Start,
    Provisioned,
    ProvisioningFailed {
        reason: String,
    },
    ConfigurationInvalid {
        reason: String,
    },
    CapacityUnavailable {
        reason: String,
    },
    JobSucceeded,
    JobFailed {
        reason: String,
    },
    HealthPassed,
    HealthFailed {
        check: String,
    },
    NewerShaArrived,
    PrClosed,
    Cancel,
}

impl Event {
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Provisioned => "provisioned",
            Self::ProvisioningFailed { .. } => "provisioning failed",
            Self::ConfigurationInvalid { .. } => "configuration invalid",
            Self::CapacityUnavailable { .. } => "capacity unavailable",
            Self::JobSucceeded => "job succeeded",
            Self::JobFailed { .. } => "job failed",
            Self::HealthPassed => "health passed",
            Self::HealthFailed { .. } => "health failed",
            Self::NewerShaArrived => "newer sha arrived",
            Self::PrClosed => "pr closed",
            Self::Cancel => "cancel",
        }
    }

    /// The human-readable cause carried by a failure event, for the attempt's record.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::ProvisioningFailed { reason }
            | Self::ConfigurationInvalid { reason }
            | Self::CapacityUnavailable { reason }
            | Self::JobFailed { reason } => Some(reason),
            Self::HealthFailed { check } => Some(check),
            _ => None,
        }
    }
}

/// An event that does not apply to the attempt's phase. The engine is level-triggered
/// and may replay an event after a restart, so callers usually log this and carry on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot apply `{event}` to a deployment that is {from}")]
pub struct InvalidTransition {
    pub from: Phase,
    pub event: &'static str,
}

/// The next phase of an attempt in `current` after `event`.
pub fn transition(current: Phase, event: &Event) -> Result<Phase, InvalidTransition> {
    use Phase as P;
    let next = match (current, event) {
        (from, _) if from.is_terminal() => None,
        (_, Event::NewerShaArrived) => Some(P::Superseded),
        (_, Event::PrClosed | Event::Cancel) => Some(P::Cancelled),
        (P::Queued, Event::Start) => Some(P::Provisioning),
        (P::Queued | P::Provisioning, Event::ConfigurationInvalid { .. }) => Some(P::Failed {
            stage: FailureStage::Configuration,
        }),
        (P::Provisioning, Event::Provisioned) => Some(P::Deploying),
        (P::Provisioning, Event::ProvisioningFailed { .. }) => Some(P::Failed {
            stage: FailureStage::Provisioning,
        }),
        (from, Event::CapacityUnavailable { .. }) if from.is_in_flight() => Some(P::Failed {
            stage: FailureStage::Capacity,
        }),
        (P::Deploying, Event::JobSucceeded) => Some(P::Verifying),
        (P::Deploying, Event::JobFailed { .. }) => Some(P::Failed {
            stage: FailureStage::Job,
        }),
        (P::Verifying, Event::HealthPassed) => Some(P::Succeeded),
        (P::Verifying, Event::HealthFailed { .. }) => Some(P::Failed {
            stage: FailureStage::Health,
        }),
        _ => None,
    };
    next.ok_or(InvalidTransition {
        from: current,
        event: event.name(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(stage: FailureStage) -> Phase {
        Phase::Failed { stage }
    }

    fn reason(s: &str) -> String {
        s.to_owned()
    }

    #[test]
    fn the_happy_path_runs_queued_to_succeeded() {
        let steps = [
            (Event::Start, Phase::Provisioning),
            (Event::Provisioned, Phase::Deploying),
            (Event::JobSucceeded, Phase::Verifying),
            (Event::HealthPassed, Phase::Succeeded),
        ];
        let mut phase = Phase::Queued;
        for (event, expected) in steps {
            phase = transition(phase, &event).unwrap();
            assert_eq!(phase, expected);
        }
        assert!(phase.is_terminal());
    }

    #[test]
    fn failures_record_their_stage() {
        let cases = [
            (
                Phase::Provisioning,
                Event::ProvisioningFailed {
                    reason: reason("quota apply"),
                },
                FailureStage::Provisioning,
            ),
            (
                Phase::Deploying,
                Event::JobFailed {
                    reason: reason("helm exited 1"),
                },
                FailureStage::Job,
            ),
            (
                Phase::Verifying,
                Event::HealthFailed {
                    check: reason("GET /healthz 503"),
                },
                FailureStage::Health,
            ),
            (
                Phase::Queued,
                Event::ConfigurationInvalid {
                    reason: reason("no chart"),
                },
                FailureStage::Configuration,
            ),
            (
                Phase::Provisioning,
                Event::ConfigurationInvalid {
                    reason: reason("no chart"),
                },
                FailureStage::Configuration,
            ),
            (
                Phase::Provisioning,
                Event::CapacityUnavailable {
                    reason: reason("quota"),
                },
                FailureStage::Capacity,
            ),
            (
                Phase::Deploying,
                Event::CapacityUnavailable {
                    reason: reason("unschedulable"),
                },
                FailureStage::Capacity,
            ),
            (
                Phase::Verifying,
                Event::CapacityUnavailable {
                    reason: reason("unschedulable"),
                },
                FailureStage::Capacity,
            ),
        ];
        for (from, event, stage) in cases {
            assert_eq!(
                transition(from, &event),
                Ok(fail(stage)),
                "{from} + {}",
                event.name()
            );
        }
    }

    #[test]
    fn newer_sha_and_close_stop_any_unfinished_attempt() {
        for from in [
            Phase::Queued,
            Phase::Provisioning,
            Phase::Deploying,
            Phase::Verifying,
        ] {
            assert_eq!(
                transition(from, &Event::NewerShaArrived),
                Ok(Phase::Superseded)
            );
            assert_eq!(transition(from, &Event::PrClosed), Ok(Phase::Cancelled));
            assert_eq!(transition(from, &Event::Cancel), Ok(Phase::Cancelled));
        }
    }

    #[test]
    fn terminal_phases_accept_no_event() {
        let terminal = [
            Phase::Succeeded,
            fail(FailureStage::Job),
            Phase::Superseded,
            Phase::Cancelled,
        ];
        for from in terminal {
            for event in [
                Event::Start,
                Event::NewerShaArrived,
                Event::PrClosed,
                Event::HealthPassed,
            ] {
                let err = transition(from, &event).unwrap_err();
                assert_eq!(err.from, from);
            }
        }
    }

    #[test]
    fn out_of_order_events_are_rejected_with_a_readable_error() {
        let err = transition(Phase::Queued, &Event::JobSucceeded).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot apply `job succeeded` to a deployment that is queued"
        );
        assert!(transition(Phase::Deploying, &Event::Provisioned).is_err());
        assert!(
            transition(
                Phase::Verifying,
                &Event::JobFailed {
                    reason: reason("x")
                }
            )
            .is_err()
        );
        // Capacity is a cluster answer; a queued attempt has not asked the cluster yet.
        assert!(
            transition(
                Phase::Queued,
                &Event::CapacityUnavailable {
                    reason: reason("x")
                }
            )
            .is_err()
        );
    }

    #[test]
    fn only_running_phases_hold_a_slot() {
        let in_flight: Vec<&str> = [
            Phase::Queued,
            Phase::Provisioning,
            Phase::Deploying,
            Phase::Verifying,
            Phase::Succeeded,
            fail(FailureStage::Health),
            Phase::Superseded,
            Phase::Cancelled,
        ]
        .into_iter()
        .filter(|p| p.is_in_flight())
        .map(Phase::as_str)
        .collect();
        assert_eq!(in_flight, ["provisioning", "deploying", "verifying"]);
        assert_eq!(fail(FailureStage::Health).to_string(), "failed (health)");
    }

    #[test]
    fn event_reasons_travel_with_failures() {
        assert_eq!(
            Event::HealthFailed {
                check: reason("probe")
            }
            .reason(),
            Some("probe")
        );
        assert_eq!(Event::Start.reason(), None);
    }
    #[test]
    fn names_are_stable_for_storage() {
        assert_eq!(
            Phase::Failed {
                stage: FailureStage::Job
            }
            .as_str(),
            "failed"
        );
        let json = serde_json::to_string(&fail(FailureStage::Capacity)).unwrap();
        assert_eq!(json, r#"{"phase":"failed","stage":"capacity"}"#);
    }
}
