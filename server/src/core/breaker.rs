//! The circuit breaker in front of GitHub, one per installation (GitHub budgets
//! requests per installation). Closed: calls go through. Open: calls are refused
//! without touching GitHub until a known instant, so an exhausted budget is not made
//! worse and the engine can coalesce comment updates meanwhile. Half-open: exactly one
//! probe goes through; its outcome closes or reopens the breaker.
//!
//! It opens
//! - on a primary rate limit, until the budget's reset time (plus a small margin for
//!   clock skew), or pre-emptively when a response reports `remaining: 0`;
//! - on a secondary rate limit, until `retry-after` says;
//! - after `failure_threshold` consecutive transient errors, for a cool-down that
//!   doubles with each consecutive trip up to a cap.
//!
//! Pure: the caller passes the current time into every method, so tests need no clock.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::backoff;
use super::github_rate_limit::{GithubFailure, RateLimitInfo, add};

/// Tuning for [`Breaker`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive transient errors that open the breaker.
    pub failure_threshold: u32,
    /// First cool-down after transient errors; doubles per consecutive trip.
    pub cool_down_base: Duration,
    pub cool_down_cap: Duration,
    /// A half-open probe that has not reported back after this long is presumed lost
    /// (its task was cancelled), and another probe is let through.
    pub probe_timeout: Duration,
    /// Added to a primary limit's reset time: GitHub's clock and ours differ a little.
    pub reset_margin: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cool_down_base: Duration::from_secs(30),
            cool_down_cap: Duration::from_secs(10 * 60),
            probe_timeout: Duration::from_secs(60),
            reset_margin: Duration::from_secs(1),
        }
    }
}

/// The breaker's state, for the `circuit-breaker state` metric and the dashboard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// Why the breaker last opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpenReason {
    PrimaryRateLimit,
    SecondaryRateLimit,
    TransientErrors,
}

/// The answer to "may I call GitHub now?".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    Permit,
    /// Try again at `until` (not before).
    Rejected {
        until: DateTime<Utc>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Inner {
    Closed {
        consecutive_failures: u32,
    },
    Open {
        until: DateTime<Utc>,
        reason: OpenReason,
    },
    HalfOpen {
        probe_started: DateTime<Utc>,
        reason: OpenReason,
    },
}

/// A circuit breaker for one GitHub installation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breaker {
    config: BreakerConfig,
    inner: Inner,
    /// Consecutive openings caused by transient errors; the cool-down grows with it.
    error_trips: u32,
}

impl Breaker {
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            inner: Inner::Closed {
                consecutive_failures: 0,
            },
            error_trips: 0,
        }
    }

    pub fn state(&self) -> BreakerState {
        match self.inner {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// When a rate limit lifts, while the breaker is open because of one: the PR
    /// comment's "github: rate limited until HH:MM UTC" note.
    pub fn rate_limited_until(&self) -> Option<DateTime<Utc>> {
        match self.inner {
            Inner::Open { until, reason } if reason != OpenReason::TransientErrors => Some(until),
            _ => None,
        }
    }

    /// Asks to make one call at `now`. Moving from open to half-open happens here, and
    /// the caller that gets that `Permit` is the probe: it must report its outcome.
    pub fn allow(&mut self, now: DateTime<Utc>) -> Admission {
        match self.inner {
            Inner::Closed { .. } => Admission::Permit,
            Inner::Open { until, .. } if now < until => Admission::Rejected { until },
            Inner::Open { reason, .. } => {
                self.inner = Inner::HalfOpen {
                    probe_started: now,
                    reason,
                };
                Admission::Permit
            }
            Inner::HalfOpen {
                probe_started,
                reason,
            } => {
                let lost_after = add(probe_started, self.config.probe_timeout);
                if now < lost_after {
                    Admission::Rejected { until: lost_after }
                } else {
                    self.inner = Inner::HalfOpen {
                        probe_started: now,
                        reason,
                    };
                    Admission::Permit
                }
            }
        }
    }

    /// A call got a successful answer.
    pub fn on_success(&mut self, _now: DateTime<Utc>) {
        self.inner = Inner::Closed {
            consecutive_failures: 0,
        };
        self.error_trips = 0;
    }

    /// A call failed. A permanent failure (404, 422, …) proves GitHub is answering, so
    /// it counts as a success here; the caller still handles the error.
    pub fn on_failure(&mut self, now: DateTime<Utc>, failure: GithubFailure) {
        match failure {
            GithubFailure::Permanent => self.on_success(now),
            GithubFailure::PrimaryRateLimited { reset } => {
                let until = add(reset, self.config.reset_margin);
                self.open(until.max(now), OpenReason::PrimaryRateLimit);
            }
            GithubFailure::SecondaryRateLimited { retry_after } => {
                self.open(retry_after.resolve(now), OpenReason::SecondaryRateLimit);
            }
            GithubFailure::Transient => match self.inner {
                Inner::Closed {
                    consecutive_failures,
                } => {
                    let failures = consecutive_failures.saturating_add(1);
                    if failures >= self.config.failure_threshold {
                        self.trip_on_errors(now);
                    } else {
                        self.inner = Inner::Closed {
                            consecutive_failures: failures,
                        };
                    }
                }
                // The probe failed: back to open, with a longer cool-down.
                Inner::HalfOpen { .. } => self.trip_on_errors(now),
                // A call admitted before the breaker opened reports late: nothing new.
                Inner::Open { .. } => {}
            },
        }
    }

    /// Looks at the budget headers of any response, successful or not: when the
    /// budget is spent, open now rather than waste the next call on a certain 403.
    pub fn observe(&mut self, now: DateTime<Utc>, info: &RateLimitInfo) {
        if let (true, Some(reset)) = (info.is_exhausted(), info.reset) {
            self.on_failure(now, GithubFailure::PrimaryRateLimited { reset });
        }
    }

    fn trip_on_errors(&mut self, now: DateTime<Utc>) {
        let cool_down = backoff::ceiling(
            self.error_trips,
            self.config.cool_down_base,
            self.config.cool_down_cap,
        );
        self.error_trips = self.error_trips.saturating_add(1);
        self.open(add(now, cool_down), OpenReason::TransientErrors);
    }

    /// Opens until `until`; an already-open breaker keeps the later of the two.
    fn open(&mut self, until: DateTime<Utc>, reason: OpenReason) {
        if let Inner::Open {
            until: current,
            reason: current_reason,
        } = self.inner
            && current > until
        {
            self.inner = Inner::Open {
                until: current,
                reason: current_reason,
            };
            return;
        }
        self.inner = Inner::Open { until, reason };
    }
}

impl Default for Breaker {
    fn default() -> Self {
        Self::new(BreakerConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::github_rate_limit::RetryAfter;
    use chrono::TimeZone;

    fn at(m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 14, m, s).unwrap()
    }

    fn breaker() -> Breaker {
        Breaker::new(BreakerConfig {
            failure_threshold: 3,
            cool_down_base: Duration::from_secs(30),
            cool_down_cap: Duration::from_secs(120),
            probe_timeout: Duration::from_secs(60),
            reset_margin: Duration::from_secs(1),
        })
    }

    #[test]
    fn a_closed_breaker_permits_calls() {
        let mut b = breaker();
        assert_eq!(b.allow(at(0, 0)), Admission::Permit);
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.rate_limited_until(), None);
    }

    #[test]
    fn primary_limit_opens_until_reset_plus_margin() {
        let mut b = breaker();
        b.on_failure(
            at(0, 0),
            GithubFailure::PrimaryRateLimited { reset: at(30, 0) },
        );
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.allow(at(29, 0)), Admission::Rejected { until: at(30, 1) });
        assert_eq!(b.rate_limited_until(), Some(at(30, 1)));
        assert_eq!(b.allow(at(30, 1)), Admission::Permit);
        assert_eq!(b.state(), BreakerState::HalfOpen);
    }

    #[test]
    fn secondary_limit_opens_for_retry_after() {
        let mut b = breaker();
        let retry_after = RetryAfter::Delay(Duration::from_secs(45));
        b.on_failure(
            at(0, 0),
            GithubFailure::SecondaryRateLimited { retry_after },
        );
        assert_eq!(b.allow(at(0, 44)), Admission::Rejected { until: at(0, 45) });
        assert_eq!(b.allow(at(0, 45)), Admission::Permit);
    }

    #[test]
    fn half_open_lets_exactly_one_probe_through() {
        let mut b = breaker();
        b.on_failure(
            at(0, 0),
            GithubFailure::PrimaryRateLimited { reset: at(1, 0) },
        );
        assert_eq!(b.allow(at(2, 0)), Admission::Permit);
        // Everyone else waits for the probe's outcome (or its presumed loss).
        assert_eq!(b.allow(at(2, 1)), Admission::Rejected { until: at(3, 0) });
        assert_eq!(b.allow(at(2, 59)), Admission::Rejected { until: at(3, 0) });
        b.on_success(at(2, 5));
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.allow(at(2, 6)), Admission::Permit);
    }

    #[test]
    fn a_lost_probe_is_replaced_after_the_probe_timeout() {
        let mut b = breaker();
        b.on_failure(
            at(0, 0),
            GithubFailure::PrimaryRateLimited { reset: at(1, 0) },
        );
        assert_eq!(b.allow(at(2, 0)), Admission::Permit);
        assert_eq!(b.allow(at(3, 0)), Admission::Permit);
        assert_eq!(b.allow(at(3, 1)), Admission::Rejected { until: at(4, 0) });
    }

    #[test]
    fn consecutive_transient_errors_open_with_a_growing_cool_down() {
        let mut b = breaker();
        b.on_failure(at(0, 0), GithubFailure::Transient);
        b.on_failure(at(0, 1), GithubFailure::Transient);
        assert_eq!(b.state(), BreakerState::Closed);
        b.on_failure(at(0, 2), GithubFailure::Transient);
        assert_eq!(b.allow(at(0, 3)), Admission::Rejected { until: at(0, 32) });
        assert_eq!(b.rate_limited_until(), None, "errors are not a rate limit");
        // The probe fails: the cool-down doubles, then caps.
        assert_eq!(b.allow(at(0, 32)), Admission::Permit);
        b.on_failure(at(0, 33), GithubFailure::Transient);
        assert_eq!(b.allow(at(0, 34)), Admission::Rejected { until: at(1, 33) });
        assert_eq!(b.allow(at(1, 33)), Admission::Permit);
        b.on_failure(at(1, 33), GithubFailure::Transient);
        assert_eq!(b.allow(at(1, 34)), Admission::Rejected { until: at(3, 33) });
        assert_eq!(b.allow(at(3, 33)), Admission::Permit);
        b.on_failure(at(3, 33), GithubFailure::Transient);
        assert_eq!(b.allow(at(3, 34)), Admission::Rejected { until: at(5, 33) });
    }

    #[test]
    fn success_resets_the_error_count_and_the_cool_down() {
        let mut b = breaker();
        b.on_failure(at(0, 0), GithubFailure::Transient);
        b.on_failure(at(0, 1), GithubFailure::Transient);
        b.on_success(at(0, 2));
        b.on_failure(at(0, 3), GithubFailure::Transient);
        b.on_failure(at(0, 4), GithubFailure::Transient);
        assert_eq!(b.state(), BreakerState::Closed);
        // A 404 also proves GitHub answers.
        b.on_failure(at(0, 5), GithubFailure::Permanent);
        b.on_failure(at(0, 6), GithubFailure::Transient);
        b.on_failure(at(0, 7), GithubFailure::Transient);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn an_open_breaker_keeps_the_later_deadline() {
        let mut b = breaker();
        b.on_failure(
            at(0, 0),
            GithubFailure::PrimaryRateLimited { reset: at(30, 0) },
        );
        let short = RetryAfter::Delay(Duration::from_secs(60));
        b.on_failure(
            at(0, 0),
            GithubFailure::SecondaryRateLimited { retry_after: short },
        );
        assert_eq!(b.allow(at(5, 0)), Admission::Rejected { until: at(30, 1) });
        // Late transient errors from calls admitted earlier change nothing.
        b.on_failure(at(5, 0), GithubFailure::Transient);
        assert_eq!(b.rate_limited_until(), Some(at(30, 1)));
    }

    #[test]
    fn a_reset_in_the_past_opens_only_briefly() {
        let mut b = breaker();
        b.on_failure(
            at(10, 0),
            GithubFailure::PrimaryRateLimited { reset: at(0, 0) },
        );
        assert_eq!(b.allow(at(10, 0)), Admission::Permit);
    }

    #[test]
    fn an_exhausted_budget_opens_before_the_next_call() {
        let mut b = breaker();
        let mut info = RateLimitInfo {
            remaining: Some(3),
            reset: Some(at(45, 0)),
            ..RateLimitInfo::default()
        };
        b.observe(at(0, 0), &info);
        assert_eq!(b.state(), BreakerState::Closed);
        info.remaining = Some(0);
        b.observe(at(0, 0), &info);
        assert_eq!(b.allow(at(1, 0)), Admission::Rejected { until: at(45, 1) });
        assert_eq!(BreakerState::HalfOpen.as_str(), "half_open");
    }
}
