//! Who a broadcast reaches and how it is sent.

use std::collections::HashSet;
use std::time::Duration;

use crate::Room;

/// How a broadcast is sent (the flags of Node's `BroadcastOperator`).
///
/// Start from [`BroadcastFlags::new`] (Node's defaults) and set fields: `Default` differs
/// from it, as every field's own default makes `compress` false.
///
/// ```
/// use std::time::Duration;
/// use switchboard_adapter::{BroadcastFlags, BroadcastOptions};
///
/// let mut flags = BroadcastFlags::new();
/// flags.volatile = true;
/// flags.timeout = Some(Duration::from_secs(5));
/// let mut opts = BroadcastOptions::new().to("game-7");
/// opts.flags = flags;
/// assert!(opts.flags.volatile && opts.flags.compress && !opts.flags.local);
/// assert!(!BroadcastFlags::default().compress);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BroadcastFlags {
    /// Only reach the sockets of this server, not the rest of the cluster (`local`).
    pub local: bool,
    /// The packet may be dropped if a recipient cannot take it right now (`volatile`).
    pub volatile: bool,
    /// Whether to compress (`compress`); `true` is Node's default.
    pub compress: bool,
    /// Sent by a socket to everyone else (`socket.broadcast`); informative for adapters.
    pub broadcast: bool,
    /// How long to wait for acks (`timeout`).
    pub timeout: Option<Duration>,
}

impl BroadcastFlags {
    /// Node's defaults: not local, not volatile, compressed, no timeout.
    ///
    /// ```
    /// use switchboard_adapter::BroadcastFlags;
    ///
    /// let flags = BroadcastFlags::new();
    /// assert!(flags.compress);
    /// assert!(!flags.local && !flags.volatile && !flags.broadcast);
    /// assert_eq!(flags.timeout, None);
    /// ```
    pub fn new() -> Self {
        BroadcastFlags { compress: true, ..Default::default() }
    }
}

/// The target of a broadcast or a cluster-wide utility: sockets in any of `rooms` (every
/// socket when `rooms` is empty), minus sockets in any of `except`.
///
/// ```
/// use switchboard_adapter::BroadcastOptions;
///
/// let opts = BroadcastOptions::default().to("room1").except("room2");
/// assert!(opts.rooms.contains(&"room1".into()));
/// assert!(opts.except.contains(&"room2".into()));
/// assert!(opts.flags.compress);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BroadcastOptions {
    /// Reach sockets in any of these rooms; all sockets if empty.
    pub rooms: HashSet<Room>,
    /// Skip sockets in any of these rooms.
    pub except: HashSet<Room>,
    /// How to send.
    pub flags: BroadcastFlags,
}

impl Default for BroadcastOptions {
    fn default() -> Self {
        BroadcastOptions {
            rooms: HashSet::new(),
            except: HashSet::new(),
            flags: BroadcastFlags::new(),
        }
    }
}

impl BroadcastOptions {
    /// Every socket.
    ///
    /// ```
    /// use switchboard_adapter::{BroadcastFlags, BroadcastOptions};
    ///
    /// let all = BroadcastOptions::new();
    /// assert!(all.rooms.is_empty() && all.except.is_empty());
    /// assert_eq!(all.flags, BroadcastFlags::new());
    /// ```
    pub fn new() -> Self {
        BroadcastOptions::default()
    }

    /// Adds a target room.
    ///
    /// ```
    /// use switchboard_adapter::{BroadcastOptions, Room};
    ///
    /// let opts = BroadcastOptions::new().to("red").to("blue").to("red");
    /// assert_eq!(opts.rooms.len(), 2);
    /// assert!(opts.rooms.contains(&Room::from("blue")));
    /// ```
    pub fn to(mut self, room: impl Into<Room>) -> Self {
        self.rooms.insert(room.into());
        self
    }

    /// Adds an excluded room.
    ///
    /// ```
    /// use switchboard_adapter::{BroadcastOptions, SocketId};
    ///
    /// // Everyone but the sender (a socket is always in the room named after it).
    /// let sender = SocketId::from("Vx2N8qPlS0bLdlBFAAAB");
    /// let opts = BroadcastOptions::new().except(sender.room());
    /// assert!(opts.rooms.is_empty());
    /// assert!(opts.except.contains(&sender.room()));
    /// ```
    pub fn except(mut self, room: impl Into<Room>) -> Self {
        self.except.insert(room.into());
        self
    }

    /// Whether a socket in `socket_rooms` is a recipient.
    ///
    /// ```
    /// use switchboard_adapter::{BroadcastOptions, Room};
    ///
    /// let rooms = |names: &[&str]| names.iter().map(|n| Room::from(*n)).collect::<Vec<_>>();
    /// let lobby_not_muted = BroadcastOptions::new().to("lobby").except("muted");
    /// assert!(lobby_not_muted.matches(rooms(&["lobby"]).iter()));
    /// assert!(!lobby_not_muted.matches(rooms(&["lobby", "muted"]).iter()));
    /// assert!(!lobby_not_muted.matches(rooms(&["game"]).iter()));
    /// assert!(BroadcastOptions::new().matches(rooms(&["game"]).iter()));
    /// ```
    pub fn matches<'a>(&self, mut socket_rooms: impl Iterator<Item = &'a Room> + Clone) -> bool {
        let excluded = socket_rooms.clone().any(|r| self.except.contains(r));
        !excluded && (self.rooms.is_empty() || socket_rooms.any(|r| self.rooms.contains(r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_rooms_minus_except() {
        let rooms = |names: &[&str]| names.iter().map(|n| Room::from(*n)).collect::<Vec<_>>();
        let a = rooms(&["a", "r1"]);
        let b = rooms(&["b", "r1", "r2"]);
        let all = BroadcastOptions::new();
        assert!(all.matches(a.iter()) && all.matches(b.iter()));
        let r1_not_r2 = BroadcastOptions::new().to("r1").except("r2");
        assert!(r1_not_r2.matches(a.iter()));
        assert!(!r1_not_r2.matches(b.iter()));
        assert!(!BroadcastOptions::new().to("zzz").matches(a.iter()));
        let flags = BroadcastFlags::new();
        assert!(flags.compress && !flags.local && !flags.volatile && flags.timeout.is_none());
    }
}
