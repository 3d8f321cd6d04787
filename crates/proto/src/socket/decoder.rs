//! The incremental decoder: Engine.IO messages in, complete Socket.IO packets out.

use super::json::{Decoded, decode_text};
use super::{EventName, Packet, PacketType, ReservedEventName};
use crate::engine::Message;

/// The default limit on binary attachments per packet (Node's parser has none; 10 is the
/// limit this server enforces by default, see [`Decoder::with_max_attachments`]).
pub const DEFAULT_MAX_ATTACHMENTS: usize = 10;

/// Why a Socket.IO packet could not be decoded. The server answers every one of these by
/// closing the client's connection with the `parse error` reason.
///
/// ```
/// use switchboard_proto::engine::Message;
/// use switchboard_proto::socket::{DecodeError, Decoder};
///
/// let mut decoder = Decoder::new();
/// let err = decoder.decode(Message::Text("9".into())).unwrap_err();
/// assert!(matches!(err, DecodeError::UnknownType('9')));
/// assert_eq!(err.to_string(), "unknown packet type '9'");
///
/// let reserved = decoder.decode(Message::Text(r#"2["disconnect"]"#.into())).unwrap_err();
/// assert!(matches!(reserved, DecodeError::ReservedEvent(_)));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The text message was empty.
    #[error("empty packet")]
    Empty,
    /// The first character is not a packet type digit.
    #[error("unknown packet type {0:?}")]
    UnknownType(char),
    /// A binary packet's `<count>-` header is missing or not a number.
    #[error("invalid attachment count")]
    AttachmentCount,
    /// A binary packet announces more attachments than allowed.
    #[error("too many attachments: {count} (at most {max})")]
    TooManyAttachments {
        /// Announced.
        count: usize,
        /// Allowed.
        max: usize,
    },
    /// The namespace is malformed.
    #[error("invalid namespace")]
    Namespace,
    /// The ack id is too large, missing on an ack, or present on a packet that takes none.
    #[error("invalid ack id")]
    AckId,
    /// The payload is not valid JSON (junk where an ack id would be lands here too).
    #[error("invalid json payload")]
    Json(#[from] serde_json::Error),
    /// The payload has the wrong shape for the packet type (e.g. an event that is not a
    /// non-empty array, a CONNECT payload that is not an object).
    #[error("invalid payload for packet type {0:?}")]
    InvalidPayload(PacketType),
    /// The event name (first element of the array) is not a string.
    #[error("event name is not a string")]
    EventName,
    /// The event name is reserved.
    #[error(transparent)]
    ReservedEvent(#[from] ReservedEventName),
    /// A placeholder's `num` is not an integer within the announced attachments.
    #[error("invalid binary placeholder")]
    Placeholder,
    /// The payload holds a different number of placeholders than announced.
    #[error("expected {expected} binary placeholders, found {found}")]
    PlaceholderCount {
        /// Announced in the header.
        expected: usize,
        /// Present in the payload.
        found: usize,
    },
    /// A binary message arrived while no packet was waiting for attachments.
    #[error("unexpected binary message")]
    UnexpectedBinary,
    /// A text message arrived while a packet was still waiting for attachments.
    #[error("text message while waiting for binary attachments")]
    UnexpectedText,
    /// A message of the msgpack parser is malformed.
    #[error(transparent)]
    Msgpack(#[from] super::MsgpackError),
}

/// Turns the Engine.IO messages of one connection into Socket.IO packets, reassembling binary
/// packets from their text header and the binary messages that follow it.
///
/// After an error the decoder is reset to its initial state.
///
/// ```
/// use switchboard_proto::engine::Message;
/// use switchboard_proto::socket::{Decoder, PacketData};
///
/// let mut decoder = Decoder::new();
/// let header = Message::Text(r#"51-["file",{"_placeholder":true,"num":0}]"#.into());
/// assert!(decoder.decode(header)?.is_none()); // waiting for the attachment
/// let packet = decoder.decode(Message::Binary(vec![1u8, 2].into()))?.expect("complete");
/// assert_eq!(packet.payload().map(|p| p.attachments().len()), Some(1));
/// # Ok::<(), switchboard_proto::socket::DecodeError>(())
/// ```
#[derive(Debug)]
pub struct Decoder {
    max_attachments: usize,
    /// Boxed: a decoder lives as long as its connection, and rarely waits for attachments.
    pending: Option<Box<Pending>>,
    /// The name of the last event decoded, shared with the next one of the same name (boxed:
    /// a connection that sends no event pays one pointer).
    last_event: Option<Box<EventName>>,
}

#[derive(Debug)]
struct Pending {
    packet: Packet,
    expected: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    /// A decoder accepting up to [`DEFAULT_MAX_ATTACHMENTS`] attachments per packet.
    pub fn new() -> Self {
        Decoder::with_max_attachments(DEFAULT_MAX_ATTACHMENTS)
    }

    /// A decoder accepting up to `max` attachments per packet.
    pub fn with_max_attachments(max: usize) -> Self {
        Decoder { max_attachments: max, pending: None, last_event: None }
    }

    /// Whether a packet is waiting for binary attachments.
    pub fn is_waiting(&self) -> bool {
        self.pending.is_some()
    }

    /// Feeds one message. Returns the packet it completes, `None` if more attachments are
    /// needed.
    pub fn decode(&mut self, message: Message) -> Result<Option<Packet>, DecodeError> {
        match (message, self.pending.take()) {
            (Message::Text(text), None) => {
                match decode_text(&text, self.max_attachments, &mut self.last_event)? {
                    Decoded::Complete(packet) => Ok(Some(packet)),
                    Decoded::Pending { packet, expected } => {
                        self.pending = Some(Box::new(Pending { packet, expected }));
                        Ok(None)
                    }
                }
            }
            (Message::Text(_), Some(_)) => Err(DecodeError::UnexpectedText),
            (Message::Binary(_), None) => Err(DecodeError::UnexpectedBinary),
            (Message::Binary(bytes), Some(mut pending)) => {
                let Some(payload) = pending.packet.payload_mut() else {
                    return Err(DecodeError::UnexpectedBinary);
                };
                let attachments = payload.attachments_mut();
                attachments.push(bytes);
                if attachments.len() >= pending.expected {
                    Ok(Some(pending.packet))
                } else {
                    self.pending = Some(pending);
                    Ok(None)
                }
            }
        }
    }
}
