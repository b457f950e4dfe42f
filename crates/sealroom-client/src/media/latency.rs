//! One-way latency of received frames, send to receive, kept as a compact histogram so a load
//! run can take percentiles over a window without storing every sample.

use std::time::Duration;

use serde::Serialize;

/// Sub-buckets per power of two: values are kept within 1/32 (about 3 %) of their true value.
const SUB_BUCKET_BITS: u32 = 5;
const SUB_BUCKETS: u64 = 1 << SUB_BUCKET_BITS;

/// Counts of latencies in microseconds, in log-linear buckets (exact below 64 µs, then 32
/// buckets per power of two). Mergeable, and subtractable for a window between two snapshots.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LatencyHistogram {
    counts: Vec<u64>,
}

impl LatencyHistogram {
    /// Counts one latency.
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let index = bucket_index(micros);
        if self.counts.len() <= index {
            self.counts.resize(index + 1, 0);
        }
        self.counts[index] += 1;
    }

    /// How many latencies were counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &Self) {
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
    }

    /// What was counted after `earlier`, a snapshot of the same histogram.
    pub fn since(&self, earlier: &Self) -> Self {
        let counts = self
            .counts
            .iter()
            .enumerate()
            .map(|(i, count)| count.saturating_sub(earlier.counts.get(i).copied().unwrap_or(0)))
            .collect();
        Self { counts }
    }

    /// The latency at quantile `q` (0.5 is the median), the middle of its bucket; `None` when
    /// nothing was counted.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        // The rank of the sample at q, 1-based, as in the nearest-rank method.
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let (low, high) = bucket_bounds(index);
                return Some(Duration::from_nanos((low + high) * 500));
            }
        }
        None
    }
}

/// Values below 2 × SUB_BUCKETS get a bucket each; above, each power of two is split into
/// SUB_BUCKETS equal buckets.
fn bucket_index(micros: u64) -> usize {
    if micros < 2 * SUB_BUCKETS {
        return micros as usize;
    }
    let exponent = 63 - micros.leading_zeros(); // >= SUB_BUCKET_BITS + 1
    let shift = exponent - SUB_BUCKET_BITS;
    let sub = (micros >> shift) - SUB_BUCKETS; // 0..SUB_BUCKETS
    (2 * SUB_BUCKETS + u64::from(shift - 1) * SUB_BUCKETS + sub) as usize
}

/// The microseconds a bucket covers: `low..high`.
fn bucket_bounds(index: usize) -> (u64, u64) {
    let index = index as u64;
    if index < 2 * SUB_BUCKETS {
        return (index, index + 1);
    }
    let shift = (index - 2 * SUB_BUCKETS) / SUB_BUCKETS + 1;
    let sub = (index - 2 * SUB_BUCKETS) % SUB_BUCKETS;
    let low = (SUB_BUCKETS + sub) << shift;
    (low, low + (1 << shift))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_once_and_stay_within_three_percent() {
        let mut previous_high = 0;
        for index in 0..600 {
            let (low, high) = bucket_bounds(index);
            assert_eq!(
                low, previous_high,
                "bucket {index} starts where the last ended"
            );
            assert_eq!(bucket_index(low), index);
            assert_eq!(bucket_index(high - 1), index);
            assert!(
                (high - low) * 32 <= low.max(32),
                "bucket {index}: {low}..{high}"
            );
            previous_high = high;
        }
    }

    #[test]
    fn quantiles_windows_and_merges() {
        let mut earlier = LatencyHistogram::default();
        earlier.record(Duration::from_secs(5));
        let mut histogram = earlier.clone();
        for ms in 1..=100 {
            histogram.record(Duration::from_millis(ms));
        }
        let window = histogram.since(&earlier);
        assert_eq!(window.count(), 100);
        let near = |d: Option<Duration>, ms: f64| {
            let d = d.unwrap().as_secs_f64() * 1e3;
            (d - ms).abs() <= ms * 0.03
        };
        assert!(
            near(window.quantile(0.5), 50.0),
            "{:?}",
            window.quantile(0.5)
        );
        assert!(
            near(window.quantile(0.99), 99.0),
            "{:?}",
            window.quantile(0.99)
        );
        assert!(near(window.quantile(1.0), 100.0));

        let mut merged = window.clone();
        merged.merge(&earlier);
        assert_eq!(merged.count(), 101);
        assert!(near(merged.quantile(1.0), 5_000.0));
        assert_eq!(LatencyHistogram::default().quantile(0.5), None);
    }
}
