//! `switchboard`: the ready-to-run Switchboard server.
//!
//! This binary sits at the top of the stack: it wires the Engine.IO server
//! (`switchboard-engine`) and, later, the Socket.IO server and the demo apps into one axum
//! application. Today it serves a landing page at `/` and holds an Engine.IO echo server.
//!
//! ```text
//! switchboard [serve] [--host 127.0.0.1] [--port 3000]
//! ```
//!
//! The port and host can also come from `SWITCHBOARD_PORT` and `SWITCHBOARD_HOST`; logging is
//! configured with `RUST_LOG` (default `info`) and goes to stderr. Once bound, the server prints
//! exactly one line on stdout, `Switchboard listening on http://HOST:PORT` (with the real port
//! when started with `--port 0`), and stops gracefully on SIGINT or SIGTERM.

mod cli;
mod page;
mod realtime;
mod server;

use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.into_command() {
        cli::Command::Serve(args) => runtime.block_on(server::serve(args)),
    }
}
