//! The task that owns one session: its state machine, its pending poll and its WebSockets.
//!
//! HTTP requests, the handler's sends and close requests reach it through its mailbox; it feeds
//! them to the sans-IO [`Session`], writes what the session wants sent, and calls the
//! [`Handler`] in arrival order. Nothing else touches the session's state.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use switchboard_proto::engine::session::{
    CloseReason, Event, Session, SessionConfig, SessionError, Transmit, Transport,
};
use switchboard_proto::engine::websocket::{Frame, Opcode, close_code};
use switchboard_proto::engine::{Handshake, Message, Packet, PacketError, Protocol, payload, v3};
use tokio::sync::oneshot;
use tokio::time::{Instant, Sleep};

use crate::admission::Ticket;
use crate::drain::DrainGuard;
use crate::socket::{DisconnectReason, RequestInfo, Socket};
use crate::websocket::{WsError, close_ws, close_ws_within};
use crate::{Engine, Handler, Sid};

mod io;

/// A server-side WebSocket over an upgraded hyper connection.
pub(crate) type Ws = crate::websocket::WsConn;

/// What request handlers ask of a session task.
pub(crate) enum Command {
    /// A polling GET; the reply is the response body (or why it is refused).
    Poll(oneshot::Sender<PollReply>),
    /// The packets of a polling POST, decoded and within the size limit.
    Post(Vec<Packet>),
    /// Close the session (bad POST payload, failed request body).
    Abort(CloseReason),
    /// A WebSocket with this session's id, to probe for an upgrade, and whether its request
    /// asked for binary data in base64 (v3 `b64`).
    Probe(Box<Ws>, bool),
}

/// The answer to a polling GET.
pub(crate) enum PollReply {
    /// The payload to send with 200: text, or (`binary`) an Engine.IO v3 binary payload.
    Payload { body: Bytes, binary: bool },
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

/// How a session's packets are framed: its protocol revision, and (v3) whether the client
/// asked for binary data in base64 (`b64`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wire {
    pub(crate) protocol: Protocol,
    pub(crate) b64: bool,
}

impl Wire {
    /// The body of a polling answer.
    fn payload(self, packets: &[Packet]) -> PollReply {
        match self.protocol {
            Protocol::V3 => {
                let binary = !self.b64
                    && packets.iter().any(|p| matches!(p, Packet::Message(Message::Binary(_))));
                if binary {
                    let body = Bytes::from(v3::encode_binary_payload(packets));
                    PollReply::Payload { body, binary }
                } else {
                    PollReply::Payload { body: Bytes::from(v3::encode_payload(packets)), binary }
                }
            }
            _ => PollReply::Payload { body: Bytes::from(payload::encode(packets)), binary: false },
        }
    }
}

/// Creates a session, registers it with the engine and spawns its task.
///
/// `ws` is the WebSocket of a WebSocket-only session; `None` starts a polling session.
pub(crate) fn spawn<H: Handler>(
    engine: &Engine<H>,
    request: RequestInfo,
    wire: Wire,
    ws: Option<Ws>,
    ticket: Ticket,
) -> SessionHandle {
    let config = engine.config();
    let sid = Sid::generate(config.cluster.as_ref().map(|c| &c.tag));
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
    session_config.protocol = wire.protocol;
    let session = Session::new(session_config, handshake, transport, now());

    let socket = Arc::new(Socket::new(
        sid,
        request,
        wire.protocol,
        ws.is_some(),
        config.max_buffered_messages,
    ));
    let handle = SessionHandle { socket: socket.clone() };
    engine.insert(handle.clone());
    // The session holds its place now; it gives it back when it unregisters.
    ticket.keep();
    // Counted until the task's teardown (and its last WebSocket's writer) ends.
    engine.drain().enter();
    let task = Task::new(engine.clone(), socket, session, ws, wire);
    // Every event logged while the session's task runs (the handler's, on its task) carries
    // the session id: one span per connection, entered per wake-up, not per message.
    let span = tracing::info_span!("conn", sid = %handle.socket.id());
    // The session task owns the session until it closes; it unregisters itself at the end.
    tokio::spawn(Run::new(task, span));
    handle
}

pin_project_lite::pin_project! {
    /// The session task's future, written by hand rather than as an `async` block around
    /// `poll_fn`: that one kept, beside the same fields, a pinned reference to the timer, the
    /// `poll_fn` closure's references, drop flags and the span of an `Instrumented` wrapper,
    /// and every idle session pays for each byte (tokio rounds a task up to 128 bytes).
    ///
    /// In the release benchmark server this future is 536 bytes and its tokio cell 640: the
    /// cell adds 104 bytes (8 of them the stage's tag), so one more word here makes every
    /// session's task 768 bytes. Check with `-Zprint-type-sizes` when a field is added.
    struct Run<H: Handler> {
        stage: Stage<H>,
        // The connection's span, entered on every poll; boxed, and only when a subscriber
        // records it (usually none does, and a span is 40 bytes).
        span: Option<Box<tracing::Span>>,
        // One timer for the task's life, moved only when a deadline changes: a new timer
        // per wake-up would register and deregister it every time.
        #[pin]
        timer: Sleep,
    }
}

/// Where the session task is in its life.
enum Stage<H: Handler> {
    /// Not polled yet: the handler's `on_connect` runs at the first poll, on the task.
    Start(Task<H>),
    /// Running, with the handler's state for this session.
    Running(Task<H>, H::Session),
    /// Torn down.
    Done,
}

impl<H: Handler> Run<H> {
    fn new(task: Task<H>, span: tracing::Span) -> Self {
        Run {
            stage: Stage::Start(task),
            span: (!span.is_disabled()).then(|| Box::new(span)),
            timer: tokio::time::sleep_until(Instant::now()),
        }
    }
}

impl<H: Handler> Future for Run<H> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let _entered = this.span.as_deref().map(tracing::Span::enter);
        if let Stage::Start(_) = this.stage {
            if let Stage::Start(task) = std::mem::replace(this.stage, Stage::Done) {
                let state = task.engine.handler().on_connect(task.socket.clone());
                *this.stage = Stage::Running(task, state);
            }
        }
        let Stage::Running(task, state) = this.stage else { return Poll::Ready(()) };
        // The whole loop is one poll function: the future holds no sub-futures, which keeps
        // an idle session small, and a wake-up handles every ready input at once.
        let reason = std::task::ready!(task.poll_run(cx, state, this.timer));
        if let Stage::Running(task, state) = std::mem::replace(this.stage, Stage::Done) {
            task.teardown(state, reason);
        }
        Poll::Ready(())
    }
}

/// One thing that woke the session task.
enum Input {
    Mailbox,
    Ws(Option<Result<Frame, WsError>>),
    Probe(Option<Result<Frame, WsError>>),
    PollDropped,
    Timer,
}

/// How many kinds of input `poll_input` polls.
const INPUTS: u8 = 5;

/// How many inputs the task handles in one poll before it yields to other tasks.
const INPUTS_PER_POLL: usize = 64;

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
    /// Frames were handed to `ws` (`probe`) and are not all written yet.
    ws_unflushed: bool,
    probe_unflushed: bool,
    /// When unwritten frames count as a failed write (`ping_timeout` after they were queued).
    write_deadline: Option<Instant>,
    /// Whether the timer is set (to `timer.deadline()`) and has not fired yet.
    armed: bool,
    /// Whether the timer was polled since it was set: it then holds the task's waker, and is
    /// polled again only once it has fired (every wake-up would register the waker again).
    timer_polled: bool,
    /// Which input is polled first (`0..INPUTS`), turned on every poll so that none starves
    /// the others.
    turn: u8,
    /// How packets are framed on the session's transport.
    wire: Wire,
    /// `b64` of the probe's request, which becomes the session's after the upgrade.
    probe_b64: bool,
}

impl<H: Handler> Task<H> {
    fn new(
        engine: Engine<H>,
        socket: Arc<Socket>,
        session: Session,
        ws: Option<Ws>,
        wire: Wire,
    ) -> Self {
        Task {
            engine,
            socket,
            session,
            ws,
            probe: None,
            pending: None,
            ws_unflushed: false,
            probe_unflushed: false,
            write_deadline: None,
            armed: false,
            timer_polled: false,
            turn: 0,
            wire,
            probe_b64: false,
        }
    }

    /// Drives the session until it waits for something (`Pending`) or closes.
    fn poll_run(
        &mut self,
        cx: &mut Context<'_>,
        state: &mut H::Session,
        mut timer: Pin<&mut Sleep>,
    ) -> Poll<CloseReason> {
        // The clock is read once per wake-up, at the first input, not once per input: the
        // inputs of one wake-up arrived together.
        let mut clock = None;
        for _ in 0..INPUTS_PER_POLL {
            if let Some(reason) = self.drive(cx, state) {
                return Poll::Ready(reason);
            }
            if self.poll_flush(cx) {
                continue;
            }
            // The deadlines are looked at once no input is left, not after every input.
            if let Poll::Ready(input) = self.poll_input(cx, timer.as_mut()) {
                // A timer that fired reads it again: its deadline passed after the first read.
                let now = match input {
                    Input::Timer => *clock.insert(now()),
                    _ => *clock.get_or_insert_with(now),
                };
                self.handle(cx, input, now);
                continue;
            }
            let deadline = match (self.session.poll_timeout(), self.write_deadline) {
                (Some(a), Some(b)) => Some(Instant::from_std(a).min(b)),
                (a, b) => a.map(Instant::from_std).or(b),
            };
            if let Some(d) = deadline {
                if !self.armed || timer.deadline() != d {
                    timer.as_mut().reset(d);
                    self.armed = true;
                    self.timer_polled = false;
                    // Polled again, so that it wakes the task at its new deadline.
                    continue;
                }
            }
            // Idle until the next wake-up: the session gives back its queues' memory now,
            // not after every input (the next input would allocate them again).
            self.session.shrink_idle();
            return Poll::Pending;
        }
        // Busy: let other tasks run, and come back at once.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn handle(&mut self, cx: &mut Context<'_>, input: Input, now: std::time::Instant) {
        // Deadlines that passed come first, even if the timer has not fired yet: a request
        // arriving after the ping timeout finds the session closed.
        if self.session.poll_timeout().is_some_and(|d| now >= d) {
            self.session.handle_timeout(now);
        }
        match input {
            Input::Mailbox => {
                for command in self.socket.mailbox().take_commands() {
                    self.command(command, now);
                }
                // What the handler sent before closing is still delivered.
                self.take_outgoing(cx);
                if let Some(reason) = self.socket.mailbox().take_close() {
                    self.session.close(reason.to_close(), now);
                }
            }
            Input::Ws(frame) => self.ws_frame(cx, frame, now),
            Input::Probe(frame) => self.probe_frame(cx, frame, now),
            Input::PollDropped => {
                self.pending = None;
                self.session.handle_poll_dropped(now);
            }
            // The heartbeat (or another deadline): a session that got no message since
            // gives back the buffer its mailbox kept for the next ones.
            Input::Timer => self.socket.mailbox().release_spare(),
        }
    }

    fn command(&mut self, command: Command, now: std::time::Instant) {
        match command {
            Command::Poll(reply) => match self.session.handle_poll(now) {
                Ok(()) => self.pending = Some(reply),
                Err(e) => {
                    let _ = reply.send(PollReply::Refused(e));
                }
            },
            Command::Post(packets) => {
                for packet in packets {
                    self.session.handle_packet(packet, now);
                }
            }
            Command::Abort(reason) => self.session.close(reason, now),
            Command::Probe(ws, b64) => match self.session.handle_probe_open(now) {
                Ok(()) => {
                    self.probe = Some(ws);
                    self.probe_b64 = b64;
                }
                Err(_) => close_ws(*ws),
            },
        }
    }

    fn ws_frame(
        &mut self,
        cx: &mut Context<'_>,
        frame: Option<Result<Frame, WsError>>,
        now: std::time::Instant,
    ) {
        let packet = match frame {
            Some(Ok(Frame::Text(text))) => match self.decode_text(text) {
                // Not UTF-8 is a WebSocket error (close code 1007), not a bad packet.
                Err(PacketError::Utf8) => {
                    if let Some(mut ws) = self.ws.take() {
                        ws.queue_close_code(close_code::INVALID_DATA);
                        close_ws(ws);
                    }
                    self.session.handle_transport_close(CloseReason::TransportError, now);
                    return;
                }
                decoded => decoded,
            },
            Some(Ok(Frame::Binary(data))) => match self.wire.protocol {
                Protocol::V3 => v3::decode_binary(data),
                _ => Ok(Packet::binary(data)),
            },
            Some(Ok(Frame::Ping(data))) => {
                self.ws_queue(cx, Opcode::Pong, &data);
                return;
            }
            Some(Ok(Frame::Pong(_))) => return,
            // The client's close frame (answered already), or the end of the TCP stream
            // without one (a tab closed, a proxy gone): Node's `ws` reports both as a close, so
            // engine.io says `transport close`.
            Some(Ok(Frame::Close(_))) | None => {
                if let Some(ws) = self.ws.take() {
                    close_ws(ws);
                }
                self.session.handle_transport_close(CloseReason::TransportClose, now);
                return;
            }
            Some(Err(e)) => {
                tracing::debug!(sid = %self.socket.id(), error = %e, "websocket error");
                // The close frame that says why (queued by the connection for a frame error)
                // goes out before the connection is dropped.
                if let Some(ws) = self.ws.take() {
                    close_ws(ws);
                }
                self.session.handle_transport_close(CloseReason::TransportError, now);
                return;
            }
        };
        match packet {
            Ok(packet) => self.session.handle_packet(packet, now),
            Err(e) => {
                tracing::debug!(sid = %self.socket.id(), error = %e, "bad packet");
                self.session.close(CloseReason::ParseError, now);
            }
        }
    }

    /// Decodes a text frame: as in v4, or (v3) with binary data as `b4` and base64.
    fn decode_text(&self, text: Bytes) -> Result<Packet, PacketError> {
        match self.wire.protocol {
            Protocol::V3 => {
                let text =
                    switchboard_proto::Str::from_utf8(text).map_err(|_| PacketError::Utf8)?;
                v3::decode_text(text)
            }
            _ => Packet::decode_text_bytes(text),
        }
    }

    fn probe_frame(
        &mut self,
        cx: &mut Context<'_>,
        frame: Option<Result<Frame, WsError>>,
        now: std::time::Instant,
    ) {
        let packet = match frame {
            Some(Ok(Frame::Text(text))) => Packet::decode_text_bytes(text).ok(),
            Some(Ok(Frame::Ping(data))) => {
                self.probe_queue(cx, Opcode::Pong, &data);
                return;
            }
            Some(Ok(Frame::Pong(_))) => return,
            _ => None,
        };
        match packet {
            Some(packet) => self.session.handle_probe_packet(packet, now),
            None => {
                if let Some(probe) = self.probe.take() {
                    close_ws(*probe);
                }
                self.session.handle_probe_close(now);
            }
        }
    }

    /// Sends what the session wants sent and handles its events, until it has nothing left.
    /// Returns the close reason once the session is closed.
    ///
    /// Frames are handed to tungstenite, which buffers them; `poll_flush` writes them out, so
    /// every frame of a wake-up goes out in one write.
    fn drive(&mut self, cx: &mut Context<'_>, state: &mut H::Session) -> Option<CloseReason> {
        let mut closed = None;
        loop {
            // Take what the handler sent meanwhile, so that replies to a POST are in the
            // answer to the next GET. Not while the WebSocket is still busy writing: the
            // handler's queue then fills up, and `send` reports it.
            let mut progress = !self.ws_unflushed && self.take_outgoing(cx);
            while let Some(transmit) = self.session.poll_transmit() {
                progress = true;
                match transmit {
                    Transmit::Poll(packets) => {
                        self.socket.set_writable(false);
                        if let Some(reply) = self.pending.take() {
                            let _ = reply.send(self.wire.payload(&packets));
                        }
                    }
                    Transmit::WebSocket(p) => self.ws_send_packet(cx, p),
                    Transmit::Encoded(m) => self.ws_send_encoded(cx, &m),
                    Transmit::Probe(p) => self.probe_send(cx, p),
                }
            }
            while let Some(event) = self.session.poll_event() {
                progress = true;
                match event {
                    Event::Message(m) => self.engine.handler().on_message(state, &self.socket, m),
                    Event::Upgraded => {
                        if let Some(probe) = self.probe.take() {
                            self.ws = Some(*probe);
                            self.ws_unflushed = std::mem::take(&mut self.probe_unflushed);
                            // As Node, each transport frames binary as its request asked.
                            self.wire.b64 = self.probe_b64;
                        }
                        self.socket.set_upgraded();
                        self.engine.handler().on_upgrade(state, &self.socket);
                    }
                    Event::ProbeClosed => {
                        self.probe_unflushed = false;
                        if let Some(probe) = self.probe.take() {
                            close_ws(*probe);
                        }
                    }
                    Event::Closed(reason) => closed = Some(reason),
                }
            }
            if !progress {
                if closed.is_none() {
                    self.update_writable();
                }
                return closed;
            }
        }
    }

    /// The session waits: its transport is writable if nothing is queued or being written, no
    /// upgrade is under way, and a WebSocket or a parked GET is there to write to.
    fn update_writable(&self) {
        let writable = self.session.buffered() == 0
            && !self.ws_unflushed
            && !self.socket.mailbox().has_messages()
            && self.probe.is_none()
            && (self.ws.is_some() || self.pending.is_some());
        self.socket.set_writable(writable);
    }

    /// Moves the handler's queued messages into the session, as far as its queue allows.
    fn take_outgoing(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.socket.mailbox().has_messages() {
            // The usual case (this runs after every input): no lock, no queue to drop.
            return false;
        }
        let mut took = false;
        if self.socket.mailbox().is_framing() {
            // Frames for the session's WebSocket, written by the senders: handed over as they
            // are (the session's own packets, pings and its close, are framed apart; their
            // order against messages does not matter, and once the session is closed
            // messages are dropped, as `send_encoded` drops them). The buffer the last write
            // freed holds the next frames.
            let spare = crate::websocket::spare_buffer(crate::mailbox::FRAMES_KEEP);
            let frames = self.socket.mailbox().take_frames(spare);
            if frames.is_empty() {
                crate::websocket::give_back(frames.into_parts().0);
                return false;
            }
            let (bytes, after) = frames.into_parts();
            if self.ws.is_none() || self.session.is_closed() {
                return true;
            }
            if bytes.is_empty() {
                crate::websocket::give_back(bytes);
            } else if let Some(ws) = self.ws.as_mut() {
                let max_write = self.engine.config().max_websocket_write_buffer;
                self.ws_unflushed = true;
                if ws.queue_frames(cx, bytes, max_write).is_err() {
                    self.ws_write_failed();
                }
                self.socket.set_writable(false);
            }
            // Then the messages too large to copy, and those behind them.
            for m in after {
                self.ws_send_encoded(cx, &m);
            }
            return true;
        }
        if self.ws.is_some() && self.session.is_streaming() {
            // Nothing queued before them: straight to the WebSocket, past the session's queue.
            // A WebSocket that sends messages as they are takes frames from now on.
            let as_is = self.wire.protocol != Protocol::V3
                && self.ws.as_ref().is_some_and(|ws| ws.sends_as_is());
            let earlier = if as_is {
                self.socket.mailbox().start_framing()
            } else {
                self.socket.mailbox().take_messages(usize::MAX)
            };
            for m in earlier {
                took = true;
                self.ws_send_encoded(cx, &m);
            }
            return took;
        }
        let max = self.engine.config().max_buffered_messages;
        let room = max.saturating_sub(self.session.buffered());
        for m in self.socket.mailbox().take_messages(room) {
            took = true;
            let _ = self.session.send_encoded(m);
        }
        took
    }

    fn teardown(mut self, state: H::Session, reason: CloseReason) {
        tracing::debug!(sid = %self.socket.id(), ?reason, "session closed");
        self.engine.remove(self.socket.id());
        self.socket.set_disconnected();
        self.socket.mailbox().end();
        self.pending = None;
        if let Some(ws) = self.ws.take() {
            // Its queued frames are written before the close frame: the drain counts it until
            // they are, bounded by the write deadline the session gives any write.
            let guard = DrainGuard::new(self.engine.drain());
            close_ws_within(ws, self.engine.config().ping_timeout, Some(guard));
        }
        if let Some(probe) = self.probe.take() {
            close_ws(*probe);
        }
        let reason = DisconnectReason::from_close(reason);
        self.engine.handler().on_disconnect(state, &self.socket, reason);
        self.engine.drain().leave();
    }
}

/// The session clock: tokio's, so that `tokio::time::pause()` drives it in tests.
fn now() -> std::time::Instant {
    Instant::now().into_std()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
