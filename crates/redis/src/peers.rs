//! How many nodes subscribe to a session's channels, and waiting for them after an outage.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::MultiplexedConnection;

use super::{Session, Shared};

impl Session {
    /// The subscriber counts of this session's channels, sharded ones included.
    pub(super) async fn counts(
        &self,
        conn: &mut MultiplexedConnection,
    ) -> redis::RedisResult<Vec<((bool, String), usize)>> {
        let mut counts = Vec::new();
        for (sharded, set) in [(false, &self.channels), (true, &self.sharded)] {
            let channels: Vec<String> = set.iter().cloned().collect();
            let found = num_sub(conn, &channels, sharded).await?;
            counts.extend(found.into_iter().map(|(c, n)| ((sharded, c), n)));
        }
        Ok(counts)
    }

    /// Holds the queue until every channel has as many subscribers as last seen (the other
    /// nodes resubscribed), at most `resume_wait`.
    pub(super) async fn wait_for_peers(
        &self,
        shared: &Shared,
        conn: &mut MultiplexedConnection,
    ) -> redis::RedisResult<()> {
        let wanted: HashMap<(bool, String), usize> = shared.lock().peers.clone();
        let deadline = tokio::time::Instant::now() + shared.config.resume_wait;
        loop {
            let now: HashMap<(bool, String), usize> =
                self.counts(conn).await?.into_iter().collect();
            let back = now.iter().all(|(c, m)| wanted.get(c).is_none_or(|n| m >= n));
            if back || tokio::time::Instant::now() >= deadline {
                if !back {
                    tracing::warn!("not every node resubscribed in time; sending queued publishes");
                }
                return Ok(());
            }
            // Polling: Redis does not announce subscriptions.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// `PUBSUB NUMSUB` (or `SHARDNUMSUB`) of `channels`.
pub(super) async fn num_sub(
    conn: &mut MultiplexedConnection,
    channels: &[String],
    sharded: bool,
) -> redis::RedisResult<Vec<(String, usize)>> {
    if channels.is_empty() {
        return Ok(Vec::new());
    }
    let sub = if sharded { "SHARDNUMSUB" } else { "NUMSUB" };
    redis::cmd("PUBSUB").arg(sub).arg(channels).query_async(conn).await
}
