//! Engine.IO v4 server over tokio, with an HTTP/1.1 server of its own (hyper for mounting).
//!
//! This crate sits above `switchboard-proto` (codecs and the sans-IO session state machine) and
//! below the Socket.IO server (`switchboard`). It owns the transports (HTTP long-polling and
//! WebSocket), the upgrade from one to the other, heartbeats and limits, and hands each
//! session's messages, in arrival order, to a [`Handler`].
//!
//! - One task owns each session (its state machine, pending poll and WebSockets); requests and
//!   [`Socket::send`] reach it through a bounded inbox, so `send` never blocks; a broadcast is
//!   encoded once into [`EncodedMessage`]s and handed to every recipient with
//!   [`Socket::send_encoded`].
//! - [`Engine::service`] is a tower service (404 outside the engine's path) and
//!   [`Engine::layer`] a tower layer, so engines and an axum `Router` share one server;
//!   [`serve`] / [`Engine::serve`] run them on the engine's own HTTP/1.1 server (small
//!   per-connection buffers, released while a connection waits), with upgrades.
//! - Errors are answered as the Node server answers them ([`RequestError`]).
//! - Engine.IO v3 clients (Socket.IO v2) are accepted with [`EngineConfig::allow_eio3`]
//!   (Node's `allowEIO3`); [`Socket::protocol`] tells which revision a session speaks.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Instant;
//! use switchboard_engine::{DisconnectReason, Engine, EngineConfig, Handler, Message, Socket};
//!
//! /// Sends every message back to its sender.
//! struct Echo;
//!
//! impl Handler for Echo {
//!     /// Kept for each session: when it connected, and how many messages it sent.
//!     type Session = (Instant, u64);
//!
//!     fn on_connect(&self, socket: Arc<Socket>) -> (Instant, u64) {
//!         println!("{} connected over {}", socket.id(), socket.transport().as_str());
//!         (Instant::now(), 0)
//!     }
//!     fn on_message(&self, session: &mut (Instant, u64), socket: &Arc<Socket>, message: Message) {
//!         // The session's task lends its state mutably: no lock for what one session owns.
//!         session.1 += 1;
//!         let _ = socket.send(message);
//!     }
//!     fn on_disconnect(&self, session: (Instant, u64), socket: &Arc<Socket>, why: DisconnectReason) {
//!         let (since, count) = session;
//!         let after = since.elapsed();
//!         println!("{} left after {after:?} and {count} messages: {}", socket.id(), why.as_str());
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let engine = Engine::new(Arc::new(Echo), EngineConfig::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! println!("clients connect to http://{}/engine.io/", listener.local_addr()?);
//! tokio::spawn(engine.clone().serve(listener));
//! assert_eq!(engine.session_count(), 0);
//! # Ok(())
//! # }
//! ```
//!
//! With axum, route the engine's path to it: `Router::new().route_service("/engine.io/",
//! engine.service())`, or wrap the whole router with `.layer(engine.layer())`.

mod admission;
mod cluster;
mod config;
mod cors;
mod drain;
mod echo;
mod error;
mod headers;
mod http1;
mod mailbox;
mod polling;
mod serve;
mod service;
mod session_task;
mod sid;
mod socket;
mod websocket;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use session_task::SessionHandle;

pub use admission::{HandshakeRate, Limits};
pub use cluster::{Cluster, FORWARDED_HEADER, NodeTag, OwnerLookup, TOKEN_HEADER};
pub use config::{AllowRequest, Cors, EngineConfig, PerMessageDeflate, Transports};
pub use echo::websocket_echo;
pub use error::RequestError;
pub use headers::RequestHeaders;
pub use http1::{BodyError, RequestBody};
pub use serve::{DEFAULT_MAX_BODY, serve, serve_with_max_body, serve_with_shutdown};
pub use service::{EngineLayer, EngineLayered, EngineService, ResponseBody};
pub use socket::{DisconnectReason, RequestInfo, SendError, Sid, Socket, TransportKind};
pub use switchboard_proto::Str;
pub use switchboard_proto::engine::{EncodedMessage, Message, Protocol};

/// Receives the events of every session of an [`Engine`].
///
/// The engine calls these from the task that owns the session, one at a time per session and
/// in arrival order: `on_connect` first, then `on_message` for each message, then
/// `on_disconnect` exactly once. Implementations must not block; spawn for slow work.
///
/// What `on_connect` returns is the handler's state for that session: the session task keeps
/// it and hands it to each later event, so that finding it costs no lookup.
pub trait Handler: Send + Sync + 'static {
    /// What the handler keeps for each session (`()` if nothing). The session's task owns it
    /// and lends it to each call, mutably: state only this session touches needs no lock.
    type Session: Send + 'static;
    /// A new session completed its handshake (the `open` packet has been queued).
    fn on_connect(&self, socket: Arc<Socket>) -> Self::Session;
    /// A message packet arrived from the client.
    fn on_message(&self, session: &mut Self::Session, socket: &Arc<Socket>, message: Message);
    /// The session ended. Called exactly once per session.
    fn on_disconnect(&self, session: Self::Session, socket: &Arc<Socket>, reason: DisconnectReason);
    /// The session moved from polling to WebSocket. The default does nothing.
    fn on_upgrade(&self, _session: &mut Self::Session, _socket: &Arc<Socket>) {}
}

/// An Engine.IO server: a set of sessions and the [`Handler`] that receives their events.
///
/// Cloning is cheap and every clone serves the same sessions.
///
/// ```
/// # use std::sync::Arc;
/// # use switchboard_engine::{DisconnectReason, Engine, EngineConfig, Handler, Message};
/// # use switchboard_engine::Socket;
/// # struct Quiet;
/// # impl Handler for Quiet {
/// #     type Session = ();
/// #     fn on_connect(&self, _: Arc<Socket>) {}
/// #     fn on_message(&self, _: &mut (), _: &Arc<Socket>, _: Message) {}
/// #     fn on_disconnect(&self, _: (), _: &Arc<Socket>, _: DisconnectReason) {}
/// # }
/// let engine = Engine::new(Arc::new(Quiet), EngineConfig::default());
/// let clone = engine.clone();
/// clone.close();
/// assert!(engine.is_closed());
/// ```
pub struct Engine<H: Handler> {
    /// One allocation for everything: a clone (one per connection and per session task) is a
    /// single reference-count increment and a single pointer.
    inner: Arc<Inner<H>>,
}

struct Inner<H> {
    handler: Arc<H>,
    config: EngineConfig,
    shared: Shared,
}

/// What every clone of an engine shares.
struct Shared {
    /// The open sessions by id. Request handlers look sessions up here; each session task
    /// inserts itself when created and removes itself when it ends. Held only for map
    /// operations, never across an await.
    sessions: Mutex<sid::Sessions>,
    /// Set by [`Engine::close`]: new handshakes are refused.
    closed: AtomicBool,
    /// The session limits: what is open, from where, how fast.
    admission: Arc<admission::Admission>,
    /// Session tasks and closing WebSockets not finished yet ([`Engine::drained`]).
    drain: Arc<drain::Drain>,
}

impl<H: Handler> Clone for Engine<H> {
    fn clone(&self) -> Self {
        Engine { inner: self.inner.clone() }
    }
}

impl<H: Handler> Engine<H> {
    /// A server that calls `handler` for every session.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use switchboard_engine::{DisconnectReason, Engine, EngineConfig, Handler, Message};
    /// # use switchboard_engine::Socket;
    /// # struct Quiet;
    /// # impl Handler for Quiet {
    /// #     type Session = ();
    /// #     fn on_connect(&self, _: Arc<Socket>) {}
    /// #     fn on_message(&self, _: &mut (), _: &Arc<Socket>, _: Message) {}
    /// #     fn on_disconnect(&self, _: (), _: &Arc<Socket>, _: DisconnectReason) {}
    /// # }
    /// let mut config = EngineConfig::default();
    /// config.path = "/live/".to_owned();
    /// let engine = Engine::new(Arc::new(Quiet), config);
    /// assert_eq!(engine.config().path, "/live/");
    /// assert_eq!(engine.session_count(), 0);
    /// ```
    pub fn new(handler: Arc<H>, config: EngineConfig) -> Self {
        let shared = Shared {
            sessions: Mutex::new(sid::Sessions::default()),
            closed: AtomicBool::new(false),
            admission: Arc::new(admission::Admission::new(config.limits)),
            drain: Arc::new(drain::Drain::default()),
        };
        Engine { inner: Arc::new(Inner { handler, config, shared }) }
    }

    /// The configuration.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use switchboard_engine::{DisconnectReason, Engine, EngineConfig, Handler, Message};
    /// # use switchboard_engine::Socket;
    /// # struct Quiet;
    /// # impl Handler for Quiet {
    /// #     type Session = ();
    /// #     fn on_connect(&self, _: Arc<Socket>) {}
    /// #     fn on_message(&self, _: &mut (), _: &Arc<Socket>, _: Message) {}
    /// #     fn on_disconnect(&self, _: (), _: &Arc<Socket>, _: DisconnectReason) {}
    /// # }
    /// # use std::time::Duration;
    /// let engine = Engine::new(Arc::new(Quiet), EngineConfig::default());
    /// assert_eq!(engine.config().ping_timeout, Duration::from_secs(20));
    /// ```
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The handler.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use switchboard_engine::{DisconnectReason, Engine, EngineConfig, Handler, Message};
    /// # use switchboard_engine::Socket;
    /// struct Greeter {
    ///     greeting: &'static str,
    /// }
    /// impl Handler for Greeter {
    ///     // ...
    /// #     type Session = ();
    /// #     fn on_connect(&self, _: Arc<Socket>) {}
    /// #     fn on_message(&self, _: &mut (), _: &Arc<Socket>, _: Message) {}
    /// #     fn on_disconnect(&self, _: (), _: &Arc<Socket>, _: DisconnectReason) {}
    /// }
    ///
    /// let engine = Engine::new(Arc::new(Greeter { greeting: "hi" }), EngineConfig::default());
    /// assert_eq!(engine.handler().greeting, "hi");
    /// ```
    pub fn handler(&self) -> &Arc<H> {
        &self.inner.handler
    }

    /// The number of open sessions.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use switchboard_engine::{DisconnectReason, Engine, EngineConfig, Handler, Message};
    /// # use switchboard_engine::Socket;
    /// # struct Quiet;
    /// # impl Handler for Quiet {
    /// #     type Session = ();
    /// #     fn on_connect(&self, _: Arc<Socket>) {}
    /// #     fn on_message(&self, _: &mut (), _: &Arc<Socket>, _: Message) {}
    /// #     fn on_disconnect(&self, _: (), _: &Arc<Socket>, _: DisconnectReason) {}
    /// # }
    /// # type BoxError = Box<dyn std::error::Error>;
    /// # async fn get<H: Handler>(engine: &Engine<H>, uri: &str) -> Result<(u16, String), BoxError>
    /// # {
    /// #     use http_body_util::BodyExt;
    /// #     use tower_service::Service;
    /// #     let res = engine.service().call(http::Request::get(uri).body(String::new())?).await?;
    /// #     let status = res.status().as_u16();
    /// #     let body = res.into_body().collect().await?.to_bytes();
    /// #     Ok((status, String::from_utf8(body.to_vec())?))
    /// # }
    /// # async fn handshake<H: Handler>(engine: &Engine<H>) -> Result<String, BoxError> {
    /// #     let (_, body) = get(engine, "/engine.io/?EIO=4&transport=polling").await?;
    /// #     let open: serde_json::Value = serde_json::from_str(body.get(1..).ok_or("empty")?)?;
    /// #     Ok(open["sid"].as_str().ok_or("no sid")?.to_owned())
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let engine = Engine::new(Arc::new(Quiet), EngineConfig::default());
    /// handshake(&engine).await?;
    /// handshake(&engine).await?;
    /// assert_eq!(engine.session_count(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn session_count(&self) -> usize {
        self.sessions().len()
    }

    /// The session with this id, if it is open.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use switchboard_engine::{DisconnectReason, Engine, EngineConfig, Handler, Message};
    /// # use switchboard_engine::Socket;
    /// # struct Quiet;
    /// # impl Handler for Quiet {
    /// #     type Session = ();
    /// #     fn on_connect(&self, _: Arc<Socket>) {}
    /// #     fn on_message(&self, _: &mut (), _: &Arc<Socket>, _: Message) {}
    /// #     fn on_disconnect(&self, _: (), _: &Arc<Socket>, _: DisconnectReason) {}
    /// # }
    /// # type BoxError = Box<dyn std::error::Error>;
    /// # async fn get<H: Handler>(engine: &Engine<H>, uri: &str) -> Result<(u16, String), BoxError>
    /// # {
    /// #     use http_body_util::BodyExt;
    /// #     use tower_service::Service;
    /// #     let res = engine.service().call(http::Request::get(uri).body(String::new())?).await?;
    /// #     let status = res.status().as_u16();
    /// #     let body = res.into_body().collect().await?.to_bytes();
    /// #     Ok((status, String::from_utf8(body.to_vec())?))
    /// # }
    /// # async fn handshake<H: Handler>(engine: &Engine<H>) -> Result<String, BoxError> {
    /// #     let (_, body) = get(engine, "/engine.io/?EIO=4&transport=polling").await?;
    /// #     let open: serde_json::Value = serde_json::from_str(body.get(1..).ok_or("empty")?)?;
    /// #     Ok(open["sid"].as_str().ok_or("no sid")?.to_owned())
    /// # }
    /// # use switchboard_engine::TransportKind;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let engine = Engine::new(Arc::new(Quiet), EngineConfig::default());
    /// let sid = handshake(&engine).await?;
    /// let socket = engine.socket(&sid).ok_or("no session")?;
    /// assert_eq!(socket.id().as_str(), sid);
    /// assert_eq!(socket.transport(), TransportKind::Polling);
    /// assert!(engine.socket("no-such-session").is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub fn socket(&self, sid: &str) -> Option<Arc<Socket>> {
        self.sessions().get(sid).map(|h| h.socket.clone())
    }

    /// Closes every session with [`DisconnectReason::ServerShuttingDown`] and refuses new ones.
    ///
    /// Each session ends on its own task, and `on_disconnect` follows: a WebSocket session once
    /// what is queued is handed to its connection (written out afterwards, see
    /// [`Engine::drained`]); a polling session when the client's GETs have taken the queued
    /// packets and then the close packet, or after 2 s without a GET (`ping_interval` +
    /// `ping_timeout` when packets are still queued).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use switchboard_engine::{DisconnectReason, Engine, EngineConfig, Handler, Message};
    /// # use switchboard_engine::Socket;
    /// /// Reports why each session ended.
    /// struct Gone(tokio::sync::mpsc::UnboundedSender<DisconnectReason>);
    ///
    /// impl Handler for Gone {
    ///     type Session = ();
    ///     fn on_connect(&self, _: Arc<Socket>) {}
    ///     fn on_message(&self, _: &mut (), _: &Arc<Socket>, _: Message) {}
    ///     fn on_disconnect(&self, _: (), _: &Arc<Socket>, reason: DisconnectReason) {
    ///         let _ = self.0.send(reason);
    ///     }
    /// }
    /// # type BoxError = Box<dyn std::error::Error>;
    /// # async fn get<H: Handler>(engine: &Engine<H>, uri: &str) -> Result<(u16, String), BoxError>
    /// # {
    /// #     use http_body_util::BodyExt;
    /// #     use tower_service::Service;
    /// #     let res = engine.service().call(http::Request::get(uri).body(String::new())?).await?;
    /// #     let status = res.status().as_u16();
    /// #     let body = res.into_body().collect().await?.to_bytes();
    /// #     Ok((status, String::from_utf8(body.to_vec())?))
    /// # }
    /// # async fn handshake<H: Handler>(engine: &Engine<H>) -> Result<String, BoxError> {
    /// #     let (_, body) = get(engine, "/engine.io/?EIO=4&transport=polling").await?;
    /// #     let open: serde_json::Value = serde_json::from_str(body.get(1..).ok_or("empty")?)?;
    /// #     Ok(open["sid"].as_str().ok_or("no sid")?.to_owned())
    /// # }
    /// # use switchboard_engine::SendError;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (tx, mut ended) = tokio::sync::mpsc::unbounded_channel();
    /// let engine = Engine::new(Arc::new(Gone(tx)), EngineConfig::default());
    /// let sid = handshake(&engine).await?;
    /// let socket = engine.socket(&sid).ok_or("no session")?;
    ///
    /// engine.close();
    /// // No GET comes to take the close packet: the session ends 2 s later.
    /// assert_eq!(ended.recv().await, Some(DisconnectReason::ServerShuttingDown));
    /// assert_eq!(engine.session_count(), 0);
    /// assert_eq!(socket.send(Message::Text("late".into())), Err(SendError::Closed));
    /// // New sessions are refused.
    /// let (status, _) = get(&engine, "/engine.io/?EIO=4&transport=polling").await?;
    /// assert_eq!(status, 400);
    /// # Ok(())
    /// # }
    /// ```
    pub fn close(&self) {
        self.inner.shared.closed.store(true, Ordering::Release);
        let sockets: Vec<Arc<Socket>> = self.sessions().iter().map(|h| h.socket.clone()).collect();
        for socket in sockets {
            socket.close(DisconnectReason::ServerShuttingDown);
        }
    }

    /// Resolves once every session has ended and the last frames of each WebSocket have been
    /// written (or its final write failed or timed out, after `ping_timeout`). After
    /// [`Engine::close`], this is the end of the drain: every message queued before the close
    /// is on the wire. A polling session ends once its last GET took its queued packets and
    /// the close packet; the HTTP response is then written by the server's connection task.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use switchboard_engine::{DisconnectReason, Engine, EngineConfig, Handler, Message};
    /// # use switchboard_engine::Socket;
    /// # struct Quiet;
    /// # impl Handler for Quiet {
    /// #     type Session = ();
    /// #     fn on_connect(&self, _: Arc<Socket>) {}
    /// #     fn on_message(&self, _: &mut (), _: &Arc<Socket>, _: Message) {}
    /// #     fn on_disconnect(&self, _: (), _: &Arc<Socket>, _: DisconnectReason) {}
    /// # }
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tower_service::Service;
    /// let engine = Engine::new(Arc::new(Quiet), EngineConfig::default());
    /// let req = http::Request::get("/engine.io/?EIO=4&transport=polling").body(String::new())?;
    /// engine.service().call(req).await?;
    /// engine.close();
    /// // No GET comes to take the close packet: the session ends 2 s later.
    /// engine.drained().await;
    /// assert_eq!(engine.session_count(), 0);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn drained(&self) {
        self.inner.shared.drain.wait().await;
    }

    pub(crate) fn drain(&self) -> &Arc<drain::Drain> {
        &self.inner.shared.drain
    }

    /// Whether [`Engine::close`] was called.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use switchboard_engine::{DisconnectReason, Engine, EngineConfig, Handler, Message};
    /// # use switchboard_engine::Socket;
    /// # struct Quiet;
    /// # impl Handler for Quiet {
    /// #     type Session = ();
    /// #     fn on_connect(&self, _: Arc<Socket>) {}
    /// #     fn on_message(&self, _: &mut (), _: &Arc<Socket>, _: Message) {}
    /// #     fn on_disconnect(&self, _: (), _: &Arc<Socket>, _: DisconnectReason) {}
    /// # }
    /// let engine = Engine::new(Arc::new(Quiet), EngineConfig::default());
    /// assert!(!engine.is_closed());
    /// engine.close();
    /// assert!(engine.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner.shared.closed.load(Ordering::Acquire)
    }

    /// A tower service answering the engine's requests (404 outside `config.path`).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use switchboard_engine::{DisconnectReason, Engine, EngineConfig, Handler, Message};
    /// # use switchboard_engine::Socket;
    /// # struct Quiet;
    /// # impl Handler for Quiet {
    /// #     type Session = ();
    /// #     fn on_connect(&self, _: Arc<Socket>) {}
    /// #     fn on_message(&self, _: &mut (), _: &Arc<Socket>, _: Message) {}
    /// #     fn on_disconnect(&self, _: (), _: &Arc<Socket>, _: DisconnectReason) {}
    /// # }
    /// use http_body_util::BodyExt;
    /// use tower_service::Service;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let engine = Engine::new(Arc::new(Quiet), EngineConfig::default());
    /// let mut service = engine.service(); // always ready: no need to wait in `poll_ready`
    ///
    /// let req = http::Request::get("/engine.io/?EIO=4&transport=polling").body(String::new())?;
    /// let res = service.call(req).await?;
    /// assert_eq!(res.status(), 200);
    /// let open = res.into_body().collect().await?.to_bytes();
    /// assert!(open.starts_with(br#"0{"sid":""#)); // the Engine.IO `open` packet
    /// assert_eq!(engine.session_count(), 1);
    ///
    /// let elsewhere = service.call(http::Request::get("/index.html").body(String::new())?).await?;
    /// assert_eq!(elsewhere.status(), 404);
    /// # Ok(())
    /// # }
    /// ```
    pub fn service(&self) -> EngineService<H> {
        EngineService::new(self.clone())
    }

    /// A tower layer: requests under `config.path` go to the engine, the rest to the inner
    /// service. Use it to put two engines, or an engine and an axum `Router`, on one server.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use switchboard_engine::{DisconnectReason, Engine, EngineConfig, Handler, Message};
    /// # use switchboard_engine::Socket;
    /// # struct Quiet;
    /// # impl Handler for Quiet {
    /// #     type Session = ();
    /// #     fn on_connect(&self, _: Arc<Socket>) {}
    /// #     fn on_message(&self, _: &mut (), _: &Arc<Socket>, _: Message) {}
    /// #     fn on_disconnect(&self, _: (), _: &Arc<Socket>, _: DisconnectReason) {}
    /// # }
    /// use axum::Router;
    /// use axum::routing::get;
    /// use tower_service::Service;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let engine = Engine::new(Arc::new(Quiet), EngineConfig::default());
    /// let mut app = Router::new()
    ///     .route("/hello", get(|| async { "hello" }))
    ///     .layer(engine.layer()); // the engine's path to the engine, the rest to the routes
    ///
    /// let hello = app.call(http::Request::get("/hello").body(String::new())?).await?;
    /// assert_eq!(hello.status(), 200);
    /// let req = http::Request::get("/engine.io/?EIO=4&transport=polling").body(String::new())?;
    /// assert_eq!(app.call(req).await?.status(), 200);
    /// assert_eq!(engine.session_count(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn layer(&self) -> EngineLayer<H> {
        EngineLayer::new(self.clone())
    }

    /// Serves this engine alone on `listener` until accepting fails.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use switchboard_engine::{DisconnectReason, Engine, EngineConfig, Handler, Message};
    /// # use switchboard_engine::Socket;
    /// # struct Quiet;
    /// # impl Handler for Quiet {
    /// #     type Session = ();
    /// #     fn on_connect(&self, _: Arc<Socket>) {}
    /// #     fn on_message(&self, _: &mut (), _: &Arc<Socket>, _: Message) {}
    /// #     fn on_disconnect(&self, _: (), _: &Arc<Socket>, _: DisconnectReason) {}
    /// # }
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let engine = Engine::new(Arc::new(Quiet), EngineConfig::default());
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let addr = listener.local_addr()?;
    /// // The server runs until the runtime ends with the example.
    /// tokio::spawn(engine.clone().serve(listener));
    ///
    /// let mut client = tokio::net::TcpStream::connect(addr).await?;
    /// let head = "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\n";
    /// client.write_all(head.as_bytes()).await?;
    /// client.write_all(b"host: localhost\r\nconnection: close\r\n\r\n").await?;
    /// let mut reply = String::new();
    /// client.read_to_string(&mut reply).await?;
    /// assert!(reply.starts_with("HTTP/1.1 200 OK"));
    /// assert!(reply.contains(r#"0{"sid":""#));
    /// assert_eq!(engine.session_count(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        let max_body = self.config().max_payload;
        serve_with_max_body(listener, self.service(), max_body).await
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, sid::Sessions> {
        // A panic while holding the lock cannot leave the map inconsistent: recover it.
        self.inner.shared.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn lookup(&self, sid: &str) -> Option<SessionHandle> {
        self.sessions().get(sid).cloned()
    }

    pub(crate) fn insert(&self, handle: SessionHandle) {
        self.sessions().insert(handle);
    }

    pub(crate) fn remove(&self, sid: &Sid) {
        let removed = self.sessions().remove(sid.as_str());
        if let Some(handle) = removed {
            // Every session was admitted by a ticket it kept: its place is free now.
            let ip = handle.socket.request().remote_addr.map(|a| a.ip());
            self.inner.shared.admission.release(ip);
        }
    }

    /// Takes a place for a new session from `ip` under the configured limits.
    pub(crate) fn admit(
        &self,
        ip: Option<std::net::IpAddr>,
    ) -> Result<admission::Ticket, RequestError> {
        self.inner.shared.admission.admit(ip)
    }
}
