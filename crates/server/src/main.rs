//! `switchboard`: the ready-to-run Switchboard server.
//!
//! This binary sits at the top of the stack: it wires the Socket.IO server (`switchboard`)
//! into one axum application with the demo apps:
//!
//! - the apps of `apps` (one module each, listed in `apps::registry`, picked with `--apps`):
//!   a chat on namespace `/chat` (rooms, history, receipts, typing, private messages,
//!   presence) with its page at `/chat`; notifications on namespace `/notifications`, created
//!   with `POST /api/notify`, with the inbox page at `/notifications`; an index page at `/`;
//! - persistence in SQLite (`--data-dir`, default `./data`) or PostgreSQL (`--database`), dev
//!   or JWT auth, a per-user rate limit, graceful shutdown on SIGINT/SIGTERM;
//! - cluster mode with `--redis` (and PostgreSQL): the Redis adapter between nodes and
//!   presence across them (see `cluster`).
//!
//! ```text
//! switchboard [serve] [--host 127.0.0.1] [--port 3000] [--config FILE] [--data-dir DIR] ...
//! ```
//!
//! Every option also comes from `SWITCHBOARD_*` variables or the TOML `--config` file
//! (`switchboard --help` lists them). Logging is configured with `RUST_LOG` (default `info`)
//! and goes to stderr, human-readable or JSON (`--log-format json`). Once bound, the server
//! prints exactly one line on stdout, `Switchboard listening on http://HOST:PORT`.

mod apps;
mod auth;
mod cli;
mod cluster;
mod config;
mod limits;
mod ops;
mod server;
mod sse;
mod store;
mod tls;
mod web;

use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // One line, whatever RUST_BACKTRACE says: the cause chain, no backtrace; then
            // what to do about it, when there is a known way.
            let hint = error.downcast_ref::<Hint>().map(|h| h.0);
            let causes = error.chain().map(ToString::to_string);
            let causes: Vec<String> = causes.filter(|c| Some(c.as_str()) != hint).collect();
            eprintln!("switchboard: error: {}", causes.join(": "));
            if let Some(hint) = hint {
                eprintln!("switchboard: hint: {hint}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

/// What a user can do about an error, printed on a line of its own after it (attached as
/// the outermost context of the error).
#[derive(Debug)]
pub(crate) struct Hint(pub(crate) &'static str);

impl std::fmt::Display for Hint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Hint {}

fn run() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    let cli::Command::Serve(args) = cli.into_command();
    let config = config::Config::load(args)?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match config.log_format {
        cli::LogFormat::Json => builder.json().init(),
        cli::LogFormat::Human => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(server::serve(config))
}
