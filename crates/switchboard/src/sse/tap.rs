//! A stream's subscription: a member of the namespace's adapter that is not a socket, and
//! the SSE text of what reaches it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use switchboard_adapter::{AckSender, BroadcastFlags, LocalSocket, Offset, SocketHandle, SocketId};
use switchboard_engine::EncodedMessage;
use switchboard_proto::socket::{Packet, PacketData};
use tokio::sync::mpsc;

use crate::namespace::lock;

/// The subscribers of one namespace that are not sockets, by id.
#[derive(Default)]
pub(crate) struct Taps {
    // Written when a stream opens and ends (request tasks), read when the adapter adds a
    // member to a room and at shutdown; never held across an await.
    taps: Mutex<HashMap<SocketId, Arc<Tap>>>,
}

impl Taps {
    /// The delivery handle of tap `id`, for the adapter.
    pub(crate) fn handle(&self, id: &SocketId) -> Option<SocketHandle> {
        lock(&self.taps).get(id).map(|t| t.clone() as SocketHandle)
    }

    pub(crate) fn insert(&self, id: SocketId, tap: Arc<Tap>) {
        lock(&self.taps).insert(id, tap);
    }

    pub(crate) fn remove(&self, id: &SocketId) {
        lock(&self.taps).remove(id);
    }

    /// The server closes: every stream ends after what it holds.
    pub(crate) fn close_all(&self) {
        for tap in lock(&self.taps).values() {
            tap.end(End::Closing);
        }
    }
}

/// Why a stream ends from the server's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// The reader did not keep up: the buffer filled.
    Overflow = 1,
    /// The server shuts down.
    Closing = 2,
}

/// One live event, ready to write, with its place in the log.
pub(crate) struct Frame {
    pub(crate) offset: Option<Offset>,
    pub(crate) text: Bytes,
}

/// What the adapter delivers to: it writes each broadcast as an SSE event into a bounded
/// channel, which the response body reads.
pub(crate) struct Tap {
    // Bounded (the stream's buffer): the adapter's deliveries write, the body reads; closed
    // when the body (the receiver) is dropped.
    tx: mpsc::Sender<Frame>,
    /// 0 while open, else an [`End`].
    end: AtomicU8,
    /// The body's waker, woken when `end` is set.
    waker: AtomicWaker,
}

impl Tap {
    pub(crate) fn new(buffer: usize) -> (Arc<Tap>, mpsc::Receiver<Frame>) {
        let (tx, rx) = mpsc::channel(buffer.max(1));
        (Arc::new(Tap { tx, end: AtomicU8::new(0), waker: AtomicWaker::new() }), rx)
    }

    /// Ends the stream (the first reason is kept).
    pub(crate) fn end(&self, end: End) {
        if self.end.compare_exchange(0, end as u8, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            self.waker.wake();
        }
    }

    /// Why the stream ends, once it does; registers `cx`'s waker first.
    pub(crate) fn ended(&self, cx: &std::task::Context<'_>) -> Option<End> {
        self.waker.register(cx.waker());
        match self.end.load(Ordering::SeqCst) {
            1 => Some(End::Overflow),
            2 => Some(End::Closing),
            _ => None,
        }
    }

    fn push(&self, packet: &Packet, offset: Option<&Offset>) {
        if self.end.load(Ordering::SeqCst) != 0 {
            return;
        }
        let Some(text) = event_text(packet, offset) else { return };
        match self.tx.try_send(Frame { offset: offset.cloned(), text }) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => self.end(End::Overflow),
            // The body is gone; the guard removes this tap.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

impl LocalSocket for Tap {
    fn deliver(
        &self,
        packet: &Packet,
        _messages: &[EncodedMessage],
        _flags: &BroadcastFlags,
        offset: Option<&Offset>,
    ) {
        self.push(packet, offset);
    }

    /// A stream cannot answer: it gets the event, and is not counted as a recipient.
    fn deliver_with_ack(
        &self,
        packet: &Packet,
        _messages: &[EncodedMessage],
        _ack_id: u64,
        _responses: &AckSender,
        _flags: &BroadcastFlags,
    ) -> bool {
        self.push(packet, None);
        false
    }
}

/// The SSE event of a broadcast: `id:` (its offset, when logged), `event:` (its name) and
/// `data:` (its arguments as a JSON array, without the offset the log appended). `None` for
/// what a stream does not carry: binary events and names with a line break.
pub(crate) fn event_text(packet: &Packet, offset: Option<&Offset>) -> Option<Bytes> {
    let PacketData::Event { event, payload, .. } = &packet.data else { return None };
    if payload.is_binary() {
        return None;
    }
    let name = event.as_str();
    if name.contains(['\r', '\n']) {
        return None;
    }
    let mut args = payload.args();
    if let (Some(offset), Some((serde_json::Value::String(last), rest))) =
        (offset, args.split_last())
    {
        if last == offset.as_str() {
            args = rest;
        }
    }
    let data = serde_json::to_string(args).ok()?;
    let mut text = String::with_capacity(data.len() + name.len() + 32);
    if let Some(offset) = offset.filter(|o| !o.as_str().contains(['\r', '\n'])) {
        text.push_str("id: ");
        text.push_str(offset.as_str());
        text.push('\n');
    }
    text.push_str("event: ");
    text.push_str(name);
    text.push_str("\ndata: ");
    text.push_str(&data);
    text.push_str("\n\n");
    Some(Bytes::from(text))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use switchboard_proto::socket::Payload;

    use super::*;

    fn packet(name: &str, args: serde_json::Value) -> Packet {
        let payload = Payload::spread(&args).unwrap_or_default();
        Packet::event("/", name.try_into().expect("name"), payload)
    }

    #[test]
    fn events_become_sse_text() {
        let cases = [
            (packet("msg", json!(["hi", 1])), None, Some("event: msg\ndata: [\"hi\",1]\n\n")),
            (
                packet("msg", json!(["hi", "7"])),
                Some(Offset::from("7")),
                Some("id: 7\nevent: msg\ndata: [\"hi\"]\n\n"),
            ),
            (packet("a\nb", json!([1])), None, None),
            (packet("empty", json!([])), None, Some("event: empty\ndata: []\n\n")),
        ];
        for (packet, offset, want) in cases {
            let got = event_text(&packet, offset.as_ref());
            assert_eq!(got.as_deref(), want.map(str::as_bytes), "{packet:?}");
        }
    }
}
