//! A session as the layer above sees it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use switchboard_proto::engine::session::CloseReason;
use switchboard_proto::engine::{EncodedMessage, Message, Protocol};

use crate::RequestHeaders;
use crate::mailbox::Mailbox;

pub use crate::sid::Sid;

/// A transport.
///
/// ```
/// use switchboard_engine::TransportKind;
///
/// let transport = TransportKind::WebSocket;
/// let streaming = match transport {
///     TransportKind::Polling => false,
///     TransportKind::WebSocket => true,
/// };
/// assert!(streaming);
/// assert_eq!(transport.as_str(), "websocket");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// HTTP long-polling.
    Polling,
    /// WebSocket.
    WebSocket,
}

impl TransportKind {
    /// The name used on the wire (`polling`, `websocket`).
    ///
    /// ```
    /// use switchboard_engine::TransportKind;
    ///
    /// assert_eq!(TransportKind::Polling.as_str(), "polling");
    /// assert_eq!(TransportKind::WebSocket.as_str(), "websocket");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Polling => "polling",
            TransportKind::WebSocket => "websocket",
        }
    }
}

/// Why a session ended.
///
/// ```
/// use switchboard_engine::DisconnectReason;
///
/// fn client_side(reason: DisconnectReason) -> bool {
///     matches!(
///         reason,
///         DisconnectReason::TransportClose
///             | DisconnectReason::TransportError
///             | DisconnectReason::PingTimeout
///             | DisconnectReason::ParseError
///     )
/// }
/// assert!(client_side(DisconnectReason::PingTimeout));
/// assert!(!client_side(DisconnectReason::ServerShuttingDown));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The client closed the session (close packet, or the WebSocket closed cleanly).
    TransportClose,
    /// The transport failed (I/O error, duplicate poll, oversized payload, ...).
    TransportError,
    /// No pong within `ping_timeout` of a ping.
    PingTimeout,
    /// The client sent something that is not Engine.IO.
    ParseError,
    /// The server closed it with [`Socket::close`].
    ForcedClose,
    /// The server is shutting down.
    ServerShuttingDown,
}

impl DisconnectReason {
    /// The Node reason string (`transport close`, `ping timeout`, ...).
    ///
    /// ```
    /// use switchboard_engine::DisconnectReason;
    ///
    /// assert_eq!(DisconnectReason::TransportClose.as_str(), "transport close");
    /// assert_eq!(DisconnectReason::ForcedClose.as_str(), "forced close");
    /// assert_eq!(DisconnectReason::ServerShuttingDown.as_str(), "server shutting down");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::TransportClose => "transport close",
            DisconnectReason::TransportError => "transport error",
            DisconnectReason::PingTimeout => "ping timeout",
            DisconnectReason::ParseError => "parse error",
            DisconnectReason::ForcedClose => "forced close",
            DisconnectReason::ServerShuttingDown => "server shutting down",
        }
    }
}

/// Why a message could not be queued.
///
/// ```
/// # use std::sync::Arc;
/// # use switchboard_engine::{DisconnectReason, Engine, EngineConfig, Handler, Message};
/// # use switchboard_engine::Socket;
/// # struct Quiet;
/// # impl Handler for Quiet {
/// #     type Session = ();
/// #     fn on_connect(&self, _: Arc<Socket>) {}
/// #     fn on_message(&self, _: &mut (), _: &Arc<Socket>, _: Message) {}
/// #     fn on_disconnect(&self, _: (), _: &Arc<Socket>, _: DisconnectReason) {}
/// # }
/// # type BoxError = Box<dyn std::error::Error>;
/// # async fn get<H: Handler>(engine: &Engine<H>, uri: &str) -> Result<(u16, String), BoxError>
/// # {
/// #     use http_body_util::BodyExt;
/// #     use tower_service::Service;
/// #     let res = engine.service().call(http::Request::get(uri).body(String::new())?).await?;
/// #     let status = res.status().as_u16();
/// #     let body = res.into_body().collect().await?.to_bytes();
/// #     Ok((status, String::from_utf8(body.to_vec())?))
/// # }
/// # async fn handshake<H: Handler>(engine: &Engine<H>) -> Result<String, BoxError> {
/// #     let (_, body) = get(engine, "/engine.io/?EIO=4&transport=polling").await?;
/// #     let open: serde_json::Value = serde_json::from_str(body.get(1..).ok_or("empty")?)?;
/// #     Ok(open["sid"].as_str().ok_or("no sid")?.to_owned())
/// # }
/// use switchboard_engine::SendError;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut config = EngineConfig::default();
/// config.max_buffered_messages = 1;
/// let engine = Engine::new(Arc::new(Quiet), config);
/// let sid = handshake(&engine).await?;
/// let socket = engine.socket(&sid).ok_or("no session")?;
/// assert_eq!(socket.send(Message::Text("first".into())), Ok(()));
/// // The session's task has not taken the first one yet: the queue of one is full.
/// assert_eq!(socket.send(Message::Text("second".into())), Err(SendError::Full));
/// assert_eq!(SendError::Full.to_string(), "send buffer full");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The session is closed.
    #[error("session closed")]
    Closed,
    /// The session's queue is full (see `EngineConfig::max_buffered_messages`).
    #[error("send buffer full")]
    Full,
}

/// What the handshake request looked like.
///
/// ```
/// # use std::sync::Arc;
/// # use switchboard_engine::{DisconnectReason, Engine, EngineConfig, Handler, Message, Socket};
/// # struct Quiet;
/// # impl Handler for Quiet {
/// #     type Session = ();
/// #     fn on_connect(&self, _: Arc<Socket>) {}
/// #     fn on_message(&self, _: &mut (), _: &Arc<Socket>, _: Message) {}
/// #     fn on_disconnect(&self, _: (), _: &Arc<Socket>, _: DisconnectReason) {}
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use http_body_util::BodyExt;
/// use tower_service::Service;
///
/// let engine = Engine::new(Arc::new(Quiet), EngineConfig::default());
/// let uri = "/engine.io/?EIO=4&transport=polling&room=a";
/// let res = engine.service().call(http::Request::get(uri).body(String::new())?).await?;
/// let body = res.into_body().collect().await?.to_bytes();
/// let open: serde_json::Value = serde_json::from_slice(body.get(1..).ok_or("empty")?)?;
/// let socket = engine.socket(open["sid"].as_str().ok_or("no sid")?).ok_or("no session")?;
/// let request = socket.request();
/// assert_eq!(request.uri(), uri);
/// assert_eq!(request.path(), "/engine.io/");
/// assert_eq!(request.query(), Some("EIO=4&transport=polling&room=a"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RequestInfo {
    /// The request headers (they deref to an [`http::HeaderMap`]); their block also keeps
    /// the request URI (see [`RequestInfo::uri`]).
    pub headers: RequestHeaders,
    /// The peer address, when known.
    pub remote_addr: Option<SocketAddr>,
    /// When the handshake arrived.
    pub time: SystemTime,
    /// Whether the connection was over TLS (as far as the server can tell).
    pub secure: bool,
}

impl RequestInfo {
    /// What a session keeps of its handshake request: its path and query `uri` (`/` if it
    /// does not start with `/`), `headers`, the peer address and whether it came over TLS;
    /// `time` is now.
    pub(crate) fn new(
        uri: &str,
        headers: &http::HeaderMap,
        remote_addr: Option<SocketAddr>,
        secure: bool,
    ) -> Self {
        let uri = if uri.starts_with('/') { uri } else { "/" };
        RequestInfo {
            headers: RequestHeaders::with_uri(uri, headers),
            remote_addr,
            time: SystemTime::now(),
            secure,
        }
    }

    /// The request's path and query (`/engine.io/?EIO=4&transport=polling`). Kept as text in
    /// the headers' block: every session keeps it for its life, and an `http::Uri` would
    /// cost each one 88 bytes and an allocation of its own.
    pub fn uri(&self) -> &str {
        self.headers.uri().unwrap_or("/")
    }

    /// The path of the request (the URI without its query).
    pub fn path(&self) -> &str {
        let uri = self.uri();
        uri.split_once('?').map_or(uri, |(path, _)| path)
    }

    /// The query string (after the `?`), if the URI has one.
    pub fn query(&self) -> Option<&str> {
        self.uri().split_once('?').map(|(_, query)| query)
    }
}

/// One Engine.IO session, shared between the engine and the layer above.
///
/// The session itself lives in a task that owns its state; a `Socket` is the handle the
/// handler keeps: [`Socket::send`] queues into a bounded inbox of that task and never blocks.
#[derive(Debug)]
// Fields in this order: what every send touches (the flags and the mailbox) shares the first
// cache lines, and a broadcast to many sockets touches as little memory per socket as it can.
#[repr(C)]
pub struct Socket {
    /// Cleared by the session task only, when the session ends.
    connected: AtomicBool,
    /// Whether the transport can write a message at once (Node's `transport.writable`): set
    /// by the session task only, when it waits with nothing queued and a transport ready (a
    /// parked GET, an idle WebSocket, no upgrade under way); every send clears it, since what
    /// it queued goes first.
    writable: AtomicBool,
    /// Set by the session task only, when the session moves to WebSocket.
    upgraded: AtomicBool,
    /// Set while a POST of this session is being read, by that POST's request task: one at a
    /// time, as in Node (a second one closes the session). It fits in the padding before
    /// `max_buffered`: a session pays nothing for it.
    posting: AtomicBool,
    /// The client's protocol revision, from the handshake's `EIO`.
    protocol: Protocol,
    /// `EngineConfig::max_buffered_messages`.
    max_buffered: usize,
    /// To the session task, which is its only receiver: messages (bounded by `max_buffered`),
    /// requests' commands and close requests. The task stops draining messages while its own
    /// queue is full, so a slow client makes `send` fail with [`SendError::Full`] instead of
    /// growing memory.
    mailbox: Mailbox,
    id: Sid,
    request: RequestInfo,
}

impl Socket {
    pub(crate) fn new(
        id: Sid,
        request: RequestInfo,
        protocol: Protocol,
        upgraded: bool,
        max_buffered: usize,
    ) -> Self {
        Socket {
            id,
            request,
            protocol,
            upgraded: AtomicBool::new(upgraded),
            connected: AtomicBool::new(true),
            writable: AtomicBool::new(false),
            posting: AtomicBool::new(false),
            mailbox: Mailbox::default(),
            max_buffered: max_buffered.max(1),
        }
    }

    /// Marks a POST as being read; false if another one already is.
    pub(crate) fn begin_post(&self) -> bool {
        !self.posting.swap(true, Ordering::AcqRel)
    }

    /// The POST marked by [`Socket::begin_post`] is done.
    pub(crate) fn end_post(&self) {
        self.posting.store(false, Ordering::Release);
    }

    /// The session id.
    pub fn id(&self) -> &Sid {
        &self.id
    }

    /// The handshake request.
    pub fn request(&self) -> &RequestInfo {
        &self.request
    }

    /// The Engine.IO revision the client speaks: [`Protocol::V4`], or [`Protocol::V3`] for a
    /// Socket.IO v2 client when [`crate::EngineConfig::allow_eio3`] is on (Node's
    /// `socket.protocol`).
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The transport in use now.
    pub fn transport(&self) -> TransportKind {
        if self.upgraded.load(Ordering::Acquire) {
            TransportKind::WebSocket
        } else {
            TransportKind::Polling
        }
    }

    /// Whether the session is still open.
    #[inline]
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Queues one message. Never blocks.
    pub fn send(&self, message: Message) -> Result<(), SendError> {
        if !self.is_connected() {
            return Err(SendError::Closed);
        }
        self.writable.store(false, Ordering::Release);
        self.mailbox.push_messages([EncodedMessage::from(message)], self.max_buffered)
    }

    /// Queues messages already encoded (a broadcast encodes once and hands every recipient
    /// the same buffers): cloning them only bumps reference counts, and the session task
    /// frames them without copying. Like [`Socket::send_many`], all are queued or none.
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// # use switchboard_engine::{EncodedMessage, Socket};
    /// # fn demo(sockets: &[Arc<Socket>]) {
    /// let packet = [EncodedMessage::text("2[\"news\",1]")];
    /// for socket in sockets {
    ///     let _ = socket.send_encoded(&packet);
    /// }
    /// # }
    /// ```
    #[inline]
    pub fn send_encoded(&self, messages: &[EncodedMessage]) -> Result<(), SendError> {
        if !self.is_connected() {
            return Err(SendError::Closed);
        }
        self.writable.store(false, Ordering::Release);
        self.mailbox.push_messages(messages, self.max_buffered)
    }

    /// [`Socket::send_encoded`] for messages the caller owns (a packet encoded for this
    /// socket alone): they are moved into the queue, not cloned (cloning an unshared buffer
    /// makes it shared, which allocates). All are queued or none.
    ///
    /// ```no_run
    /// # use switchboard_engine::{EncodedMessage, Socket};
    /// # fn demo(socket: &Socket) {
    /// let _ = socket.send_encoded_owned(vec![EncodedMessage::text("3[\"ok\"]")]);
    /// # }
    /// ```
    pub fn send_encoded_owned(&self, messages: Vec<EncodedMessage>) -> Result<(), SendError> {
        if !self.is_connected() {
            return Err(SendError::Closed);
        }
        self.writable.store(false, Ordering::Release);
        self.mailbox.push_messages(messages, self.max_buffered)
    }

    /// [`Socket::send_encoded_owned`] for one message (a packet without attachments): no
    /// list is allocated for it.
    ///
    /// ```no_run
    /// # use switchboard_engine::{EncodedMessage, Socket};
    /// # fn demo(socket: &Socket) {
    /// let _ = socket.send_encoded_one(EncodedMessage::text("3[\"ok\"]"));
    /// # }
    /// ```
    pub fn send_encoded_one(&self, message: EncodedMessage) -> Result<(), SendError> {
        if !self.is_connected() {
            return Err(SendError::Closed);
        }
        self.writable.store(false, Ordering::Release);
        self.mailbox.push_messages(std::iter::once(message), self.max_buffered)
    }

    /// [`Socket::send_encoded`] for volatile packets: queued only if the transport can write
    /// them at once (see [`Socket::send_volatile`]); returns whether they were queued.
    pub fn send_encoded_volatile(&self, messages: &[EncodedMessage]) -> Result<bool, SendError> {
        self.volatile(|| self.mailbox.push_messages(messages, self.max_buffered))
    }

    /// Whether a message sent now would be written at once (Node's `transport.writable`).
    ///
    /// False while no polling GET is waiting, while an upgrade is under way, while the
    /// WebSocket is being written to, and after a send until the session task wrote it.
    pub fn is_writable(&self) -> bool {
        self.writable.load(Ordering::Acquire)
    }

    /// Queues several messages that must go out together and in order (a Socket.IO packet and
    /// its binary attachments): either all are queued or none.
    pub fn send_many(&self, messages: Vec<Message>) -> Result<(), SendError> {
        if !self.is_connected() {
            return Err(SendError::Closed);
        }
        self.writable.store(false, Ordering::Release);
        self.queue(messages)
    }

    fn queue(&self, messages: Vec<Message>) -> Result<(), SendError> {
        self.mailbox
            .push_messages(messages.into_iter().map(EncodedMessage::from), self.max_buffered)
    }

    /// Queues messages only if the transport can write them at once, as Node does with
    /// volatile packets; returns whether they were queued (`false`: dropped).
    ///
    /// ```no_run
    /// # use switchboard_engine::{Message, Socket};
    /// # fn demo(socket: &Socket) {
    /// // A position update nobody needs once stale: drop it rather than queue it.
    /// let _ = socket.send_volatile(vec![Message::Text("pos 1 2".into())]);
    /// # }
    /// ```
    pub fn send_volatile(&self, messages: Vec<Message>) -> Result<bool, SendError> {
        self.volatile(|| self.queue(messages))
    }

    fn volatile(&self, queue: impl FnOnce() -> Result<(), SendError>) -> Result<bool, SendError> {
        if !self.is_connected() {
            return Err(SendError::Closed);
        }
        // Claims the transport: a second volatile send before it is written is dropped.
        if !self.writable.swap(false, Ordering::AcqRel) {
            return Ok(false);
        }
        match queue() {
            Ok(()) => Ok(true),
            Err(SendError::Full) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Closes the session; the handler's `on_disconnect` gets `reason`.
    ///
    /// Messages queued before are still delivered when the transport allows it.
    pub fn close(&self, reason: DisconnectReason) {
        // The first reason wins.
        self.mailbox.close(reason);
    }

    pub(crate) fn mailbox(&self) -> &Mailbox {
        &self.mailbox
    }

    /// Reads the part of the socket that a send touches, so that it is in the cache when the
    /// send comes: a caller about to send to many sockets (a broadcast) calls it for a group
    /// of sockets a little ahead, and their cache misses overlap instead of stalling each
    /// send in turn. Changes nothing.
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// # use switchboard_engine::{EncodedMessage, Socket};
    /// # fn demo(sockets: &[Arc<Socket>], packet: &[EncodedMessage]) {
    /// for (i, socket) in sockets.iter().enumerate() {
    ///     if let Some(ahead) = sockets.get(i + 8) {
    ///         ahead.prefetch();
    ///     }
    ///     let _ = socket.send_encoded(packet);
    /// }
    /// # }
    /// ```
    #[inline]
    pub fn prefetch(&self) {
        std::hint::black_box((self.connected.load(Ordering::Relaxed), self.mailbox.prefetch()));
    }

    pub(crate) fn set_upgraded(&self) {
        self.upgraded.store(true, Ordering::Release);
    }

    pub(crate) fn set_writable(&self, writable: bool) {
        self.writable.store(writable, Ordering::Release);
    }

    pub(crate) fn set_disconnected(&self) {
        self.writable.store(false, Ordering::Release);
        self.connected.store(false, Ordering::Release);
    }
}

impl DisconnectReason {
    pub(crate) fn from_close(reason: CloseReason) -> Self {
        match reason {
            CloseReason::TransportClose => DisconnectReason::TransportClose,
            CloseReason::PingTimeout => DisconnectReason::PingTimeout,
            CloseReason::ParseError => DisconnectReason::ParseError,
            CloseReason::ForcedClose => DisconnectReason::ForcedClose,
            CloseReason::ServerShuttingDown => DisconnectReason::ServerShuttingDown,
            _ => DisconnectReason::TransportError,
        }
    }

    pub(crate) fn to_close(self) -> CloseReason {
        match self {
            DisconnectReason::TransportClose => CloseReason::TransportClose,
            DisconnectReason::TransportError => CloseReason::TransportError,
            DisconnectReason::PingTimeout => CloseReason::PingTimeout,
            DisconnectReason::ParseError => CloseReason::ParseError,
            DisconnectReason::ForcedClose => CloseReason::ForcedClose,
            DisconnectReason::ServerShuttingDown => CloseReason::ServerShuttingDown,
        }
    }
}
