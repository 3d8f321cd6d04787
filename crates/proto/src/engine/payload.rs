//! The HTTP long-polling payload: packets joined by the record separator `\x1e`.
//!
//! ```
//! use switchboard_proto::engine::{payload, Packet};
//!
//! let body = payload::encode(&[Packet::text("hello"), Packet::binary(vec![1u8, 2, 3, 4])]);
//! assert_eq!(body, "4hello\x1ebAQIDBA==");
//!
//! let mut decoder = payload::Decoder::new(1_000_000);
//! decoder.feed(body.as_bytes())?;
//! let packets = decoder.finish()?;
//! assert_eq!(packets.len(), 2);
//! # Ok::<(), payload::PayloadError>(())
//! ```

use bytes::{Bytes, BytesMut};

use super::{Packet, PacketError, SEPARATOR};
use crate::Str;

/// Why a long-polling body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// The body is larger than the configured maximum.
    #[error("payload larger than {limit} bytes")]
    TooLarge {
        /// The maximum, in bytes.
        limit: usize,
    },
    /// One of the packets is malformed.
    #[error("invalid packet in payload")]
    Packet(#[source] PacketError),
    /// A length prefix of an Engine.IO v3 payload is malformed or does not match its packet.
    #[error("invalid length prefix in payload")]
    Length,
}

/// Encodes packets as one long-polling body.
pub fn encode<'a>(packets: impl IntoIterator<Item = &'a Packet>) -> String {
    let mut out = String::new();
    for (i, p) in packets.into_iter().enumerate() {
        if i > 0 {
            out.push(char::from(SEPARATOR));
        }
        p.encode_polling(&mut out);
    }
    out
}

/// An incremental decoder for a long-polling request body.
///
/// Chunks are fed as they arrive from the network; complete packets are decoded as soon as
/// their separator is seen, and the total size is checked on every chunk, so an oversized body
/// is refused before it is buffered.
#[derive(Debug)]
pub struct Decoder {
    buf: BytesMut,
    seen: usize,
    limit: usize,
    packets: Vec<Packet>,
}

impl Decoder {
    /// A decoder that refuses bodies of more than `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Decoder { buf: BytesMut::new(), seen: 0, limit, packets: Vec::new() }
    }

    /// Feeds the next chunk of the body.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), PayloadError> {
        self.seen = self.seen.saturating_add(chunk.len());
        if self.seen > self.limit {
            return Err(PayloadError::TooLarge { limit: self.limit });
        }
        let mut rest = chunk;
        while let Some(pos) = rest.iter().position(|&b| b == SEPARATOR) {
            self.buf.extend_from_slice(&rest[..pos]);
            let segment = self.buf.split().freeze();
            self.packets.push(decode_segment(segment)?);
            rest = &rest[pos + 1..];
        }
        self.buf.extend_from_slice(rest);
        Ok(())
    }

    /// Takes the packets decoded so far.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Packet> {
        self.packets.drain(..)
    }

    /// Ends the body and returns every packet not yet drained, including the last one.
    pub fn finish(mut self) -> Result<Vec<Packet>, PayloadError> {
        let last = self.buf.split().freeze();
        self.packets.push(decode_segment(last)?);
        Ok(self.packets)
    }
}

fn decode_segment(segment: Bytes) -> Result<Packet, PayloadError> {
    let s = Str::from_utf8(segment).map_err(|_| PayloadError::Packet(PacketError::Utf8))?;
    Packet::decode_polling(s).map_err(PayloadError::Packet)
}

/// Decodes a whole long-polling body at once.
pub fn decode(body: &[u8], limit: usize) -> Result<Vec<Packet>, PayloadError> {
    let mut d = Decoder::new(limit);
    d.feed(body)?;
    d.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples_round_trip() {
        let cases: Vec<(&str, Vec<Packet>)> = vec![
            (
                "4hello\x1e2\x1e4world",
                vec![Packet::text("hello"), Packet::Ping, Packet::text("world")],
            ),
            (
                "4hello\x1ebAQIDBA==",
                vec![Packet::text("hello"), Packet::binary(vec![1u8, 2, 3, 4])],
            ),
            (
                "4test1\x1e4test2\x1e4test3",
                vec![Packet::text("test1"), Packet::text("test2"), Packet::text("test3")],
            ),
            ("6", vec![Packet::Noop]),
            ("4", vec![Packet::text("")]),
        ];
        for (wire, packets) in cases {
            assert_eq!(decode(wire.as_bytes(), 1000).as_ref(), Ok(&packets), "{wire:?}");
            assert_eq!(encode(&packets), wire);
        }
    }

    #[test]
    fn decodes_across_chunk_boundaries() {
        let body = "4hé\x1e4wo\x1ebAQIDBA==".as_bytes();
        for split in 0..body.len() {
            let mut d = Decoder::new(1000);
            assert_eq!(d.feed(&body[..split]), Ok(()));
            assert_eq!(d.feed(&body[split..]), Ok(()));
            let got = d.finish();
            assert_eq!(
                got,
                Ok(vec![
                    Packet::text("hé"),
                    Packet::text("wo"),
                    Packet::binary(vec![1u8, 2, 3, 4])
                ]),
                "split at {split}"
            );
        }
    }

    #[test]
    fn refuses_oversized_bodies_while_feeding() {
        let mut d = Decoder::new(8);
        assert_eq!(d.feed(b"4abc"), Ok(()));
        assert_eq!(d.feed(b"4defg"), Err(PayloadError::TooLarge { limit: 8 }));
    }

    #[test]
    fn rejects_invalid_payloads() {
        assert!(matches!(
            decode(b"abc", 100),
            Err(PayloadError::Packet(PacketError::UnknownType('a')))
        ));
        assert!(matches!(decode(b"", 100), Err(PayloadError::Packet(PacketError::Empty))));
        assert!(matches!(decode(b"4a\x1e", 100), Err(PayloadError::Packet(PacketError::Empty))));
        assert!(matches!(decode(b"b@@", 100), Err(PayloadError::Packet(PacketError::Base64))));
        assert!(matches!(decode(b"4\xff", 100), Err(PayloadError::Packet(PacketError::Utf8))));
    }
}
