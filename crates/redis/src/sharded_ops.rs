//! The [`Adapter`] implementation of [`ShardedAdapter`].

use rmpv::Value as Mp;
use switchboard_adapter::{
    AckEvent, AckSender, Adapter, AdapterError, BoxFuture, BroadcastOptions, MissedPackets, Offset,
    Room, ServerAckSender, Session, SocketId, SocketInfo,
};
use switchboard_proto::socket::{EventName, Packet, Payload};
use tokio::sync::mpsc;

use crate::acks;
use crate::adapter::RedisAdapterError;
use crate::incoming::socket_from_mp;
use crate::protocol::{opts_to_mp, packet_to_mp};
use crate::sharded::{ShardedAdapter, mt, random_id};
use crate::value::{self, get, map};

fn rooms_mp(rooms: &[Room]) -> Mp {
    Mp::Array(rooms.iter().map(|r| Mp::from(r.as_str())).collect())
}

/// A count (11) or an answer (12) of a broadcast with acks.
fn remote_event(message: &Mp) -> Option<AckEvent> {
    let data = get(message, "data")?;
    match get(message, "type").and_then(Mp::as_u64)? {
        mt::BROADCAST_CLIENT_COUNT => {
            let n = get(data, "clientCount").and_then(Mp::as_u64)?;
            Some(AckEvent::Expected(usize::try_from(n).ok()?))
        }
        mt::BROADCAST_ACK => {
            let answer = get(data, "packet").cloned().unwrap_or(Mp::Nil);
            Some(AckEvent::Response {
                socket: SocketId::from(""),
                payload: value::mp_to_payload(&[answer]),
            })
        }
        _ => None,
    }
}

impl Adapter for ShardedAdapter {
    fn add_all(&self, socket: &SocketId, rooms: &[Room]) {
        self.inner.local.add_all(socket, rooms);
        self.inner.rooms_created(rooms);
    }

    fn del(&self, socket: &SocketId, room: &Room) {
        self.inner.local.del(socket, room);
        self.inner.rooms_maybe_deleted(std::slice::from_ref(room));
    }

    fn del_all(&self, socket: &SocketId) {
        let rooms = self.inner.local.socket_rooms(socket).unwrap_or_default();
        self.inner.local.del_all(socket);
        self.inner.rooms_maybe_deleted(&rooms);
    }

    fn socket_rooms(&self, socket: &SocketId) -> Option<Vec<Room>> {
        self.inner.local.socket_rooms(socket)
    }

    fn local_sockets(&self, opts: &BroadcastOptions) -> Vec<SocketId> {
        self.inner.local.local_sockets(opts)
    }

    fn rooms(&self) -> BoxFuture<'_, Result<Vec<Room>, AdapterError>> {
        // As Node's ClusterAdapter: the protocol has no all-rooms request.
        self.inner.local.rooms()
    }

    fn broadcast(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        let mut published = Ok(());
        if !opts.flags.local {
            published = self.inner.ready().and_then(|setup| {
                let Some(wire) = packet_to_mp(&packet) else { return Ok(()) };
                let data = map(vec![("packet", wire), ("opts", opts_to_mp(&opts))]);
                let channel = self.inner.broadcast_channel(setup, &opts, false);
                self.inner
                    .publish(channel, setup, mt::BROADCAST, data)
                    .map_err(|e| RedisAdapterError::from(e).into())
            });
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
            let id = random_id();
            let remote = self.inner.expect(&id);
            let data = map(vec![
                ("packet", packet_to_mp(&packet).unwrap_or(Mp::Nil)),
                ("requestId", Mp::from(id.as_str())),
                ("opts", opts_to_mp(&opts)),
            ]);
            let published = self.inner.publish_op(setup, mt::BROADCAST, data);
            let timeout = opts.flags.timeout.unwrap_or(self.inner.options.requests_timeout);
            // Unbounded: the local count plus one answer per local socket.
            let (local_tx, local_rx) = mpsc::unbounded_channel();
            let local = self.inner.local.broadcast_with_ack(packet, opts, local_tx).await;
            let servers = match published {
                Ok(()) => self.inner.count(setup).await.unwrap_or(1),
                Err(_) => 1,
            };
            let inner = self.inner.clone();
            // Merges the counts and answers of every node (see the pub/sub adapter).
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
            let expected = self.inner.count(setup).await? - 1;
            if expected == 0 {
                return Ok(sockets);
            }
            let id = random_id();
            let mut rx = self.inner.expect(&id);
            let data = map(vec![("opts", opts_to_mp(&opts)), ("requestId", Mp::from(id.as_str()))]);
            let published = self.inner.publish_op(setup, mt::FETCH_SOCKETS, data);
            let mut answers = 0;
            if published.is_ok() {
                let collect = async {
                    while answers < expected {
                        let Some(answer) = rx.recv().await else { break };
                        answers += 1;
                        if let Some(Mp::Array(list)) =
                            get(&answer, "data").and_then(|d| get(d, "sockets"))
                        {
                            sockets.extend(list.iter().filter_map(socket_from_mp));
                        }
                    }
                };
                let _ = tokio::time::timeout(self.inner.options.requests_timeout, collect).await;
            }
            self.inner.forget(&id);
            published?;
            if answers < expected {
                return Err(RedisAdapterError::Timeout {
                    request: "fetch_sockets",
                    missing: expected - answers,
                }
                .into());
            }
            Ok(sockets)
        })
    }

    fn add_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<Room>,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        let data = map(vec![("opts", opts_to_mp(&opts)), ("rooms", rooms_mp(&rooms))]);
        let sent = if opts.flags.local {
            Ok(())
        } else {
            self.inner.ready().and_then(|s| self.inner.publish_op(s, mt::SOCKETS_JOIN, data))
        };
        let local = self.inner.local.add_sockets(opts, rooms.clone());
        self.inner.rooms_created(&rooms);
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
        let data = map(vec![("opts", opts_to_mp(&opts)), ("rooms", rooms_mp(&rooms))]);
        let sent = if opts.flags.local {
            Ok(())
        } else {
            self.inner.ready().and_then(|s| self.inner.publish_op(s, mt::SOCKETS_LEAVE, data))
        };
        let local = self.inner.local.del_sockets(opts, rooms.clone());
        self.inner.rooms_maybe_deleted(&rooms);
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
        let data = map(vec![("opts", opts_to_mp(&opts)), ("close", Mp::Boolean(close))]);
        let sent = if opts.flags.local {
            Ok(())
        } else {
            self.inner.ready().and_then(|s| self.inner.publish_op(s, mt::DISCONNECT_SOCKETS, data))
        };
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
            let mut packet = vec![Mp::from(event.as_str())];
            packet.extend(value::payload_to_mp(&payload));
            let Some(ack) = ack else {
                return self.inner.publish_op(
                    setup,
                    mt::SERVER_SIDE_EMIT,
                    map(vec![("packet", Mp::Array(packet))]),
                );
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
            let id = random_id();
            let mut answers = self.inner.expect(&id);
            let data =
                map(vec![("requestId", Mp::from(id.as_str())), ("packet", Mp::Array(packet))]);
            if let Err(e) = self.inner.publish_op(setup, mt::SERVER_SIDE_EMIT, data) {
                self.inner.forget(&id);
                return Err(e);
            }
            let (inner, timeout) = (self.inner.clone(), self.inner.options.requests_timeout);
            // Forwards the other nodes' answers to `ack` until each answered or the timeout.
            tokio::spawn(async move {
                let forward = async {
                    for _ in 0..others {
                        let Some(answer) = answers.recv().await else { return };
                        let arg = get(&answer, "data")
                            .and_then(|d| get(d, "packet"))
                            .cloned()
                            .unwrap_or(Mp::Nil);
                        let payload = value::mp_to_payload(&[arg]);
                        let _ =
                            ack.send(AckEvent::Response { socket: SocketId::from(""), payload });
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
}
