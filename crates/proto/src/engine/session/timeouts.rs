//! A session's timeouts, stored compactly.

use std::time::Duration;

use super::SessionConfig;

/// A [`SessionConfig`] in whole nanoseconds: half the size, for every session.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timeouts {
    ping_interval: u64,
    ping_timeout: u64,
    upgrade_timeout: u64,
    close_timeout: u64,
    close_notice_timeout: u64,
}

impl From<SessionConfig> for Timeouts {
    fn from(c: SessionConfig) -> Self {
        // Durations past 584 years are as good as forever.
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Timeouts {
            ping_interval: nanos(c.ping_interval),
            ping_timeout: nanos(c.ping_timeout),
            upgrade_timeout: nanos(c.upgrade_timeout),
            close_timeout: nanos(c.close_timeout),
            close_notice_timeout: nanos(c.close_notice_timeout),
        }
    }
}

/// `u64::MAX` stands for every longer duration, `Duration::MAX` (never) included.
fn duration(nanos: u64) -> Duration {
    if nanos == u64::MAX { Duration::MAX } else { Duration::from_nanos(nanos) }
}

impl Timeouts {
    pub(super) fn ping_interval(&self) -> Duration {
        duration(self.ping_interval)
    }
    pub(super) fn ping_timeout(&self) -> Duration {
        duration(self.ping_timeout)
    }
    pub(super) fn upgrade_timeout(&self) -> Duration {
        duration(self.upgrade_timeout)
    }
    pub(super) fn close_timeout(&self) -> Duration {
        duration(self.close_timeout)
    }
    pub(super) fn close_notice_timeout(&self) -> Duration {
        duration(self.close_notice_timeout)
    }
}
