//! The per-user send rate limit (a token bucket per user id, governor's GCRA).

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::json;

use crate::apps::ApiError;

/// Checks between two sweeps of idle users' state.
const SWEEP_EVERY: u64 = 4096;

/// Limits how fast each user sends.
pub(crate) struct Limiter {
    limiter: DefaultKeyedRateLimiter<String>,
    // Counts checks to sweep now and then; any thread may bump it, nothing else depends on it.
    checks: AtomicU64,
}

impl Limiter {
    /// `per_second` messages a second on average, `burst` at once.
    pub(crate) fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Limiter {
        let quota = Quota::per_second(per_second).allow_burst(burst);
        Limiter { limiter: RateLimiter::keyed(quota), checks: AtomicU64::new(0) }
    }

    /// Takes one send from `user_id`'s allowance, or says when to retry.
    pub(crate) fn check(&self, user_id: &str) -> Result<(), ApiError> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            // Forgets users whose allowance is full again, so the map stays bounded by the
            // users active within about one burst period.
            self.limiter.retain_recent();
        }
        match self.limiter.check_key(&user_id.to_owned()) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
                Err(ApiError::new("rate_limited", "too many messages, slow down")
                    .with("retryAfterMs", json!(ms)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_refusals_per_user() {
        let n = |v| NonZeroU32::new(v).unwrap();
        let limiter = Limiter::new(n(1), n(3));
        for _ in 0..3 {
            limiter.check("ann").unwrap();
        }
        let err = limiter.check("ann").unwrap_err();
        assert_eq!(err.code, "rate_limited");
        let retry = err.extra["retryAfterMs"].as_u64().unwrap();
        assert!((1..=1000).contains(&retry), "{retry}");
        limiter.check("bob").unwrap();
    }
}
