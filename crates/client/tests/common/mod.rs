//! Starts the Node servers of `tests/e2e/servers/` for the integration tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

pub mod ours;
pub mod sio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// Bound on every wait of the tests.
pub const WAIT: Duration = Duration::from_secs(10);

/// A running Node server.
pub struct NodeServer {
    child: Child,
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
    /// Its stdout lines after the `listening on` one.
    pub lines: mpsc::UnboundedReceiver<String>,
}

impl NodeServer {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Waits for a stdout line starting with `prefix`.
    pub async fn line_starting_with(&mut self, prefix: &str) -> String {
        tokio::time::timeout(WAIT, async {
            loop {
                let line = self.lines.recv().await.expect("server exited");
                if line.starts_with(prefix) {
                    return line;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no server line starting with {prefix:?}"))
    }

    /// Stops the server.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The `tests/e2e` directory of the workspace.
pub fn e2e_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e")
}

/// Starts `node servers/SCRIPT ARGS...` in `tests/e2e` and waits for its port.
pub async fn start(script: &str, args: &[&str]) -> NodeServer {
    start_on(script, args, 0).await
}

/// Like [`start`], on a given port (0 for any), to restart a server where it was.
pub async fn start_on(script: &str, args: &[&str], port: u16) -> NodeServer {
    let dir = e2e_dir();
    assert!(
        dir.join("node_modules/engine.io").is_dir() && dir.join("node_modules/socket.io").is_dir(),
        "the Node packages are missing in {}: run `cargo xtask test` (which installs them), \
         or `npm install` in tests/e2e",
        dir.display()
    );
    let port_arg = port.to_string();
    let mut child = Command::new("node")
        .arg(format!("servers/{script}"))
        .args(args)
        .args(["--port", &port_arg])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("cannot run node: is Node.js installed?");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let first = tokio::time::timeout(WAIT, stdout.next_line())
        .await
        .expect("node server did not start in time")
        .expect("reading node stdout")
        .expect("node server exited before listening");
    let port = first
        .strip_prefix("listening on http://127.0.0.1:")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    let (tx, lines) = mpsc::unbounded_channel();
    // Forwards the server's stdout to the test; ends when the server exits.
    tokio::spawn(async move {
        while let Ok(Some(line)) = stdout.next_line().await {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    NodeServer { child, port, lines }
}
