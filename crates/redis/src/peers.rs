//! How many nodes subscribe to a session's channels, and waiting for them after an outage.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::{Session, Shared, State};
use crate::conn::Conn;

/// What a subscriber count is of.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Peer {
    /// `PUBSUB NUMSUB` of a channel.
    Channel(String),
    /// `PUBSUB SHARDNUMSUB` of a sharded channel.
    Sharded(String),
    /// Connections with at least one pattern subscription (`CLIENT LIST TYPE pubsub`):
    /// NUMSUB counts channels only, and a node that resubscribes its channels before its
    /// patterns (ioredis does) is counted before it gets the broadcasts sent to a pattern.
    Patterns,
}

impl Peer {
    pub(super) fn of(sharded: bool, channel: String) -> Peer {
        if sharded { Peer::Sharded(channel) } else { Peer::Channel(channel) }
    }
}

impl Session {
    /// The subscriber counts of this session's channels, sharded ones included, and of the
    /// sharded channels this node published to lately (in the dynamic modes, the channels of
    /// rooms that may have sockets on other nodes only).
    pub(super) async fn counts(
        &self,
        shared: &Shared,
        conn: &mut Conn,
    ) -> redis::RedisResult<Vec<(Peer, usize)>> {
        let mut sharded: HashSet<String> = shared.lock().published.keys().cloned().collect();
        sharded.extend(self.sharded.iter().cloned());
        let mut counts = Vec::new();
        for (is_sharded, set) in [(false, &self.channels), (true, &sharded)] {
            let channels: Vec<String> = set.iter().cloned().collect();
            let found = conn.num_sub(&channels, is_sharded).await?;
            counts.extend(found.into_iter().map(|(c, n)| (Peer::of(is_sharded, c), n)));
        }
        if !self.patterns.is_empty() {
            // Servers that do not allow CLIENT LIST just give no count.
            if let Ok(n) = conn.pattern_subscribers().await {
                counts.push((Peer::Patterns, n));
            }
        }
        Ok(counts)
    }

    /// Holds the queue until every channel has as many subscribers as last seen (the other
    /// nodes resubscribed), at most `resume_wait`.
    pub(super) async fn wait_for_peers(
        &self,
        shared: &Shared,
        conn: &mut Conn,
    ) -> redis::RedisResult<()> {
        let wanted: HashMap<Peer, usize> = shared.lock().peers.clone();
        let deadline = tokio::time::Instant::now() + shared.config.resume_wait;
        loop {
            let now: HashMap<Peer, usize> = self.counts(shared, conn).await?.into_iter().collect();
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

/// The most sharded channels counted for having been published to.
const PUBLISHED_CAP: usize = 1024;
/// Poll rounds after which a channel no longer published to is no longer counted.
const PUBLISHED_ROUNDS: u64 = 30;

impl State {
    /// Notes a sharded publish on `channel` (unless the set is full).
    pub(super) fn note_published(&mut self, channel: &str) {
        let polls = self.polls;
        if let Some(round) = self.published.get_mut(channel) {
            *round = polls;
        } else if self.published.len() < PUBLISHED_CAP {
            self.published.insert(channel.to_owned(), polls);
        }
    }

    /// Ends a poll round: channels not published to for a while are no longer counted.
    pub(super) fn forget_published(&mut self) {
        self.polls += 1;
        let polls = self.polls;
        self.published.retain(|_, round| polls - *round <= PUBLISHED_ROUNDS);
    }
}
