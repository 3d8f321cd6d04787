//! The Engine.IO server of the binary: an echo handler for now (the Socket.IO layer and the
//! demo apps replace it later).

use std::sync::Arc;

use axum::Router;
use switchboard_engine::{DisconnectReason, Engine, EngineConfig, Handler, Message, Socket};

/// Sends every message back to the session it came from, text as text and binary as binary.
#[derive(Debug, Default)]
pub(crate) struct Echo;

impl Handler for Echo {
    fn on_connect(&self, socket: Arc<Socket>) {
        tracing::debug!(sid = %socket.id(), "engine.io session opened");
    }

    fn on_message(&self, socket: &Arc<Socket>, message: Message) {
        if let Err(error) = socket.send(message) {
            tracing::debug!(sid = %socket.id(), %error, "echo dropped");
        }
    }

    fn on_disconnect(&self, socket: &Arc<Socket>, reason: DisconnectReason) {
        tracing::debug!(sid = %socket.id(), reason = reason.as_str(), "engine.io session closed");
    }
}

/// The echo engine with the Node defaults (path `/engine.io/`).
pub(crate) fn engine() -> Engine<Echo> {
    Engine::new(Arc::new(Echo), EngineConfig::default())
}

/// Routes the engine's path (`/engine.io/`) of `router` to `engine`.
///
/// Not wired yet: in this build `switchboard_engine::Engine` offers no tower `Service` or
/// `Layer`, so requests under `/engine.io/` get the router's 404. When `Engine::layer()` lands,
/// this function becomes `router.layer(engine.layer())`.
pub(crate) fn realtime_layer(router: Router, engine: &Engine<Echo>) -> Router {
    tracing::warn!(
        path = engine.config().path,
        "the Engine.IO endpoint is not mounted in this build"
    );
    router
}
