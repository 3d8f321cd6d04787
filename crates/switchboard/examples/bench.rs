//! The benchmark server: namespace `/`, every socket joins `room1`; `bc` with one argument `t`
//! emits `m` with `t` to `room1`; `echo` with `t` and an ack answers `t` (binary `t` included).
//! pingInterval 25 s.
//!
//! ```text
//! cargo run --release -p switchboard --example bench -- --port 3000
//! ```

use anyhow::Context as _;
use clap::Parser;
use serde_json::Value;
use switchboard::prelude::*;

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "Socket.IO benchmark server")]
struct Args {
    /// Port to bind on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 3000)]
    port: u16,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    // The defaults are Node's: pingInterval 25 s, pingTimeout 20 s.
    let io = SocketIo::new(SocketIoConfig::default());
    io.on_connection(|socket: Socket| async move {
        socket.join("room1");
        // Binary arguments are relayed and answered with their attachments.
        socket.on("bc", |s: Socket, Data(t): Data<Value>| async move {
            s.namespace().to("room1").emit("m", &t).await
        })?;
        socket.on("echo", |Data(t): Data<Value>| async move { Ok::<_, HandlerError>(t) })
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{}", args.port))?;
    println!("listening on http://{}", listener.local_addr()?);
    io.serve(listener).await?;
    Ok(())
}
