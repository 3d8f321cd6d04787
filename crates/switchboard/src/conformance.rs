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
///
/// ```
/// use std::time::Duration;
///
/// let config = switchboard::conformance::config();
/// assert_eq!(config.engine.ping_interval, Duration::from_millis(300));
/// assert_eq!(config.engine.ping_timeout, Duration::from_millis(200));
/// assert_eq!(config.engine.max_payload, 1_000_000);
/// assert_eq!(config.connect_timeout, Duration::from_secs(1));
/// ```
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
///
/// ```
/// use switchboard::testing::TestClient;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let io = switchboard::conformance::app();
/// let mut client = TestClient::connect_to(&io, "/", serde_json::json!({"token": "t"})).await?;
/// let auth = client.recv().await?; // `auth`, with the handshake auth
/// assert_eq!(auth.data::<serde_json::Value>()?, serde_json::json!({"token": "t"}));
/// client.emit("message", &(1, "two"))?;
/// let back = client.recv().await?;
/// assert_eq!(back.name, "message-back");
/// assert_eq!(back.data::<(u32, String)>()?, (1, "two".to_owned()));
/// # Ok(()) }
/// ```
pub fn app() -> SocketIo {
    let io = SocketIo::new(config());
    install(&io);
    io
}

/// Installs the handlers: on `/`, emit `auth` with the handshake auth; echo `message` as
/// `message-back`; answer `message-with-ack` with its arguments; on `emit-with-ack`, emit it
/// back asking for an ack and emit `emit-with-ack` with the ack's arguments. On `/custom`,
/// emit `auth`. Any other namespace is refused.
///
/// ```
/// use switchboard::SocketIo;
/// use switchboard::testing::{TestClient, TestError};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let io = SocketIo::new(Default::default()); // the handlers, with settings of your own
/// switchboard::conformance::install(&io);
/// let mut client = TestClient::connect(&io).await?;
/// let _auth = client.recv().await?;
/// let answer = client.emit_with_ack("message-with-ack", &("a", 2)).await?;
/// assert_eq!(answer.data::<(String, u32)>()?, ("a".to_owned(), 2));
/// let other = TestClient::connect_to(&io, "/other", serde_json::Value::Null).await;
/// assert!(matches!(other, Err(TestError::Refused { .. })));
/// # Ok(()) }
/// ```
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
