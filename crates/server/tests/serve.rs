//! Starts the `switchboard` binary on port 0 and talks HTTP/1.1 to it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(20);

/// A running server; killed on drop if the test did not stop it.
struct Server {
    child: Child,
    base: String,
}

async fn start(args: &[&str], env: &[(&str, &str)]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env_remove("SWITCHBOARD_PORT")
        .env_remove("SWITCHBOARD_HOST")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start switchboard");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    timeout(LIMIT, BufReader::new(stdout).read_line(&mut line)).await.unwrap().unwrap();
    let base = line
        .trim_end()
        .strip_prefix("Switchboard listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    Server { child, base }
}

impl Server {
    fn addr(&self) -> &str {
        self.base.strip_prefix("http://").unwrap()
    }

    /// `GET path` with `Connection: close`; the whole response as text.
    async fn get(&self, path: &str) -> String {
        let mut stream = timeout(LIMIT, TcpStream::connect(self.addr())).await.unwrap().unwrap();
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", self.addr());
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        timeout(LIMIT, stream.read_to_string(&mut response)).await.unwrap().unwrap();
        response
    }

    /// Sends SIGTERM and waits for the process to exit; its exit status.
    async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().unwrap().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().await.unwrap();
        assert!(killed.success());
        timeout(LIMIT, self.child.wait()).await.unwrap().unwrap()
    }
}

#[tokio::test]
async fn serves_the_landing_page_on_a_free_port() {
    let server = start(&["--port", "0"], &[]).await;
    assert!(server.base.starts_with("http://127.0.0.1:"), "{}", server.base);
    assert_ne!(server.base, "http://127.0.0.1:0");

    let response = server.get("/").await;
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.to_ascii_lowercase().contains("content-type: text/html; charset=utf-8"));
    assert!(response.contains("<h1>Switchboard</h1>"), "{response}");
    assert!(response.contains("demo apps"), "{response}");

    let missing = server.get("/no-such-page").await;
    assert!(missing.starts_with("HTTP/1.1 404 "), "{missing}");

    let status = server.terminate().await;
    assert!(status.success(), "SIGTERM must stop the server cleanly: {status}");
}

#[tokio::test]
async fn serve_subcommand_and_environment_variables() {
    let server =
        start(&["serve"], &[("SWITCHBOARD_PORT", "0"), ("SWITCHBOARD_HOST", "127.0.0.1")]).await;
    let response = server.get("/").await;
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(server.terminate().await.success());
}

#[tokio::test]
async fn a_port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = timeout(
        LIMIT,
        Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["--port", &port])
            .env_remove("SWITCHBOARD_PORT")
            .env_remove("SWITCHBOARD_HOST")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")), "{stderr}");
    assert!(output.stdout.is_empty());
}
