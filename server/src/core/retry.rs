//! When a failed deployment attempt is tried again (FR-011): application failures get
//! at most three retries with exponential backoff and jitter, then the environment is
//! permanently failed until the next push or a manual retry. Capacity failures are the
//! cluster's problem, not the application's: they requeue with backoff and never spend
//! the budget. Configuration errors are not retried at all: the same SHA would fail the
//! same way.

use std::time::Duration;

use super::backoff;
use super::deployment::FailureStage;

/// Retry limits and the backoff envelope; the default is FR-011's three retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base: Duration::from_secs(15),
            cap: Duration::from_secs(300),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryDecision {
    /// Queue a new attempt after `delay`. `consumes_budget` is false for capacity
    /// failures, which say nothing about the application.
    Retry {
        delay: Duration,
        consumes_budget: bool,
    },
    /// Permanently failed until a new push or a manual retry.
    GiveUp,
}

/// What the policy needs to know about an environment's attempts at its current SHA.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetryHistory {
    /// Retries already spent on application failures (attempts after the first).
    pub retries_used: u32,
    /// Consecutive requeues for lack of capacity; drives their backoff only.
    pub capacity_requeues: u32,
}

impl RetryPolicy {
    /// Decides about an attempt that failed at `stage`. `random` feeds the jitter
    /// (`rand::random::<u64>()` in production).
    pub fn decide(&self, stage: FailureStage, history: RetryHistory, random: u64) -> RetryDecision {
        // Never retry at zero delay: the same failure would come straight back.
        let floor = Duration::from_secs(1);
        match stage {
            FailureStage::Configuration => RetryDecision::GiveUp,
            FailureStage::Capacity => RetryDecision::Retry {
                delay: backoff::delay_at_least(
                    history.capacity_requeues,
                    self.base,
                    self.cap,
                    floor,
                    random,
                ),
                consumes_budget: false,
            },
            FailureStage::Provisioning | FailureStage::Job | FailureStage::Health => {
                if self.budget_left(history) {
                    RetryDecision::Retry {
                        delay: backoff::delay_at_least(
                            history.retries_used,
                            self.base,
                            self.cap,
                            floor,
                            random,
                        ),
                        consumes_budget: true,
                    }
                } else {
                    RetryDecision::GiveUp
                }
            }
        }
    }

    /// Whether another application-failure retry is allowed.
    pub const fn budget_left(&self, history: RetryHistory) -> bool {
        history.retries_used < self.max_retries
    }

    /// Whether an attempt that failed at `stage` will be followed by another one.
    pub const fn will_retry(&self, stage: FailureStage, history: RetryHistory) -> bool {
        match stage {
            FailureStage::Configuration => false,
            FailureStage::Capacity => true,
            _ => self.budget_left(history),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(retries_used: u32, capacity_requeues: u32) -> RetryHistory {
        RetryHistory {
            retries_used,
            capacity_requeues,
        }
    }

    #[test]
    fn application_failures_retry_three_times_then_give_up() {
        let policy = RetryPolicy::default();
        for used in 0..3 {
            match policy.decide(FailureStage::Job, history(used, 0), u64::MAX) {
                RetryDecision::Retry {
                    delay,
                    consumes_budget,
                } => {
                    assert!(consumes_budget);
                    assert_eq!(delay, backoff::ceiling(used, policy.base, policy.cap));
                }
                RetryDecision::GiveUp => panic!("retry {used} should be allowed"),
            }
        }
        assert_eq!(
            policy.decide(FailureStage::Health, history(3, 0), 0),
            RetryDecision::GiveUp
        );
        assert_eq!(
            policy.decide(FailureStage::Provisioning, history(9, 0), 0),
            RetryDecision::GiveUp
        );
    }

    #[test]
    fn capacity_failures_requeue_without_spending_the_budget() {
        let policy = RetryPolicy::default();
        let decision = policy.decide(FailureStage::Capacity, history(3, 40), u64::MAX);
        assert_eq!(
            decision,
            RetryDecision::Retry {
                delay: policy.cap,
                consumes_budget: false
            }
        );
        match policy.decide(FailureStage::Capacity, history(0, 0), 0) {
            RetryDecision::Retry { delay, .. } => assert_eq!(delay, Duration::from_secs(1)),
            RetryDecision::GiveUp => panic!("capacity must requeue"),
        }
    }

    #[test]
    fn configuration_errors_wait_for_a_push() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.decide(FailureStage::Configuration, history(0, 0), 7),
            RetryDecision::GiveUp
        );
    }
}
