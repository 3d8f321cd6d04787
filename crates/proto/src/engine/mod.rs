//! Engine.IO v4: packets, the long-polling payload codec and the server session state machine.
//!
//! - [`Packet`] is the wire enum of the specification (open, close, ping, pong, message,
//!   upgrade, noop); [`Message`] is the application data a message packet carries.
//! - [`EncodedMessage`] is a message encoded once for the wire, shared by many sessions.
//! - [`payload`] joins and splits the packets of one HTTP long-polling request body.
//! - [`session`] is the server session state machine: heartbeats, upgrade, close.
//! - [`websocket`] is WebSocket framing, server side.

mod encoded;
mod handshake;
mod packet;
pub mod payload;
pub mod session;
pub mod websocket;

pub use encoded::EncodedMessage;
pub use handshake::Handshake;
pub use packet::{Message, Packet, PacketError, PacketType};

/// The Engine.IO protocol revision implemented here (`EIO=4`).
pub const PROTOCOL_VERSION: u8 = 4;

/// The record separator between packets of a long-polling payload.
pub const SEPARATOR: u8 = 0x1e;
