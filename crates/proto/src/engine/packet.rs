//! Engine.IO packets and their text and binary encodings.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;

use super::Handshake;
use crate::Str;

/// The packet type digit that starts every text-encoded packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// `0`: the handshake.
    Open = b'0',
    /// `1`: the transport can be closed.
    Close = b'1',
    /// `2`: heartbeat request (or upgrade probe).
    Ping = b'2',
    /// `3`: heartbeat answer (or upgrade probe answer).
    Pong = b'3',
    /// `4`: application data.
    Message = b'4',
    /// `5`: the upgrade is complete.
    Upgrade = b'5',
    /// `6`: nothing; closes a pending poll during an upgrade.
    Noop = b'6',
}

impl PacketType {
    /// The type named by an ASCII digit.
    pub fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            b'0' => PacketType::Open,
            b'1' => PacketType::Close,
            b'2' => PacketType::Ping,
            b'3' => PacketType::Pong,
            b'4' => PacketType::Message,
            b'5' => PacketType::Upgrade,
            b'6' => PacketType::Noop,
            _ => return None,
        })
    }
}

/// Application data carried by a `message` packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// UTF-8 text.
    Text(Str),
    /// Raw bytes.
    Binary(Bytes),
}

impl Message {
    /// The number of bytes of data (not counting framing).
    pub fn len(&self) -> usize {
        match self {
            Message::Text(s) => s.len(),
            Message::Binary(b) => b.len(),
        }
    }

    /// True if there is no data.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An Engine.IO packet: the wire enum of the specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// `0{...}`: the handshake.
    Open(Handshake),
    /// `1`.
    Close,
    /// `2`, a heartbeat ping.
    Ping,
    /// `3`, a heartbeat pong.
    Pong,
    /// `2probe`, the upgrade probe sent by the client on the new transport.
    PingProbe,
    /// `3probe`, the server's answer to the probe.
    PongProbe,
    /// `4...` as text, or a binary frame / `b...` in a polling payload.
    Message(Message),
    /// `5`.
    Upgrade,
    /// `6`.
    Noop,
}

/// Why bytes could not be decoded into a packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PacketError {
    /// The packet was empty.
    #[error("empty packet")]
    Empty,
    /// The first character is not a packet type.
    #[error("unknown packet type {0:?}")]
    UnknownType(char),
    /// A `b`-prefixed polling packet was not valid base64.
    #[error("invalid base64 in binary packet")]
    Base64,
    /// The bytes of a text packet were not UTF-8.
    #[error("text packet is not valid utf-8")]
    Utf8,
    /// The `open` packet did not hold a valid handshake.
    #[error("invalid handshake")]
    Handshake,
}

impl Packet {
    /// The packet's type digit.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Open(_) => PacketType::Open,
            Packet::Close => PacketType::Close,
            Packet::Ping | Packet::PingProbe => PacketType::Ping,
            Packet::Pong | Packet::PongProbe => PacketType::Pong,
            Packet::Message(_) => PacketType::Message,
            Packet::Upgrade => PacketType::Upgrade,
            Packet::Noop => PacketType::Noop,
        }
    }

    /// A text message packet.
    pub fn text(s: impl Into<Str>) -> Self {
        Packet::Message(Message::Text(s.into()))
    }

    /// A binary message packet.
    pub fn binary(b: impl Into<Bytes>) -> Self {
        Packet::Message(Message::Binary(b.into()))
    }

    /// Decodes a text-encoded packet (a WebSocket text frame, or one packet of a polling payload
    /// that is not `b`-prefixed).
    ///
    /// The data of a text message shares `s`'s buffer.
    pub fn decode_text(s: Str) -> Result<Packet, PacketError> {
        let first = *s.as_bytes().first().ok_or(PacketError::Empty)?;
        let ty = PacketType::from_byte(first)
            .ok_or_else(|| PacketError::UnknownType(s.chars().next().unwrap_or('\0')))?;
        let data = &s[1..];
        Ok(match ty {
            PacketType::Open => {
                Packet::Open(serde_json::from_str(data).map_err(|_| PacketError::Handshake)?)
            }
            PacketType::Close => Packet::Close,
            PacketType::Ping if data == "probe" => Packet::PingProbe,
            PacketType::Ping => Packet::Ping,
            PacketType::Pong if data == "probe" => Packet::PongProbe,
            PacketType::Pong => Packet::Pong,
            // The type digit is one ASCII byte, so byte 1 is a char boundary.
            PacketType::Message => Packet::text(s.slice_from(1).unwrap_or_default()),
            PacketType::Upgrade => Packet::Upgrade,
            PacketType::Noop => Packet::Noop,
        })
    }

    /// Decodes a text packet from raw bytes, checking UTF-8 first.
    ///
    /// A message's data is the rest of `b` itself: no copy, and no second reference that
    /// would make an unshared buffer shared (an allocation).
    pub fn decode_text_bytes(mut b: Bytes) -> Result<Packet, PacketError> {
        if b.first() == Some(&b'4') {
            bytes::Buf::advance(&mut b, 1);
            return Str::from_utf8(b).map(Packet::text).map_err(|_| PacketError::Utf8);
        }
        Packet::decode_text(Str::from_utf8(b).map_err(|_| PacketError::Utf8)?)
    }

    /// Decodes one packet of a long-polling payload: `b` + base64 for binary, text otherwise.
    pub fn decode_polling(s: Str) -> Result<Packet, PacketError> {
        if let Some(b64) = s.strip_prefix('b') {
            let bytes = BASE64.decode(b64).map_err(|_| PacketError::Base64)?;
            Ok(Packet::binary(bytes))
        } else {
            Packet::decode_text(s)
        }
    }

    /// The text encoding of this packet, or `None` for a binary message (which travels as a
    /// binary WebSocket frame, or with [`Packet::encode_polling`]).
    pub fn encode_text(&self) -> Option<Str> {
        Some(match self {
            Packet::Open(h) => Str::from(format!("0{}", h.to_json())),
            Packet::Close => Str::from_static("1"),
            Packet::Ping => Str::from_static("2"),
            Packet::Pong => Str::from_static("3"),
            Packet::PingProbe => Str::from_static("2probe"),
            Packet::PongProbe => Str::from_static("3probe"),
            Packet::Message(Message::Text(s)) => {
                let mut out = String::with_capacity(s.len() + 1);
                out.push('4');
                out.push_str(s);
                Str::from(out)
            }
            Packet::Message(Message::Binary(_)) => return None,
            Packet::Upgrade => Str::from_static("5"),
            Packet::Noop => Str::from_static("6"),
        })
    }

    /// Appends the long-polling encoding of this packet to `out`.
    pub fn encode_polling(&self, out: &mut String) {
        match self {
            Packet::Message(Message::Binary(b)) => {
                out.push('b');
                BASE64.encode_string(b, out);
            }
            Packet::Message(Message::Text(s)) => {
                out.push('4');
                out.push_str(s);
            }
            other => {
                if let Some(s) = other.encode_text() {
                    out.push_str(&s);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_text_packet() {
        let cases: &[(&str, Packet)] = &[
            ("1", Packet::Close),
            ("2", Packet::Ping),
            ("3", Packet::Pong),
            ("2probe", Packet::PingProbe),
            ("3probe", Packet::PongProbe),
            ("4hello", Packet::text("hello")),
            ("4", Packet::text("")),
            ("4é€", Packet::text("é€")),
            ("5", Packet::Upgrade),
            ("6", Packet::Noop),
        ];
        for (wire, packet) in cases {
            assert_eq!(Packet::decode_text(Str::from(*wire)).as_ref(), Ok(packet), "{wire}");
            assert_eq!(packet.encode_text().as_deref(), Some(*wire), "{wire}");
        }
    }

    #[test]
    fn decodes_the_spec_handshake() {
        let wire = r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
        let packet = Packet::decode_text(Str::from(wire));
        let Ok(Packet::Open(h)) = &packet else {
            panic!("not an open packet: {packet:?}");
        };
        assert_eq!(h.sid, "lv_VI97HAXpY6yYWAAAC");
        assert_eq!(h.ping_interval, 25000);
        assert_eq!(packet.ok().and_then(|p| p.encode_text()).as_deref(), Some(wire));
    }

    #[test]
    fn rejects_bad_text_packets() {
        let cases: &[(&str, PacketError)] = &[
            ("", PacketError::Empty),
            ("abc", PacketError::UnknownType('a')),
            ("7", PacketError::UnknownType('7')),
            ("é", PacketError::UnknownType('é')),
            ("0{", PacketError::Handshake),
        ];
        for (wire, err) in cases {
            assert_eq!(Packet::decode_text(Str::from(*wire)), Err(err.clone()), "{wire}");
        }
        assert_eq!(
            Packet::decode_text_bytes(Bytes::from_static(&[b'4', 0xff])),
            Err(PacketError::Utf8)
        );
    }

    #[test]
    fn text_bytes_decode_as_text() {
        let decode = |b: &[u8]| Packet::decode_text_bytes(Bytes::from(b.to_vec()));
        assert_eq!(decode(b"4h\xc3\xa9"), Ok(Packet::text("h\u{e9}")));
        assert_eq!(decode(b"4"), Ok(Packet::text("")));
        assert_eq!(decode(b"2probe"), Ok(Packet::PingProbe));
        assert_eq!(decode(b"\xff"), Err(PacketError::Utf8));
    }

    #[test]
    fn polling_binary_is_base64_with_b_prefix() {
        let p = Packet::binary(vec![1u8, 2, 3, 4]);
        let mut out = String::new();
        p.encode_polling(&mut out);
        assert_eq!(out, "bAQIDBA==");
        assert_eq!(Packet::decode_polling(Str::from("bAQIDBA==")), Ok(p));
        assert_eq!(Packet::decode_polling(Str::from("b!!")), Err(PacketError::Base64));
        assert_eq!(Packet::binary(vec![1u8]).encode_text(), None);
    }
}
