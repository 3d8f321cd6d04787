//! Connection state recovery: the sessions of disconnected sockets and the offsets of the
//! packets they may have missed (Node's `SessionAwareAdapter`).
//!
//! An adapter that supports recovery keeps two things for `max_disconnection_duration`:
//!
//! - the **packet log**: every recoverable broadcast (an EVENT without ack, not volatile), with
//!   its target rooms and an [`Offset`] that is appended as the last argument of the packet
//!   (the official client remembers the last one it received);
//! - the **sessions** of sockets that dropped for a recoverable reason: id, private session id
//!   (`pid`), rooms and `data`.
//!
//! When a client reconnects with `{pid, offset}` in its CONNECT auth, the server takes the
//! session ([`crate::Adapter::take_session`]), joins its rooms, then asks for the packets after
//! `offset` ([`crate::Adapter::missed_packets`]) and replays them before any new one. Offsets
//! are ordered, so a packet that reached the socket live while the replay was being read is
//! sent once: the server drops live packets whose offset is not after the last replayed one.
//! This is what lets a cluster adapter (Redis Streams: offsets are stream ids) recover a client
//! on another node.

use std::cmp::Ordering;
use std::fmt;
use std::time::Duration;

use serde_json::Value;
use switchboard_proto::Str;
use switchboard_proto::socket::{Packet, PacketData};

use crate::{BroadcastFlags, Room, SocketId};

/// A position in a namespace's packet log (Node's offset).
///
/// Opaque text for the client; ordered for the server. The text is `A` or `A-B` with `A`, `B`
/// decimal (the in-memory adapter counts packets; Redis stream ids are `ms-seq`), compared
/// numerically. Text of another shape sorts before every numeric offset.
///
/// ```
/// use switchboard_adapter::Offset;
///
/// assert!(Offset::from("9") < Offset::from("10"));
/// assert!(Offset::from("1700000000000-1") < Offset::from("1700000000001-0"));
/// assert_eq!(Offset::from_counter(42).as_str(), "42");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Offset(Str);

impl Offset {
    /// Wraps an offset's text.
    pub fn new(text: impl Into<Str>) -> Self {
        Offset(text.into())
    }

    /// The offset of the `n`th packet of a counting log.
    pub fn from_counter(n: u64) -> Self {
        Offset(Str::from(n.to_string().as_str()))
    }

    /// The text sent to the client.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The numeric key (`A-B` or `A`), if the text has that shape.
    pub fn key(&self) -> Option<(u64, u64)> {
        let text = self.as_str();
        match text.split_once('-') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => Some((text.parse().ok()?, 0)),
        }
    }
}

impl Ord for Offset {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key()).then_with(|| self.as_str().cmp(other.as_str()))
    }
}

impl PartialOrd for Offset {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for Offset {
    fn from(s: &str) -> Self {
        Offset::new(s)
    }
}

/// How long and how much an adapter keeps for recovery (from the server's
/// `connectionStateRecovery` option).
///
/// ```
/// use std::time::Duration;
/// use switchboard_adapter::RecoveryOptions;
///
/// let opts = RecoveryOptions::default();
/// assert_eq!(opts.max_disconnection_duration, Duration::from_secs(120));
/// assert_eq!(opts.max_packets, 100_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryOptions {
    /// How long a session and a logged packet are kept (Node's `maxDisconnectionDuration`,
    /// 2 minutes).
    pub max_disconnection_duration: Duration,
    /// The most packets the log of one namespace keeps; the oldest go first. A client whose
    /// offset fell out of the log is not recovered. Node has no cap.
    pub max_packets: usize,
    /// The most saved sessions per namespace; the oldest go first. Node has no cap.
    pub max_sessions: usize,
}

impl Default for RecoveryOptions {
    fn default() -> Self {
        RecoveryOptions {
            max_disconnection_duration: Duration::from_secs(120),
            max_packets: 100_000,
            max_sessions: 100_000,
        }
    }
}

/// What is saved of a socket that dropped, to restore it on reconnection.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Session {
    /// The socket id, given back to the restored socket.
    pub sid: SocketId,
    /// The private session id the client presents to recover (never broadcast).
    pub pid: Str,
    /// The rooms the socket was in, its own id included.
    pub rooms: Vec<Room>,
    /// The user data, as JSON.
    pub data: Value,
}

impl Session {
    /// A session.
    pub fn new(sid: SocketId, pid: impl Into<Str>, rooms: Vec<Room>, data: Value) -> Self {
        Session { sid, pid: pid.into(), rooms, data }
    }
}

/// Logged packets with their offsets (already appended as each packet's last argument), in
/// order: what [`crate::Adapter::missed_packets`] returns.
pub type MissedPackets = Vec<(Offset, Packet)>;

/// Whether a broadcast goes into the packet log and carries an offset: an EVENT without ack
/// id, not volatile (Node's rule; an ack cannot be restored on another connection).
pub fn is_recoverable(packet: &Packet, flags: &BroadcastFlags) -> bool {
    matches!(packet.data, PacketData::Event { ack: None, .. }) && !flags.volatile
}

/// Appends `offset` as the last argument of an EVENT (where the official client reads it).
pub fn append_offset(packet: &mut Packet, offset: &Offset) {
    if let PacketData::Event { payload, .. } = &mut packet.data {
        payload.push(Value::String(offset.as_str().to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_order_numerically() {
        let mut v: Vec<Offset> =
            ["10", "9", "1-2", "1-10", "x", "2"].iter().map(|s| Offset::from(*s)).collect();
        v.sort();
        let text: Vec<&str> = v.iter().map(Offset::as_str).collect();
        assert_eq!(text, ["x", "1-2", "1-10", "2", "9", "10"]);
        assert_eq!(Offset::from("7").key(), Some((7, 0)));
        assert_eq!(Offset::from("7-").key(), None);
    }
}
