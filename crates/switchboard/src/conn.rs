//! The underlying connection of a client, as the Socket.IO layer needs it.

use std::sync::Arc;

use switchboard_engine::{
    DisconnectReason as EngineReason, EncodedMessage, Message, Protocol, SendError, TransportKind,
};

/// An Engine.IO connection: the engine's `Socket` in production, a recording fake in tests.
pub(crate) trait Conn: Send + Sync + 'static {
    /// The Engine.IO session id.
    fn sid(&self) -> &str;
    /// Queues messages that must go out together and in order.
    fn send_many(&self, messages: Vec<Message>) -> Result<(), SendError>;
    /// Queues pre-encoded messages (a broadcast shares them with every recipient).
    fn send_encoded(&self, messages: &[EncodedMessage]) -> Result<(), SendError>;
    /// Queues messages encoded for this connection alone, by move (cloning a buffer nobody
    /// shares yet allocates).
    fn send_encoded_owned(&self, messages: Vec<EncodedMessage>) -> Result<(), SendError> {
        self.send_encoded(&messages)
    }
    /// Queues one message encoded for this connection alone, by move.
    fn send_encoded_one(&self, message: EncodedMessage) -> Result<(), SendError> {
        self.send_encoded_owned(vec![message])
    }
    /// Queues pre-encoded messages only if the transport can write them now; `Ok(false)`:
    /// dropped.
    fn send_encoded_volatile(&self, messages: &[EncodedMessage]) -> Result<bool, SendError>;
    /// Closes the connection.
    fn close(&self, reason: EngineReason);
    /// The transport in use.
    fn transport(&self) -> TransportKind;
    /// Brings what a send touches into the cache (a broadcast, a few recipients ahead).
    fn prefetch(&self) {}
    /// The Engine.IO revision of the client: v3 clients speak Socket.IO protocol v4.
    fn protocol(&self) -> Protocol {
        Protocol::V4
    }
    /// Where the handshakes of this connection's sockets read its first request from (the
    /// connection itself, for an engine session: a client keeps no second pointer to it).
    fn request(self: Arc<Self>) -> crate::handshake::RequestSource;
}

impl Conn for switchboard_engine::Socket {
    fn sid(&self) -> &str {
        self.id().as_str()
    }

    fn request(self: Arc<Self>) -> crate::handshake::RequestSource {
        crate::handshake::RequestSource::Session(self)
    }

    // Counted as handed to the engine (feature `metrics`); an owned send is counted before
    // it is handed over, so a send that fails (the connection closed) counts too.
    fn send_many(&self, messages: Vec<Message>) -> Result<(), SendError> {
        crate::metrics::sent_messages(&messages);
        crate::observe::sent_messages(&messages);
        switchboard_engine::Socket::send_many(self, messages)
    }

    fn send_encoded(&self, messages: &[EncodedMessage]) -> Result<(), SendError> {
        let sent = switchboard_engine::Socket::send_encoded(self, messages);
        if sent.is_ok() {
            crate::metrics::sent(messages);
            crate::observe::sent(messages);
        }
        sent
    }

    fn send_encoded_owned(&self, messages: Vec<EncodedMessage>) -> Result<(), SendError> {
        crate::metrics::sent(&messages);
        crate::observe::sent(&messages);
        switchboard_engine::Socket::send_encoded_owned(self, messages)
    }

    fn send_encoded_one(&self, message: EncodedMessage) -> Result<(), SendError> {
        crate::metrics::sent_one(&message);
        crate::observe::sent_one(&message);
        switchboard_engine::Socket::send_encoded_one(self, message)
    }

    fn send_encoded_volatile(&self, messages: &[EncodedMessage]) -> Result<bool, SendError> {
        let sent = switchboard_engine::Socket::send_encoded_volatile(self, messages);
        if matches!(sent, Ok(true)) {
            crate::metrics::sent(messages);
            crate::observe::sent(messages);
        }
        sent
    }

    fn close(&self, reason: EngineReason) {
        switchboard_engine::Socket::close(self, reason);
    }

    fn transport(&self) -> TransportKind {
        switchboard_engine::Socket::transport(self)
    }

    fn prefetch(&self) {
        switchboard_engine::Socket::prefetch(self);
    }

    fn protocol(&self) -> Protocol {
        switchboard_engine::Socket::protocol(self)
    }
}

/// A shared connection.
pub(crate) type ConnRef = Arc<dyn Conn>;
