//! A sequence of text and binary messages into one decoder (a binary packet's header, its
//! attachments, whatever comes next): never a panic, never more attachments than allowed, and
//! the decoder waits exactly while a packet lacks attachments.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use switchboard_proto::engine::Message;
use switchboard_proto::socket::Decoder;

#[derive(Debug, Arbitrary)]
enum Input {
    Text(String),
    Binary(Vec<u8>),
}

fuzz_target!(|input: (u8, Vec<Input>)| {
    let (max, messages) = input;
    let max = usize::from(max % 16);
    let mut decoder = Decoder::with_max_attachments(max);
    for message in messages {
        let message = match message {
            Input::Text(t) => Message::Text(t.into()),
            Input::Binary(b) => Message::Binary(b.into()),
        };
        match decoder.decode(message) {
            Ok(Some(packet)) => {
                if let Some(payload) = packet.payload() {
                    assert!(payload.attachments().len() <= max);
                }
                assert!(!decoder.is_waiting());
            }
            Ok(None) => assert!(decoder.is_waiting()),
            // An error is final for the connection: start again, as a new connection would.
            Err(_) => decoder = Decoder::with_max_attachments(max),
        }
    }
});
