//! The [`Adapter`] implementation of [`RedisAdapter`]: local work through the memory adapter,
//! the rest published to the other nodes.

use std::collections::BTreeSet;

use rmpv::Value as Mp;
use serde_json::{Value, json};
use switchboard_adapter::{
    AckEvent, AckSender, Adapter, AdapterError, BoxFuture, BroadcastOptions, MissedPackets, Offset,
    Room, ServerAckSender, Session, SocketId, SocketInfo,
};
use switchboard_proto::socket::{EventName, Packet, Payload};
use tokio::sync::mpsc;

use crate::acks;
use crate::adapter::{RedisAdapter, RedisAdapterError};
use crate::incoming::socket_from_mp;
use crate::protocol::{kind, opts_to_mp, packet_to_mp, room_list, uid};
use crate::value::{self, get, map};

fn rooms_json(opts: &BroadcastOptions) -> Value {
    let list = |set: &std::collections::HashSet<Room>| -> Vec<String> {
        set.iter().map(|r| r.as_str().to_owned()).collect()
    };
    json!({"rooms": list(&opts.rooms), "except": list(&opts.except)})
}

impl RedisAdapter {
    /// Sends a request to the other nodes and collects up to `expected` answers within the
    /// requests timeout: `Err(missing)` with what arrived when some are missing.
    async fn ask(&self, id: &str, body: &Value, expected: usize) -> (Vec<Mp>, usize) {
        let inner = &self.inner;
        let mut rx = inner.expect(id);
        let mut answers = Vec::new();
        let sent = inner.ready().map_err(|_| ()).and_then(|setup| {
            inner.publish_json(setup.channels.request.clone(), body).map_err(|_| ())
        });
        if sent.is_ok() {
            let collect = async {
                while answers.len() < expected {
                    match rx.recv().await {
                        Some(answer) => answers.push(answer),
                        None => break,
                    }
                }
            };
            let _ = tokio::time::timeout(inner.options.requests_timeout, collect).await;
        }
        inner.forget(id);
        let missing = expected.saturating_sub(answers.len());
        (answers, missing)
    }

    /// Publishes a join/leave/disconnect request and applies it here.
    fn utility(&self, body: Value) -> Result<(), AdapterError> {
        let setup = self.inner.ready()?;
        self.inner
            .publish_json(setup.channels.request.clone(), &body)
            .map_err(RedisAdapterError::from)?;
        Ok(())
    }
}

impl Adapter for RedisAdapter {
    fn add_all(&self, socket: &SocketId, rooms: &[Room]) {
        // A node with sockets is subscribed, whatever happened at start.
        let _ = self.inner.setup();
        self.inner.local.add_all(socket, rooms);
    }

    fn del(&self, socket: &SocketId, room: &Room) {
        self.inner.local.del(socket, room);
    }

    fn del_all(&self, socket: &SocketId) {
        self.inner.local.del_all(socket);
    }

    fn socket_rooms(&self, socket: &SocketId) -> Option<Vec<Room>> {
        self.inner.local.socket_rooms(socket)
    }

    fn local_sockets(&self, opts: &BroadcastOptions) -> Vec<SocketId> {
        self.inner.local.local_sockets(opts)
    }

    fn rooms(&self) -> BoxFuture<'_, Result<Vec<Room>, AdapterError>> {
        Box::pin(async move {
            let mut all: BTreeSet<Room> = self.inner.local.rooms().await?.into_iter().collect();
            let setup = self.inner.ready()?;
            let count = self.inner.count(setup).await?;
            if count > 1 {
                let id = uid();
                let body = json!({"uid": self.inner.uid, "requestId": id, "type": kind::ALL_ROOMS});
                let (answers, missing) = self.ask(&id, &body, count - 1).await;
                if missing > 0 {
                    return Err(RedisAdapterError::Timeout { request: "rooms", missing }.into());
                }
                for answer in &answers {
                    all.extend(room_list(get(answer, "rooms")).unwrap_or_default());
                }
            }
            Ok(all.into_iter().collect())
        })
    }

    fn broadcast(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        let mut published = Ok(());
        if !opts.flags.local {
            match (self.inner.ready(), packet_to_mp(&packet)) {
                (Ok(setup), Some(wire)) => {
                    let message =
                        Mp::Array(vec![Mp::from(self.inner.uid.as_str()), wire, opts_to_mp(&opts)]);
                    published = self
                        .inner
                        .publish_mp(setup.channels.broadcast(&opts), &message)
                        .map_err(|e| AdapterError::from(RedisAdapterError::from(e)));
                }
                (Err(e), _) => published = Err(e),
                (Ok(_), None) => {}
            }
        }
        let local = self.inner.local.broadcast(packet, opts);
        Box::pin(async move {
            local.await?;
            published
        })
    }

    fn broadcast_with_ack(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
        responses: AckSender,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        Box::pin(async move {
            if opts.flags.local {
                return self.inner.local.broadcast_with_ack(packet, opts, responses).await;
            }
            let setup = self.inner.ready()?;
            let id = uid();
            let remote = self.inner.expect(&id);
            let wire = packet_to_mp(&packet).unwrap_or(Mp::Nil);
            let request = map(vec![
                ("uid", Mp::from(self.inner.uid.as_str())),
                ("requestId", Mp::from(id.as_str())),
                ("type", Mp::from(kind::BROADCAST)),
                ("packet", wire),
                ("opts", opts_to_mp(&opts)),
            ]);
            let published = self.inner.publish_mp(setup.channels.request.clone(), &request);
            let timeout = opts.flags.timeout.unwrap_or(self.inner.options.requests_timeout);
            // Unbounded: the local count plus one answer per local socket.
            let (local_tx, local_rx) = mpsc::unbounded_channel();
            let local = self.inner.local.broadcast_with_ack(packet, opts, local_tx).await;
            let servers = match published {
                Ok(()) => self.inner.count(setup).await.unwrap_or(1),
                Err(_) => 1,
            };
            let inner = self.inner.clone();
            // Merges this node's and the other nodes' counts and answers: answers go on at
            // once, the total count once every node sent its own; ends when all answered or
            // at the timeout.
            tokio::spawn(async move {
                let relay = acks::relay(servers, local_rx, remote, responses, remote_event);
                let _ = tokio::time::timeout(timeout, relay).await;
                inner.forget(&id);
            });
            local
        })
    }

    fn fetch_sockets(
        &self,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<Vec<SocketInfo>, AdapterError>> {
        Box::pin(async move {
            let mut sockets = self.inner.local.fetch_sockets(opts.clone()).await?;
            if opts.flags.local {
                return Ok(sockets);
            }
            let setup = self.inner.ready()?;
            let count = self.inner.count(setup).await?;
            if count > 1 {
                let id = uid();
                let body = json!({"uid": self.inner.uid, "requestId": id, "type": kind::REMOTE_FETCH, "opts": rooms_json(&opts)});
                let (answers, missing) = self.ask(&id, &body, count - 1).await;
                if missing > 0 {
                    return Err(
                        RedisAdapterError::Timeout { request: "fetch_sockets", missing }.into()
                    );
                }
                for answer in &answers {
                    if let Some(Mp::Array(list)) = get(answer, "sockets") {
                        sockets.extend(list.iter().filter_map(socket_from_mp));
                    }
                }
            }
            Ok(sockets)
        })
    }

    fn add_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<Room>,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        let names: Vec<&str> = rooms.iter().map(Room::as_str).collect();
        let body = json!({"uid": self.inner.uid, "type": kind::REMOTE_JOIN, "opts": rooms_json(&opts), "rooms": names});
        let sent = if opts.flags.local { Ok(()) } else { self.utility(body) };
        let local = self.inner.local.add_sockets(opts, rooms);
        Box::pin(async move {
            local.await?;
            sent
        })
    }

    fn del_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<Room>,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        let names: Vec<&str> = rooms.iter().map(Room::as_str).collect();
        let body = json!({"uid": self.inner.uid, "type": kind::REMOTE_LEAVE, "opts": rooms_json(&opts), "rooms": names});
        let sent = if opts.flags.local { Ok(()) } else { self.utility(body) };
        let local = self.inner.local.del_sockets(opts, rooms);
        Box::pin(async move {
            local.await?;
            sent
        })
    }

    fn disconnect_sockets(
        &self,
        opts: BroadcastOptions,
        close: bool,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        let body = json!({"uid": self.inner.uid, "type": kind::REMOTE_DISCONNECT, "opts": rooms_json(&opts), "close": close});
        let sent = if opts.flags.local { Ok(()) } else { self.utility(body) };
        let local = self.inner.local.disconnect_sockets(opts, close);
        Box::pin(async move {
            local.await?;
            sent
        })
    }

    fn server_side_emit(
        &self,
        event: EventName,
        payload: Payload,
        ack: Option<ServerAckSender>,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        Box::pin(async move {
            let setup = self.inner.ready()?;
            let mut data = vec![Value::String(event.as_str().to_owned())];
            data.extend(value::payload_to_json(&payload));
            let Some(ack) = ack else {
                let body =
                    json!({"uid": self.inner.uid, "type": kind::SERVER_SIDE_EMIT, "data": data});
                self.inner
                    .publish_json(setup.channels.request.clone(), &body)
                    .map_err(RedisAdapterError::from)?;
                return Ok(());
            };
            let others = match self.inner.count(setup).await {
                Ok(n) => n - 1,
                Err(e) => {
                    let _ = ack.send(AckEvent::Expected(0));
                    return Err(e.into());
                }
            };
            let _ = ack.send(AckEvent::Expected(others));
            if others == 0 {
                return Ok(());
            }
            let id = uid();
            let mut answers = self.inner.expect(&id);
            let body = json!({"uid": self.inner.uid, "requestId": id, "type": kind::SERVER_SIDE_EMIT, "data": data});
            if let Err(e) = self.inner.publish_json(setup.channels.request.clone(), &body) {
                self.inner.forget(&id);
                return Err(RedisAdapterError::from(e).into());
            }
            let inner = self.inner.clone();
            let timeout = self.inner.options.requests_timeout;
            // Forwards the other nodes' answers to `ack` until each answered or the timeout.
            tokio::spawn(async move {
                let forward = async {
                    for _ in 0..others {
                        let Some(answer) = answers.recv().await else { return };
                        let payload = value::mp_to_payload(&[get(&answer, "data")
                            .cloned()
                            .unwrap_or(Mp::Nil)]);
                        let from = SocketId::from("");
                        let _ = ack.send(AckEvent::Response { socket: from, payload });
                    }
                };
                let _ = tokio::time::timeout(timeout, forward).await;
                inner.forget(&id);
            });
            Ok(())
        })
    }

    fn server_count(&self) -> BoxFuture<'_, Result<usize, AdapterError>> {
        Box::pin(async move {
            let setup = self.inner.ready()?;
            Ok(self.inner.count(setup).await?)
        })
    }

    fn supports_recovery(&self) -> bool {
        self.inner.local.supports_recovery()
    }

    fn persist_session(&self, session: Session) -> BoxFuture<'_, Result<(), AdapterError>> {
        self.inner.local.persist_session(session)
    }

    fn take_session(&self, pid: &str) -> BoxFuture<'_, Result<Option<Session>, AdapterError>> {
        self.inner.local.take_session(pid)
    }

    fn missed_packets(
        &self,
        after: &Offset,
        rooms: &[Room],
    ) -> BoxFuture<'_, Result<Option<MissedPackets>, AdapterError>> {
        self.inner.local.missed_packets(after, rooms)
    }

    fn close(&self) -> BoxFuture<'_, Result<(), AdapterError>> {
        Box::pin(async { Ok(()) })
    }
}

/// A response to a broadcast with ack: a node's count (type 8) or a socket's answer (9).
fn remote_event(message: &Mp) -> Option<AckEvent> {
    match get(message, "type").and_then(Mp::as_u64)? {
        kind::BROADCAST_CLIENT_COUNT => {
            let n = get(message, "clientCount").and_then(Mp::as_u64)?;
            Some(AckEvent::Expected(usize::try_from(n).ok()?))
        }
        kind::BROADCAST_ACK => {
            let answer = get(message, "packet").cloned().unwrap_or(Mp::Nil);
            Some(AckEvent::Response {
                socket: SocketId::from(""),
                payload: value::mp_to_payload(&[answer]),
            })
        }
        _ => None,
    }
}
