//! Namespaces: a set of sockets with their connection handlers, middleware and adapter.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use switchboard_adapter::{
    Adapter, AdapterFactory, LocalNamespace, RecoveryOptions, ServerAckSender, SocketId, SocketInfo,
};
use switchboard_engine::{DisconnectReason as EngineReason, EncodedMessage};
use switchboard_proto::Str;
use switchboard_proto::socket::{EventName, Packet, Parser, Payload, ReservedEventName};

use crate::client::Client;
use crate::event::BoxFuture;
use crate::extract::{Context, States};
use crate::handler::{Handler, Middleware};
use crate::socket_set::SocketSet;
use crate::{HandlerError, Handshake, Socket};

mod broadcast;

/// A connection handler.
type ConnectionHandler = Arc<dyn Fn(Socket) -> BoxFuture<()> + Send + Sync>;
/// A connect middleware (`io.use`).
type ConnectMiddleware = Arc<dyn Fn(Socket) -> BoxFuture<Result<(), HandlerError>> + Send + Sync>;
/// A server-side-emit listener.
type ServerSideListener = Arc<dyn Fn(EventName, Payload, Option<ServerAckSender>) + Send + Sync>;

/// Connection handlers and middleware, shared by a dynamic parent and its children.
#[derive(Default)]
pub(crate) struct Hooks {
    // Registered at setup by user code, read on every connection; never held across an await.
    connection: Mutex<Vec<ConnectionHandler>>,
    middleware: Mutex<Vec<ConnectMiddleware>>,
    server_side: Mutex<Vec<ServerSideListener>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the data consistent, so a poisoned lock is usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Hooks {
    pub(crate) fn on_connection<H: Handler<A>, A: 'static>(&self, handler: H) {
        lock(&self.connection).push(Arc::new(move |socket| {
            handler.call(Context::connect(socket)).unwrap_or_else(|| Box::pin(async {}))
        }));
    }

    pub(crate) fn use_middleware<M: Middleware<A>, A: 'static>(&self, middleware: M) {
        lock(&self.middleware)
            .push(Arc::new(move |socket| middleware.call(Context::connect(socket))));
    }
}

pub(crate) struct NamespaceInner {
    name: Str,
    hooks: Arc<Hooks>,
    adapter: Arc<dyn Adapter>,
    parser: Arc<dyn Parser>,
    next_ack: AtomicU64,
    pub(crate) recovery: Option<crate::ConnectionStateRecovery>,
    // Written when sockets join and leave (client tasks), read by deliveries (any task).
    // Looked up once per recipient of every broadcast: a fast hash (socket ids are random).
    sockets: Mutex<SocketSet>,
    // Private session id → connected socket, for the takeover of a half-open connection.
    // Written with `sockets`, read by connecting clients; never held across an await.
    pub(crate) pids: Mutex<HashMap<Str, Socket>>,
    // The event names sockets listen to, shared by them (see `event_name`). Locked by each
    // handler registration, for a short scan.
    names: Mutex<Vec<EventName>>,
    /// The server's states (`State<S>`), fixed when it was built.
    states: Arc<States>,
    /// Subscribers that are not sockets (the SSE bridge), by their id in the adapter.
    #[cfg(feature = "sse")]
    pub(crate) taps: crate::sse::Taps,
    /// The Admin UI's hooks (feature `admin`).
    observer: crate::observe::Slot,
}

/// How many event names a namespace shares at most (names past them are not kept: an
/// application making names per socket must not grow this list).
const SHARED_NAMES: usize = 32;

impl NamespaceInner {
    pub(crate) fn new(
        name: Str,
        hooks: Arc<Hooks>,
        parser: Arc<dyn Parser>,
        factory: &dyn AdapterFactory,
        recovery: Option<crate::ConnectionStateRecovery>,
        states: Arc<States>,
        observer: crate::observe::Slot,
    ) -> Arc<Self> {
        Arc::new_cyclic(|weak: &Weak<NamespaceInner>| {
            let local: Weak<dyn LocalNamespace> = weak.clone();
            NamespaceInner {
                name,
                hooks,
                adapter: factory.create(local),
                parser,
                next_ack: AtomicU64::new(0),
                recovery,
                sockets: Mutex::new(SocketSet::default()),
                pids: Mutex::new(HashMap::new()),
                names: Mutex::new(Vec::new()),
                states,
                #[cfg(feature = "sse")]
                taps: crate::sse::Taps::default(),
                observer,
            }
        })
    }

    pub(crate) fn name(&self) -> &str {
        self.name.as_str()
    }

    pub(crate) fn name_str(&self) -> Str {
        self.name.clone()
    }

    pub(crate) fn adapter(&self) -> &Arc<dyn Adapter> {
        &self.adapter
    }

    pub(crate) fn states(&self) -> &States {
        &self.states
    }

    /// The event name `name`, shared with the sockets that listen to it too: sockets register
    /// handlers for the same few events, and a copy of each name per socket costs every
    /// connection an allocation per handler.
    pub(crate) fn event_name(&self, name: &str) -> Result<EventName, ReservedEventName> {
        let mut names = lock(&self.names);
        if let Some(known) = names.iter().find(|n| n.as_str() == name) {
            return Ok(known.clone());
        }
        let new = EventName::new(name)?;
        if names.len() < SHARED_NAMES {
            names.push(new.clone());
        }
        Ok(new)
    }

    /// Whether packets here are written as the default JSON parser writes them.
    pub(crate) fn is_json(&self) -> bool {
        self.parser.is_json()
    }

    pub(crate) fn encode_packet(&self, packet: &Packet) -> Vec<EncodedMessage> {
        self.parser.encode_wire(packet)
    }

    /// Forgets `socket`, unless its id now belongs to the socket that recovered its session.
    pub(crate) fn remove_socket(&self, socket: &Socket) {
        lock(&self.sockets).remove(socket);
        if let Some(pid) = socket.pid() {
            let mut pids = lock(&self.pids);
            if pids.get(pid).is_some_and(|s| Arc::ptr_eq(&s.0, &socket.0)) {
                pids.remove(pid);
            }
        }
    }

    /// Registers a connected socket.
    pub(crate) fn insert_socket(&self, socket: &Socket) {
        lock(&self.sockets).insert(socket.clone());
        if let Some(pid) = socket.pid() {
            lock(&self.pids).insert(pid.clone(), socket.clone());
        }
    }

    pub(crate) fn socket(&self, id: &SocketId) -> Option<Socket> {
        lock(&self.sockets).get(id.as_str()).cloned()
    }

    /// How many sockets are connected here.
    #[cfg(feature = "admin")]
    pub(crate) fn socket_count(&self) -> usize {
        lock(&self.sockets).len()
    }

    /// The Admin UI's hooks.
    pub(crate) fn observer(&self) -> &crate::observe::Slot {
        &self.observer
    }

    pub(crate) fn all_sockets(&self) -> Vec<Socket> {
        lock(&self.sockets).iter().cloned().collect()
    }

    /// Runs the middlewares, then joins the socket and runs the connection handlers. With
    /// connection state recovery, a client presenting a known session gets it back first.
    pub(crate) async fn connect(self: &Arc<Self>, client: &Arc<Client>, handshake: Handshake) {
        let timer = crate::metrics::ConnectTimer::start();
        let restoring = self.begin_restore(client, &handshake).await;
        let socket = match &restoring {
            Some(r) => r.socket.clone(),
            None => {
                let pid = self.recovery.as_ref().map(|_| Str::from(crate::id::generate().as_str()));
                // A v2 client names its socket after the Engine.IO id (`/admin#<sid>` off the
                // main namespace): Node keeps that id for protocol 3.
                let id = match client.is_v3() {
                    true if self.name.as_str() == "/" => client.conn().sid().to_owned(),
                    true => format!("{}#{}", self.name, client.conn().sid()),
                    false => crate::id::generate(),
                };
                Socket::new(SocketId::new(id), self.clone(), client.clone(), handshake, pid, false)
            }
        };
        let skip =
            restoring.is_some() && self.recovery.as_ref().is_some_and(|r| r.skip_middlewares);
        if !skip {
            let middleware = lock(&self.hooks.middleware).clone();
            for m in middleware {
                if let Err(err) = m(socket.clone()).await {
                    if let Some(r) = restoring {
                        self.abandon_restore(r).await;
                    }
                    let packet = if client.is_v3() {
                        // Protocol v4: the payload is the error's data, or else its message
                        // (Node's `err.data || err.message`: a falsy data does not count).
                        use serde_json::Value;
                        let falsy = |v: &Value| match v {
                            Value::Null => true,
                            Value::Bool(b) => !b,
                            Value::Number(n) => n.as_f64() == Some(0.0),
                            Value::String(s) => s.is_empty(),
                            Value::Array(_) | Value::Object(_) => false,
                        };
                        let payload = err
                            .data
                            .filter(|d| !falsy(d))
                            .unwrap_or_else(|| Value::String(err.message));
                        Packet {
                            ns: self.name.clone(),
                            data: switchboard_proto::socket::PacketData::ConnectError(payload),
                        }
                    } else {
                        Packet::connect_error(self.name.clone(), &err.message, err.data)
                    };
                    client.send_packet(&packet);
                    return;
                }
            }
        }
        if !client.is_open() {
            if let Some(r) = restoring {
                self.abandon_restore(r).await;
            }
            return;
        }
        match restoring {
            Some(r) => {
                crate::metrics::recovery_success();
                self.finish_restore(client, r).await
            }
            None => {
                self.insert_socket(&socket);
                client.add_socket(socket.clone());
                // Broadcasts that reach the socket once it is in its rooms wait until the
                // CONNECT answer is queued: nothing may come before it.
                socket.close_gate();
                socket.set_connected();
                let answer = if client.is_v3() {
                    // Protocol v4: a bare CONNECT, no sid.
                    Packet::connect(self.name.clone(), None)
                } else {
                    self.connect_answer(&socket)
                };
                client.send_packet(&answer);
                socket.open_gate(None);
            }
        }
        timer.connected();
        if let Some(m) = self.observer.get() {
            m.socket_connected(&socket);
        }
        let handlers = lock(&self.hooks.connection).clone();
        for h in handlers {
            h(socket.clone()).await;
        }
    }

    /// The CONNECT answer: `{"sid"}`, and `{"pid"}` with recovery on.
    pub(crate) fn connect_answer(&self, socket: &Socket) -> Packet {
        let mut packet = Packet::connect_ok(self.name.clone(), socket.id().as_str());
        if let (Some(pid), switchboard_proto::socket::PacketData::Connect(Some(v))) =
            (socket.pid(), &mut packet.data)
        {
            if let Some(map) = v.as_object_mut() {
                map.insert("pid".to_owned(), serde_json::Value::String(pid.as_str().to_owned()));
            }
        }
        packet
    }
}

impl LocalNamespace for NamespaceInner {
    fn name(&self) -> &str {
        self.name.as_str()
    }

    fn encode(&self, packet: &Packet) -> Vec<EncodedMessage> {
        self.encode_packet(packet)
    }

    fn recovery(&self) -> Option<RecoveryOptions> {
        self.recovery.as_ref().map(crate::ConnectionStateRecovery::adapter_options)
    }

    fn local_socket(&self, socket: &SocketId) -> Option<switchboard_adapter::SocketHandle> {
        let found = self.socket(socket).map(|s| s.handle());
        #[cfg(feature = "sse")]
        let found = found.or_else(|| self.taps.handle(socket));
        found
    }

    fn next_ack_id(&self) -> u64 {
        self.next_ack.fetch_add(1, Ordering::Relaxed)
    }

    fn socket_info(&self, socket: &SocketId) -> Option<SocketInfo> {
        let s = self.socket(socket)?;
        Some(SocketInfo::new(s.id().clone(), s.handshake().to_json(), s.rooms(), s.data_json()))
    }

    fn disconnect(&self, socket: &SocketId, close: bool) {
        if let Some(s) = self.socket(socket) {
            // Called synchronously by the adapter; the handlers are async, so they run on
            // their own task, which ends when they do.
            tokio::spawn(async move { s.disconnect(close).await });
        }
    }

    fn on_server_side_emit(
        &self,
        event: EventName,
        payload: Payload,
        ack: Option<ServerAckSender>,
    ) {
        let listeners = lock(&self.hooks.server_side).clone();
        for l in listeners {
            l(event.clone(), payload.clone(), ack.clone());
        }
    }
}

/// A namespace (Node's `Namespace`): `io.of("/admin")`. Cloning is cheap.
///
/// ```
/// use switchboard::prelude::*;
/// use switchboard::testing::{TestClient, TestError};
/// use serde_json::json;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let io = SocketIo::new(Default::default());
/// let admin = io.of("/admin");
/// admin.use_middleware(|Data(auth): Data<serde_json::Value>| async move {
///     match auth.get("token") {
///         Some(_) => Ok(()),
///         None => Err(HandlerError::new("not authorized").with_data(json!({"code": 401}))),
///     }
/// });
/// admin.on_connection(|socket: Socket| async move { socket.emit("welcome", socket.ns()) });
/// let refused = TestClient::connect_to(&io, "/admin", json!({})).await;
/// assert!(matches!(refused, Err(TestError::Refused { .. })));
/// let mut client = TestClient::connect_to(&io, "/admin", json!({"token": "t"})).await?;
/// assert_eq!(client.recv().await?.data::<String>()?, "/admin");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Namespace(pub(crate) Arc<NamespaceInner>);

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Namespace").field(&self.0.name).finish()
    }
}

impl Namespace {
    /// The name (`/`, `/admin`, ...).
    ///
    /// ```
    /// use switchboard::SocketIo;
    ///
    /// let io = SocketIo::new(Default::default());
    /// assert_eq!(io.of("/admin").name(), "/admin");
    /// assert_eq!(io.of("chat").name(), "/chat"); // the leading `/` is added
    /// ```
    pub fn name(&self) -> &str {
        self.0.name.as_str()
    }

    /// Adds a connection handler: an async function of extractors (see [`crate::extract`];
    /// [`crate::Data`] reads the client's `auth`) returning `()` or a `Result` (an `Err` is
    /// logged and sent to the client as an `error` event). Handlers run in order, after the
    /// client got its CONNECT answer; the client's next packets wait for them.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let chat = io.of("/chat");
    /// chat.on_connection(|socket: Socket, Data(auth): Data<serde_json::Value>| async move {
    ///     let name = auth["name"].as_str().ok_or_else(|| HandlerError::new("name missing"))?;
    ///     socket.emit("welcome", name)?;
    ///     Ok::<_, HandlerError>(())
    /// });
    /// let auth = serde_json::json!({"name": "ana"});
    /// let mut ana = TestClient::connect_to(&io, "/chat", auth).await?;
    /// assert_eq!(ana.recv().await?.data::<String>()?, "ana");
    /// // An `Err` reaches the client as an `error` event.
    /// let mut anon = TestClient::connect_to(&io, "/chat", serde_json::Value::Null).await?;
    /// let error = anon.recv().await?;
    /// assert_eq!(error.name, "error");
    /// assert_eq!(error.data::<serde_json::Value>()?["message"], "name missing");
    /// # Ok(()) }
    /// ```
    pub fn on_connection<H: Handler<A>, A: 'static>(&self, handler: H) {
        self.0.hooks.on_connection(handler);
    }

    /// Adds a connect middleware (Node's `io.use`): an async function of extractors
    /// returning `Result<(), E>`. An error refuses the connection with a CONNECT_ERROR
    /// `{"message","data"}`, which the client sees as `connect_error`.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::{TestClient, TestError};
    /// use serde_json::json;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let admin = io.of("/admin");
    /// admin.use_middleware(|Data(auth): Data<serde_json::Value>| async move {
    ///     if auth["role"] == "admin" {
    ///         Ok(())
    ///     } else {
    ///         Err(HandlerError::new("admins only").with_data(json!({"code": 403})))
    ///     }
    /// });
    /// let refused = TestClient::connect_to(&io, "/admin", json!({"role": "guest"})).await;
    /// let Err(TestError::Refused { message, data }) = refused else { panic!("not refused") };
    /// assert_eq!((message.as_str(), data), ("admins only", Some(json!({"code": 403}))));
    /// assert!(TestClient::connect_to(&io, "/admin", json!({"role": "admin"})).await.is_ok());
    /// # Ok(()) }
    /// ```
    pub fn use_middleware<M: Middleware<A>, A: 'static>(&self, middleware: M) {
        self.0.hooks.use_middleware(middleware);
    }

    /// Adds a listener for events sent by other servers with `server_side_emit`.
    ///
    /// When the sender asked for an answer (`server_side_emit_with_ack`), `ack` is set: answer
    /// once with an [`switchboard_adapter::AckEvent::Response`] naming this server.
    ///
    /// ```no_run
    /// # use switchboard::SocketIo;
    /// # use switchboard_adapter::{AckEvent, SocketId};
    /// # use switchboard_proto::socket::Payload;
    /// # fn demo(io: SocketIo) {
    /// io.of("/").on_server_side_emit(|event, _payload, ack| {
    ///     if let (Some(ack), Ok(payload)) = (ack, Payload::single(&"pong")) {
    ///         let _ = ack.send(AckEvent::Response { socket: SocketId::new("server-a"), payload });
    ///     }
    /// });
    /// # }
    /// ```
    pub fn on_server_side_emit(
        &self,
        listener: impl Fn(EventName, Payload, Option<ServerAckSender>) + Send + Sync + 'static,
    ) {
        lock(&self.0.hooks.server_side).push(Arc::new(listener));
    }

    /// The adapter.
    ///
    /// ```
    /// use switchboard::testing::TestClient;
    /// use switchboard::{Room, SocketIo};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let client = TestClient::connect(&io).await?;
    /// // The rooms of this server's sockets, as the adapter keeps them.
    /// let rooms = io.of("/").adapter().rooms().await?;
    /// assert_eq!(rooms, [Room::from(client.id())]);
    /// # Ok(()) }
    /// ```
    pub fn adapter(&self) -> &Arc<dyn Adapter> {
        self.0.adapter()
    }

    /// The sockets of this namespace on this server.
    ///
    /// ```
    /// use switchboard::SocketIo;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let client = TestClient::connect(&io).await?;
    /// let sockets = io.of("/").sockets();
    /// assert_eq!(sockets.len(), 1);
    /// assert_eq!(sockets[0].id().as_str(), client.id());
    /// assert!(io.of("/other").sockets().is_empty());
    /// # Ok(()) }
    /// ```
    pub fn sockets(&self) -> Vec<Socket> {
        self.0.all_sockets()
    }

    /// A socket of this server by id.
    ///
    /// ```
    /// use switchboard::testing::TestClient;
    /// use switchboard::{SocketId, SocketIo};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let mut client = TestClient::connect(&io).await?;
    /// let socket = io.of("/").get_socket(&SocketId::new(client.id())).ok_or("not found")?;
    /// socket.emit("direct", "hi")?;
    /// assert_eq!(client.recv().await?.data::<String>()?, "hi");
    /// assert!(io.of("/").get_socket(&SocketId::new("unknown")).is_none());
    /// # Ok(()) }
    /// ```
    pub fn get_socket(&self, id: &SocketId) -> Option<Socket> {
        self.0.socket(id)
    }

    /// Disconnects every local socket with `reason`, used by `close`.
    pub(crate) async fn shut_down(&self) {
        #[cfg(feature = "sse")]
        self.0.taps.close_all();
        for s in self.sockets() {
            s.client().conn().close(EngineReason::ServerShuttingDown);
        }
    }
}
