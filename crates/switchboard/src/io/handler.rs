//! The engine's handler: how engine sessions reach the Socket.IO layer.

use std::sync::Arc;

use switchboard_engine::{DisconnectReason as EngineReason, Message};

use super::IoInner;
use crate::client::Inbound;

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

/// What the Socket.IO layer keeps for one engine session: its client connection and the
/// decoder of its messages (opaque). Owned by the engine's session task, lent to each call.
pub struct IoSession(Option<Inbound>);

impl std::fmt::Debug for IoSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IoSession")
    }
}

impl switchboard_engine::Handler for IoHandler {
    type Session = IoSession;

    fn on_connect(&self, socket: Arc<switchboard_engine::Socket>) -> IoSession {
        // The engine session keeps the request: every handshake reads it from there.
        IoSession(self.0.on_conn(socket))
    }

    fn on_message(
        &self,
        session: &mut IoSession,
        _socket: &Arc<switchboard_engine::Socket>,
        message: Message,
    ) {
        if let Some(inbound) = &mut session.0 {
            inbound.on_message(message);
        }
    }

    fn on_disconnect(
        &self,
        session: IoSession,
        socket: &Arc<switchboard_engine::Socket>,
        reason: EngineReason,
    ) {
        if let Some(inbound) = session.0 {
            crate::metrics::conn_closed(socket.transport());
            if let Some(m) = self.0.observer().get() {
                m.raw_disconnection(reason.as_str(), socket.transport());
            }
            inbound.client().on_close(reason.into());
        }
    }

    fn on_upgrade(&self, session: &mut IoSession, _socket: &Arc<switchboard_engine::Socket>) {
        if let Some(inbound) = &session.0 {
            crate::metrics::conn_upgraded();
            if let Some(m) = self.0.observer().get() {
                m.upgraded();
            }
            inbound.client().on_upgrade();
        }
    }
}
