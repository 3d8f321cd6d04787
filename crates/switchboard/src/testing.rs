//! Testing handlers without sockets or ports: a [`TestClient`] connects to a [`SocketIo`] in
//! the same process, emits, awaits acks and events. It runs on the test's tokio runtime and
//! works with paused time (`#[tokio::test(start_paused = true)]`): a wait that nothing can end
//! fails at once with [`TestError::Timeout`] instead of hanging.
//!
//! ```
//! use switchboard::prelude::*;
//! use switchboard::testing::TestClient;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let io = SocketIo::new(Default::default());
//! io.on_connection(|socket: Socket| async move {
//!     socket.on("add", |Data((a, b)): Data<(i32, i32)>| async move { Ok::<_, HandlerError>(a + b) })
//! });
//! let mut client = TestClient::connect(&io).await?;
//! let sum = client.emit_with_ack("add", &(2, 3)).await?;
//! assert_eq!(sum.data::<i32>()?, 5);
//! # Ok(()) }
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use switchboard_engine::{DisconnectReason as EngineReason, Message, SendError, TransportKind};
use switchboard_proto::Str;
use switchboard_proto::socket::{
    Decode, DecodeError, EventName, Packet, PacketData, Parser, Payload,
};
use tokio::sync::mpsc;

use crate::client::{Client, Inbound};
use crate::conn::Conn;
use crate::handshake::RequestSource;
use crate::{AckResponse, EmitError, RequestParts, SocketIo};

/// Why a [`TestClient`] call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestError {
    /// A connect middleware refused the connection.
    #[error("connection refused: {message}")]
    Refused {
        /// The error's message.
        message: String,
        /// The error's data.
        data: Option<Value>,
    },
    /// Nothing came within the client's timeout (of tokio time).
    #[error("nothing received within {0:?}")]
    Timeout(Duration),
    /// The server disconnected this client from its namespace.
    #[error("disconnected by the server")]
    Disconnected,
    /// The server is closing or closed the connection.
    #[error("connection closed")]
    Closed,
    /// The arguments could not be sent.
    #[error("could not emit")]
    Emit(#[from] EmitError),
    /// The server sent a packet the client cannot decode.
    #[error("undecodable packet from the server")]
    Decode(#[from] DecodeError),
}

/// An event the server sent to a [`TestClient`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TestEvent {
    /// The event name.
    pub name: String,
    /// The arguments and attachments.
    pub payload: Payload,
    /// The ack id, when the server waits for an answer (see [`TestClient::ack`]).
    pub ack: Option<u64>,
}

impl TestEvent {
    /// The arguments as `T`, read as [`crate::Data`] reads them.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        crate::event::from_payload(&self.payload)
    }
}

/// The connection of a [`TestClient`]: what the server sends goes to its channel.
struct TestConn {
    sid: String,
    // To the test client; unbounded as the engine's queue is large: a test reads it all.
    tx: mpsc::UnboundedSender<Message>,
    // Set once when the connection closes; the client's waits end on it.
    closed: tokio::sync::watch::Sender<bool>,
    // The client this connection carries, told of the close as the engine's session task
    // tells it; set once, right after the client is made.
    client: OnceLock<Weak<Client>>,
}

impl Conn for TestConn {
    fn sid(&self) -> &str {
        &self.sid
    }

    fn send_many(&self, messages: Vec<Message>) -> Result<(), SendError> {
        if *self.closed.borrow() {
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
        self.send_encoded(messages).map(|()| true)
    }

    fn close(&self, reason: EngineReason) {
        if !self.closed.send_replace(true) {
            if let Some(client) = self.client.get().and_then(Weak::upgrade) {
                client.on_close(reason.into());
            }
        }
    }

    fn transport(&self) -> TransportKind {
        TransportKind::WebSocket
    }
}

/// Session ids of test connections.
static NEXT: AtomicU64 = AtomicU64::new(0);

/// A client connected to one namespace of a [`SocketIo`], in process (see the
/// [module](self)). Events that arrive while it waits for an ack are kept for
/// [`TestClient::recv`], in order.
///
/// ```
/// use switchboard::prelude::*;
/// use switchboard::testing::TestClient;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let io = SocketIo::new(Default::default());
/// io.on_connection(|socket: Socket| async move {
///     socket.join("chat");
///     socket.on("say", |s: Socket, Data(text): Data<String>| async move {
///         s.to("chat").emit("said", &text).await
///     })
/// });
/// let ana = TestClient::connect(&io).await?;
/// let mut bob = TestClient::connect(&io).await?;
/// ana.emit("say", "hi")?;
/// let said = bob.recv().await?;
/// assert_eq!((said.name.as_str(), said.data::<String>()?), ("said", "hi".to_owned()));
/// # Ok(()) }
/// ```
pub struct TestClient {
    conn: Arc<TestConn>,
    // The server side of the connection, as the engine's session task would own it; behind a
    // lock only because sends take `&self` here. Only the test's task locks it, never across
    // an await.
    inbound: std::sync::Mutex<Inbound>,
    ns: Str,
    id: String,
    parser: Arc<dyn Parser>,
    decoder: Box<dyn Decode>,
    rx: mpsc::UnboundedReceiver<Message>,
    next_ack: u64,
    events: VecDeque<TestEvent>,
    acks: HashMap<u64, Payload>,
    timeout: Duration,
}

impl std::fmt::Debug for TestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestClient").field("ns", &self.ns).field("id", &self.id).finish()
    }
}

impl TestClient {
    /// Connects to the main namespace without auth.
    pub async fn connect(io: &SocketIo) -> Result<TestClient, TestError> {
        TestClient::connect_to(io, "/", Value::Null).await
    }

    /// Connects to namespace `ns` with `auth` (the client's `auth` option: a JSON object, or
    /// `Value::Null` for none; the server closes a connection whose auth is anything else, as
    /// the protocol says, and this returns [`TestError::Closed`]).
    pub async fn connect_to(io: &SocketIo, ns: &str, auth: Value) -> Result<TestClient, TestError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let sid = format!("test{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let conn = Arc::new(TestConn {
            sid,
            tx,
            closed: tokio::sync::watch::Sender::new(false),
            client: OnceLock::new(),
        });
        let parts =
            RequestParts::new(http::Uri::from_static("/socket.io/?EIO=4&transport=websocket"));
        let inbound = io
            .inner()
            .on_conn(conn.clone(), RequestSource::Parts(Box::new(parts)))
            .ok_or(TestError::Closed)?;
        let _ = conn.client.set(Arc::downgrade(inbound.client()));
        let parser = io.inner().parser().clone();
        let mut this = TestClient {
            conn,
            inbound: std::sync::Mutex::new(inbound),
            ns: Str::from(ns),
            id: String::new(),
            decoder: parser.decoder(),
            parser,
            rx,
            next_ack: 0,
            events: VecDeque::new(),
            acks: HashMap::new(),
            timeout: Duration::from_secs(5),
        };
        let auth = (!auth.is_null()).then_some(auth);
        this.send(&Packet::connect(this.ns.clone(), auth));
        loop {
            match this.next_packet().await?.data {
                PacketData::Connect(answer) => {
                    let sid = answer.as_ref().and_then(|v| v.get("sid")).and_then(Value::as_str);
                    this.id = sid.unwrap_or_default().to_owned();
                    return Ok(this);
                }
                PacketData::ConnectError(e) => {
                    let message = e.get("message").and_then(Value::as_str).unwrap_or_default();
                    return Err(TestError::Refused {
                        message: message.to_owned(),
                        data: e.get("data").cloned(),
                    });
                }
                _ => {}
            }
        }
    }

    /// How long each wait lasts at most (tokio time; 5 s unless set).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The socket id the server gave.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Emits `data` (argument forms as [`crate::Socket::emit`]).
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), TestError> {
        self.emit_payload(event, crate::args::to_payload(data)?)
    }

    /// Emits these arguments (binary ones included).
    pub fn emit_payload(&self, event: &str, payload: Payload) -> Result<(), TestError> {
        let name = EventName::new(event).map_err(EmitError::from)?;
        self.send(&Packet::event(self.ns.clone(), name, payload));
        Ok(())
    }

    /// Emits `data` asking for an ack, and waits for the answer.
    pub async fn emit_with_ack<T: Serialize + ?Sized>(
        &mut self,
        event: &str,
        data: &T,
    ) -> Result<AckResponse, TestError> {
        self.emit_payload_with_ack(event, crate::args::to_payload(data)?).await
    }

    /// Emits these arguments asking for an ack, and waits for the answer.
    pub async fn emit_payload_with_ack(
        &mut self,
        event: &str,
        payload: Payload,
    ) -> Result<AckResponse, TestError> {
        let name = EventName::new(event).map_err(EmitError::from)?;
        let id = self.next_ack;
        self.next_ack += 1;
        self.send(&Packet::event_with_ack(self.ns.clone(), name, payload, id));
        loop {
            if let Some(payload) = self.acks.remove(&id) {
                return Ok(AckResponse { payload });
            }
            self.pump().await?;
        }
    }

    /// The next event the server sent.
    pub async fn recv(&mut self) -> Result<TestEvent, TestError> {
        loop {
            if let Some(event) = self.events.pop_front() {
                return Ok(event);
            }
            self.pump().await?;
        }
    }

    /// Answers an event the server sent with an ack (argument forms as
    /// [`crate::Socket::emit`]).
    pub fn ack<T: Serialize + ?Sized>(&self, event: &TestEvent, data: &T) -> Result<(), TestError> {
        let id = event.ack.ok_or(EmitError::AlreadyAcknowledged)?;
        self.send(&Packet::ack(self.ns.clone(), crate::args::to_payload(data)?, id));
        Ok(())
    }

    /// Leaves the namespace (the client's `socket.disconnect()`).
    pub fn disconnect(&self) {
        self.send(&Packet::disconnect(self.ns.clone()));
    }

    /// Drops the connection, as a network cut does (the server sees a transport close).
    pub fn close(&self) {
        self.conn.close(EngineReason::TransportClose);
    }

    fn send(&self, packet: &Packet) {
        // Nothing panics while it is held, so a poisoned lock is usable.
        let mut inbound = self.inbound.lock().unwrap_or_else(|e| e.into_inner());
        for message in self.parser.encode(packet) {
            inbound.on_message(message);
        }
    }

    /// Reads one packet of this namespace and files it.
    async fn pump(&mut self) -> Result<(), TestError> {
        let packet = self.next_packet().await?;
        match packet.data {
            PacketData::Event { event, payload, ack } => {
                self.events.push_back(TestEvent { name: event.as_str().to_owned(), payload, ack });
            }
            PacketData::Ack { payload, ack } => {
                self.acks.insert(ack, payload);
            }
            PacketData::Disconnect => return Err(TestError::Disconnected),
            _ => {}
        }
        Ok(())
    }

    /// The next whole packet for this client's namespace.
    async fn next_packet(&mut self) -> Result<Packet, TestError> {
        let mut closed = self.conn.closed.subscribe();
        loop {
            // What was sent before the close is read first.
            let next = async {
                tokio::select! {
                    biased;
                    message = self.rx.recv() => message,
                    _ = closed.wait_for(|c| *c) => None,
                }
            };
            let message = match tokio::time::timeout(self.timeout, next).await {
                Ok(Some(message)) => message,
                Ok(None) => return Err(TestError::Closed),
                Err(_) => return Err(TestError::Timeout(self.timeout)),
            };
            if let Some(packet) = self.decoder.decode(message)? {
                if packet.ns == self.ns {
                    return Ok(packet);
                }
            }
        }
    }
}

impl Drop for TestClient {
    fn drop(&mut self) {
        // As a client going away: the server runs its disconnect handlers.
        self.conn.close(EngineReason::TransportClose);
    }
}
