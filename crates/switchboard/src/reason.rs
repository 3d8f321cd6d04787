//! Why a socket left its namespace.

use switchboard_engine::DisconnectReason as EngineReason;

/// Why a socket was disconnected, with Node's server-side reason strings.
///
/// ```
/// use switchboard::DisconnectReason;
/// assert_eq!(DisconnectReason::ClientNamespaceDisconnect.as_str(), "client namespace disconnect");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The server called `disconnect()` on the socket (the client sees `io server disconnect`).
    ServerNamespaceDisconnect,
    /// The client left the namespace (the client side calls it `io client disconnect`).
    ClientNamespaceDisconnect,
    /// The client did not answer a ping in time.
    PingTimeout,
    /// The client closed the connection.
    TransportClose,
    /// The transport failed.
    TransportError,
    /// The client sent something that is not valid Socket.IO or Engine.IO.
    ParseError,
    /// The connection was closed by the server.
    ForcedClose,
    /// The server is shutting down.
    ServerShuttingDown,
    /// A new connection presented this socket's private session id while this one still
    /// looked open (a half-open connection): the new one took the session over. No Node
    /// equivalent (Node would see a ping timeout later).
    SessionTakenOver,
}

impl DisconnectReason {
    /// The Node reason string.
    ///
    /// ```
    /// use switchboard::DisconnectReason;
    ///
    /// assert_eq!(DisconnectReason::TransportClose.as_str(), "transport close");
    /// // `Display` writes the same:
    /// assert_eq!(DisconnectReason::PingTimeout.to_string(), "ping timeout");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::ServerNamespaceDisconnect => "server namespace disconnect",
            DisconnectReason::ClientNamespaceDisconnect => "client namespace disconnect",
            DisconnectReason::PingTimeout => "ping timeout",
            DisconnectReason::TransportClose => "transport close",
            DisconnectReason::TransportError => "transport error",
            DisconnectReason::ParseError => "parse error",
            DisconnectReason::ForcedClose => "forced close",
            DisconnectReason::ServerShuttingDown => "server shutting down",
            DisconnectReason::SessionTakenOver => "session taken over",
        }
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<EngineReason> for DisconnectReason {
    fn from(r: EngineReason) -> Self {
        match r {
            EngineReason::TransportClose => DisconnectReason::TransportClose,
            EngineReason::PingTimeout => DisconnectReason::PingTimeout,
            EngineReason::ParseError => DisconnectReason::ParseError,
            EngineReason::ForcedClose => DisconnectReason::ForcedClose,
            EngineReason::ServerShuttingDown => DisconnectReason::ServerShuttingDown,
            _ => DisconnectReason::TransportError,
        }
    }
}
