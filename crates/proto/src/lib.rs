//! Sans-IO Engine.IO v4 and Socket.IO v5 protocol for Switchboard.
//!
//! This crate sits at the bottom of the Switchboard stack: it turns bytes into typed packets
//! and back, and holds the protocol state machines. It does no I/O and depends on nothing
//! asynchronous, so every codec and transition is tested with the exact examples of the
//! specifications and with injected time.
//!
//! - [`engine`]: Engine.IO v4 packets, the long-polling payload codec, the server session
//!   state machine.
//! - [`Str`]: a cheaply cloneable UTF-8 byte string, used for text frames so that one encoded
//!   broadcast packet can be shared by every recipient.
//!
//! ```
//! use switchboard_proto::engine::{Packet, Message};
//!
//! let packet = Packet::decode_text("4hello".into())?;
//! assert_eq!(packet, Packet::Message(Message::Text("hello".into())));
//! assert_eq!(packet.encode_text().as_deref(), Some("4hello"));
//! # Ok::<(), switchboard_proto::engine::PacketError>(())
//! ```

pub mod engine;
pub mod socket;
mod str;

pub use crate::str::Str;
