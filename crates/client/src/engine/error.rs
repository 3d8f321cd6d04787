//! Engine.IO client errors and close reasons.

use std::sync::Arc;

use switchboard_proto::engine::PacketError;
use switchboard_proto::engine::payload::PayloadError;

/// Why an Engine.IO client operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL could not be parsed.
    #[error("invalid url {0:?}")]
    InvalidUrl(String),
    /// TLS (for an `https`/`wss` URL) could not be set up.
    #[error("tls setup failed")]
    Tls(#[source] super::TlsError),
    /// No transport was configured.
    #[error("no transport configured")]
    NoTransport,
    /// An HTTP request could not be built.
    #[error("invalid http request")]
    Request(#[source] http::Error),
    /// An HTTP request failed.
    #[error("http request failed")]
    Http(#[source] hyper_util::client::legacy::Error),
    /// Reading an HTTP response body failed.
    #[error("reading http response failed")]
    Body(#[source] hyper::Error),
    /// The server answered an HTTP request with an error status.
    #[error("http status {status}: {body}")]
    Status {
        /// The status code.
        status: http::StatusCode,
        /// The response body (the Engine.IO server puts a JSON error there).
        body: String,
    },
    /// The WebSocket connection failed.
    #[error("websocket error")]
    WebSocket(#[source] Box<tokio_tungstenite::tungstenite::Error>),
    /// A long-polling payload was malformed.
    #[error("invalid polling payload")]
    Payload(#[source] PayloadError),
    /// A packet was malformed.
    #[error("invalid packet")]
    Packet(#[source] PacketError),
    /// The first packet was not a handshake.
    #[error("expected an open packet")]
    Handshake,
    /// The server refused the upgrade probe.
    #[error("upgrade probe failed")]
    Probe,
    /// The handshake or a request did not complete in time.
    #[error("timed out")]
    Timeout,
    /// The connection is closed.
    #[error("connection closed")]
    Closed,
}

impl From<tokio_tungstenite::tungstenite::Error> for Error {
    fn from(e: tokio_tungstenite::tungstenite::Error) -> Self {
        Error::WebSocket(Box::new(e))
    }
}

/// Why an Engine.IO connection closed (the reasons of the JS client's `close` event).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client closed the connection (`"forced close"`).
    ForcedClose,
    /// The server closed the connection (`"transport close"`).
    TransportClose,
    /// The transport failed (`"transport error"`).
    TransportError(Arc<Error>),
    /// No ping arrived within `pingInterval + pingTimeout` (`"ping timeout"`).
    PingTimeout,
    /// The server sent something undecodable (`"parse error"`).
    ParseError(Arc<Error>),
}

impl CloseReason {
    /// The reason as the JS client names it.
    pub fn as_str(&self) -> &'static str {
        match self {
            CloseReason::ForcedClose => "forced close",
            CloseReason::TransportClose => "transport close",
            CloseReason::TransportError(_) => "transport error",
            CloseReason::PingTimeout => "ping timeout",
            CloseReason::ParseError(_) => "parse error",
        }
    }
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
