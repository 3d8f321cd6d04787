//! WebSocket framing (RFC 6455), server side, without I/O: [`Decoder`] turns the bytes a client
//! sent into whole messages (masked frames, fragments joined, control frames checked) and
//! [`encode`] frames what the server sends (unmasked, never fragmented).
//!
//! The reserved bits must be clear, except RSV1 on the first frame of a message when the
//! connection negotiated permessage-deflate (RFC 7692): [`Decoder::decode_deflate`] accepts
//! it and says which messages are compressed, and [`encode_compressed`] sets it.
//!
//! ```
//! use switchboard_proto::engine::websocket::{Decoder, Frame, Opcode, encode};
//!
//! let mut out = Vec::new();
//! encode(&mut out, Opcode::Text, b"4hi");
//! assert_eq!(out, b"\x81\x034hi");
//!
//! // A client's masked text frame "4hi" (mask 1 2 3 4).
//! let wire = [0x81, 0x83, 1, 2, 3, 4, b'4' ^ 1, b'h' ^ 2, b'i' ^ 3];
//! let mut decoder = Decoder::default();
//! let (used, frame) = decoder.decode(&wire, 1024).unwrap();
//! assert_eq!(used, wire.len());
//! assert_eq!(frame, Some(Frame::Text(bytes::Bytes::from_static(b"4hi"))));
//! // Half a frame: nothing yet.
//! assert_eq!(decoder.decode(&wire[..4], 1024).unwrap(), (0, None));
//! ```

use bytes::Bytes;

/// A frame's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Opcode {
    /// More of a fragmented message.
    Continuation,
    /// A text (UTF-8) message.
    Text,
    /// A binary message.
    Binary,
    /// The closing handshake.
    Close,
    /// A ping; the peer answers with a pong carrying the same payload.
    Ping,
    /// A pong.
    Pong,
}

impl Opcode {
    fn from_bits(bits: u8) -> Option<Self> {
        Some(match bits {
            0 => Opcode::Continuation,
            1 => Opcode::Text,
            2 => Opcode::Binary,
            8 => Opcode::Close,
            9 => Opcode::Ping,
            10 => Opcode::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0,
            Opcode::Text => 1,
            Opcode::Binary => 2,
            Opcode::Close => 8,
            Opcode::Ping => 9,
            Opcode::Pong => 10,
        }
    }

    fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// A whole message or control frame from the client, unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A text message (not yet checked to be UTF-8).
    Text(Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping and its payload.
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// A close frame and its payload (empty, or a status code and a reason).
    Close(Bytes),
}

/// Why the client's bytes are not acceptable WebSocket frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A reserved bit is set (no extension was negotiated).
    #[error("reserved bits set")]
    Reserved,
    /// A reserved opcode.
    #[error("unknown opcode {0}")]
    Opcode(u8),
    /// A client frame without a mask.
    #[error("unmasked frame from a client")]
    Unmasked,
    /// A control frame that is fragmented or longer than 125 bytes, or a one-byte close frame.
    #[error("invalid control frame")]
    Control,
    /// A continuation frame with no message to continue, or a new message inside a fragmented one.
    #[error("unexpected fragment")]
    Fragment,
    /// A message longer than the limit.
    #[error("message too long")]
    TooLong,
    /// A close frame whose status code may not be sent on the wire (RFC 6455 §7.4): below
    /// 1000, 1004 to 1006, 1015, or unassigned outside 3000-4999.
    #[error("invalid close code {0}")]
    CloseCode(u16),
    /// Text that is not UTF-8: a text message or a close frame's reason.
    #[error("invalid utf-8")]
    Utf8,
    /// A compressed message (permessage-deflate) whose payload is not valid DEFLATE data.
    #[error("invalid compressed data")]
    Compressed,
}

/// The close status codes the server sends (RFC 6455 §7.4.1).
pub mod close_code {
    /// The purpose of the connection is fulfilled.
    pub const NORMAL: u16 = 1000;
    /// The peer broke the protocol.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// Text that is not UTF-8 (or data that does not fit its type).
    pub const INVALID_DATA: u16 = 1007;
    /// A message too big to handle.
    pub const TOO_BIG: u16 = 1009;

    /// Whether a peer may send `code` in a close frame: the codes RFC 6455 defines for the
    /// wire (1000-1003, 1007-1011), the ones registered with IANA since (1012-1014), and the
    /// ranges for libraries and applications (3000-4999). 1004 to 1006 and 1015 are reserved
    /// for reports that never travel in a frame.
    pub fn is_valid(code: u16) -> bool {
        matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl FrameError {
    /// The status code of the close frame that fails the connection for this error:
    /// [`close_code::TOO_BIG`] for a message over the limit (on the wire or once inflated),
    /// [`close_code::INVALID_DATA`] for text that is not UTF-8 or compressed data that does not
    /// inflate, [`close_code::PROTOCOL_ERROR`] for everything else.
    ///
    /// ```
    /// use switchboard_proto::engine::websocket::{FrameError, close_code};
    ///
    /// assert_eq!(FrameError::TooLong.close_code(), close_code::TOO_BIG);
    /// assert_eq!(FrameError::Utf8.close_code(), close_code::INVALID_DATA);
    /// assert_eq!(FrameError::Unmasked.close_code(), close_code::PROTOCOL_ERROR);
    /// ```
    pub fn close_code(self) -> u16 {
        match self {
            FrameError::TooLong => close_code::TOO_BIG,
            FrameError::Utf8 | FrameError::Compressed => close_code::INVALID_DATA,
            _ => close_code::PROTOCOL_ERROR,
        }
    }
}

/// Checks a close frame's payload: empty, or a status code a peer may send followed by a
/// UTF-8 reason.
fn check_close(payload: &[u8]) -> Result<(), FrameError> {
    match payload {
        [] => Ok(()),
        [_] => Err(FrameError::Control),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !close_code::is_valid(code) {
                return Err(FrameError::CloseCode(code));
            }
            std::str::from_utf8(reason).map(|_| ()).map_err(|_| FrameError::Utf8)
        }
    }
}

/// Joins the frames of a client connection into messages.
///
/// It holds only the fragments of a message under way (nothing, for most connections); the
/// size limit is an argument of [`Decoder::decode`], so that it is not stored per connection.
#[derive(Debug, Default)]
pub struct Decoder {
    /// The fragments of a message read so far; boxed, as almost no message is fragmented.
    fragment: Option<Box<Fragment>>,
}

#[derive(Debug)]
struct Fragment {
    text: bool,
    /// The first frame had RSV1 set: the message is compressed (permessage-deflate).
    compressed: bool,
    data: Vec<u8>,
}

/// A parsed frame header: opcode, fin bit, mask, payload length and header length.
struct Head {
    fin: bool,
    rsv1: bool,
    opcode: Opcode,
    mask: [u8; 4],
    len: usize,
    size: usize,
}

impl Decoder {
    /// Decodes the first frame of `buf`, accepting messages of up to `max` bytes. Returns how
    /// many bytes it used and the message or control frame it completed: `(0, None)` if `buf`
    /// does not hold a whole frame yet, and `(n, None)` for a fragment of a message that goes
    /// on.
    ///
    /// An error is final: the connection must be closed.
    pub fn decode(&mut self, buf: &[u8], max: usize) -> Result<(usize, Option<Frame>), FrameError> {
        let (used, frame) = self.decode_frame(buf, max, false)?;
        Ok((used, frame.map(|(frame, _)| frame)))
    }

    /// [`Decoder::decode`] for a connection that negotiated permessage-deflate (RFC 7692):
    /// RSV1 may be set on the first frame of a message (on no other frame), and each message
    /// comes with whether it was, that is whether its payload is compressed. `max` bounds the
    /// bytes on the wire; inflating is the caller's, with its own limit.
    ///
    /// ```
    /// use switchboard_proto::engine::websocket::{Decoder, Frame, FrameError};
    ///
    /// // A compressed text frame (RSV1, mask 0): "hi" deflated.
    /// let wire = [0xc1, 0x84, 0, 0, 0, 0, 0xca, 0xc8, 0x04, 0x00];
    /// let (used, frame) = Decoder::default().decode_deflate(&wire, 1024).unwrap();
    /// assert_eq!(used, wire.len());
    /// let payload = bytes::Bytes::copy_from_slice(&wire[6..]);
    /// assert_eq!(frame, Some((Frame::Text(payload), true)));
    /// // Without the extension, RSV1 is refused.
    /// assert_eq!(Decoder::default().decode(&wire, 1024), Err(FrameError::Reserved));
    /// ```
    pub fn decode_deflate(
        &mut self,
        buf: &[u8],
        max: usize,
    ) -> Result<(usize, Option<(Frame, bool)>), FrameError> {
        self.decode_frame(buf, max, true)
    }

    fn decode_frame(
        &mut self,
        buf: &[u8],
        max: usize,
        deflate: bool,
    ) -> Result<(usize, Option<(Frame, bool)>), FrameError> {
        let Some(head) = head(buf, max, deflate)? else { return Ok((0, None)) };
        let end = head.size + head.len;
        let Some(payload) = buf.get(head.size..end) else { return Ok((0, None)) };
        let data = unmask(payload, head.mask);
        let frame = match head.opcode {
            Opcode::Close => {
                check_close(&data)?;
                Some((Frame::Close(data.into()), false))
            }
            Opcode::Ping => Some((Frame::Ping(data.into()), false)),
            Opcode::Pong => Some((Frame::Pong(data.into()), false)),
            Opcode::Text | Opcode::Binary => {
                if self.fragment.is_some() {
                    return Err(FrameError::Fragment);
                }
                let text = head.opcode == Opcode::Text;
                let compressed = head.rsv1;
                if head.fin {
                    let frame =
                        if text { Frame::Text(data.into()) } else { Frame::Binary(data.into()) };
                    Some((frame, compressed))
                } else {
                    self.fragment = Some(Box::new(Fragment { text, compressed, data }));
                    None
                }
            }
            Opcode::Continuation => {
                let fragment = self.fragment.as_mut().ok_or(FrameError::Fragment)?;
                if fragment.data.len().saturating_add(data.len()) > max {
                    return Err(FrameError::TooLong);
                }
                fragment.data.extend_from_slice(&data);
                match (head.fin, self.fragment.take()) {
                    (true, Some(f)) if f.text => Some((Frame::Text(f.data.into()), f.compressed)),
                    (true, Some(f)) => Some((Frame::Binary(f.data.into()), f.compressed)),
                    (_, f) => {
                        self.fragment = f;
                        None
                    }
                }
            }
        };
        Ok((end, frame))
    }
}

/// The header at the start of `buf`, once it is all there; checks it as soon as it is. With
/// `deflate`, RSV1 may be set on the first frame of a data message.
fn head(buf: &[u8], max: usize, deflate: bool) -> Result<Option<Head>, FrameError> {
    let (Some(&b0), Some(&b1)) = (buf.first(), buf.get(1)) else { return Ok(None) };
    let rsv1 = b0 & 0x40 != 0;
    if b0 & 0x30 != 0 || (rsv1 && !deflate) {
        return Err(FrameError::Reserved);
    }
    let opcode = Opcode::from_bits(b0 & 0x0f).ok_or(FrameError::Opcode(b0 & 0x0f))?;
    if rsv1 && !matches!(opcode, Opcode::Text | Opcode::Binary) {
        // RFC 7692 §6.1: only the first frame of a message carries the bit.
        return Err(FrameError::Reserved);
    }
    let fin = b0 & 0x80 != 0;
    if b1 & 0x80 == 0 {
        return Err(FrameError::Unmasked);
    }
    let (len, at) = match b1 & 0x7f {
        126 => match buf.get(2..4).and_then(|b| <[u8; 2]>::try_from(b).ok()) {
            Some(b) => (u64::from(u16::from_be_bytes(b)), 4),
            None => return Ok(None),
        },
        127 => match buf.get(2..10).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
            Some(b) => (u64::from_be_bytes(b), 10),
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    if opcode.is_control() && (!fin || len > 125) {
        return Err(FrameError::Control);
    }
    let len = usize::try_from(len).map_err(|_| FrameError::TooLong)?;
    if len > max {
        return Err(FrameError::TooLong);
    }
    let Some(mask) = buf.get(at..at + 4).and_then(|m| <[u8; 4]>::try_from(m).ok()) else {
        return Ok(None);
    };
    Ok(Some(Head { fin, rsv1, opcode, mask, len, size: at + 4 }))
}

/// A copy of `payload` with the client's mask removed.
fn unmask(payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut data = payload.to_vec();
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    // The tail starts at a multiple of 8, so the mask lines up from its first byte.
    for (b, m) in chunks.into_remainder().iter_mut().zip(mask.iter().cycle()) {
        *b ^= m;
    }
    data
}

/// Appends one unmasked, final frame carrying `payload` to `out`.
#[inline]
pub fn encode(out: &mut Vec<u8>, opcode: Opcode, payload: &[u8]) {
    encode_first_byte(out, 0x80 | opcode.bits(), payload);
}

/// Appends one unmasked, final frame with RSV1 set (a permessage-deflate message, RFC 7692)
/// carrying `payload`, already compressed, to `out`.
///
/// ```
/// use switchboard_proto::engine::websocket::{Opcode, encode_compressed};
///
/// let mut out = Vec::new();
/// encode_compressed(&mut out, Opcode::Text, &[0xca, 0xc8, 0x04, 0x00]);
/// assert_eq!(out, [0xc1, 4, 0xca, 0xc8, 0x04, 0x00]);
/// ```
pub fn encode_compressed(out: &mut Vec<u8>, opcode: Opcode, payload: &[u8]) {
    encode_first_byte(out, 0xc0 | opcode.bits(), payload);
}

#[inline]
fn encode_first_byte(out: &mut Vec<u8>, b0: u8, payload: &[u8]) {
    let len = payload.len();
    // The header in one copy of a fixed size (no per-byte capacity checks): a broadcast
    // frames the same small message for every recipient.
    if len < 126 {
        out.extend_from_slice(&[b0, len as u8]);
    } else if let Ok(short) = u16::try_from(len) {
        let [hi, lo] = short.to_be_bytes();
        out.extend_from_slice(&[b0, 126, hi, lo]);
    } else {
        out.reserve(len.saturating_add(10));
        out.extend_from_slice(&[b0, 127]);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame: masked with `mask`.
    fn client(b0: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut out = vec![b0];
        let len = payload.len();
        if len < 126 {
            out.push(0x80 | len as u8);
        } else if len <= 0xffff {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
        out
    }

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    #[test]
    fn decodes_every_length_encoding_and_every_prefix_waits() {
        for len in [0, 1, 7, 8, 9, 125, 126, 127, 65535, 65536, 70000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let wire = client(0x82, &payload, MASK);
            let mut d = Decoder::default();
            let max = 1 << 20;
            for cut in [0, 1, 2, 3, 5, 9, wire.len() - 1] {
                if cut < wire.len() {
                    assert_eq!(
                        d.decode(&wire[..cut], max).unwrap(),
                        (0, None),
                        "len {len} cut {cut}"
                    );
                }
            }
            let (used, frame) = d.decode(&wire, max).unwrap();
            assert_eq!(used, wire.len());
            assert_eq!(frame, Some(Frame::Binary(payload.into())));
        }
    }

    #[test]
    fn two_frames_in_one_buffer_decode_one_at_a_time() {
        let mut wire = client(0x81, b"4a", MASK);
        wire.extend(client(0x89, b"p", MASK));
        let mut d = Decoder::default();
        let max = 100;
        let (used, frame) = d.decode(&wire, max).unwrap();
        assert_eq!(frame, Some(Frame::Text(Bytes::from_static(b"4a"))));
        let (rest, frame) = d.decode(&wire[used..], max).unwrap();
        assert_eq!(used + rest, wire.len());
        assert_eq!(frame, Some(Frame::Ping(Bytes::from_static(b"p"))));
    }

    #[test]
    fn joins_fragments_around_control_frames() {
        let mut d = Decoder::default();
        let max = 100;
        let first = client(0x01, b"4he", MASK);
        assert_eq!(d.decode(&first, max).unwrap(), (first.len(), None));
        let ping = client(0x89, b"", MASK);
        assert_eq!(d.decode(&ping, max).unwrap().1, Some(Frame::Ping(Bytes::new())));
        let middle = client(0x00, b"ll", MASK);
        assert_eq!(d.decode(&middle, max).unwrap(), (middle.len(), None));
        let last = client(0x80, b"o", MASK);
        assert_eq!(
            d.decode(&last, max).unwrap().1,
            Some(Frame::Text(Bytes::from_static(b"4hello")))
        );
        // A new message may start now.
        let next = client(0x82, b"x", MASK);
        assert_eq!(d.decode(&next, max).unwrap().1, Some(Frame::Binary(Bytes::from_static(b"x"))));
    }

    #[test]
    fn refuses_what_the_rfc_forbids() {
        let mut d = Decoder::default();
        let max = 10;
        assert_eq!(d.decode(&client(0xc1, b"x", MASK), max), Err(FrameError::Reserved));
        assert_eq!(d.decode(&client(0x83, b"x", MASK), max), Err(FrameError::Opcode(3)));
        assert_eq!(d.decode(&[0x81, 0x01, b'x'], max), Err(FrameError::Unmasked));
        assert_eq!(d.decode(&client(0x09, b"x", MASK), max), Err(FrameError::Control));
        assert_eq!(d.decode(&client(0x88, b"x", MASK), max), Err(FrameError::Control));
        assert_eq!(d.decode(&client(0x80, b"x", MASK), max), Err(FrameError::Fragment));
        // Too long is known from the header alone.
        assert_eq!(d.decode(&client(0x82, &[0; 11], MASK)[..2], max), Err(FrameError::TooLong));
        let mut d = Decoder::default();
        let max = 10;
        d.decode(&client(0x02, &[0; 6], MASK), max).unwrap();
        assert_eq!(d.decode(&client(0x81, b"x", MASK), max), Err(FrameError::Fragment));
        assert_eq!(d.decode(&client(0x80, &[0; 6], MASK), max), Err(FrameError::TooLong));
    }

    #[test]
    fn deflate_allows_rsv1_on_the_first_frame_of_a_message_only() {
        let max = 100;
        // Whole compressed and plain messages say which they are.
        let mut d = Decoder::default();
        let (_, frame) = d.decode_deflate(&client(0xc1, b"z", MASK), max).unwrap();
        assert_eq!(frame, Some((Frame::Text(Bytes::from_static(b"z")), true)));
        let (_, frame) = d.decode_deflate(&client(0x82, b"y", MASK), max).unwrap();
        assert_eq!(frame, Some((Frame::Binary(Bytes::from_static(b"y")), false)));
        // A fragmented compressed message: the bit on its first frame marks all of it.
        assert_eq!(d.decode_deflate(&client(0x42, b"ab", MASK), max).unwrap().1, None);
        let (_, frame) = d.decode_deflate(&client(0x80, b"c", MASK), max).unwrap();
        assert_eq!(frame, Some((Frame::Binary(Bytes::from_static(b"abc")), true)));
        // Not on a continuation frame, nor on a control frame.
        assert_eq!(d.decode_deflate(&client(0x02, b"a", MASK), max).unwrap().1, None);
        assert_eq!(d.decode_deflate(&client(0xc0, b"b", MASK), max), Err(FrameError::Reserved));
        let mut d = Decoder::default();
        assert_eq!(d.decode_deflate(&client(0xc9, b"", MASK), max), Err(FrameError::Reserved));
        // RSV2 and RSV3 stay reserved.
        assert_eq!(d.decode_deflate(&client(0xa1, b"x", MASK), max), Err(FrameError::Reserved));
        assert_eq!(d.decode_deflate(&client(0x91, b"x", MASK), max), Err(FrameError::Reserved));
        // The wire limit holds for compressed bytes too.
        assert_eq!(d.decode_deflate(&client(0xc1, &[0; 101], MASK), max), Err(FrameError::TooLong));
        assert_eq!(FrameError::Compressed.close_code(), close_code::INVALID_DATA);
    }

    #[test]
    fn close_frames_keep_their_payload() {
        let mut d = Decoder::default();
        let max = 10;
        let wire = client(0x88, &[0x03, 0xe8, b'o', b'k'], MASK);
        assert_eq!(
            d.decode(&wire, max).unwrap().1,
            Some(Frame::Close(Bytes::from_static(b"\x03\xe8ok")))
        );
        assert_eq!(
            d.decode(&client(0x88, b"", MASK), max).unwrap().1,
            Some(Frame::Close(Bytes::new()))
        );
    }

    #[test]
    fn close_codes_and_reasons_are_checked() {
        let close = |payload: &[u8]| Decoder::default().decode(&client(0x88, payload, MASK), 125);
        for code in
            [1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1014, 3000, 4999]
        {
            let payload = code.to_be_bytes();
            assert_eq!(
                close(&payload).unwrap().1,
                Some(Frame::Close(Bytes::copy_from_slice(&payload))),
                "{code}"
            );
        }
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
            assert_eq!(close(&code.to_be_bytes()), Err(FrameError::CloseCode(code)), "{code}");
            assert_eq!(FrameError::CloseCode(code).close_code(), close_code::PROTOCOL_ERROR);
        }
        // The reason must be UTF-8: a lone continuation byte, a truncated sequence, a surrogate.
        for reason in [&b"\x80"[..], b"ok\xe2\x82", b"\xed\xa0\x80"] {
            let payload = [&[0x03, 0xe8][..], reason].concat();
            assert_eq!(close(&payload), Err(FrameError::Utf8), "{reason:?}");
        }
        let payload = [&[0x03, 0xe8][..], "ça va ✓".as_bytes()].concat();
        assert_eq!(close(&payload).unwrap().1, Some(Frame::Close(payload.into())));
        assert_eq!(FrameError::Utf8.close_code(), close_code::INVALID_DATA);
        assert_eq!(FrameError::TooLong.close_code(), close_code::TOO_BIG);
        assert_eq!(FrameError::Reserved.close_code(), close_code::PROTOCOL_ERROR);
    }

    #[test]
    fn encodes_every_length_encoding() {
        for (len, head) in [(5usize, 2usize), (125, 2), (126, 4), (65535, 4), (65536, 10)] {
            let mut out = Vec::new();
            encode(&mut out, Opcode::Binary, &vec![7; len]);
            assert_eq!(out.len(), head + len);
            assert_eq!(out[0], 0x82);
        }
        let mut out = Vec::new();
        encode(&mut out, Opcode::Close, &[0x03, 0xe8]);
        assert_eq!(out, [0x88, 2, 0x03, 0xe8]);
        let mut out = Vec::new();
        encode_compressed(&mut out, Opcode::Binary, &[0; 126]);
        assert_eq!(out[..4], [0xc2, 126, 0, 126]);
    }
}
