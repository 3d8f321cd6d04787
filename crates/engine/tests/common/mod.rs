//! Shared helpers: an engine with a recording echo handler, raw HTTP/1.1, a WebSocket client.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use switchboard_engine::{DisconnectReason, Engine, EngineConfig, Handler, Message, Socket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// What the handler saw, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    Connect(String),
    Message(String, Message),
    Upgrade(String),
    Disconnect(String, DisconnectReason),
}

/// Records every event and echoes messages when `echo` is set.
pub struct Recorder {
    pub echo: bool,
    pub seen: mpsc::UnboundedSender<Seen>,
}

impl Handler for Recorder {
    type Session = ();

    fn on_connect(&self, socket: Arc<Socket>) {
        let _ = self.seen.send(Seen::Connect(socket.id().to_string()));
    }
    fn on_message(&self, _: &mut (), socket: &Arc<Socket>, message: Message) {
        let _ = self.seen.send(Seen::Message(socket.id().to_string(), message.clone()));
        if self.echo {
            let _ = socket.send(message);
        }
    }
    fn on_disconnect(&self, _: (), socket: &Arc<Socket>, reason: DisconnectReason) {
        let _ = self.seen.send(Seen::Disconnect(socket.id().to_string(), reason));
    }
    fn on_upgrade(&self, _: &mut (), socket: &Arc<Socket>) {
        let _ = self.seen.send(Seen::Upgrade(socket.id().to_string()));
    }
}

pub struct Server {
    pub engine: Engine<Recorder>,
    pub addr: SocketAddr,
    pub seen: mpsc::UnboundedReceiver<Seen>,
}

impl Server {
    /// The next event, within 60 s (of the test clock; only reached on failure).
    pub async fn next(&mut self) -> Seen {
        tokio::time::timeout(Duration::from_secs(60), self.seen.recv())
            .await
            .expect("no event in time")
            .expect("handler gone")
    }
}

pub fn config() -> EngineConfig {
    EngineConfig::default()
}

/// Starts an echoing engine with `config` on 127.0.0.1:0.
pub async fn start(config: EngineConfig) -> Server {
    start_with(config, true).await
}

pub async fn start_with(config: EngineConfig, echo: bool) -> Server {
    let (tx, seen) = mpsc::unbounded_channel();
    let engine = Engine::new(Arc::new(Recorder { echo, seen: tx }), config);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(engine.clone().serve(listener));
    Server { engine, addr, seen }
}

/// A raw HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`).
pub async fn http(addr: SocketAddr, method: &str, target: &str, body: &[u8]) -> Reply {
    http_raw(addr, method, target, &[], body).await
}

pub async fn http_raw(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding")) {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await.expect("write");
    stream.write_all(body).await.expect("write body");
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    parse(&raw)
}

pub fn parse(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Reply { status, head: head.to_owned(), body: body.to_owned() }
}

pub fn polling(path: &str, sid: Option<&str>) -> String {
    match sid {
        Some(sid) => format!("{path}?EIO=4&transport=polling&sid={sid}"),
        None => format!("{path}?EIO=4&transport=polling"),
    }
}

/// A polling handshake on `/engine.io/`; returns the sid.
pub async fn handshake(addr: SocketAddr) -> String {
    let reply = http(addr, "GET", &polling("/engine.io/", None), b"").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    sid_of(&reply.body)
}

pub fn sid_of(open: &str) -> String {
    let json: serde_json::Value =
        serde_json::from_str(open.strip_prefix('0').expect("open packet")).expect("json");
    json["sid"].as_str().expect("sid").to_owned()
}

pub type Client = WebSocketStream<TcpStream>;

/// A WebSocket to `/engine.io/`, with `sid` when given.
pub async fn ws(addr: SocketAddr, sid: Option<&str>) -> Client {
    let url = match sid {
        Some(sid) => format!("ws://{addr}/engine.io/?EIO=4&transport=websocket&sid={sid}"),
        None => format!("ws://{addr}/engine.io/?EIO=4&transport=websocket"),
    };
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (ws, res) = tokio_tungstenite::client_async(url, tcp).await.expect("ws handshake");
    assert_eq!(res.status(), 101);
    ws
}

/// The next data frame (pings of the Engine.IO heartbeat included), within 60 s.
pub async fn frame(ws: &mut Client) -> Option<WsMessage> {
    loop {
        let next =
            tokio::time::timeout(Duration::from_secs(60), ws.next()).await.expect("frame in time");
        match next {
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
            Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(m)) => return Some(m),
        }
    }
}

pub async fn text(ws: &mut Client) -> String {
    match frame(ws).await {
        Some(WsMessage::Text(t)) => t.as_str().to_owned(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

pub async fn send(ws: &mut Client, text: &str) {
    ws.send(WsMessage::text(text)).await.expect("send");
}
