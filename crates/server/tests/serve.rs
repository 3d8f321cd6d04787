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

/// A fresh data directory under the target directory.
fn data_dir() -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("serve-{}-{nanos}", std::process::id()));
    dir.to_string_lossy().into_owned()
}

async fn start(args: &[&str], env: &[(&str, &str)]) -> Server {
    let dir = data_dir();
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .args(["--data-dir", &dir])
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

    /// `GET path` with an `Origin` header; the whole response as text.
    async fn get_from(&self, path: &str, origin: &str) -> String {
        let mut stream = timeout(LIMIT, TcpStream::connect(self.addr())).await.unwrap().unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nOrigin: {origin}\r\nConnection: close\r\n\r\n",
            self.addr()
        );
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
    assert!(response.contains("Switchboard"), "{response}");
    // The index lists every app with a link to its page.
    assert!(response.contains("href=\"/chat\""), "{response}");
    assert!(response.contains("href=\"/notifications\""), "{response}");
    for app in ["tictactoe", "auction", "whiteboard"] {
        assert!(response.contains(&format!("href=\"/{app}\"")), "{app}: {response}");
        for path in [format!("/{app}"), format!("/{app}/{app}.js"), format!("/{app}/{app}.css")] {
            let page = server.get(&path).await;
            assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{path}: {page}");
        }
    }
    assert!(response.contains("href=\"/editor\""), "{response}");
    assert!(response.contains("href=\"/dashboard\""), "{response}");
    let chat = server.get("/chat").await;
    assert!(chat.contains("<script src=\"/socket.io/socket.io.js\"></script>"), "{chat}");
    let pages = ["/chat/chat.js", "/style.css", "/app-shell.js", "/notifications"];
    for path in pages.into_iter().chain(["/notifications/notifications.js", "/favicon.ico"]) {
        let page = server.get(path).await;
        assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{path}: {page}");
    }
    let health = server.get("/healthz").await;
    assert!(health.ends_with("\r\n\r\nok"), "{health}");

    let missing = server.get("/no-such-page").await;
    assert!(missing.starts_with("HTTP/1.1 404 "), "{missing}");

    let status = server.terminate().await;
    assert!(status.success(), "SIGTERM must stop the server cleanly: {status}");
}

#[tokio::test]
async fn apps_picks_the_apps_and_an_unknown_one_is_refused() {
    let server = start(&["--port", "0", "--apps", "notifications"], &[]).await;
    let index = server.get("/").await;
    assert!(index.contains("href=\"/notifications\""), "{index}");
    assert!(!index.contains("href=\"/chat\""), "{index}");
    assert!(server.get("/chat").await.starts_with("HTTP/1.1 404 "));
    assert!(server.get("/notifications").await.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(server.terminate().await.success());

    let (status, stderr) = refused(&["--apps", "chat,chess"]).await;
    assert!(!status.success());
    assert_eq!(
        stderr.trim_end(),
        "switchboard: error: --apps: no app named \"chess\" (the apps are: chat, notifications, \
         tictactoe, auction, whiteboard, editor, dashboard, tracking, arena)"
    );
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
            .args(["--port", &port, "--data-dir", &data_dir()])
            // A user error is never a backtrace, whatever the environment asks for.
            .env("RUST_BACKTRACE", "full")
            .env("RUST_LOG", "warn")
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
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with(&format!("switchboard: error: cannot listen on 127.0.0.1:{port}: ")),
        "{stderr}"
    );
    assert_eq!(
        lines[1],
        "switchboard: hint: another process listens on this port: pick another with --port, or \
         --port 0 for any free port"
    );
    assert!(output.stdout.is_empty());
}

/// Runs the binary with `args` until it exits; its status and stderr.
async fn refused(args: &[&str]) -> (std::process::ExitStatus, String) {
    let output = timeout(
        LIMIT,
        Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["--port", "0", "--data-dir", &data_dir()])
            .args(args)
            .env("RUST_BACKTRACE", "1")
            .env_remove("SWITCHBOARD_PORT")
            .env_remove("SWITCHBOARD_HOST")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(output.stdout.is_empty(), "nothing may listen");
    (output.status, String::from_utf8_lossy(&output.stderr).into_owned())
}

#[tokio::test]
async fn bad_cluster_configurations_are_one_clear_line() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let no_db = format!("postgres://postgres@127.0.0.1:{closed}/x");
    let no_redis = format!("redis://127.0.0.1:{closed}");
    // SQLite: each node would have its own history.
    let (status, stderr) = refused(&["--redis", &no_redis]).await;
    assert!(!status.success());
    assert!(stderr.contains("on SQLite each node would keep its own history"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // Streams: accepted, then Redis must answer as for the other adapters.
    let (status, stderr) =
        refused(&["--redis", &no_redis, "--adapter", "streams", "--database", &no_db]).await;
    assert!(!status.success());
    let expected = format!("switchboard: error: cannot reach Redis at {no_redis} within 5 s");
    assert_eq!(stderr.trim_end().lines().last(), Some(expected.as_str()), "{stderr}");
    let (status, stderr) = refused(&["--redis", &no_redis, "--adapter", "kafka"]).await;
    assert!(!status.success(), "{stderr}");
    // Redis that does not answer.
    let (status, stderr) = refused(&["--redis", &no_redis, "--database", &no_db]).await;
    assert!(!status.success());
    let expected = format!("switchboard: error: cannot reach Redis at {no_redis} within 5 s");
    assert_eq!(stderr.trim_end().lines().last(), Some(expected.as_str()), "{stderr}");
}

#[tokio::test]
async fn help_documents_every_option() {
    let output = timeout(
        LIMIT,
        Command::new(env!("CARGO_BIN_EXE_switchboard")).arg("--help").kill_on_drop(true).output(),
    )
    .await
    .unwrap()
    .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for option in [
        "--port",
        "--host",
        "--config",
        "--data-dir",
        "--redis",
        "--cors-origin",
        "--jwt-secret",
        "--jwt-public-key",
        "--api-key",
        "--rate-limit",
        "--log-format",
        "--max-connections",
        "--max-connections-per-ip",
        "--handshakes-per-ip",
        "--adapter",
        "--database",
        "--tls-cert",
        "--tls-key",
        "SWITCHBOARD_PORT",
        "SWITCHBOARD_DATABASE",
        "--presence-ttl-ms",
    ] {
        assert!(help.contains(option), "{option} missing from --help:\n{help}");
    }
}

#[tokio::test]
async fn a_toml_config_file_and_json_logs() {
    let dir = data_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let config = std::path::Path::new(&dir).join("switchboard.toml");
    std::fs::write(
        &config,
        "port = 0\nhost = \"127.0.0.1\"\nlog_format = \"json\"\napi_key = \"k\"\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["--config", config.to_str().unwrap(), "--data-dir", &dir])
        .env_remove("SWITCHBOARD_PORT")
        .env_remove("SWITCHBOARD_HOST")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut line = String::new();
    let stdout = child.stdout.take().unwrap();
    timeout(LIMIT, BufReader::new(stdout).read_line(&mut line)).await.unwrap().unwrap();
    assert!(line.starts_with("Switchboard listening on http://127.0.0.1:"), "{line}");
    let server = Server { child, base: line.trim_end().replace("Switchboard listening on ", "") };
    let mut child = server.child;
    let pid = child.id().unwrap().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().await.unwrap();
    let mut stderr = String::new();
    let mut err = child.stderr.take().unwrap();
    timeout(LIMIT, err.read_to_string(&mut stderr)).await.unwrap().unwrap();
    assert!(timeout(LIMIT, child.wait()).await.unwrap().unwrap().success());
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines.len() >= 2, "{stderr}");
    for line in lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v.get("level").is_some() && v.get("fields").is_some(), "{line}");
    }
    assert!(std::path::Path::new(&dir).join("switchboard.db").is_file());
}

#[tokio::test]
async fn a_bad_config_file_is_a_clear_error() {
    let dir = data_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let config = std::path::Path::new(&dir).join("bad.toml");
    std::fs::write(&config, "prot = 3000\n").unwrap();
    let output = timeout(
        LIMIT,
        Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["--config", config.to_str().unwrap(), "--data-dir", &dir])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid config file") && stderr.contains("prot"), "{stderr}");
}

#[tokio::test]
async fn connection_limits_are_configurable() {
    let args = ["--port", "0", "--max-connections-per-ip", "1", "--handshakes-per-ip", "100"];
    let server = start(&args, &[]).await;
    let path = "/socket.io/?EIO=4&transport=polling";
    let first = server.get(path).await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    let second = server.get(path).await.to_ascii_lowercase();
    assert!(second.starts_with("http/1.1 429"), "{second}");
    assert!(second.contains("retry-after: 1"), "{second}");
    assert!(server.terminate().await.success());
}

#[tokio::test]
async fn cors_origins_are_configurable() {
    let server = start(&["--port", "0", "--cors-origin", "http://app.example"], &[]).await;
    let path = "/socket.io/?EIO=4&transport=polling";
    let allowed = server.get_from(path, "http://app.example").await.to_ascii_lowercase();
    assert!(allowed.contains("access-control-allow-origin: http://app.example"), "{allowed}");
    let other = server.get_from(path, "http://evil.example").await.to_ascii_lowercase();
    assert!(!other.contains("access-control-allow-origin: http://evil.example"), "{other}");
    assert!(server.terminate().await.success());
}

#[tokio::test]
async fn the_tracking_and_arena_pages_are_served_and_listed() {
    let server = start(&["--port", "0", "--apps", "tracking,arena"], &[]).await;
    let index = server.get("/").await;
    assert!(index.contains("href=\"/tracking\"") && index.contains("href=\"/arena\""), "{index}");
    for path in ["/tracking", "/tracking/tracking.js", "/arena", "/arena/arena.js"] {
        let page = server.get(path).await;
        assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{path}: {page}");
    }
    let stats = server.get("/api/arena/stats").await;
    assert!(stats.contains("\"lateTicks\":0"), "{stats}");
    assert!(server.terminate().await.success());
}
