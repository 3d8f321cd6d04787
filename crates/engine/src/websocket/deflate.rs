//! permessage-deflate (RFC 7692): the negotiation of the handshake and the per-message
//! compression of a connection that agreed on it.
//!
//! The compression state of each direction is created when it is first needed and, without
//! context takeover, given back after each message, so that an idle connection holds it only
//! when context takeover keeps a window for its next message.

use std::cell::Cell;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use http::HeaderValue;
use switchboard_proto::engine::websocket::FrameError;

use crate::PerMessageDeflate;

/// The extension's name in `Sec-WebSocket-Extensions`.
const NAME: &str = "permessage-deflate";

/// What every compressed message ends with before the sender strips it, and the receiver
/// appends before inflating (RFC 7692 §7.2.1, §7.2.2).
const TAIL: [u8; 4] = [0, 0, 0xff, 0xff];

/// The smallest window zlib compresses with (it takes 8 as 9, and so do we: its matches then
/// reach back at most 250 bytes, within a 256-byte window).
const MIN_WINDOW: u8 = 9;
const MAX_WINDOW: u8 = 15;

thread_local! {
    /// A compressor, reset, that a connection without server context takeover gave back
    /// after its message, with its level and window bits: the next such message on this
    /// thread takes it rather than allocating and clearing some 300 KiB of zlib state. One per
    /// thread, never per connection.
    static SPARE_COMPRESS: Cell<Option<(u8, u8, Compress)>> = const { Cell::new(None) };
    /// The same for inflaters (by window bits), from connections without client context
    /// takeover.
    static SPARE_DECOMPRESS: Cell<Option<(u8, Decompress)>> = const { Cell::new(None) };
}

/// A compressor for `level` and `bits`: the thread's spare if it has those settings.
fn take_compress(level: u8, bits: u8) -> Compress {
    match SPARE_COMPRESS.take() {
        Some((l, b, compress)) if (l, b) == (level, bits) => compress,
        other => {
            // Another kind (or none): it stays for a connection of its kind.
            SPARE_COMPRESS.set(other);
            Compress::new_with_window_bits(Compression::new(u32::from(level)), false, bits)
        }
    }
}

/// An inflater for `bits`: the thread's spare if it has that window.
fn take_decompress(bits: u8) -> Decompress {
    match SPARE_DECOMPRESS.take() {
        Some((b, decompress)) if b == bits => decompress,
        other => {
            SPARE_DECOMPRESS.set(other);
            Decompress::new_with_window_bits(false, bits)
        }
    }
}

/// What a connection agreed on, with the server's own settings for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Agreed {
    /// The server starts each message with an empty window.
    server_no_context_takeover: bool,
    /// The client starts each message with an empty window.
    client_no_context_takeover: bool,
    /// The server's compression window, as a power of two (8 to 15; compressed with 9 for 8).
    server_window: u8,
    /// The client's compression window (at most), as a power of two (8 to 15).
    client_window: u8,
    threshold: usize,
    max_inflated: usize,
    level: u8,
}

/// The parameters of one offer.
#[derive(Default)]
struct Offer {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    /// `server_max_window_bits=N`.
    server_max_window_bits: Option<u8>,
    /// `client_max_window_bits`, with its value if it has one.
    client_max_window_bits: Option<Option<u8>>,
}

/// Picks the first acceptable permessage-deflate offer among the client's
/// `Sec-WebSocket-Extensions` header lines; returns what was agreed and the header value that
/// says so. `None` when no offer is valid (the connection goes on without compression).
pub(crate) fn negotiate<'a>(
    config: &PerMessageDeflate,
    offers: impl Iterator<Item = &'a HeaderValue>,
) -> Option<(Agreed, HeaderValue)> {
    let offer = offers
        .filter_map(|line| line.to_str().ok())
        .flat_map(|line| line.split(','))
        .find_map(parse_offer)?;
    let server_window = offer
        .server_max_window_bits
        .unwrap_or(MAX_WINDOW)
        .min(config.server_max_window_bits.clamp(MIN_WINDOW, MAX_WINDOW));
    let wanted_client_window = config.client_max_window_bits.clamp(MIN_WINDOW, MAX_WINDOW);
    // The client's window can be bounded only if it said it can take the parameter.
    let client_window = match offer.client_max_window_bits {
        Some(offered) => offered.unwrap_or(MAX_WINDOW).min(wanted_client_window),
        None => MAX_WINDOW,
    };
    let agreed = Agreed {
        server_no_context_takeover: offer.server_no_context_takeover
            || config.server_no_context_takeover,
        client_no_context_takeover: offer.client_no_context_takeover
            || config.client_no_context_takeover,
        server_window,
        client_window,
        threshold: config.threshold,
        max_inflated: config.max_inflated,
        level: config.level.min(9),
    };
    let mut answer = NAME.to_owned();
    if agreed.server_no_context_takeover {
        answer.push_str("; server_no_context_takeover");
    }
    if agreed.client_no_context_takeover {
        answer.push_str("; client_no_context_takeover");
    }
    if offer.server_max_window_bits.is_some() || server_window < MAX_WINDOW {
        answer.push_str(&format!("; server_max_window_bits={server_window}"));
    }
    if offer.client_max_window_bits.is_some() && client_window < MAX_WINDOW {
        answer.push_str(&format!("; client_max_window_bits={client_window}"));
    }
    let answer = HeaderValue::from_str(&answer).ok()?;
    Some((agreed, answer))
}

/// One offer (`permessage-deflate; param; param=value`), if it is permessage-deflate and its
/// parameters are valid: known, not repeated, values in range (RFC 7692 §7.1).
fn parse_offer(text: &str) -> Option<Offer> {
    let mut parts = text.split(';').map(str::trim);
    if !parts.next()?.eq_ignore_ascii_case(NAME) {
        return None;
    }
    let mut offer = Offer::default();
    for param in parts {
        let (name, value) = match param.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim().trim_matches('"'))),
            None => (param, None),
        };
        match (name.to_ascii_lowercase().as_str(), value) {
            ("server_no_context_takeover", None) if !offer.server_no_context_takeover => {
                offer.server_no_context_takeover = true;
            }
            ("client_no_context_takeover", None) if !offer.client_no_context_takeover => {
                offer.client_no_context_takeover = true;
            }
            ("server_max_window_bits", Some(v)) if offer.server_max_window_bits.is_none() => {
                offer.server_max_window_bits = Some(window_bits(v)?);
            }
            ("client_max_window_bits", v) if offer.client_max_window_bits.is_none() => {
                offer.client_max_window_bits = Some(match v {
                    Some(v) => Some(window_bits(v)?),
                    None => None,
                });
            }
            _ => return None,
        }
    }
    Some(offer)
}

/// A window size parameter: 8 to 15, digits only.
fn window_bits(value: &str) -> Option<u8> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().filter(|bits| (8..=MAX_WINDOW).contains(bits))
}

/// The compression state of a connection that agreed on permessage-deflate. Boxed in the
/// connection, which pays one pointer when it has none.
pub(crate) struct Deflate {
    agreed: Agreed,
    /// The server's compressor: created at the first message compressed, kept between
    /// messages only with server context takeover (else given back to the thread's spare).
    compress: Option<Compress>,
    /// The inflater of the client's messages: created at the first compressed message, kept
    /// between messages only with client context takeover (else given back).
    decompress: Option<Decompress>,
}

impl std::fmt::Debug for Deflate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflate")
            .field("agreed", &self.agreed)
            .field("compress", &self.compress.is_some())
            .field("decompress", &self.decompress.is_some())
            .finish()
    }
}

impl Deflate {
    pub(crate) fn new(agreed: Agreed) -> Self {
        Deflate { agreed, compress: None, decompress: None }
    }

    /// Whether a message of `len` bytes is sent compressed.
    pub(crate) fn compresses(&self, len: usize) -> bool {
        len >= self.agreed.threshold
    }

    /// Inflates a compressed message, refusing it with [`FrameError::TooLong`] as soon as it
    /// passes the inflated size limit, and with [`FrameError::Compressed`] if it is not valid
    /// DEFLATE data.
    pub(crate) fn inflate(&mut self, payload: &[u8]) -> Result<Vec<u8>, FrameError> {
        let limit = self.agreed.max_inflated;
        let bits = self.agreed.client_window.max(MIN_WINDOW);
        let decompress = self.decompress.get_or_insert_with(|| take_decompress(bits));
        let result = inflate(decompress, payload, limit);
        if result.is_err() {
            // The connection closes: its state goes with it.
            self.decompress = None;
        } else if self.agreed.client_no_context_takeover {
            // No window to keep: the state goes to the thread's spare, reset.
            if let Some(mut decompress) = self.decompress.take() {
                decompress.reset(false);
                SPARE_DECOMPRESS.set(Some((bits, decompress)));
            }
        }
        result
    }

    /// Compresses a message's payload, to be sent with RSV1 set.
    pub(crate) fn deflate(&mut self, payload: &[u8]) -> Vec<u8> {
        let (level, bits) = (self.agreed.level, self.agreed.server_window.max(MIN_WINDOW));
        let compress = self.compress.get_or_insert_with(|| take_compress(level, bits));
        let out = deflate(compress, payload);
        if self.agreed.server_no_context_takeover {
            if let Some(mut compress) = self.compress.take() {
                compress.reset();
                SPARE_COMPRESS.set(Some((level, bits, compress)));
            }
        }
        out
    }
}

/// Inflates `payload` followed by [`TAIL`] into a new buffer of at most `limit` bytes.
fn inflate(d: &mut Decompress, payload: &[u8], limit: usize) -> Result<Vec<u8>, FrameError> {
    // A first guess of the size; the buffer grows up to one byte past the limit, no further.
    let first = payload.len().saturating_mul(4).clamp(256, limit.saturating_add(1));
    let mut out = Vec::with_capacity(first);
    for input in [payload, &TAIL[..]] {
        let mut pos = 0;
        loop {
            if out.len() == out.capacity() {
                if out.len() > limit {
                    return Err(FrameError::TooLong);
                }
                let room = limit.saturating_add(1) - out.len();
                out.reserve_exact(out.len().max(4096).min(room));
            }
            let (before_in, before_out) = (d.total_in(), out.len());
            let rest = input.get(pos..).unwrap_or_default();
            let status = d
                .decompress_vec(rest, &mut out, FlushDecompress::Sync)
                .map_err(|_| FrameError::Compressed)?;
            pos += usize::try_from(d.total_in() - before_in).unwrap_or(usize::MAX);
            if out.len() > limit {
                return Err(FrameError::TooLong);
            }
            if status == Status::StreamEnd {
                // A final block (BFINAL) ends the stream: the next message starts a new one.
                d.reset(false);
                return Ok(out);
            }
            let full = out.len() == out.capacity();
            if pos >= input.len() && !full {
                break;
            }
            if !full && d.total_in() == before_in && out.len() == before_out {
                // No progress with input and room left: the data is broken.
                return Err(FrameError::Compressed);
            }
        }
    }
    Ok(out)
}

/// Compresses `payload` with a sync flush and strips the [`TAIL`] that flush ends with.
fn deflate(c: &mut Compress, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() / 2 + 64);
    let mut pos = 0;
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.len().max(64));
        }
        let before_in = c.total_in();
        let rest = payload.get(pos..).unwrap_or_default();
        // Compressing into memory cannot fail: zlib reports only a lack of room, met below.
        let _ = c.compress_vec(rest, &mut out, FlushCompress::Sync);
        pos += usize::try_from(c.total_in() - before_in).unwrap_or(usize::MAX);
        if pos >= payload.len() && out.len() < out.capacity() {
            break;
        }
    }
    if out.ends_with(&TAIL) {
        out.truncate(out.len() - TAIL.len());
    }
    out
}

#[cfg(test)]
#[path = "deflate_tests.rs"]
mod tests;
