//! Facts about the machine the benchmark runs on, and the kernel housekeeping it quiets for the
//! run: CPU and Node version, load averages, the hypervisor's steal time, the DAMON monitor.

use std::process::Command;

/// Where a running kernel DAMON monitor is switched on and off.
const DAMON_STATE: &str = "/sys/kernel/mm/damon/admin/kdamonds/0/state";

/// Pauses the kernel's DAMON memory monitor while the benchmark runs, if it is on and this
/// process may switch it: its thread (`kdamond`) runs in bursts of about 2 ms a dozen times a
/// second on whichever core, and on the server's core those bursts were the p99 of every
/// server's echo latency (measured with `perf sched timehist`). Switched back on when dropped.
pub(crate) struct DamonPause {
    pub(crate) paused: bool,
}

impl DamonPause {
    pub(crate) fn start() -> Self {
        let on = std::fs::read_to_string(DAMON_STATE).is_ok_and(|s| s.trim() == "on");
        let paused = on && std::fs::write(DAMON_STATE, "off").is_ok();
        if paused {
            eprintln!("bench: paused the kernel's DAMON monitor for the run");
        }
        DamonPause { paused }
    }
}

impl Drop for DamonPause {
    fn drop(&mut self) {
        if self.paused {
            if let Err(e) = std::fs::write(DAMON_STATE, "on") {
                eprintln!("bench: could not switch the DAMON monitor back on: {e}");
            }
        }
    }
}

/// The 1, 5 and 15 minute load averages (other work on the machine perturbs the numbers).
pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

pub(crate) fn today() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "undated".to_owned(), |d| d.trim().to_owned())
}

pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let node = Command::new("node")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, Node {}", node.trim())
}

/// The time each core spent stolen by the hypervisor (`/proc/stat`, clock ticks): on a
/// shared virtual machine a stolen millisecond stalls whatever runs on that core, and a
/// fraction of a percent of it is enough to move an echo p99 of a few hundred microseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Steal {
    /// Per core: (steal ticks, all ticks), in core order.
    cores: Vec<(u64, u64)>,
}

impl Steal {
    /// The counters now (empty where `/proc/stat` cannot be read).
    #[must_use]
    pub fn now() -> Self {
        std::fs::read_to_string("/proc/stat").map(|s| Self::parse(&s)).unwrap_or_default()
    }

    /// Reads the per-core `cpuN` lines of a `/proc/stat` text.
    #[must_use]
    pub fn parse(stat: &str) -> Self {
        let cores = stat
            .lines()
            .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
            .map(|l| {
                let ticks: Vec<u64> =
                    l.split_whitespace().skip(1).map(|t| t.parse().unwrap_or(0)).collect();
                // user nice system idle iowait irq softirq steal ...: guest time is already
                // counted in user and nice, so only the first eight add up to the total.
                let steal = ticks.get(7).copied().unwrap_or(0);
                (steal, ticks.iter().take(8).sum())
            })
            .collect();
        Steal { cores }
    }

    /// Per core, the percentage of time stolen between `earlier` and `self`.
    #[must_use]
    pub fn percent_since(&self, earlier: &Steal) -> Vec<f64> {
        self.cores
            .iter()
            .zip(&earlier.cores)
            .map(|(&(s1, t1), &(s0, t0))| {
                let total = t1.saturating_sub(t0);
                if total == 0 { 0.0 } else { 100.0 * s1.saturating_sub(s0) as f64 / total as f64 }
            })
            .collect()
    }

    /// "core 0 0.12 %, core 1 0.31 %" for the report, empty if nothing was measured.
    #[must_use]
    pub fn describe_since(&self, earlier: &Steal) -> String {
        self.percent_since(earlier)
            .iter()
            .enumerate()
            .map(|(i, p)| format!("core {i} {p:.2} %"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "cpu  10 0 10 100 0 0 0 4 0 0\n\
                          cpu0 5 0 5 50 0 0 0 0 0 0\n\
                          cpu1 5 0 5 50 0 0 0 4 0 0\nintr 1 2 3\n";
    const AFTER: &str = "cpu  30 0 30 300 0 0 0 8 0 0\n\
                         cpu0 15 0 15 168 0 0 0 2 0 0\n\
                         cpu1 15 0 15 132 0 0 0 6 0 0\n";

    #[test]
    fn steal_is_a_share_of_each_core_s_ticks() {
        let p = Steal::parse(AFTER).percent_since(&Steal::parse(BEFORE));
        assert_eq!(p.len(), 2);
        // core 0: 2 of 140 new ticks, core 1: 2 of 104.
        assert!((p[0] - 200.0 / 140.0).abs() < 1e-9, "{p:?}");
        assert!((p[1] - 200.0 / 104.0).abs() < 1e-9, "{p:?}");
        assert_eq!(
            Steal::parse(AFTER).describe_since(&Steal::parse(BEFORE)),
            "core 0 1.43 %, core 1 1.92 %"
        );
    }

    #[test]
    fn unreadable_counters_describe_nothing() {
        assert_eq!(Steal::parse("").describe_since(&Steal::parse(BEFORE)), "");
        assert_eq!(
            Steal::parse("cpu0 x y\n").percent_since(&Steal::parse("cpu0 1 2\n")),
            vec![0.0]
        );
    }
}
