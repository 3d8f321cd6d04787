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
mod bundle;
mod client;
mod config;
pub mod conformance;
mod conn;
mod emitter;
mod error;
pub mod event;
mod handshake;
mod id;
mod io;
mod listeners;
mod namespace;
mod operators;
mod parent;
mod reason;
mod remote;
mod service;
mod socket;
#[cfg(test)]
mod tests;

pub use ack::{Ack, AckError, AckResponse, SocketAck};
pub use config::SocketIoConfig;
pub use emitter::SocketEmitter;
pub use error::EmitError;
pub use event::{Event, HandlerId, MiddlewareError};
pub use handshake::{Handshake, RequestParts};
pub use io::{IoHandler, SocketIo, SocketIoBuilder};
pub use namespace::Namespace;
pub use operators::BroadcastOperator;
pub use parent::ParentNamespace;
pub use reason::DisconnectReason;
pub use remote::RemoteSocket;
pub use service::{IoLayer, IoLayered, IoService};
pub use socket::{AckFuture, Socket};
pub use switchboard_adapter::{Room, SocketId};
pub use switchboard_proto::socket::{EventName, Payload};

/// Compiles the README's Rust example as a doctest, so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
