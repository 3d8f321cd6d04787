//! What an adapter needs from the server: a handle on the sockets of one namespace on this node.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;
use smol_str::SmolStr;
use switchboard_proto::Str;
use switchboard_proto::engine::EncodedMessage;
use switchboard_proto::socket::{EventName, Packet, Payload};
use tokio::sync::mpsc;

use crate::{BroadcastFlags, Offset, RecoveryOptions, Room};

/// A Socket.IO socket id (distinct from the Engine.IO session id).
///
/// Ids up to [`SocketId::INLINE`] bytes (the server's own are 20) are kept inline: no
/// allocation, and every map entry keyed by a socket (several per connection) stays three
/// words. Longer ids share one allocation. It compares, orders and hashes as its text, so
/// that maps keyed by ids can be searched with a room name (`Borrow<str>`).
///
/// ```
/// use std::collections::HashMap;
/// use switchboard_adapter::SocketId;
///
/// let id = SocketId::from("Vx2N8qPlS0bLdlBFAAAB");
/// let scores = HashMap::from([(id.clone(), 3)]);
/// assert_eq!(scores.get("Vx2N8qPlS0bLdlBFAAAB"), Some(&3));
/// assert_eq!(format!("{id}"), "Vx2N8qPlS0bLdlBFAAAB");
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SocketId(SmolStr);

impl SocketId {
    /// The longest id kept without an allocation.
    ///
    /// ```
    /// use switchboard_adapter::SocketId;
    ///
    /// assert_eq!(SocketId::INLINE, 23);
    /// assert!("Vx2N8qPlS0bLdlBFAAAB".len() <= SocketId::INLINE);
    /// ```
    pub const INLINE: usize = 23;

    /// Wraps an id.
    ///
    /// ```
    /// use switchboard_adapter::SocketId;
    ///
    /// let id = SocketId::new(format!("node-{}", 2));
    /// assert_eq!(id, SocketId::from("node-2"));
    /// ```
    pub fn new(id: impl Into<Str>) -> Self {
        SocketId::from_str_ref(id.into().as_str())
    }

    fn from_str_ref(id: &str) -> Self {
        SocketId(SmolStr::new(id))
    }

    /// The id as text.
    ///
    /// ```
    /// use switchboard_adapter::SocketId;
    ///
    /// assert_eq!(SocketId::from("abc").as_str(), "abc");
    /// ```
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The room named after this socket, which the socket is always in.
    ///
    /// ```
    /// use switchboard_adapter::{BroadcastOptions, SocketId};
    ///
    /// // To one socket: to its own room.
    /// let id = SocketId::from("abc");
    /// let opts = BroadcastOptions::new().to(id.room());
    /// assert!(opts.matches([id.room()].iter()));
    /// assert_eq!(id.room(), "abc");
    /// ```
    pub fn room(&self) -> Room {
        Room::from(self.as_str())
    }
}

impl std::borrow::Borrow<str> for SocketId {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for SocketId {
    fn from(s: &str) -> Self {
        SocketId::from_str_ref(s)
    }
}

/// A snapshot of a socket, as returned by `fetch_sockets` (it can come from another node).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SocketInfo {
    /// The socket id.
    pub id: SocketId,
    /// The handshake as JSON (`{"auth":..,"query":..,"headers":..,...}`).
    pub handshake: Value,
    /// The rooms the socket is in (its own id included).
    pub rooms: Vec<Room>,
    /// The user data, as JSON (`Value::Null` when none).
    pub data: Value,
}

impl SocketInfo {
    /// A snapshot.
    pub fn new(id: SocketId, handshake: Value, rooms: Vec<Room>, data: Value) -> Self {
        SocketInfo { id, handshake, rooms, data }
    }
}

/// One answer to a broadcast with ack, or a count of expected answers.
///
/// What an adapter sends to an [`AckSender`], and how a collector adds it up:
///
/// ```
/// use switchboard_adapter::{AckEvent, SocketId};
/// use switchboard_proto::socket::Payload;
///
/// let (responses, mut events) = tokio::sync::mpsc::unbounded_channel();
/// responses.send(AckEvent::Expected(2))?;
/// let payload = Payload::single(&"ok")?;
/// responses.send(AckEvent::Response { socket: SocketId::from("a"), payload })?;
/// drop(responses);
///
/// let (mut expected, mut answers) = (0, Vec::new());
/// while let Ok(event) = events.try_recv() {
///     match event {
///         AckEvent::Expected(n) => expected += n,
///         AckEvent::Response { socket, .. } => answers.push(socket),
///         _ => {}
///     }
/// }
/// assert_eq!((expected, answers), (2, vec![SocketId::from("a")]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AckEvent {
    /// This many more answers are expected (one per reached socket; sent once per node).
    Expected(usize),
    /// A socket answered.
    Response {
        /// Who answered.
        socket: SocketId,
        /// The ack's arguments.
        payload: Payload,
    },
}

/// Where answers of a broadcast with ack go. Unbounded on purpose: at most one message per
/// recipient plus one count per node, and the collector drops the receiver on timeout.
pub type AckSender = mpsc::UnboundedSender<AckEvent>;

/// The answer to a server-side emit from one node.
///
/// ```
/// use switchboard_adapter::{AckEvent, ServerAckSender};
///
/// let (ack, mut answers) = tokio::sync::mpsc::unbounded_channel();
/// let ack: ServerAckSender = ack;
/// // A single node: no other server will answer.
/// ack.send(AckEvent::Expected(0))?;
/// assert_eq!(answers.try_recv(), Ok(AckEvent::Expected(0)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub type ServerAckSender = mpsc::UnboundedSender<AckEvent>;

/// A local socket's delivery entry point: the one way an adapter reaches a socket. The adapter
/// keeps it next to the socket's room memberships, so that a broadcast walks its rooms' members
/// and reaches each socket directly, without looking its id up.
///
/// The server implements it; [`LocalNamespace::local_socket`] hands it out. A delivery only
/// queues the messages on the socket's connection: whatever it runs of the application's code
/// (outgoing-event listeners) must not call back into the adapter while it delivers.
pub trait LocalSocket: Send + Sync + 'static {
    /// Queues pre-encoded messages (`packet`, encoded by [`LocalNamespace::encode`]) on this
    /// socket. `packet` is given for outgoing-event listeners; it must not be re-encoded.
    /// `offset` is the packet's place in the recovery log, when it is logged.
    fn deliver(
        &self,
        packet: &Packet,
        messages: &[EncodedMessage],
        flags: &BroadcastFlags,
        offset: Option<&Offset>,
    );

    /// Like [`LocalSocket::deliver`], and routes the socket's answer to ack id `ack_id` to
    /// `responses` as an [`AckEvent::Response`]. Returns false if the socket is gone.
    fn deliver_with_ack(
        &self,
        packet: &Packet,
        messages: &[EncodedMessage],
        ack_id: u64,
        responses: &AckSender,
        flags: &BroadcastFlags,
    ) -> bool;

    /// Brings what a delivery touches into the cache; a broadcast calls it a few recipients
    /// ahead, so that their cache misses overlap. Does nothing by default.
    fn prefetch(&self) {}
}

/// A shared [`LocalSocket`].
pub type SocketHandle = Arc<dyn LocalSocket>;

/// The server side of an adapter: the sockets of one namespace on this node.
///
/// The server crate implements this; adapters hold it weakly (the namespace owns its adapter).
pub trait LocalNamespace: Send + Sync + 'static {
    /// The namespace name (`/`, `/admin`, ...).
    fn name(&self) -> &str;

    /// Encodes a packet with the namespace's parser, ready for the wire. Adapters call this
    /// once per broadcast and hand the same messages to every recipient (cloning one is a
    /// reference-count increment).
    fn encode(&self, packet: &Packet) -> Vec<EncodedMessage>;

    /// The recovery options when connection state recovery is on (Node's
    /// `connectionStateRecovery`), `None` otherwise (the default).
    fn recovery(&self) -> Option<RecoveryOptions> {
        None
    }

    /// The delivery handle of a local socket (`None` for an id the namespace does not know:
    /// such a socket is never delivered to). Adapters keep it while the socket is in a room
    /// (they must drop it when the socket leaves its last room) and deliver through it: it is
    /// the one way a broadcast reaches a socket.
    fn local_socket(&self, socket: &SocketId) -> Option<SocketHandle>;

    /// A fresh ack id for a broadcast with ack.
    fn next_ack_id(&self) -> u64;

    /// A snapshot of a local socket.
    fn socket_info(&self, socket: &SocketId) -> Option<SocketInfo>;

    /// Disconnects a local socket from this namespace (`close`: also close the underlying
    /// connection).
    fn disconnect(&self, socket: &SocketId, close: bool);

    /// A server-side emit arrived from another node. When `ack` is given, the answer goes to it
    /// as one [`AckEvent::Response`].
    fn on_server_side_emit(&self, event: EventName, payload: Payload, ack: Option<ServerAckSender>);
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn socket_ids_short_and_long_compare_hash_and_read_as_text() {
        let short = SocketId::from("abcdefghijklmnopqrst");
        let edge = SocketId::new("x".repeat(SocketId::INLINE));
        let long = SocketId::new(String::from("y").repeat(SocketId::INLINE + 1));
        let empty = SocketId::from("");
        assert!(!short.0.is_heap_allocated() && !edge.0.is_heap_allocated());
        assert!(long.0.is_heap_allocated());
        assert_eq!(short.as_str(), "abcdefghijklmnopqrst");
        assert_eq!(edge.as_str().len(), SocketId::INLINE);
        assert_eq!(long.to_string(), "y".repeat(SocketId::INLINE + 1));
        assert_eq!(empty.as_str(), "");
        assert_eq!(short.room(), Room::from("abcdefghijklmnopqrst"));
        assert_eq!(long.clone(), long);
        assert!(short < SocketId::from("b") && SocketId::from("a") < short);
        let map: HashMap<SocketId, u8> = [(short.clone(), 1), (long.clone(), 2)].into();
        assert_eq!(map.get("abcdefghijklmnopqrst"), Some(&1));
        assert_eq!(map.get(long.as_str()), Some(&2));
        assert_eq!(map.get(&SocketId::new(Str::from("abcdefghijklmnopqrst"))), Some(&1));
        assert_eq!(format!("{short:?}"), "\"abcdefghijklmnopqrst\"");
        assert_eq!(std::mem::size_of::<SocketId>(), 24);
    }
}
