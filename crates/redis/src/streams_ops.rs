//! The [`Adapter`] implementation of [`StreamsAdapter`].

use std::collections::HashSet;

use rmpv::Value as Mp;
use switchboard_adapter::{
    AckEvent, AckSender, Adapter, AdapterError, BoxFuture, BroadcastOptions, MissedPackets, Offset,
    Room, ServerAckSender, Session, SocketId, SocketInfo, append_offset,
};
use switchboard_proto::socket::{EventName, Packet, Payload};
use tokio::sync::{mpsc, oneshot};

use crate::acks;
use crate::adapter::RedisAdapterError;
use crate::incoming::socket_from_mp;
use crate::protocol::{opts_to_mp, packet_to_mp};
use crate::sharded::{mt, random_id};
use crate::streams::{ADAPTER_CLOSE, StreamsAdapter};
use crate::streams_wire::{decode_session, encode_session};
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

/// The sender of an answer or of a node-gone notice (`ADAPTER_CLOSE`).
fn answer_of(message: &Mp) -> Option<(u64, &str)> {
    Some((get(message, "type")?.as_u64()?, get(message, "uid")?.as_str()?))
}

impl StreamsAdapter {
    /// Writes an operation that is then applied locally (join, leave, disconnect): both happen
    /// after the writes before it, as in Node.
    fn write_then(
        &self,
        opts: &BroadcastOptions,
        kind: u64,
        data: Mp,
    ) -> Result<oneshot::Receiver<()>, AdapterError> {
        let nsp = self.inner.ready()?;
        // Answered by the writer once the entry was added (or could not be).
        let (tx, rx) = oneshot::channel();
        if opts.flags.local {
            let _ = tx.send(());
        } else {
            self.inner.write(
                nsp,
                kind,
                Some(&data),
                Some(Box::new(move |_| {
                    let _ = tx.send(());
                })),
            );
        }
        Ok(rx)
    }

    /// Waits for the answers of every known node to request `id`, until each answered, left,
    /// or the timeout; hands each answer to `each`. Returns how many did not answer.
    async fn collect(
        &self,
        mut rx: mpsc::UnboundedReceiver<Mp>,
        mut missing: HashSet<String>,
        timeout: std::time::Duration,
        mut each: impl FnMut(&Mp),
    ) -> usize {
        let wait = async {
            while !missing.is_empty() {
                let Some(message) = rx.recv().await else { return };
                let Some((kind, uid)) = answer_of(&message) else { continue };
                if missing.remove(uid) && kind != ADAPTER_CLOSE {
                    each(&message);
                }
            }
        };
        let _ = tokio::time::timeout(timeout, wait).await;
        missing.len()
    }
}

impl Adapter for StreamsAdapter {
    fn add_all(&self, socket: &SocketId, rooms: &[Room]) {
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
        // As Node's ClusterAdapter: the protocol has no all-rooms request.
        self.inner.local.rooms()
    }

    fn broadcast(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        let inner = &self.inner;
        if opts.flags.local {
            inner.deliver_local(&packet, &opts, None);
            return Box::pin(async { Ok(()) });
        }
        let nsp = match inner.ready() {
            Ok(nsp) => nsp,
            Err(e) => return Box::pin(async { Err(e) }),
        };
        let Some(wire) = packet_to_mp(&packet) else {
            inner.deliver_local(&packet, &opts, None);
            return Box::pin(async { Ok(()) });
        };
        let data = map(vec![("packet", wire), ("opts", opts_to_mp(&opts))]);
        let logs = inner.logs(&packet, &opts);
        let target = inner.clone();
        // Answered by the writer once the entry was added (or waits for Redis) and the packet
        // was delivered here.
        let (tx, rx) = oneshot::channel();
        let then = move |written: Result<Option<&str>, &crate::driver::DriverError>| {
            let mut packet = packet;
            let result = match written {
                Ok(Some(id)) if logs => {
                    let offset = Offset::new(id);
                    append_offset(&mut packet, &offset);
                    target.deliver_local(&packet, &opts, Some(&offset));
                    Ok(())
                }
                // Added without offset here, or waiting for Redis: the local sockets get it
                // now (without an offset: the stream id is not known yet).
                Ok(_) => {
                    target.deliver_local(&packet, &opts, None);
                    Ok(())
                }
                Err(e) => {
                    // Dropped (the queue is full): the local sockets get it all the same.
                    target.deliver_local(&packet, &opts, None);
                    Err(e.to_string())
                }
            };
            let _ = tx.send(result);
        };
        inner.write(nsp, mt::BROADCAST, Some(&data), Some(Box::new(then)));
        Box::pin(async move {
            match rx.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(AdapterError::Backend(e.into())),
                Err(_) => Err(RedisAdapterError::from(crate::DriverError::Disconnected).into()),
            }
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
            let nsp = self.inner.ready()?;
            let id = random_id();
            let remote = self.inner.expect(&id);
            let data = map(vec![
                ("packet", packet_to_mp(&packet).unwrap_or(Mp::Nil)),
                ("requestId", Mp::from(id.as_str())),
                ("opts", opts_to_mp(&opts)),
            ]);
            let servers = 1 + self.inner.nodes().len();
            self.inner.write(nsp, mt::BROADCAST, Some(&data), None);
            let timeout = opts.flags.timeout.unwrap_or(self.inner.hub.options.requests_timeout);
            // Unbounded: the local count plus one answer per local socket.
            let (local_tx, local_rx) = mpsc::unbounded_channel();
            let local = self.inner.local.broadcast_with_ack(packet, opts, local_tx).await;
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
            let nsp = self.inner.ready()?;
            self.inner.reading().await?;
            let missing: HashSet<String> = self.inner.nodes().into_iter().collect();
            if missing.is_empty() {
                return Ok(sockets);
            }
            let id = random_id();
            let rx = self.inner.expect(&id);
            let data = map(vec![("opts", opts_to_mp(&opts)), ("requestId", Mp::from(id.as_str()))]);
            self.inner.write(nsp, mt::FETCH_SOCKETS, Some(&data), None);
            let timeout = opts.flags.timeout.unwrap_or(self.inner.hub.options.requests_timeout);
            let left = self
                .collect(rx, missing, timeout, |answer| {
                    if let Some(Mp::Array(list)) =
                        get(answer, "data").and_then(|d| get(d, "sockets"))
                    {
                        sockets.extend(list.iter().filter_map(socket_from_mp));
                    }
                })
                .await;
            self.inner.forget(&id);
            if left > 0 {
                return Err(
                    RedisAdapterError::Timeout { request: "fetch_sockets", missing: left }.into()
                );
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
        let written = self.write_then(&opts, mt::SOCKETS_JOIN, data);
        Box::pin(async move {
            let _ = written?.await;
            self.inner.local.add_sockets(opts, rooms).await
        })
    }

    fn del_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<Room>,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        let data = map(vec![("opts", opts_to_mp(&opts)), ("rooms", rooms_mp(&rooms))]);
        let written = self.write_then(&opts, mt::SOCKETS_LEAVE, data);
        Box::pin(async move {
            let _ = written?.await;
            self.inner.local.del_sockets(opts, rooms).await
        })
    }

    fn disconnect_sockets(
        &self,
        opts: BroadcastOptions,
        close: bool,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        let data = map(vec![("opts", opts_to_mp(&opts)), ("close", Mp::Boolean(close))]);
        let written = self.write_then(&opts, mt::DISCONNECT_SOCKETS, data);
        Box::pin(async move {
            let _ = written?.await;
            self.inner.local.disconnect_sockets(opts, close).await
        })
    }

    fn server_side_emit(
        &self,
        event: EventName,
        payload: Payload,
        ack: Option<ServerAckSender>,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        Box::pin(async move {
            let nsp = self.inner.ready()?;
            let mut packet = vec![Mp::from(event.as_str())];
            packet.extend(value::payload_to_mp(&payload));
            let Some(ack) = ack else {
                let data = map(vec![("packet", Mp::Array(packet))]);
                self.inner.write(nsp, mt::SERVER_SIDE_EMIT, Some(&data), None);
                return Ok(());
            };
            if let Err(e) = self.inner.reading().await {
                let _ = ack.send(AckEvent::Expected(0));
                return Err(e.into());
            }
            let missing: HashSet<String> = self.inner.nodes().into_iter().collect();
            let _ = ack.send(AckEvent::Expected(missing.len()));
            if missing.is_empty() {
                return Ok(());
            }
            let id = random_id();
            let rx = self.inner.expect(&id);
            let data =
                map(vec![("requestId", Mp::from(id.as_str())), ("packet", Mp::Array(packet))]);
            self.inner.write(nsp, mt::SERVER_SIDE_EMIT, Some(&data), None);
            let inner = self.inner.clone();
            let this = StreamsAdapter { inner: inner.clone() };
            // Forwards the other nodes' answers to `ack` until each answered, left, or the
            // timeout.
            tokio::spawn(async move {
                let timeout = inner.hub.options.requests_timeout;
                this.collect(rx, missing, timeout, |answer| {
                    let arg = get(answer, "data")
                        .and_then(|d| get(d, "packet"))
                        .cloned()
                        .unwrap_or(Mp::Nil);
                    let payload = value::mp_to_payload(&[arg]);
                    let _ = ack.send(AckEvent::Response { socket: SocketId::from(""), payload });
                })
                .await;
                inner.forget(&id);
            });
            Ok(())
        })
    }

    fn server_count(&self) -> BoxFuture<'_, Result<usize, AdapterError>> {
        Box::pin(async move {
            self.inner.ready()?;
            self.inner.reading().await?;
            Ok(1 + self.inner.nodes().len())
        })
    }

    fn supports_recovery(&self) -> bool {
        true
    }

    fn persist_session(&self, session: Session) -> BoxFuture<'_, Result<(), AdapterError>> {
        Box::pin(async move {
            let Some(limits) = self.inner.ns.upgrade().and_then(|ns| ns.recovery()) else {
                return Ok(());
            };
            let key = format!("{}{}", self.inner.hub.options.session_key_prefix, session.pid);
            let value = encode_session(&session);
            let ttl = limits.max_disconnection_duration;
            self.inner.hub.driver.set_px(key, value, ttl).await.map_err(RedisAdapterError::from)?;
            Ok(())
        })
    }

    fn take_session(&self, pid: &str) -> BoxFuture<'_, Result<Option<Session>, AdapterError>> {
        let key = format!("{}{pid}", self.inner.hub.options.session_key_prefix);
        Box::pin(async move {
            let raw = self.inner.hub.driver.get_del(key).await.map_err(RedisAdapterError::from)?;
            let Some(raw) = raw else { return Ok(None) };
            let session = decode_session(&raw);
            if session.is_none() {
                self.inner.hub.stats.ignore("malformed session", "");
            }
            Ok(session)
        })
    }

    fn missed_packets(
        &self,
        after: &Offset,
        rooms: &[Room],
    ) -> BoxFuture<'_, Result<Option<MissedPackets>, AdapterError>> {
        let (after, rooms) = (after.clone(), rooms.to_vec());
        Box::pin(async move {
            let nsp = self.inner.ready()?;
            Ok(self.inner.missed(nsp, &after, &rooms).await.map_err(RedisAdapterError::from)?)
        })
    }

    fn close(&self) -> BoxFuture<'_, Result<(), AdapterError>> {
        self.inner.close();
        Box::pin(async { Ok(()) })
    }
}
