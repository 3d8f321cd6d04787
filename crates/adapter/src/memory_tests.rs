//! The in-memory adapter's own rooms: a socket's room named after its id is not stored as a
//! room, and behaves as if it were.

use std::sync::Weak;

use switchboard_proto::engine::EncodedMessage;
use switchboard_proto::socket::{EventName, Packet, Payload};

use crate::{
    Adapter, BroadcastOptions, LocalNamespace, MemoryAdapter, Room, ServerAckSender, SocketHandle,
    SocketId, SocketInfo,
};

/// A namespace that is never there: the adapter is used for its membership only.
struct Nobody;

impl LocalNamespace for Nobody {
    fn name(&self) -> &str {
        "/"
    }
    fn encode(&self, _packet: &Packet) -> Vec<EncodedMessage> {
        Vec::new()
    }
    fn local_socket(&self, _socket: &SocketId) -> Option<SocketHandle> {
        None
    }
    fn next_ack_id(&self) -> u64 {
        0
    }
    fn socket_info(&self, _socket: &SocketId) -> Option<SocketInfo> {
        None
    }
    fn disconnect(&self, _socket: &SocketId, _close: bool) {}
    fn on_server_side_emit(&self, _e: EventName, _p: Payload, _a: Option<ServerAckSender>) {}
}

fn adapter() -> MemoryAdapter {
    let ns: Weak<dyn LocalNamespace> = Weak::<Nobody>::new();
    MemoryAdapter::new(ns)
}

fn id(s: &str) -> SocketId {
    SocketId::from(s)
}

fn rooms(names: &[&str]) -> Vec<Room> {
    names.iter().map(|n| Room::from(*n)).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort_unstable();
    v
}

/// The sockets `opts` reaches, sorted.
fn reached(a: &MemoryAdapter, opts: &BroadcastOptions) -> Vec<String> {
    sorted(a.local_sockets(opts).iter().map(ToString::to_string).collect())
}

fn socket_rooms(a: &MemoryAdapter, s: &str) -> Option<Vec<String>> {
    a.socket_rooms(&id(s)).map(|r| r.iter().map(ToString::to_string).collect())
}

async fn all_rooms(a: &MemoryAdapter) -> Vec<String> {
    sorted(a.rooms().await.unwrap().iter().map(ToString::to_string).collect())
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn a_socket_is_in_its_own_room_first() {
    let a = adapter();
    a.add_all(&id("a"), &rooms(&["a", "r"]));
    a.add_all(&id("b"), &rooms(&["b", "r"]));
    assert_eq!(socket_rooms(&a, "a"), Some(names(&["a", "r"])));
    assert_eq!(reached(&a, &BroadcastOptions::new().to("a")), names(&["a"]));
    assert_eq!(reached(&a, &BroadcastOptions::new().to("r").except("a")), names(&["b"]));
    assert_eq!(reached(&a, &BroadcastOptions::new().except("b")), names(&["a"]));
    assert_eq!(reached(&a, &BroadcastOptions::new().to("a").to("r")), names(&["a", "b"]));
    assert_eq!(reached(&a, &BroadcastOptions::new().to("a").to("b").except("r")), names(&[]));
    assert_eq!(all_rooms(&a).await, names(&["a", "b", "r"]));
    // Joining it again changes nothing.
    a.add_all(&id("a"), &rooms(&["a"]));
    assert_eq!(socket_rooms(&a, "a"), Some(names(&["a", "r"])));
}

#[tokio::test]
async fn other_sockets_may_join_a_socket_room() {
    let a = adapter();
    a.add_all(&id("a"), &rooms(&["a"]));
    a.add_all(&id("b"), &rooms(&["b", "a"]));
    assert_eq!(socket_rooms(&a, "b"), Some(names(&["b", "a"])));
    assert_eq!(reached(&a, &BroadcastOptions::new().to("a")), names(&["a", "b"]));
    assert_eq!(reached(&a, &BroadcastOptions::new().to("a").except("b")), names(&["a"]));
    assert_eq!(reached(&a, &BroadcastOptions::new().except("a")), names(&[]));
    assert_eq!(all_rooms(&a).await, names(&["a", "b"]));
    // The owner leaves its room: the other member stays in it.
    a.del(&id("a"), &Room::from("a"));
    assert_eq!(socket_rooms(&a, "a"), Some(names(&[])));
    assert_eq!(reached(&a, &BroadcastOptions::new().to("a")), names(&["b"]));
    assert_eq!(all_rooms(&a).await, names(&["a", "b"]));
    a.del(&id("b"), &Room::from("a"));
    assert_eq!(reached(&a, &BroadcastOptions::new().to("a")), names(&[]));
    assert_eq!(all_rooms(&a).await, names(&["b"]));
    // And joins it again.
    a.add_all(&id("a"), &rooms(&["a"]));
    assert_eq!(socket_rooms(&a, "a"), Some(names(&["a"])));
    assert_eq!(reached(&a, &BroadcastOptions::new().to("a")), names(&["a"]));
    assert_eq!(all_rooms(&a).await, names(&["a", "b"]));
}

#[tokio::test]
async fn a_socket_that_never_joined_its_room_is_not_in_it() {
    let a = adapter();
    a.add_all(&id("c"), &rooms(&["r"]));
    assert_eq!(socket_rooms(&a, "c"), Some(names(&["r"])));
    assert_eq!(reached(&a, &BroadcastOptions::new().to("c")), names(&[]));
    assert_eq!(all_rooms(&a).await, names(&["r"]));
    a.add_all(&id("c"), &rooms(&["c"]));
    assert_eq!(socket_rooms(&a, "c"), Some(names(&["c", "r"])));
    assert_eq!(reached(&a, &BroadcastOptions::new().to("c")), names(&["c"]));
}

#[tokio::test]
async fn leaving_everything_forgets_the_socket() {
    let a = adapter();
    a.add_all(&id("a"), &rooms(&["a", "r"]));
    a.add_all(&id("b"), &rooms(&["b", "r"]));
    a.del(&id("a"), &Room::from("a"));
    a.del_all(&id("a"));
    assert_eq!(socket_rooms(&a, "a"), None);
    assert_eq!(reached(&a, &BroadcastOptions::new().to("r")), names(&["b"]));
    assert_eq!(reached(&a, &BroadcastOptions::new()), names(&["b"]));
    assert_eq!(all_rooms(&a).await, names(&["b", "r"]));
    // A socket of the same id starts in its own room again.
    a.add_all(&id("a"), &rooms(&["a"]));
    assert_eq!(reached(&a, &BroadcastOptions::new().to("a")), names(&["a"]));
}

#[test]
fn members_of_a_room_share_its_name() {
    let a = adapter();
    a.add_all(&id("a"), &rooms(&["a", "shared"]));
    a.add_all(&id("b"), &rooms(&["b", "shared"]));
    let ra = a.socket_rooms(&id("a")).unwrap();
    let rb = a.socket_rooms(&id("b")).unwrap();
    let (Some(x), Some(y)) = (ra.get(1), rb.get(1)) else { panic!("no room") };
    assert_eq!(x.as_bytes().as_ptr(), y.as_bytes().as_ptr(), "one string for both");
}

/// Logged broadcasts take turns: one made while another is delivered (from inside the
/// delivery, or from another thread) waits in the queue instead of on the log's lock.
mod turns {
    use std::sync::{Arc, Mutex, OnceLock, Weak};

    use switchboard_proto::engine::EncodedMessage;
    use switchboard_proto::socket::{EventName, Packet, PacketData, Payload};

    use crate::{
        AckSender, Adapter, BroadcastFlags, BroadcastOptions, LocalNamespace, LocalSocket,
        MemoryAdapter, Offset, RecoveryOptions, Room, ServerAckSender, SocketHandle, SocketId,
        SocketInfo,
    };

    /// A namespace with recovery on whose sockets record (socket, event, offset); a delivery
    /// of `outer` broadcasts `inner` from inside the delivery, as an outgoing-event listener
    /// that emits does.
    struct Recording {
        me: Weak<Recording>,
        adapter: OnceLock<Weak<MemoryAdapter>>,
        seen: Mutex<Vec<(String, String, u64)>>,
    }

    struct Recipient(String, Weak<Recording>);

    fn event(name: &str) -> Packet {
        let name = EventName::new(name).unwrap();
        Packet::event("/", name, Payload::from_args(vec![serde_json::json!(1)]))
    }

    impl LocalSocket for Recipient {
        fn deliver(
            &self,
            packet: &Packet,
            _messages: &[EncodedMessage],
            _flags: &BroadcastFlags,
            offset: Option<&Offset>,
        ) {
            let Some(ns) = self.1.upgrade() else { return };
            let PacketData::Event { event: name, .. } = &packet.data else { return };
            let offset: u64 = offset.unwrap().as_str().parse().unwrap();
            ns.seen.lock().unwrap().push((self.0.clone(), name.as_str().to_owned(), offset));
            assert!(name.as_str() != "boom", "a listener panics");
            if name.as_str() == "outer" && self.0 == "a" {
                let adapter = ns.adapter.get().and_then(Weak::upgrade).unwrap();
                let mut fut = adapter.broadcast(event("inner"), BroadcastOptions::new());
                let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                // Not delivered yet: its turn comes after the delivering one.
                assert!(fut.as_mut().poll(&mut cx).is_pending());
            }
        }

        fn deliver_with_ack(
            &self,
            _: &Packet,
            _: &[EncodedMessage],
            _: u64,
            _: &AckSender,
            _: &BroadcastFlags,
        ) -> bool {
            false
        }
    }

    impl LocalNamespace for Recording {
        fn name(&self) -> &str {
            "/"
        }
        fn encode(&self, packet: &Packet) -> Vec<EncodedMessage> {
            packet.encode().into_iter().map(EncodedMessage::from).collect()
        }
        fn recovery(&self) -> Option<RecoveryOptions> {
            Some(RecoveryOptions { max_packets: 100_000, ..RecoveryOptions::default() })
        }
        fn local_socket(&self, socket: &SocketId) -> Option<SocketHandle> {
            Some(Arc::new(Recipient(socket.to_string(), self.me.clone())))
        }
        fn next_ack_id(&self) -> u64 {
            0
        }
        fn socket_info(&self, _socket: &SocketId) -> Option<SocketInfo> {
            None
        }
        fn disconnect(&self, _socket: &SocketId, _close: bool) {}
        fn on_server_side_emit(&self, _e: EventName, _p: Payload, _a: Option<ServerAckSender>) {}
    }

    fn setup() -> (Arc<Recording>, Arc<MemoryAdapter>) {
        let ns = Arc::new_cyclic(|me| Recording {
            me: me.clone(),
            adapter: OnceLock::new(),
            seen: Mutex::new(Vec::new()),
        });
        let weak: Weak<dyn LocalNamespace> =
            Arc::downgrade(&(ns.clone() as Arc<dyn LocalNamespace>));
        let adapter = Arc::new(MemoryAdapter::new(weak));
        let _ = ns.adapter.set(Arc::downgrade(&adapter));
        for id in ["a", "b", "c"] {
            adapter.add_all(&SocketId::from(id), &[Room::from(id)]);
        }
        (ns, adapter)
    }

    #[tokio::test]
    async fn a_broadcast_made_during_a_delivery_is_delivered_next_in_offset_order() {
        let (ns, adapter) = setup();
        adapter.broadcast(event("outer"), BroadcastOptions::new()).await.unwrap();
        let mut seen = ns.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 6, "{seen:?}");
        seen.sort_by(|x, y| (&x.0, x.2).cmp(&(&y.0, y.2)));
        for socket in ["a", "b", "c"] {
            let mine: Vec<(&str, u64)> =
                seen.iter().filter(|s| s.0 == socket).map(|s| (s.1.as_str(), s.2)).collect();
            assert_eq!(mine.iter().map(|m| m.0).collect::<Vec<_>>(), ["outer", "inner"]);
            assert!(mine[0].1 < mine[1].1, "{socket}: {mine:?}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn broadcasts_from_many_threads_reach_each_socket_in_offset_order_before_they_return() {
        let (ns, adapter) = setup();
        let mut tasks = Vec::new();
        for t in 0..4 {
            let (ns, adapter) = (ns.clone(), adapter.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..200 {
                    let name = format!("t{t}-{i}");
                    let opts = BroadcastOptions::new().to("b");
                    adapter.broadcast(event(&name), opts).await.unwrap();
                    // Delivered once its future resolved, even when another task delivered it.
                    assert!(ns.seen.lock().unwrap().iter().any(|s| s.1 == name), "{name}");
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let seen = ns.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 800);
        let offsets: Vec<u64> = seen.iter().map(|s| s.2).collect();
        assert!(offsets.windows(2).all(|w| w[0] < w[1]), "offsets out of order");
    }

    #[tokio::test]
    async fn a_delivery_that_panics_ends_its_turn_only() {
        let (ns, adapter) = setup();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut fut = adapter.broadcast(event("boom"), BroadcastOptions::new());
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            let _ = fut.as_mut().poll(&mut cx);
        }));
        assert!(panicked.is_err());
        let after = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            adapter.broadcast(event("after"), BroadcastOptions::new()),
        );
        after.await.unwrap().unwrap();
        let after = ns.seen.lock().unwrap().iter().filter(|s| s.1 == "after").count();
        assert_eq!(after, 3);
    }
}
