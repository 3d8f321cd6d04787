//! Socket.IO client errors and disconnect reasons.

use std::sync::Arc;

use serde_json::Value;
use switchboard_proto::socket::ReservedEventName;

use crate::engine;

/// Why a Socket.IO client call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL could not be used.
    #[error("invalid url")]
    Url(#[source] engine::Error),
    /// The event name is reserved (`connect`, `disconnect`, ...).
    #[error(transparent)]
    ReservedEvent(#[from] ReservedEventName),
    /// The arguments could not be serialized.
    #[error("cannot serialize the arguments")]
    Serialize(#[source] serde_json::Error),
    /// The manager is gone.
    #[error("client closed")]
    Closed,
    /// The namespace could not be joined (blocking client).
    #[error("cannot connect")]
    Connect(#[source] ConnectError),
    /// The namespace was not joined in time (blocking client).
    #[error("connection timed out")]
    Timeout,
    /// The background runtime could not start (blocking client).
    #[error("cannot start the runtime")]
    Runtime(#[source] std::io::Error),
}

/// Why an acknowledgement did not come.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AckError {
    /// No answer within the timeout (after the last retry, if any).
    #[error("operation has timed out")]
    Timeout,
    /// The socket disconnected before the answer.
    #[error("socket has been disconnected")]
    Disconnected,
    /// The packet was volatile and the socket was not connected: it was dropped.
    #[error("volatile packet dropped while disconnected")]
    Dropped,
    /// The answer could not be deserialized into the expected type.
    #[error("cannot deserialize the ack")]
    Deserialize(#[source] serde_json::Error),
    /// The emit itself failed.
    #[error(transparent)]
    Emit(#[from] Error),
}

/// Why a namespace could not be joined (the `connect_error` event).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The server refused the namespace (a middleware error): its `message` and `data`.
    #[error("connection refused by the server: {message}")]
    Server {
        /// The error message.
        message: String,
        /// The `data` the server attached, if any.
        data: Option<Value>,
    },
    /// The connection to the server could not be opened.
    #[error("cannot open the connection")]
    Engine(#[source] Arc<engine::Error>),
}

/// Why a socket disconnected (the reasons of the JS client's `disconnect` event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The server disconnected the socket (`"io server disconnect"`); no automatic reconnection.
    IoServerDisconnect,
    /// The client called `disconnect` (`"io client disconnect"`).
    IoClientDisconnect,
    /// The server stopped pinging (`"ping timeout"`).
    PingTimeout,
    /// The connection was closed (`"transport close"`).
    TransportClose,
    /// The connection failed (`"transport error"`).
    TransportError,
    /// The server sent an invalid packet (`"parse error"`).
    ParseError,
}

impl DisconnectReason {
    /// The reason as the JS client names it.
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::IoServerDisconnect => "io server disconnect",
            DisconnectReason::IoClientDisconnect => "io client disconnect",
            DisconnectReason::PingTimeout => "ping timeout",
            DisconnectReason::TransportClose => "transport close",
            DisconnectReason::TransportError => "transport error",
            DisconnectReason::ParseError => "parse error",
        }
    }

    /// Whether the client reconnects by itself after this reason (all but the explicit
    /// disconnections).
    pub fn will_reconnect(self) -> bool {
        !matches!(self, DisconnectReason::IoServerDisconnect | DisconnectReason::IoClientDisconnect)
    }

    pub(crate) fn from_close(reason: &engine::CloseReason) -> Self {
        match reason {
            engine::CloseReason::PingTimeout => DisconnectReason::PingTimeout,
            engine::CloseReason::TransportError(_) => DisconnectReason::TransportError,
            engine::CloseReason::ParseError(_) => DisconnectReason::ParseError,
            _ => DisconnectReason::TransportClose,
        }
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
