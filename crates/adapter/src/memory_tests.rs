//! The in-memory adapter's own rooms: a socket's room named after its id is not stored as a
//! room, and behaves as if it were.

use std::sync::Weak;

use switchboard_proto::engine::EncodedMessage;
use switchboard_proto::socket::{EventName, Packet, Payload};

use crate::{
    AckSender, Adapter, BroadcastFlags, BroadcastOptions, LocalNamespace, MemoryAdapter, Offset,
    Room, ServerAckSender, SocketId, SocketInfo,
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
    fn deliver(
        &self,
        _socket: &SocketId,
        _packet: &Packet,
        _messages: &[EncodedMessage],
        _flags: &BroadcastFlags,
        _offset: Option<&Offset>,
    ) {
    }
    fn deliver_with_ack(
        &self,
        _socket: &SocketId,
        _packet: &Packet,
        _messages: &[EncodedMessage],
        _ack_id: u64,
        _responses: &AckSender,
        _flags: &BroadcastFlags,
    ) -> bool {
        false
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
