//! The subscriptions of the real driver's link: what they want, which are in effect, and
//! where each message goes.

use std::collections::HashSet;

use bytes::Bytes;

use super::Shared;
use crate::driver::{Incoming, Subscription};
use crate::shard::Frame;

/// The error of a connection that ended.
pub(super) fn closed(what: &str) -> redis::RedisError {
    redis::RedisError::from(std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        what.to_owned(),
    ))
}

/// Marks the subscriptions `synced` active, once commands can be sent (not those
/// registered since: they are not in effect yet).
pub(super) fn mark_active(shared: &Shared, synced: &HashSet<u64>) {
    let state = shared.lock();
    if state.conn.is_some() {
        for (_, s) in state.subs.iter().filter(|(id, _)| synced.contains(id)) {
            s.active.send_if_modified(|a| !std::mem::replace(a, true));
        }
    }
}

/// What the subscriptions want: channels, patterns, sharded channels, and the ids of the
/// subscriptions this covers.
pub(super) type Wanted = (HashSet<String>, HashSet<String>, HashSet<String>, HashSet<u64>);

/// What the subscriptions want now.
pub(super) fn wanted(shared: &Shared) -> Wanted {
    let state = shared.lock();
    let wanted = |f: fn(&Subscription) -> &Vec<String>| -> HashSet<String> {
        state.subs.values().flat_map(|s| f(&s.sub).iter().cloned()).collect()
    };
    let ids = state.subs.keys().copied().collect();
    (wanted(|s| &s.channels), wanted(|s| &s.patterns), wanted(|s| &s.sharded), ids)
}

/// Hands a sharded message to the subscriptions of its channel.
pub(super) fn route_sharded(shared: &Shared, frame: &Frame) {
    let Some((channel, payload)) = frame.smessage() else { return };
    deliver_sharded(shared, Incoming { channel, payload });
}

/// Hands a sharded message to the subscriptions of its channel.
pub(super) fn deliver_sharded(shared: &Shared, incoming: Incoming) {
    let state = shared.lock();
    for s in state.subs.values().filter(|s| s.sub.sharded.contains(&incoming.channel)) {
        // A subscriber that went away just misses the message.
        let _ = s.sink.send(incoming.clone());
    }
}

/// Hands a message to the subscriptions it matches (by channel, or by the pattern that
/// matched it).
pub(super) fn route(shared: &Shared, msg: &redis::Msg) {
    let channel = msg.get_channel_name();
    let pattern: Option<String> = msg.get_pattern().ok().flatten();
    let incoming = Incoming {
        channel: channel.to_owned(),
        payload: Bytes::copy_from_slice(msg.get_payload_bytes()),
    };
    let state = shared.lock();
    for s in state.subs.values() {
        let wanted = match &pattern {
            Some(p) => s.sub.patterns.iter().any(|x| x == p),
            None => s.sub.channels.iter().any(|c| c == channel),
        };
        if wanted {
            // A subscriber that went away just misses the message.
            let _ = s.sink.send(incoming.clone());
        }
    }
}
