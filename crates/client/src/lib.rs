//! A Rust client for Socket.IO v5 over Engine.IO v4, wire-compatible with the official servers.
//!
//! This crate sits at the top of the Switchboard stack, beside the server: it shares the
//! sans-IO codecs of `switchboard-proto` and adds the I/O on tokio.
//!
//! - [`engine`]: the Engine.IO client (polling, WebSocket, upgrade, heartbeat, binary).
//! - [`Backoff`]: the reconnection delay algorithm of the official client, sans-IO.
//!
//! TLS (`https`/`wss`) is not supported yet.
//!
//! ```no_run
//! use switchboard_client::engine::{EngineOptions, Event, Message, Socket};
//!
//! # async fn run() -> Result<(), switchboard_client::engine::Error> {
//! let mut socket = Socket::connect("http://127.0.0.1:3000", EngineOptions::default()).await?;
//! socket.send(Message::Text("hello".into())).await?;
//! if let Some(Event::Message(reply)) = socket.recv().await {
//!     println!("{reply:?}");
//! }
//! socket.close().await;
//! # Ok(())
//! # }
//! ```

mod backoff;
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
pub use switchboard_proto::socket::Payload;
