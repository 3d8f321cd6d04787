//! A raw WebSocket echo server on the engine's WebSocket stack and default limits (messages
//! up to 1,000,000 bytes), for the WebSocket conformance suite (`cargo xtask autobahn`).
//!
//! ```text
//! cargo run -p switchboard-engine --example ws_echo -- --port 9001 [--per-message-deflate]
//! ```
//!
//! Prints `listening on http://127.0.0.1:PORT` once bound (`--port 0` picks a free port);
//! every path echoes. `--per-message-deflate` accepts compression (permessage-deflate) with
//! the defaults of [`PerMessageDeflate`].

use std::convert::Infallible;

use switchboard_engine::{EngineConfig, PerMessageDeflate, serve, websocket_echo};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut port = 9001u16;
    let mut config = EngineConfig::default();
    while let Some(arg) = args.next() {
        if arg == "--per-message-deflate" {
            config.per_message_deflate = Some(PerMessageDeflate::default());
            continue;
        }
        match (arg.as_str(), args.next().map(|p| p.parse())) {
            ("--port", Some(Ok(p))) => port = p,
            _ => {
                eprintln!("usage: ws_echo [--port PORT] [--per-message-deflate]");
                std::process::exit(2);
            }
        }
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let config = std::sync::Arc::new(config);
    let service = tower::service_fn(move |req| {
        let config = config.clone();
        async move { Ok::<_, Infallible>(websocket_echo(req, &config)) }
    });
    serve(listener, service).await
}
