//! The Socket.IO packet: the wire enum of the specification.

use serde_json::Value;

use super::{EventName, Payload};
use crate::Str;

/// The packet type digit (the wire enum of the specification).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// `0`: connect to a namespace (client), or accept the connection (server).
    Connect = 0,
    /// `1`: leave a namespace.
    Disconnect = 1,
    /// `2`: an event.
    Event = 2,
    /// `3`: the answer to an event that asked for one.
    Ack = 3,
    /// `4`: the server refuses a namespace connection.
    ConnectError = 4,
    /// `5`: an event with binary attachments.
    BinaryEvent = 5,
    /// `6`: an ack with binary attachments.
    BinaryAck = 6,
}

impl PacketType {
    /// The type named by an ASCII digit.
    pub fn from_digit(b: u8) -> Option<Self> {
        Some(match b {
            b'0' => PacketType::Connect,
            b'1' => PacketType::Disconnect,
            b'2' => PacketType::Event,
            b'3' => PacketType::Ack,
            b'4' => PacketType::ConnectError,
            b'5' => PacketType::BinaryEvent,
            b'6' => PacketType::BinaryAck,
            _ => return None,
        })
    }

    /// The ASCII digit of this type.
    pub fn digit(self) -> char {
        char::from(b'0' + self as u8)
    }
}

/// What a packet carries, by type.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PacketData {
    /// `CONNECT`: the client's auth object, or the server's `{"sid":...}`.
    Connect(Option<Value>),
    /// `DISCONNECT`.
    Disconnect,
    /// `EVENT` or `BINARY_EVENT` (the latter when the payload has attachments).
    Event {
        /// The event name (first element of the wire array).
        event: EventName,
        /// The arguments after the name.
        payload: Payload,
        /// The ack id, when the sender wants an answer.
        ack: Option<u64>,
    },
    /// `ACK` or `BINARY_ACK` (the latter when the payload has attachments).
    Ack {
        /// The answer's arguments.
        payload: Payload,
        /// The id of the event this answers.
        ack: u64,
    },
    /// `CONNECT_ERROR`: an object `{"message":...,"data":...}` (or, from old peers, a string).
    ConnectError(Value),
}

/// A Socket.IO packet: a namespace and what it carries.
///
/// ```
/// use switchboard_proto::socket::{Packet, Payload};
///
/// let packet = Packet::event("/admin", "hello".try_into()?, Payload::spread(&("world",))?);
/// let messages = packet.encode();
/// assert_eq!(messages.len(), 1);
/// assert_eq!(messages[0], switchboard_proto::engine::Message::Text(r#"2/admin,["hello","world"]"#.into()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// The namespace, `/` for the main one.
    pub ns: Str,
    /// The type-specific data.
    pub data: PacketData,
}

/// The main namespace.
pub const MAIN_NAMESPACE: &str = "/";

impl Packet {
    /// A `CONNECT` packet.
    pub fn connect(ns: impl Into<Str>, payload: Option<Value>) -> Self {
        Packet { ns: ns.into(), data: PacketData::Connect(payload) }
    }

    /// The server's `CONNECT` answer: `{"sid":"<sid>"}`.
    pub fn connect_ok(ns: impl Into<Str>, sid: &str) -> Self {
        let mut map = serde_json::Map::with_capacity(1);
        map.insert("sid".to_owned(), Value::String(sid.to_owned()));
        Packet::connect(ns, Some(Value::Object(map)))
    }

    /// A `DISCONNECT` packet.
    pub fn disconnect(ns: impl Into<Str>) -> Self {
        Packet { ns: ns.into(), data: PacketData::Disconnect }
    }

    /// An `EVENT` (or `BINARY_EVENT`) packet without ack id.
    pub fn event(ns: impl Into<Str>, event: EventName, payload: Payload) -> Self {
        Packet { ns: ns.into(), data: PacketData::Event { event, payload, ack: None } }
    }

    /// An `EVENT` (or `BINARY_EVENT`) packet asking for an ack with id `ack`.
    pub fn event_with_ack(
        ns: impl Into<Str>,
        event: EventName,
        payload: Payload,
        ack: u64,
    ) -> Self {
        Packet { ns: ns.into(), data: PacketData::Event { event, payload, ack: Some(ack) } }
    }

    /// An `ACK` (or `BINARY_ACK`) packet.
    pub fn ack(ns: impl Into<Str>, payload: Payload, ack: u64) -> Self {
        Packet { ns: ns.into(), data: PacketData::Ack { payload, ack } }
    }

    /// A `CONNECT_ERROR` packet `{"message":message}`, plus `"data":data` when given.
    pub fn connect_error(ns: impl Into<Str>, message: &str, data: Option<Value>) -> Self {
        let mut map = serde_json::Map::with_capacity(2);
        map.insert("message".to_owned(), Value::String(message.to_owned()));
        if let Some(data) = data {
            map.insert("data".to_owned(), data);
        }
        Packet { ns: ns.into(), data: PacketData::ConnectError(Value::Object(map)) }
    }

    /// The wire type: binary variants when the payload has attachments.
    pub fn packet_type(&self) -> PacketType {
        match &self.data {
            PacketData::Connect(_) => PacketType::Connect,
            PacketData::Disconnect => PacketType::Disconnect,
            PacketData::Event { payload, .. } if payload.is_binary() => PacketType::BinaryEvent,
            PacketData::Event { .. } => PacketType::Event,
            PacketData::Ack { payload, .. } if payload.is_binary() => PacketType::BinaryAck,
            PacketData::Ack { .. } => PacketType::Ack,
            PacketData::ConnectError(_) => PacketType::ConnectError,
        }
    }

    /// The payload of an event or ack.
    pub fn payload(&self) -> Option<&Payload> {
        match &self.data {
            PacketData::Event { payload, .. } | PacketData::Ack { payload, .. } => Some(payload),
            _ => None,
        }
    }

    pub(crate) fn payload_mut(&mut self) -> Option<&mut Payload> {
        match &mut self.data {
            PacketData::Event { payload, .. } | PacketData::Ack { payload, .. } => Some(payload),
            _ => None,
        }
    }

    /// Encodes with the default (JSON) parser: one text message, then one binary message per
    /// attachment.
    pub fn encode(&self) -> Vec<crate::engine::Message> {
        super::json::encode(self)
    }
}
