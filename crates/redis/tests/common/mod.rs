//! Test helpers: a recording namespace standing for a node's sockets, and a redis-server
//! started on a free port.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use serde_json::{Value, json};
use switchboard_adapter::{
    AckEvent, AckSender, Adapter, AdapterFactory, BroadcastFlags, LocalNamespace, LocalSocket,
    Offset, Room, ServerAckSender, SocketHandle, SocketId, SocketInfo,
};
use switchboard_proto::engine::EncodedMessage;
use switchboard_proto::socket::{EventName, Packet, PacketData, Payload};
use tokio::sync::Notify;

/// What a node saw.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// (socket, event, args) per delivery.
    pub delivered: Vec<(String, String, Vec<Value>)>,
    /// Disconnected sockets.
    pub disconnected: Vec<String>,
    /// Server-side emits: (event, args).
    pub server_side: Vec<(String, Vec<Value>)>,
    /// The recovery offset of each delivery.
    pub offsets: Vec<Option<Offset>>,
}

/// One node's namespace: sockets are ids; deliveries are recorded; every ack is answered
/// with the socket id; server-side emits with ack are answered with `pong from <node>`.
pub struct Node {
    pub node: String,
    /// Itself, for the handles of its sockets.
    me: Weak<Node>,
    pub adapter: OnceLock<Weak<dyn Adapter>>,
    ack_ids: AtomicU64,
    /// Connection state recovery, when on.
    pub recovery: Option<switchboard_adapter::RecoveryOptions>,
    seen: Mutex<Seen>,
    changed: Notify,
}

impl Node {
    /// A node with a `/` namespace and `sockets` (id, rooms), through `factory`.
    pub fn start(
        node: &str,
        factory: &dyn AdapterFactory,
        sockets: &[(&str, &[&str])],
    ) -> (Arc<Node>, Arc<dyn Adapter>) {
        Node::start_with(node, factory, sockets, None)
    }

    /// Same as [`Node::start`], with connection state recovery.
    pub fn start_with(
        node: &str,
        factory: &dyn AdapterFactory,
        sockets: &[(&str, &[&str])],
        recovery: Option<switchboard_adapter::RecoveryOptions>,
    ) -> (Arc<Node>, Arc<dyn Adapter>) {
        let ns = Arc::new_cyclic(|me| Node {
            node: node.to_owned(),
            me: me.clone(),
            adapter: OnceLock::new(),
            ack_ids: AtomicU64::new(0),
            recovery,
            seen: Mutex::new(Seen::default()),
            changed: Notify::new(),
        });
        let weak: Weak<dyn LocalNamespace> =
            Arc::downgrade(&(ns.clone() as Arc<dyn LocalNamespace>));
        let adapter = factory.create(weak);
        let _ = ns.adapter.set(Arc::downgrade(&adapter));
        for (id, rooms) in sockets {
            let mut all: Vec<Room> = vec![Room::from(*id)];
            all.extend(rooms.iter().map(|r| Room::from(*r)));
            adapter.add_all(&SocketId::from(*id), &all);
        }
        (ns, adapter)
    }

    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }

    fn record(&self, f: impl FnOnce(&mut Seen)) {
        f(&mut self.seen.lock().unwrap());
        self.changed.notify_waiters();
    }

    /// Waits (at most 10 s) until `pred` holds for what this node saw.
    pub async fn until(&self, what: &str, pred: impl Fn(&Seen) -> bool) -> Seen {
        let wait = async {
            loop {
                let notified = self.changed.notified();
                let seen = self.seen();
                if pred(&seen) {
                    return seen;
                }
                notified.await;
            }
        };
        match tokio::time::timeout(Duration::from_secs(10), wait).await {
            Ok(seen) => seen,
            Err(_) => panic!("{}: timed out waiting for {what}; saw {:?}", self.node, self.seen()),
        }
    }

    fn adapter(&self) -> Option<Arc<dyn Adapter>> {
        self.adapter.get().and_then(Weak::upgrade)
    }
}

fn event_of(packet: &Packet) -> (String, Vec<Value>) {
    match &packet.data {
        PacketData::Event { event, payload, .. } => {
            (event.as_str().to_owned(), payload.args().to_vec())
        }
        other => (format!("{other:?}"), Vec::new()),
    }
}

/// A socket of a node: records what reaches it; answers every ack with its id.
struct NodeSocket {
    id: SocketId,
    node: Weak<Node>,
}

impl LocalSocket for NodeSocket {
    fn deliver(
        &self,
        packet: &Packet,
        _m: &[EncodedMessage],
        _f: &BroadcastFlags,
        offset: Option<&Offset>,
    ) {
        let Some(node) = self.node.upgrade() else { return };
        let (event, args) = event_of(packet);
        node.record(|s| {
            s.delivered.push((self.id.to_string(), event, args));
            s.offsets.push(offset.cloned());
        });
    }

    fn deliver_with_ack(
        &self,
        packet: &Packet,
        messages: &[EncodedMessage],
        _ack_id: u64,
        responses: &AckSender,
        flags: &BroadcastFlags,
    ) -> bool {
        self.deliver(packet, messages, flags, None);
        let payload = Payload::single(&format!("ack from {}", self.id)).unwrap();
        let _ = responses.send(AckEvent::Response { socket: self.id.clone(), payload });
        true
    }
}

impl LocalNamespace for Node {
    fn name(&self) -> &str {
        "/"
    }

    fn encode(&self, packet: &Packet) -> Vec<EncodedMessage> {
        packet.encode().into_iter().map(EncodedMessage::from).collect()
    }

    fn recovery(&self) -> Option<switchboard_adapter::RecoveryOptions> {
        self.recovery
    }

    fn local_socket(&self, socket: &SocketId) -> Option<SocketHandle> {
        Some(Arc::new(NodeSocket { id: socket.clone(), node: self.me.clone() }))
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
            json!({"node": self.node}),
        ))
    }

    fn disconnect(&self, socket: &SocketId, _close: bool) {
        if let Some(adapter) = self.adapter() {
            adapter.del_all(socket);
        }
        self.record(|s| s.disconnected.push(socket.to_string()));
    }

    fn on_server_side_emit(
        &self,
        event: EventName,
        payload: Payload,
        ack: Option<ServerAckSender>,
    ) {
        let args = payload.args().to_vec();
        self.record(|s| s.server_side.push((event.as_str().to_owned(), args)));
        if let Some(ack) = ack {
            let payload = Payload::single(&format!("pong from {}", self.node)).unwrap();
            let _ = ack
                .send(AckEvent::Response { socket: SocketId::from(self.node.as_str()), payload });
        }
    }
}

/// An event packet for `/` with one argument.
pub fn event(name: &str, arg: Value) -> Packet {
    Packet::event("/", EventName::new(name.to_owned()).unwrap(), Payload::from_args(vec![arg]))
}

/// A redis-server on a free port of 127.0.0.1, in its own directory, without persistence;
/// killed by PID when dropped.
pub struct RedisServer {
    pub port: u16,
    dir: std::path::PathBuf,
    child: Option<tokio::process::Child>,
}

impl RedisServer {
    /// Starts one; waits (at most 20 s) for "Ready to accept connections".
    pub async fn start() -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("sb-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = RedisServer { port, dir, child: None };
        server.restart().await;
        server
    }

    /// The connection URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the server on the same port.
    pub async fn restart(&mut self) {
        use tokio::io::AsyncBufReadExt as _;
        let bin =
            std::env::var("SWITCHBOARD_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
        let mut child = tokio::process::Command::new(&bin)
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {bin} (install the redis-server package): {e}")
            });
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let ready = async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("Ready to accept connections") {
                    return true;
                }
            }
            false
        };
        let ok = tokio::time::timeout(Duration::from_secs(20), ready).await;
        assert!(matches!(ok, Ok(true)), "redis-server did not become ready");
        // Keeps reading its output so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.child = Some(child);
    }

    /// SIGKILLs the server and waits for it to exit.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub mod scenario;
