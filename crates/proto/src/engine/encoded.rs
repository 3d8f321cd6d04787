//! Messages encoded once for the wire and shared by every session they are sent to.

use bytes::Bytes;

use super::{Message, PacketError, PacketType};
use crate::Str;

/// A message ready for the wire: a text `message` packet with its `4` type digit already in
/// front, or binary data.
///
/// Cloning is a reference-count increment, so a broadcast is encoded once and the same buffer
/// is written to every recipient: the server neither allocates nor copies per recipient to
/// frame it.
///
/// ```
/// use switchboard_proto::Str;
/// use switchboard_proto::engine::{EncodedMessage, Message};
///
/// // Built from the wire form: the text packet, type digit included.
/// let m = EncodedMessage::from_wire(Str::from("4hello"))?;
/// assert_eq!(m.wire_text().map(|s| s.as_str()), Some("4hello"));
/// assert_eq!(m.to_message(), Message::Text("hello".into()));
///
/// // Or from a message (the text is copied once, behind the type digit).
/// let same = EncodedMessage::from(Message::Text("hello".into()));
/// assert_eq!(same, m);
/// assert!(EncodedMessage::from_wire(Str::from("2")).is_err());
/// # Ok::<(), switchboard_proto::engine::PacketError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedMessage(Repr);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Repr {
    /// `4` followed by the text.
    Text(Str),
    /// Raw bytes.
    Binary(Bytes),
}

impl EncodedMessage {
    /// A text message, copied once behind the `4` type digit.
    pub fn text(text: &str) -> Self {
        let mut wire = String::with_capacity(text.len() + 1);
        wire.push(char::from(PacketType::Message as u8));
        wire.push_str(text);
        EncodedMessage(Repr::Text(Str::from(wire)))
    }

    /// A text message packet in its wire form: `4` followed by the text, shared, not copied.
    ///
    /// Fails with [`PacketError::Empty`] or [`PacketError::UnknownType`] if `packet` is not
    /// a `message` packet.
    pub fn from_wire(packet: Str) -> Result<Self, PacketError> {
        match packet.as_bytes().first() {
            None => Err(PacketError::Empty),
            Some(&b) if b == PacketType::Message as u8 => Ok(EncodedMessage(Repr::Text(packet))),
            Some(_) => {
                Err(PacketError::UnknownType(packet.as_str().chars().next().unwrap_or('\0')))
            }
        }
    }

    /// A binary message (sent as a binary WebSocket frame, or base64 over polling).
    pub fn binary(data: impl Into<Bytes>) -> Self {
        EncodedMessage(Repr::Binary(data.into()))
    }

    /// The text packet in its wire form (`4` and the text), or `None` for a binary message.
    pub fn wire_text(&self) -> Option<&Str> {
        match &self.0 {
            Repr::Text(s) => Some(s),
            Repr::Binary(_) => None,
        }
    }

    /// The data of a binary message, or `None` for a text message.
    pub fn binary_data(&self) -> Option<&Bytes> {
        match &self.0 {
            Repr::Binary(b) => Some(b),
            Repr::Text(_) => None,
        }
    }

    /// The message, sharing this one's buffer.
    pub fn to_message(&self) -> Message {
        match &self.0 {
            // The type digit is one ASCII byte, so byte 1 is a char boundary.
            Repr::Text(s) => Message::Text(s.slice_from(1).unwrap_or_default()),
            Repr::Binary(b) => Message::Binary(b.clone()),
        }
    }

    /// The number of bytes of data (not counting the type digit).
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Text(s) => s.as_bytes().len().saturating_sub(1),
            Repr::Binary(b) => b.len(),
        }
    }

    /// True if there is no data.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<Message> for EncodedMessage {
    fn from(message: Message) -> Self {
        match message {
            Message::Text(s) => EncodedMessage::text(&s),
            Message::Binary(b) => EncodedMessage::binary(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_keeps_the_type_digit_and_shares_the_buffer() {
        let wire = Str::from("4é€");
        let m = EncodedMessage::from_wire(wire.clone()).unwrap();
        assert_eq!(m.wire_text(), Some(&wire));
        assert_eq!(m.len(), "é€".len());
        assert_eq!(m.to_message(), Message::Text("é€".into()));
        assert_eq!(m.binary_data(), None);
        assert_eq!(EncodedMessage::text("é€"), m);
        assert_eq!(EncodedMessage::text("").wire_text().map(|s| s.as_str()), Some("4"));
        assert!(EncodedMessage::text("").is_empty());
    }

    #[test]
    fn refuses_other_packets() {
        assert_eq!(EncodedMessage::from_wire(Str::new()), Err(PacketError::Empty));
        assert_eq!(EncodedMessage::from_wire(Str::from("2")), Err(PacketError::UnknownType('2')));
        assert_eq!(EncodedMessage::from_wire(Str::from("é")), Err(PacketError::UnknownType('é')));
    }

    #[test]
    fn binary_is_kept_as_is() {
        let m = EncodedMessage::from(Message::Binary(Bytes::from_static(&[1, 2, 3])));
        assert_eq!(m.binary_data().map(|b| b.as_ref()), Some(&[1u8, 2, 3][..]));
        assert_eq!(m.wire_text(), None);
        assert_eq!(m.len(), 3);
        assert_eq!(m.to_message(), Message::Binary(Bytes::from_static(&[1, 2, 3])));
    }
}
