//! The reconnection delay of the official client: exponential backoff with jitter, sans-IO.
//!
//! This is the `Backoff` of `socket.io-client` (itself the `backo2` package), computed exactly
//! as there: the n-th delay (n from 0) is `min * factor^n`; with a jitter `j`, one random
//! number `r` in `[0, 1)` gives a deviation `floor(r * j * delay)`, subtracted when
//! `floor(r * 10)` is even and added when odd; the result is capped at `max` and truncated to
//! whole milliseconds.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Exponential backoff with jitter. It does no I/O and never sleeps: it only computes delays.
///
/// ```
/// use std::time::Duration;
/// use switchboard_client::Backoff;
///
/// // No jitter: 1 s, 2 s, 4 s, then capped at 5 s.
/// let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(5), 0.0);
/// let delays: Vec<u64> = (0..4).map(|_| backoff.duration().as_millis() as u64).collect();
/// assert_eq!(delays, [1000, 2000, 4000, 5000]);
/// assert_eq!(backoff.attempts(), 4);
/// backoff.reset();
/// assert_eq!(backoff.duration(), Duration::from_secs(1));
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    min_ms: f64,
    max_ms: f64,
    factor: f64,
    jitter: f64,
    attempts: u32,
    rng: StdRng,
}

impl Backoff {
    /// A backoff from `min` to `max` with factor 2 and the given jitter (`randomizationFactor`,
    /// used only when in `(0, 1]`, as in the JS client), seeded from the OS.
    pub fn new(min: Duration, max: Duration, jitter: f64) -> Self {
        Self::with_rng(min, max, jitter, StdRng::from_rng(&mut rand::rng()))
    }

    /// Like [`Backoff::new`] with a seeded generator, for reproducible delays.
    pub fn with_seed(min: Duration, max: Duration, jitter: f64, seed: u64) -> Self {
        Self::with_rng(min, max, jitter, StdRng::seed_from_u64(seed))
    }

    fn with_rng(min: Duration, max: Duration, jitter: f64, rng: StdRng) -> Self {
        // The JS client falls back to 100 ms / 10 s when given 0, as `opts.min || 100` does.
        let min_ms = if min.is_zero() { 100.0 } else { min.as_secs_f64() * 1000.0 };
        let max_ms = if max.is_zero() { 10_000.0 } else { max.as_secs_f64() * 1000.0 };
        let jitter = if jitter > 0.0 && jitter <= 1.0 { jitter } else { 0.0 };
        Backoff { min_ms, max_ms, factor: 2.0, jitter, attempts: 0, rng }
    }

    /// The next delay; counts one attempt.
    pub fn duration(&mut self) -> Duration {
        let r = if self.jitter > 0.0 { self.rng.random::<f64>() } else { 0.0 };
        self.duration_with(r)
    }

    /// The next delay with the random number `r` in `[0, 1)` given; counts one attempt.
    pub fn duration_with(&mut self, r: f64) -> Duration {
        let exponent = i32::try_from(self.attempts).unwrap_or(i32::MAX);
        self.attempts = self.attempts.saturating_add(1);
        let mut ms = self.min_ms * self.factor.powi(exponent);
        if self.jitter > 0.0 {
            let deviation = (r * self.jitter * ms).floor();
            // `floor(r * 10)` is below 10, so the cast is exact.
            let odd = ((r * 10.0).floor() as u8) & 1 == 1;
            ms = if odd { ms + deviation } else { ms - deviation };
        }
        let ms = ms.min(self.max_ms).max(0.0).trunc();
        Duration::from_millis(ms as u64)
    }

    /// Starts again from the first delay.
    pub fn reset(&mut self) {
        self.attempts = 0;
    }

    /// How many delays were computed since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(d: Duration) -> u128 {
        d.as_millis()
    }

    #[test]
    fn matches_the_js_formula() {
        // Values computed with the JS client's Backoff for the same `Math.random()` results.
        let mut b = Backoff::with_seed(Duration::from_secs(1), Duration::from_secs(5), 0.5, 0);
        // r = 0.25: deviation floor(0.25 * 0.5 * 1000) = 125; floor(2.5) = 2 is even: minus.
        assert_eq!(ms(b.duration_with(0.25)), 875);
        // r = 0.15: deviation floor(0.15 * 0.5 * 2000) = 150; floor(1.5) = 1 is odd: plus.
        assert_eq!(ms(b.duration_with(0.15)), 2150);
        // r = 0.99: deviation floor(0.99 * 0.5 * 4000) = 1980; floor(9.9) = 9 is odd: plus, capped.
        assert_eq!(ms(b.duration_with(0.99)), 5000);
        // r = 0.0: no deviation at 8000, capped.
        assert_eq!(ms(b.duration_with(0.0)), 5000);
        assert_eq!(b.attempts(), 4);
    }

    #[test]
    fn seeded_delays_are_reproducible_and_bounded() {
        let run = |seed| {
            let mut b =
                Backoff::with_seed(Duration::from_secs(1), Duration::from_secs(5), 0.5, seed);
            (0..8).map(|_| ms(b.duration())).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        for (n, d) in run(7).into_iter().enumerate() {
            let base = 1000u128 << n.min(20);
            assert!(d >= (base / 2).min(5000) && d <= (base * 3 / 2).min(5000), "attempt {n}: {d}");
        }
    }

    #[test]
    fn jitter_out_of_range_is_ignored_and_zero_uses_js_fallbacks() {
        let mut b = Backoff::with_seed(Duration::ZERO, Duration::ZERO, 2.0, 1);
        let delays: Vec<u128> = (0..9).map(|_| ms(b.duration())).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]);
    }

    #[test]
    fn huge_attempt_counts_saturate_at_max() {
        let mut b = Backoff::with_seed(Duration::from_secs(1), Duration::from_secs(5), 0.5, 3);
        for _ in 0..2000 {
            assert!(b.duration() <= Duration::from_secs(5));
        }
    }
}
