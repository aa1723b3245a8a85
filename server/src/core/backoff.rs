//! Exponential backoff with "full jitter" (AWS Architecture Blog, "Exponential Backoff
//! And Jitter"): the n-th retry waits a uniformly random time between zero and
//! `min(cap, base * 2^n)`. Full jitter spreads retries of many clients (every preview
//! hitting the same GitHub installation, every deployment waiting for capacity) so that
//! they do not come back in lock-step.
//!
//! The random input is a parameter, not drawn here, so that every function stays pure
//! and a test can pin the exact delay. Callers pass `rand::random::<u64>()`.

use std::time::Duration;

/// The upper bound of the wait before retry number `attempt` (0-based):
/// `min(cap, base * 2^attempt)`. Saturating: a huge attempt number gives `cap`, never
/// an overflow. Also used without jitter where a deterministic wait is wanted (the
/// circuit breaker's cool-down).
pub fn ceiling(attempt: u32, base: Duration, cap: Duration) -> Duration {
    // 2^attempt overflows u32 at 32; past that the product is above any sane cap anyway.
    let factor = 1u32.checked_shl(attempt).unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(cap)
}

/// The wait before retry number `attempt` (0-based) with full jitter: a point in
/// `[0, ceiling(attempt, base, cap)]` chosen by `random`, read as a uniform fraction
/// `random / u64::MAX`. `random = 0` gives zero, `random = u64::MAX` gives the ceiling.
pub fn delay(attempt: u32, base: Duration, cap: Duration, random: u64) -> Duration {
    let ceiling = ceiling(attempt, base, cap);
    let fraction = |whole: u64| {
        // (2^64 - 1)^2 < 2^128: the product cannot overflow u128.
        let scaled = u128::from(whole) * u128::from(random) / u128::from(u64::MAX);
        u64::try_from(scaled).unwrap_or(whole)
    };
    match u64::try_from(ceiling.as_nanos()) {
        Ok(nanos) => Duration::from_nanos(fraction(nanos)),
        // Beyond ~584 years nanosecond precision is moot; scale whole seconds.
        Err(_) => Duration::from_secs(fraction(ceiling.as_secs())),
    }
}

/// Like [`delay`], but never shorter than `floor` (itself capped by the ceiling), for
/// callers that must not retry immediately (a retry at zero would hammer the same
/// failure).
pub fn delay_at_least(
    attempt: u32,
    base: Duration,
    cap: Duration,
    floor: Duration,
    random: u64,
) -> Duration {
    let ceiling = ceiling(attempt, base, cap);
    delay(attempt, base, cap, random).max(floor.min(ceiling))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_secs(2);
    const CAP: Duration = Duration::from_secs(60);

    #[test]
    fn attempt_zero_is_bounded_by_base() {
        assert_eq!(ceiling(0, BASE, CAP), BASE);
        assert_eq!(delay(0, BASE, CAP, u64::MAX), BASE);
        assert_eq!(delay(0, BASE, CAP, 0), Duration::ZERO);
    }

    #[test]
    fn ceiling_doubles_until_the_cap() {
        let seen: Vec<u64> = (0..8).map(|n| ceiling(n, BASE, CAP).as_secs()).collect();
        assert_eq!(seen, [2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[test]
    fn ceiling_is_monotone_and_never_exceeds_the_cap() {
        let mut previous = Duration::ZERO;
        for attempt in 0..200 {
            let c = ceiling(attempt, BASE, CAP);
            assert!(c >= previous, "attempt {attempt}");
            assert!(c <= CAP, "attempt {attempt}");
            previous = c;
        }
    }

    #[test]
    fn delay_stays_inside_the_envelope_for_any_random_input() {
        let randoms = [0, 1, 7, u64::MAX / 3, u64::MAX / 2, u64::MAX - 1, u64::MAX];
        for attempt in [0, 1, 2, 5, 31, 32, 33, 64, u32::MAX] {
            for random in randoms {
                let d = delay(attempt, BASE, CAP, random);
                assert!(d <= ceiling(attempt, BASE, CAP), "{attempt} {random}");
                assert!(d <= CAP);
            }
        }
    }

    #[test]
    fn delay_is_deterministic_and_proportional_to_the_random_input() {
        let half = delay(3, BASE, CAP, u64::MAX / 2);
        assert_eq!(half, delay(3, BASE, CAP, u64::MAX / 2));
        // ceiling(3) = 16 s; half of it, give or take a nanosecond of rounding.
        let diff = half.abs_diff(Duration::from_secs(8));
        assert!(diff <= Duration::from_nanos(1), "{half:?}");
        assert!(delay(3, BASE, CAP, 10) <= delay(3, BASE, CAP, 11));
    }

    #[test]
    fn extreme_inputs_saturate_instead_of_overflowing() {
        let max = Duration::MAX;
        assert_eq!(ceiling(u32::MAX, max, max), max);
        assert!(delay(u32::MAX, max, max, u64::MAX) <= max);
        assert_eq!(ceiling(10, Duration::ZERO, CAP), Duration::ZERO);
        assert_eq!(delay(10, BASE, Duration::ZERO, u64::MAX), Duration::ZERO);
    }

    #[test]
    fn floor_keeps_retries_from_firing_immediately() {
        let floor = Duration::from_secs(1);
        assert_eq!(delay_at_least(0, BASE, CAP, floor, 0), floor);
        assert_eq!(
            delay_at_least(4, BASE, CAP, floor, u64::MAX),
            ceiling(4, BASE, CAP)
        );
        // A floor above the ceiling is clamped, so the cap still holds.
        assert_eq!(
            delay_at_least(0, BASE, CAP, Duration::from_secs(600), 0),
            BASE
        );
    }
}
