//! Socket.IO v5: packets, the default JSON parser with binary attachments, the msgpack parser,
//! event names.
//!
//! A Socket.IO packet travels as one Engine.IO text message, followed by one binary message per
//! binary attachment. [`Packet::encode`] produces those messages; a [`Decoder`] consumes them
//! one at a time and yields complete packets. Everything is sans-IO.
//!
//! ```
//! use switchboard_proto::engine::Message;
//! use switchboard_proto::socket::{Decoder, PacketData};
//!
//! let mut decoder = Decoder::new();
//! let packet = decoder.decode(Message::Text(r#"2/chat,12["hi",{"b":1,"a":2}]"#.into()))?;
//! let packet = packet.expect("no attachments to wait for");
//! assert_eq!(packet.ns, "/chat");
//! let PacketData::Event { event, ack, .. } = &packet.data else { unreachable!() };
//! assert_eq!((event.as_str(), *ack), ("hi", Some(12)));
//! // Re-encoding keeps argument and key order, in compact JSON.
//! assert_eq!(packet.encode()[0], Message::Text(r#"2/chat,12["hi",{"b":1,"a":2}]"#.into()));
//! # Ok::<(), switchboard_proto::socket::DecodeError>(())
//! ```

mod decoder;
mod event;
mod event_array;
mod json;
mod msgpack;
mod packet;
mod parser;
mod payload;
#[cfg(test)]
mod tests;

pub use decoder::{DEFAULT_MAX_ATTACHMENTS, DecodeError, Decoder};
pub use event::{EventName, RESERVED_EVENTS, ReservedEventName};
pub use json::MAX_ACK_ID;
pub use msgpack::{DEFAULT_MAX_DEPTH, MsgpackDecoder, MsgpackError, MsgpackParser};
pub use packet::{MAIN_NAMESPACE, Packet, PacketData, PacketType};
pub use parser::{Decode, JsonParser, Parser};
pub use payload::{Payload, placeholder, placeholder_num};
