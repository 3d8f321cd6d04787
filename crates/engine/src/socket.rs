//! A session as the layer above sees it.

use std::net::SocketAddr;
use std::time::SystemTime;

use switchboard_proto::Str;
use switchboard_proto::engine::Message;

/// A session id: 20 URL-safe base64 characters from 15 random bytes, as Node's `base64id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid(Str);

impl Sid {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl std::fmt::Display for Sid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// HTTP long-polling.
    Polling,
    /// WebSocket.
    WebSocket,
}

impl TransportKind {
    /// The name used on the wire (`polling`, `websocket`).
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Polling => "polling",
            TransportKind::WebSocket => "websocket",
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The client closed the session (close packet, or the WebSocket closed cleanly).
    TransportClose,
    /// The transport failed (I/O error, duplicate poll, oversized payload, ...).
    TransportError,
    /// No pong within `ping_timeout` of a ping.
    PingTimeout,
    /// The client sent something that is not Engine.IO.
    ParseError,
    /// The server closed it with [`Socket::close`].
    ForcedClose,
    /// The server is shutting down.
    ServerShuttingDown,
}

impl DisconnectReason {
    /// The Node reason string (`transport close`, `ping timeout`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::TransportClose => "transport close",
            DisconnectReason::TransportError => "transport error",
            DisconnectReason::PingTimeout => "ping timeout",
            DisconnectReason::ParseError => "parse error",
            DisconnectReason::ForcedClose => "forced close",
            DisconnectReason::ServerShuttingDown => "server shutting down",
        }
    }
}

/// Why a message could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The session is closed.
    #[error("session closed")]
    Closed,
    /// The session's queue is full (see `EngineConfig::max_buffered_messages`).
    #[error("send buffer full")]
    Full,
}

/// What the handshake request looked like.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RequestInfo {
    /// The request URI (path and query).
    pub uri: http::Uri,
    /// The request headers.
    pub headers: http::HeaderMap,
    /// The peer address, when known.
    pub remote_addr: Option<SocketAddr>,
    /// When the handshake arrived.
    pub time: SystemTime,
    /// Whether the connection was over TLS (as far as the server can tell).
    pub secure: bool,
}

/// One Engine.IO session, shared between the engine and the layer above.
#[derive(Debug)]
pub struct Socket {
    id: Sid,
    request: RequestInfo,
}

impl Socket {
    /// The session id.
    pub fn id(&self) -> &Sid {
        &self.id
    }

    /// The handshake request.
    pub fn request(&self) -> &RequestInfo {
        &self.request
    }

    /// The transport in use now.
    pub fn transport(&self) -> TransportKind {
        TransportKind::Polling
    }

    /// Whether the session is still open.
    pub fn is_connected(&self) -> bool {
        false
    }

    /// Queues one message. Never blocks.
    pub fn send(&self, message: Message) -> Result<(), SendError> {
        let _ = message;
        Err(SendError::Closed)
    }

    /// Queues several messages that must go out together and in order (a Socket.IO packet and
    /// its binary attachments): either all are queued or none.
    pub fn send_many(&self, messages: Vec<Message>) -> Result<(), SendError> {
        let _ = messages;
        Err(SendError::Closed)
    }

    /// Closes the session; the handler's `on_disconnect` gets `reason`.
    pub fn close(&self, reason: DisconnectReason) {
        let _ = reason;
    }
}
