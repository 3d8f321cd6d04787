//! A mailbox's messages as finished WebSocket frames, written by the senders (see the
//! [parent module](super)).

use std::collections::VecDeque;

use switchboard_proto::engine::EncodedMessage;
use switchboard_proto::engine::websocket::{Opcode, encode};

use super::BURST;

/// The capacity of a frame buffer when its first frame is queued: room for a burst of small
/// messages (a broadcast's `42["event",…]` frames are a few dozen bytes).
pub(super) const FRAMES_START: usize = 256;

/// The largest message copied into the frames by its sender. A larger one (a binary
/// attachment) is queued as it is, shared, and framed by the session task: a broadcast's one
/// sender would otherwise copy it for every recipient alone, while the session tasks share
/// that work across the runtime's threads (a 4 KiB attachment to 1000 receivers ran at a
/// third of the rate copied by the sender).
pub(super) const FRAME_COPY_MAX: usize = 512;

/// Messages written as unmasked, final WebSocket frames (text messages as text frames with
/// their `4`, binary ones as binary frames), oldest first, ready to be written as they are;
/// then the messages too large to copy (over [`FRAME_COPY_MAX`] bytes) and every one queued
/// after one of them, as messages, for the session task to frame.
///
/// The buffer is not allocated per burst: the session task takes it in exchange for an empty
/// one of its thread's (the buffer its last write freed), so that a session receiving a
/// stream of broadcasts allocates nothing, and the pushers (another thread) never allocate
/// what the session task frees. A mailbox keeps that empty buffer until its next frames, or
/// until the session's heartbeat ([`Mailbox::release_spare`](super::Mailbox::release_spare)), so an idle session still holds
/// none for long.
#[derive(Default)]
pub(crate) struct Frames {
    pub(super) bytes: Vec<u8>,
    /// How many messages `bytes` holds (the queue's limit counts messages).
    pub(super) count: usize,
    /// Messages queued after the frames, oldest first.
    pub(super) after: VecDeque<EncodedMessage>,
}

impl Frames {
    #[inline]
    pub(super) fn push<M: Outgoing>(&mut self, message: M) {
        let m = message.as_message();
        let (opcode, payload) = match (m.wire_text(), m.binary_data()) {
            (Some(text), _) => (Opcode::Text, &text.as_bytes()[..]),
            (None, data) => (Opcode::Binary, data.map_or(&[][..], |d| &d[..])),
        };
        if payload.len() > FRAME_COPY_MAX || !self.after.is_empty() {
            if self.after.capacity() == 0 {
                // As `Messages`: room for a burst at once.
                self.after.reserve(BURST);
            }
            self.after.push_back(message.into_message());
            return;
        }
        if self.bytes.capacity() == 0 {
            // Room for the burst that usually follows (freed once written).
            self.bytes = Vec::with_capacity(FRAMES_START.max(payload.len().saturating_add(14)));
        }
        encode(&mut self.bytes, opcode, payload);
        self.count += 1;
    }

    /// The frames, as one buffer (empty if none), and the messages that follow them.
    pub(crate) fn into_parts(self) -> (Vec<u8>, VecDeque<EncodedMessage>) {
        (self.bytes, self.after)
    }

    /// How many messages are queued (as frames or after them).
    pub(super) fn len(&self) -> usize {
        self.count + self.after.len()
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0 && self.after.is_empty()
    }

    /// The payloads of the frames, as text (tests; frames under 126 bytes).
    #[cfg(test)]
    pub(crate) fn texts(&self) -> Vec<String> {
        let mut texts = Vec::new();
        let mut rest = &self.bytes[..];
        while let [b0, len, tail @ ..] = rest {
            assert!(*b0 == 0x81 || *b0 == 0x82, "a final, unmasked text or binary frame");
            let (payload, next) = tail.split_at(usize::from(*len));
            texts.push(String::from_utf8_lossy(payload).into_owned());
            rest = next;
        }
        assert!(rest.is_empty());
        assert_eq!(texts.len(), self.count);
        texts
    }
}

/// A message handed to [`Mailbox::push_messages`](super::Mailbox::push_messages): owned (moved into the queue) or borrowed
/// (a broadcast's shared message, cloned into a queue of messages, only read into frames).
pub(crate) trait Outgoing {
    fn as_message(&self) -> &EncodedMessage;
    fn into_message(self) -> EncodedMessage;
}

impl Outgoing for EncodedMessage {
    fn as_message(&self) -> &EncodedMessage {
        self
    }

    fn into_message(self) -> EncodedMessage {
        self
    }
}

impl Outgoing for &EncodedMessage {
    fn as_message(&self) -> &EncodedMessage {
        self
    }

    fn into_message(self) -> EncodedMessage {
        self.clone()
    }
}
