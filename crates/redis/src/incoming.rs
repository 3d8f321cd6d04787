//! What a node does with the messages of other nodes: broadcasts, requests and responses.

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;
use rmpv::Value as Mp;
use serde_json::{Value, json};
use switchboard_adapter::{AckEvent, Adapter as _, BroadcastOptions, Room, SocketId, SocketInfo};
use tokio::sync::mpsc;

use crate::adapter::{Inner, Setup};
use crate::driver::Incoming;
use crate::protocol::{event_packet, kind, opts_from_mp, packet_from_mp, room_list};
use crate::value::{self, Binary, get, map, mp_to_json};

/// A socket snapshot as Node sends it in `fetchSockets` replies.
pub(crate) fn socket_json(info: &SocketInfo) -> Value {
    let rooms: Vec<&str> = info.rooms.iter().map(Room::as_str).collect();
    let data = if info.data.is_null() { json!({}) } else { info.data.clone() };
    json!({"id": info.id.as_str(), "handshake": info.handshake, "rooms": rooms, "data": data})
}

/// A socket snapshot from a `fetchSockets` reply.
pub(crate) fn socket_from_mp(value: &Mp) -> Option<SocketInfo> {
    let id = get(value, "id")?.as_str()?;
    let json = |key| get(value, key).map(|v| mp_to_json(v, Binary::BufferJson, &mut Vec::new()));
    let rooms = room_list(get(value, "rooms")).unwrap_or_default();
    Some(SocketInfo::new(
        SocketId::from(id),
        json("handshake").unwrap_or(Value::Null),
        rooms,
        json("data").unwrap_or(Value::Null),
    ))
}

fn str_of<'a>(value: &'a Mp, key: &str) -> Option<&'a str> {
    get(value, key).and_then(Mp::as_str)
}

impl Inner {
    /// Handles one message from Redis; bad input is counted and dropped.
    pub(crate) fn on_message(self: &Arc<Self>, message: &Incoming) {
        let Some(setup) = self.setup() else { return };
        let channel = message.channel.as_str();
        if channel == setup.channels.request {
            self.on_request(setup, message);
        } else if channel == setup.channels.response || channel == setup.channels.specific {
            match value::decode(&message.payload) {
                Some(response) => self.on_response(&response),
                None => self.stats.ignore("undecodable response", channel),
            }
        } else if let Some(rest) = channel.strip_prefix(setup.channels.base.as_str()) {
            self.on_broadcast(setup, channel, rest, &message.payload);
        }
    }

    fn on_broadcast(&self, setup: &Setup, channel: &str, room: &str, payload: &[u8]) {
        let Some(room) = room.strip_suffix('#').or(room.is_empty().then_some("")) else {
            return self.stats.ignore("bad broadcast channel", channel);
        };
        if !room.is_empty()
            && self.local.local_sockets(&BroadcastOptions::new().to(room)).is_empty()
        {
            // Nobody here is in that room: no need to decode.
            return;
        }
        let Some(Mp::Array(parts)) = value::decode_msgpack(payload) else {
            return self.stats.ignore("broadcast is not a msgpack array", channel);
        };
        let [uid, packet, opts] = parts.as_slice() else {
            return self.stats.ignore("broadcast is not [uid, packet, opts]", channel);
        };
        if uid.as_str() == Some(self.uid.as_str()) {
            return;
        }
        let nsp = str_of(packet, "nsp").unwrap_or("/");
        if nsp != setup.nsp {
            return;
        }
        let (Some(packet), Some(mut opts)) =
            (packet_from_mp(packet, &setup.nsp), opts_from_mp(Some(opts)))
        else {
            return self.stats.ignore("malformed broadcast", channel);
        };
        opts.flags.local = true;
        // The memory adapter delivers before its future is first polled.
        let _ = self.local.broadcast(packet, opts).now_or_never();
    }

    fn on_request(self: &Arc<Self>, setup: &Setup, message: &Incoming) {
        let channel = message.channel.as_str();
        let Some(request) = value::decode(&message.payload) else {
            return self.stats.ignore("undecodable request", channel);
        };
        let Some(kind) = get(&request, "type").and_then(Mp::as_u64) else {
            return self.stats.ignore("request without a type", channel);
        };
        let own = str_of(&request, "uid") == Some(self.uid.as_str());
        let request_id = str_of(&request, "requestId").map(str::to_owned);
        let mine = request_id.as_ref().is_some_and(|id| self.pending().contains_key(id));
        let reply_to =
            match (self.options.publish_on_specific_response_channel, str_of(&request, "uid")) {
                (true, Some(uid)) => format!("{}{uid}#", setup.channels.response),
                _ => setup.channels.response.clone(),
            };
        let reply = |body: Value| {
            if let Err(e) = self.publish_json(reply_to.clone(), &body) {
                tracing::debug!(error = %e, "reply not sent");
            }
        };
        match kind {
            kind::SOCKETS | kind::ALL_ROOMS | kind::REMOTE_FETCH if own || mine => {}
            kind::SOCKETS => {
                let mut opts = BroadcastOptions::new();
                opts.rooms =
                    room_list(get(&request, "rooms")).unwrap_or_default().into_iter().collect();
                let ids: Vec<String> =
                    self.local.local_sockets(&opts).iter().map(|s| s.as_str().to_owned()).collect();
                reply(json!({"requestId": request_id, "sockets": ids}));
            }
            kind::ALL_ROOMS => {
                let rooms =
                    self.local.rooms().now_or_never().and_then(Result::ok).unwrap_or_default();
                let rooms: Vec<&str> = rooms.iter().map(Room::as_str).collect();
                reply(json!({"requestId": request_id, "rooms": rooms}));
            }
            kind::REMOTE_FETCH => {
                let Some(opts) = opts_from_mp(get(&request, "opts")) else {
                    return self.stats.ignore("malformed fetch request", channel);
                };
                let ns = self.ns.upgrade();
                let sockets: Vec<Value> = self
                    .local
                    .local_sockets(&opts)
                    .iter()
                    .filter_map(|id| ns.as_ref().and_then(|ns| ns.socket_info(id)))
                    .map(|info| socket_json(&info))
                    .collect();
                reply(json!({"requestId": request_id, "sockets": sockets}));
            }
            kind::REMOTE_JOIN | kind::REMOTE_LEAVE | kind::REMOTE_DISCONNECT if own => {}
            kind::REMOTE_JOIN | kind::REMOTE_LEAVE | kind::REMOTE_DISCONNECT => {
                self.apply_utility(kind, &request, channel, request_id.map(|_| reply));
            }
            kind::SERVER_SIDE_EMIT if own => {}
            kind::SERVER_SIDE_EMIT => {
                self.on_server_side_emit(setup, &request, request_id, channel)
            }
            kind::BROADCAST if own || mine => {}
            kind::BROADCAST => self.on_broadcast_with_ack(setup, &request, request_id, reply_to),
            _ => self.stats.ignore("unknown request type", channel),
        }
    }

    /// Join, leave and disconnect requests, in both the current (`opts`) and the legacy
    /// (`sid`) forms; the legacy form gets an empty reply.
    fn apply_utility(&self, kind: u64, request: &Mp, channel: &str, reply: Option<impl Fn(Value)>) {
        let legacy_sid = str_of(request, "sid").map(SocketId::from);
        let opts = match (&legacy_sid, get(request, "opts")) {
            (Some(sid), None) => Some(BroadcastOptions::new().to(sid.as_str())),
            (_, opts) => opts_from_mp(opts),
        };
        let Some(opts) = opts else { return self.stats.ignore("malformed targets", channel) };
        let rooms = match (&legacy_sid, kind) {
            (_, kind::REMOTE_DISCONNECT) => Vec::new(),
            (Some(_), _) => room_list(get(request, "room")).unwrap_or_default(),
            (None, _) => match room_list(get(request, "rooms")) {
                Some(rooms) => rooms,
                None => return self.stats.ignore("malformed room list", channel),
            },
        };
        // The memory adapter applies these before its futures are first polled.
        let _ = match kind {
            kind::REMOTE_JOIN => self.local.add_sockets(opts, rooms).now_or_never(),
            kind::REMOTE_LEAVE => self.local.del_sockets(opts, rooms).now_or_never(),
            _ => {
                let close = get(request, "close").and_then(Mp::as_bool).unwrap_or(false);
                self.local.disconnect_sockets(opts, close).now_or_never()
            }
        };
        if let (Some(reply), Some(id)) =
            (reply, legacy_sid.is_some().then(|| str_of(request, "requestId")).flatten())
        {
            reply(json!({"requestId": id}));
        }
    }

    fn on_server_side_emit(
        self: &Arc<Self>,
        setup: &Setup,
        request: &Mp,
        request_id: Option<String>,
        channel: &str,
    ) {
        let Some(ns) = self.ns.upgrade() else { return };
        let Some(packet) = get(request, "data").and_then(|d| event_packet(&setup.nsp, d)) else {
            return self.stats.ignore("malformed server-side emit", channel);
        };
        let switchboard_proto::socket::PacketData::Event { event, payload, .. } = packet.data
        else {
            return;
        };
        let Some(id) = request_id else {
            return ns.on_server_side_emit(event, payload, None);
        };
        // Unbounded: the listener answers at most once; this task reads the first answer.
        let (tx, mut rx) = mpsc::unbounded_channel();
        ns.on_server_side_emit(event, payload, Some(tx));
        let inner = self.clone();
        let to = setup.channels.response.clone();
        let timeout = self.options.requests_timeout;
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
            if let Ok(Some(payload)) = answer.await {
                let first =
                    value::payload_to_json(&payload).into_iter().next().unwrap_or(Value::Null);
                let body = json!({"type": kind::SERVER_SIDE_EMIT, "requestId": id, "data": first});
                if let Err(e) = inner.publish_json(to, &body) {
                    tracing::debug!(error = %e, "server-side emit answer not sent");
                }
            }
        });
    }

    /// A broadcast with ack from another node: deliver here, then send back the number of
    /// reached sockets once, and each socket's answer.
    fn on_broadcast_with_ack(
        self: &Arc<Self>,
        setup: &Setup,
        request: &Mp,
        request_id: Option<String>,
        reply_to: String,
    ) {
        let channel = setup.channels.request.as_str();
        let (Some(id), Some(packet), Some(mut opts)) = (
            request_id,
            get(request, "packet").and_then(|p| packet_from_mp(p, &setup.nsp)),
            opts_from_mp(get(request, "opts")),
        ) else {
            return self.stats.ignore("malformed broadcast with ack", channel);
        };
        opts.flags.local = true;
        let timeout = opts.flags.timeout.unwrap_or(self.options.requests_timeout);
        // Unbounded: one count plus one answer per reached socket.
        let (tx, mut rx) = mpsc::unbounded_channel();
        let _ = self.local.broadcast_with_ack(packet, opts, tx).now_or_never();
        let inner = self.clone();
        // Relays this node's count and answers to the requester until every reached
        // socket answered or the broadcast's timeout passed.
        tokio::spawn(async move {
            let relay = async {
                let mut early = Vec::new();
                let mut expected = None;
                let mut answered = 0;
                while expected.is_none_or(|n| answered < n) {
                    match rx.recv().await {
                        Some(AckEvent::Expected(n)) => {
                            let count = json!({"type": kind::BROADCAST_CLIENT_COUNT, "requestId": id, "clientCount": n});
                            let _ = inner.publish_json(reply_to.clone(), &count);
                            expected = Some(n);
                            for payload in early.drain(..) {
                                inner.send_ack(&reply_to, &id, &payload);
                            }
                        }
                        Some(AckEvent::Response { payload, .. }) => {
                            answered += 1;
                            match expected {
                                Some(_) => inner.send_ack(&reply_to, &id, &payload),
                                None => early.push(payload),
                            }
                        }
                        Some(_) => {}
                        None => return,
                    }
                }
            };
            let _ = tokio::time::timeout(timeout + Duration::from_millis(100), relay).await;
        });
    }

    fn send_ack(&self, to: &str, id: &str, payload: &switchboard_proto::socket::Payload) {
        let first = value::payload_to_mp(payload).into_iter().next().unwrap_or(Mp::Nil);
        let body = map(vec![
            ("type", Mp::from(kind::BROADCAST_ACK)),
            ("requestId", Mp::from(id)),
            ("packet", first),
        ]);
        if let Err(e) = self.publish_mp(to.to_owned(), &body) {
            tracing::debug!(error = %e, "ack not relayed");
        }
    }

    fn on_response(&self, response: &Mp) {
        let Some(id) = str_of(response, "requestId") else { return };
        let pending = self.pending();
        if let Some(tx) = pending.get(id) {
            // The request may have just ended; then the answer is late and dropped.
            let _ = tx.send(response.clone());
        }
    }
}
