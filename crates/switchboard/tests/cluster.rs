//! Server-side emits between several `SocketIo` instances in one process, through a small
//! fake cluster adapter that forwards them (what a Redis adapter does over the network).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use switchboard::{AckError, SocketIo};
use switchboard_adapter::{
    AckEvent, AckSender, Adapter, AdapterError, AdapterFactory, BoxFuture, BroadcastOptions,
    LocalNamespace, MemoryAdapter, Room, ServerAckSender, SocketId, SocketInfo,
};
use switchboard_proto::socket::{EventName, Packet, Payload};

/// The namespaces of every node, by node number.
type Hub = Arc<Mutex<Vec<(usize, Weak<dyn LocalNamespace>)>>>;

/// The in-memory adapter, plus server-side emits forwarded to the other nodes of the hub.
struct Linked {
    node: usize,
    local: MemoryAdapter,
    ns: Weak<dyn LocalNamespace>,
    hub: Hub,
}

impl Linked {
    fn factory(node: usize, hub: Hub) -> Arc<dyn AdapterFactory> {
        Arc::new(move |ns: Weak<dyn LocalNamespace>| -> Arc<dyn Adapter> {
            hub.lock().unwrap().push((node, ns.clone()));
            Arc::new(Linked { node, local: MemoryAdapter::new(ns.clone()), ns, hub: hub.clone() })
        })
    }

    fn others(&self) -> Vec<Arc<dyn LocalNamespace>> {
        let name = self.ns.upgrade().map(|n| n.name().to_owned()).unwrap_or_default();
        let hub = self.hub.lock().unwrap();
        hub.iter()
            .filter(|(node, _)| *node != self.node)
            .filter_map(|(_, ns)| ns.upgrade())
            .filter(|ns| ns.name() == name)
            .collect()
    }
}

impl Adapter for Linked {
    fn add_all(&self, socket: &SocketId, rooms: &[Room]) {
        self.local.add_all(socket, rooms)
    }
    fn del(&self, socket: &SocketId, room: &Room) {
        self.local.del(socket, room)
    }
    fn del_all(&self, socket: &SocketId) {
        self.local.del_all(socket)
    }
    fn socket_rooms(&self, socket: &SocketId) -> Option<Vec<Room>> {
        self.local.socket_rooms(socket)
    }
    fn local_sockets(&self, opts: &BroadcastOptions) -> Vec<SocketId> {
        self.local.local_sockets(opts)
    }
    fn rooms(&self) -> BoxFuture<'_, Result<Vec<Room>, AdapterError>> {
        self.local.rooms()
    }
    fn broadcast(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        self.local.broadcast(packet, opts)
    }
    fn broadcast_with_ack(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
        responses: AckSender,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        self.local.broadcast_with_ack(packet, opts, responses)
    }
    fn fetch_sockets(
        &self,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<Vec<SocketInfo>, AdapterError>> {
        self.local.fetch_sockets(opts)
    }
    fn add_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<Room>,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        self.local.add_sockets(opts, rooms)
    }
    fn del_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<Room>,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        self.local.del_sockets(opts, rooms)
    }
    fn disconnect_sockets(
        &self,
        opts: BroadcastOptions,
        close: bool,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        self.local.disconnect_sockets(opts, close)
    }
    fn server_side_emit(
        &self,
        event: EventName,
        payload: Payload,
        ack: Option<ServerAckSender>,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        let others = self.others();
        if let Some(ack) = &ack {
            ack.send(AckEvent::Expected(others.len())).unwrap();
        }
        for ns in others {
            ns.on_server_side_emit(event.clone(), payload.clone(), ack.clone());
        }
        Box::pin(async { Ok(()) })
    }
    fn server_count(&self) -> BoxFuture<'_, Result<usize, AdapterError>> {
        let n = self.others().len() + 1;
        Box::pin(async move { Ok(n) })
    }
}

/// `n` servers linked by one hub.
fn cluster(n: usize) -> Vec<SocketIo> {
    let hub: Hub = Arc::default();
    (0..n)
        .map(|node| SocketIo::builder().adapter(Linked::factory(node, hub.clone())).build())
        .collect()
}

/// Node `node` answers `ping` with its number, unless `silent`.
fn answer_pings(io: &SocketIo, node: usize, silent: bool, seen: &Arc<Mutex<Vec<String>>>) {
    let seen = seen.clone();
    io.of("/").on_server_side_emit(move |event, payload, ack| {
        let arg: u32 = serde_json::from_value(payload.args()[0].clone()).unwrap();
        seen.lock().unwrap().push(format!("{node}:{event}:{arg}"));
        if let (Some(ack), false) = (ack, silent) {
            let answer = Payload::single(&format!("pong from {node}")).unwrap();
            let from = SocketId::new(format!("server-{node}"));
            ack.send(AckEvent::Response { socket: from, payload: answer }).unwrap();
        }
    });
}

#[tokio::test]
async fn server_side_emits_reach_the_other_servers_and_come_back_with_answers() {
    let nodes = cluster(3);
    let seen = Arc::new(Mutex::new(Vec::new()));
    for (i, io) in nodes.iter().enumerate() {
        answer_pings(io, i, false, &seen);
    }
    nodes[0].server_side_emit("ping", &1).await.unwrap();
    let mut got = std::mem::take(&mut *seen.lock().unwrap());
    got.sort();
    assert_eq!(got, ["1:ping:1", "2:ping:1"], "every other server, not the sender");

    let answers = nodes[0]
        .of("/")
        .server_side_emit_with_ack("ping", &2, Duration::from_secs(5))
        .await
        .unwrap();
    let mut answers: Vec<String> =
        answers.iter().map(|p| serde_json::from_value(p.args()[0].clone()).unwrap()).collect();
    answers.sort();
    assert_eq!(answers, ["pong from 1", "pong from 2"]);
}

#[tokio::test(start_paused = true)]
async fn a_server_side_emit_timeout_keeps_the_answers_that_arrived() {
    let nodes = cluster(3);
    let seen = Arc::new(Mutex::new(Vec::new()));
    answer_pings(&nodes[1], 1, false, &seen);
    answer_pings(&nodes[2], 2, true, &seen);
    let result =
        nodes[0].of("/").server_side_emit_with_ack("ping", &3, Duration::from_millis(100)).await;
    match result {
        Err(AckError::Incomplete { received, expected }) => {
            assert_eq!(expected, 2);
            assert_eq!(received.len(), 1);
            assert_eq!(received[0].socket.as_str(), "server-1");
            assert_eq!(received[0].response.data::<String>().unwrap(), "pong from 1");
        }
        other => panic!("{other:?}"),
    }
}
