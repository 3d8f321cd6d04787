//! Latency recording: an HDR histogram in nanoseconds, the open-loop send schedule (latency is
//! measured from the *intended* send time, so a stalled server cannot hide its queueing), and
//! medians.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Percentiles of a latency distribution, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Samples recorded.
    pub count: u64,
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Largest sample.
    pub max_us: f64,
}

/// A latency recorder from 1 µs to 100 s at 3 significant digits.
#[derive(Debug, Clone)]
pub struct Latency {
    hist: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

impl Latency {
    /// An empty recorder.
    #[must_use]
    pub fn new() -> Self {
        // The bounds are constants that hdrhistogram accepts (low >= 1, high >= 2 * low).
        let hist = Histogram::new_with_bounds(1_000, 100_000_000_000, 3)
            .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable_histogram()));
        Self { hist }
    }

    /// Records one latency (clamped into the recorder's range).
    pub fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).clamp(1_000, 100_000_000_000);
        self.hist.saturating_record(ns);
    }

    /// The percentiles so far.
    #[must_use]
    pub fn summary(&self) -> Summary {
        let us = |q: f64| self.hist.value_at_quantile(q) as f64 / 1_000.0;
        Summary {
            count: self.hist.len(),
            p50_us: us(0.50),
            p99_us: us(0.99),
            p999_us: us(0.999),
            max_us: self.hist.max() as f64 / 1_000.0,
        }
    }

    /// Adds every sample of `other` (recorders of several threads, summed at the end).
    pub fn merge(&mut self, other: &Latency) {
        // Both have the same bounds, so every value of `other` fits.
        let _ = self.hist.add(&other.hist);
    }
}

fn unreachable_histogram() -> Histogram<u64> {
    // Only reached if hdrhistogram rejected 3 significant digits, which it documents as valid.
    std::process::abort()
}

/// The open-loop schedule: request `i` is due at `start + i / rate`.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    start: Instant,
    interval_ns: f64,
}

impl Schedule {
    /// A schedule of `rate` requests per second from `start`.
    #[must_use]
    pub fn new(start: Instant, rate: f64) -> Self {
        Self { start, interval_ns: 1e9 / rate.max(1e-9) }
    }

    /// When request `i` is due.
    #[must_use]
    pub fn due(&self, i: u64) -> Instant {
        self.start + Duration::from_nanos((i as f64 * self.interval_ns) as u64)
    }

    /// How many requests are due at `now` (requests `0..n`).
    #[must_use]
    pub fn due_count(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.start).as_nanos() as f64;
        (elapsed / self.interval_ns).floor() as u64 + 1
    }
}

/// The median of `values` (the mean of the middle two for an even count); `None` when empty.
#[must_use]
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 { v.get(mid).copied() } else { Some((v.get(mid - 1)? + v.get(mid)?) / 2.0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut l = Latency::new();
        for us in 1..=1000u64 {
            l.record(Duration::from_micros(us));
        }
        let s = l.summary();
        assert_eq!(s.count, 1000);
        assert!((s.p50_us - 500.0).abs() <= 1.0, "{s:?}");
        assert!((s.p99_us - 990.0).abs() <= 1.0, "{s:?}");
        assert!((s.p999_us - 999.0).abs() <= 1.0, "{s:?}");
        assert!((s.max_us - 1000.0).abs() <= 1.0, "{s:?}");
    }

    #[test]
    fn out_of_range_values_are_clamped() {
        let mut l = Latency::new();
        l.record(Duration::ZERO);
        l.record(Duration::from_secs(1000));
        assert_eq!(l.summary().count, 2);
    }

    #[test]
    fn schedule_is_from_intended_times() {
        let start = Instant::now();
        let s = Schedule::new(start, 1000.0);
        assert_eq!(s.due(0), start);
        assert_eq!(s.due(5), start + Duration::from_millis(5));
        assert_eq!(s.due_count(start), 1);
        assert_eq!(s.due_count(start + Duration::from_micros(2500)), 3);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN, 1.0]), Some(1.0));
    }
}
