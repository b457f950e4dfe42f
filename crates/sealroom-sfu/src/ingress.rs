//! A publisher's share of the SFU: a token bucket of payload bytes per second. What a
//! participant sends beyond it is dropped before it is copied to anyone, so one flooding
//! publisher cannot multiply its flood by the size of its room.

use std::time::Instant;

/// The bucket. One second of the rate is the burst.
#[derive(Debug)]
pub(crate) struct IngressBudget {
    bytes_per_second: f64,
    tokens: f64,
    updated: Option<Instant>,
}

impl IngressBudget {
    pub fn new(bits_per_second: u64) -> Self {
        let bytes_per_second = bits_per_second as f64 / 8.0;
        Self {
            bytes_per_second,
            tokens: bytes_per_second,
            updated: None,
        }
    }

    /// Whether a packet of `bytes` that arrived at `now` is within the budget (and spends it).
    pub fn admit(&mut self, now: Instant, bytes: usize) -> bool {
        if let Some(updated) = self.updated {
            let elapsed = now.saturating_duration_since(updated).as_secs_f64();
            self.tokens =
                (self.tokens + elapsed * self.bytes_per_second).min(self.bytes_per_second);
        }
        self.updated = Some(now);
        let cost = bytes as f64;
        if self.tokens < cost {
            return false;
        }
        self.tokens -= cost;
        true
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_second_of_burst_then_the_rate() {
        let start = Instant::now();
        let mut budget = IngressBudget::new(8_000); // 1,000 bytes/s
        assert!((0..10).all(|_| budget.admit(start, 100)), "the burst");
        assert!(!budget.admit(start, 100), "over it");
        assert!(
            budget.admit(start + Duration::from_millis(100), 100),
            "refilled"
        );
        assert!(!budget.admit(start + Duration::from_millis(100), 100));
    }
}
