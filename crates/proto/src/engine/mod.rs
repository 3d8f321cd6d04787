//! Engine.IO v4: packets, the long-polling payload codec and the server session state machine.
//!
//! - [`Packet`] is the wire enum of the specification (open, close, ping, pong, message,
//!   upgrade, noop); [`Message`] is the application data a message packet carries.
//! - [`EncodedMessage`] is a message encoded once for the wire, shared by many sessions.
//! - [`payload`] joins and splits the packets of one HTTP long-polling request body.
//! - [`session`] is the server session state machine: heartbeats, upgrade, close.
//! - [`websocket`] is WebSocket framing, server side.
//! - [`v3`] is the framing of the older Engine.IO v3, for servers that accept its clients.

mod encoded;
mod handshake;
mod packet;
pub mod payload;
pub mod session;
pub mod v3;
pub mod websocket;

pub use encoded::EncodedMessage;
pub use handshake::Handshake;
pub use packet::{Message, Packet, PacketError, PacketType};

/// The Engine.IO protocol revision implemented here (`EIO=4`).
pub const PROTOCOL_VERSION: u8 = 4;

/// A revision of the Engine.IO protocol, as the `EIO` query parameter names it.
///
/// ```
/// use switchboard_proto::engine::Protocol;
///
/// assert_eq!(Protocol::default(), Protocol::V4);
/// assert_eq!(Protocol::V3.as_u8(), 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Protocol {
    /// Engine.IO v3 (Socket.IO v2 clients): the client pings, payloads are length-prefixed.
    V3,
    /// Engine.IO v4 (Socket.IO v3 and v4 clients).
    #[default]
    V4,
}

impl Protocol {
    /// The revision number (`3` or `4`).
    pub fn as_u8(self) -> u8 {
        match self {
            Protocol::V3 => 3,
            Protocol::V4 => 4,
        }
    }
}

/// The record separator between packets of a long-polling payload.
pub const SEPARATOR: u8 = 0x1e;
