//! A client's connection to one namespace.

mod emit;
mod send;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use switchboard_adapter::{Offset, Room, SocketId};
use switchboard_engine::{DisconnectReason as EngineReason, EncodedMessage, TransportKind};
use switchboard_proto::socket::{EventName, Packet, Payload};

use crate::ack::{AckWaiter, error_object};
use crate::client::Client;
use crate::event::{AnyListener, DisconnectHandler, Handlers, PacketMiddleware};
use crate::latch::Latch;
use crate::namespace::NamespaceInner;
use crate::{Ack, AckError, AckResponse, DisconnectReason, Handshake};

/// A listener for the connection's transport upgrade.
type UpgradeListener = Arc<dyn Fn(&Socket, TransportKind) + Send + Sync>;

/// The answer to an emit with ack; it does not borrow the socket or the data.
///
/// ```
/// use std::time::Duration;
/// use switchboard::prelude::*;
/// use switchboard::AckFuture;
/// use switchboard::testing::TestClient;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let io = SocketIo::new(Default::default());
/// io.on_connection(|socket: Socket| async move {
///     // Ask now, await later: the future owns what it needs.
///     let answer: AckFuture = socket.timeout(Duration::from_secs(5)).emit_with_ack("name?", &());
///     tokio::spawn(async move {
///         let name = answer.await?.data::<String>()?;
///         socket.emit("hello", &name)?;
///         Ok::<_, HandlerError>(())
///     });
/// });
/// let mut client = TestClient::connect(&io).await?;
/// let question = client.recv().await?;
/// client.ack(&question, "ana")?;
/// assert_eq!(client.recv().await?.data::<String>()?, "ana");
/// # Ok(()) }
/// ```
pub type AckFuture =
    std::pin::Pin<Box<dyn Future<Output = Result<AckResponse, AckError>> + Send + 'static>>;

/// Where a socket is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    /// Middlewares are running; not in the namespace yet.
    Pending,
    /// In the namespace.
    Connected,
    /// Leaving: `disconnecting` handlers run, rooms still joined.
    Disconnecting,
    /// Gone.
    Disconnected,
}

/// The mutable state of a socket.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) handlers: Handlers,
    pub(crate) on_disconnect: Vec<DisconnectHandler>,
    /// What few sockets use, allocated on first use: every connection pays for the rest.
    extras: Option<Box<Extras>>,
    /// The emits waiting for the client's answer, allocated on first use: most sockets
    /// never wait for one, and an empty hash table is as large as a few pointers.
    #[allow(clippy::box_collection, reason = "a socket without pending acks holds one pointer")]
    pub(crate) acks: Option<Box<HashMap<u64, AckWaiter>>>,
    /// The user data (`None`: null), boxed: most sockets have none, and a JSON value is
    /// large inline.
    data: Option<Box<Value>>,
    /// While a recovered socket's missed packets are being replayed, live deliveries wait here
    /// (with their offsets) so that none overtakes or repeats the replay. Boxed: only a
    /// recovering socket has one.
    #[allow(clippy::box_collection, reason = "a socket without a gate holds one pointer")]
    pub(crate) gate: Option<Box<Vec<Gated>>>,
}

/// The rarely used parts of a socket's state.
#[derive(Default)]
pub(crate) struct Extras {
    pub(crate) any: Vec<AnyListener>,
    pub(crate) any_outgoing: Vec<AnyListener>,
    pub(crate) middleware: Vec<PacketMiddleware>,
    pub(crate) on_disconnecting: Vec<DisconnectHandler>,
    pub(crate) on_upgrade: Vec<UpgradeListener>,
    pub(crate) extensions: http::Extensions,
}

impl State {
    /// The rarely used parts, allocated now if needed (to register something).
    pub(crate) fn extras(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Box::default)
    }

    /// The user data (null if unset).
    fn data(&self) -> Value {
        self.data.as_deref().cloned().unwrap_or(Value::Null)
    }

    /// Sets the user data.
    fn set_data(&mut self, data: Value) {
        self.data = (!data.is_null()).then(|| Box::new(data));
    }

    /// A copy of one of the rarely used lists (empty if none was ever registered).
    pub(crate) fn extra<T: Clone>(&self, list: impl Fn(&Extras) -> &Vec<T>) -> Vec<T> {
        self.extras.as_deref().map(|e| list(e).clone()).unwrap_or_default()
    }
}

/// A live delivery held while the replay runs.
pub(crate) struct Gated {
    offset: Option<Offset>,
    messages: Vec<EncodedMessage>,
    volatile: bool,
}

// `repr(C)`, hot fields first: a broadcast reads `conn` and `special` of every recipient,
// which then share the cache line of the reference counts.
#[repr(C)]
pub(crate) struct SocketInner {
    /// The client's connection, here too: a broadcast reaches it without going through the
    /// client.
    conn: crate::conn::ConnRef,
    /// Set under the state lock once a delivery must look at the state (outgoing listeners,
    /// or a replay gate); only `open_gate` clears it. Read without the lock by each delivery,
    /// so that the common case takes no lock per recipient.
    pub(crate) special: AtomicBool,
    /// The socket's [`Phase`]: written under the state lock (so that a reader holding the
    /// lock sees it in step with the state), read without it on every send, which then takes
    /// no lock.
    phase: AtomicU8,
    recovered: bool,
    /// The client left (or the connection closed): no ack can be answered anymore. Written
    /// and read under the state lock; an atomic here rather than a field of the state, where
    /// it would cost a word of padding.
    pub(crate) acks_closed: AtomicBool,
    id: SocketId,
    /// This socket, for the broadcasts that reach it through its adapter handle and run its
    /// outgoing listeners (which take a `Socket`).
    me: Weak<SocketInner>,
    ns: Arc<NamespaceInner>,
    client: Arc<Client>,
    handshake: Handshake,
    /// The private session id (connection state recovery on), sent in the CONNECT answer.
    /// Boxed: most servers run without recovery, and every socket pays for the field.
    pid: Option<Box<switchboard_proto::Str>>,
    // Set to true once the socket has left its rooms (and its session is saved); a takeover
    // of its session waits for it. Only `on_close` writes it.
    closed: Latch,
    pub(crate) next_handler: AtomicU64,
    // Touched by the drainer (handler lookup per event), by user code on any task (on, off,
    // emit_with_ack, data, extensions) and by the session task (acks). A lock rather than one
    // owner: that API is synchronous (`socket.data()` answers at once, `socket.on` from any
    // handler takes effect for the next event), so a reader cannot wait for an owner's answer,
    // and an owner task per socket would park a task per idle connection. Uncontended in
    // practice, one acquisition per event; short critical sections, never across an await.
    state: Mutex<State>,
}

impl SocketInner {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent, so a poisoned lock is usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn phase(&self) -> Phase {
        match self.phase.load(Ordering::SeqCst) {
            0 => Phase::Pending,
            1 => Phase::Connected,
            2 => Phase::Disconnecting,
            _ => Phase::Disconnected,
        }
    }

    /// Sets the phase; called with the state lock held (`_held`).
    fn set_phase(&self, _held: &mut State, phase: Phase) {
        self.phase.store(phase as u8, Ordering::SeqCst);
    }
}

/// A client connected to a namespace (Node's `Socket`). Cloning is cheap: every clone is the
/// same socket.
///
/// ```
/// use switchboard::prelude::*;
/// use switchboard::testing::TestClient;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let io = SocketIo::new(Default::default());
/// io.of("/").on_connection(|socket: Socket| async move {
///     socket.join("lobby");
///     socket.on("rooms", |socket: Socket| async move {
///         let mut rooms: Vec<String> = socket.rooms().iter().map(|r| r.to_string()).collect();
///         rooms.sort();
///         Ok::<_, HandlerError>(rooms)
///     })
/// });
/// let mut client = TestClient::connect(&io).await?;
/// let mut expected = vec![client.id().to_owned(), "lobby".to_owned()];
/// expected.sort();
/// assert_eq!(client.emit_with_ack("rooms", &()).await?.data::<Vec<String>>()?, expected);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Socket(pub(crate) Arc<SocketInner>);

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket").field("id", &self.0.id).field("ns", &self.ns()).finish()
    }
}

impl Socket {
    pub(crate) fn new(
        id: SocketId,
        ns: Arc<NamespaceInner>,
        client: Arc<Client>,
        handshake: Handshake,
        pid: Option<switchboard_proto::Str>,
        recovered: bool,
    ) -> Self {
        let state = State::default();
        Socket(Arc::new_cyclic(|me| SocketInner {
            conn: client.conn().clone(),
            special: AtomicBool::new(false),
            phase: AtomicU8::new(Phase::Pending as u8),
            recovered,
            acks_closed: AtomicBool::new(false),
            id,
            me: me.clone(),
            ns,
            client,
            handshake,
            pid: pid.map(Box::new),
            closed: Latch::new(),
            next_handler: AtomicU64::new(0),
            state: Mutex::new(state),
        }))
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.0.state()
    }

    /// The delivery handle the adapter keeps with this socket's rooms.
    pub(crate) fn handle(&self) -> switchboard_adapter::SocketHandle {
        self.0.clone()
    }

    /// The socket id (also the name of a room the socket is always in).
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on("whoami", |s: Socket| async move {
    ///         Ok::<_, HandlerError>(s.id().to_string())
    ///     })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// assert_eq!(client.emit_with_ack("whoami", &()).await?.data::<String>()?, client.id());
    /// // A message to one socket: to the room named after its id.
    /// io.to(client.id().to_owned()).emit("private", "psst").await?;
    /// assert_eq!(client.recv().await?.data::<String>()?, "psst");
    /// # Ok(()) }
    /// ```
    pub fn id(&self) -> &SocketId {
        &self.0.id
    }

    /// The namespace this socket is in.
    pub(crate) fn namespace_inner(&self) -> &Arc<NamespaceInner> {
        &self.0.ns
    }

    /// The namespace name.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let chat = io.of("/chat");
    /// chat.on_connection(|socket: Socket| async move { socket.emit("in", socket.ns()) });
    /// let mut client = TestClient::connect_to(&io, "/chat", serde_json::Value::Null).await?;
    /// assert_eq!(client.recv().await?.data::<String>()?, "/chat");
    /// # Ok(()) }
    /// ```
    pub fn ns(&self) -> &str {
        self.0.ns.name()
    }

    pub(crate) fn ns_str(&self) -> switchboard_proto::Str {
        self.0.ns.name_str()
    }

    /// The namespace this socket is connected to.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     // Everyone in the namespace, the sender included.
    ///     socket.on("shout", |s: Socket, Data(text): Data<String>| async move {
    ///         s.namespace().emit("shouted", &text).await
    ///     })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// client.emit("shout", "hey")?;
    /// assert_eq!(client.recv().await?.data::<String>()?, "hey");
    /// # Ok(()) }
    /// ```
    pub fn namespace(&self) -> crate::Namespace {
        crate::Namespace(self.0.ns.clone())
    }

    pub(crate) fn client(&self) -> &Arc<Client> {
        &self.0.client
    }

    /// The handshake.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     let handshake = socket.handshake();
    ///     socket.emit("seen", &(&handshake.auth["name"], handshake.query.get("EIO")))
    /// });
    /// let auth = serde_json::json!({"name": "ana"});
    /// let mut client = TestClient::connect_to(&io, "/", auth).await?;
    /// let seen = client.recv().await?.data::<(String, Option<String>)>()?;
    /// assert_eq!(seen, ("ana".to_owned(), Some("4".to_owned())));
    /// # Ok(()) }
    /// ```
    pub fn handshake(&self) -> &Handshake {
        &self.0.handshake
    }

    /// Whether the socket is connected to its namespace.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let (tx, mut after) = tokio::sync::mpsc::unbounded_channel();
    /// io.on_connection(move |socket: Socket| {
    ///     let tx = tx.clone();
    ///     async move {
    ///         socket.on_disconnect(move |s: Socket| {
    ///             let _ = tx.send(s.connected());
    ///             async {}
    ///         });
    ///         socket.emit("connected", &socket.connected())
    ///     }
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// assert!(client.recv().await?.data::<bool>()?);
    /// client.disconnect();
    /// assert_eq!(after.recv().await, Some(false));
    /// # Ok(()) }
    /// ```
    pub fn connected(&self) -> bool {
        self.0.phase() == Phase::Connected
    }

    /// Whether the connection state was recovered after a temporary disconnection (Node's
    /// `socket.recovered`): same id, rooms and data, and the missed packets were replayed.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// use switchboard::ConnectionStateRecovery;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut config = SocketIoConfig::default();
    /// config.connection_state_recovery = Some(ConnectionStateRecovery::default());
    /// let io = SocketIo::new(config);
    /// io.on_connection(|socket: Socket| async move {
    ///     if !socket.recovered() {
    ///         socket.join("news"); // a recovered socket is back in its rooms already
    ///     }
    ///     socket.on("recovered?", |s: Socket| async move { Ok::<_, HandlerError>(s.recovered()) })
    /// });
    /// let mut client = TestClient::connect(&io).await?; // a first connection: nothing to recover
    /// assert!(!client.emit_with_ack("recovered?", &()).await?.data::<bool>()?);
    /// assert_eq!(io.in_("news").fetch_sockets().await?.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn recovered(&self) -> bool {
        self.0.recovered
    }

    /// The private session id (only with connection state recovery on).
    pub(crate) fn pid(&self) -> Option<&switchboard_proto::Str> {
        self.0.pid.as_deref()
    }

    /// Waits until the socket has left its rooms and saved its session.
    pub(crate) async fn wait_closed(&self) {
        self.0.closed.wait().await;
    }

    pub(crate) fn set_data_json(&self, data: Value) {
        self.state().set_data(data);
    }

    /// The current transport of the underlying connection (Node's `socket.conn.transport.name`).
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::TransportKind;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     let upgraded = socket.transport() == TransportKind::WebSocket;
    ///     socket.emit("websocket", &upgraded)
    /// });
    /// let mut client = TestClient::connect(&io).await?; // in process, as over a WebSocket
    /// assert!(client.recv().await?.data::<bool>()?);
    /// # Ok(()) }
    /// ```
    pub fn transport(&self) -> TransportKind {
        self.0.client.conn().transport()
    }

    /// The Engine.IO session id of the underlying connection (Node's `socket.conn.id`).
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     // The Engine.IO session, not the Socket.IO id: one connection, a socket per namespace.
    ///     socket.emit("ids", &(socket.conn_id(), socket.id().as_str()))
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// let (conn_id, id) = client.recv().await?.data::<(String, String)>()?;
    /// assert_ne!(conn_id, id);
    /// assert_eq!(id, client.id());
    /// # Ok(()) }
    /// ```
    pub fn conn_id(&self) -> &str {
        self.0.client.conn().sid()
    }

    /// The user data (Node's `socket.data`), deserialized: `Ok(None)` if unset, an error if
    /// it does not fit `T`.
    ///
    /// ```
    /// # use switchboard::Socket;
    /// # fn demo(socket: Socket) -> Result<(), serde_json::Error> {
    /// socket.set_data(&("ana", 7))?;
    /// assert_eq!(socket.data::<(String, u32)>()?, Some(("ana".to_owned(), 7)));
    /// assert!(socket.data::<u32>().is_err());
    /// # Ok(()) }
    /// ```
    pub fn data<T: DeserializeOwned>(&self) -> Result<Option<T>, serde_json::Error> {
        let v = self.state().data();
        if v.is_null() { Ok(None) } else { serde_json::from_value(v).map(Some) }
    }

    /// Sets the user data. It is kept as JSON, so that `fetch_sockets` can return it from any
    /// server of a cluster.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket, Data(auth): Data<serde_json::Value>| async move {
    ///     socket.set_data(&auth["name"])
    /// });
    /// let _ana = TestClient::connect_to(&io, "/", serde_json::json!({"name": "ana"})).await?;
    /// // Readable from any server of the cluster, as JSON.
    /// let sockets = io.fetch_sockets().await?;
    /// assert_eq!(sockets[0].data::<String>()?.as_deref(), Some("ana"));
    /// # Ok(()) }
    /// ```
    pub fn set_data<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), serde_json::Error> {
        let v = serde_json::to_value(data)?;
        self.state().set_data(v);
        Ok(())
    }

    pub(crate) fn data_json(&self) -> Value {
        self.state().data()
    }

    /// Stores a local, non-serializable value (one per type).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    ///
    /// #[derive(Clone)]
    /// struct Session(Arc<String>); // anything Clone: a handle, a channel, an `Arc`
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.use_middleware(|socket: Socket| async move {
    ///     socket.insert_extension(Session(Arc::new("token-1".to_owned())));
    ///     Ok::<_, HandlerError>(())
    /// });
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on("session", |Extension(Session(token)): Extension<Session>| async move {
    ///         Ok::<_, HandlerError>(token.to_string())
    ///     })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// assert_eq!(client.emit_with_ack("session", &()).await?.data::<String>()?, "token-1");
    /// # Ok(()) }
    /// ```
    pub fn insert_extension<T: Clone + Send + Sync + 'static>(&self, value: T) {
        self.state().extras().extensions.insert(value);
    }

    /// A copy of a value stored with [`Socket::insert_extension`].
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    ///
    /// #[derive(Clone, Copy)]
    /// struct Score(u32);
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on("point", |s: Socket| async move {
    ///         let Score(n) = s.extension::<Score>().unwrap_or(Score(0));
    ///         s.insert_extension(Score(n + 1));
    ///         Ok::<_, HandlerError>(n + 1)
    ///     })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// assert_eq!(client.emit_with_ack("point", &()).await?.data::<u32>()?, 1);
    /// assert_eq!(client.emit_with_ack("point", &()).await?.data::<u32>()?, 2);
    /// # Ok(()) }
    /// ```
    pub fn extension<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.state().extras.as_deref().and_then(|e| e.extensions.get::<T>().cloned())
    }

    // ---- rooms ----------------------------------------------------------------------------

    /// Joins one room.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on("join", |s: Socket, Data(room): Data<String>| async move {
    ///         s.join(room);
    ///         Ok::<_, HandlerError>(())
    ///     })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// client.emit_with_ack("join", "tea").await?;
    /// io.to("tea").emit("brewed", "green").await?;
    /// assert_eq!(client.recv().await?.data::<String>()?, "green");
    /// # Ok(()) }
    /// ```
    pub fn join(&self, room: impl Into<Room>) {
        self.0.ns.adapter().add_all(self.id(), &[room.into()]);
    }

    /// Joins several rooms.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move { socket.join_all(["eu", "players"]) });
    /// let _client = TestClient::connect(&io).await?;
    /// assert_eq!(io.in_("eu").fetch_sockets().await?.len(), 1);
    /// assert_eq!(io.in_("players").fetch_sockets().await?.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn join_all<R: Into<Room>>(&self, rooms: impl IntoIterator<Item = R>) {
        let rooms: Vec<Room> = rooms.into_iter().map(Into::into).collect();
        self.0.ns.adapter().add_all(self.id(), &rooms);
    }

    /// Leaves a room.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.join("lobby");
    ///     socket.on("start", |s: Socket| async move {
    ///         s.leave("lobby");
    ///         s.join("game");
    ///         Ok::<_, HandlerError>(())
    ///     })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// client.emit_with_ack("start", &()).await?;
    /// assert!(io.in_("lobby").fetch_sockets().await?.is_empty());
    /// assert_eq!(io.in_("game").fetch_sockets().await?.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn leave(&self, room: impl Into<Room>) {
        self.0.ns.adapter().del(self.id(), &room.into());
    }

    /// Leaves several rooms.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.join_all(["eu", "us", "asia"]);
    ///     socket.leave_all(["eu", "us"]);
    ///     let mut rooms: Vec<String> = socket.rooms().iter().map(|r| r.to_string()).collect();
    ///     rooms.sort();
    ///     socket.emit("rooms", &rooms)
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// let mut expected = vec!["asia".to_owned(), client.id().to_owned()];
    /// expected.sort();
    /// assert_eq!(client.recv().await?.data::<Vec<String>>()?, expected);
    /// # Ok(()) }
    /// ```
    pub fn leave_all<R: Into<Room>>(&self, rooms: impl IntoIterator<Item = R>) {
        for room in rooms {
            self.leave(room);
        }
    }

    /// The rooms this socket is in, its own id included.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.join("lobby");
    ///     let in_lobby = socket.rooms().contains(&"lobby".into());
    ///     let in_own = socket.rooms().contains(&socket.id().room());
    ///     socket.emit("rooms", &(in_lobby, in_own, socket.rooms().len()))
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// assert_eq!(client.recv().await?.data::<(bool, bool, usize)>()?, (true, true, 2));
    /// # Ok(()) }
    /// ```
    pub fn rooms(&self) -> Vec<Room> {
        self.0.ns.adapter().socket_rooms(self.id()).unwrap_or_default()
    }

    // ---- lifecycle ------------------------------------------------------------------------

    /// Marks the socket connected and joins the room named after its id.
    pub(crate) fn set_connected(&self) {
        self.set_connected_in(&[]);
    }

    /// Marks the socket connected and joins its own room and `rooms`.
    pub(crate) fn set_connected_in(&self, rooms: &[Room]) {
        let mut state = self.state();
        self.0.set_phase(&mut state, Phase::Connected);
        drop(state);
        let mut all = vec![self.id().room()];
        all.extend(rooms.iter().filter(|r| **r != self.id().room()).cloned());
        self.0.ns.adapter().add_all(self.id(), &all);
    }

    /// Disconnects from the namespace (the client gets a DISCONNECT packet). With `close`,
    /// the whole connection is closed, which disconnects its other namespaces too.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::{TestClient, TestError};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on("bye", |s: Socket| async move { s.disconnect(false).await })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// client.emit("bye", &())?;
    /// assert!(matches!(client.recv().await, Err(TestError::Disconnected)));
    /// assert!(io.fetch_sockets().await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub async fn disconnect(&self, close: bool) {
        if !self.connected() {
            return;
        }
        if close {
            // As Node: every namespace of the connection is disconnected, then it is closed.
            self.0.client.disconnect_all().await;
            self.0.client.conn().close(EngineReason::ForcedClose);
        } else {
            self.disconnect_one().await;
        }
    }

    /// Sends DISCONNECT and leaves the namespace.
    pub(crate) async fn disconnect_one(&self) {
        let packet = Packet::disconnect(self.ns_str());
        let _ = self.send_packet(&packet, false);
        self.on_close(DisconnectReason::ServerNamespaceDisconnect).await;
    }

    /// Leaves the namespace: `disconnecting` handlers, rooms left, `disconnect` handlers.
    pub(crate) async fn on_close(&self, reason: DisconnectReason) {
        let handlers = {
            let mut state = self.state();
            if self.0.phase() != Phase::Connected {
                return;
            }
            self.0.set_phase(&mut state, Phase::Disconnecting);
            state.extra(|e| &e.on_disconnecting)
        };
        crate::metrics::disconnected(reason);
        for h in handlers {
            if let Some(run) = h(self.clone(), reason) {
                run.await;
            }
        }
        if crate::recovery::is_recoverable(reason) {
            self.0.ns.persist(self).await;
        }
        if let Some(m) = self.0.ns.observer().get() {
            m.socket_disconnected(self, reason);
        }
        self.0.ns.adapter().del_all(self.id());
        self.0.ns.remove_socket(self);
        self.0.client.remove_socket(self.ns());
        self.0.closed.set();
        let handlers = {
            let mut state = self.state();
            self.0.set_phase(&mut state, Phase::Disconnected);
            // Dropping the waiters tells every pending emit_with_ack that the socket left.
            state.acks = None;
            state.on_disconnect.clone()
        };
        for h in handlers {
            if let Some(run) = h(self.clone(), reason) {
                run.await;
            }
        }
    }

    /// Runs middlewares, catch-all listeners and handlers for one incoming event.
    pub(crate) async fn dispatch(&self, event: EventName, payload: Payload, ack: Option<u64>) {
        let ack = ack.map(|id| Ack::new(self.clone(), id, payload.attachments().to_vec()));
        let (middleware, any, found) = {
            let state = self.state();
            let (middleware, any) = (state.extra(|e| &e.middleware), state.extra(|e| &e.any));
            // Without middleware and catch-all listeners (the usual case) nothing runs before
            // the handlers are looked up: under the same lock.
            let found =
                (middleware.is_empty() && any.is_empty()).then(|| state.handlers.of(&event));
            (middleware, any, found)
        };
        for m in middleware {
            let cx = crate::extract::Context::middleware(
                self.clone(),
                event.clone(),
                payload.clone(),
                ack.clone(),
            );
            if let Err(err) = m(cx).await {
                let sent = match &ack {
                    Some(ack) => ack.send_error(&err.message, err.data.clone()),
                    None => self.emit("error", &error_object(&err.message, err.data.clone())),
                };
                if let Err(e) = sent {
                    tracing::warn!(socket = %self.id(), %event, %e, "could not report a middleware error");
                }
                return;
            }
        }
        for l in any {
            l(self, &event, &payload);
        }
        // The last handler (usually the only one) apart: no list is copied for it.
        let found = match found {
            Some(found) => found,
            None => self.state().handlers.of(&event),
        };
        let (others, last) = match found {
            (others, Some(last)) => (others, last),
            (_, None) => return,
        };
        let mut args = Some((event, payload, ack));
        let handlers = others.into_iter().map(|h| (h, false)).chain([(last, true)]);
        for (h, is_last) in handlers {
            // The last handler takes the arguments; the others get copies.
            let taken = if is_last { args.take() } else { args.clone() };
            let Some((event, payload, ack)) = taken else { return };
            let once = h.once;
            let Some(run) = (h.f)(self.clone(), event, payload, ack) else {
                // Rejected payload: reported, and a `once` handler is not used up.
                continue;
            };
            if once {
                self.state().handlers.remove(h.id);
            }
            run.await;
        }
    }
}
