//! The adapter wrapper that reports room changes to the admin (`room_joined`, `room_left`).
//! Every namespace's adapter is wrapped when the feature `admin` is on; while no admin is
//! attached each call costs one branch on an empty slot.

use std::sync::{Arc, Weak};

use switchboard_adapter::{
    AckSender, Adapter, AdapterError, AdapterFactory, BoxFuture, BroadcastOptions, LocalNamespace,
    MissedPackets, Offset, Room, ServerAckSender, Session, SocketId, SocketInfo,
};
use switchboard_proto::socket::{EventName, Packet, Payload};

use super::hook::{Monitor, Slot};

/// Wraps the adapters a factory makes in [`Observed`].
pub(crate) struct ObservedFactory {
    pub(crate) inner: Arc<dyn AdapterFactory>,
    pub(crate) slot: Slot,
}

impl AdapterFactory for ObservedFactory {
    fn create(&self, namespace: Weak<dyn LocalNamespace>) -> Arc<dyn Adapter> {
        let inner = self.inner.create(namespace.clone());
        Arc::new(Observed { inner, namespace, slot: self.slot.clone() })
    }
}

/// An adapter that tells the attached admin (development mode) which memberships it adds
/// and removes for local sockets: `join`/`leave` of a socket, and the local part of
/// `sockets_join`/`sockets_leave`. A socket's rooms at its disconnection are reported by the
/// disconnection hook, so `del_all` reports nothing.
pub(crate) struct Observed {
    inner: Arc<dyn Adapter>,
    namespace: Weak<dyn LocalNamespace>,
    slot: Slot,
}

impl Observed {
    /// The admin and the namespace's name, when an admin in development mode is attached.
    fn watching(&self) -> Option<(&Arc<Monitor>, Arc<dyn LocalNamespace>)> {
        let monitor = self.slot.get().filter(|m| m.dev)?;
        Some((monitor, self.namespace.upgrade()?))
    }

    /// Reports the rooms of `rooms` that `socket` is in now and was not (`joined`), or the
    /// reverse.
    fn report(&self, joined: bool, socket: &SocketId, before: &[Room], rooms: &[Room]) {
        let Some((monitor, ns)) = self.watching() else { return };
        let after = self.inner.socket_rooms(socket).unwrap_or_default();
        let mut seen: Vec<&Room> = Vec::new();
        for room in rooms {
            let changed = if joined {
                after.contains(room) && !before.contains(room)
            } else {
                before.contains(room) && !after.contains(room)
            };
            if changed && !seen.contains(&room) {
                seen.push(room);
                monitor.room(joined, ns.name(), room, socket);
            }
        }
    }

    /// Local sockets that `opts` selects, with their rooms now.
    fn snapshot(&self, opts: &BroadcastOptions) -> Vec<(SocketId, Vec<Room>)> {
        self.inner
            .local_sockets(opts)
            .into_iter()
            .map(|id| {
                let rooms = self.inner.socket_rooms(&id).unwrap_or_default();
                (id, rooms)
            })
            .collect()
    }
}

impl Adapter for Observed {
    fn add_all(&self, socket: &SocketId, rooms: &[Room]) {
        if self.watching().is_none() {
            return self.inner.add_all(socket, rooms);
        }
        let before = self.inner.socket_rooms(socket).unwrap_or_default();
        self.inner.add_all(socket, rooms);
        self.report(true, socket, &before, rooms);
    }

    fn del(&self, socket: &SocketId, room: &Room) {
        if self.watching().is_none() {
            return self.inner.del(socket, room);
        }
        let before = self.inner.socket_rooms(socket).unwrap_or_default();
        self.inner.del(socket, room);
        self.report(false, socket, &before, std::slice::from_ref(room));
    }

    fn del_all(&self, socket: &SocketId) {
        self.inner.del_all(socket);
    }

    fn socket_rooms(&self, socket: &SocketId) -> Option<Vec<Room>> {
        self.inner.socket_rooms(socket)
    }

    fn local_sockets(&self, opts: &BroadcastOptions) -> Vec<SocketId> {
        self.inner.local_sockets(opts)
    }

    fn rooms(&self) -> BoxFuture<'_, Result<Vec<Room>, AdapterError>> {
        self.inner.rooms()
    }

    fn broadcast(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        self.inner.broadcast(packet, opts)
    }

    fn broadcast_with_ack(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
        responses: AckSender,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        self.inner.broadcast_with_ack(packet, opts, responses)
    }

    fn fetch_sockets(
        &self,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<Vec<SocketInfo>, AdapterError>> {
        self.inner.fetch_sockets(opts)
    }

    fn add_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<Room>,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        if self.watching().is_none() {
            return self.inner.add_sockets(opts, rooms);
        }
        let before = self.snapshot(&opts);
        Box::pin(async move {
            let result = self.inner.add_sockets(opts, rooms.clone()).await;
            for (id, was) in &before {
                self.report(true, id, was, &rooms);
            }
            result
        })
    }

    fn del_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<Room>,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        if self.watching().is_none() {
            return self.inner.del_sockets(opts, rooms);
        }
        let before = self.snapshot(&opts);
        Box::pin(async move {
            let result = self.inner.del_sockets(opts, rooms.clone()).await;
            for (id, was) in &before {
                self.report(false, id, was, &rooms);
            }
            result
        })
    }

    fn disconnect_sockets(
        &self,
        opts: BroadcastOptions,
        close: bool,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        self.inner.disconnect_sockets(opts, close)
    }

    fn server_side_emit(
        &self,
        event: EventName,
        payload: Payload,
        ack: Option<ServerAckSender>,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        self.inner.server_side_emit(event, payload, ack)
    }

    fn server_count(&self) -> BoxFuture<'_, Result<usize, AdapterError>> {
        self.inner.server_count()
    }

    fn supports_recovery(&self) -> bool {
        self.inner.supports_recovery()
    }

    fn persist_session(&self, session: Session) -> BoxFuture<'_, Result<(), AdapterError>> {
        self.inner.persist_session(session)
    }

    fn take_session(&self, pid: &str) -> BoxFuture<'_, Result<Option<Session>, AdapterError>> {
        self.inner.take_session(pid)
    }

    fn missed_packets(
        &self,
        after: &Offset,
        rooms: &[Room],
    ) -> BoxFuture<'_, Result<Option<MissedPackets>, AdapterError>> {
        self.inner.missed_packets(after, rooms)
    }

    fn close(&self) -> BoxFuture<'_, Result<(), AdapterError>> {
        self.inner.close()
    }
}
