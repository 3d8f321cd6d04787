//! The server's CPU time over a measurement window (`utime + stime` of `/proc/PID/stat`, all
//! threads): events per server CPU-second is a measure of efficiency that holds up when other
//! work on the machine takes part of the server's core. A cluster's server is its nodes
//! together; a helper process (Redis) is measured apart.

use std::sync::OnceLock;

/// Clock ticks per second of `/proc/PID/stat` (USER_HZ, 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// The server's processes (one, or each node of a cluster), set once per generator process.
static SERVER: OnceLock<Vec<u32>> = OnceLock::new();

/// A helper process measured apart (the Redis server of a cluster), set once.
static HELPER: OnceLock<u32> = OnceLock::new();

/// Sets the processes whose CPU time (summed) windows measure.
pub fn watch(pids: &[u32]) {
    let _ = SERVER.set(pids.to_vec());
}

/// Sets the helper process whose CPU time [`Window::per_helper_cpu_s`] measures.
pub fn watch_helper(pid: u32) {
    let _ = HELPER.set(pid);
}

/// A window opened at some instant.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    start: Option<u64>,
    /// The server's system (kernel) ticks at the start.
    kernel_start: Option<u64>,
    helper_start: Option<u64>,
}

impl Window {
    /// Opens a window now (empty when no server is watched).
    #[must_use]
    pub fn start() -> Self {
        Self {
            start: server_ticks(),
            kernel_start: server_kernel_ticks(),
            helper_start: HELPER.get().and_then(|p| ticks(*p)),
        }
    }

    /// The share of the server's CPU time from the start until now that was spent in the
    /// kernel (system calls, the TCP stack): the part no server code can make cheaper.
    #[must_use]
    pub fn kernel_share(&self) -> Option<f64> {
        let all = server_ticks()?.checked_sub(self.start?)?;
        let kernel = server_kernel_ticks()?.checked_sub(self.kernel_start?)?;
        (all > 0).then(|| kernel as f64 / all as f64)
    }

    /// `events` per server CPU-second from the start until now.
    #[must_use]
    pub fn per_cpu_s(&self, events: f64) -> Option<f64> {
        per_second(events, self.start?, server_ticks()?)
    }

    /// `events` per CPU-second of the helper process from the start until now.
    #[must_use]
    pub fn per_helper_cpu_s(&self, events: f64) -> Option<f64> {
        per_second(events, self.helper_start?, ticks(*HELPER.get()?)?)
    }
}

/// `events` per CPU-second between two tick readings.
fn per_second(events: f64, start: u64, end: u64) -> Option<f64> {
    let cpu = end.checked_sub(start)? as f64 / TICKS_PER_SEC;
    (cpu > 0.0).then(|| events / cpu)
}

/// The summed ticks of the server's processes (none if one cannot be read).
fn server_ticks() -> Option<u64> {
    let pids = SERVER.get().filter(|p| !p.is_empty())?;
    pids.iter().map(|p| ticks(*p)).sum()
}

/// The summed system (kernel) ticks of the server's processes.
fn server_kernel_ticks() -> Option<u64> {
    let pids = SERVER.get().filter(|p| !p.is_empty())?;
    pids.iter().map(|p| stat_of(*p).map(|(_, stime)| stime)).sum()
}

fn ticks(pid: u32) -> Option<u64> {
    stat_of(pid).map(|(utime, stime)| utime + stime)
}

fn stat_of(pid: u32) -> Option<(u64, u64)> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// `utime` and `stime` from a `/proc/PID/stat` line (fields 14 and 15; the command name may
/// hold spaces and parentheses, so fields are counted after the last `)`).
fn parse_stat(line: &str) -> Option<(u64, u64)> {
    let rest = line.get(line.rfind(')')? + 1..)?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime, stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_the_command_name() {
        let line = "1234 (tokio rt (x)) S 1 2 3 4 5 6 7 8 9 10 250 70 0 0 20 0 4 0 100 0 0";
        assert_eq!(parse_stat(line), Some((250, 70)));
        assert_eq!(parse_stat("garbage"), None);
        assert!(ticks(std::process::id()).is_some());
    }
}
