//! Long-polling bodies: never a panic, the size limit always holds, and the incremental
//! decoder fed in chunks agrees with the one-shot decoder.
//!
//! Input: two bytes of limit (big-endian), one byte of chunk size, then the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_proto::engine::payload::{self, Decoder};

fuzz_target!(|data: &[u8]| {
    let [hi, lo, step, body @ ..] = data else { return };
    let limit = usize::from(u16::from_be_bytes([*hi, *lo]));
    let step = usize::from(*step).max(1);
    let whole = payload::decode(body, limit);
    let mut decoder = Decoder::new(limit);
    let fed = body.chunks(step).try_for_each(|chunk| decoder.feed(chunk));
    let chunked = fed.and_then(|()| decoder.finish());
    assert_eq!(whole.is_ok(), chunked.is_ok(), "{whole:?} / {chunked:?}");
    if let (Ok(a), Ok(b)) = (&whole, &chunked) {
        assert_eq!(a, b);
        assert!(body.len() <= limit);
    }
});
