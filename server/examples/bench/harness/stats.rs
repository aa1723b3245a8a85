//! Percentiles of measured latencies. Nearest-rank on the sorted sample: the figure is
//! always a latency that was actually observed, never an interpolation between two.

use std::time::Duration;

/// The `p`-th percentile (0 < p ≤ 100) of an ascending sample, by nearest rank;
/// `None` for an empty sample.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    // Nearest rank: the smallest value with at least p% of the sample at or below it.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, n) - 1])
}

/// The figures a latency row prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    pub count: usize,
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
    pub max: Duration,
}

/// Summarises a sample (any order); `None` when it is empty.
pub fn summarize(mut sample: Vec<Duration>) -> Option<Summary> {
    sample.sort_unstable();
    Some(Summary {
        count: sample.len(),
        p50: percentile(&sample, 50.0)?,
        p95: percentile(&sample, 95.0)?,
        p99: percentile(&sample, 99.0)?,
        max: *sample.last()?,
    })
}

/// Milliseconds with two decimals, for the table.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn nearest_rank_on_a_hundred_values() {
        let sample: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sample, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&sample, 95.0), Some(Duration::from_millis(95)));
        assert_eq!(percentile(&sample, 99.0), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&sample, 100.0), Some(Duration::from_millis(100)));
    }

    #[test]
    fn small_samples_round_up_to_an_observed_value() {
        let sample = millis(&[10, 20, 30]);
        assert_eq!(percentile(&sample, 50.0), Some(Duration::from_millis(20)));
        assert_eq!(percentile(&sample, 95.0), Some(Duration::from_millis(30)));
        assert_eq!(percentile(&sample, 1.0), Some(Duration::from_millis(10)));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn summary_sorts_its_input() {
        let s = summarize(millis(&[9, 1, 5, 3, 7])).unwrap();
        assert_eq!(s.count, 5);
        assert_eq!(s.p50, Duration::from_millis(5));
        assert_eq!(s.p95, Duration::from_millis(9));
        assert_eq!(s.max, Duration::from_millis(9));
        assert_eq!(summarize(Vec::new()), None);
    }
}
