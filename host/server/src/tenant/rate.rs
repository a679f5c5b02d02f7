//! A tenant's CPU share: a token bucket of fuel that refills at the tenant's
//! `fuel_per_second`, holds at most one second's worth, and may go negative by one
//! event's overdraft. Checked before every invocation, charged after it (see
//! [`super::admission`]).

use std::sync::Mutex;
use std::time::Instant;

/// The bucket; starts full.
#[derive(Debug)]
pub struct FuelRate {
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Default for FuelRate {
    fn default() -> Self {
        Self {
            bucket: Mutex::new(Bucket {
                tokens: f64::MAX,
                at: Instant::now(),
            }),
        }
    }
}

impl FuelRate {
    /// True when the tenant may start another invocation within `per_second`.
    pub fn available(&self, per_second: u64) -> bool {
        self.refill(per_second, 0) > 0.0
    }

    /// Charges `used` fuel to the tenant's rate.
    pub fn charge(&self, per_second: u64, used: u64) {
        self.refill(per_second, used);
    }

    #[allow(
        clippy::cast_precision_loss,
        reason = "fuel rates far below 2^52 per second"
    )]
    fn refill(&self, per_second: u64, used: u64) -> f64 {
        let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let rate = per_second as f64;
        let refilled = bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate;
        bucket.tokens = refilled.min(rate) - used as f64;
        bucket.at = now;
        bucket.tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_over_its_rate_waits_for_the_bucket_to_refill() {
        let rate = FuelRate::default();
        assert!(rate.available(1_000));
        rate.charge(1_000, 5_000);
        assert!(!rate.available(1_000), "4,000 in debt");
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(!rate.available(1_000), "20 ms refill 20 of the 4,000");
        std::thread::sleep(std::time::Duration::from_millis(10));
        assert!(
            rate.available(1_000_000_000),
            "10 ms of a larger rate refill it all"
        );
    }
}
