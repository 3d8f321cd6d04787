//! Socket.IO v5 server for Rust, wire-compatible with the official JavaScript clients.
//!
//! ```toml
//! [dependencies]
//! switchboard = "0.1"
//! tokio = { version = "1", features = ["rt-multi-thread", "macros", "net"] }
//! serde = { version = "1", features = ["derive"] }
//! serde_json = "1"
//! ```
//!
//! # Hello world
//!
//! A server, a connection handler, and an event handler that answers the client's ack.
//! `socket.io-client` connects to it unchanged (`io("http://127.0.0.1:3000")`).
//!
//! ```no_run
//! use switchboard::prelude::*;
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let io = SocketIo::new(SocketIoConfig::default());
//!     io.on_connection(|socket: Socket| async move {
//!         // Client: socket.emitWithAck("hello", "ana") resolves to "hello, ana"
//!         socket.on("hello", |Data(name): Data<String>| async move {
//!             Ok::<_, HandlerError>(format!("hello, {name}"))
//!         })
//!     });
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     println!("listening on http://{}", listener.local_addr()?);
//!     io.serve(listener).await
//! }
//! ```
//!
//! A handler is any async function whose arguments are *extractors* ([`Socket`],
//! [`Data<T>`], [`Ack`], [`State<S>`], ...: see [`extract`]); it returns `()` or a `Result`
//! whose `Ok` answers the client's ack and whose `Err` is reported to the client (see
//! [`HandlerError`]). Every example below runs as a test, with the in-process
//! [`testing::TestClient`] in place of a browser.
//!
//! # Rooms and emit
//!
//! ```
//! use switchboard::prelude::*;
//! use switchboard::testing::TestClient;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let io = SocketIo::new(Default::default());
//! io.on_connection(|socket: Socket| async move {
//!     socket.on("join", |s: Socket, Data(room): Data<String>| async move {
//!         s.join(room);
//!         Ok::<_, HandlerError>(()) // answers the ack (with no argument) if there is one
//!     })?;
//!     // To everyone in the room but the sender; a tuple is several arguments.
//!     socket.on("say", |s: Socket, Data((room, text)): Data<(String, String)>| async move {
//!         s.to(room).emit("said", &(s.id().as_str(), text)).await
//!     })
//! });
//! let (mut ana, mut bob) = (TestClient::connect(&io).await?, TestClient::connect(&io).await?);
//! ana.emit("join", "tea")?;
//! bob.emit_with_ack("join", "tea").await?; // answered once joined (a handler returning
//!                                          // `()` never answers, as a Node listener that
//!                                          // does not call its ack)
//! ana.emit("say", &("tea", "hi"))?;
//! let said = bob.recv().await?;
//! assert_eq!(said.data::<(String, String)>()?, (ana.id().to_owned(), "hi".to_owned()));
//! # Ok(()) }
//! ```
//!
//! Server-wide: `io.emit(..)`, `io.to(room).emit(..)`, `io.of("/admin")` for a namespace;
//! [`BroadcastOperator`] adds `except`, `local`, `volatile`, `timeout`, `fetch_sockets`,
//! `sockets_join`, `disconnect_sockets`.
//!
//! # Acks, both ways
//!
//! ```
//! use std::time::Duration;
//! use switchboard::prelude::*;
//! use switchboard::testing::TestClient;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let io = SocketIo::new(Default::default());
//! io.on_connection(|socket: Socket| async move {
//!     // Client → server: the handler's result answers (`ack.send(..)` does it by hand).
//!     socket.on("add", |Data((a, b)): Data<(i64, i64)>| async move {
//!         a.checked_add(b).ok_or_else(|| HandlerError::new("overflow"))
//!     })?;
//!     // Server → client: ask and wait, with a timeout.
//!     socket.on("quiz", |s: Socket| async move {
//!         let answer = s.timeout(Duration::from_secs(5)).emit_with_ack("question", "2+2?").await?;
//!         Ok::<_, HandlerError>(answer.data::<u32>()? == 4)
//!     })
//! });
//! let mut client = TestClient::connect(&io).await?;
//! assert_eq!(client.emit_with_ack("add", &(2, 3)).await?.data::<i64>()?, 5);
//! let overflow = client.emit_with_ack("add", &(i64::MAX, 1)).await?;
//! assert_eq!(overflow.data::<serde_json::Value>()?, serde_json::json!({"message": "overflow"}));
//! client.emit("quiz", &())?;
//! let question = client.recv().await?;
//! client.ack(&question, &4)?;
//! # Ok(()) }
//! ```
//!
//! # State, middleware and auth
//!
//! App state is given once to the builder and taken as [`State<S>`]; a connect middleware
//! (Node's `io.use`) refuses a connection with an error the client gets as `connect_error`,
//! and stores per-socket values that handlers take as [`Extension<T>`].
//!
//! ```
//! use switchboard::prelude::*;
//! use switchboard::testing::{TestClient, TestError};
//!
//! #[derive(Clone)]
//! struct Users(std::sync::Arc<Vec<&'static str>>);
//! #[derive(Clone)]
//! struct User(&'static str);
//! #[derive(serde::Deserialize)]
//! struct Auth { token: String }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let io = SocketIo::builder().with_state(Users(vec!["ana"].into())).build();
//! io.use_middleware(|s: Socket, State(users): State<Users>, Data(auth): Data<Auth>| async move {
//!     let user = users.0.iter().find(|u| **u == auth.token).ok_or_else(|| HandlerError::new("unknown user"))?;
//!     s.insert_extension(User(user));
//!     Ok::<_, HandlerError>(())
//! });
//! io.on_connection(|socket: Socket| async move {
//!     socket.on("whoami", |Extension(User(name)): Extension<User>| async move { Ok::<_, HandlerError>(name) })
//! });
//! let refused = TestClient::connect_to(&io, "/", serde_json::json!({"token": "eve"})).await;
//! assert!(matches!(refused, Err(TestError::Refused { message, .. }) if message == "unknown user"));
//! let mut ana = TestClient::connect_to(&io, "/", serde_json::json!({"token": "ana"})).await?;
//! assert_eq!(ana.emit_with_ack("whoami", &()).await?.data::<String>()?, "ana");
//! # Ok(()) }
//! ```
//!
//! # Binary
//!
//! Binary arguments arrive as placeholders in the JSON data, with the bytes as attachments
//! ([`Bin`], [`Payload::binary`]). Data read from a binary event and sent on from its handler
//! (an echo, an ack, a relay to a room) carries its attachments. To send bytes of your own,
//! build a [`Payload`] (`push_binary`) and use `emit_payload`.
//!
//! # Recovery and delivery guarantees
//!
//! [`ConnectionStateRecovery`] is Node's `connectionStateRecovery`: a client that drops and
//! reconnects within the window gets its id, rooms and data back (`socket.recovered()`) and
//! every packet it missed, in order, before new ones; a reconnection that finds its old
//! connection still open (half-open) takes it over. [`Dedupe`] makes the official client's
//! `retries` (at-least-once) exactly-once in effect.
//!
//! - **Server → client, exactly once and in order** with recovery on, for every EVENT without
//!   ack that is not volatile (broadcasts, `socket.emit`), across disconnections shorter than
//!   `max_disconnection_duration`, while the missed packets are still in the log
//!   (`max_buffered_packets`).
//! - **At most once**: volatile packets, packets with an ack (a lost one ends the wait with an
//!   [`AckError`]), everything when recovery is off or impossible.
//! - **Recovery is impossible** (the client gets a new session, `recovered() == false`) after
//!   the window, past the log cap, after a server restart with the in-memory adapter, after a
//!   disconnection on purpose, or when the client never got an offset-carrying packet.
//! - **Client → server, at least once** with the client's `retries` + `ackTimeout`; dedupe
//!   with [`Dedupe`] (number the messages on the client) for an exactly-once effect.
//!
//! See docs/RECOVERY.md in the repository for the wire details and the deviations from Node.
//!
//! ```no_run
//! use switchboard::{ConnectionStateRecovery, Socket, SocketIo, SocketIoConfig};
//!
//! let mut config = SocketIoConfig::default();
//! config.connection_state_recovery = Some(ConnectionStateRecovery::default());
//! let io = SocketIo::new(config);
//! io.on_connection(|socket: Socket| async move {
//!     if !socket.recovered() {
//!         socket.join("news"); // a recovered socket is back in its rooms already
//!     }
//! });
//! ```
//!
//! # Ordering, serving, clusters
//!
//! A client's packets are handled in arrival order: each handler is awaited before the next
//! packet of that client is looked at (acks from the client are resolved immediately, so a
//! handler may await `emit_with_ack`).
//!
//! Serve it alone with [`SocketIo::serve`], or inside axum/tower with [`SocketIo::layer`] or
//! [`SocketIo::service`] (see `examples/chat.rs`). Broadcasts go through an [`Adapter`]
//! (in-memory by default; [`SocketIoBuilder::adapter`] for a cluster one).
//!
//! The official Admin UI (`@socket.io/admin-ui`) can watch and control a server: see
//! `switchboard::admin` (feature `admin`, off by default).
//!
//! The layers below: the protocol codec ([`proto`]), Engine.IO sessions and transports
//! ([`engine`]), the adapter seam ([`adapter`]).

mod ack;
#[cfg(feature = "admin")]
pub mod admin;
mod args;
mod bundle;
mod client;
mod config;
pub mod conformance;
mod conn;
mod dedupe;
mod emitter;
mod error;
pub mod event;
pub mod extract;
mod handler;
mod handshake;
mod handshake_auth;
mod id;
mod io;
mod latch;
mod listeners;
#[cfg(feature = "metrics")]
mod metered;
pub mod metrics;
mod namespace;
mod observe;
mod operators;
mod parent;
mod query;
mod reason;
mod recovery;
mod remote;
mod service;
mod socket;
mod socket_set;
#[cfg(feature = "sse")]
pub mod sse;
pub mod testing;
#[cfg(test)]
mod tests;

pub use ack::{Ack, AckError, AckResponse, SocketAck};
pub use config::{ParserKind, SocketIoConfig, UnknownParser};
pub use dedupe::Dedupe;
pub use emitter::SocketEmitter;
pub use error::EmitError;
pub use event::{Event, HandlerId, MiddlewareError};
pub use extract::{Bin, Data, Extension, FromContext, State, TryData};
pub use handler::{Handler, HandlerError, HandlerOutput, Middleware, Reply, ReportError};
pub use handshake::{Handshake, Headers, RequestParts};
pub use handshake_auth::Auth;
pub use io::{
    CloseReport, IoHandler, IoSession, NamespaceStats, ServerStats, SocketIo, SocketIoBuilder,
};
pub use namespace::Namespace;
pub use operators::BroadcastOperator;
pub use parent::ParentNamespace;
pub use query::Query;
pub use reason::DisconnectReason;
pub use recovery::ConnectionStateRecovery;
pub use remote::RemoteSocket;
pub use service::{IoLayer, IoLayered, IoService};
pub use socket::{AckFuture, Socket};
pub use switchboard_adapter::{
    AckEvent, Adapter, AdapterError, AdapterFactory, BroadcastFlags, BroadcastOptions,
    MemoryAdapter, Room, ServerAckSender, SocketId,
};
pub use switchboard_engine::{
    Cors, DisconnectReason as EngineDisconnectReason, Engine, EngineConfig, SendError,
    TransportKind, Transports,
};
pub use switchboard_proto::socket::{
    DecodeError, EventName, JsonParser, MsgpackParser, Parser, Payload, RESERVED_EVENTS,
    ReservedEventName,
};

/// The adapter crate (`switchboard-adapter`): the seam for cluster adapters.
pub use switchboard_adapter as adapter;
/// The Engine.IO crate (`switchboard-engine`): transports, sessions, their options.
pub use switchboard_engine as engine;
/// The protocol crate (`switchboard-proto`): packets, codecs, payloads.
pub use switchboard_proto as proto;

/// The names most handlers need: `use switchboard::prelude::*;`.
///
/// ```
/// use switchboard::prelude::*;
/// use switchboard::testing::TestClient;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let io = SocketIo::new(SocketIoConfig::default());
/// io.on_connection(|socket: Socket| async move {
///     socket.on("join", |s: Socket, Data(room): Data<String>, ack: Ack| async move {
///         s.join(room);
///         ack.send(&s.rooms().len())
///     })
/// });
/// let mut client = TestClient::connect(&io).await?;
/// assert_eq!(client.emit_with_ack("join", "tea").await?.data::<usize>()?, 2);
/// # Ok(()) }
/// ```
pub mod prelude {
    pub use crate::{
        Ack, Bin, Data, DisconnectReason, EmitError, Event, EventName, Extension, FromContext,
        HandlerError, MiddlewareError, Namespace, Payload, ReservedEventName, Socket, SocketIo,
        SocketIoConfig, State, TryData,
    };
}

/// Compiles the README's Rust example as a doctest, so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

/// Runs the guide's examples (docs/guide) as doctests.
#[cfg(doctest)]
mod guide {
    #[doc = include_str!("../../../docs/guide/01-hello-world.md")]
    struct HelloWorld;
    #[doc = include_str!("../../../docs/guide/02-rooms-and-emit.md")]
    struct RoomsAndEmit;
    #[doc = include_str!("../../../docs/guide/03-acks.md")]
    struct Acks;
    #[doc = include_str!("../../../docs/guide/04-middleware-and-auth.md")]
    struct MiddlewareAndAuth;
    #[doc = include_str!("../../../docs/guide/05-recovery.md")]
    struct Recovery;
    #[doc = include_str!("../../../docs/guide/06-typed-events.md")]
    struct TypedEvents;
    #[doc = include_str!("../../../docs/guide/07-testing.md")]
    struct Testing;
    #[doc = include_str!("../../../docs/guide/from-node.md")]
    struct FromNode;
    #[doc = include_str!("../../../docs/guide/from-socketioxide.md")]
    struct FromSocketioxide;
}
