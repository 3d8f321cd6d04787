//! The engine's handler: how engine sessions reach the Socket.IO layer.

use std::sync::Arc;

use switchboard_engine::{DisconnectReason as EngineReason, Message};

use super::IoInner;
use crate::client::Client;
use crate::handshake::RequestSource;

/// The engine's handler: forwards sessions to the Socket.IO layer.
pub struct IoHandler(Arc<IoInner>);

impl IoHandler {
    pub(super) fn new(inner: Arc<IoInner>) -> Self {
        IoHandler(inner)
    }
}

impl std::fmt::Debug for IoHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IoHandler")
    }
}

/// What the Socket.IO layer keeps for one engine session: its client connection (opaque).
pub struct IoSession(Option<Arc<Client>>);

impl std::fmt::Debug for IoSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IoSession")
    }
}

impl switchboard_engine::Handler for IoHandler {
    type Session = IoSession;

    fn on_connect(&self, socket: Arc<switchboard_engine::Socket>) -> IoSession {
        // The engine session keeps the request: every handshake reads it from there.
        IoSession(self.0.on_conn(socket.clone(), RequestSource::Session(socket)))
    }

    fn on_message(
        &self,
        session: &IoSession,
        _socket: &Arc<switchboard_engine::Socket>,
        message: Message,
    ) {
        if let Some(client) = &session.0 {
            client.on_message(message);
        }
    }

    fn on_disconnect(
        &self,
        _session: IoSession,
        socket: &Arc<switchboard_engine::Socket>,
        reason: EngineReason,
    ) {
        self.0.on_close(socket.id().as_str(), reason);
    }

    fn on_upgrade(&self, session: &IoSession, _socket: &Arc<switchboard_engine::Socket>) {
        if let Some(client) = &session.0 {
            client.on_upgrade();
        }
    }
}
