//! What a sharded node does with the messages of other nodes.

use std::sync::Arc;

use futures_util::FutureExt as _;
use rmpv::Value as Mp;
use switchboard_adapter::{AckEvent, Adapter as _, AdapterError, BroadcastOptions};
use switchboard_proto::socket::{Packet, PacketData, Payload};
use tokio::sync::mpsc;

use crate::adapter::RedisAdapterError;
use crate::driver::Incoming;
use crate::incoming::socket_json;
use crate::protocol::{cluster_packet, event_packet, opts_from_mp, room_list};
use crate::sharded::{SSetup, Sharded, mt};
use crate::value::{self, get, json_to_mp, map};

fn str_of<'a>(value: &'a Mp, key: &str) -> Option<&'a str> {
    get(value, key).and_then(Mp::as_str)
}

/// The first argument of an answer (Node's acks carry one).
pub(crate) fn first_arg(payload: &Payload) -> Mp {
    value::payload_to_mp(payload).into_iter().next().unwrap_or(Mp::Nil)
}

impl Sharded {
    /// Handles one message from Redis; bad input is counted and dropped.
    pub(crate) fn on_message(self: &Arc<Self>, message: &Incoming) {
        let Some(setup) = self.setup() else { return };
        let channel = message.channel.as_str();
        let Some(envelope) = value::decode(&message.payload) else {
            return self.stats.ignore("undecodable message", channel);
        };
        let (Some(kind), Some(data)) =
            (get(&envelope, "type").and_then(Mp::as_u64), get(&envelope, "data"))
        else {
            return self.stats.ignore("message without type or data", channel);
        };
        let from = str_of(&envelope, "uid").unwrap_or_default().to_owned();
        if channel == setup.response
            || matches!(
                kind,
                mt::FETCH_SOCKETS_RESPONSE
                    | mt::SERVER_SIDE_EMIT_RESPONSE
                    | mt::BROADCAST_CLIENT_COUNT
                    | mt::BROADCAST_ACK
            )
        {
            if let Some(tx) =
                str_of(data, "requestId").and_then(|id| self.pending().get(id).cloned())
            {
                // The request may have just ended; then the answer is late and dropped.
                let _ = tx.send(envelope.clone());
            }
            return;
        }
        if from == self.uid || str_of(&envelope, "nsp") != Some(setup.nsp.as_str()) {
            return;
        }
        let reply_to = format!("{}{from}#", setup.channel);
        let reply = |kind: u64, data: Mp| {
            if let Err(e) = self.publish(reply_to.clone(), setup, kind, data) {
                tracing::debug!(error = %e, "answer not sent");
            }
        };
        let opts = opts_from_mp(get(data, "opts"));
        let request_id = str_of(data, "requestId").map(str::to_owned);
        match (kind, opts) {
            (mt::BROADCAST, Some(mut opts)) => {
                let Some(packet) = get(data, "packet").and_then(|p| cluster_packet(p, &setup.nsp))
                else {
                    return self.stats.ignore("malformed broadcast", channel);
                };
                opts.flags.local = true;
                match request_id {
                    None => {
                        // The memory adapter delivers before its future is first polled.
                        let _ = self.local.broadcast(packet, opts).now_or_never();
                    }
                    Some(id) => self.relay_acks(packet, opts, id, reply_to),
                }
            }
            (mt::SOCKETS_JOIN | mt::SOCKETS_LEAVE, Some(opts)) => {
                let Some(rooms) = room_list(get(data, "rooms")) else {
                    return self.stats.ignore("malformed room list", channel);
                };
                if kind == mt::SOCKETS_JOIN {
                    let _ = self.local.add_sockets(opts, rooms.clone()).now_or_never();
                    self.rooms_created(&rooms);
                } else {
                    let _ = self.local.del_sockets(opts, rooms.clone()).now_or_never();
                    self.rooms_maybe_deleted(&rooms);
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
                reply(
                    mt::FETCH_SOCKETS_RESPONSE,
                    map(vec![("requestId", id), ("sockets", Mp::Array(sockets))]),
                );
            }
            (mt::SERVER_SIDE_EMIT, _) => {
                let Some(ns) = self.ns.upgrade() else { return };
                let Some(Packet { data: PacketData::Event { event, payload, .. }, .. }) =
                    get(data, "packet").and_then(|p| event_packet(&setup.nsp, p))
                else {
                    return self.stats.ignore("malformed server-side emit", channel);
                };
                let Some(id) = request_id else {
                    return ns.on_server_side_emit(event, payload, None);
                };
                // Unbounded: the listener answers at most once.
                let (tx, mut rx) = mpsc::unbounded_channel();
                ns.on_server_side_emit(event, payload, Some(tx));
                let (inner, timeout) = (self.clone(), self.options.requests_timeout);
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
                    if let (Ok(Some(payload)), Some(setup)) = (answer.await, inner.setup()) {
                        let data =
                            map(vec![("requestId", Mp::from(id)), ("packet", first_arg(&payload))]);
                        let _ = inner.publish(reply_to, setup, mt::SERVER_SIDE_EMIT_RESPONSE, data);
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
            ) => {
                self.stats.ignore("malformed options", channel);
            }
            // Heartbeats and ADAPTER_CLOSE of heartbeat-based adapters mean nothing here.
            (1 | 2 | 13, _) => {}
            _ => self.stats.ignore("unknown message type", channel),
        }
    }

    /// A broadcast with acks from another node: deliver here, answer with the count, then
    /// each socket's answer, until all answered or the timeout.
    fn relay_acks(
        self: &Arc<Self>,
        packet: Packet,
        opts: BroadcastOptions,
        id: String,
        to: String,
    ) {
        let timeout = opts.flags.timeout.unwrap_or(self.options.requests_timeout);
        // Unbounded: one count plus one answer per reached socket.
        let (tx, mut rx) = mpsc::unbounded_channel();
        let _ = self.local.broadcast_with_ack(packet, opts, tx).now_or_never();
        let inner = self.clone();
        // Relays this node's count and answers to the requester.
        tokio::spawn(async move {
            let relay = async {
                let Some(setup) = inner.setup() else { return };
                let (mut early, mut expected, mut answered) = (Vec::new(), None, 0);
                let send = |kind, data| {
                    let _ = inner.publish(to.clone(), setup, kind, data);
                };
                let ack = |payload: &Payload| {
                    map(vec![("requestId", Mp::from(id.as_str())), ("packet", first_arg(payload))])
                };
                while expected.is_none_or(|n| answered < n) {
                    match rx.recv().await {
                        Some(AckEvent::Expected(n)) => {
                            let count = u64::try_from(n).unwrap_or(u64::MAX);
                            send(
                                mt::BROADCAST_CLIENT_COUNT,
                                map(vec![
                                    ("requestId", Mp::from(id.as_str())),
                                    ("clientCount", Mp::from(count)),
                                ]),
                            );
                            expected = Some(n);
                            for payload in early.drain(..) {
                                send(mt::BROADCAST_ACK, ack(&payload));
                            }
                        }
                        Some(AckEvent::Response { payload, .. }) => {
                            answered += 1;
                            match expected {
                                Some(_) => send(mt::BROADCAST_ACK, ack(&payload)),
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

    pub(crate) fn publish_op(
        &self,
        setup: &SSetup,
        kind: u64,
        data: Mp,
    ) -> Result<(), AdapterError> {
        self.publish(setup.channel.clone(), setup, kind, data)
            .map_err(|e| RedisAdapterError::from(e).into())
    }
}
