//! The handlers of the protocol test server (`--example conformance`, §1.3 of its
//! specification), so that the example and the tests share them.
//!
//! ```
//! let io = switchboard::conformance::app();
//! assert_eq!(io.config().engine.path, "/socket.io/");
//! // The example serves `io.service()` (or layers `io.layer()` over the `/engine.io/` echo).
//! ```

use std::time::Duration;

use crate::{Ack, HandlerError, Payload, Socket, SocketIo, SocketIoConfig};

/// The protocol test server's settings: pingInterval 300 ms, pingTimeout 200 ms,
/// maxPayload 1e6, connectTimeout 1000 ms, CORS `*`, path `/socket.io/`.
pub fn config() -> SocketIoConfig {
    let mut config = SocketIoConfig::default();
    config.engine.cors = Some(switchboard_engine::Cors::default());
    config.engine.ping_interval = Duration::from_millis(300);
    config.engine.ping_timeout = Duration::from_millis(200);
    config.engine.max_payload = 1_000_000;
    config.connect_timeout = Duration::from_millis(1000);
    config
}

/// A server with [`config`] and the handlers of [`install`].
pub fn app() -> SocketIo {
    let io = SocketIo::new(config());
    install(&io);
    io
}

/// Installs the handlers: on `/`, emit `auth` with the handshake auth; echo `message` as
/// `message-back`; answer `message-with-ack` with its arguments; on `emit-with-ack`, emit it
/// back asking for an ack and emit `emit-with-ack` with the ack's arguments. On `/custom`,
/// emit `auth`. Any other namespace is refused.
pub fn install(io: &SocketIo) {
    io.on_connection(|socket: Socket| async move {
        socket.emit("auth", &socket.handshake().auth)?;
        socket.on("message", |s: Socket, args: Payload| async move {
            s.emit_payload("message-back", args)
        })?;
        socket.on("message-with-ack", |ack: Ack, args: Payload| async move {
            ack.send_payload(args)
        })?;
        socket.on("emit-with-ack", |s: Socket, args: Payload| async move {
            let answer = s.emit_payload_with_ack("emit-with-ack", args).await?;
            s.emit_payload("emit-with-ack", answer.payload).map_err(HandlerError::from)
        })?;
        Ok::<_, HandlerError>(())
    });
    io.of("/custom").on_connection(|socket: Socket| async move {
        socket.emit("auth", &socket.handshake().auth)
    });
}
