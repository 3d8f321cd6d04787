//! The server: namespaces, the engine handler, and server-wide operators.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use switchboard_adapter::AdapterFactory;
use switchboard_engine::{DisconnectReason as EngineReason, Engine};
use switchboard_proto::Str;
use switchboard_proto::socket::Parser;

use crate::bundle::ClientBundle;
use crate::client::{Client, Inbound};
use crate::conn::ConnRef;
use crate::extract::States;
use crate::handler::{Handler, Middleware};
use crate::namespace::{Hooks, NamespaceInner};
use crate::service::{IoLayer, IoService};
use crate::{Namespace, SocketIoConfig};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the data consistent, so a poisoned lock is usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

use crate::parent::{Matcher, ParentInner, ParentNamespace};

mod broadcast;
mod builder;
mod close;
mod handler;
mod stats;

pub use builder::SocketIoBuilder;
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
        SocketIoBuilder::new()
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

    pub(crate) fn inner(&self) -> &Arc<IoInner> {
        &self.inner
    }

    /// The namespace named `name`, if it exists (no side effect, unlike `of`).
    #[cfg(feature = "admin")]
    pub(crate) fn existing(&self, name: &str) -> Option<Namespace> {
        lock(&self.inner.namespaces).get(name).cloned()
    }
}
