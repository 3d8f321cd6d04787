//! The protocol test server (see the protocol test server specification).
//!
//! `/engine.io/` is a plain Engine.IO v4 server that echoes every message back unchanged;
//! `/socket.io/` is the Socket.IO endpoint. Both use pingInterval 300 ms, pingTimeout 200 ms,
//! maxPayload 1000000 and CORS `*`; with `--per-message-deflate`, both accept WebSocket
//! compression with Node's settings (`perMessageDeflate: true`).
//!
//! ```text
//! cargo run -p switchboard --example conformance -- --port 3000 [--per-message-deflate]
//! ```

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use switchboard_engine::{
    Cors, DisconnectReason, Engine, EngineConfig, Handler, Message, PerMessageDeflate, Socket,
};
use tower::Layer as _;

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "Engine.IO / Socket.IO protocol test server")]
struct Args {
    /// Port to bind on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Also accept Engine.IO v3 / Socket.IO v2 clients on both endpoints (Node's `allowEIO3`).
    #[arg(long = "allow-eio3")]
    allow_eio3: bool,
    /// The Socket.IO packet format: `json` or `msgpack` (the npm `socket.io-msgpack-parser`).
    #[arg(long, default_value_t = switchboard::ParserKind::Json)]
    parser: switchboard::ParserKind,
    /// Accept WebSocket compression (permessage-deflate) with Node's settings.
    #[arg(long)]
    per_message_deflate: bool,
}

/// Echoes every message back to its sender: text stays text, binary stays binary.
struct Echo;

impl Handler for Echo {
    type Session = ();

    fn on_connect(&self, _socket: Arc<Socket>) {}

    fn on_message(&self, _: &mut (), socket: &Arc<Socket>, message: Message) {
        if let Err(e) = socket.send(message) {
            tracing::debug!(sid = %socket.id(), error = %e, "echo dropped");
        }
    }

    fn on_disconnect(&self, _: (), _socket: &Arc<Socket>, _reason: DisconnectReason) {}
}

/// The settings of both endpoints.
fn engine_config(path: &str, allow_eio3: bool, deflate: bool) -> EngineConfig {
    let mut config = EngineConfig::default();
    config.allow_eio3 = allow_eio3;
    config.per_message_deflate = deflate.then(PerMessageDeflate::default);
    config.path = path.to_owned();
    config.ping_interval = Duration::from_millis(300);
    config.ping_timeout = Duration::from_millis(200);
    config.max_payload = 1_000_000;
    config.cors = Some(Cors::default());
    config
}

/// The `/socket.io/` endpoint, served for every request the `/engine.io/` engine does not take.
///
/// It is the Socket.IO test server of the protocol test server specification (§1.3):
/// namespaces `/` and `/custom`, with the same Engine.IO settings and `connectTimeout` 1 s,
/// speaking `parser`.
fn socket_io_endpoint(
    allow_eio3: bool,
    parser: switchboard::ParserKind,
    deflate: bool,
) -> switchboard::IoService {
    let mut config = switchboard::conformance::config();
    config.engine.allow_eio3 = allow_eio3;
    config.engine.per_message_deflate = deflate.then(PerMessageDeflate::default);
    config.parser = parser;
    let io = switchboard::SocketIo::new(config);
    switchboard::conformance::install(&io);
    io.service()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{}", args.port))?;
    let addr = listener.local_addr()?;
    let deflate = args.per_message_deflate;
    let engine_io =
        Engine::new(Arc::new(Echo), engine_config("/engine.io/", args.allow_eio3, deflate));
    let service =
        engine_io.layer().layer(socket_io_endpoint(args.allow_eio3, args.parser, deflate));
    println!("listening on http://{addr}");
    switchboard_engine::serve(listener, service).await?;
    Ok(())
}
