//! The task that owns one session: its state machine, its pending poll and its WebSockets.
//!
//! HTTP requests, the handler's sends and close requests reach it through its mailbox; it feeds
//! them to the sans-IO [`Session`], writes what the session wants sent, and calls the
//! [`Handler`] in arrival order. Nothing else touches the session's state.

use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use switchboard_proto::engine::session::{
    CloseReason, Event, Session, SessionConfig, SessionError, Transmit, Transport,
};
use switchboard_proto::engine::{EncodedMessage, Handshake, Message, Packet, payload};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::{self, Message as WsMessage, Utf8Bytes};

use crate::socket::{DisconnectReason, RequestInfo, Socket};
use crate::{Engine, Handler, Sid};

/// A server-side WebSocket over an upgraded hyper connection.
pub(crate) type Ws = WebSocketStream<TokioIo<Upgraded>>;

/// What request handlers ask of a session task.
pub(crate) enum Command {
    /// A polling GET; the reply is the response body (or why it is refused).
    Poll(oneshot::Sender<PollReply>),
    /// The packets of a polling POST, decoded and within the size limit.
    Post(Vec<Packet>),
    /// Close the session (bad POST payload, failed request body).
    Abort(CloseReason),
    /// A WebSocket with this session's id, to probe for an upgrade.
    Probe(Box<Ws>),
}

/// The answer to a polling GET.
pub(crate) enum PollReply {
    /// The payload to send with 200.
    Payload(String),
    /// The request is refused.
    Refused(SessionError),
}

/// The engine's handle to a session task.
#[derive(Clone)]
pub(crate) struct SessionHandle {
    pub(crate) socket: Arc<Socket>,
}

impl SessionHandle {
    /// Hands a command to the session task, waiting while its small command queue is full
    /// (backpressure on the client); gives the command back if the task has ended.
    pub(crate) async fn command(&self, command: Command) -> Result<(), Command> {
        self.socket.mailbox().push_command(command).await
    }
}

/// Creates a session, registers it with the engine and spawns its task.
///
/// `ws` is the WebSocket of a WebSocket-only session; `None` starts a polling session.
pub(crate) fn spawn<H: Handler>(
    engine: &Engine<H>,
    request: RequestInfo,
    ws: Option<Ws>,
) -> SessionHandle {
    let config = engine.config();
    let sid = Sid::generate();
    let (transport, upgrades) = match ws {
        Some(_) => (Transport::WebSocket, vec![]),
        None if config.allow_upgrades && config.transports.websocket => {
            (Transport::Polling, vec!["websocket".to_owned()])
        }
        None => (Transport::Polling, vec![]),
    };
    let handshake = Handshake {
        sid: sid.as_str().to_owned(),
        upgrades,
        ping_interval: millis(config.ping_interval),
        ping_timeout: millis(config.ping_timeout),
        max_payload: u64::try_from(config.max_payload).unwrap_or(u64::MAX),
    };
    let mut session_config = SessionConfig::default();
    session_config.ping_interval = config.ping_interval;
    session_config.ping_timeout = config.ping_timeout;
    session_config.upgrade_timeout = config.upgrade_timeout;
    // A server-closed polling session waits one heartbeat round for its last GET.
    session_config.close_timeout = config.ping_interval + config.ping_timeout;
    let session = Session::new(session_config, handshake, transport, now());

    let socket = Arc::new(Socket::new(sid, request, ws.is_some(), config.max_buffered_messages));
    let handle = SessionHandle { socket: socket.clone() };
    engine.insert(handle.clone());
    let task = Task { engine: engine.clone(), socket, session, ws, probe: None, pending: None };
    // The session task owns the session until it closes; it unregisters itself at the end.
    tokio::spawn(task.run());
    handle
}

/// One thing that woke the session task.
enum Input {
    Mailbox,
    Ws(Option<Result<WsMessage, tungstenite::Error>>),
    Probe(Option<Result<WsMessage, tungstenite::Error>>),
    PollDropped,
    Timer,
}

struct Task<H: Handler> {
    engine: Engine<H>,
    socket: Arc<Socket>,
    session: Session,
    /// The session's WebSocket once it runs over one.
    ws: Option<Ws>,
    /// A WebSocket probing for an upgrade; boxed, as most sessions never have one.
    probe: Option<Box<Ws>>,
    /// The polling GET waiting for data.
    pending: Option<oneshot::Sender<PollReply>>,
}

impl<H: Handler> Task<H> {
    async fn run(mut self) {
        self.engine.handler().on_connect(self.socket.clone());
        // One timer for the task's life, moved only when the session's deadline changes: a
        // new timer per wake-up would register and deregister it every time.
        let timer = tokio::time::sleep_until(Instant::now());
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        loop {
            if let Some(reason) = self.drive().await {
                self.teardown(reason);
                return;
            }
            let deadline = self.session.poll_timeout().map(Instant::from_std);
            if let Some(d) = deadline {
                if armed != Some(d) {
                    timer.as_mut().reset(d);
                    armed = Some(d);
                }
            }
            let can_queue = self.session.buffered() < self.engine.config().max_buffered_messages;
            let mailbox = self.socket.mailbox();
            let input = tokio::select! {
                _ = poll_fn(|cx| mailbox.poll_ready(cx, can_queue)) => Input::Mailbox,
                frame = next_frame(&mut self.ws) => Input::Ws(frame),
                frame = next_frame(&mut self.probe) => Input::Probe(frame),
                () = poll_dropped(&mut self.pending) => Input::PollDropped,
                () = &mut timer, if deadline.is_some() => {
                    armed = None;
                    Input::Timer
                }
            };
            // Deadlines that passed come first, even if the timer has not fired yet: a request
            // arriving after the ping timeout finds the session closed.
            if self.session.poll_timeout().is_some_and(|d| now() >= d) {
                self.session.handle_timeout(now());
            }
            match input {
                Input::Mailbox => {
                    for command in self.socket.mailbox().take_commands() {
                        self.command(command);
                    }
                    // What the handler sent before closing is still delivered.
                    self.take_outgoing();
                    if let Some(reason) = self.socket.mailbox().take_close() {
                        self.session.close(reason.to_close(), now());
                    }
                }
                Input::Ws(frame) => self.ws_frame(frame),
                Input::Probe(frame) => self.probe_frame(frame),
                Input::PollDropped => {
                    self.pending = None;
                    self.session.handle_poll_dropped(now());
                }
                Input::Timer => {}
            }
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Poll(reply) => match self.session.handle_poll(now()) {
                Ok(()) => self.pending = Some(reply),
                Err(e) => {
                    let _ = reply.send(PollReply::Refused(e));
                }
            },
            Command::Post(packets) => {
                for packet in packets {
                    self.session.handle_packet(packet, now());
                }
            }
            Command::Abort(reason) => self.session.close(reason, now()),
            Command::Probe(ws) => match self.session.handle_probe_open(now()) {
                Ok(()) => self.probe = Some(ws),
                Err(_) => close_ws(*ws),
            },
        }
    }

    fn ws_frame(&mut self, frame: Option<Result<WsMessage, tungstenite::Error>>) {
        let packet = match frame {
            Some(Ok(WsMessage::Text(text))) => Packet::decode_text_bytes(text.into()),
            Some(Ok(WsMessage::Binary(data))) => Ok(Packet::binary(data)),
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_))) => return,
            Some(Ok(WsMessage::Close(_))) | None => {
                // Answer the client's close frame so it sees a clean close.
                if let Some(ws) = self.ws.take() {
                    close_ws(ws);
                }
                self.session.handle_transport_close(CloseReason::TransportClose, now());
                return;
            }
            // The peer ended the TCP stream without a close frame (a tab closed, a proxy gone):
            // Node's `ws` reports that as a close (1006), so engine.io says `transport close`.
            Some(Err(tungstenite::Error::Protocol(
                tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
            ))) => {
                self.ws = None;
                self.session.handle_transport_close(CloseReason::TransportClose, now());
                return;
            }
            Some(Err(e)) => {
                tracing::debug!(sid = %self.socket.id(), error = %e, "websocket error");
                self.ws = None;
                self.session.handle_transport_close(CloseReason::TransportError, now());
                return;
            }
        };
        match packet {
            Ok(packet) => self.session.handle_packet(packet, now()),
            Err(e) => {
                tracing::debug!(sid = %self.socket.id(), error = %e, "bad packet");
                self.session.close(CloseReason::ParseError, now());
            }
        }
    }

    fn probe_frame(&mut self, frame: Option<Result<WsMessage, tungstenite::Error>>) {
        let packet = match frame {
            Some(Ok(WsMessage::Text(text))) => Packet::decode_text_bytes(text.into()).ok(),
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_))) => return,
            _ => None,
        };
        match packet {
            Some(packet) => self.session.handle_probe_packet(packet, now()),
            None => {
                if let Some(probe) = self.probe.take() {
                    close_ws(*probe);
                }
                self.session.handle_probe_close(now());
            }
        }
    }

    /// Sends what the session wants sent and handles its events, until it has nothing left.
    /// Returns the close reason once the session is closed.
    async fn drive(&mut self) -> Option<CloseReason> {
        let mut closed = None;
        loop {
            // Take what the handler sent meanwhile, so that replies to a POST are in the
            // answer to the next GET.
            let mut progress = self.take_outgoing();
            let mut ws_frames = Vec::new();
            let mut probe_frames = Vec::new();
            while let Some(transmit) = self.session.poll_transmit() {
                progress = true;
                match transmit {
                    Transmit::Poll(packets) => {
                        self.socket.set_writable(false);
                        if let Some(reply) = self.pending.take() {
                            let _ = reply.send(PollReply::Payload(payload::encode(&packets)));
                        }
                    }
                    Transmit::WebSocket(p) => ws_frames.extend(frame(p)),
                    Transmit::Encoded(m) => ws_frames.push(encoded_frame(m)),
                    Transmit::Probe(p) => probe_frames.extend(frame(p)),
                }
            }
            let limit = self.engine.config().ping_timeout;
            if !probe_frames.is_empty() || !ws_frames.is_empty() {
                // Busy writing: a volatile packet sent meanwhile is dropped, as in Node.
                self.socket.set_writable(false);
            }
            if !probe_frames.is_empty() {
                // Before the upgrade the probe is its own socket; after, it is the session's.
                let target = self.probe.as_deref_mut().or(self.ws.as_mut());
                if let Some(ws) = target {
                    if write(ws, probe_frames, limit).await.is_err() {
                        self.probe = None;
                        self.session.handle_probe_close(now());
                    }
                }
            }
            if !ws_frames.is_empty() {
                let target = self.ws.as_mut().or(self.probe.as_deref_mut());
                if let Some(ws) = target {
                    if write(ws, ws_frames, limit).await.is_err() {
                        self.ws = None;
                        self.session.handle_transport_close(CloseReason::TransportError, now());
                    }
                }
            }
            while let Some(event) = self.session.poll_event() {
                progress = true;
                match event {
                    Event::Message(m) => self.engine.handler().on_message(&self.socket, m),
                    Event::Upgraded => {
                        if let Some(probe) = self.probe.take() {
                            self.ws = Some(*probe);
                        }
                        self.socket.set_upgraded();
                        self.engine.handler().on_upgrade(&self.socket);
                    }
                    Event::ProbeClosed => {
                        if let Some(probe) = self.probe.take() {
                            close_ws(*probe);
                        }
                    }
                    Event::Closed(reason) => closed = Some(reason),
                }
            }
            if !progress {
                if closed.is_none() {
                    self.session.shrink_idle();
                    self.update_writable();
                }
                return closed;
            }
        }
    }

    /// The session waits: its transport is writable if nothing is queued, no upgrade is
    /// under way, and a WebSocket or a parked GET is there to write to.
    fn update_writable(&self) {
        let writable = self.session.buffered() == 0
            && !self.socket.mailbox().has_messages()
            && self.probe.is_none()
            && (self.ws.is_some() || self.pending.is_some());
        self.socket.set_writable(writable);
    }

    /// Moves the handler's queued messages into the session, as far as its queue allows.
    fn take_outgoing(&mut self) -> bool {
        let max = self.engine.config().max_buffered_messages;
        let room = max.saturating_sub(self.session.buffered());
        let session = &mut self.session;
        self.socket.mailbox().take_messages(room, |m| {
            let _ = session.send_encoded(m);
        })
    }

    fn teardown(mut self, reason: CloseReason) {
        tracing::debug!(sid = %self.socket.id(), ?reason, "session closed");
        self.engine.remove(self.socket.id());
        self.socket.set_disconnected();
        self.socket.mailbox().end();
        self.pending = None;
        if let Some(ws) = self.ws.take() {
            close_ws(ws);
        }
        if let Some(probe) = self.probe.take() {
            close_ws(*probe);
        }
        let reason = DisconnectReason::from_close(reason);
        self.engine.handler().on_disconnect(&self.socket, reason);
    }
}

/// The session clock: tokio's, so that `tokio::time::pause()` drives it in tests.
fn now() -> std::time::Instant {
    Instant::now().into_std()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One WebSocket frame per packet: text packets as text, binary messages as raw binary.
fn frame(packet: Packet) -> Option<WsMessage> {
    match packet {
        Packet::Message(Message::Binary(data)) => Some(WsMessage::Binary(data)),
        other => {
            let text = other.encode_text()?;
            Utf8Bytes::try_from(text.into_bytes()).ok().map(WsMessage::Text)
        }
    }
}

/// A pre-encoded message: the shared buffer goes to tungstenite as is (a text frame's bytes
/// were checked to be UTF-8 when they were made into a `Str`).
fn encoded_frame(message: EncodedMessage) -> WsMessage {
    match (message.wire_text(), message.binary_data()) {
        (Some(text), _) => WsMessage::Frame(Frame::message(
            text.as_bytes().clone(),
            OpCode::Data(Data::Text),
            true,
        )),
        (None, Some(data)) => WsMessage::Binary(data.clone()),
        (None, None) => WsMessage::Binary(Default::default()),
    }
}

async fn write(ws: &mut Ws, frames: Vec<WsMessage>, limit: Duration) -> Result<(), ()> {
    let sent = tokio::time::timeout(limit, async {
        for f in frames {
            ws.feed(f).await?;
        }
        ws.flush().await
    })
    .await;
    match sent {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// Sends a close frame and waits briefly for the peer's, so the client sees a clean close.
pub(crate) fn close_ws(mut ws: Ws) {
    // Lingering for the peer's close reply must not hold up the session task; bounded by 1 s.
    tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            let _ = ws.close(None).await;
            while let Some(Ok(_)) = ws.next().await {}
        })
        .await;
    });
}

async fn next_frame(
    ws: &mut Option<impl StreamExt<Item = Result<WsMessage, tungstenite::Error>> + Unpin>,
) -> Option<Result<WsMessage, tungstenite::Error>> {
    match ws {
        Some(ws) => ws.next().await,
        None => std::future::pending().await,
    }
}

async fn poll_dropped(pending: &mut Option<oneshot::Sender<PollReply>>) {
    match pending {
        Some(reply) => reply.closed().await,
        None => std::future::pending().await,
    }
}
