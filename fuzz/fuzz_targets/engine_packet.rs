//! Engine.IO packets, as text frames and as polling packets: never a panic, and what decodes
//! encodes back to the same packet.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use switchboard_proto::engine::Packet;

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = Packet::decode_text_bytes(Bytes::copy_from_slice(data))
        && let Some(text) = packet.encode_text()
    {
        assert_eq!(Packet::decode_text(text).ok(), Some(packet));
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(packet) = Packet::decode_polling(text.into())
    {
        let mut out = String::new();
        packet.encode_polling(&mut out);
        assert_eq!(Packet::decode_polling(out.into()).ok(), Some(packet));
    }
});
