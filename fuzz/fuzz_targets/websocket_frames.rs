//! WebSocket frames from a client: never a panic, a frame's bytes are used once, no message
//! is longer than the limit, and feeding the bytes in pieces gives the same frames.
//!
//! Input: two bytes of message limit (big-endian), one byte of piece size (its top bit set:
//! decoded as on a connection that agreed on permessage-deflate, RSV1 allowed on a message's
//! first frame), then the bytes a client sent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_proto::engine::websocket::{Decoder, Frame, FrameError};

/// Decodes `buf` frame by frame, as the connection does; the frames (and whether each was
/// compressed) and the final error.
fn run(
    buf: &[u8],
    max: usize,
    step: usize,
    deflate: bool,
) -> (Vec<(Frame, bool)>, Option<FrameError>) {
    let mut decoder = Decoder::default();
    let mut frames = Vec::new();
    let mut start = 0;
    let mut end = step.min(buf.len());
    loop {
        let decoded = if deflate {
            decoder.decode_deflate(&buf[start..end], max)
        } else {
            decoder.decode(&buf[start..end], max).map(|(used, f)| (used, f.map(|f| (f, false))))
        };
        match decoded {
            Err(e) => return (frames, Some(e)),
            Ok((0, _)) if end == buf.len() => return (frames, None),
            Ok((0, _)) => end = (end + step).min(buf.len()),
            Ok((used, frame)) => {
                assert!(used <= end - start);
                start += used;
                end = end.max(start);
                if let Some((frame, compressed)) = frame {
                    if let Frame::Text(m) | Frame::Binary(m) = &frame {
                        assert!(m.len() <= max);
                    } else {
                        assert!(!compressed, "only data messages are compressed");
                    }
                    assert!(deflate || !compressed);
                    frames.push((frame, compressed));
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [hi, lo, step, buf @ ..] = data else { return };
    let max = usize::from(u16::from_be_bytes([*hi, *lo]));
    let deflate = step & 0x80 != 0;
    let step = usize::from(step & 0x7f).max(1);
    let whole = run(buf, max, buf.len().max(1), deflate);
    let pieces = run(buf, max, step, deflate);
    assert_eq!(whole, pieces);
});
