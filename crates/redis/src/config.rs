//! Settings of the real driver.

use std::time::Duration;

/// Settings of a [`crate::RedisDriver`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisConfig {
    /// How many publishes may wait while Redis is unreachable (default 10 000); past it, new
    /// publishes are dropped, counted ([`crate::LinkStatus::overflowed`]) and logged.
    pub queue_cap: usize,
    /// The first delay before reconnecting (default 100 ms); it doubles on each failure.
    pub min_backoff: Duration,
    /// The longest delay between reconnection attempts (default 2 s, as ioredis), well
    /// under `resume_wait`, so that nodes come back within one another's wait.
    pub max_backoff: Duration,
    /// After a reconnection, how long publishes (queued during the outage and made since)
    /// may wait for the other nodes to be back (default 5 s): they are held until every
    /// subscribed channel has as many subscribers as last seen, and at least `max_backoff`
    /// and a quarter (a node that subscribed after the last count is not in it), or this
    /// long, so that nodes reconnecting a little later get them too.
    pub resume_wait: Duration,
    /// How often the subscriber counts of this driver's channels are read while connected
    /// (default 2 s), to know how many nodes to wait for after an outage.
    pub peers_interval: Duration,
    /// How long a command may wait for its answer before the link is taken for broken
    /// (default `None`: no limit, as ioredis and node-redis). A closed connection is noticed
    /// at once either way; a limit makes a slow Redis (a stall, a loaded machine) count as an
    /// outage, and every reconnection leaves a gap in this node's subscriptions.
    pub response_timeout: Option<Duration>,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            queue_cap: 10_000,
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            resume_wait: Duration::from_secs(5),
            peers_interval: Duration::from_secs(2),
            response_timeout: None,
        }
    }
}
