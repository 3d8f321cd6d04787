//! Engine.IO v3 framing (`EIO=3`, the protocol of Socket.IO v2 clients), for servers that
//! accept old clients (Node's `allowEIO3`).
//!
//! The packets are those of v4, except how binary data travels:
//!
//! - in text (a polling payload, or a WebSocket of a client that asked for `b64=1`), a binary
//!   message is `b4` followed by base64 (the `4` is the packet type; v4 writes `b` alone);
//! - in a binary WebSocket frame, the first byte is the packet type as a number (`0x04`),
//!   followed by the data (v4 sends the data alone).
//!
//! A long-polling payload is not split by a separator but prefixes each packet with its length
//! and a colon, `<length>:<packet>`, where the length counts UTF-16 code units (JavaScript's
//! `String.length`). Clients that can send and receive binary bodies (XHR2, in browsers) use a
//! binary payload instead: per packet a `0` (text) or `1` (binary) byte, the decimal digits of
//! the length as bytes `0..=9`, a `255` byte, then the packet (text as UTF-8, binary as the type
//! byte and the data).
//!
//! ```
//! use switchboard_proto::engine::{Packet, v3};
//!
//! let body = v3::encode_payload(&[Packet::text("héllo"), Packet::binary(vec![1u8, 2, 3, 4])]);
//! assert_eq!(body, "6:4héllo10:b4AQIDBA==");
//! let packets = v3::decode_payload(body.as_bytes(), 1_000_000)?;
//! assert_eq!(packets, vec![Packet::text("héllo"), Packet::binary(vec![1u8, 2, 3, 4])]);
//!
//! let binary = v3::encode_binary_payload(&[Packet::text("hi"), Packet::binary(vec![9u8])]);
//! assert_eq!(binary, [0, 3, 255, b'4', b'h', b'i', 1, 2, 255, 4, 9]);
//! assert_eq!(v3::decode_binary_payload(&binary)?.len(), 2);
//! # Ok::<(), switchboard_proto::engine::payload::PayloadError>(())
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;

use super::payload::PayloadError;
use super::{Message, Packet, PacketError, PacketType};
use crate::Str;

/// The longest length prefix read, in digits (Node stops at 310, the digits of `f64::MAX`;
/// nothing this server accepts needs more than a few).
const MAX_LENGTH_DIGITS: usize = 20;

/// Appends the v3 text encoding of `packet` to `out`: a binary message as `b4` and base64,
/// every other packet as in v4.
pub fn encode_text(packet: &Packet, out: &mut String) {
    match packet {
        Packet::Message(Message::Binary(b)) => {
            out.push('b');
            out.push(char::from(PacketType::Message as u8));
            BASE64.encode_string(b, out);
        }
        other => other.encode_polling(out),
    }
}

/// Decodes a v3 text packet: `b<type><base64>` for binary data, as in v4 otherwise.
pub fn decode_text(s: Str) -> Result<Packet, PacketError> {
    let Some(rest) = s.strip_prefix('b') else {
        return Packet::decode_text(s);
    };
    let mut chars = rest.chars();
    let ty = chars.next().ok_or(PacketError::Empty)?;
    match PacketType::from_byte(u8::try_from(ty).unwrap_or(0)) {
        Some(PacketType::Message) => {
            let data = BASE64.decode(chars.as_str()).map_err(|_| PacketError::Base64)?;
            Ok(Packet::binary(data))
        }
        // Other packets carry no data this server reads: the type alone.
        Some(other) if other != PacketType::Open => {
            Packet::decode_text(Str::from(char::from(other as u8).to_string()))
        }
        _ => Err(PacketError::UnknownType(ty)),
    }
}

/// Decodes a binary WebSocket frame (or a binary packet of a binary payload): the packet type
/// as a number in the first byte, then the data.
pub fn decode_binary(mut frame: Bytes) -> Result<Packet, PacketError> {
    let ty = *frame.first().ok_or(PacketError::Empty)?;
    bytes::Buf::advance(&mut frame, 1);
    match ty {
        4 => Ok(Packet::binary(frame)),
        // Other packets carry no data this server reads: the type alone.
        1..=3 | 5 | 6 => Packet::decode_text(Str::from(char::from(b'0' + ty).to_string())),
        _ => Err(PacketError::UnknownType(char::from(ty))),
    }
}

/// The binary WebSocket frame of a binary message: the type byte `4`, then the data.
pub fn encode_binary(data: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(data.len() + 1);
    out.push(4);
    out.extend_from_slice(data);
    Bytes::from(out)
}

/// Encodes packets as a v3 text payload: `<length>:<packet>` each, binary messages in base64;
/// no packet at all is `0:`.
pub fn encode_payload<'a>(packets: impl IntoIterator<Item = &'a Packet>) -> String {
    let mut out = String::new();
    let mut packet = String::new();
    for p in packets {
        packet.clear();
        encode_text(p, &mut packet);
        let units: usize = packet.chars().map(char::len_utf16).sum();
        out.push_str(&units.to_string());
        out.push(':');
        out.push_str(&packet);
    }
    if out.is_empty() {
        out.push_str("0:");
    }
    out
}

/// Decodes a v3 text payload of at most `limit` bytes. Any malformed length or packet refuses
/// the whole payload, as Node does; an empty packet (`0:`) is skipped.
pub fn decode_payload(body: &[u8], limit: usize) -> Result<Vec<Packet>, PayloadError> {
    if body.len() > limit {
        return Err(PayloadError::TooLarge { limit });
    }
    let text = std::str::from_utf8(body).map_err(|_| bad(PacketError::Utf8))?;
    if text.is_empty() {
        return Err(bad(PacketError::Empty));
    }
    let mut packets = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let colon = rest.find(':').ok_or(PayloadError::Length)?;
        let digits = rest.get(..colon).unwrap_or_default();
        let units = parse_length(digits.as_bytes().iter().map(|d| d.wrapping_sub(b'0')))?;
        let body = rest.get(colon + 1..).unwrap_or_default();
        // The byte end of the first `units` UTF-16 code units.
        let mut counted = 0;
        let mut end = 0;
        for c in body.chars() {
            if counted >= units {
                break;
            }
            counted += c.len_utf16();
            end += c.len_utf8();
        }
        if counted != units {
            // Too short, or the length ends inside a surrogate pair.
            return Err(PayloadError::Length);
        }
        let packet = body.get(..end).unwrap_or_default();
        if !packet.is_empty() {
            packets.push(decode_text(Str::from(packet)).map_err(bad)?);
        }
        rest = body.get(end..).unwrap_or_default();
    }
    Ok(packets)
}

/// Encodes packets as a v3 binary payload (for clients that announced binary support).
pub fn encode_binary_payload<'a>(packets: impl IntoIterator<Item = &'a Packet>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut text = String::new();
    for p in packets {
        let (kind, len) = match p {
            Packet::Message(Message::Binary(b)) => (1, b.len() + 1),
            other => {
                text.clear();
                other.encode_polling(&mut text);
                (0, text.len())
            }
        };
        out.push(kind);
        out.extend(len.to_string().bytes().map(|d| d - b'0'));
        out.push(255);
        match p {
            Packet::Message(Message::Binary(b)) => {
                out.push(4);
                out.extend_from_slice(b);
            }
            _ => out.extend_from_slice(text.as_bytes()),
        }
    }
    out
}

/// Decodes a v3 binary payload (a POST with `Content-Type: application/octet-stream`).
pub fn decode_binary_payload(body: &[u8]) -> Result<Vec<Packet>, PayloadError> {
    let mut packets = Vec::new();
    let mut rest = body;
    while let Some((&kind, tail)) = rest.split_first() {
        let end = tail
            .iter()
            .take(MAX_LENGTH_DIGITS + 1)
            .position(|&b| b == 255)
            .ok_or(PayloadError::Length)?;
        let (digits, tail) = tail.split_at(end);
        let len = parse_length(digits.iter().copied())?;
        let tail = tail.get(1..).unwrap_or_default();
        if tail.len() < len {
            return Err(PayloadError::Length);
        }
        let (packet, tail) = tail.split_at(len);
        let packet = Bytes::copy_from_slice(packet);
        packets.push(if kind == 0 {
            decode_text(Str::from_utf8(packet).map_err(|_| bad(PacketError::Utf8))?).map_err(bad)?
        } else {
            decode_binary(packet).map_err(bad)?
        });
        rest = tail;
    }
    Ok(packets)
}

/// A length from its decimal digits (as numbers `0..=9`).
fn parse_length(digits: impl Iterator<Item = u8>) -> Result<usize, PayloadError> {
    let mut n: usize = 0;
    let mut any = false;
    for d in digits {
        if d > 9 {
            return Err(PayloadError::Length);
        }
        any = true;
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(usize::from(d)))
            .ok_or(PayloadError::Length)?;
    }
    if any { Ok(n) } else { Err(PayloadError::Length) }
}

fn bad(e: PacketError) -> PayloadError {
    PayloadError::Packet(e)
}

/// A v3 long-polling request body, gathered chunk by chunk, decoded at its end.
///
/// The length prefixes need the whole body (a packet may be split anywhere), so it is kept
/// until [`BodyDecoder::finish`]; its size is checked on every chunk, so an oversized body is
/// refused before it is buffered.
#[derive(Debug)]
pub struct BodyDecoder {
    buf: Vec<u8>,
    limit: usize,
    binary: bool,
}

impl BodyDecoder {
    /// A decoder for a text (`binary == false`) or binary payload of at most `limit` bytes.
    pub fn new(limit: usize, binary: bool) -> Self {
        BodyDecoder { buf: Vec::new(), limit, binary }
    }

    /// Feeds the next chunk of the body.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), PayloadError> {
        if self.buf.len().saturating_add(chunk.len()) > self.limit {
            return Err(PayloadError::TooLarge { limit: self.limit });
        }
        self.buf.extend_from_slice(chunk);
        Ok(())
    }

    /// Ends the body and decodes it.
    pub fn finish(self) -> Result<Vec<Packet>, PayloadError> {
        if self.binary {
            decode_binary_payload(&self.buf)
        } else {
            decode_payload(&self.buf, self.limit)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bin(b: &[u8]) -> Packet {
        Packet::binary(b.to_vec())
    }

    #[test]
    fn text_payloads_round_trip() {
        let cases: Vec<(&str, Vec<Packet>)> = vec![
            ("6:4hello2:4€", vec![Packet::text("hello"), Packet::text("€")]),
            // An astral character is two UTF-16 code units.
            ("3:4😀", vec![Packet::text("😀")]),
            ("1:21:3", vec![Packet::Ping, Packet::Pong]),
            ("6:2probe", vec![Packet::PingProbe]),
            ("10:b4AQIDBA==", vec![bin(&[1, 2, 3, 4])]),
            ("1:6", vec![Packet::Noop]),
            ("1:4", vec![Packet::text("")]),
        ];
        for (wire, packets) in cases {
            assert_eq!(encode_payload(&packets), wire);
            assert_eq!(decode_payload(wire.as_bytes(), 1000), Ok(packets), "{wire}");
        }
        assert_eq!(encode_payload(&[]), "0:");
        assert_eq!(decode_payload(b"0:", 10), Ok(vec![]));
        assert_eq!(decode_payload(b"0:1:2", 10), Ok(vec![Packet::Ping]));
    }

    #[test]
    fn refuses_bad_text_payloads() {
        for wire in [
            &b""[..],
            b"4hello",
            b":4",
            b"x:4",
            b"5:4hi",
            b"1:4extra",
            b"1:7",
            b"2:4\xff",
            b"2:b4@@",
            b"99999999999999999999999:4",
            "1:4😀".as_bytes(),
        ] {
            assert!(
                matches!(
                    decode_payload(wire, 1000),
                    Err(PayloadError::Packet(_) | PayloadError::Length)
                ),
                "{wire:?}"
            );
        }
        assert_eq!(decode_payload(b"6:4hello", 5), Err(PayloadError::TooLarge { limit: 5 }));
    }

    #[test]
    fn binary_packets_in_text_and_frames() {
        let mut out = String::new();
        encode_text(&bin(&[1, 2, 3]), &mut out);
        assert_eq!(out, "b4AQID");
        assert_eq!(decode_text(Str::from("b4AQID")), Ok(bin(&[1, 2, 3])));
        assert_eq!(decode_text(Str::from("4hi")), Ok(Packet::text("hi")));
        assert_eq!(decode_text(Str::from("b2")), Ok(Packet::Ping));
        assert_eq!(decode_text(Str::from("b")), Err(PacketError::Empty));
        assert_eq!(decode_text(Str::from("b0e30=")), Err(PacketError::UnknownType('0')));
        assert_eq!(decode_text(Str::from("b4!!")), Err(PacketError::Base64));
        assert_eq!(encode_binary(&[7, 8]), Bytes::from_static(&[4, 7, 8]));
        assert_eq!(decode_binary(Bytes::from_static(&[4, 7, 8])), Ok(bin(&[7, 8])));
        assert_eq!(decode_binary(Bytes::from_static(&[4])), Ok(bin(&[])));
        assert_eq!(decode_binary(Bytes::from_static(&[2])), Ok(Packet::Ping));
        assert_eq!(decode_binary(Bytes::new()), Err(PacketError::Empty));
        assert_eq!(decode_binary(Bytes::from_static(&[9, 1])), Err(PacketError::UnknownType('\t')));
    }

    #[test]
    fn binary_payloads_round_trip() {
        let packets = vec![Packet::text("é"), bin(&[0, 255]), Packet::Pong];
        let wire = encode_binary_payload(&packets);
        assert_eq!(
            wire,
            [0, 3, 255, b'4', 0xc3, 0xa9, 1, 3, 255, 4, 0, 255, 0, 1, 255, b'3'].to_vec()
        );
        assert_eq!(decode_binary_payload(&wire), Ok(packets));
        let long = vec![bin(&[7; 12])];
        let wire = encode_binary_payload(&long);
        assert_eq!(wire.get(..4), Some(&[1, 1, 3, 255][..]));
        assert_eq!(decode_binary_payload(&wire), Ok(long));
        assert_eq!(decode_binary_payload(&[]), Ok(vec![]));
    }

    #[test]
    fn refuses_bad_binary_payloads() {
        for wire in [
            &[0u8][..],
            &[0, 3],
            &[0, 3, 255, b'4'],
            &[0, 12, 255, b'4'],
            &[0, 1, 255, 0xff],
            &[1, 1, 255, 9],
            &[0, 255, b'4'],
            &[0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 255],
        ] {
            assert!(
                matches!(
                    decode_binary_payload(wire),
                    Err(PayloadError::Packet(_) | PayloadError::Length)
                ),
                "{wire:?}"
            );
        }
    }

    #[test]
    fn body_decoder_checks_the_size_on_every_chunk() {
        let mut d = BodyDecoder::new(8, false);
        assert_eq!(d.feed(b"6:4he"), Ok(()));
        assert_eq!(d.feed(b"llo"), Ok(()));
        assert_eq!(d.finish(), Ok(vec![Packet::text("hello")]));
        let mut d = BodyDecoder::new(8, false);
        assert_eq!(d.feed(b"6:4hello"), Ok(()));
        assert_eq!(d.feed(b"x"), Err(PayloadError::TooLarge { limit: 8 }));
        let mut d = BodyDecoder::new(100, true);
        assert_eq!(d.feed(&[1, 2, 255, 4]), Ok(()));
        assert_eq!(d.feed(&[5]), Ok(()));
        assert_eq!(d.finish(), Ok(vec![bin(&[5])]));
    }
}
