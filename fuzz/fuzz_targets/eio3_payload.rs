//! Engine.IO v3 polling bodies (text and XHR2 binary) and packets: never a panic, the size
//! limit always holds, and what decodes encodes back to something that decodes the same.
//!
//! Input: two bytes of limit (big-endian), one byte of mode (even: text, odd: binary), then
//! the body.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use switchboard_proto::engine::v3;

fuzz_target!(|data: &[u8]| {
    let [hi, lo, mode, body @ ..] = data else { return };
    let limit = usize::from(u16::from_be_bytes([*hi, *lo]));
    let binary = mode % 2 == 1;
    let mut decoder = v3::BodyDecoder::new(limit, binary);
    let decoded = decoder.feed(body).and_then(|()| decoder.finish());
    if let Ok(packets) = decoded {
        assert!(body.len() <= limit);
        let again = if binary {
            v3::decode_binary_payload(&v3::encode_binary_payload(&packets))
        } else {
            v3::decode_payload(v3::encode_payload(&packets).as_bytes(), usize::MAX)
        };
        assert_eq!(again.as_ref(), Ok(&packets));
    }
    let _ = v3::decode_binary(Bytes::copy_from_slice(body));
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = v3::decode_text(text.into());
    }
});
