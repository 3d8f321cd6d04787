//! Socket.IO packets in a text message: never a panic, and a packet that decodes encodes to
//! messages that decode to the same packet.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_proto::engine::Message;
use switchboard_proto::socket::Decoder;

fuzz_target!(|text: &str| {
    let mut decoder = Decoder::new();
    let Ok(Some(packet)) = decoder.decode(Message::Text(text.into())) else { return };
    let mut again = Decoder::new();
    let mut decoded = None;
    for message in packet.encode() {
        decoded = again.decode(message).ok().flatten();
    }
    assert_eq!(decoded.as_ref(), Some(&packet), "{text:?}");
});
