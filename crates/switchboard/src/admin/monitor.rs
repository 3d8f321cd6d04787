//! What the hooks report to: the events for the admin namespace, capped per second, and the
//! counters of `server_stats`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use switchboard_engine::TransportKind;
use switchboard_proto::socket::{EventName, Payload};

use super::wire::{epoch_ms, iso, serialize_socket};
use crate::{DisconnectReason, Room, Socket, SocketId};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the data consistent, so a poisoned lock is usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One event for every admin socket (a broadcast on the admin namespace).
pub(super) struct Out {
    pub(super) name: &'static str,
    pub(super) payload: Payload,
}

/// What the hooks may send in the current second.
struct Window {
    second: u64,
    state: u32,
    events: u32,
}

/// The aggregated counters: (second in epoch ms, type, subType) → count.
type Aggregated = HashMap<(u64, &'static str, Option<&'static str>), u64>;

/// The admin as the server's hooks see it. Lives in the server's [`super::hook::Slot`].
pub(crate) struct Monitor {
    /// The admin namespace's name (its sockets get no `event_*` listeners).
    pub(super) namespace: String,
    /// Development mode: the verbose events are sent.
    pub(super) dev: bool,
    max_state: u32,
    max_events: u32,
    // To the admin's task, which broadcasts each event; bounded: a full queue drops.
    // Owned here (the server's slot), closed with the server; the task owns the receiver.
    tx: tokio::sync::mpsc::Sender<Out>,
    // Budget of the current second; locked by each hook that sends, for a few instructions.
    window: Mutex<Window>,
    /// A socket, room or disconnection event was dropped: the next stats tick sends a fresh
    /// `all_sockets` so that the UI's tables are right again.
    pub(super) dirty: AtomicBool,
    /// Events dropped by the caps since the start (logged by the task).
    pub(super) dropped: AtomicU64,
    // Connections and disconnections per second, until the next `server_stats`; locked per
    // connection and disconnection, and by the stats tick.
    aggregated: Mutex<Aggregated>,
    /// Local Engine.IO sessions on long-polling (opened since the admin was attached).
    polling: AtomicI64,
}

impl Monitor {
    pub(super) fn new(
        namespace: String,
        dev: bool,
        (max_state, max_events): (u32, u32),
        tx: tokio::sync::mpsc::Sender<Out>,
    ) -> Self {
        Monitor {
            namespace,
            dev,
            max_state,
            max_events,
            tx,
            window: Mutex::new(Window { second: 0, state: 0, events: 0 }),
            dirty: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            aggregated: Mutex::new(HashMap::new()),
            polling: AtomicI64::new(0),
        }
    }

    /// Whether one more event of the kind fits in this second's budget.
    fn admit(&self, state: bool) -> bool {
        let second = epoch_ms() / 1000;
        let mut w = lock(&self.window);
        if w.second != second {
            *w = Window { second, state: 0, events: 0 };
        }
        let (used, max) =
            if state { (&mut w.state, self.max_state) } else { (&mut w.events, self.max_events) };
        if *used >= max {
            return false;
        }
        *used += 1;
        true
    }

    fn push(&self, state: bool, name: &'static str, payload: Payload) {
        if self.admit(state) && self.tx.try_send(Out { name, payload }).is_ok() {
            return;
        }
        self.dropped.fetch_add(1, Ordering::Relaxed);
        if state {
            self.dirty.store(true, Ordering::Relaxed);
        }
    }

    fn push_state(&self, name: &'static str, args: Vec<Value>) {
        self.push(true, name, Payload::from_args(args));
    }

    fn aggregate(&self, kind: &'static str, sub: Option<&'static str>) {
        let second = epoch_ms() / 1000 * 1000;
        *lock(&self.aggregated).entry((second, kind, sub)).or_insert(0) += 1;
    }

    /// The counters since the last call, as `aggregatedEvents` entries (`extra`: the packet
    /// and byte counts, stamped with the current second).
    pub(super) fn take_aggregated(&self, extra: [u64; 4]) -> Vec<Value> {
        let drained: Vec<_> = lock(&self.aggregated).drain().collect();
        let mut out: Vec<Value> = drained
            .into_iter()
            .map(|((timestamp, kind, sub), count)| {
                let mut v = json!({ "timestamp": timestamp, "type": kind, "count": count });
                if let (Some(sub), Some(map)) = (sub, v.as_object_mut()) {
                    map.insert("subType".to_owned(), Value::from(sub));
                }
                v
            })
            .collect();
        let second = epoch_ms() / 1000 * 1000;
        for (kind, count) in
            ["packetsIn", "bytesIn", "packetsOut", "bytesOut"].into_iter().zip(extra)
        {
            if count > 0 {
                out.push(json!({ "timestamp": second, "type": kind, "count": count }));
            }
        }
        out.sort_by_key(|v| v["timestamp"].as_u64());
        out
    }

    /// Local sessions on long-polling.
    pub(super) fn polling(&self) -> u64 {
        u64::try_from(self.polling.load(Ordering::Relaxed)).unwrap_or(0)
    }

    pub(crate) fn raw_connection(&self, transport: TransportKind) {
        if transport == TransportKind::Polling {
            self.polling.fetch_add(1, Ordering::Relaxed);
        }
        self.aggregate("rawConnection", None);
    }

    pub(crate) fn raw_disconnection(&self, reason: &'static str, transport: TransportKind) {
        if transport == TransportKind::Polling {
            self.polling.fetch_sub(1, Ordering::Relaxed);
        }
        self.aggregate("rawDisconnection", Some(reason));
    }

    pub(crate) fn upgraded(&self) {
        self.polling.fetch_sub(1, Ordering::Relaxed);
    }

    /// A socket joined a namespace (its CONNECT answer is sent, its connection handlers have
    /// not run yet).
    pub(crate) fn socket_connected(self: &Arc<Self>, socket: &Socket) {
        if !self.dev {
            return;
        }
        self.push_state("socket_connected", vec![serialize_socket(socket), iso(epoch_ms()).into()]);
        let m = self.clone();
        socket.on_upgrade(move |s, transport| {
            let update =
                json!({ "id": s.id().as_str(), "nsp": s.ns(), "transport": transport.as_str() });
            m.push_state("socket_updated", vec![update]);
        });
        if socket.ns() == self.namespace || self.max_events == 0 {
            return; // admin traffic would loop; or no event is wanted
        }
        let m = self.clone();
        socket.prepend_any(move |s, event, payload| m.event("event_received", s, event, payload));
        let m = self.clone();
        socket.on_any_outgoing(move |s, event, payload| m.event("event_sent", s, event, payload));
    }

    /// A socket leaves its namespace, still in its rooms: `socket_disconnected`, then one
    /// `room_left` per room.
    pub(crate) fn socket_disconnected(&self, socket: &Socket, reason: DisconnectReason) {
        if !self.dev {
            return;
        }
        let (nsp, id, at) = (socket.ns(), socket.id().as_str(), iso(epoch_ms()));
        self.push_state(
            "socket_disconnected",
            vec![nsp.into(), id.into(), reason.as_str().into(), at.clone().into()],
        );
        for room in socket.rooms() {
            self.push_state(
                "room_left",
                vec![nsp.into(), room.as_ref().into(), id.into(), at.clone().into()],
            );
        }
    }

    /// A socket joined (`joined`) or left a room.
    pub(super) fn room(&self, joined: bool, nsp: &str, room: &Room, socket: &SocketId) {
        if !self.dev {
            return;
        }
        let name = if joined { "room_joined" } else { "room_left" };
        let args =
            vec![nsp.into(), room.as_ref().into(), socket.as_str().into(), iso(epoch_ms()).into()];
        self.push_state(name, args);
    }

    /// An event a socket received or was sent: `[nsp, id, [event, ...args], timestamp]`,
    /// binary arguments as attachments.
    fn event(&self, name: &'static str, socket: &Socket, event: &EventName, payload: &Payload) {
        let mut args = Vec::with_capacity(payload.args().len() + 1);
        args.push(Value::from(event.as_str()));
        args.extend(payload.args().iter().cloned());
        let out = vec![
            socket.ns().into(),
            socket.id().as_str().into(),
            Value::Array(args),
            iso(epoch_ms()).into(),
        ];
        self.push(false, name, Payload::from_parts(out, payload.attachments().to_vec()));
    }
}
