//! What a streams node does with the entries of other nodes, and the replay of missed
//! packets from the stream.

use std::sync::Arc;

use futures_util::FutureExt as _;
use rmpv::Value as Mp;
use switchboard_adapter::{
    AckEvent, Adapter as _, BroadcastOptions, MissedPackets, Offset, Room, append_offset,
    is_recoverable,
};
use switchboard_proto::socket::{Packet, PacketData};
use tokio::sync::mpsc;

use crate::incoming::socket_json;
use crate::protocol::{cluster_packet, event_packet, opts_from_mp, room_list};
use crate::sharded::mt;
use crate::sharded_in::first_arg;
use crate::streams::{ADAPTER_CLOSE, HEARTBEAT, INITIAL_HEARTBEAT, Streams};
use crate::value::{get, json_to_mp, map};

/// Entries read per `XRANGE` while replaying.
const RANGE_BATCH: usize = 1000;

fn str_of<'a>(value: &'a Mp, key: &str) -> Option<&'a str> {
    get(value, key).and_then(Mp::as_str)
}

/// Whether an offset has the shape of a stream id (`<ms>-<seq>`).
pub(crate) fn is_stream_id(offset: &str) -> bool {
    offset.split_once('-').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && a.bytes().all(|c| c.is_ascii_digit())
            && b.bytes().all(|c| c.is_ascii_digit())
    })
}

/// Whether a socket in `rooms` was a target of `opts` (Node's `shouldIncludePacket`).
fn reaches(rooms: &[Room], opts: &BroadcastOptions) -> bool {
    let included = opts.rooms.is_empty() || rooms.iter().any(|r| opts.rooms.contains(r));
    included && !rooms.iter().any(|r| opts.except.contains(r))
}

impl Streams {
    /// Delivers `packet` to the local sockets matching `opts`, with `offset` when given.
    pub(crate) fn deliver_local(
        &self,
        packet: &Packet,
        opts: &BroadcastOptions,
        offset: Option<&Offset>,
    ) {
        let Some(ns) = self.ns.upgrade() else { return };
        let sockets = self.local.local_sockets(opts);
        if sockets.is_empty() {
            return;
        }
        let messages = ns.encode(packet);
        // Through each socket's handle, the one way an adapter reaches a socket; a socket
        // that left meanwhile has none and is skipped.
        for socket in &sockets {
            if let Some(handle) = ns.local_socket(socket) {
                handle.deliver(packet, &messages, &opts.flags, offset);
            }
        }
    }

    /// Whether a broadcast gets an offset here: recovery is on and the packet is recoverable.
    pub(crate) fn logs(&self, packet: &Packet, opts: &BroadcastOptions) -> bool {
        is_recoverable(packet, &opts.flags)
            && self.ns.upgrade().is_some_and(|ns| ns.recovery().is_some())
    }

    /// Handles one entry of this namespace; bad input is counted and dropped.
    pub(crate) fn on_message(self: &Arc<Self>, from: &str, kind: u64, data: &Mp, offset: &str) {
        if from == self.uid {
            return;
        }
        let Some(nsp) = self.setup() else { return };
        self.seen(from);
        match kind {
            INITIAL_HEARTBEAT => return self.write(nsp, HEARTBEAT, None, None),
            HEARTBEAT => return,
            ADAPTER_CLOSE => return self.remove_node(from),
            mt::FETCH_SOCKETS_RESPONSE
            | mt::SERVER_SIDE_EMIT_RESPONSE
            | mt::BROADCAST_CLIENT_COUNT
            | mt::BROADCAST_ACK => {
                let answer =
                    str_of(data, "requestId").and_then(|id| self.pending().get(id).cloned());
                if let Some(tx) = answer {
                    let envelope = map(vec![
                        ("type", Mp::from(kind)),
                        ("data", data.clone()),
                        ("uid", Mp::from(from)),
                    ]);
                    // The request may have just ended; then the answer is late and dropped.
                    let _ = tx.send(envelope);
                }
                return;
            }
            _ => {}
        }
        let opts = opts_from_mp(get(data, "opts"));
        let request_id = str_of(data, "requestId").map(str::to_owned);
        match (kind, opts) {
            (mt::BROADCAST, Some(mut opts)) => {
                let Some(mut packet) = get(data, "packet").and_then(|p| cluster_packet(p, nsp))
                else {
                    return self.hub.stats.ignore("malformed broadcast", offset);
                };
                opts.flags.local = true;
                match request_id {
                    None => {
                        let offset = Offset::new(offset);
                        if self.logs(&packet, &opts) {
                            append_offset(&mut packet, &offset);
                            self.deliver_local(&packet, &opts, Some(&offset));
                        } else {
                            self.deliver_local(&packet, &opts, None);
                        }
                    }
                    Some(id) => self.relay_acks(nsp, packet, opts, id),
                }
            }
            (mt::SOCKETS_JOIN | mt::SOCKETS_LEAVE, Some(opts)) => {
                let Some(rooms) = room_list(get(data, "rooms")) else {
                    return self.hub.stats.ignore("malformed room list", offset);
                };
                if kind == mt::SOCKETS_JOIN {
                    let _ = self.local.add_sockets(opts, rooms).now_or_never();
                } else {
                    let _ = self.local.del_sockets(opts, rooms).now_or_never();
                }
            }
            (mt::DISCONNECT_SOCKETS, Some(opts)) => {
                let close = get(data, "close").and_then(Mp::as_bool).unwrap_or(false);
                let _ = self.local.disconnect_sockets(opts, close).now_or_never();
            }
            (mt::FETCH_SOCKETS, Some(opts)) => {
                let ns = self.ns.upgrade();
                let sockets: Vec<Mp> = self
                    .local
                    .local_sockets(&opts)
                    .iter()
                    .filter_map(|id| ns.as_ref().and_then(|ns| ns.socket_info(id)))
                    .map(|info| json_to_mp(&socket_json(&info), &[]))
                    .collect();
                let id = Mp::from(request_id.unwrap_or_default());
                let data = map(vec![("requestId", id), ("sockets", Mp::Array(sockets))]);
                self.write(nsp, mt::FETCH_SOCKETS_RESPONSE, Some(&data), None);
            }
            (mt::SERVER_SIDE_EMIT, _) => {
                let Some(ns) = self.ns.upgrade() else { return };
                let Some(Packet { data: PacketData::Event { event, payload, .. }, .. }) =
                    get(data, "packet").and_then(|p| event_packet(nsp, p))
                else {
                    return self.hub.stats.ignore("malformed server-side emit", offset);
                };
                let Some(id) = request_id else {
                    return ns.on_server_side_emit(event, payload, None);
                };
                // Unbounded: the listener answers at most once.
                let (tx, mut rx) = mpsc::unbounded_channel();
                ns.on_server_side_emit(event, payload, Some(tx));
                let (inner, timeout) = (self.clone(), self.hub.options.requests_timeout);
                // Waits for the local listener's answer, at most the requests timeout.
                tokio::spawn(async move {
                    let answer = tokio::time::timeout(timeout, async {
                        while let Some(event) = rx.recv().await {
                            if let AckEvent::Response { payload, .. } = event {
                                return Some(payload);
                            }
                        }
                        None
                    });
                    if let (Ok(Some(payload)), Some(nsp)) = (answer.await, inner.setup()) {
                        let data =
                            map(vec![("requestId", Mp::from(id)), ("packet", first_arg(&payload))]);
                        inner.write(nsp, mt::SERVER_SIDE_EMIT_RESPONSE, Some(&data), None);
                    }
                });
            }
            (
                mt::BROADCAST
                | mt::SOCKETS_JOIN
                | mt::SOCKETS_LEAVE
                | mt::DISCONNECT_SOCKETS
                | mt::FETCH_SOCKETS,
                None,
            ) => self.hub.stats.ignore("malformed options", offset),
            _ => self.hub.stats.ignore("unknown message type", offset),
        }
    }

    /// A broadcast with acks from another node: deliver here, answer with the count, then
    /// each socket's answer, until all answered or the timeout.
    fn relay_acks(self: &Arc<Self>, nsp: &str, packet: Packet, opts: BroadcastOptions, id: String) {
        let timeout = opts.flags.timeout.unwrap_or(self.hub.options.requests_timeout);
        // Unbounded: one count plus one answer per reached socket.
        let (tx, mut rx) = mpsc::unbounded_channel();
        let _ = self.local.broadcast_with_ack(packet, opts, tx).now_or_never();
        let (inner, nsp) = (self.clone(), nsp.to_owned());
        // Relays this node's count and answers to the requester, through the stream.
        tokio::spawn(async move {
            let relay = async {
                let (mut expected, mut answered) = (None, 0);
                let mut early = Vec::new();
                let ack = |payload: &switchboard_proto::socket::Payload| {
                    let data = map(vec![
                        ("requestId", Mp::from(id.as_str())),
                        ("packet", first_arg(payload)),
                    ]);
                    inner.write(&nsp, mt::BROADCAST_ACK, Some(&data), None);
                };
                while expected.is_none_or(|n| answered < n) {
                    match rx.recv().await {
                        Some(AckEvent::Expected(n)) => {
                            let count = u64::try_from(n).unwrap_or(u64::MAX);
                            let data = map(vec![
                                ("requestId", Mp::from(id.as_str())),
                                ("clientCount", Mp::from(count)),
                            ]);
                            inner.write(&nsp, mt::BROADCAST_CLIENT_COUNT, Some(&data), None);
                            expected = Some(n);
                            for payload in early.drain(..) {
                                ack(&payload);
                            }
                        }
                        Some(AckEvent::Response { payload, .. }) => {
                            answered += 1;
                            match expected {
                                Some(_) => ack(&payload),
                                None => early.push(payload),
                            }
                        }
                        Some(_) => {}
                        None => return,
                    }
                }
            };
            let _ = tokio::time::timeout(timeout, relay).await;
        });
    }

    /// The broadcasts of this namespace after `after` that a socket in `rooms` would have
    /// received, with their stream ids; `None` when `after` is not a stream id or no longer in
    /// the stream.
    pub(crate) async fn missed(
        &self,
        nsp: &str,
        after: &Offset,
        rooms: &[Room],
    ) -> Result<Option<MissedPackets>, crate::driver::DriverError> {
        if !is_stream_id(after.as_str()) {
            return Ok(None);
        }
        let (driver, options) = (&self.hub.driver, &self.hub.options);
        let stream = options.stream_name.clone();
        let here = driver.xrange(stream.clone(), after.to_string(), after.to_string(), 1).await?;
        let Some(first) = here.first() else { return Ok(None) };
        let mut missed = Vec::new();
        let mut from = after.clone();
        // An entry added again after a lost reply is replayed once, and not at all when its
        // first copy is the offset itself.
        let mut dedup = crate::streams_wire::Dedup::default();
        dedup.fresh(first);
        // Bounded: the stream holds about `max_len` entries, unless writers outpace the replay.
        let rounds = options.max_len / RANGE_BATCH + 10;
        for _ in 0..rounds {
            let Some((ms, seq)) = from.key() else { break };
            let start = match seq.checked_add(1) {
                Some(seq) => format!("{ms}-{seq}"),
                None => format!("{}-0", ms.saturating_add(1)),
            };
            let entries = driver.xrange(stream.clone(), start, "+".to_owned(), RANGE_BATCH).await?;
            for entry in &entries {
                from = Offset::new(entry.id.as_str());
                if !dedup.fresh(entry) {
                    continue;
                }
                if let Some(packet) = self.replayable(nsp, entry, rooms) {
                    missed.push((from.clone(), packet));
                }
            }
            if entries.len() < RANGE_BATCH {
                break;
            }
        }
        Ok(Some(missed))
    }

    /// A stream entry as a packet to replay to a socket in `rooms`, if it is one.
    fn replayable(
        &self,
        nsp: &str,
        entry: &crate::driver::StreamEntry,
        rooms: &[Room],
    ) -> Option<Packet> {
        let field = |k| entry.field(k).map(|v| v.as_ref());
        if field("nsp") != Some(nsp.as_bytes()) || field("type") != Some(b"3") {
            return None;
        }
        let data = crate::streams_wire::decode_data(field("data")?)?;
        if get(&data, "requestId").is_some() {
            return None;
        }
        let opts = opts_from_mp(get(&data, "opts"))?;
        let mut packet = cluster_packet(get(&data, "packet")?, nsp)?;
        if !is_recoverable(&packet, &opts.flags) || !reaches(rooms, &opts) {
            return None;
        }
        append_offset(&mut packet, &Offset::new(entry.id.as_str()));
        Some(packet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_must_look_like_stream_ids() {
        assert!(is_stream_id("1719741600000-0") && is_stream_id("0-12"));
        for bad in ["", "12", "-1", "1-", "a-1", "1-2-3", "1 -2"] {
            assert!(!is_stream_id(bad), "{bad}");
        }
        let opts = BroadcastOptions::new().to("r1").except("x");
        assert!(reaches(&[Room::from("r1")], &opts));
        assert!(!reaches(&[Room::from("r1"), Room::from("x")], &opts));
        assert!(!reaches(&[Room::from("r2")], &opts));
        assert!(reaches(&[Room::from("r2")], &BroadcastOptions::new()));
    }
}
