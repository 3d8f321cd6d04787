//! A Rust client for Socket.IO v5 over Engine.IO v4, wire-compatible with the official servers.
//!
//! This crate sits at the top of the Switchboard stack, beside the server: it shares the
//! sans-IO codecs of `switchboard-proto` and adds the I/O on tokio. It follows the official
//! JavaScript client (`socket.io-client` v4): same options and defaults, same events, same
//! reconnection algorithm.
//!
//! - [`Manager`]: one connection multiplexing the [`Socket`]s of several namespaces, with
//!   reconnection ([`ManagerEvent`]); [`io`] makes a manager and a socket from one URL.
//! - [`Socket`]: `connect`/`disconnect`, typed `emit` and `emit_with_ack` (serde), server acks,
//!   binary, `on`/`once`/`off`/`on_any`, `volatile`, the offline buffer, `auth`, `retries`,
//!   connection state recovery.
//! - [`engine`]: the Engine.IO client alone (polling, WebSocket, upgrade, heartbeat, binary).
//! - [`Backoff`]: the reconnection delay algorithm of the official client, sans-IO.
//! - [`blocking`]: a small blocking wrapper for programs without an async runtime.
//!
//! One task per [`Manager`] owns the connection and the state of every socket; the handles
//! talk to it through a channel, and listeners run on it, in the order events arrive.
//!
//! Differences from the JS client (also listed in the workspace's `docs/COMPATIBILITY.md`):
//! - sockets do not connect by themselves (`autoConnect`): register the listeners, then call
//!   [`Socket::connect`], so that no event can come before its listener;
//! - `auth` is set once per manager ([`ClientOptions::auth`]), fixed or computed before each
//!   connection (to refresh a token), since one connection carries every namespace;
//! - `disconnect` is reported only to sockets that were connected;
//! - TLS (`https`/`wss`) trusts the platform's root certificates, or the CA of
//!   [`engine::EngineOptions::tls`] ([`engine::tls_config_with_ca`]);
//! - with connection state recovery on, the server's offset is the last argument of an event,
//!   as the JS client shows it to its listeners;
//! - listeners are plain closures run on the manager task: spawn for slow or async work;
//! - a listener that holds a clone of its own socket keeps the manager alive: call
//!   [`Socket::disconnect`] to close the connection.
//!
//! The `chat` example is a terminal client for the demo chat of the `switchboard` server:
//! `cargo run -p switchboard-client --example chat_client -- --url http://127.0.0.1:3000 --room lobby
//! --name alice`.
//!
//! ```no_run
//! use std::time::Duration;
//! use serde::Deserialize;
//! use switchboard_client::{ClientOptions, io};
//!
//! #[derive(Deserialize)]
//! struct Message {
//!     user: String,
//!     text: String,
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let socket = io("http://127.0.0.1:3000/chat", ClientOptions::default())?;
//! socket.on("message", |event| {
//!     if let Ok(m) = event.data::<Message>() {
//!         println!("{}: {}", m.user, m.text);
//!     }
//! });
//! socket.on_disconnect(|reason| println!("disconnected: {reason}"));
//! socket.connect(); // once the listeners are in place
//!
//! socket.emit("message", &(serde_json::json!({ "text": "hello" }),))?;
//! let (count,): (u64,) =
//!     socket.timeout(Duration::from_secs(5)).emit_with_ack("count", &()).await?;
//! println!("{count} messages so far");
//! # Ok(())
//! # }
//! ```

mod backoff;
pub mod blocking;
pub mod engine;
mod error;
mod event;
mod handlers;
mod manager;
mod options;
mod socket;
mod task;

pub use backoff::Backoff;
pub use error::{AckError, ConnectError, DisconnectReason, Error};
pub use event::Event;
pub use handlers::ListenerId;
pub use manager::{Manager, ManagerEvent, io};
pub use options::{Auth, ClientOptions};
pub use socket::{Emitter, Socket};
pub use switchboard_proto::socket::{JsonParser, MsgpackParser, Parser, Payload};
