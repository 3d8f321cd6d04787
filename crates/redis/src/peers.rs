//! How many nodes subscribe to a session's channels, and waiting for them after an outage.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::{Session, Shared, State};
use crate::RedisConfig;
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
    /// nodes resubscribed), at most `resume_wait`. After a reconnection it is held at least
    /// [`reconnect_floor`] too: the picture may be older than a node that subscribed since
    /// the last count, and every node in backoff tries again within `max_backoff`.
    pub(super) async fn wait_for_peers(
        &self,
        shared: &Shared,
        conn: &mut Conn,
    ) -> redis::RedisResult<()> {
        let (wanted, reconnected) = {
            let state = shared.lock();
            let wanted: HashMap<Peer, usize> =
                state.peers.iter().map(|(peer, counted)| (peer.clone(), counted.n)).collect();
            (wanted, state.connections > 1)
        };
        let start = tokio::time::Instant::now();
        let deadline = start + shared.config.resume_wait;
        let floor = if reconnected { start + reconnect_floor(&shared.config) } else { start };
        loop {
            let now: HashMap<Peer, usize> = self.counts(shared, conn).await?.into_iter().collect();
            let counted = now.iter().all(|(c, m)| wanted.get(c).is_none_or(|n| m >= n));
            let back = counted && tokio::time::Instant::now() >= floor;
            if back || tokio::time::Instant::now() >= deadline {
                if !back {
                    tracing::warn!("not every node resubscribed in time; sending queued publishes");
                }
                return Ok(());
            }
            if counted {
                // Every node last seen is back: only the floor is left to wait out.
                tokio::time::sleep_until(floor.min(deadline)).await;
            } else {
                // Polling: Redis does not announce subscriptions.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// The shortest hold after a reconnection: `max_backoff` and a quarter more for a node's
/// connection and subscriptions, at most `resume_wait`. The counts of the last picture are
/// taken every `peers_interval`, so a node that subscribed shortly before the outage may be
/// missing from it; every node still in backoff when Redis came back tries again within
/// `max_backoff`, so waiting this long covers it too.
pub(super) fn reconnect_floor(config: &RedisConfig) -> Duration {
    (config.max_backoff + config.max_backoff / 4).min(config.resume_wait)
}

/// A subscriber count, and when the query that took it was sent.
#[derive(Debug, Clone, Copy)]
pub(super) struct Counted {
    n: usize,
    taken: tokio::time::Instant,
}

impl State {
    /// Notes counts whose query was sent at `taken`. A count never replaces a fresher one:
    /// a request's count (`RedisDriver::count`) and the poll's run side by side, and the poll
    /// may finish after a request that started later and saw a node subscribe since.
    pub(super) fn note_counts(
        &mut self,
        counts: impl IntoIterator<Item = (Peer, usize)>,
        taken: tokio::time::Instant,
    ) {
        for (peer, n) in counts {
            if self.peers.get(&peer).is_none_or(|known| known.taken <= taken) {
                self.peers.insert(peer, Counted { n, taken });
            }
        }
    }

    /// Notes the poll's whole picture, taken from `taken` on: the channels it does not list
    /// (no longer subscribed nor published to) drop out, unless counted since; then a poll
    /// round ends.
    pub(super) fn note_picture(&mut self, counts: Vec<(Peer, usize)>, taken: tokio::time::Instant) {
        let listed: HashSet<&Peer> = counts.iter().map(|(peer, _)| peer).collect();
        self.peers.retain(|peer, known| known.taken > taken || listed.contains(peer));
        self.note_counts(counts, taken);
        self.forget_published();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(name: &str) -> Peer {
        Peer::Channel(name.to_owned())
    }

    fn n(state: &State, peer: &Peer) -> Option<usize> {
        state.peers.get(peer).map(|counted| counted.n)
    }

    #[test]
    fn a_poll_started_before_a_fresher_count_does_not_undo_it() {
        let mut state = State::default();
        let t0 = tokio::time::Instant::now();
        let t1 = t0 + Duration::from_millis(10);
        let t2 = t1 + Duration::from_millis(10);
        // A request counts a node's pattern at t1; the poll, sent at t0 before that node
        // subscribed, lands after it.
        state.note_counts([(Peer::Patterns, 2), (channel("req"), 2)], t1);
        state.note_picture(vec![(Peer::Patterns, 1), (channel("req"), 1), (channel("res"), 1)], t0);
        assert_eq!(n(&state, &Peer::Patterns), Some(2));
        assert_eq!(n(&state, &channel("req")), Some(2));
        assert_eq!(n(&state, &channel("res")), Some(1));
        // A later poll replaces every count, and what it no longer lists drops out.
        state.note_picture(vec![(Peer::Patterns, 1)], t2);
        assert_eq!(n(&state, &Peer::Patterns), Some(1));
        assert_eq!(state.peers.len(), 1);
        // A stale request's count changes nothing either.
        state.note_counts([(Peer::Patterns, 5)], t1);
        assert_eq!(n(&state, &Peer::Patterns), Some(1));
    }
}
