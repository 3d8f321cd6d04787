//! The msgpack parser, wire-compatible with the npm `socket.io-msgpack-parser`.
//!
//! Each packet is one Engine.IO binary message: the msgpack map `{type, data, nsp, id}` as
//! `notepack.io` writes it. Binary values travel inline as msgpack `bin` (there are no
//! attachments and no `BINARY_EVENT`/`BINARY_ACK` types on this wire); decoded, they become the
//! same placeholders and attachments of a [`Payload`] as with the JSON parser, so handlers see
//! the same thing whichever parser a server uses.

mod read;
#[cfg(test)]
mod tests;
mod write;

use serde_json::Value;

use super::payload::{PlaceholderError, check_placeholders};
use super::{
    Decode, DecodeError, EventName, MAX_ACK_ID, Packet, PacketData, PacketType, Parser, Payload,
};
use crate::Str;
use crate::engine::Message;
use read::{Item, Reader};

/// The default limit on how deeply arrays and objects may nest in a packet's data: the same
/// as the JSON parser's (`serde_json`'s recursion limit).
pub const DEFAULT_MAX_DEPTH: usize = 128;

/// Why a msgpack message is not a well-formed value or packet.
///
/// ```
/// use switchboard_proto::engine::Message;
/// use switchboard_proto::socket::{DecodeError, MsgpackError, MsgpackParser, Parser};
///
/// let mut decoder = MsgpackParser::default().decoder();
/// let err = decoder.decode(Message::Binary(vec![0x81, 0xa4].into())).unwrap_err();
/// assert!(matches!(err, DecodeError::Msgpack(MsgpackError::Truncated)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MsgpackError {
    /// The message ends inside a value, or announces more items or bytes than it holds.
    #[error("truncated msgpack value")]
    Truncated,
    /// Bytes follow the packet's value.
    #[error("trailing bytes after the msgpack packet")]
    TrailingBytes,
    /// The reserved marker `0xc1`.
    #[error("reserved msgpack marker")]
    Reserved,
    /// A map key that is not a string.
    #[error("msgpack map key is not a string")]
    MapKey,
    /// Arrays and maps nest deeper than allowed.
    #[error("msgpack value nested deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// More binary values than allowed in one packet.
    #[error("more than {max} binary values in one packet")]
    TooManyBinaries {
        /// The limit.
        max: usize,
    },
    /// An object shaped as a binary placeholder (`{"_placeholder":true,"num":N}`), which could
    /// not be told from a binary value once decoded.
    #[error("object shaped as a binary placeholder")]
    PlaceholderObject,
    /// The message is not a map.
    #[error("msgpack packet is not a map")]
    NotAMap,
    /// `type` is missing or not an integer from 0 to 4.
    #[error("invalid packet type")]
    PacketType,
    /// The packet map has `data` twice.
    #[error("msgpack packet has two data fields")]
    DuplicateData,
    /// A map in the data has a key twice (`notepack.io` writes each key once).
    #[error("msgpack map has a key twice")]
    DuplicateKey,
    /// A text message: this parser reads binary messages only.
    #[error("text message where a msgpack packet was expected")]
    TextMessage,
}

/// The msgpack parser (`socket.io-msgpack-parser`); both sides of a connection must use it.
///
/// ```
/// use serde_json::json;
/// use switchboard_proto::engine::Message;
/// use switchboard_proto::socket::{EventName, MsgpackParser, Packet, Parser, Payload};
///
/// let parser = MsgpackParser::default();
/// let mut payload = Payload::from_args(vec![json!({"name": "cat.jpg"})]);
/// payload.push_binary(vec![1u8, 2, 3]);
/// let packet = Packet::event("/", EventName::new("upload")?, payload);
/// // One binary message, the bytes inline.
/// let messages = parser.encode(&packet);
/// assert!(matches!(messages.as_slice(), [Message::Binary(_)]));
/// // Decoded, the bytes are an attachment behind a placeholder, as with the JSON parser.
/// let decoded = parser.decoder().decode(messages[0].clone())?.expect("one message");
/// assert_eq!(decoded, packet);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsgpackParser {
    /// The most binary values one packet may carry (the JSON parser's attachment limit).
    pub max_attachments: usize,
    /// How deeply arrays and objects may nest in a packet's data; deeper input is a decode
    /// error, never a stack overflow.
    pub max_depth: usize,
}

impl Default for MsgpackParser {
    fn default() -> Self {
        MsgpackParser {
            max_attachments: super::DEFAULT_MAX_ATTACHMENTS,
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }
}

impl Parser for MsgpackParser {
    fn encode(&self, packet: &Packet) -> Vec<Message> {
        vec![Message::Binary(write::packet(packet).into())]
    }

    fn decoder(&self) -> Box<dyn Decode> {
        Box::new(MsgpackDecoder { parser: *self })
    }
}

/// The decoder of [`MsgpackParser`]: one binary message is one packet, so it keeps no state.
///
/// ```
/// use switchboard_proto::engine::Message;
/// use switchboard_proto::socket::{Decode, MsgpackDecoder, MsgpackParser, Packet};
///
/// let mut decoder = MsgpackDecoder::new(MsgpackParser::default());
/// // {"type": 1, "nsp": "/admin"}
/// let wire = b"\x82\xa4type\x01\xa3nsp\xa6/admin";
/// let packet = decoder.decode(Message::Binary(wire[..].into()))?;
/// assert_eq!(packet, Some(Packet::disconnect("/admin")));
/// # Ok::<(), switchboard_proto::socket::DecodeError>(())
/// ```
#[derive(Debug, Clone)]
pub struct MsgpackDecoder {
    parser: MsgpackParser,
}

impl MsgpackDecoder {
    /// A decoder with the limits of `parser`.
    pub fn new(parser: MsgpackParser) -> Self {
        MsgpackDecoder { parser }
    }
}

impl Decode for MsgpackDecoder {
    fn decode(&mut self, message: Message) -> Result<Option<Packet>, DecodeError> {
        match message {
            Message::Binary(bytes) => decode_packet(&bytes, &self.parser).map(Some),
            Message::Text(_) => Err(MsgpackError::TextMessage.into()),
        }
    }
}

/// The fields of the packet map, before their shape is checked.
#[derive(Default)]
struct Fields {
    ty: Option<Value>,
    nsp: Option<Value>,
    data: Option<Value>,
    id: Option<Value>,
}

/// Decodes one message, checking it as the npm parser's `checkPacket` does (plus the event
/// name checks of the JSON parser).
fn decode_packet(bytes: &bytes::Bytes, parser: &MsgpackParser) -> Result<Packet, DecodeError> {
    let mut reader = Reader::new(bytes, parser.max_depth, parser.max_attachments);
    let len = reader.map_len()?.ok_or(MsgpackError::NotAMap)?;
    let mut fields = Fields::default();
    for _ in 0..len {
        let key = reader.key()?;
        let kept = reader.attachments.len();
        let item = match reader.item(0)? {
            Item::Value(v) => Some(v),
            Item::Undefined => None,
        };
        let slot = match key.as_str() {
            "type" => &mut fields.ty,
            "nsp" => &mut fields.nsp,
            "data" => &mut fields.data,
            "id" => &mut fields.id,
            // Other fields (the official client sends `options`) are ignored, binary values
            // in them too.
            _ => {
                reader.attachments.truncate(kept);
                continue;
            }
        };
        if key != "data" {
            reader.attachments.truncate(kept);
        } else if slot.is_some() {
            // Its binary values and the first one's could not be told apart.
            return Err(MsgpackError::DuplicateData.into());
        }
        *slot = item;
    }
    if !reader.is_done() {
        return Err(MsgpackError::TrailingBytes.into());
    }
    let attachments = std::mem::take(&mut reader.attachments);
    let ty = match fields.ty.as_ref().and_then(integer) {
        Some(0) => PacketType::Connect,
        Some(1) => PacketType::Disconnect,
        Some(2) => PacketType::Event,
        Some(3) => PacketType::Ack,
        Some(4) => PacketType::ConnectError,
        _ => return Err(MsgpackError::PacketType.into()),
    };
    let ns = match fields.nsp {
        Some(Value::String(s)) if s.starts_with('/') => Str::from(s),
        _ => return Err(DecodeError::Namespace),
    };
    let ack = match &fields.id {
        None => None,
        Some(v) => Some(integer(v).filter(|id| *id <= MAX_ACK_ID).ok_or(DecodeError::AckId)?),
    };
    // The JSON parser has no binary CONNECT or CONNECT_ERROR either: their bytes would have
    // nowhere to go.
    if !attachments.is_empty() && matches!(ty, PacketType::Connect | PacketType::ConnectError) {
        return Err(DecodeError::InvalidPayload(ty));
    }
    let data = match (ty, fields.data) {
        (PacketType::Connect, None) => PacketData::Connect(None),
        (PacketType::Connect, Some(v @ Value::Object(_))) => PacketData::Connect(Some(v)),
        (PacketType::Disconnect, None) => PacketData::Disconnect,
        (PacketType::ConnectError, Some(v @ (Value::Object(_) | Value::String(_)))) => {
            PacketData::ConnectError(v)
        }
        (PacketType::Event, Some(Value::Array(mut args))) => {
            if args.is_empty() {
                return Err(DecodeError::InvalidPayload(ty));
            }
            let Value::String(name) = args.remove(0) else {
                return Err(DecodeError::EventName);
            };
            let event = EventName::new(name)?;
            PacketData::Event { event, payload: payload(args, attachments)?, ack }
        }
        (PacketType::Ack, Some(Value::Array(args))) => {
            let ack = ack.ok_or(DecodeError::AckId)?;
            PacketData::Ack { payload: payload(args, attachments)?, ack }
        }
        (ty, _) => return Err(DecodeError::InvalidPayload(ty)),
    };
    Ok(Packet { ns, data })
}

/// The arguments and their binary values, checked as the JSON parser checks them: each
/// binary value has exactly one placeholder (the event name, taken out, held none).
fn payload(args: Vec<Value>, attachments: Vec<bytes::Bytes>) -> Result<Payload, DecodeError> {
    check_placeholders(&args, attachments.len()).map_err(|e| match e {
        PlaceholderError::Invalid => DecodeError::Placeholder,
        PlaceholderError::Count { expected, found } => {
            DecodeError::PlaceholderCount { expected, found }
        }
    })?;
    Ok(Payload::from_parts(args, attachments))
}

/// A non-negative whole number (`Number.isInteger`, so `3.0` counts).
fn integer(v: &Value) -> Option<u64> {
    let n = v.as_number()?;
    n.as_u64().or_else(|| {
        let f = n.as_f64()?;
        // In range and whole: the cast is exact.
        (f >= 0.0 && f.fract() == 0.0 && f <= MAX_ACK_ID as f64).then_some(f as u64)
    })
}
