//! The server: namespaces, the engine handler, and server-wide operators.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use switchboard_adapter::{AdapterFactory, MemoryAdapter, Room};
use switchboard_engine::{DisconnectReason as EngineReason, Engine};
use switchboard_proto::Str;
use switchboard_proto::socket::{Parser, Payload};

use crate::bundle::ClientBundle;
use crate::client::{Client, Inbound};
use crate::conn::ConnRef;
use crate::extract::States;
use crate::handler::{Handler, Middleware};
use crate::namespace::{Hooks, NamespaceInner};
use crate::service::{IoLayer, IoService};
use crate::{BroadcastOperator, EmitError, Namespace, RemoteSocket, SocketIoConfig};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the data consistent, so a poisoned lock is usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

use crate::parent::{Matcher, ParentInner, ParentNamespace};

mod close;
mod handler;
mod stats;

pub use close::CloseReport;
pub use handler::{IoHandler, IoSession};
pub use stats::{NamespaceStats, ServerStats};

pub(crate) struct IoInner {
    config: SocketIoConfig,
    parser: Arc<dyn Parser>,
    factory: Arc<dyn AdapterFactory>,
    states: Arc<States>,
    // Namespaces by name: created by user code and by client tasks (dynamic children).
    namespaces: Mutex<HashMap<String, Namespace>>,
    // Dynamic parents, in registration order.
    parents: Mutex<Vec<ParentNamespace>>,
    // How many clients have not finished disconnecting their sockets: `close` waits for
    // none. A count, not a registry: the engine's session map is the one registry of
    // connections, and each session owns its client (`IoSession`).
    live: AtomicUsize,
    // Wakes `close` when `live` drops to zero. Owned by the server; `close` is its only waiter.
    all_finished: tokio::sync::Notify,
    closing: AtomicBool,
    // Set once by `close`; `serve` watches it to stop accepting.
    shutdown: tokio::sync::watch::Sender<bool>,
    // How many `serve` calls still hold their listener: `close` waits for none, so that once
    // it returned no connection is accepted anymore.
    serving: tokio::sync::watch::Sender<usize>,
    // The Admin UI's hooks (feature `admin`; nothing without it), shared with every
    // namespace and adapter.
    observer: crate::observe::Slot,
}

/// Counts one running [`SocketIo::serve`] until dropped (after its listener).
struct Serving(tokio::sync::watch::Sender<usize>);

impl Serving {
    fn start(count: &tokio::sync::watch::Sender<usize>) -> Self {
        count.send_modify(|n| *n += 1);
        Serving(count.clone())
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl IoInner {
    pub(crate) fn config(&self) -> &SocketIoConfig {
        &self.config
    }

    pub(crate) fn parser(&self) -> &Arc<dyn Parser> {
        &self.parser
    }

    pub(crate) fn observer(&self) -> &crate::observe::Slot {
        &self.observer
    }

    fn create(&self, name: &str, hooks: Arc<Hooks>) -> Namespace {
        Namespace(NamespaceInner::new(
            Str::from(name),
            hooks,
            self.parser.clone(),
            &*self.factory,
            self.config.connection_state_recovery.clone(),
            self.states.clone(),
            self.observer.clone(),
        ))
    }

    fn of(&self, name: &str) -> Namespace {
        let name = if name.starts_with('/') { name.to_owned() } else { format!("/{name}") };
        lock(&self.namespaces)
            .entry(name.clone())
            .or_insert_with(|| self.create(&name, Arc::new(Hooks::default())))
            .clone()
    }

    /// The namespace a client asks for: a static one, or a new child of a matching parent.
    pub(crate) fn namespace_for(&self, name: &str, auth: &Value) -> Option<Arc<NamespaceInner>> {
        if self.closing.load(Ordering::SeqCst) {
            return None;
        }
        if let Some(ns) = lock(&self.namespaces).get(name) {
            return Some(ns.0.clone());
        }
        let parents = lock(&self.parents).clone();
        for parent in parents {
            let matched = match &parent.0.matcher {
                Matcher::Regex(re) => re.is_match(name),
                Matcher::Fn(f) => f(name, auth),
            };
            if matched {
                let mut namespaces = lock(&self.namespaces);
                let ns = namespaces
                    .entry(name.to_owned())
                    .or_insert_with(|| {
                        let child = self.create(name, parent.0.hooks.clone());
                        lock(&parent.0.children).push(child.clone());
                        child
                    })
                    .clone();
                return Some(ns.0);
            }
        }
        None
    }

    /// A new Engine.IO connection: its client, which the engine hands back with each of its
    /// messages (`None` if the server is closing: the connection is closed).
    pub(crate) fn on_conn(self: &Arc<Self>, conn: ConnRef) -> Option<Inbound> {
        if self.closing.load(Ordering::SeqCst) {
            conn.close(EngineReason::ServerShuttingDown);
            return None;
        }
        self.live.fetch_add(1, Ordering::SeqCst);
        crate::metrics::conn_opened(conn.transport());
        if let Some(m) = self.observer.get() {
            m.raw_connection(conn.transport());
        }
        Some(Client::spawn(conn, self))
    }

    /// A client finished disconnecting its sockets (once per client).
    pub(crate) fn client_finished(&self) {
        if self.live.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.all_finished.notify_waiters();
        }
    }

    /// Resolves once no client is left to finish.
    async fn all_clients_finished(&self) {
        loop {
            let finished = self.all_finished.notified();
            tokio::pin!(finished);
            // Registered before looking: the last client finishing after the look wakes it.
            finished.as_mut().enable();
            if self.live.load(Ordering::SeqCst) == 0 {
                return;
            }
            finished.await;
        }
    }
}

/// Builds a [`SocketIo`] with a custom adapter or parser.
///
/// ```
/// use switchboard::{SocketIo, SocketIoConfig};
/// use switchboard_adapter::MemoryAdapter;
///
/// let io = SocketIo::builder()
///     .config(SocketIoConfig::default())
///     .adapter(MemoryAdapter::factory())
///     .build();
/// assert_eq!(io.config().engine.path, "/socket.io/");
/// ```
pub struct SocketIoBuilder {
    config: SocketIoConfig,
    factory: Arc<dyn AdapterFactory>,
    parser: Option<Arc<dyn Parser>>,
    states: States,
}

impl std::fmt::Debug for SocketIoBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketIoBuilder").field("config", &self.config).finish()
    }
}

impl SocketIoBuilder {
    /// The options.
    ///
    /// ```
    /// use switchboard::{SocketIo, SocketIoConfig};
    ///
    /// let mut config = SocketIoConfig::default();
    /// config.engine.path = "/live/".to_owned();
    /// let io = SocketIo::builder().config(config).build();
    /// assert_eq!(io.config().engine.path, "/live/");
    /// ```
    pub fn config(mut self, config: SocketIoConfig) -> Self {
        self.config = config;
        self
    }

    /// The adapter factory (default: in-memory).
    ///
    /// ```
    /// use switchboard::testing::TestClient;
    /// use switchboard::{MemoryAdapter, Room, SocketIo};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // A cluster adapter (`switchboard-redis`) is given the same way.
    /// let io = SocketIo::builder().adapter(MemoryAdapter::factory()).build();
    /// let client = TestClient::connect(&io).await?;
    /// // Every socket is in the room named after its id, kept by the adapter.
    /// assert_eq!(io.of("/").rooms().await?, [Room::from(client.id())]);
    /// # Ok(()) }
    /// ```
    pub fn adapter(mut self, factory: Arc<dyn AdapterFactory>) -> Self {
        self.factory = factory;
        self
    }

    /// The packet parser (default: the one named by `config.parser`, JSON unless set, with
    /// `config.max_attachments`).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use switchboard::testing::{TestClient, TestError};
    /// use switchboard::{JsonParser, Payload, SocketIo};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // The JSON parser, taking at most 2 binary attachments per packet.
    /// let io = SocketIo::builder().parser(Arc::new(JsonParser { max_attachments: 2 })).build();
    /// let mut client = TestClient::connect(&io).await?;
    /// let mut files = Payload::new();
    /// files.push_binary(vec![1]).push_binary(vec![2]).push_binary(vec![3]);
    /// client.emit_payload("upload", files)?;
    /// // A packet the parser refuses closes the connection.
    /// assert!(matches!(client.recv().await, Err(TestError::Closed)));
    /// # Ok(()) }
    /// ```
    pub fn parser(mut self, parser: Arc<dyn Parser>) -> Self {
        self.parser = Some(parser);
        self
    }

    /// Adds application state, which handlers take as [`crate::State<S>`] (one value per
    /// type; each handler gets a clone, so make it cheap: an `Arc`, a pool handle).
    ///
    /// ```
    /// use switchboard::prelude::*;
    ///
    /// #[derive(Clone)]
    /// struct Config { motd: &'static str }
    ///
    /// let io = SocketIo::builder().with_state(Config { motd: "hi" }).build();
    /// io.on_connection(|socket: Socket, State(config): State<Config>| async move {
    ///     socket.emit("motd", config.motd)
    /// });
    /// ```
    pub fn with_state<S: Clone + Send + Sync + 'static>(mut self, state: S) -> Self {
        self.states.insert(state);
        self
    }

    /// The server.
    ///
    /// ```
    /// use switchboard::SocketIo;
    ///
    /// let io = SocketIo::builder().build();
    /// assert_eq!(io.of("/").name(), "/"); // the main namespace always exists
    /// ```
    pub fn build(self) -> SocketIo {
        let parser =
            self.parser.unwrap_or_else(|| self.config.parser.parser(self.config.max_attachments));
        // With the metrics on, every namespace's adapter is counted and timed.
        #[cfg(feature = "metrics")]
        let factory: Arc<dyn AdapterFactory> =
            Arc::new(crate::metered::MeteredFactory(self.factory));
        #[cfg(not(feature = "metrics"))]
        let factory = self.factory;
        let observer = crate::observe::Slot::default();
        // With the admin feature on, room changes are reported to an attached admin.
        #[cfg(feature = "admin")]
        let factory: Arc<dyn AdapterFactory> = Arc::new(crate::admin::observed::ObservedFactory {
            inner: factory,
            slot: observer.clone(),
        });
        let inner = Arc::new(IoInner {
            config: self.config.clone(),
            parser,
            factory,
            states: Arc::new(self.states),
            namespaces: Mutex::new(HashMap::new()),
            parents: Mutex::new(Vec::new()),
            live: AtomicUsize::new(0),
            all_finished: tokio::sync::Notify::new(),
            closing: AtomicBool::new(false),
            shutdown: tokio::sync::watch::Sender::new(false),
            serving: tokio::sync::watch::Sender::new(0),
            observer,
        });
        inner.of("/");
        let bundle = match &self.config.client_dist {
            Some(dir) if self.config.serve_client => {
                let bundle = ClientBundle::load(dir).map(Arc::new);
                if bundle.is_none() {
                    tracing::warn!(dir = %dir.display(), "no socket.io-client files found: the client paths will answer 404");
                }
                bundle
            }
            _ => None,
        };
        let engine = Engine::new(Arc::new(IoHandler::new(inner.clone())), self.config.engine);
        SocketIo { inner, engine, bundle }
    }
}

/// A Socket.IO server (Node's `Server`). Cloning is cheap: every clone is the same server.
///
/// ```
/// use switchboard::prelude::*;
/// use switchboard::testing::TestClient;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let io = SocketIo::new(Default::default());
/// io.on_connection(|socket: Socket| async move {
///     socket.on("echo", |Data(v): Data<serde_json::Value>| async move {
///         Ok::<_, HandlerError>(v)
///     })
/// });
/// // Serve it with `io.serve(listener)`, or mount `io.layer()` in axum; here, in process:
/// let mut client = TestClient::connect(&io).await?;
/// assert_eq!(client.emit_with_ack("echo", "hi").await?.data::<String>()?, "hi");
/// io.close().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SocketIo {
    inner: Arc<IoInner>,
    engine: Engine<IoHandler>,
    bundle: Option<Arc<ClientBundle>>,
}

impl std::fmt::Debug for SocketIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketIo").field("config", &self.inner.config).finish()
    }
}

impl SocketIo {
    /// A server with these options, the in-memory adapter and the JSON parser.
    ///
    /// ```
    /// use switchboard::{SocketIo, SocketIoConfig};
    ///
    /// let mut config = SocketIoConfig::default();
    /// config.serve_client = false; // no `/socket.io/socket.io.js`
    /// let io = SocketIo::new(config);
    /// assert!(!io.config().serve_client);
    /// ```
    pub fn new(config: SocketIoConfig) -> Self {
        SocketIo::builder().config(config).build()
    }

    /// A builder.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::builder().with_state(String::from("welcome!")).build();
    /// io.on_connection(|socket: Socket, State(motd): State<String>| async move {
    ///     socket.emit("motd", &motd)
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// assert_eq!(client.recv().await?.data::<String>()?, "welcome!");
    /// # Ok(()) }
    /// ```
    pub fn builder() -> SocketIoBuilder {
        SocketIoBuilder {
            config: SocketIoConfig::default(),
            factory: MemoryAdapter::factory(),
            parser: None,
            states: States::default(),
        }
    }

    /// The options.
    ///
    /// ```
    /// use switchboard::SocketIo;
    ///
    /// let io = SocketIo::new(Default::default());
    /// assert_eq!(io.config().engine.path, "/socket.io/");
    /// ```
    pub fn config(&self) -> &SocketIoConfig {
        &self.inner.config
    }

    /// The Engine.IO server to serve over HTTP.
    ///
    /// ```
    /// use http_body_util::Empty;
    /// use switchboard::SocketIo;
    /// use tower_service::Service;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// assert_eq!(io.engine().session_count(), 0);
    /// // An Engine.IO handshake over long-polling opens a session.
    /// let open = http::Request::get("/socket.io/?EIO=4&transport=polling").body(Empty::new())?;
    /// let response = io.service().call(open).await?;
    /// assert_eq!(response.status(), 200);
    /// assert_eq!(io.engine().session_count(), 1);
    /// # Ok(()) }
    /// ```
    pub fn engine(&self) -> &Engine<IoHandler> {
        &self.engine
    }

    /// A tower service answering Socket.IO requests under `config.engine.path` (404
    /// elsewhere), and the browser client files when `serve_client` is on; mount it in axum
    /// with `route_service`.
    ///
    /// ```
    /// use axum::Router;
    /// use switchboard::SocketIo;
    /// use tower_service::Service;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let mut app: Router = Router::new().route_service("/socket.io/", io.service());
    /// // Served with `axum::serve(listener, app)`; called directly here, as the server calls it.
    /// let get = |uri: &str| http::Request::get(uri).body(axum::body::Body::empty());
    /// assert_eq!(app.call(get("/socket.io/?EIO=4&transport=polling")?).await?.status(), 200);
    /// # Ok(()) }
    /// ```
    pub fn service(&self) -> IoService {
        let bundle = if self.inner.config.serve_client { self.bundle.clone() } else { None };
        IoService::new(&self.inner.config.engine.path, bundle, self.engine.service())
    }

    /// A tower layer: requests under the Socket.IO path go to this server, the rest to the
    /// inner service (an axum `Router`, another engine).
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use switchboard::SocketIo;
    /// use tower_service::Service;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let mut app = Router::new().route("/health", get(|| async { "ok" })).layer(io.layer());
    /// let get = |uri: &str| http::Request::get(uri).body(axum::body::Body::empty());
    /// assert_eq!(app.call(get("/health")?).await?.status(), 200); // the router
    /// assert_eq!(app.call(get("/socket.io/?EIO=4&transport=polling")?).await?.status(), 200);
    /// # Ok(()) }
    /// ```
    pub fn layer(&self) -> IoLayer {
        IoLayer::new(self.service())
    }

    /// Serves this server alone on `listener` until [`SocketIo::close`] (then the listener
    /// is dropped and no connection is accepted anymore, as Node closes its HTTP server).
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// let io = switchboard::SocketIo::new(Default::default());
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// io.serve(listener).await
    /// # }
    /// ```
    pub async fn serve(&self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        // Declared first, dropped last: after the listener, which the engine's future owns.
        let _serving = Serving::start(&self.inner.serving);
        let mut shutdown = self.inner.shutdown.subscribe();
        tokio::select! {
            served = switchboard_engine::serve_with_max_body(
                listener,
                self.service(),
                self.inner.config.engine.max_payload,
            ) => served,
            _ = shutdown.wait_for(|closed| *closed) => Ok(()),
        }
    }

    /// A static namespace, created on first use (`io.of("/admin")`).
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.of("/admin").on_connection(|socket: Socket| async move { socket.emit("hi", "admin") });
    /// assert_eq!(io.of("admin").name(), "/admin"); // the same namespace, `/` added
    /// let mut client = TestClient::connect_to(&io, "/admin", serde_json::Value::Null).await?;
    /// assert_eq!(client.recv().await?.data::<String>()?, "admin");
    /// # Ok(()) }
    /// ```
    pub fn of(&self, name: &str) -> Namespace {
        self.inner.of(name)
    }

    /// A dynamic namespace matching names with a regular expression
    /// (`io.of(/^\/dynamic-\w+$/)`).
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::{TestClient, TestError};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let rooms = io.of_regex(regex::Regex::new(r"^/room-\d+$")?);
    /// rooms.on_connection(|socket: Socket| async move { socket.emit("in", socket.ns()) });
    /// let mut client = TestClient::connect_to(&io, "/room-42", serde_json::Value::Null).await?;
    /// assert_eq!(client.recv().await?.data::<String>()?, "/room-42");
    /// let other = TestClient::connect_to(&io, "/room-abc", serde_json::Value::Null).await;
    /// assert!(matches!(other, Err(TestError::Refused { .. }))); // no such namespace
    /// # Ok(()) }
    /// ```
    pub fn of_regex(&self, re: regex::Regex) -> ParentNamespace {
        self.add_parent(Matcher::Regex(re))
    }

    /// A dynamic namespace accepting the names (and CONNECT auth) `accept` approves.
    ///
    /// `accept` is asked only for a name no namespace has yet: once a child is made, every
    /// client joins it as a static namespace (as in Node), so check each client's auth in a
    /// middleware ([`ParentNamespace::use_middleware`]).
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::{TestClient, TestError};
    /// use serde_json::json;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// // `/team-<name>`, made by the first member of that team to connect.
    /// let teams = io.of_fn(|name, auth| {
    ///     auth["team"].as_str().is_some_and(|team| name == format!("/team-{team}"))
    /// });
    /// teams.on_connection(|socket: Socket| async move { socket.emit("in", socket.ns()) });
    /// let stranger = TestClient::connect_to(&io, "/team-red", json!({"team": "blue"})).await;
    /// assert!(matches!(stranger, Err(TestError::Refused { .. })));
    /// let mut red = TestClient::connect_to(&io, "/team-red", json!({"team": "red"})).await?;
    /// assert_eq!(red.recv().await?.data::<String>()?, "/team-red");
    /// // `/team-red` exists now: `accept` is not asked again.
    /// assert!(TestClient::connect_to(&io, "/team-red", json!({"team": "blue"})).await.is_ok());
    /// # Ok(()) }
    /// ```
    pub fn of_fn(
        &self,
        accept: impl Fn(&str, &Value) -> bool + Send + Sync + 'static,
    ) -> ParentNamespace {
        self.add_parent(Matcher::Fn(Arc::new(accept)))
    }

    fn add_parent(&self, matcher: Matcher) -> ParentNamespace {
        let parent = ParentNamespace(Arc::new(ParentInner {
            matcher,
            hooks: Arc::new(Hooks::default()),
            children: Mutex::new(Vec::new()),
        }));
        lock(&self.inner.parents).push(parent.clone());
        parent
    }

    fn main(&self) -> Namespace {
        self.inner.of("/")
    }

    /// Connection handler of the main namespace.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on("ping", || async { Ok::<_, HandlerError>("pong") })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// assert_eq!(client.emit_with_ack("ping", &()).await?.data::<String>()?, "pong");
    /// # Ok(()) }
    /// ```
    pub fn on_connection<H: Handler<A>, A: 'static>(&self, handler: H) {
        self.main().on_connection(handler);
    }

    /// Connect middleware of the main namespace (`io.use`).
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::{TestClient, TestError};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.use_middleware(|Data(auth): Data<serde_json::Value>| async move {
    ///     match auth["token"].as_str() {
    ///         Some("secret") => Ok(()),
    ///         _ => Err(HandlerError::new("bad token")),
    ///     }
    /// });
    /// let refused = TestClient::connect(&io).await;
    /// let Err(TestError::Refused { message, .. }) = refused else { panic!("not refused") };
    /// assert_eq!(message, "bad token");
    /// let auth = serde_json::json!({"token": "secret"});
    /// assert!(TestClient::connect_to(&io, "/", auth).await.is_ok());
    /// # Ok(()) }
    /// ```
    pub fn use_middleware<M: Middleware<A>, A: 'static>(&self, middleware: M) {
        self.main().use_middleware(middleware);
    }

    /// Targets a room of the main namespace.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move { socket.join("news") });
    /// let mut client = TestClient::connect(&io).await?;
    /// io.to("news").emit("headline", "hello").await?;
    /// assert_eq!(client.recv().await?.data::<String>()?, "hello");
    /// # Ok(()) }
    /// ```
    pub fn to(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.main().to(room)
    }

    /// Same as [`SocketIo::to`].
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move { socket.join("news") });
    /// let _client = TestClient::connect(&io).await?;
    /// assert_eq!(io.in_("news").fetch_sockets().await?.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn in_(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.main().to(room)
    }

    /// Excludes a room of the main namespace.
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard::prelude::*;
    /// use switchboard::testing::{TestClient, TestError};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket, Data(auth): Data<serde_json::Value>| async move {
    ///     if auth["muted"] == true {
    ///         socket.join("muted");
    ///     }
    /// });
    /// let mut ana = TestClient::connect(&io).await?;
    /// let mut eve = TestClient::connect_to(&io, "/", serde_json::json!({"muted": true})).await?;
    /// io.except("muted").emit("news", "hello").await?;
    /// assert_eq!(ana.recv().await?.data::<String>()?, "hello");
    /// eve.set_timeout(Duration::from_secs(1));
    /// assert!(matches!(eve.recv().await, Err(TestError::Timeout(_))));
    /// # Ok(()) }
    /// ```
    pub fn except(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.main().except(room)
    }

    /// This server only.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let mut client = TestClient::connect(&io).await?;
    /// // With a cluster adapter, the other servers' sockets do not get it.
    /// io.local().emit("hello", "from this server").await?;
    /// assert_eq!(client.recv().await?.data::<String>()?, "from this server");
    /// # Ok(()) }
    /// ```
    pub fn local(&self) -> BroadcastOperator {
        self.main().local()
    }

    /// May drop the packet for clients that cannot take it now.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let mut client = TestClient::connect(&io).await?;
    /// // A position update: a client that cannot take it now misses it, the next one follows.
    /// io.volatile().emit("position", &(10, 20)).await?;
    /// assert_eq!(client.recv().await?.data::<(i32, i32)>()?, (10, 20));
    /// # Ok(()) }
    /// ```
    pub fn volatile(&self) -> BroadcastOperator {
        self.main().volatile()
    }

    /// Compression flag.
    ///
    /// ```
    /// use switchboard::SocketIo;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let uncompressed = io.compress(false);
    /// assert!(!uncompressed.options().flags.compress);
    /// uncompressed.emit("tick", &1).await?;
    /// # Ok(()) }
    /// ```
    pub fn compress(&self, compress: bool) -> BroadcastOperator {
        self.main().compress(compress)
    }

    /// Ack timeout for broadcasts with ack.
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let mut client = TestClient::connect(&io).await?;
    /// let answers = tokio::spawn(io.timeout(Duration::from_secs(5)).emit_with_ack("ready?", &()));
    /// let question = client.recv().await?;
    /// client.ack(&question, "yes")?;
    /// let answers = answers.await??;
    /// assert_eq!(answers[0].response.data::<String>()?, "yes");
    /// # Ok(()) }
    /// ```
    pub fn timeout(&self, timeout: Duration) -> BroadcastOperator {
        self.main().timeout(timeout)
    }

    /// Emits to every socket of the main namespace.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let (mut a, mut b) = (TestClient::connect(&io).await?, TestClient::connect(&io).await?);
    /// io.emit("news", "hello").await?;
    /// assert_eq!(a.recv().await?.data::<String>()?, "hello");
    /// assert_eq!(b.recv().await?.data::<String>()?, "hello");
    /// # Ok(()) }
    /// ```
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        self.main().emit(event, data).await
    }

    /// Emits these arguments to every socket of the main namespace.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let mut client = TestClient::connect(&io).await?;
    /// let mut payload = Payload::new();
    /// payload.push(serde_json::json!("logo.png")).push_binary(vec![0x89, 0x50]);
    /// io.emit_payload("file", payload).await?;
    /// let file = client.recv().await?;
    /// assert_eq!(&file.payload.attachments()[0][..], [0x89, 0x50]);
    /// # Ok(()) }
    /// ```
    pub async fn emit_payload(&self, event: &str, payload: Payload) -> Result<(), EmitError> {
        self.main().emit_payload(event, payload).await
    }

    /// Every socket of the main namespace.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move { socket.set_data(&"ana") });
    /// let client = TestClient::connect(&io).await?;
    /// let sockets = io.fetch_sockets().await?;
    /// assert_eq!(sockets[0].id().as_str(), client.id());
    /// assert_eq!(sockets[0].data::<String>()?.as_deref(), Some("ana"));
    /// # Ok(()) }
    /// ```
    pub async fn fetch_sockets(&self) -> Result<Vec<RemoteSocket>, EmitError> {
        self.main().fetch_sockets().await
    }

    /// Makes every socket of the main namespace join `room`.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let mut client = TestClient::connect(&io).await?;
    /// io.sockets_join("everyone").await?;
    /// io.to("everyone").emit("hello", "all").await?;
    /// assert_eq!(client.recv().await?.data::<String>()?, "all");
    /// # Ok(()) }
    /// ```
    pub async fn sockets_join(&self, room: impl Into<Room>) -> Result<(), EmitError> {
        self.main().sockets_join(room).await
    }

    /// Makes every socket of the main namespace leave `room`.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move { socket.join("lobby") });
    /// let _client = TestClient::connect(&io).await?;
    /// io.sockets_leave("lobby").await?;
    /// assert!(io.in_("lobby").fetch_sockets().await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub async fn sockets_leave(&self, room: impl Into<Room>) -> Result<(), EmitError> {
        self.main().sockets_leave(room).await
    }

    /// Disconnects every socket of the main namespace.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::{TestClient, TestError};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let mut client = TestClient::connect(&io).await?;
    /// io.disconnect_sockets(false).await?; // `true` closes the connections too
    /// assert!(matches!(client.recv().await, Err(TestError::Disconnected)));
    /// assert!(io.fetch_sockets().await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub async fn disconnect_sockets(&self, close: bool) -> Result<(), EmitError> {
        self.main().disconnect_sockets(close).await
    }

    /// Emits to the other servers of the cluster.
    ///
    /// ```
    /// use switchboard::SocketIo;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// // Another server of the cluster listens with `io.of("/").on_server_side_emit(..)`; with
    /// // the in-memory adapter there is no other server, and nothing is sent.
    /// io.server_side_emit("cache-invalidate", "users").await?;
    /// # Ok(()) }
    /// ```
    pub async fn server_side_emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        self.main().server_side_emit(event, data).await
    }

    pub(crate) fn inner(&self) -> &Arc<IoInner> {
        &self.inner
    }

    /// The namespace named `name`, if it exists (no side effect, unlike `of`).
    #[cfg(feature = "admin")]
    pub(crate) fn existing(&self, name: &str) -> Option<Namespace> {
        lock(&self.inner.namespaces).get(name).cloned()
    }
}
