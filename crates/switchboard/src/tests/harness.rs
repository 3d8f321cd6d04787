//! A fake Engine.IO connection driven by the tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use switchboard_engine::{DisconnectReason as EngineReason, Message, SendError, TransportKind};
use tokio::sync::mpsc;

use crate::client::Client;
use crate::conn::Conn;
use crate::{RequestParts, SocketIo};

static NEXT: AtomicU64 = AtomicU64::new(0);

pub(crate) struct FakeConn {
    sid: String,
    tx: mpsc::UnboundedSender<Message>,
    closed: Mutex<Option<EngineReason>>,
    // The client this connection carries, told of the close as the engine would; set once,
    // right after the client is made.
    client: std::sync::OnceLock<Weak<Client>>,
    /// What `send_encoded_volatile` sees; tests clear it to make the transport busy.
    pub(crate) writable: std::sync::atomic::AtomicBool,
    transport: TransportKind,
    /// The request its handshakes read.
    parts: RequestParts,
}

impl Conn for FakeConn {
    fn sid(&self) -> &str {
        &self.sid
    }

    fn request(self: Arc<Self>) -> crate::handshake::RequestSource {
        crate::handshake::RequestSource::Parts(Box::new(self.parts.clone()))
    }

    fn send_many(&self, messages: Vec<Message>) -> Result<(), SendError> {
        if self.closed.lock().unwrap().is_some() {
            return Err(SendError::Closed);
        }
        for m in messages {
            let _ = self.tx.send(m);
        }
        Ok(())
    }

    fn send_encoded(
        &self,
        messages: &[switchboard_engine::EncodedMessage],
    ) -> Result<(), SendError> {
        self.send_many(messages.iter().map(|m| m.to_message()).collect())
    }

    fn send_encoded_volatile(
        &self,
        messages: &[switchboard_engine::EncodedMessage],
    ) -> Result<bool, SendError> {
        if !self.writable.load(Ordering::SeqCst) {
            return Ok(false);
        }
        self.send_encoded(messages).map(|()| true)
    }

    fn close(&self, reason: EngineReason) {
        let first = self.closed.lock().unwrap().replace(reason).is_none();
        // As the engine does: the handler's on_disconnect follows a close.
        if first {
            if let Some(client) = self.client.get().and_then(Weak::upgrade) {
                client.on_close(reason.into());
            }
        }
    }

    fn transport(&self) -> TransportKind {
        self.transport
    }
}

/// One fake client connection.
pub(crate) struct Peer {
    pub(crate) conn: Arc<FakeConn>,
    // The server side, as the engine's session task would own it; locked because `send`
    // takes `&self`. Only the test's task locks it.
    inbound: Option<Mutex<crate::client::Inbound>>,
    rx: mpsc::UnboundedReceiver<Message>,
}

impl FakeConn {
    /// The client's side went away (transport close), as the engine reports it.
    pub(crate) fn close_from_client(&self) {
        let first = self.closed.lock().unwrap().replace(EngineReason::TransportClose).is_none();
        if first {
            if let Some(client) = self.client.get().and_then(Weak::upgrade) {
                client.on_close(EngineReason::TransportClose.into());
            }
        }
    }
}

impl Peer {
    pub(crate) fn connect(io: &SocketIo) -> Peer {
        Peer::connect_with(io, "/socket.io/?EIO=4&transport=websocket")
    }

    pub(crate) fn connect_with(io: &SocketIo, uri: &str) -> Peer {
        Peer::connect_over(io, uri, TransportKind::WebSocket)
    }

    /// A connection whose engine transport is `transport` (the packets of a polling one are
    /// handled on the engine's task, a WebSocket's by a drainer task).
    pub(crate) fn connect_over(io: &SocketIo, uri: &str, transport: TransportKind) -> Peer {
        let (tx, rx) = mpsc::unbounded_channel();
        let sid = format!("sid{}", NEXT.fetch_add(1, Ordering::SeqCst));
        let conn = Arc::new(FakeConn {
            sid,
            tx,
            closed: Mutex::new(None),
            client: std::sync::OnceLock::new(),
            writable: std::sync::atomic::AtomicBool::new(true),
            transport,
            parts: RequestParts::new(uri.parse().unwrap()),
        });
        let inbound = io.inner().on_conn(conn.clone());
        if let Some(inbound) = &inbound {
            let _ = conn.client.set(Arc::downgrade(inbound.client()));
        }
        Peer { conn, inbound: inbound.map(Mutex::new), rx }
    }

    pub(crate) fn send(&self, text: &str) {
        if let Some(inbound) = &self.inbound {
            inbound.lock().unwrap().on_message(Message::Text(text.into()));
        }
    }

    pub(crate) fn send_bin(&self, bytes: &[u8]) {
        if let Some(inbound) = &self.inbound {
            inbound.lock().unwrap().on_message(Message::Binary(bytes.to_vec().into()));
        }
    }

    pub(crate) async fn recv(&mut self) -> Message {
        tokio::time::timeout(Duration::from_secs(5), self.rx.recv())
            .await
            .expect("nothing received in time")
            .expect("connection dropped")
    }

    pub(crate) async fn recv_text(&mut self) -> String {
        match self.recv().await {
            Message::Text(s) => s.to_string(),
            Message::Binary(b) => panic!("expected text, got binary {b:?}"),
        }
    }

    pub(crate) async fn recv_bin(&mut self) -> Vec<u8> {
        match self.recv().await {
            Message::Binary(b) => b.to_vec(),
            Message::Text(s) => panic!("expected binary, got text {s}"),
        }
    }

    /// Nothing was sent to this client for the packets it sent so far, nor for what the test
    /// did synchronously: a CONNECT to an unknown namespace, handled after them in order,
    /// must be answered first.
    pub(crate) async fn assert_silent(&mut self) {
        self.send("0/__marker,");
        let next = self.recv_text().await;
        assert_eq!(next, r#"4/__marker,{"message":"Invalid namespace"}"#, "unexpected message");
    }

    pub(crate) fn closed(&self) -> Option<EngineReason> {
        *self.conn.closed.lock().unwrap()
    }

    /// Waits until the server closed the connection (bounded by 5 s of the test clock).
    pub(crate) async fn wait_closed(&self) -> EngineReason {
        let closed = async {
            loop {
                if let Some(r) = self.closed() {
                    return r;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), closed).await.expect("connection not closed")
    }

    /// Connects to `ns` and returns the socket id.
    pub(crate) async fn join(&mut self, ns: &str) -> String {
        if ns == "/" {
            self.send("0");
        } else {
            self.send(&format!("0{ns},"));
        }
        let text = self.recv_text().await;
        let prefix = if ns == "/" { "0".to_owned() } else { format!("0{ns},") };
        let json =
            text.strip_prefix(&prefix).unwrap_or_else(|| panic!("bad connect answer {text}"));
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        v["sid"].as_str().unwrap().to_owned()
    }
}

/// A client joined to `/` and the server's socket for it (handed over by a connection
/// handler this installs), with the id the CONNECT answer gave.
pub(crate) async fn connected(io: &SocketIo) -> (Peer, crate::Socket, String) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    io.on_connection(move |socket: crate::Socket| {
        let tx = tx.clone();
        async move { tx.send(socket).unwrap() }
    });
    let mut peer = Peer::connect(io);
    let id = peer.join("/").await;
    let socket = rx.recv().await.unwrap();
    (peer, socket, id)
}
