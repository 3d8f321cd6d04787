//! The in-memory recovery store: a counting packet log and saved sessions, both expiring.

use std::collections::{HashMap, VecDeque};

use switchboard_proto::Str;
use switchboard_proto::socket::Packet;
use tokio::time::Instant;

use crate::{BroadcastOptions, MissedPackets, Offset, RecoveryOptions, Room, Session};

/// A logged packet.
#[derive(Debug)]
struct Entry {
    n: u64,
    packet: Packet,
    opts: BroadcastOptions,
    at: Instant,
}

/// Packets numbered 0, 1, 2... and the sessions of dropped sockets. Expired entries are removed
/// on every operation, so memory is bounded by the caps and by the window.
#[derive(Debug, Default)]
pub(crate) struct RecoveryLog {
    /// The number of the next packet.
    next: u64,
    /// The smallest number still kept (`next` when empty): everything before was dropped.
    first: u64,
    packets: VecDeque<Entry>,
    sessions: HashMap<Str, (Session, Instant)>,
}

impl RecoveryLog {
    /// Drops what is older than the window, then what is past the caps.
    pub(crate) fn prune(&mut self, now: Instant, limits: &RecoveryOptions) {
        let window = limits.max_disconnection_duration;
        let expired = |at: Instant| now.saturating_duration_since(at) > window;
        while self
            .packets
            .front()
            .is_some_and(|e| expired(e.at) || self.packets.len() > limits.max_packets)
        {
            self.packets.pop_front();
        }
        self.first = self.packets.front().map_or(self.next, |e| e.n);
        self.sessions.retain(|_, (_, at)| !expired(*at));
        while self.sessions.len() > limits.max_sessions {
            let oldest =
                self.sessions.iter().min_by_key(|(_, (_, at))| *at).map(|(k, _)| k.clone());
            match oldest {
                Some(pid) => self.sessions.remove(&pid),
                None => break,
            };
        }
    }

    /// The offset the next logged packet gets.
    pub(crate) fn next_offset(&self) -> Offset {
        Offset::from_counter(self.next)
    }

    /// Stores `packet` (with its offset appended) under the offset [`Self::next_offset`] gave.
    pub(crate) fn push(
        &mut self,
        packet: Packet,
        opts: BroadcastOptions,
        now: Instant,
        limits: &RecoveryOptions,
    ) {
        self.packets.push_back(Entry { n: self.next, packet, opts, at: now });
        self.next += 1;
        self.prune(now, limits);
    }

    pub(crate) fn persist(&mut self, session: Session, now: Instant, limits: &RecoveryOptions) {
        self.sessions.insert(session.pid.clone(), (session, now));
        self.prune(now, limits);
    }

    pub(crate) fn take(
        &mut self,
        pid: &str,
        now: Instant,
        limits: &RecoveryOptions,
    ) -> Option<Session> {
        self.prune(now, limits);
        self.sessions.remove(&Str::from(pid)).map(|(s, _)| s)
    }

    /// The packets after `after` for a socket in `rooms`; `None` if `after` is not an offset of
    /// this log or packets after it were dropped.
    pub(crate) fn missed(
        &mut self,
        after: &Offset,
        rooms: &[Room],
        now: Instant,
        limits: &RecoveryOptions,
    ) -> Option<MissedPackets> {
        self.prune(now, limits);
        let (n, 0) = after.key()? else { return None };
        if n >= self.next || n.saturating_add(1) < self.first {
            return None;
        }
        Some(
            self.packets
                .iter()
                .filter(|e| e.n > n && e.opts.matches(rooms.iter()))
                .map(|e| (Offset::from_counter(e.n), e.packet.clone()))
                .collect(),
        )
    }

    #[cfg(test)]
    pub(crate) fn sizes(&self) -> (usize, usize) {
        (self.packets.len(), self.sessions.len())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;
    use switchboard_proto::socket::{EventName, Payload};

    use super::*;
    use crate::SocketId;

    fn packet(n: u64) -> Packet {
        Packet::event("/", EventName::from_static("e").unwrap(), Payload::from_args(vec![json!(n)]))
    }

    fn session(pid: &str) -> Session {
        Session::new(SocketId::from("sid"), pid, vec![Room::from("sid")], json!(null))
    }

    const MINUTE: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn sessions_and_packets_expire_after_the_window() {
        let limits = RecoveryOptions::default();
        let mut log = RecoveryLog::default();
        log.push(packet(0), BroadcastOptions::new(), Instant::now(), &limits);
        log.persist(session("p1"), Instant::now(), &limits);
        tokio::time::advance(MINUTE).await;
        log.push(packet(1), BroadcastOptions::new(), Instant::now(), &limits);
        log.persist(session("p2"), Instant::now(), &limits);
        assert_eq!(log.sizes(), (2, 2));
        // 2 min + 1 ms after the first ones: they are gone, the later ones stay.
        tokio::time::advance(MINUTE + Duration::from_millis(1)).await;
        assert!(log.take("p1", Instant::now(), &limits).is_none(), "p1 expired");
        assert_eq!(log.sizes(), (1, 1));
        let after0 = log.missed(&Offset::from("0"), &[], Instant::now(), &limits);
        assert_eq!(
            after0.map(|m| m.len()),
            Some(1),
            "offset 0 itself expired, nothing after it did"
        );
        assert!(log.take("p2", Instant::now(), &limits).is_some());
        tokio::time::advance(MINUTE).await;
        let none = log.missed(&Offset::from("0"), &[], Instant::now(), &limits);
        assert!(none.is_none(), "packet 1 expired: a client at offset 0 cannot be recovered");
        assert_eq!(log.sizes(), (0, 0), "everything expired is freed");
        let at_end = log.missed(&Offset::from("1"), &[], Instant::now(), &limits);
        assert_eq!(at_end.map(|m| m.len()), Some(0), "a client that saw everything is recoverable");
    }

    #[tokio::test(start_paused = true)]
    async fn the_caps_drop_the_oldest() {
        let limits = RecoveryOptions { max_packets: 3, max_sessions: 2, ..Default::default() };
        let mut log = RecoveryLog::default();
        for n in 0..5 {
            log.push(packet(n), BroadcastOptions::new(), Instant::now(), &limits);
            tokio::time::advance(Duration::from_millis(1)).await;
        }
        for pid in ["a", "b", "c"] {
            log.persist(session(pid), Instant::now(), &limits);
            tokio::time::advance(Duration::from_millis(1)).await;
        }
        assert_eq!(log.sizes(), (3, 2));
        assert!(log.take("a", Instant::now(), &limits).is_none(), "the oldest session went first");
        assert!(log.missed(&Offset::from("0"), &[], Instant::now(), &limits).is_none());
        let from1 = log.missed(&Offset::from("1"), &[], Instant::now(), &limits);
        assert_eq!(from1.map(|m| m.len()), Some(3));
        assert!(log.missed(&Offset::from("5"), &[], Instant::now(), &limits).is_none(), "future");
    }
}
