//! A binary message through the msgpack parser: never a panic (nor a stack overflow, however
//! deep the nesting), and a packet that decodes encodes to a message that decodes to the same
//! packet.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_proto::engine::Message;
use switchboard_proto::socket::{MsgpackParser, Parser};

fuzz_target!(|bytes: &[u8]| {
    let parser = MsgpackParser::default();
    let message = Message::Binary(bytes::Bytes::copy_from_slice(bytes));
    let Ok(Some(packet)) = parser.decoder().decode(message) else { return };
    let mut again = parser.decoder();
    let mut decoded = None;
    for message in parser.encode(&packet) {
        decoded = again.decode(message).ok().flatten();
    }
    assert_eq!(decoded.as_ref(), Some(&packet), "{bytes:?}");
});
