//! WebSocket frames from a client: never a panic, a frame's bytes are used once, no message
//! is longer than the limit, and feeding the bytes in pieces gives the same frames.
//!
//! Input: two bytes of message limit (big-endian), one byte of piece size, then the bytes a
//! client sent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_proto::engine::websocket::{Decoder, Frame, FrameError};

/// Decodes `buf` frame by frame, as the connection does; the frames and the final error.
fn run(buf: &[u8], max: usize, step: usize) -> (Vec<Frame>, Option<FrameError>) {
    let mut decoder = Decoder::default();
    let mut frames = Vec::new();
    let mut start = 0;
    let mut end = step.min(buf.len());
    loop {
        match decoder.decode(&buf[start..end], max) {
            Err(e) => return (frames, Some(e)),
            Ok((0, _)) if end == buf.len() => return (frames, None),
            Ok((0, _)) => end = (end + step).min(buf.len()),
            Ok((used, frame)) => {
                assert!(used <= end - start);
                start += used;
                end = end.max(start);
                if let Some(frame) = frame {
                    if let Frame::Text(m) | Frame::Binary(m) = &frame {
                        assert!(m.len() <= max);
                    }
                    frames.push(frame);
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [hi, lo, step, buf @ ..] = data else { return };
    let max = usize::from(u16::from_be_bytes([*hi, *lo]));
    let whole = run(buf, max, buf.len().max(1));
    let pieces = run(buf, max, usize::from(*step).max(1));
    assert_eq!(whole, pieces);
});
