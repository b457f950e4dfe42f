//! Token buckets that limit join attempts per address and per room. Sans-IO: time comes in as
//! an argument, so the limits are tested without waiting.

use std::{
    collections::HashMap,
    hash::Hash,
    time::{Duration, Instant},
};

use serde::Deserialize;

/// A bucket's size and refill rate.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Attempts allowed at once (the bucket's size).
    pub burst: u32,
    /// Attempts added back per minute.
    pub per_minute: u32,
}

impl RateLimit {
    fn refill_interval(self) -> Duration {
        Duration::from_secs(60) / self.per_minute.max(1)
    }
}

struct Bucket {
    tokens: f64,
    updated: Instant,
    /// Refused since the last token was taken.
    refusing: bool,
}

/// A refused attempt.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limited {
    /// How long until a token is there.
    pub wait: Duration,
    /// The first refusal since the last accepted attempt (worth a log record; the rest of a
    /// flood is not).
    pub first: bool,
    /// Which limit (set by the caller).
    pub key: &'static str,
}

impl Limited {
    /// The same refusal, naming its limit.
    pub fn named(self, key: &'static str) -> Self {
        Self { key, ..self }
    }
}

/// One token bucket per key (an address, a room).
pub struct TokenBuckets<K> {
    limit: RateLimit,
    buckets: HashMap<K, Bucket>,
}

impl<K: Hash + Eq + Clone> TokenBuckets<K> {
    /// No bucket yet: every key starts full.
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: HashMap::new(),
        }
    }

    fn refilled(&self, key: &K, now: Instant) -> f64 {
        let burst = f64::from(self.limit.burst);
        self.buckets.get(key).map_or(burst, |bucket| {
            let elapsed = now.saturating_duration_since(bucket.updated);
            let refill = elapsed.as_secs_f64() * f64::from(self.limit.per_minute) / 60.0;
            (bucket.tokens + refill).min(burst)
        })
    }

    /// How long until `key` may try again, or `None` if it may now (without taking a token).
    pub fn wait(&self, key: &K, now: Instant) -> Option<Duration> {
        let tokens = self.refilled(key, now);
        (tokens < 1.0).then(|| self.limit.refill_interval().mul_f64(1.0 - tokens))
    }

    /// Takes a token for `key`, or says how long until one is there.
    pub fn take(&mut self, key: &K, now: Instant) -> Result<(), Limited> {
        if let Some(wait) = self.wait(key, now) {
            // Only a bucket that was drawn from can be empty, so it exists.
            let first = self
                .buckets
                .get_mut(key)
                .is_some_and(|bucket| !std::mem::replace(&mut bucket.refusing, true));
            return Err(Limited {
                wait,
                first,
                key: "",
            });
        }
        let tokens = self.refilled(key, now) - 1.0;
        self.buckets.insert(
            key.clone(),
            Bucket {
                tokens,
                updated: now,
                refusing: false,
            },
        );
        Ok(())
    }

    /// Forgets the buckets that are full again (they behave like no bucket), so memory follows
    /// recent activity, not every address ever seen.
    pub fn prune(&mut self, now: Instant) {
        let burst = f64::from(self.limit.burst);
        let per_minute = f64::from(self.limit.per_minute);
        self.buckets.retain(|_, bucket| {
            let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
            bucket.tokens + elapsed * per_minute / 60.0 < burst
        });
    }

    /// Buckets held now.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn about(result: Result<(), Limited>, want: Duration) -> bool {
        result.is_err_and(|limited| limited.wait.abs_diff(want) < Duration::from_millis(1))
    }

    #[test]
    fn burst_then_refusal_with_the_time_to_wait_then_refill() {
        let mut buckets = TokenBuckets::new(RateLimit {
            burst: 3,
            per_minute: 6,
        });
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(buckets.take(&"a", start), Ok(()));
        }
        assert!(about(buckets.take(&"a", start), Duration::from_secs(10)));
        assert!(
            !buckets.take(&"a", start).unwrap_err().first,
            "only the first refusal of a run is marked"
        );
        assert_eq!(buckets.take(&"b", start), Ok(()), "keys are independent");
        let later = start + Duration::from_secs(4);
        assert!(about(buckets.take(&"a", later), Duration::from_secs(6)));
        assert_eq!(buckets.take(&"a", start + Duration::from_secs(10)), Ok(()));
        assert!(buckets.take(&"a", start + Duration::from_secs(10)).is_err());
    }

    #[test]
    fn full_buckets_are_forgotten() {
        let mut buckets = TokenBuckets::new(RateLimit {
            burst: 2,
            per_minute: 60,
        });
        let start = Instant::now();
        buckets.take(&1, start).unwrap();
        buckets
            .take(&2, start + Duration::from_millis(900))
            .unwrap();
        buckets.prune(start + Duration::from_secs(1));
        assert_eq!(buckets.len(), 1, "bucket 1 refilled, bucket 2 not yet");
        buckets.prune(start + Duration::from_secs(2));
        assert!(buckets.is_empty());
    }
}
