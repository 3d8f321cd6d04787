//! The server's side of the hooks (see `crate::observe`): the slot an admin is attached to,
//! and the process-wide packet and byte counters of `server_stats`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use switchboard_engine::{EncodedMessage, Message};

pub(crate) use super::monitor::Monitor;

/// Where a server's admin is attached: empty until [`crate::admin::Admin::attach`], then set
/// once. Shared by the server and every namespace's adapter.
#[derive(Clone, Default)]
pub(crate) struct Slot(Arc<OnceLock<Arc<Monitor>>>);

impl Slot {
    /// The attached admin, if any: the one branch every hook costs.
    #[inline]
    pub(crate) fn get(&self) -> Option<&Arc<Monitor>> {
        self.0.get()
    }

    /// Attaches `monitor`; `false` if one already is.
    pub(super) fn set(&self, monitor: Arc<Monitor>) -> bool {
        self.0.set(monitor).is_ok()
    }
}

/// Set once any admin is attached in the process: the counters below count from then on.
static ACTIVE: AtomicBool = AtomicBool::new(false);
static PACKETS_IN: AtomicU64 = AtomicU64::new(0);
static BYTES_IN: AtomicU64 = AtomicU64::new(0);
static PACKETS_OUT: AtomicU64 = AtomicU64::new(0);
static BYTES_OUT: AtomicU64 = AtomicU64::new(0);

pub(super) fn activate() {
    ACTIVE.store(true, Ordering::Relaxed);
}

/// The counts since the last call: packets in, bytes in, packets out, bytes out.
pub(super) fn take_counts() -> [u64; 4] {
    [
        PACKETS_IN.swap(0, Ordering::Relaxed),
        BYTES_IN.swap(0, Ordering::Relaxed),
        PACKETS_OUT.swap(0, Ordering::Relaxed),
        BYTES_OUT.swap(0, Ordering::Relaxed),
    ]
}

#[inline]
fn count(packets: &AtomicU64, bytes: &AtomicU64, len: usize) {
    if len > 0 {
        packets.fetch_add(1, Ordering::Relaxed);
        bytes.fetch_add(len as u64, Ordering::Relaxed);
    }
}

/// A message from a client.
#[inline]
pub(crate) fn received(message: &Message) {
    if !ACTIVE.load(Ordering::Relaxed) {
        return;
    }
    let len = match message {
        Message::Text(text) => text.len(),
        Message::Binary(data) => data.len(),
    };
    count(&PACKETS_IN, &BYTES_IN, len);
}

/// Messages queued for a client, encoded for the wire.
#[inline]
pub(crate) fn sent(messages: &[EncodedMessage]) {
    if !ACTIVE.load(Ordering::Relaxed) {
        return;
    }
    for m in messages {
        sent_one(m);
    }
}

/// One message queued for a client, encoded for the wire.
#[inline]
pub(crate) fn sent_one(message: &EncodedMessage) {
    if !ACTIVE.load(Ordering::Relaxed) {
        return;
    }
    let len = match (message.wire_text(), message.binary_data()) {
        // Without the Engine.IO `4` in front: the packet's data only, as Node counts it.
        (Some(text), _) => text.len().saturating_sub(1),
        (None, Some(data)) => data.len(),
        (None, None) => 0,
    };
    count(&PACKETS_OUT, &BYTES_OUT, len);
}

/// Messages queued for a client, not yet encoded (CONNECT answers and errors).
pub(crate) fn sent_messages(messages: &[Message]) {
    if !ACTIVE.load(Ordering::Relaxed) {
        return;
    }
    for m in messages {
        let len = match m {
            Message::Text(text) => text.len(),
            Message::Binary(data) => data.len(),
        };
        count(&PACKETS_OUT, &BYTES_OUT, len);
    }
}
