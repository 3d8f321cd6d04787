//! The server's CPU time over a measurement window (`utime + stime` of `/proc/PID/stat`, all
//! threads): events per server CPU-second is a measure of efficiency that holds up when other
//! work on the machine takes part of the server's core.

use std::sync::OnceLock;

/// Clock ticks per second of `/proc/PID/stat` (USER_HZ, 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// The server being measured, set once per generator process.
static SERVER: OnceLock<u32> = OnceLock::new();

/// Sets the process whose CPU time windows measure.
pub fn watch(pid: u32) {
    let _ = SERVER.set(pid);
}

/// A window opened at some instant.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    start: Option<u64>,
}

impl Window {
    /// Opens a window now (empty when no server is watched).
    #[must_use]
    pub fn start() -> Self {
        Self { start: SERVER.get().and_then(|p| ticks(*p)) }
    }

    /// `events` per server CPU-second from the start until now.
    #[must_use]
    pub fn per_cpu_s(&self, events: f64) -> Option<f64> {
        let end = ticks(*SERVER.get()?)?;
        let cpu = end.checked_sub(self.start?)? as f64 / TICKS_PER_SEC;
        (cpu > 0.0).then(|| events / cpu)
    }
}

fn ticks(pid: u32) -> Option<u64> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// `utime + stime` from a `/proc/PID/stat` line (fields 14 and 15; the command name may hold
/// spaces and parentheses, so fields are counted after the last `)`).
fn parse_stat(line: &str) -> Option<u64> {
    let rest = line.get(line.rfind(')')? + 1..)?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_the_command_name() {
        let line = "1234 (tokio rt (x)) S 1 2 3 4 5 6 7 8 9 10 250 70 0 0 20 0 4 0 100 0 0";
        assert_eq!(parse_stat(line), Some(320));
        assert_eq!(parse_stat("garbage"), None);
        assert!(ticks(std::process::id()).is_some());
    }
}
