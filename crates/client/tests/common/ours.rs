//! Runs this workspace's own Socket.IO server (the `switchboard` crate) in process, and restarts
//! it on the same port.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::IgnoredAny;
use serde_json::{Value, json};
use switchboard as server;

use tokio::net::{TcpListener, TcpSocket};
use tokio::task::JoinHandle;

/// A running in-process server.
pub struct OurServer {
    /// The server, to reach its namespaces and sockets.
    pub io: switchboard::SocketIo,
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
    task: JoinHandle<()>,
}

/// Binds 127.0.0.1:`port` (0 for any) with `SO_REUSEADDR`, so that a restarted server gets
/// the port of the stopped one back although its connections linger in `TIME_WAIT`.
pub fn bind(port: u16) -> TcpListener {
    let socket = TcpSocket::new_v4().expect("tcp socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket.bind(SocketAddr::from(([127, 0, 0, 1], port))).expect("bind 127.0.0.1");
    socket.listen(1024).expect("listen")
}

/// Serves `io` on 127.0.0.1:`port` (0 for any).
pub fn serve_on(io: switchboard::SocketIo, port: u16) -> OurServer {
    let listener = bind(port);
    let port = listener.local_addr().expect("local address").port();
    let server = io.clone();
    // Accepts connections until `stop` aborts it (which closes the listener).
    let task = tokio::spawn(async move {
        let _ = server.serve(listener).await;
    });
    OurServer { io, port, task }
}

impl OurServer {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Closes every connection (the clients see `transport close`) and the listener.
    pub async fn stop(self) {
        self.io.close().await;
        self.task.abort();
        let _ = self.task.await;
    }
}

/// A server with an echo, an acking echo, a question to the client, `whoami`, a refusing
/// namespace, a server-side disconnect and a `flaky` event.
pub fn build() -> server::SocketIo {
    with_handlers(server::SocketIo::new(server::SocketIoConfig::default()))
}

/// [`build`], speaking the msgpack parser (`socket.io-msgpack-parser`).
pub fn build_msgpack() -> server::SocketIo {
    let parser = Arc::new(server::MsgpackParser::default());
    with_handlers(server::SocketIo::builder().parser(parser).build())
}

/// Installs the handlers and the namespaces of [`build`] on `io`.
fn with_handlers(io: server::SocketIo) -> server::SocketIo {
    let flaky = Arc::new(Mutex::new(HashMap::new()));
    let f = flaky.clone();
    io.on_connection(move |socket: server::Socket| {
        let flaky = f.clone();
        async move { handlers(&socket, flaky) }
    });
    let admin = io.of("/admin");
    admin.use_middleware(|socket: server::Socket| async move {
        if socket.handshake().auth.get("token").and_then(Value::as_str) == Some("secret") {
            Ok(())
        } else {
            Err(server::MiddlewareError::new("unauthorized").with_data(json!({ "code": 403 })))
        }
    });
    admin.on_connection(move |socket: server::Socket| {
        let flaky = flaky.clone();
        async move { handlers(&socket, flaky) }
    });
    io
}

/// Serves [`build`] on a free port; it runs until stopped or until the test's runtime ends.
pub fn serve() -> OurServer {
    serve_on(build(), 0)
}

/// How many times each `flaky` key was seen.
pub type Flaky = Arc<Mutex<HashMap<String, u32>>>;

pub fn handlers(socket: &server::Socket, flaky: Flaky) -> Result<(), server::ReservedEventName> {
    socket.on("echo", |s: server::Socket, ev: server::Event<IgnoredAny>| async move {
        let _ = match ev.ack {
            Some(ack) => ack.send_payload(ev.payload),
            None => s.emit_payload("echo", ev.payload),
        };
    })?;
    socket.on("ask-me", |s: server::Socket, ev: server::Event<String>| async move {
        let reply = s.timeout(Duration::from_secs(5)).emit_with_ack("question", &ev.data).await;
        let answer = match reply {
            Ok(r) => r.payload.args().first().cloned().unwrap_or(Value::Null),
            Err(e) => json!(e.to_string()),
        };
        let _ = s.emit("answer", &answer);
    })?;
    socket.on("whoami", |s: server::Socket, ev: server::Event<IgnoredAny>| async move {
        if let Some(ack) = ev.ack {
            let info = json!({
                "id": s.id().as_str(),
                "ns": s.ns(),
                "transport": s.transport().as_str(),
                "engine": s.conn_id(),
                "auth": s.handshake().auth,
            });
            let _ = ack.send(&info);
        }
    })?;
    socket.on("disconnect-me", |s: server::Socket, _ev: server::Event<IgnoredAny>| async move {
        s.disconnect(false).await;
    })?;
    // Ignores the first `flaky` event of each key, acks the next ones with the count.
    socket.on("flaky", move |_s: server::Socket, ev: server::Event<String>| {
        let flaky = flaky.clone();
        async move {
            let seen = {
                let mut map = flaky.lock().unwrap();
                let n = map.entry(ev.data).or_insert(0);
                *n += 1;
                *n
            };
            if let (true, Some(ack)) = (seen > 1, ev.ack) {
                let _ = ack.send(&seen);
            }
        }
    })?;
    Ok(())
}
