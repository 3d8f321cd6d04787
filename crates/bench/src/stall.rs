//! The machine's own stalls: a bare busy loop on one core reads the clock over and over, and
//! every gap between two readings longer than a threshold is time the core did not give it
//! (a kernel thread that does not yield, an interrupt, the hypervisor running something else).
//! A server cannot answer during such a gap either, so the report prints what the loop saw
//! next to the latency percentiles it bounds.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The shortest gap a probe counts by default: far above the loop's own iteration (well under
/// a microsecond), far below the latencies the report judges.
pub const MIN_GAP: Duration = Duration::from_micros(500);

/// What a probe saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Stalls {
    /// Time lost in gaps, microseconds per second of probing.
    pub lost_us_per_s: f64,
    /// How many gaps there were.
    pub count: usize,
    /// The longest gap, microseconds.
    pub longest_us: f64,
}

impl Stalls {
    /// Sums `gaps` seen over `total`.
    #[must_use]
    pub fn from_gaps(gaps: &[Duration], total: Duration) -> Self {
        let lost: Duration = gaps.iter().sum();
        let secs = total.as_secs_f64();
        Stalls {
            lost_us_per_s: if secs > 0.0 { lost.as_secs_f64() * 1e6 / secs } else { 0.0 },
            count: gaps.len(),
            longest_us: gaps.iter().max().map_or(0.0, |d| d.as_secs_f64() * 1e6),
        }
    }
}

/// Spins for `duration` on the calling thread (pin it first) and gathers every gap of at
/// least `min_gap` between two clock readings.
#[must_use]
pub fn probe(duration: Duration, min_gap: Duration) -> Stalls {
    let start = Instant::now();
    let mut last = start;
    let mut gaps = Vec::new();
    while last.duration_since(start) < duration {
        let now = Instant::now();
        let gap = now.duration_since(last);
        if gap >= min_gap {
            gaps.push(gap);
        }
        last = now;
    }
    Stalls::from_gaps(&gaps, last.duration_since(start))
}

/// "lost 1.2, 8.0 and 0.4 ms/s (longest gap 4.1 ms)" for the report: one figure per run.
#[must_use]
pub fn describe(runs: &[Stalls]) -> String {
    if runs.is_empty() {
        return String::new();
    }
    let lost: Vec<String> =
        runs.iter().map(|s| format!("{:.1}", s.lost_us_per_s / 1000.0)).collect();
    let lost = match lost.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => lost.join(""),
    };
    let longest = runs.iter().map(|s| s.longest_us).fold(0.0, f64::max) / 1000.0;
    format!("lost {lost} ms/s (longest gap {longest:.1} ms)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_the_gaps_per_second() {
        let ms = Duration::from_millis;
        let s = Stalls::from_gaps(&[ms(4), ms(1), ms(3)], ms(2000));
        assert_eq!(s.count, 3);
        assert!((s.lost_us_per_s - 4000.0).abs() < 1e-6, "{s:?}");
        assert!((s.longest_us - 4000.0).abs() < 1e-6, "{s:?}");
        assert_eq!(Stalls::from_gaps(&[], ms(0)), Stalls::default());
    }

    #[test]
    fn describes_each_run() {
        let s =
            |lost: f64, longest: f64| Stalls { lost_us_per_s: lost, count: 1, longest_us: longest };
        assert_eq!(
            describe(&[s(1200.0, 800.0), s(8000.0, 4100.0), s(400.0, 600.0)]),
            "lost 1.2, 8.0 and 0.4 ms/s (longest gap 4.1 ms)"
        );
        assert_eq!(describe(&[s(500.0, 500.0)]), "lost 0.5 ms/s (longest gap 0.5 ms)");
        assert_eq!(describe(&[]), "");
    }

    #[test]
    fn a_probe_ends_and_counts_only_long_gaps() {
        // A gap of an hour cannot happen in 20 ms: nothing is counted, and the probe ends.
        let s = probe(Duration::from_millis(20), Duration::from_secs(3600));
        assert_eq!(s.count, 0);
        assert_eq!(s.lost_us_per_s, 0.0);
    }
}
