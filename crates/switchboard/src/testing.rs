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
///
/// ```
/// use switchboard::prelude::*;
/// use switchboard::testing::{TestClient, TestError};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let io = SocketIo::new(Default::default());
/// io.of("/admin").use_middleware(|| async { Err::<(), _>(HandlerError::new("admins only")) });
/// let refused = TestClient::connect_to(&io, "/admin", serde_json::Value::Null).await;
/// assert!(matches!(refused, Err(TestError::Refused { message, .. }) if message == "admins only"));
///
/// let mut client = TestClient::connect(&io).await?;
/// // No handler answers: the wait ends after the client's timeout (5 s of tokio time).
/// let unanswered = client.emit_with_ack("nobody-listens", &()).await;
/// assert!(matches!(unanswered, Err(TestError::Timeout(_))));
/// # Ok(()) }
/// ```
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
///
/// ```
/// use switchboard::prelude::*;
/// use switchboard::testing::TestClient;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let io = SocketIo::new(Default::default());
/// io.on_connection(|socket: Socket| async move { socket.emit("move", &(3, 4)) });
/// let mut client = TestClient::connect(&io).await?;
/// let event = client.recv().await?;
/// assert_eq!(event.name, "move");
/// assert_eq!(event.payload.args(), [serde_json::json!(3), serde_json::json!(4)]);
/// assert_eq!(event.ack, None); // the server does not wait for an answer
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TestEvent {
    /// The event name.
    pub name: String,
    /// The arguments and attachments. With connection state recovery on, the server adds the
    /// packet's offset as a last string argument, and this keeps it there, as the official
    /// client does (its listeners get the offset as an extra last argument too).
    pub payload: Payload,
    /// The ack id, when the server waits for an answer (see [`TestClient::ack`]).
    pub ack: Option<u64>,
}

impl TestEvent {
    /// The arguments as `T`, read as [`crate::Data`] reads them.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.emit("one", "a")?;
    ///     socket.emit("two", &("a", 1))
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// let one = client.recv().await?;
    /// assert_eq!(one.data::<String>()?, "a");
    /// assert!(one.data::<u32>().is_err());
    /// assert_eq!(client.recv().await?.data::<(String, u8)>()?, ("a".to_owned(), 1));
    /// # Ok(()) }
    /// ```
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
    /// The request its handshakes read.
    parts: RequestParts,
}

impl Conn for TestConn {
    fn sid(&self) -> &str {
        &self.sid
    }

    fn request(self: Arc<Self>) -> RequestSource {
        RequestSource::Parts(Box::new(self.parts.clone()))
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
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move { socket.emit("welcome", socket.ns()) });
    /// let mut client = TestClient::connect(&io).await?;
    /// assert_eq!(client.recv().await?.data::<String>()?, "/");
    /// # Ok(()) }
    /// ```
    pub async fn connect(io: &SocketIo) -> Result<TestClient, TestError> {
        TestClient::connect_to(io, "/", Value::Null).await
    }

    /// Connects to namespace `ns` with `auth` (the client's `auth` option: a JSON object, or
    /// `Value::Null` for none; the server closes a connection whose auth is anything else, as
    /// the protocol says, and this returns [`TestError::Closed`]).
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::{TestClient, TestError};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let chat = io.of("/chat");
    /// chat.on_connection(|socket: Socket, Data(auth): Data<serde_json::Value>| async move {
    ///     socket.emit("welcome", &auth["name"])
    /// });
    /// let auth = serde_json::json!({"name": "ana"});
    /// let mut ana = TestClient::connect_to(&io, "/chat", auth).await?;
    /// assert_eq!(ana.recv().await?.data::<String>()?, "ana");
    ///
    /// // Auth that is not an object: the server closes the connection.
    /// let bad = TestClient::connect_to(&io, "/chat", serde_json::json!("ana")).await;
    /// assert!(matches!(bad, Err(TestError::Closed)));
    /// // A namespace the server does not have.
    /// let unknown = TestClient::connect_to(&io, "/nope", serde_json::Value::Null).await;
    /// assert!(matches!(unknown, Err(TestError::Refused { .. })));
    /// # Ok(()) }
    /// ```
    pub async fn connect_to(io: &SocketIo, ns: &str, auth: Value) -> Result<TestClient, TestError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let sid = format!("test{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let conn = Arc::new(TestConn {
            sid,
            tx,
            closed: tokio::sync::watch::Sender::new(false),
            client: OnceLock::new(),
            parts: RequestParts::new(http::Uri::from_static(
                "/socket.io/?EIO=4&transport=websocket",
            )),
        });
        let inbound = io.inner().on_conn(conn.clone()).ok_or(TestError::Closed)?;
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
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard::prelude::*;
    /// use switchboard::testing::{TestClient, TestError};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let mut client = TestClient::connect(&io).await?;
    /// client.set_timeout(Duration::from_secs(1));
    /// let started = tokio::time::Instant::now();
    /// let nothing = client.recv().await; // the server sends nothing
    /// assert!(matches!(nothing, Err(TestError::Timeout(t)) if t == Duration::from_secs(1)));
    /// assert_eq!(started.elapsed(), Duration::from_secs(1)); // paused time: at once in real time
    /// # Ok(()) }
    /// ```
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The socket id the server gave.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move { socket.join("lobby") });
    /// let client = TestClient::connect(&io).await?;
    /// let in_lobby = io.in_("lobby").fetch_sockets().await?;
    /// assert_eq!(in_lobby[0].id().as_str(), client.id());
    /// # Ok(()) }
    /// ```
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Emits `data` (argument forms as [`crate::Socket::emit`]).
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on("move", |s: Socket, Data((x, y)): Data<(i32, i32)>| async move {
    ///         s.emit("moved", &(x + 1, y + 1))
    ///     })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// client.emit("move", &(1, 2))?; // two arguments: the JS client's emit("move", 1, 2)
    /// assert_eq!(client.recv().await?.data::<(i32, i32)>()?, (2, 3));
    /// # Ok(()) }
    /// ```
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), TestError> {
        self.emit_payload(event, crate::args::to_payload(data)?)
    }

    /// Emits these arguments (binary ones included).
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on("upload", |s: Socket, Bin(files): Bin| async move {
    ///         s.emit("sizes", &files.iter().map(|f| f.len()).collect::<Vec<_>>())
    ///     })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// let mut payload = Payload::new();
    /// payload.push(serde_json::json!("photo.png")).push_binary(vec![0u8; 3]);
    /// client.emit_payload("upload", payload)?;
    /// assert_eq!(client.recv().await?.data::<Vec<usize>>()?, [3]);
    /// # Ok(()) }
    /// ```
    pub fn emit_payload(&self, event: &str, payload: Payload) -> Result<(), TestError> {
        let name = EventName::new(event).map_err(EmitError::from)?;
        self.send(&Packet::event(self.ns.clone(), name, payload));
        Ok(())
    }

    /// Emits `data` asking for an ack, and waits for the answer.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on("divide", |Data((a, b)): Data<(i32, i32)>| async move {
    ///         a.checked_div(b).ok_or_else(|| HandlerError::new("division by zero"))
    ///     })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// assert_eq!(client.emit_with_ack("divide", &(6, 3)).await?.data::<i32>()?, 2);
    /// let refused = client.emit_with_ack("divide", &(1, 0)).await?;
    /// assert_eq!(refused.data::<serde_json::Value>()?["message"], "division by zero");
    /// # Ok(()) }
    /// ```
    pub async fn emit_with_ack<T: Serialize + ?Sized>(
        &mut self,
        event: &str,
        data: &T,
    ) -> Result<AckResponse, TestError> {
        self.emit_payload_with_ack(event, crate::args::to_payload(data)?).await
    }

    /// Emits these arguments asking for an ack, and waits for the answer.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on("echo", |ack: Ack, args: Payload| async move { ack.send_payload(args) })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// let mut payload = Payload::new();
    /// payload.push_binary(vec![1u8, 2]);
    /// let answer = client.emit_payload_with_ack("echo", payload).await?;
    /// assert_eq!(answer.payload.attachments().len(), 1);
    /// assert_eq!(&answer.payload.attachments()[0][..], [1, 2]);
    /// # Ok(()) }
    /// ```
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
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on("ping", |s: Socket| async move {
    ///         s.emit("note", "sent before the answer")?;
    ///         Ok::<_, HandlerError>("pong")
    ///     })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// assert_eq!(client.emit_with_ack("ping", &()).await?.data::<String>()?, "pong");
    /// // The event that came while the client waited for its ack was kept.
    /// assert_eq!(client.recv().await?.data::<String>()?, "sent before the answer");
    /// # Ok(()) }
    /// ```
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
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     let name = socket.emit_with_ack("name?", &()).await?.data::<String>()?;
    ///     socket.emit("hello", &format!("hello, {name}"))?;
    ///     Ok::<_, HandlerError>(())
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// let question = client.recv().await?;
    /// client.ack(&question, "ana")?;
    /// let hello = client.recv().await?;
    /// assert_eq!(hello.data::<String>()?, "hello, ana");
    /// assert!(client.ack(&hello, &()).is_err()); // sent without an ack id: nothing to answer
    /// # Ok(()) }
    /// ```
    pub fn ack<T: Serialize + ?Sized>(&self, event: &TestEvent, data: &T) -> Result<(), TestError> {
        let id = event.ack.ok_or(EmitError::AlreadyAcknowledged)?;
        self.send(&Packet::ack(self.ns.clone(), crate::args::to_payload(data)?, id));
        Ok(())
    }

    /// Leaves the namespace (the client's `socket.disconnect()`).
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let (tx, mut reasons) = tokio::sync::mpsc::unbounded_channel();
    /// io.on_connection(move |socket: Socket| {
    ///     let tx = tx.clone();
    ///     async move {
    ///         socket.on_disconnect(move |_s: Socket, reason: DisconnectReason| {
    ///             let _ = tx.send(reason);
    ///             async {}
    ///         });
    ///     }
    /// });
    /// let client = TestClient::connect(&io).await?;
    /// client.disconnect(); // the server handles it on its own task: wait for its handler
    /// assert_eq!(reasons.recv().await, Some(DisconnectReason::ClientNamespaceDisconnect));
    /// assert!(io.fetch_sockets().await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn disconnect(&self) {
        self.send(&Packet::disconnect(self.ns.clone()));
    }

    /// Drops the connection, as a network cut does (the server sees a transport close).
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let (tx, mut reasons) = tokio::sync::mpsc::unbounded_channel();
    /// io.on_connection(move |socket: Socket| {
    ///     let tx = tx.clone();
    ///     async move {
    ///         socket.on_disconnect(move |_s: Socket, reason: DisconnectReason| {
    ///             let _ = tx.send(reason);
    ///             async {}
    ///         });
    ///     }
    /// });
    /// let client = TestClient::connect(&io).await?;
    /// client.close();
    /// assert_eq!(reasons.recv().await, Some(DisconnectReason::TransportClose));
    /// # Ok(()) }
    /// ```
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
