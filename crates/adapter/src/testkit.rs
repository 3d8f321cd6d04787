//! Checks every [`Adapter`] must pass, run against a recording fake namespace.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! switchboard_adapter::testkit::run(&*switchboard_adapter::MemoryAdapter::factory()).await;
//! # }
//! ```
//!
//! A cluster adapter runs these against a single node; they describe what any node must do
//! with its own sockets.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use serde_json::{Value, json};
use switchboard_proto::engine::{EncodedMessage, Message};
use switchboard_proto::socket::{EventName, Packet, Payload};
use tokio::sync::mpsc;

use crate::{
    AckEvent, AckSender, Adapter, AdapterFactory, BroadcastFlags, BroadcastOptions, LocalNamespace,
    LocalSocket, Offset, RecoveryOptions, Room, ServerAckSender, Session, SocketHandle, SocketId,
    SocketInfo,
};

/// What the fake namespace saw.
#[derive(Debug, Default)]
struct Log {
    delivered: Vec<(SocketId, Vec<Message>)>,
    offsets: Vec<(SocketId, Option<Offset>)>,
    disconnected: Vec<(SocketId, bool)>,
}

/// A namespace whose sockets are plain ids; it records deliveries and answers every ack with
/// the socket id.
#[derive(Debug)]
struct FakeNamespace {
    /// Itself, for the handles of its sockets.
    me: OnceLock<Weak<FakeNamespace>>,
    adapter: OnceLock<Weak<dyn Adapter>>,
    encodes: AtomicUsize,
    ack_ids: AtomicU64,
    recovery: Option<RecoveryOptions>,
    // Written by the adapter under test, read by the checks; never held across an await.
    log: Mutex<Log>,
}

impl FakeNamespace {
    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take(&self) -> Log {
        std::mem::take(&mut *self.log())
    }

    fn adapter(&self) -> Option<Arc<dyn Adapter>> {
        self.adapter.get().and_then(Weak::upgrade)
    }
}

/// A socket of the fake namespace: records what reaches it in the namespace's log.
struct FakeSocket {
    id: SocketId,
    ns: Weak<FakeNamespace>,
}

impl LocalSocket for FakeSocket {
    fn deliver(
        &self,
        _packet: &Packet,
        messages: &[EncodedMessage],
        _flags: &BroadcastFlags,
        offset: Option<&Offset>,
    ) {
        let Some(ns) = self.ns.upgrade() else { return };
        let mut log = ns.log();
        log.delivered
            .push((self.id.clone(), messages.iter().map(EncodedMessage::to_message).collect()));
        log.offsets.push((self.id.clone(), offset.cloned()));
    }

    fn deliver_with_ack(
        &self,
        _packet: &Packet,
        messages: &[EncodedMessage],
        _ack_id: u64,
        responses: &AckSender,
        _flags: &BroadcastFlags,
    ) -> bool {
        let Some(ns) = self.ns.upgrade() else { return false };
        ns.log()
            .delivered
            .push((self.id.clone(), messages.iter().map(EncodedMessage::to_message).collect()));
        let payload = Payload::from_args(vec![Value::String(self.id.to_string())]);
        let _ = responses.send(AckEvent::Response { socket: self.id.clone(), payload });
        true
    }
}

impl LocalNamespace for FakeNamespace {
    fn name(&self) -> &str {
        "/test"
    }

    fn encode(&self, packet: &Packet) -> Vec<EncodedMessage> {
        self.encodes.fetch_add(1, Ordering::SeqCst);
        packet.encode().into_iter().map(EncodedMessage::from).collect()
    }

    fn recovery(&self) -> Option<RecoveryOptions> {
        self.recovery
    }

    fn local_socket(&self, socket: &SocketId) -> Option<SocketHandle> {
        let ns = self.me.get()?.clone();
        Some(Arc::new(FakeSocket { id: socket.clone(), ns }))
    }

    fn next_ack_id(&self) -> u64 {
        self.ack_ids.fetch_add(1, Ordering::SeqCst)
    }

    fn socket_info(&self, socket: &SocketId) -> Option<SocketInfo> {
        let rooms = self.adapter()?.socket_rooms(socket)?;
        Some(SocketInfo::new(
            socket.clone(),
            json!({"auth": {}}),
            rooms,
            json!({"id": socket.as_str()}),
        ))
    }

    fn disconnect(&self, socket: &SocketId, close: bool) {
        self.log().disconnected.push((socket.clone(), close));
        if let Some(adapter) = self.adapter() {
            adapter.del_all(socket);
        }
    }

    fn on_server_side_emit(
        &self,
        _event: EventName,
        _payload: Payload,
        _ack: Option<ServerAckSender>,
    ) {
    }
}

fn ids(list: impl IntoIterator<Item = SocketId>) -> BTreeSet<String> {
    list.into_iter().map(|id| id.to_string()).collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

fn room(name: &str) -> Room {
    Room::from(name)
}

/// A fresh adapter over a fresh fake namespace with sockets `a` (rooms r1), `b` (r1, r2) and
/// `c` (r2), each also in the room named after it.
fn setup(factory: &dyn AdapterFactory) -> (Arc<FakeNamespace>, Arc<dyn Adapter>) {
    setup_with(factory, None)
}

fn setup_with(
    factory: &dyn AdapterFactory,
    recovery: Option<RecoveryOptions>,
) -> (Arc<FakeNamespace>, Arc<dyn Adapter>) {
    let ns = Arc::new(FakeNamespace {
        me: OnceLock::new(),
        adapter: OnceLock::new(),
        encodes: AtomicUsize::new(0),
        ack_ids: AtomicU64::new(0),
        recovery,
        log: Mutex::new(Log::default()),
    });
    let _ = ns.me.set(Arc::downgrade(&ns));
    let weak: Weak<dyn LocalNamespace> = Arc::downgrade(&(ns.clone() as Arc<dyn LocalNamespace>));
    let adapter = factory.create(weak);
    let _ = ns.adapter.set(Arc::downgrade(&adapter));
    for (id, rooms) in [("a", &["a", "r1"][..]), ("b", &["b", "r1", "r2"]), ("c", &["c", "r2"])] {
        let rooms: Vec<Room> = rooms.iter().map(|r| room(r)).collect();
        adapter.add_all(&SocketId::from(id), &rooms);
    }
    (ns, adapter)
}

fn event(name: &str) -> Packet {
    let name = EventName::new(name).unwrap_or_else(|_| unreachable_name());
    Packet::event("/test", name, Payload::from_args(vec![json!(1)]))
}

fn unreachable_name() -> EventName {
    // Only called for reserved names, which the checks never use.
    EventName::from_static("invalid").unwrap_or_else(|_| unreachable_name())
}

/// Runs every check against adapters made by `factory`. Panics with a description of the
/// first failed check.
pub async fn run(factory: &dyn AdapterFactory) {
    membership(factory).await;
    broadcast_targets(factory).await;
    broadcast_encodes_once(factory).await;
    broadcast_with_ack(factory).await;
    fetch_sockets(factory).await;
    add_and_del_sockets(factory).await;
    disconnect_sockets(factory).await;
    server_side(factory).await;
    recovery(factory).await;
}

/// `add_all`, `del`, `del_all`, `socket_rooms`, `rooms`: empty rooms disappear.
pub async fn membership(factory: &dyn AdapterFactory) {
    let (_ns, adapter) = setup(factory);
    let b = SocketId::from("b");
    let rooms = |id: &SocketId| {
        adapter.socket_rooms(id).map(|r| r.iter().map(|r| r.to_string()).collect::<BTreeSet<_>>())
    };
    assert_eq!(rooms(&b), Some(set(&["b", "r1", "r2"])), "socket_rooms after add_all");
    let all: BTreeSet<String> =
        adapter.rooms().await.ok().unwrap_or_default().iter().map(|r| r.to_string()).collect();
    assert_eq!(all, set(&["a", "b", "c", "r1", "r2"]), "rooms()");
    adapter.del(&b, &room("r2"));
    assert_eq!(rooms(&b), Some(set(&["b", "r1"])), "socket_rooms after del");
    adapter.del(&SocketId::from("c"), &room("r2"));
    let all: BTreeSet<String> =
        adapter.rooms().await.ok().unwrap_or_default().iter().map(|r| r.to_string()).collect();
    assert_eq!(all, set(&["a", "b", "c", "r1"]), "an empty room disappears");
    adapter.del_all(&b);
    assert_eq!(rooms(&b), None, "socket_rooms after del_all");
    assert_eq!(ids(adapter.local_sockets(&BroadcastOptions::new().to("r1"))), set(&["a"]));
    adapter.del(&SocketId::from("nobody"), &room("r1"));
    adapter.del_all(&SocketId::from("nobody"));
}

/// Rooms, except, and their combinations select the right sockets, each at most once.
pub async fn broadcast_targets(factory: &dyn AdapterFactory) {
    let cases: &[(&[&str], &[&str], &[&str])] = &[
        (&[], &[], &["a", "b", "c"]),
        (&["r1"], &[], &["a", "b"]),
        (&["r1", "r2"], &[], &["a", "b", "c"]),
        (&["r1"], &["r2"], &["a"]),
        (&[], &["a"], &["b", "c"]),
        (&["c"], &[], &["c"]),
        (&["nope"], &[], &[]),
        (&[], &["r1", "r2"], &[]),
    ];
    for (rooms, except, expected) in cases {
        let (ns, adapter) = setup(factory);
        let mut opts = BroadcastOptions::new();
        opts.rooms = rooms.iter().map(|r| room(r)).collect();
        opts.except = except.iter().map(|r| room(r)).collect();
        assert!(adapter.broadcast(event("e"), opts).await.is_ok(), "broadcast failed");
        let log = ns.take();
        let got: Vec<String> = log.delivered.iter().map(|(id, _)| id.to_string()).collect();
        let unique: BTreeSet<String> = got.iter().cloned().collect();
        assert_eq!(got.len(), unique.len(), "a socket got a broadcast twice: {got:?}");
        assert_eq!(unique, set(expected), "broadcast to {rooms:?} except {except:?}");
    }
}

/// A broadcast is encoded once and every recipient gets the same messages.
pub async fn broadcast_encodes_once(factory: &dyn AdapterFactory) {
    let (ns, adapter) = setup(factory);
    assert!(adapter.broadcast(event("once"), BroadcastOptions::new()).await.is_ok());
    assert_eq!(ns.encodes.load(Ordering::SeqCst), 1, "broadcast encoded more than once");
    let log = ns.take();
    let expected = event("once").encode();
    assert_eq!(log.delivered.len(), 3);
    for (_, messages) in log.delivered {
        assert_eq!(messages, expected);
    }
}

/// Broadcast with ack: the count of reached sockets, then one answer per socket, with the ack
/// id set in the delivered packet.
pub async fn broadcast_with_ack(factory: &dyn AdapterFactory) {
    let (ns, adapter) = setup(factory);
    // Unbounded: the test holds the receiver and reads everything.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let opts = BroadcastOptions::new().to("r2");
    assert!(adapter.broadcast_with_ack(event("ask"), opts, tx).await.is_ok());
    let mut expected = 0;
    let mut answers = Vec::new();
    while let Some(ev) = rx.recv().await {
        match ev {
            AckEvent::Expected(n) => expected += n,
            AckEvent::Response { socket, .. } => answers.push(socket),
        }
    }
    assert_eq!(expected, 2, "expected answers for room r2");
    assert_eq!(ids(answers), set(&["b", "c"]));
    let log = ns.take();
    for (_, messages) in &log.delivered {
        let Some(Message::Text(text)) = messages.first() else { panic!("no text message") };
        assert!(text.starts_with("2/test,0["), "ack id missing from {text}");
    }
    assert_eq!(ns.encodes.load(Ordering::SeqCst), 1, "broadcast with ack encoded more than once");
}

/// `fetch_sockets` returns a snapshot of each matching socket.
pub async fn fetch_sockets(factory: &dyn AdapterFactory) {
    let (_ns, adapter) = setup(factory);
    let infos = adapter.fetch_sockets(BroadcastOptions::new().to("r1").except("a")).await;
    let infos = infos.ok().unwrap_or_default();
    assert_eq!(infos.len(), 1, "fetch_sockets(r1 except a)");
    let info = infos.first().cloned();
    assert_eq!(info.as_ref().map(|i| i.id.to_string()), Some("b".to_owned()));
    let rooms: BTreeSet<String> =
        info.map(|i| i.rooms.iter().map(|r| r.to_string()).collect()).unwrap_or_default();
    assert_eq!(rooms, set(&["b", "r1", "r2"]));
    let all = adapter.fetch_sockets(BroadcastOptions::new()).await.ok().unwrap_or_default();
    assert_eq!(ids(all.into_iter().map(|i| i.id)), set(&["a", "b", "c"]));
}

/// `add_sockets` / `del_sockets` change the rooms of the matching sockets only.
pub async fn add_and_del_sockets(factory: &dyn AdapterFactory) {
    let (_ns, adapter) = setup(factory);
    assert!(
        adapter
            .add_sockets(BroadcastOptions::new().to("r2"), vec![room("x"), room("y")])
            .await
            .is_ok()
    );
    assert_eq!(ids(adapter.local_sockets(&BroadcastOptions::new().to("x"))), set(&["b", "c"]));
    assert!(adapter.del_sockets(BroadcastOptions::new().to("b"), vec![room("x")]).await.is_ok());
    assert_eq!(ids(adapter.local_sockets(&BroadcastOptions::new().to("x"))), set(&["c"]));
    assert_eq!(ids(adapter.local_sockets(&BroadcastOptions::new().to("y"))), set(&["b", "c"]));
    let mut counts: HashMap<String, usize> = HashMap::new();
    for r in adapter.rooms().await.ok().unwrap_or_default() {
        *counts.entry(r.to_string()).or_default() += 1;
    }
    assert_eq!(counts.get("x"), Some(&1));
}

/// `disconnect_sockets` asks the namespace to disconnect each matching socket.
pub async fn disconnect_sockets(factory: &dyn AdapterFactory) {
    let (ns, adapter) = setup(factory);
    assert!(adapter.disconnect_sockets(BroadcastOptions::new().to("r1"), true).await.is_ok());
    let mut got: Vec<(String, bool)> =
        ns.take().disconnected.into_iter().map(|(id, c)| (id.to_string(), c)).collect();
    got.sort();
    assert_eq!(got, vec![("a".to_owned(), true), ("b".to_owned(), true)]);
    assert_eq!(ids(adapter.local_sockets(&BroadcastOptions::new())), set(&["c"]));
}

/// A single node counts itself, and a server-side emit with ack announces how many answers
/// to expect.
pub async fn server_side(factory: &dyn AdapterFactory) {
    let (_ns, adapter) = setup(factory);
    let count = adapter.server_count().await.ok();
    assert!(count.is_some_and(|n| n >= 1), "server_count {count:?}");
    // Unbounded: the test holds the receiver.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let name = EventName::from_static("hello").ok();
    assert!(name.is_some());
    if let Some(name) = name {
        assert!(adapter.server_side_emit(name, Payload::new(), Some(tx)).await.is_ok());
    }
    let mut expected = None;
    while let Some(ev) = rx.recv().await {
        if let AckEvent::Expected(n) = ev {
            expected = Some(expected.unwrap_or(0) + n);
        }
    }
    assert_eq!(expected.map(|n| n + 1), count, "server-side emit reaches every other server");
}

/// The last argument of the first delivered text message, e.g. `"3"` in `2/test,["e",1,"3"]`.
fn last_arg(messages: &[Message]) -> Option<Value> {
    let Some(Message::Text(text)) = messages.first() else { return None };
    let json = text.as_str().split_once('[').map(|(_, rest)| format!("[{rest}"))?;
    serde_json::from_str::<Vec<Value>>(&json).ok()?.pop()
}

/// Connection state recovery, for adapters whose [`Adapter::supports_recovery`] is true:
/// logged broadcasts carry increasing offsets (volatile ones and ones with ack carry none),
/// a session is taken once, and the packets after an offset are the ones the session's rooms
/// would have received, in order; an unknown offset makes recovery impossible.
pub async fn recovery(factory: &dyn AdapterFactory) {
    let (ns, adapter) = setup_with(factory, Some(RecoveryOptions::default()));
    if !adapter.supports_recovery() {
        return;
    }
    let send = |name: &str, to: &[&str], volatile: bool| {
        let mut opts = BroadcastOptions::new();
        opts.rooms = to.iter().map(|r| room(r)).collect();
        opts.flags.volatile = volatile;
        adapter.broadcast(event(name), opts)
    };
    assert!(send("first", &[], false).await.is_ok());
    let log = ns.take();
    let offsets: Vec<Option<Offset>> = log.offsets.iter().map(|(_, o)| o.clone()).collect();
    assert_eq!(offsets.len(), 3, "first broadcast reaches a, b, c");
    let first = offsets.first().cloned().flatten();
    assert!(first.is_some(), "a logged broadcast is delivered with its offset");
    assert!(offsets.iter().all(|o| *o == first), "one offset per broadcast");
    let text = first.as_ref().map(|o| Value::String(o.to_string()));
    for (_, messages) in &log.delivered {
        assert_eq!(last_arg(messages), text, "the offset is the packet's last argument");
    }
    let Some(first) = first else { return };

    // Three more: to r1 (a, b), volatile to everyone, to c.
    assert!(send("to-r1", &["r1"], false).await.is_ok());
    assert!(send("volatile", &[], true).await.is_ok());
    assert!(send("to-c", &["c"], false).await.is_ok());
    let log = ns.take();
    let mut seen: Vec<Offset> = Vec::new();
    for (id, offset) in &log.offsets {
        if let Some(o) = offset {
            assert!(*o > first, "offsets increase");
            if !seen.contains(o) {
                seen.push(o.clone());
            }
        } else {
            assert!(["a", "b", "c"].contains(&id.as_str()));
        }
    }
    assert_eq!(seen.len(), 2, "the volatile broadcast has no offset");
    let (tx, _rx) = mpsc::unbounded_channel();
    assert!(adapter.broadcast_with_ack(event("ask"), BroadcastOptions::new(), tx).await.is_ok());
    assert!(ns.take().offsets.iter().all(|(_, o)| o.is_none()), "a packet with ack has no offset");

    // `a` drops: its session is saved, then taken once.
    let a = SocketId::from("a");
    let rooms = adapter.socket_rooms(&a).unwrap_or_default();
    adapter.del_all(&a);
    let session = Session::new(a.clone(), "pid-a", rooms.clone(), json!({"n": 1}));
    assert!(adapter.persist_session(session.clone()).await.is_ok());
    assert!(adapter.take_session("nobody").await.ok().flatten().is_none(), "unknown pid");
    let taken = adapter.take_session("pid-a").await.ok().flatten();
    assert_eq!(taken.as_ref(), Some(&session), "the saved session comes back as saved");
    assert!(adapter.take_session("pid-a").await.ok().flatten().is_none(), "taken once");

    // Missed after `first` for a (rooms a, r1): to-r1 only.
    let missed = adapter.missed_packets(&first, &rooms).await.ok().flatten();
    let names: Option<Vec<String>> = missed.as_ref().map(|m| {
        m.iter()
            .filter_map(|(_, p)| match &p.data {
                switchboard_proto::socket::PacketData::Event { event, .. } => {
                    Some(event.as_str().to_owned())
                }
                _ => None,
            })
            .collect()
    });
    assert_eq!(names, Some(vec!["to-r1".to_owned()]), "missed packets for rooms a, r1");
    if let Some(missed) = missed {
        for (offset, packet) in &missed {
            assert!(*offset > first);
            let last = last_arg(&packet.encode());
            assert_eq!(last, Some(Value::String(offset.to_string())), "replayed with its offset");
        }
        if let Some((last, _)) = missed.last() {
            let none = adapter.missed_packets(last, &rooms).await.ok().flatten();
            assert_eq!(none.map(|m| m.len()), Some(0), "nothing after the last offset");
        }
    }
    for bad in ["999999999", "not-an-offset"] {
        let missed = adapter.missed_packets(&Offset::from(bad), &rooms).await.ok().flatten();
        assert!(missed.is_none(), "offset {bad} must make recovery impossible");
    }
}
