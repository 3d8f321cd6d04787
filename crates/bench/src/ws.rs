//! The WebSocket frame codec (RFC 6455), as much as the benchmark needs: text frames, masked
//! (client to server) and unmasked (server to client), and a header parser over `&[u8]`.

/// Opcode of a text frame.
pub const OP_TEXT: u8 = 0x1;
/// Opcode of a binary frame.
pub const OP_BINARY: u8 = 0x2;
/// Opcode of a close frame.
pub const OP_CLOSE: u8 = 0x8;
/// Opcode of a ping frame.
pub const OP_PING: u8 = 0x9;
/// Opcode of a pong frame.
pub const OP_PONG: u8 = 0xA;

/// A frame header parsed from the front of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The FIN bit.
    pub fin: bool,
    /// The opcode (low 4 bits of the first byte).
    pub opcode: u8,
    /// The masking key, present on client-to-server frames.
    pub mask: Option<[u8; 4]>,
    /// Where the payload starts in the buffer.
    pub payload_start: usize,
    /// Payload length in bytes.
    pub payload_len: usize,
}

impl Header {
    /// Where the whole frame ends in the buffer.
    #[must_use]
    pub fn end(&self) -> usize {
        self.payload_start + self.payload_len
    }
}

/// Parses a frame header at the start of `buf`; `None` when more bytes are needed (the header or
/// the payload is incomplete).
#[must_use]
pub fn parse_header(buf: &[u8]) -> Option<Header> {
    let (&b0, rest) = buf.split_first()?;
    let (&b1, _) = rest.split_first()?;
    let masked = b1 & 0x80 != 0;
    let (len, mut pos) = match b1 & 0x7f {
        126 => {
            let b = buf.get(2..4)?;
            (usize::from(u16::from_be_bytes([b[0], b[1]])), 4)
        }
        127 => {
            let b: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
            (usize::try_from(u64::from_be_bytes(b)).ok()?, 10)
        }
        n => (usize::from(n), 2),
    };
    let mask = if masked {
        let m: [u8; 4] = buf.get(pos..pos + 4)?.try_into().ok()?;
        pos += 4;
        Some(m)
    } else {
        None
    };
    let header = Header {
        fin: b0 & 0x80 != 0,
        opcode: b0 & 0x0f,
        mask,
        payload_start: pos,
        payload_len: len,
    };
    (buf.len() >= header.end()).then_some(header)
}

/// XORs `data` with `mask` (RFC 6455 section 5.3); applying it twice gives the input back.
pub fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    for (i, b) in data.iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

fn push_header(out: &mut Vec<u8>, opcode: u8, len: usize, mask_bit: u8) {
    out.push(0x80 | opcode);
    if len < 126 {
        // Fits in 7 bits: checked just above.
        out.push(mask_bit | len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        out.push(mask_bit | 126);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

/// Appends a final masked frame (as a client sends it) with `payload` to `out`.
pub fn encode_masked(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    push_header(out, opcode, payload.len(), 0x80);
    out.extend_from_slice(&mask);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(tail) = out.get_mut(start..) {
        apply_mask(tail, mask);
    }
}

/// Appends a final unmasked frame (as a server sends it) with `payload` to `out`.
pub fn encode_unmasked(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    push_header(out, opcode, payload.len(), 0);
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_masked_hello_example() {
        // RFC 6455 section 5.7: a single-frame masked text message "Hello".
        let mut out = Vec::new();
        encode_masked(&mut out, OP_TEXT, b"Hello", [0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(out, [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
        let h = parse_header(&out).unwrap();
        assert_eq!(h.opcode, OP_TEXT);
        assert!(h.fin);
        assert_eq!(h.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
        let mut payload = out[h.payload_start..h.end()].to_vec();
        apply_mask(&mut payload, h.mask.unwrap());
        assert_eq!(payload, b"Hello");
    }

    #[test]
    fn rfc_unmasked_hello_example() {
        let mut out = Vec::new();
        encode_unmasked(&mut out, OP_TEXT, b"Hello");
        assert_eq!(out, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    }

    #[test]
    fn lengths_16_and_64_bit() {
        for len in [125usize, 126, 65535, 65536] {
            let payload = vec![b'x'; len];
            let mut out = Vec::new();
            encode_unmasked(&mut out, OP_BINARY, &payload);
            let h = parse_header(&out).unwrap();
            assert_eq!(h.payload_len, len);
            assert_eq!(h.end(), out.len());
            assert_eq!(h.opcode, OP_BINARY);
        }
    }

    #[test]
    fn incomplete_frames_need_more() {
        let mut out = Vec::new();
        encode_masked(&mut out, OP_TEXT, &[b'a'; 300], [1, 2, 3, 4]);
        for cut in 0..out.len() {
            assert_eq!(parse_header(&out[..cut]), None, "cut at {cut}");
        }
        assert!(parse_header(&out).is_some());
    }
}
