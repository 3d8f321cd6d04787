//! The tick loops' health: how late each tick started against its schedule, as counts and a
//! histogram of 1 ms buckets (shared by every arena; written by the loops, read by
//! `GET /api/arena/stats`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

/// Buckets of 1 ms; the last one takes everything later.
const BUCKETS: usize = 251;

/// Counters updated without a lock (relaxed: each is a statistic on its own).
pub(crate) struct TickStats {
    ticks: AtomicU64,
    /// Ticks that started more than one period late.
    late: AtomicU64,
    max_late_us: AtomicU64,
    inputs_dropped: AtomicU64,
    histogram: [AtomicU64; BUCKETS],
}

impl Default for TickStats {
    fn default() -> Self {
        TickStats {
            ticks: AtomicU64::new(0),
            late: AtomicU64::new(0),
            max_late_us: AtomicU64::new(0),
            inputs_dropped: AtomicU64::new(0),
            histogram: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl TickStats {
    /// A tick that started `lateness` after its schedule.
    pub(crate) fn tick(&self, lateness: Duration, period: Duration) {
        self.ticks.fetch_add(1, Ordering::Relaxed);
        if lateness > period {
            self.late.fetch_add(1, Ordering::Relaxed);
        }
        let us = u64::try_from(lateness.as_micros()).unwrap_or(u64::MAX);
        self.max_late_us.fetch_max(us, Ordering::Relaxed);
        let bucket = usize::try_from(us / 1000).unwrap_or(usize::MAX).min(BUCKETS - 1);
        self.histogram[bucket].fetch_add(1, Ordering::Relaxed);
    }

    /// An input dropped without an answer.
    pub(crate) fn input_dropped(&self) {
        self.inputs_dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// The lateness (ms, bucket upper bound) at quantile `q` of the ticks so far.
    fn quantile_ms(&self, q: f64) -> u64 {
        let counts: Vec<u64> = self.histogram.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return 0;
        }
        // The rank of the quantile, rounded up (counts are far below 2^52: exact in f64).
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (ms, count) in counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return ms as u64 + 1;
            }
        }
        BUCKETS as u64
    }

    /// `{ ticks, lateTicks, lateP50Ms, lateP99Ms, maxLateMs, inputsDropped }`.
    pub(crate) fn report(&self) -> Value {
        json!({
            "ticks": self.ticks.load(Ordering::Relaxed),
            "lateTicks": self.late.load(Ordering::Relaxed),
            "lateP50Ms": self.quantile_ms(0.5),
            "lateP99Ms": self.quantile_ms(0.99),
            "maxLateMs": self.max_late_us.load(Ordering::Relaxed) as f64 / 1000.0,
            "inputsDropped": self.inputs_dropped.load(Ordering::Relaxed),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lateness_is_counted_and_ranked() {
        let stats = TickStats::default();
        let period = Duration::from_millis(33);
        for _ in 0..98 {
            stats.tick(Duration::from_micros(300), period);
        }
        stats.tick(Duration::from_millis(20), period);
        stats.tick(Duration::from_millis(40), period);
        let r = stats.report();
        assert_eq!(r["ticks"], 100);
        assert_eq!(r["lateTicks"], 1);
        assert_eq!(r["lateP50Ms"], 1);
        assert_eq!(r["lateP99Ms"], 21);
        assert_eq!(r["maxLateMs"], 40.0);
    }
}
