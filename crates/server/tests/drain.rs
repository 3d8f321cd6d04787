//! SIGTERM drains: `/readyz` turns 503 at the start of the drain while `/healthz` stays 200,
//! and the JSON logs of a connection carry its session id in the `conn` span.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::TcpStream;
use tokio::process::{ChildStderr, Command};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(20);

/// `GET path` with `Connection: close`: the status code and the body.
async fn get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = timeout(LIMIT, TcpStream::connect(addr)).await.unwrap().unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    timeout(LIMIT, stream.read_to_string(&mut response)).await.unwrap().unwrap();
    let status = response.get(9..12).unwrap().parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

/// The next JSON log line whose message is `message`.
async fn log_line(lines: &mut Lines<BufReader<ChildStderr>>, message: &str) -> serde_json::Value {
    loop {
        let line = timeout(LIMIT, lines.next_line()).await.unwrap().unwrap();
        let line = line.unwrap_or_else(|| panic!("stderr ended before {message:?}"));
        let entry: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        if entry["fields"]["message"] == message {
            return entry;
        }
    }
}

#[tokio::test]
async fn sigterm_turns_readiness_off_while_the_connections_drain() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("drain-{}", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["--port", "0", "--log-format", "json", "--data-dir"])
        .arg(&dir)
        .env_remove("SWITCHBOARD_PORT")
        .env_remove("SWITCHBOARD_HOST")
        .env("RUST_LOG", "info,switchboard_engine=debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    timeout(LIMIT, stdout.read_line(&mut first)).await.unwrap().unwrap();
    let addr =
        first.trim_end().strip_prefix("Switchboard listening on http://").unwrap().to_owned();
    let mut logs = BufReader::new(child.stderr.take().unwrap()).lines();

    assert_eq!(get(&addr, "/readyz").await, (200, "ready".to_owned()));
    assert_eq!(get(&addr, "/healthz").await, (200, "ok".to_owned()));

    // An Engine.IO session that never polls again: the drain waits for it (2 s for its
    // close packet), so readiness can be read while it runs.
    let (status, open) = get(&addr, "/socket.io/?EIO=4&transport=polling").await;
    assert_eq!(status, 200, "{open}");
    let open: serde_json::Value = serde_json::from_str(open.strip_prefix('0').unwrap()).unwrap();
    let sid = open["sid"].as_str().unwrap().to_owned();

    let pid = child.id().unwrap().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().await.unwrap().success());
    log_line(&mut logs, "shutting down: draining the connections").await;
    assert_eq!(get(&addr, "/readyz").await, (503, "draining".to_owned()));
    assert_eq!(get(&addr, "/healthz").await, (200, "ok".to_owned()));

    // The session's end is logged in its connection's span, with its id.
    let closed = log_line(&mut logs, "session closed").await;
    assert_eq!(closed["span"]["name"], "conn", "{closed}");
    assert_eq!(closed["span"]["sid"], sid.as_str(), "{closed}");
    log_line(&mut logs, "connections drained").await;

    let status = timeout(LIMIT, child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status}");
}
