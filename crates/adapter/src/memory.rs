//! The in-memory adapter: one process, no cluster.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use switchboard_proto::socket::{EventName, Packet, PacketData, Payload};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::adapter::BoxFuture;
use crate::log::RecoveryLog;
use crate::members::{Member, Members, Targets};
use crate::small_set::SmallSet;
use crate::{
    AckEvent, AckSender, Adapter, AdapterError, AdapterFactory, BroadcastOptions, LocalNamespace,
    MissedPackets, Offset, RecoveryOptions, Room, ServerAckSender, Session, SocketHandle, SocketId,
    SocketInfo, append_offset, is_recoverable,
};

/// The maps' hasher: socket ids are random and room names come from server code, so a fast
/// (still randomly seeded) hash is enough; every broadcast hashes once per recipient.
type FastState = foldhash::fast::RandomState;
type Map<K, V> = HashMap<K, V, FastState>;
type Set<T> = HashSet<T, FastState>;

/// Room membership, both ways. Small sets: most sockets are in a few rooms, and each
/// connection pays for its entries. A room's name is kept once, shared by the room's entry
/// and its members' sets (a pointer each: a socket's only room is inline in its entry).
///
/// A socket's own room (named after its id) is not stored as a room: a socket with an entry
/// in `sids` is in it unless listed in `not_own` (it left it, or never joined it), so that
/// no connection pays for a room of one. A room named after a socket that other sockets
/// joined is stored as usual, without its owner.
#[derive(Debug, Default)]
struct Rooms {
    /// Room → its sockets, with their delivery handles (owners of own rooms excepted).
    rooms: Map<Arc<Room>, Members>,
    /// Socket → its rooms (its own room excepted).
    sids: Map<SocketId, Own>,
    /// The sockets of `sids` that are not in their own room (rare).
    not_own: Set<SocketId>,
}

/// A socket's rooms and its delivery handle.
#[derive(Default)]
struct Own {
    rooms: SmallSet<Arc<Room>>,
    handle: Option<SocketHandle>,
}

impl std::fmt::Debug for Own {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.rooms.iter()).finish()
    }
}

impl Rooms {
    fn excluded(&self, opts: &BroadcastOptions, id: &SocketId) -> bool {
        opts.except.iter().any(|r| {
            self.rooms.get(r).is_some_and(|s| s.contains(id))
                || (r.as_str() == id.as_str() && !self.not_own.contains(id))
        })
    }

    fn matching(&self, opts: &BroadcastOptions) -> Vec<SocketId> {
        self.targets(opts).as_slice().iter().map(|m| m.id.clone()).collect()
    }

    /// The socket whose own room `room` is, if it is in it.
    fn owner(&self, room: &Room) -> Option<Member> {
        let (id, own) = self.sids.get_key_value(room.as_str())?;
        (!self.not_own.contains(id)).then(|| Member { id: id.clone(), handle: own.handle.clone() })
    }

    /// The members of `room`: its stored members, then its owner.
    fn members<'a>(&'a self, room: &Room) -> impl Iterator<Item = Member> + 'a {
        let stored = self.rooms.get(room).map(Members::as_slice).unwrap_or_default();
        stored.iter().cloned().chain(self.owner(room))
    }

    /// The sockets matching `opts`, with their handles.
    fn targets(&self, opts: &BroadcastOptions) -> Targets {
        if opts.rooms.is_empty() {
            Targets::Owned(
                self.sids
                    .iter()
                    .filter(|(id, _)| !self.excluded(opts, id))
                    .map(|(id, own)| Member { id: id.clone(), handle: own.handle.clone() })
                    .collect(),
            )
        } else if let (1, true, Some(room)) =
            (opts.rooms.len(), opts.except.is_empty(), opts.rooms.iter().next())
        {
            // The common case (`io.to(room)`): one room has no duplicates to skip, and a
            // large room's list is shared, not copied.
            match (self.rooms.get(room), self.owner(room)) {
                (Some(members), None) => members.snapshot(),
                (_, Some(_)) => Targets::Owned(self.members(room).collect()),
                (None, None) => Targets::Owned(Vec::new()),
            }
        } else {
            let mut seen = Set::default();
            Targets::Owned(
                opts.rooms
                    .iter()
                    .flat_map(|r| self.members(r))
                    .filter(|m| !self.excluded(opts, &m.id) && seen.insert(m.id.clone()))
                    .collect(),
            )
        }
    }

    /// The rooms with at least one socket.
    fn names(&self) -> Vec<Room> {
        let owners = self
            .sids
            .keys()
            .filter(|id| !self.not_own.contains(*id) && !self.rooms.contains_key(&id.room()));
        self.rooms.keys().map(|r| Room::clone(r)).chain(owners.map(SocketId::room)).collect()
    }

    /// The rooms of a socket, its own first.
    fn of(&self, id: &SocketId) -> Option<Vec<Room>> {
        let own = self.sids.get(id)?;
        let mine = (!self.not_own.contains(id)).then(|| id.room());
        Some(mine.into_iter().chain(own.rooms.iter().map(|r| Room::clone(r))).collect())
    }

    fn add(&mut self, id: &SocketId, rooms: &[Room], handle: Option<SocketHandle>) {
        let own = match self.sids.entry(id.clone()) {
            Entry::Occupied(own) => own.into_mut(),
            Entry::Vacant(slot) => {
                if !rooms.iter().any(|r| r.as_str() == id.as_str()) {
                    self.not_own.insert(id.clone());
                }
                slot.insert(Own::default())
            }
        };
        if own.handle.is_none() {
            own.handle = handle;
        }
        for room in rooms {
            if room.as_str() == id.as_str() {
                self.not_own.remove(id);
                continue;
            }
            if own.rooms.contains(room) {
                continue;
            }
            // The room's name as the map holds it: every member shares one string.
            let name = self
                .rooms
                .get_key_value(room)
                .map_or_else(|| Arc::new(room.clone()), |(k, _)| k.clone());
            own.rooms.insert(name.clone());
            let member = Member { id: id.clone(), handle: own.handle.clone() };
            match self.rooms.entry(name) {
                Entry::Occupied(mut members) => {
                    members.get_mut().insert(member);
                }
                Entry::Vacant(slot) => {
                    slot.insert(Members::one(member));
                }
            }
        }
    }

    fn del(&mut self, id: &SocketId, room: &Room) {
        if room.as_str() == id.as_str() {
            if self.sids.contains_key(id) {
                self.not_own.insert(id.clone());
            }
            return;
        }
        if let Some(own) = self.sids.get_mut(id) {
            own.rooms.remove(room);
        }
        if let Some(members) = self.rooms.get_mut(room) {
            members.remove(id);
            if members.is_empty() {
                self.rooms.remove(room);
            }
        }
    }

    fn del_all(&mut self, id: &SocketId) {
        self.not_own.remove(id);
        for room in self.sids.remove(id).map(|own| own.rooms).unwrap_or_default() {
            if let Some(members) = self.rooms.get_mut(&room) {
                members.remove(id);
                if members.is_empty() {
                    self.rooms.remove(&room);
                }
            }
        }
    }
}

/// Logged broadcasts waiting for their turn, in order, and whether one is being delivered.
#[derive(Debug, Default)]
struct Turns {
    queue: VecDeque<(Packet, BroadcastOptions)>,
    /// Whether a broadcast is delivering the queue (it takes every entry until none is left).
    delivering: bool,
    /// How many logged broadcasts were ever queued: each one's ticket.
    queued: u64,
    /// Whether a broadcast queued while another delivered, and waits for its turn's end.
    waiting: bool,
}

/// Ends the turn of the broadcast holding it if dropped during a panic (the normal end
/// forgets it: the turn ended under the lock of its last pop).
struct TurnGuard<'a>(&'a MemoryAdapter);

impl Drop for TurnGuard<'_> {
    fn drop(&mut self) {
        self.0.end_turn();
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
    // The recovery log and saved sessions. The delivering broadcast (see `turns`, which keeps
    // each socket's packets in offset order) holds it while it numbers a packet, queues it on
    // every recipient and logs it, so that a replay after offset N never repeats or skips
    // one. Lock order: `log`, then `rooms`, `turns` or a socket's own state; nothing takes
    // `log` while holding another lock.
    log: Mutex<RecoveryLog>,
    // Logged broadcasts take turns: each is queued here, and the one that finds nobody
    // delivering delivers the queue, in order, until it is empty (its own first); the others
    // return at once and their futures wait for `delivered`. So a broadcast made while one is
    // delivered (an outgoing-event listener that emits, or another task) never waits on
    // `log` while holding it. Held for a push or a pop only, never across a delivery; taken
    // alone or after `log`.
    turns: Mutex<Turns>,
    /// How many queued logged broadcasts were delivered (their tickets are `1..=delivered`).
    delivered: AtomicU64,
    // Wakes the broadcasts waiting for their turn when a delivering one ends its turn. Owned by
    // the adapter; its waiters are the futures of those broadcasts.
    turn_over: Notify,
}

impl MemoryAdapter {
    /// An adapter for `namespace`.
    ///
    /// ```
    /// use std::sync::{Arc, Weak};
    /// use switchboard_adapter::{Adapter, LocalNamespace, MemoryAdapter, testkit};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let factory =
    ///     |ns: Weak<dyn LocalNamespace>| -> Arc<dyn Adapter> { Arc::new(MemoryAdapter::new(ns)) };
    /// testkit::broadcast_targets(&factory).await;
    /// # }
    /// ```
    pub fn new(namespace: Weak<dyn LocalNamespace>) -> Self {
        MemoryAdapter {
            namespace,
            rooms: Mutex::new(Rooms::default()),
            log: Mutex::new(RecoveryLog::default()),
            turns: Mutex::new(Turns::default()),
            delivered: AtomicU64::new(0),
            turn_over: Notify::new(),
        }
    }

    /// A factory creating a [`MemoryAdapter`] per namespace.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let factory = switchboard_adapter::MemoryAdapter::factory();
    /// switchboard_adapter::testkit::membership(&*factory).await;
    /// # }
    /// ```
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

    fn log(&self) -> MutexGuard<'_, RecoveryLog> {
        // Each operation on the log leaves it consistent, so a poisoned lock is still usable.
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn turns(&self) -> MutexGuard<'_, Turns> {
        // A push or a pop leaves the queue consistent, so a poisoned lock is still usable.
        self.turns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a logged broadcast; delivers the queue if nobody does, else returns the ticket
    /// to wait for.
    fn take_turn(
        &self,
        ns: &dyn LocalNamespace,
        limits: &RecoveryOptions,
        packet: Packet,
        opts: BroadcastOptions,
    ) -> Option<u64> {
        let mut next = {
            let mut turns = self.turns();
            turns.queued += 1;
            turns.queue.push_back((packet, opts));
            if turns.delivering {
                turns.waiting = true;
                return Some(turns.queued);
            }
            turns.delivering = true;
            // Usually this one; older ones first if a turn ended in a panic.
            turns.queue.pop_front()
        };
        // A delivery that panics (an outgoing-event listener) ends this turn, not the turns.
        let turn = TurnGuard(self);
        while let Some((mut packet, opts)) = next.take() {
            // Numbered, delivered and logged under `log`: a replay (`missed`) sees the packet
            // either logged, or not yet delivered to anyone.
            let mut log = self.log();
            let offset = log.next_offset();
            append_offset(&mut packet, &offset);
            let messages = ns.encode(&packet);
            let targets = self.lock().targets(&opts);
            targets.deliver(&packet, &messages, &opts.flags, Some(&offset));
            log.push(packet, opts, Instant::now(), limits);
            drop(log);
            self.delivered.fetch_add(1, Ordering::SeqCst);
            let mut turns = self.turns();
            next = turns.queue.pop_front();
            if next.is_none() {
                // Under the same lock as the pop: a broadcast queued after it delivers itself.
                turns.delivering = false;
                let waiting = std::mem::take(&mut turns.waiting);
                drop(turns);
                if waiting {
                    self.turn_over.notify_waiters();
                }
            }
        }
        std::mem::forget(turn);
        None
    }

    /// Ends a turn that panicked: the next broadcast delivers, the waiting ones look again.
    fn end_turn(&self) {
        let waiting = {
            let mut turns = self.turns();
            turns.delivering = false;
            std::mem::take(&mut turns.waiting)
        };
        if waiting {
            self.turn_over.notify_waiters();
        }
    }

    /// Resolves once the logged broadcast with `ticket` was delivered.
    async fn turn_done(&self, ticket: u64) {
        loop {
            let over = self.turn_over.notified();
            tokio::pin!(over);
            // Registered before looking: a turn ending after the look wakes it.
            over.as_mut().enable();
            if self.delivered.load(Ordering::SeqCst) >= ticket {
                return;
            }
            over.await;
        }
    }

    fn ns(&self) -> Result<Arc<dyn LocalNamespace>, AdapterError> {
        self.namespace.upgrade().ok_or(AdapterError::NamespaceClosed)
    }
}

impl Adapter for MemoryAdapter {
    fn add_all(&self, socket: &SocketId, rooms: &[Room]) {
        // Looked up before locking: the namespace takes its own lock.
        let handle = self.namespace.upgrade().and_then(|ns| ns.local_socket(socket));
        self.lock().add(socket, rooms, handle);
    }

    fn del(&self, socket: &SocketId, room: &Room) {
        self.lock().del(socket, room);
    }

    fn del_all(&self, socket: &SocketId) {
        self.lock().del_all(socket);
    }

    fn socket_rooms(&self, socket: &SocketId) -> Option<Vec<Room>> {
        self.lock().of(socket)
    }

    fn local_sockets(&self, opts: &BroadcastOptions) -> Vec<SocketId> {
        self.lock().matching(opts)
    }

    fn rooms(&self) -> BoxFuture<'_, Result<Vec<Room>, AdapterError>> {
        let rooms = self.lock().names();
        Box::pin(async move { Ok(rooms) })
    }

    fn broadcast(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        let ns = match self.ns() {
            Ok(ns) => ns,
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        match ns.recovery() {
            Some(limits) if is_recoverable(&packet, &opts.flags) => {
                match self.take_turn(&*ns, &limits, packet, opts) {
                    None => Box::pin(async { Ok(()) }),
                    Some(ticket) => Box::pin(async move {
                        self.turn_done(ticket).await;
                        Ok(())
                    }),
                }
            }
            _ => {
                let messages = ns.encode(&packet);
                let targets = self.lock().targets(&opts);
                targets.deliver(&packet, &messages, &opts.flags, None);
                Box::pin(async { Ok(()) })
            }
        }
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
            let targets = self.lock().targets(&opts);
            for h in targets.as_slice().iter().filter_map(|m| m.handle.as_ref()) {
                if h.deliver_with_ack(&packet, &messages, ack_id, &responses, &opts.flags) {
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
            // Known sockets: their entry already holds their handle.
            state.add(&id, &rooms, None);
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

    fn supports_recovery(&self) -> bool {
        true
    }

    fn persist_session(&self, session: Session) -> BoxFuture<'_, Result<(), AdapterError>> {
        let result = self.ns().map(|ns| {
            if let Some(limits) = ns.recovery() {
                self.log().persist(session, Instant::now(), &limits);
            }
        });
        Box::pin(async move { result })
    }

    fn take_session(&self, pid: &str) -> BoxFuture<'_, Result<Option<Session>, AdapterError>> {
        let result = self
            .ns()
            .map(|ns| ns.recovery().and_then(|l| self.log().take(pid, Instant::now(), &l)));
        Box::pin(async move { result })
    }

    fn missed_packets(
        &self,
        after: &Offset,
        rooms: &[Room],
    ) -> BoxFuture<'_, Result<Option<MissedPackets>, AdapterError>> {
        let result = self.ns().map(|ns| {
            ns.recovery().and_then(|l| self.log().missed(after, rooms, Instant::now(), &l))
        });
        Box::pin(async move { result })
    }
}

#[cfg(test)]
#[path = "memory_tests.rs"]
mod tests;
