//! Socket.IO v5 server for Rust, wire-compatible with the official JavaScript clients.
//!
//! This crate is the top of the Switchboard server stack: it runs the Socket.IO protocol
//! (codec in `switchboard-proto`) over Engine.IO sessions (`switchboard-engine`) and fans out
//! through an adapter (`switchboard-adapter`, in-memory by default).
//!
//! - [`SocketIo`]: the server — namespaces (static and dynamic), server-wide operators,
//!   graceful `close`.
//! - [`Namespace`]: connection handlers, connect middleware, broadcasts.
//! - [`Socket`]: one client in one namespace — typed event handlers, acks both ways, rooms,
//!   per-packet middleware, disconnect handlers.
//! - [`BroadcastOperator`]: `to`/`in_`/`except`/`local`/`volatile`/`compress`/`timeout`, then
//!   `emit` (encoded once for every recipient), `emit_with_ack`, `fetch_sockets`,
//!   `sockets_join`/`sockets_leave`, `disconnect_sockets`.
//!
//! - [`ConnectionStateRecovery`]: Node's `connectionStateRecovery` — a client that drops and
//!   reconnects within the window gets its id, rooms and data back (`socket.recovered()`) and
//!   every packet it missed, in order, before new ones; a reconnection that finds its old
//!   connection still open (half-open) takes it over. [`Dedupe`] makes the official client's
//!   `retries` (at-least-once) exactly-once in effect.
//!
//! ## Delivery guarantees
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
//! A client's packets are handled in arrival order: each handler is awaited before the next
//! packet of that client is looked at (acks from the client are resolved immediately, so a
//! handler may await `emit_with_ack`).
//!
//! Serve it alone with [`SocketIo::serve`], or inside axum/tower with [`SocketIo::layer`] or
//! [`SocketIo::service`] (see `examples/chat.rs`).
//!
//! ```no_run
//! use switchboard::{Event, Socket, SocketIo};
//!
//! # async fn demo() -> std::io::Result<()> {
//! let io = SocketIo::new(Default::default());
//! io.on_connection(|socket: Socket| async move {
//!     socket.join("room1");
//!     socket.on("chat", |socket: Socket, ev: Event<String>| async move {
//!         let _ = socket.to("room1").emit("chat", &ev.data).await;
//!     });
//! });
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! io.serve(listener).await
//! # }
//! ```

mod ack;
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
mod id;
mod io;
mod latch;
mod listeners;
mod namespace;
mod operators;
mod parent;
mod query;
mod reason;
mod recovery;
mod remote;
mod service;
mod socket;
pub mod testing;
#[cfg(test)]
mod tests;

pub use ack::{Ack, AckError, AckResponse, SocketAck};
pub use config::SocketIoConfig;
pub use dedupe::Dedupe;
pub use emitter::SocketEmitter;
pub use error::EmitError;
pub use event::{Event, HandlerId, MiddlewareError};
pub use extract::{Bin, Data, Extension, FromContext, State, TryData};
pub use handler::{Handler, HandlerError, HandlerOutput, Middleware, Reply, ReportError};
pub use handshake::{Handshake, Headers, RequestParts};
pub use io::{IoHandler, IoSession, SocketIo, SocketIoBuilder};
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
    DecodeError, EventName, JsonParser, Parser, Payload, RESERVED_EVENTS, ReservedEventName,
};

/// The adapter crate (`switchboard-adapter`): the seam for cluster adapters.
pub use switchboard_adapter as adapter;
/// The Engine.IO crate (`switchboard-engine`): transports, sessions, their options.
pub use switchboard_engine as engine;
/// The protocol crate (`switchboard-proto`): packets, codecs, payloads.
pub use switchboard_proto as proto;

/// The names most handlers need: `use switchboard::prelude::*;`.
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
