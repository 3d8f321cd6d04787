//! The parser seam: how packets become Engine.IO messages and back.

use std::fmt;

use super::{DecodeError, Decoder, Packet};
use crate::engine::{EncodedMessage, Message};

/// Decodes the messages of one connection (it may hold state between messages, such as a
/// packet waiting for attachments).
pub trait Decode: Send + fmt::Debug + 'static {
    /// Feeds one message; returns the packet it completes, if any.
    fn decode(&mut self, message: Message) -> Result<Option<Packet>, DecodeError>;
}

impl Decode for Decoder {
    fn decode(&mut self, message: Message) -> Result<Option<Packet>, DecodeError> {
        Decoder::decode(self, message)
    }
}

/// A Socket.IO packet format. [`JsonParser`] is the default; a msgpack parser can implement
/// this trait without touching the server.
///
/// ```
/// use switchboard_proto::socket::{JsonParser, Packet, Parser};
///
/// let parser = JsonParser::default();
/// let mut decoder = parser.decoder();
/// let packet = decoder.decode(parser.encode(&Packet::disconnect("/admin")).remove(0))?;
/// assert_eq!(packet, Some(Packet::disconnect("/admin")));
/// # Ok::<(), switchboard_proto::socket::DecodeError>(())
/// ```
pub trait Parser: Send + Sync + fmt::Debug + 'static {
    /// Encodes a packet into the messages that carry it, in order.
    fn encode(&self, packet: &Packet) -> Vec<Message>;
    /// Encodes a packet into messages ready for the wire (text behind its Engine.IO type
    /// digit), in order. The default converts [`Parser::encode`]'s messages, copying each
    /// text once; a parser overrides it to write the wire form at once.
    ///
    /// ```
    /// use switchboard_proto::socket::{JsonParser, Packet, Parser};
    ///
    /// let wire = JsonParser::default().encode_wire(&Packet::disconnect("/admin"));
    /// assert_eq!(wire[0].wire_text().map(|t| t.as_str()), Some("41/admin,"));
    /// ```
    fn encode_wire(&self, packet: &Packet) -> Vec<EncodedMessage> {
        self.encode(packet).into_iter().map(EncodedMessage::from).collect()
    }
    /// A fresh decoder for one connection.
    fn decoder(&self) -> Box<dyn Decode>;
    /// Whether this parser writes packets exactly as [`JsonParser`] does, so that a packet
    /// may be written straight with [`JsonParser::encode_ack_wire`] (no [`Packet`] built).
    /// `false` unless overridden: a custom parser is always asked.
    ///
    /// ```
    /// use switchboard_proto::socket::{JsonParser, Parser};
    ///
    /// assert!(JsonParser::default().is_json());
    /// ```
    fn is_json(&self) -> bool {
        false
    }
}

/// The default parser: JSON text plus binary attachments (`socket.io-parser`).
///
/// ```
/// use serde_json::json;
/// use switchboard_proto::engine::Message;
/// use switchboard_proto::socket::{DecodeError, EventName, JsonParser, Packet, Parser, Payload};
///
/// let parser = JsonParser::default();
/// let mut payload = Payload::from_args(vec![json!("cat.jpg")]);
/// payload.push_binary(vec![1u8, 2, 3]);
/// let packet = Packet::event("/", EventName::new("upload")?, payload);
/// // A binary event travels as a text header and one binary message per attachment.
/// let messages = parser.encode(&packet);
/// assert_eq!(messages.len(), 2);
/// assert!(matches!(&messages[1], Message::Binary(b) if b[..] == [1, 2, 3]));
///
/// // Fewer attachments allowed: the same packet is refused.
/// let strict = JsonParser { max_attachments: 0 };
/// let refused = strict.decoder().decode(messages[0].clone());
/// assert!(matches!(refused, Err(DecodeError::TooManyAttachments { count: 1, max: 0 })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonParser {
    /// The most attachments one packet may carry.
    pub max_attachments: usize,
}

impl Default for JsonParser {
    fn default() -> Self {
        JsonParser { max_attachments: super::DEFAULT_MAX_ATTACHMENTS }
    }
}

impl Parser for JsonParser {
    fn encode(&self, packet: &Packet) -> Vec<Message> {
        packet.encode()
    }

    fn encode_wire(&self, packet: &Packet) -> Vec<EncodedMessage> {
        super::json::encode_wire(packet)
    }

    fn decoder(&self) -> Box<dyn Decode> {
        Box::new(Decoder::with_max_attachments(self.max_attachments))
    }

    fn is_json(&self) -> bool {
        true
    }
}

impl JsonParser {
    /// The wire form of an `ACK` packet in namespace `ns` whose one argument is `value`
    /// serialized to JSON: the same as encoding `Packet::ack(ns, Payload::single(value)?, id)`,
    /// written straight (no JSON value tree, no packet, one buffer).
    ///
    /// ```
    /// use switchboard_proto::socket::{JsonParser, Packet, Parser, Payload};
    ///
    /// let direct = JsonParser::encode_ack_wire("/admin", 7, &("a", 1))?;
    /// let packet = Packet::ack("/admin", Payload::single(&("a", 1))?, 7);
    /// assert_eq!(vec![direct], JsonParser::default().encode_wire(&packet));
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn encode_ack_wire<T: serde::Serialize + ?Sized>(
        ns: &str,
        id: u64,
        value: &T,
    ) -> Result<EncodedMessage, serde_json::Error> {
        super::json::encode_ack_wire(ns, id, value)
    }
}
