//! The Engine.IO v4 client: HTTP long-polling and WebSocket transports, the upgrade from one to
//! the other, the heartbeat watchdog and binary messages.
//!
//! [`Socket::connect`] performs the handshake and spawns the task that owns the connection;
//! the [`Socket`] sends [`Message`]s and receives [`Event`]s.

mod driver;
mod error;
mod options;
mod polling;
mod socket;
mod tls;
mod url;
mod websocket;

pub use error::{CloseReason, Error};
pub use options::{EngineOptions, TransportKind};
pub use socket::{Event, Handle, Socket};
pub use switchboard_proto::engine::{Handshake, Message};
pub use tls::{TlsError, platform_tls_config, tls_config_with_ca};
pub(crate) use url::Endpoint;
pub use websocket::websocket_echo;
