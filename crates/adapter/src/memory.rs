//! The in-memory adapter: one process, no cluster.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use switchboard_proto::socket::{EventName, Packet, PacketData, Payload};

use crate::adapter::BoxFuture;
use crate::{
    AckEvent, AckSender, Adapter, AdapterError, AdapterFactory, BroadcastOptions, LocalNamespace,
    Room, ServerAckSender, SocketId, SocketInfo,
};

/// Room membership, both ways.
#[derive(Debug, Default)]
struct Rooms {
    /// Room → its sockets.
    rooms: HashMap<Room, HashSet<SocketId>>,
    /// Socket → its rooms.
    sids: HashMap<SocketId, HashSet<Room>>,
}

impl Rooms {
    fn matching(&self, opts: &BroadcastOptions) -> Vec<SocketId> {
        let excluded = |id: &SocketId| {
            opts.except.iter().any(|r| self.rooms.get(r).is_some_and(|s| s.contains(id)))
        };
        if opts.rooms.is_empty() {
            self.sids.keys().filter(|id| !excluded(id)).cloned().collect()
        } else {
            let mut seen = HashSet::new();
            opts.rooms
                .iter()
                .filter_map(|r| self.rooms.get(r))
                .flatten()
                .filter(|id| !excluded(id) && seen.insert(*id))
                .cloned()
                .collect()
        }
    }

    fn add(&mut self, id: &SocketId, rooms: &[Room]) {
        let own = self.sids.entry(id.clone()).or_default();
        for room in rooms {
            own.insert(room.clone());
            self.rooms.entry(room.clone()).or_default().insert(id.clone());
        }
    }

    fn del(&mut self, id: &SocketId, room: &Room) {
        if let Some(own) = self.sids.get_mut(id) {
            own.remove(room);
        }
        if let Some(members) = self.rooms.get_mut(room) {
            members.remove(id);
            if members.is_empty() {
                self.rooms.remove(room);
            }
        }
    }

    fn del_all(&mut self, id: &SocketId) {
        for room in self.sids.remove(id).unwrap_or_default() {
            if let Some(members) = self.rooms.get_mut(&room) {
                members.remove(id);
                if members.is_empty() {
                    self.rooms.remove(&room);
                }
            }
        }
    }
}

/// The default adapter: room membership in memory, broadcasts to the sockets of this process.
///
/// ```
/// use std::sync::{Arc, Weak};
/// use switchboard_adapter::{Adapter, LocalNamespace, MemoryAdapter, SocketId};
///
/// # fn demo(ns: Weak<dyn LocalNamespace>) {
/// let adapter = MemoryAdapter::new(ns);
/// let id = SocketId::from("abc");
/// adapter.add_all(&id, &["abc".into(), "room1".into()]);
/// assert_eq!(adapter.socket_rooms(&id).map(|r| r.len()), Some(2));
/// # }
/// ```
#[derive(Debug)]
pub struct MemoryAdapter {
    namespace: Weak<dyn LocalNamespace>,
    // Membership is read and written from every socket task and from broadcasts; the lock is
    // held only for map operations, never across an await or a send.
    rooms: Mutex<Rooms>,
}

impl MemoryAdapter {
    /// An adapter for `namespace`.
    pub fn new(namespace: Weak<dyn LocalNamespace>) -> Self {
        MemoryAdapter { namespace, rooms: Mutex::new(Rooms::default()) }
    }

    /// A factory creating a [`MemoryAdapter`] per namespace.
    pub fn factory() -> Arc<dyn AdapterFactory> {
        Arc::new(|ns: Weak<dyn LocalNamespace>| -> Arc<dyn Adapter> {
            Arc::new(MemoryAdapter::new(ns))
        })
    }

    fn lock(&self) -> MutexGuard<'_, Rooms> {
        // A panic while holding the lock leaves the maps consistent (each operation is a few
        // inserts/removes), so a poisoned lock is still usable.
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ns(&self) -> Result<Arc<dyn LocalNamespace>, AdapterError> {
        self.namespace.upgrade().ok_or(AdapterError::NamespaceClosed)
    }
}

impl Adapter for MemoryAdapter {
    fn add_all(&self, socket: &SocketId, rooms: &[Room]) {
        self.lock().add(socket, rooms);
    }

    fn del(&self, socket: &SocketId, room: &Room) {
        self.lock().del(socket, room);
    }

    fn del_all(&self, socket: &SocketId) {
        self.lock().del_all(socket);
    }

    fn socket_rooms(&self, socket: &SocketId) -> Option<Vec<Room>> {
        self.lock().sids.get(socket).map(|r| r.iter().cloned().collect())
    }

    fn local_sockets(&self, opts: &BroadcastOptions) -> Vec<SocketId> {
        self.lock().matching(opts)
    }

    fn rooms(&self) -> BoxFuture<'_, Result<Vec<Room>, AdapterError>> {
        let rooms = self.lock().rooms.keys().cloned().collect();
        Box::pin(async move { Ok(rooms) })
    }

    fn broadcast(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        let result = self.ns().map(|ns| {
            let messages = ns.encode(&packet);
            for id in self.local_sockets(&opts) {
                ns.deliver(&id, &packet, &messages, &opts.flags);
            }
        });
        Box::pin(async move { result })
    }

    fn broadcast_with_ack(
        &self,
        mut packet: Packet,
        opts: BroadcastOptions,
        responses: AckSender,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        let result = self.ns().map(|ns| {
            let ack_id = ns.next_ack_id();
            if let PacketData::Event { ack, .. } = &mut packet.data {
                *ack = Some(ack_id);
            }
            let messages = ns.encode(&packet);
            let mut reached = 0;
            for id in self.local_sockets(&opts) {
                if ns.deliver_with_ack(&id, &packet, &messages, ack_id, &responses, &opts.flags) {
                    reached += 1;
                }
            }
            // The collector may already be gone (timeout); nothing to do then.
            let _ = responses.send(AckEvent::Expected(reached));
        });
        Box::pin(async move { result })
    }

    fn fetch_sockets(
        &self,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<Vec<SocketInfo>, AdapterError>> {
        let result = self.ns().map(|ns| {
            self.local_sockets(&opts).iter().filter_map(|id| ns.socket_info(id)).collect()
        });
        Box::pin(async move { result })
    }

    fn add_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<Room>,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        let mut state = self.lock();
        for id in state.matching(&opts) {
            state.add(&id, &rooms);
        }
        drop(state);
        Box::pin(async { Ok(()) })
    }

    fn del_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<Room>,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        let mut state = self.lock();
        for id in state.matching(&opts) {
            for room in &rooms {
                state.del(&id, room);
            }
        }
        drop(state);
        Box::pin(async { Ok(()) })
    }

    fn disconnect_sockets(
        &self,
        opts: BroadcastOptions,
        close: bool,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        let result = self.ns().map(|ns| {
            // Collect first: disconnecting calls back into `del_all`, which takes the lock.
            for id in self.local_sockets(&opts) {
                ns.disconnect(&id, close);
            }
        });
        Box::pin(async move { result })
    }

    fn server_side_emit(
        &self,
        _event: EventName,
        _payload: Payload,
        ack: Option<ServerAckSender>,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        // No other server: nobody to reach, and no answers to wait for.
        if let Some(ack) = ack {
            let _ = ack.send(AckEvent::Expected(0));
        }
        Box::pin(async { Ok(()) })
    }

    fn server_count(&self) -> BoxFuture<'_, Result<usize, AdapterError>> {
        Box::pin(async { Ok(1) })
    }
}
