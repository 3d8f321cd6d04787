//! The server side of one Engine.IO v4 session, without I/O.
//!
//! [`Session`] holds the heartbeat deadlines, the upgrade from long-polling to WebSocket and the
//! close handshake. It is driven quinn-proto style: the I/O layer feeds it what happened
//! (`handle_*` with the current `now`), then drains what to send ([`Session::poll_transmit`]) and
//! what to report ([`Session::poll_event`]), and sleeps until [`Session::poll_timeout`] to call
//! [`Session::handle_timeout`]. It never reads a clock and never sleeps.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use switchboard_proto::engine::{Handshake, Packet, session::*};
//!
//! let now = Instant::now();
//! let hs = Handshake {
//!     sid: "abc".into(),
//!     upgrades: vec![],
//!     ping_interval: 300,
//!     ping_timeout: 200,
//!     max_payload: 1_000_000,
//! };
//! let mut config = SessionConfig::default();
//! config.ping_interval = Duration::from_millis(300);
//! config.ping_timeout = Duration::from_millis(200);
//! let mut session = Session::new(config, hs.clone(), Transport::WebSocket, now);
//! assert_eq!(session.poll_transmit(), Some(Transmit::WebSocket(Packet::Open(hs))));
//!
//! // At pingInterval the server pings, and closes pingTimeout later without a pong.
//! assert_eq!(session.poll_timeout(), Some(now + Duration::from_millis(300)));
//! session.handle_timeout(now + Duration::from_millis(300));
//! assert_eq!(session.poll_transmit(), Some(Transmit::WebSocket(Packet::Ping)));
//! session.handle_timeout(now + Duration::from_millis(500));
//! assert_eq!(session.poll_event(), Some(Event::Closed(CloseReason::PingTimeout)));
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{EncodedMessage, Handshake, Message, Packet, Protocol};

mod timeouts;
use timeouts::Timeouts;

/// Timers of a session. `Default` equals the Node `engine.io` defaults. A duration too large
/// to add to an `Instant` means "never".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionConfig {
    /// Time from a pong (or the handshake) to the next ping (Node: 25 s).
    pub ping_interval: Duration,
    /// Time the client has to answer a ping (Node: 20 s).
    pub ping_timeout: Duration,
    /// Time a started upgrade has to complete (Node: 10 s).
    pub upgrade_timeout: Duration,
    /// Time a server-closed polling session waits for a last GET to deliver its remaining
    /// packets (Node's `closeTimeout`: 30 s).
    pub close_timeout: Duration,
    /// Time a server-closed polling session with nothing queued waits for a last GET to
    /// deliver the close packet alone (2 s; Node waits `closeTimeout`). A live client polls
    /// again within a round trip; a gone one should not hold up a server shutdown.
    pub close_notice_timeout: Duration,
    /// The protocol revision of the client. With [`Protocol::V3`] the heartbeat goes the other
    /// way: the client pings, the server answers with a pong, and the session closes when no
    /// ping came for `ping_interval + ping_timeout` (as Node's `allowEIO3`).
    pub protocol: Protocol,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            upgrade_timeout: Duration::from_millis(10_000),
            close_timeout: Duration::from_millis(30_000),
            close_notice_timeout: Duration::from_millis(2_000),
            protocol: Protocol::V4,
        }
    }
}

/// A transport of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// HTTP long-polling.
    Polling,
    /// WebSocket.
    WebSocket,
}

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Open on its transport.
    Open,
    /// A WebSocket with this session's id is attached; no `2probe` yet.
    Probing,
    /// `2probe` answered; waiting for `5`. Polling requests get `6` (noop).
    Upgrading,
    /// Closed by the server; a polling session waits for a last GET to flush its packets.
    Closing,
    /// Closed.
    Closed,
}

/// Why a session closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client sent a close packet or closed its WebSocket.
    TransportClose,
    /// The transport failed (duplicate poll, dropped request, I/O error, oversize message).
    TransportError,
    /// No pong within `ping_timeout` of a ping.
    PingTimeout,
    /// The client sent something that is not Engine.IO.
    ParseError,
    /// The server closed the session.
    ForcedClose,
    /// The server is shutting down.
    ServerShuttingDown,
}

/// Something to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// The answer to the pending polling GET: one payload.
    Poll(Vec<Packet>),
    /// One frame on the session's WebSocket.
    WebSocket(Packet),
    /// One frame on the WebSocket that is probing for an upgrade.
    Probe(Packet),
    /// One frame on the session's WebSocket: a message queued with
    /// [`Session::send_encoded`], already encoded.
    Encoded(EncodedMessage),
}

/// What the outbox holds: packets, and messages encoded once for many sessions.
#[derive(Debug)]
enum Queued {
    Packet(Packet),
    Encoded(EncodedMessage),
}

impl Queued {
    /// The packet, for a polling payload (which encodes its own way).
    fn into_packet(self) -> Packet {
        match self {
            Queued::Packet(p) => p,
            Queued::Encoded(m) => Packet::Message(m.to_message()),
        }
    }
}

/// Something that happened to the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The client sent a message.
    Message(Message),
    /// The session now runs over the probe WebSocket.
    Upgraded,
    /// The upgrade failed or timed out: close the probe WebSocket; the session goes on.
    ProbeClosed,
    /// The session is closed; nothing more will happen.
    Closed(CloseReason),
}

/// Why a request cannot be served by this session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The session is closed.
    #[error("session closed")]
    Closed,
    /// A polling request for a session that does not use polling (any more).
    #[error("wrong transport")]
    WrongTransport,
    /// A second GET while one was pending: the session is closed.
    #[error("overlapping poll")]
    OverlappingPoll,
    /// A WebSocket for a session that is already upgrading or upgraded.
    #[error("upgrade not possible")]
    UpgradeRefused,
}

/// The state machine of one server session. See the [module docs](self).
#[derive(Debug)]
pub struct Session {
    config: Timeouts,
    protocol: Protocol,
    transport: Transport,
    state: State,
    /// Packets for the active transport.
    outbox: VecDeque<Queued>,
    /// Transmits that bypass the outbox (probe answers, noops), in order.
    urgent: VecDeque<Transmit>,
    events: VecDeque<Event>,
    /// Whether a polling GET waits for an answer.
    poll_waiting: bool,
    next_ping: Option<Instant>,
    pong_deadline: Option<Instant>,
    upgrade_deadline: Option<Instant>,
    /// Why a server-closed polling session waits for its last GET, and until when (two
    /// fields, not an optional pair: the reason fits in the padding, and the session task
    /// that holds a session pays for every byte of it).
    closing: Option<CloseReason>,
    closing_deadline: Option<Instant>,
}

impl Session {
    /// A new session on `transport`; the open packet carrying `handshake` is queued.
    pub fn new(
        config: SessionConfig,
        handshake: Handshake,
        transport: Transport,
        now: Instant,
    ) -> Self {
        // v4: the server pings at `ping_interval`. v3: the client pings, and the session closes
        // when none came for `ping_interval + ping_timeout`.
        let (next_ping, pong_deadline) = match config.protocol {
            Protocol::V3 => (None, now.checked_add(v3_heartbeat(config))),
            _ => (now.checked_add(config.ping_interval), None),
        };
        Session {
            config: Timeouts::from(config),
            protocol: config.protocol,
            transport,
            state: State::Open,
            outbox: VecDeque::from([Queued::Packet(Packet::Open(handshake))]),
            urgent: VecDeque::new(),
            events: VecDeque::new(),
            poll_waiting: false,
            next_ping,
            pong_deadline,
            upgrade_deadline: None,
            closing: None,
            closing_deadline: None,
        }
    }

    /// The protocol revision of the client.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The active transport.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Packets queued for the active transport.
    pub fn buffered(&self) -> usize {
        self.outbox.len()
    }

    /// Whether the session is closing or closed.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closing | State::Closed)
    }

    /// Queues a message for the client.
    pub fn send(&mut self, message: Message) -> Result<(), SessionError> {
        if self.is_closed() {
            return Err(SessionError::Closed);
        }
        self.outbox.push_back(Queued::Packet(Packet::Message(message)));
        Ok(())
    }

    /// Queues a message encoded once for many sessions; on WebSocket it comes back as
    /// [`Transmit::Encoded`], ready to frame.
    pub fn send_encoded(&mut self, message: EncodedMessage) -> Result<(), SessionError> {
        if self.is_closed() {
            return Err(SessionError::Closed);
        }
        self.outbox.push_back(Queued::Encoded(message));
        Ok(())
    }

    /// Whether a message sent now would be the session's next WebSocket frame: it is open on
    /// WebSocket with nothing queued. The I/O layer may then write messages to the WebSocket
    /// itself rather than pass them through [`Session::send`] and [`Session::poll_transmit`].
    pub fn is_streaming(&self) -> bool {
        self.transport == Transport::WebSocket
            && self.state == State::Open
            && self.outbox.is_empty()
            && self.urgent.is_empty()
    }

    /// Releases the memory of its empty queues, so that an idle session stays small.
    pub fn shrink_idle(&mut self) {
        // Called on every idle moment: looks at the capacities first (most are empty already).
        if self.outbox.capacity() > 0 && self.outbox.is_empty() {
            self.outbox = VecDeque::new();
        }
        if self.urgent.capacity() > 0 && self.urgent.is_empty() {
            self.urgent = VecDeque::new();
        }
        if self.events.capacity() > 0 && self.events.is_empty() {
            self.events = VecDeque::new();
        }
    }

    /// A packet arrived on the active transport (a polling POST or the session's WebSocket).
    pub fn handle_packet(&mut self, packet: Packet, now: Instant) {
        if self.is_closed() {
            return;
        }
        if self.protocol == Protocol::V3 {
            match packet {
                Packet::Ping => {
                    // A v3 client's heartbeat: answered, and the deadline moves on.
                    self.pong_deadline = now.checked_add(
                        self.config.ping_interval().saturating_add(self.config.ping_timeout()),
                    );
                    self.outbox.push_back(Queued::Packet(Packet::Pong));
                    return;
                }
                Packet::Pong => {
                    // Node: "invalid heartbeat direction".
                    self.close(CloseReason::TransportError, now);
                    return;
                }
                _ => {}
            }
        }
        match packet {
            Packet::Pong if self.pong_deadline.is_some() => {
                self.pong_deadline = None;
                self.next_ping = now.checked_add(self.config.ping_interval());
            }
            Packet::Message(m) => self.events.push_back(Event::Message(m)),
            Packet::Close => {
                // Node answers a pending poll with a noop when the client closes.
                self.answer_poll(vec![Packet::Noop]);
                self.finish(CloseReason::TransportClose);
            }
            // Client pings (protocol v3), stray pongs, noops and the rest are ignored, as Node does.
            _ => {}
        }
    }

    /// A polling GET arrived. On `Ok` its answer comes later from [`Session::poll_transmit`];
    /// on `Err` it must be refused (HTTP 400).
    pub fn handle_poll(&mut self, now: Instant) -> Result<(), SessionError> {
        let _ = now;
        match self.state {
            State::Closed => return Err(SessionError::Closed),
            // The packets queued before the close, then (on the GET after) the close packet
            // alone: see `close`.
            State::Closing if !self.outbox.is_empty() => {
                let packets = self.outbox.drain(..).map(Queued::into_packet).collect();
                self.urgent.push_back(Transmit::Poll(packets));
                return Ok(());
            }
            State::Closing => {
                self.urgent.push_back(Transmit::Poll(vec![Packet::Close]));
                let reason = self.closing.unwrap_or(CloseReason::ForcedClose);
                self.finish(reason);
                return Ok(());
            }
            _ => {}
        }
        if self.transport != Transport::Polling {
            return Err(SessionError::WrongTransport);
        }
        if self.poll_waiting {
            self.close(CloseReason::TransportError, now);
            return Err(SessionError::OverlappingPoll);
        }
        if self.state == State::Upgrading {
            self.urgent.push_back(Transmit::Poll(vec![Packet::Noop]));
        } else {
            self.poll_waiting = true;
        }
        Ok(())
    }

    /// The pending GET went away before it was answered (the client dropped the request).
    pub fn handle_poll_dropped(&mut self, now: Instant) {
        if self.poll_waiting {
            self.poll_waiting = false;
            self.close(CloseReason::TransportError, now);
        }
    }

    /// The active transport failed or closed (e.g. the WebSocket ended).
    pub fn handle_transport_close(&mut self, reason: CloseReason, now: Instant) {
        let _ = now;
        if self.state != State::Closed {
            self.outbox.clear();
            self.finish(reason);
        }
    }

    /// A WebSocket carrying this session's id connected. On `Err` the I/O layer closes it.
    pub fn handle_probe_open(&mut self, now: Instant) -> Result<(), SessionError> {
        if self.is_closed() {
            return Err(SessionError::Closed);
        }
        if self.transport != Transport::Polling || self.state != State::Open {
            return Err(SessionError::UpgradeRefused);
        }
        self.state = State::Probing;
        self.upgrade_deadline = now.checked_add(self.config.upgrade_timeout());
        Ok(())
    }

    /// A packet arrived on the probing WebSocket.
    pub fn handle_probe_packet(&mut self, packet: Packet, now: Instant) {
        let _ = now;
        if !matches!(self.state, State::Probing | State::Upgrading) {
            return;
        }
        match packet {
            Packet::PingProbe => {
                self.urgent.push_back(Transmit::Probe(Packet::PongProbe));
                self.state = State::Upgrading;
                self.answer_poll(vec![Packet::Noop]);
            }
            Packet::Upgrade => {
                self.answer_poll(vec![Packet::Noop]);
                self.transport = Transport::WebSocket;
                self.state = State::Open;
                self.upgrade_deadline = None;
                self.events.push_back(Event::Upgraded);
            }
            _ => self.abort_upgrade(),
        }
    }

    /// The probing WebSocket closed or failed before the upgrade completed.
    pub fn handle_probe_close(&mut self, now: Instant) {
        let _ = now;
        if matches!(self.state, State::Probing | State::Upgrading) {
            self.state = State::Open;
            self.upgrade_deadline = None;
        }
    }

    /// Closes the session from the server side.
    ///
    /// A server-initiated close ([`CloseReason::ForcedClose`],
    /// [`CloseReason::ServerShuttingDown`]) of a polling session with no pending GET waits (up
    /// to `close_timeout`, or `close_notice_timeout` with nothing queued) for the client's
    /// next GETs: the queued packets (at once if a GET is pending), then the close packet alone
    /// on the GET after. Other reasons drop what is queued. A WebSocket session sends what is
    /// queued, then closes.
    pub fn close(&mut self, reason: CloseReason, now: Instant) {
        if self.is_closed() {
            return;
        }
        if matches!(self.state, State::Probing | State::Upgrading) {
            self.events.push_back(Event::ProbeClosed);
            self.state = State::Open;
        }
        let flush = matches!(reason, CloseReason::ForcedClose | CloseReason::ServerShuttingDown);
        if !flush {
            self.outbox.clear();
        }
        match self.transport {
            // Nothing queued: the waiting GET gets the close packet.
            Transport::Polling if self.poll_waiting && self.outbox.is_empty() => {
                self.answer_poll(vec![Packet::Close]);
                self.finish(reason);
            }
            // A server-initiated close keeps the session for the client's next GETs: the
            // queued packets first (now, if a GET waits), then the close packet alone on the
            // GET after (Node flushes its write buffer, then closes the transport with
            // `shouldClose`), bounded by `close_timeout`. Not in one payload: the official
            // client handles the close at once and the packets before it a tick later, and
            // drops them once disconnected.
            Transport::Polling if flush => {
                // Something to deliver first: the client has a full heartbeat round to come.
                let queued = !self.outbox.is_empty();
                if self.poll_waiting {
                    let packets = self.outbox.drain(..).map(Queued::into_packet).collect();
                    self.answer_poll(packets);
                }
                self.state = State::Closing;
                let wait = if !queued {
                    self.config.close_notice_timeout().min(self.config.close_timeout())
                } else {
                    self.config.close_timeout()
                };
                self.closing = Some(reason);
                self.closing_deadline = now.checked_add(wait);
                self.next_ping = None;
                self.pong_deadline = None;
                self.upgrade_deadline = None;
            }
            _ => self.finish(reason),
        }
    }

    /// The next instant [`Session::handle_timeout`] must be called, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.next_ping,
            self.pong_deadline,
            self.upgrade_deadline,
            self.closing.and(self.closing_deadline),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs the timers that are due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(reason) = self.closing {
            if self.closing_deadline.is_some_and(|d| now >= d) {
                self.outbox.clear();
                self.finish(reason);
            }
            return;
        }
        if self.upgrade_deadline.is_some_and(|d| now >= d) {
            self.abort_upgrade();
        }
        if self.pong_deadline.is_some_and(|d| now >= d) {
            self.close(CloseReason::PingTimeout, now);
            return;
        }
        if let Some(due) = self.next_ping.filter(|d| now >= *d) {
            self.outbox.push_back(Queued::Packet(Packet::Ping));
            self.next_ping = None;
            // Counted from when the ping was due, so a late wake-up does not extend the
            // session's life: it closes exactly at ping + pingTimeout.
            self.pong_deadline = due.checked_add(self.config.ping_timeout()).map(|d| d.max(now));
        }
    }

    /// The next thing to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if let Some(t) = self.urgent.pop_front() {
            return Some(t);
        }
        match self.transport {
            Transport::Polling => {
                let flushable = matches!(self.state, State::Open | State::Probing);
                if flushable && self.poll_waiting && !self.outbox.is_empty() {
                    self.poll_waiting = false;
                    Some(Transmit::Poll(self.outbox.drain(..).map(Queued::into_packet).collect()))
                } else {
                    None
                }
            }
            Transport::WebSocket => self.outbox.pop_front().map(|q| match q {
                Queued::Packet(p) => Transmit::WebSocket(p),
                Queued::Encoded(m) => Transmit::Encoded(m),
            }),
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn answer_poll(&mut self, packets: Vec<Packet>) {
        if self.poll_waiting {
            self.poll_waiting = false;
            self.urgent.push_back(Transmit::Poll(packets));
        }
    }

    fn abort_upgrade(&mut self) {
        if matches!(self.state, State::Probing | State::Upgrading) {
            self.state = State::Open;
            self.upgrade_deadline = None;
            self.events.push_back(Event::ProbeClosed);
        }
    }

    fn finish(&mut self, reason: CloseReason) {
        if matches!(self.state, State::Probing | State::Upgrading) {
            self.events.push_back(Event::ProbeClosed);
        }
        self.state = State::Closed;
        self.poll_waiting = false;
        self.next_ping = None;
        self.pong_deadline = None;
        self.upgrade_deadline = None;
        self.closing = None;
        self.closing_deadline = None;
        self.events.push_back(Event::Closed(reason));
    }
}

/// How long a v3 session lives without a ping from the client.
fn v3_heartbeat(config: SessionConfig) -> std::time::Duration {
    config.ping_interval.saturating_add(config.ping_timeout)
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
