//! The Socket.IO packet format the generator speaks (`--parser json|msgpack`): JSON text, the
//! default, or msgpack as the npm `socket.io-msgpack-parser` writes it (one binary message per
//! packet, the map `{type, data, nsp, id}`). Only the scenarios' fixed packets are written, and
//! only what the scenarios look for is read, without a general decoder.

use std::io::Write as _;

use crate::packet::Incoming;
use crate::ws;

/// The packet format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Wire {
    /// `socket.io-parser`: text.
    #[default]
    Json,
    /// `socket.io-msgpack-parser`: binary.
    Msgpack,
}

impl Wire {
    /// The name on the command line.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Wire::Json => "json",
            Wire::Msgpack => "msgpack",
        }
    }

    /// The WebSocket opcode of a Socket.IO packet.
    #[must_use]
    pub fn opcode(self) -> u8 {
        match self {
            Wire::Json => ws::OP_TEXT,
            Wire::Msgpack => ws::OP_BINARY,
        }
    }

    /// The `CONNECT` of the main namespace.
    pub fn write_connect(self, out: &mut Vec<u8>) {
        match self {
            Wire::Json => out.extend_from_slice(b"40"),
            // {type: 0, nsp: "/"}
            Wire::Msgpack => {
                out.push(0x82);
                key(out, "type");
                uint(out, 0);
                nsp(out);
            }
        }
    }

    /// The event `bc` with `seq`: the server emits `m` with `seq` to `room1`.
    pub fn write_bc(self, out: &mut Vec<u8>, seq: u64) {
        match self {
            // Writing into a Vec cannot fail.
            Wire::Json => {
                let _ = write!(out, "42[\"bc\",{seq}]");
            }
            Wire::Msgpack => event(out, "bc", seq, None),
        }
    }

    /// The event `echo` with `id`, asking for an ack with id `id`.
    pub fn write_echo(self, out: &mut Vec<u8>, id: u64) {
        match self {
            Wire::Json => {
                let _ = write!(out, "42{id}[\"echo\",{id}]");
            }
            Wire::Msgpack => event(out, "echo", id, Some(id)),
        }
    }
}

/// `{type: 2, data: [name, arg], nsp: "/", id}`.
fn event(out: &mut Vec<u8>, name: &str, arg: u64, id: Option<u64>) {
    out.push(if id.is_some() { 0x84 } else { 0x83 });
    key(out, "type");
    uint(out, 2);
    key(out, "data");
    out.push(0x92);
    key(out, name);
    uint(out, arg);
    nsp(out);
    if let Some(id) = id {
        key(out, "id");
        uint(out, id);
    }
}

fn nsp(out: &mut Vec<u8>) {
    key(out, "nsp");
    key(out, "/");
}

/// A string shorter than 32 bytes (a fixstr).
fn key(out: &mut Vec<u8>, s: &str) {
    debug_assert!(s.len() < 32);
    out.push(0xa0 | (s.len() as u8 & 0x1f));
    out.extend_from_slice(s.as_bytes());
}

/// An unsigned integer in its shortest form.
fn uint(out: &mut Vec<u8>, n: u64) {
    match n {
        0..0x80 => out.push(n as u8),
        0x80..0x100 => out.extend_from_slice(&[0xcc, n as u8]),
        0x100..0x1_0000 => {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        0x1_0000..0x1_0000_0000 => {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
        _ => {
            out.push(0xcf);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
}

/// What a binary (msgpack) Socket.IO packet means to the load generator: `CONNECT`,
/// `CONNECT_ERROR`, the broadcast `m` with its sequence number or the ack of a request.
#[must_use]
pub fn classify_msgpack(p: &[u8]) -> Incoming {
    classify_map(&mut Cursor { b: p, pos: 0 }).unwrap_or(Incoming::Other)
}

fn classify_map(c: &mut Cursor<'_>) -> Option<Incoming> {
    let entries = c.map_len()?;
    let (mut ty, mut id, mut seq) = (None, None, None);
    for _ in 0..entries {
        match c.str()? {
            b"type" => ty = Some(c.uint()?),
            b"id" => id = Some(c.uint()?),
            b"data" => seq = c.m_event()?,
            _ => c.skip()?,
        }
    }
    Some(match (ty?, id, seq) {
        (0, _, _) => Incoming::Connected,
        (4, _, _) => Incoming::ConnectError,
        (2, _, Some(seq)) => Incoming::Broadcast(seq),
        (3, Some(id), _) => Incoming::Ack(id),
        _ => Incoming::Other,
    })
}

/// A read position in one message.
struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.b.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn be(&mut self, n: usize) -> Option<u64> {
        let bytes = self.b.get(self.pos..self.pos + n)?;
        self.pos += n;
        Some(bytes.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b)))
    }

    fn map_len(&mut self) -> Option<u64> {
        match self.byte()? {
            m @ 0x80..=0x8f => Some(u64::from(m & 0x0f)),
            0xde => self.be(2),
            0xdf => self.be(4),
            _ => None,
        }
    }

    fn array_len(&mut self) -> Option<u64> {
        match self.byte()? {
            m @ 0x90..=0x9f => Some(u64::from(m & 0x0f)),
            0xdc => self.be(2),
            0xdd => self.be(4),
            _ => None,
        }
    }

    fn str(&mut self) -> Option<&[u8]> {
        let len = match self.byte()? {
            m @ 0xa0..=0xbf => usize::from(m & 0x1f),
            0xd9 => usize::try_from(self.be(1)?).ok()?,
            0xda => usize::try_from(self.be(2)?).ok()?,
            0xdb => usize::try_from(self.be(4)?).ok()?,
            _ => return None,
        };
        let s = self.b.get(self.pos..self.pos + len)?;
        self.pos += len;
        Some(s)
    }

    fn uint(&mut self) -> Option<u64> {
        match self.byte()? {
            n @ 0x00..=0x7f => Some(u64::from(n)),
            0xcc => self.be(1),
            0xcd => self.be(2),
            0xce => self.be(4),
            0xcf => self.be(8),
            _ => None,
        }
    }

    /// `data` of an event: `Some(Some(seq))` for `["m", seq]` (or `["m", [seq]]`, from servers
    /// that pass the argument list on as one value), `Some(None)` for anything else.
    fn m_event(&mut self) -> Option<Option<u64>> {
        if !matches!(self.peek()?, 0x90..=0x9f | 0xdc | 0xdd) {
            self.skip()?;
            return Some(None);
        }
        let len = self.array_len()?;
        let mut seq = None;
        let mut rest = len;
        if len >= 2 && matches!(self.peek()?, 0xa0..=0xbf) {
            rest -= 1;
            if self.str()? == b"m" {
                rest -= 1;
                seq = Some(if matches!(self.peek()?, 0x91) {
                    self.byte()?;
                    self.uint()?
                } else {
                    self.uint()?
                });
            }
        }
        for _ in 0..rest {
            self.skip()?;
        }
        Some(seq)
    }

    /// Skips one value (nested ones without recursion).
    fn skip(&mut self) -> Option<()> {
        let mut values: u64 = 1;
        while values > 0 {
            values -= 1;
            let m = self.byte()?;
            let (bytes, more) = match m {
                0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0),
                0x80..=0x8f => (0, 2 * u64::from(m & 0x0f)),
                0x90..=0x9f => (0, u64::from(m & 0x0f)),
                0xa0..=0xbf => (u64::from(m & 0x1f), 0),
                0xcc | 0xd0 => (1, 0),
                0xcd | 0xd1 => (2, 0),
                0xce | 0xd2 | 0xca => (4, 0),
                0xcf | 0xd3 | 0xcb => (8, 0),
                0xd4 => (2, 0),
                0xd5 => (3, 0),
                0xd6 => (5, 0),
                0xd7 => (9, 0),
                0xd8 => (17, 0),
                0xc4 | 0xd9 => (self.be(1)?, 0),
                0xc5 | 0xda => (self.be(2)?, 0),
                0xc6 | 0xdb => (self.be(4)?, 0),
                0xc7 => (self.be(1)? + 1, 0),
                0xc8 => (self.be(2)? + 1, 0),
                0xc9 => (self.be(4)? + 1, 0),
                0xdc => (0, self.be(2)?),
                0xdd => (0, self.be(4)?),
                0xde => (0, 2 * self.be(2)?),
                0xdf => (0, 2 * self.be(4)?),
                _ => return None,
            };
            let end = self.pos.checked_add(usize::try_from(bytes).ok()?)?;
            if end > self.b.len() {
                return None;
            }
            self.pos = end;
            // Each value takes a byte at least: more than the bytes left is malformed.
            values = values.checked_add(more)?;
            if values > (self.b.len() - self.pos) as u64 {
                return None;
            }
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn writes_what_the_npm_parser_writes() {
        // Bytes of socket.io-msgpack-parser's encoder for the same objects.
        let mut out = Vec::new();
        Wire::Msgpack.write_connect(&mut out);
        assert_eq!(out, hex("82a47479706500a36e7370a12f"));
        out.clear();
        Wire::Msgpack.write_bc(&mut out, 300);
        assert_eq!(out, hex("83a47479706502a46461746192a26263cd012ca36e7370a12f"));
        out.clear();
        Wire::Msgpack.write_echo(&mut out, 7);
        assert_eq!(out, hex("84a47479706502a46461746192a46563686f07a36e7370a12fa2696407"));
        out.clear();
        Wire::Json.write_echo(&mut out, 7);
        assert_eq!(out, br#"427["echo",7]"#);
    }

    #[test]
    fn classifies_server_packets_in_any_key_order() {
        for (wire, expected) in [
            // Node's CONNECT answer {type, data: {sid}, nsp}.
            ("83a47479706500a46461746181a3736964a378797aa36e7370a12f", Incoming::Connected),
            // {type: 2, data: ["m", 70000], nsp}.
            ("83a47479706502a46461746192a16dce00011170a36e7370a12f", Incoming::Broadcast(70000)),
            // {type: 2, data: ["m", [5]], nsp}.
            ("83a47479706502a46461746192a16d9105a36e7370a12f", Incoming::Broadcast(5)),
            // Node's ack {id, type, data, nsp}.
            ("84a269640ca47479706503a46461746191a26f6ba36e7370a12f", Incoming::Ack(12)),
            // CONNECT_ERROR {type: 4, data: {message}, nsp}.
            (
                "83a47479706504a46461746181a76d657373616765a46e6f7065a36e7370a12f",
                Incoming::ConnectError,
            ),
            // Another event; an ack without id; truncated; not a map.
            ("83a47479706502a46461746192a16ec0a36e7370a12f", Incoming::Other),
            ("83a47479706503a46461746190a36e7370a12f", Incoming::Other),
            ("83a474797065", Incoming::Other),
            ("92a16d01", Incoming::Other),
            // An announced array far past the message.
            ("83a47479706502a464617461ddffffffff", Incoming::Other),
        ] {
            assert_eq!(classify_msgpack(&hex(wire)), expected, "{wire}");
        }
        let mut out = Vec::new();
        Wire::Msgpack.write_echo(&mut out, 1 << 40);
        // Our own event is not mistaken for anything the scenarios wait for.
        assert_eq!(classify_msgpack(&out), Incoming::Other);
    }
}
