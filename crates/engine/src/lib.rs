//! Engine.IO v4 server over hyper 1 and tokio.
//!
//! This crate sits above `switchboard-proto` (codecs and the session state machine) and below
//! the Socket.IO server (`switchboard`). It owns the transports (HTTP long-polling and
//! WebSocket), the upgrade from one to the other, heartbeats and limits, and hands each
//! session's messages, in arrival order, to a [`Handler`].
//!
//! API CONTRACT (stub): the types and signatures in this crate are the contract the Socket.IO
//! layer codes against. The implementation replaces the bodies; signatures only grow.

mod config;
mod socket;

use std::sync::Arc;

pub use config::{AllowRequest, Cors, EngineConfig, Transports};
pub use socket::{DisconnectReason, RequestInfo, SendError, Sid, Socket, TransportKind};
pub use switchboard_proto::Str;
pub use switchboard_proto::engine::Message;

/// Receives the events of every session of an [`Engine`].
///
/// The engine calls these from the task that owns the session, one at a time per session and
/// in arrival order: `on_connect` first, then `on_message` for each message, then
/// `on_disconnect` exactly once. Implementations must not block; spawn for slow work.
pub trait Handler: Send + Sync + 'static {
    /// A new session completed its handshake (the `open` packet has been queued).
    fn on_connect(&self, socket: Arc<Socket>);
    /// A message packet arrived from the client.
    fn on_message(&self, socket: &Arc<Socket>, message: Message);
    /// The session ended. Called exactly once per session.
    fn on_disconnect(&self, socket: &Arc<Socket>, reason: DisconnectReason);
    /// The session moved from polling to WebSocket. The default does nothing.
    fn on_upgrade(&self, _socket: &Arc<Socket>) {}
}

/// An Engine.IO server: a set of sessions and the [`Handler`] that receives their events.
///
/// Cloning is cheap and every clone serves the same sessions.
pub struct Engine<H: Handler> {
    handler: Arc<H>,
    config: Arc<EngineConfig>,
}

impl<H: Handler> Clone for Engine<H> {
    fn clone(&self) -> Self {
        Engine { handler: self.handler.clone(), config: self.config.clone() }
    }
}

impl<H: Handler> Engine<H> {
    /// A server that calls `handler` for every session.
    pub fn new(handler: Arc<H>, config: EngineConfig) -> Self {
        Engine { handler, config: Arc::new(config) }
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The handler.
    pub fn handler(&self) -> &Arc<H> {
        &self.handler
    }

    /// The number of open sessions.
    pub fn session_count(&self) -> usize {
        0
    }

    /// Closes every session with [`DisconnectReason::ServerShuttingDown`] and refuses new ones.
    pub fn close(&self) {}
}
