//! One Engine.IO connection and the namespace sockets multiplexed on it.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::task::{Context, Poll};

use futures_util::FutureExt as _;
use serde_json::Value;
use switchboard_engine::{DisconnectReason as EngineReason, Message, Protocol, TransportKind};
use switchboard_proto::Str;
use switchboard_proto::socket::{Decode, DecodeError, MAIN_NAMESPACE, Packet, PacketData};
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tracing::Instrument as _;

// The counts of `Flow`, loom's under `cfg(switchboard_loom)` (see client/loom_tests.rs).
#[cfg(switchboard_loom)]
use loom::sync::atomic::AtomicU32;
#[cfg(not(switchboard_loom))]
use std::sync::atomic::AtomicU32;

use crate::conn::ConnRef;
use crate::event::BoxFuture;
use crate::io::IoInner;
use crate::{DisconnectReason, Socket};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the data consistent, so a poisoned lock is usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What only the engine's session task touches of a connection: the packet decoder (which
/// holds a binary packet's attachments until they all arrived) and the socket the last packet
/// went to. The session task owns it, with the engine session, and lends it to each message:
/// no lock.
pub(crate) struct Inbound {
    client: Arc<Client>,
    decoder: Box<dyn Decode>,
    /// The socket the last ack (or DISCONNECT) was for: the next one usually is for it too,
    /// and finding it here takes no lock (see [`Client::cached`]).
    last: Option<Socket>,
}

impl Inbound {
    /// The client connection these messages are for.
    pub(crate) fn client(&self) -> &Arc<Client> {
        &self.client
    }

    /// A message from the engine: decoded here, then handed to the client.
    pub(crate) fn on_message(&mut self, message: Message) {
        crate::metrics::received(&message);
        crate::observe::received(&message);
        let decoded = self.decoder.decode(message);
        self.on_decoded(decoded);
    }

    /// The socket of namespace `ns`, through the one the last ack was for.
    fn socket(&mut self, ns: &str) -> Option<Socket> {
        self.client.cached(&mut self.last, ns)
    }

    /// A decoded message from the engine: acks are resolved at once (a handler may be waiting
    /// for one), other packets are handled in order.
    fn on_decoded(&mut self, decoded: Result<Option<Packet>, DecodeError>) {
        match decoded {
            Ok(None) => {}
            Ok(Some(Packet { ns, data: PacketData::Ack { payload, ack } })) => {
                match self.socket(&ns) {
                    Some(s) => s.on_ack(ack, payload),
                    None => {
                        tracing::debug!(sid = self.client.conn.sid(), %ns, "ack for a namespace not joined")
                    }
                }
            }
            Ok(Some(packet)) => {
                if matches!(packet.data, PacketData::Disconnect) {
                    // The client left the namespace and will not answer acks for it: a handler
                    // waiting for one must not hold this DISCONNECT back.
                    if let Some(s) = self.socket(&packet.ns) {
                        s.fail_acks();
                    }
                }
                self.enqueue(packet);
            }
            Err(e) => {
                tracing::debug!(sid = self.client.conn.sid(), error = %e, "parse error: closing");
                self.client.conn.close(EngineReason::ParseError);
            }
        }
    }

    /// Hands `packet` to the running drainer, or handles it now if none runs, or starts a
    /// drainer for it.
    fn enqueue(&mut self, packet: Packet) {
        let client = &self.client;
        // A runner runs (only this task counts up, so it stays so or ends): the packet is
        // queued behind it before it is counted, so that the runner finds it once it sees
        // the count. If the count refuses it, or the runner ended meanwhile, it is taken
        // back: the last one queued, and the only one left if the runner ended.
        let (queued, mut packet) = if client.flow.busy() {
            let mut inbox = client.inbox();
            if inbox.capacity() == 0 {
                inbox.reserve(BURST);
            }
            inbox.push_back(packet);
            (true, None)
        } else {
            (false, Some(packet))
        };
        let admit = client.flow.admit(client.max_pending);
        if admit == Admit::Queued {
            // The runner (a drainer: a handling on this task ends before the next message)
            // takes it after the ones before.
            return;
        }
        if queued {
            packet = client.inbox().pop_back();
        }
        let Some(packet) = packet else {
            // Only this task takes from the back, right after its push.
            debug_assert!(false, "a packet queued by this task went missing");
            return;
        };
        match admit {
            Admit::Queued | Admit::Closed => return,
            Admit::CloseNow => {
                client.run_close();
                return;
            }
            Admit::Full => {
                tracing::warn!(
                    sid = client.conn.sid(),
                    "too many packets waiting for handlers: closing"
                );
                client.conn.close(EngineReason::TransportError);
                return;
            }
            Admit::Start => {}
        }
        let client = self.client.clone();
        let first = if client.conn.transport() == TransportKind::Polling {
            // Over polling, answers wait for the next GET whatever runs them: the packet is
            // handled at once, on the engine's task, and a task only finishes a handling
            // that waits for something.
            let socket = client.target(&mut self.last, &packet);
            let handling = client.clone();
            let Some(first) =
                poll_now(Box::pin(async move { handling.handle(packet, socket).await }))
            else {
                // Nothing can be counted behind it: this task counts, and it was busy.
                let next = client.flow.handled();
                debug_assert_eq!(next, Next::Stop);
                client.runner_done();
                return;
            };
            Err(first)
        } else {
            // Looked up here, through the socket this task used last: the drainer starts
            // with it (nothing runs before this packet, so it is the one the drainer would
            // find).
            let socket = client.target(&mut self.last, &packet);
            Ok((packet, socket))
        };
        // The drainer: ends once it handled every packet counted in `pending`. A task rather
        // than handling inline on the engine's task: the engine then reads the rest of a burst
        // before it writes, so the answers of a burst go out in one write (inline, each answer
        // cost a write: echo with ack ran at a quarter of the rate). A new one starts only
        // once the count fell to zero, so one drainer at a time keeps the order.
        // In the connection's span (the engine's session task runs this): its handlers' logs
        // carry the session id.
        tokio::spawn(async move { client.drain(first).await }.in_current_span());
    }
}

/// `Flow::state`: the connection closed.
const CLOSED: u32 = 1;
/// `Flow::state`: one running handling (a drainer task, or a packet handled inline).
const RUNNER: u32 = 2;

/// Who runs a connection's packets, and who runs its close: the decisions only, over two
/// counts; the caller does what they return (start a drainer, take back a packet queued, disconnect
/// the sockets). Model-checked with loom (client/loom_tests.rs), which runs this very code.
///
/// The contract: `admit` is called by one task at a time (the engine's session task, which
/// owns the connection's messages), `close` once, by that task after its last `admit` (the
/// engine) or by any task at any time (the in-process connections of `testing`); `handled`
/// and `runner_done` by the runner that `admit` started.
#[derive(Debug)]
struct Flow {
    /// Packets handed to the running handling and not handled yet (the running one included):
    /// the session task counts each one up, the runner down once it ran; the one who brings
    /// it up from zero starts a runner, the runner that brings it down to zero ends.
    pending: AtomicU32,
    /// [`CLOSED`] once the connection closed, plus [`RUNNER`] per running handling: whoever
    /// makes it `CLOSED` with no runner (the close, or the last runner to end) disconnects
    /// the sockets, exactly once, after the packets queued before the close.
    state: AtomicU32,
}

/// What to do with a packet that arrived ([`Flow::admit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
enum Admit {
    /// The connection closed: drop it.
    Closed,
    /// Too many packets wait for handlers: close the connection, drop it.
    Full,
    /// Counted, and a runner is running: it takes the packet, which the caller queued
    /// before (it saw [`Flow::busy`]).
    Queued,
    /// Counted, and a runner is counted for it: handle it (inline or in a new drainer).
    Start,
    /// The connection closed meanwhile (from another task) and the close fell to this call:
    /// drop the packet and run the close.
    CloseNow,
}

/// What a runner does once it handled a packet ([`Flow::handled`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
enum Next {
    /// Another packet is counted: take it from the inbox (it was queued before it was counted).
    KeepGoing,
    /// None is: end (then [`Flow::runner_done`]).
    Stop,
}

/// Who disconnects the sockets ([`Flow::close`], [`Flow::runner_done`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
enum Close {
    /// The caller: nothing runs anymore, and nothing will.
    RunNow,
    /// A runner still runs: it does when it ends (tell it, in case its handler waits).
    TellRunner,
}

impl Flow {
    fn new() -> Self {
        Flow { pending: AtomicU32::new(0), state: AtomicU32::new(0) }
    }

    /// A packet arrived (session task only).
    fn admit(&self, max_pending: u32) -> Admit {
        if self.state.load(Ordering::SeqCst) & CLOSED != 0 {
            return Admit::Closed;
        }
        // Looked at before it is counted: a count the runner sees is a packet it receives
        // (only this task counts up, so the look is never below the count).
        if self.pending.load(Ordering::SeqCst) > max_pending {
            return Admit::Full;
        }
        if self.pending.fetch_add(1, Ordering::SeqCst) > 0 {
            return Admit::Queued;
        }
        // The runner is counted and the close looked at in one step: a close from another
        // task (the in-process connections of `testing` close so) either sees this runner,
        // which then runs the close after the packet, or came first.
        let before = self.state.fetch_add(RUNNER, Ordering::SeqCst);
        if before & CLOSED == 0 {
            return Admit::Start;
        }
        self.pending.fetch_sub(1, Ordering::SeqCst);
        let after = self.state.fetch_sub(RUNNER, Ordering::SeqCst) - RUNNER;
        // `before == CLOSED`: nothing ran at the close, which ran then. Else the close waits
        // for the runners it saw to end, and this one counts among them if it was the last.
        if before != CLOSED && after == CLOSED { Admit::CloseNow } else { Admit::Closed }
    }

    /// Whether a runner runs or a packet waits (session task only: then only a runner can
    /// change it, by ending).
    fn busy(&self) -> bool {
        self.pending.load(Ordering::SeqCst) > 0
    }

    /// The runner handled a packet.
    fn handled(&self) -> Next {
        if self.pending.fetch_sub(1, Ordering::SeqCst) == 1 { Next::Stop } else { Next::KeepGoing }
    }

    /// Whether the connection closed.
    fn is_closed(&self) -> bool {
        self.state.load(Ordering::SeqCst) & CLOSED != 0
    }

    /// Whether a handling runs (a drainer task, or a packet handled inline).
    fn handling(&self) -> bool {
        self.state.load(Ordering::SeqCst) >= RUNNER
    }

    /// Whether the packet being handled is the only one counted (no more to take yet).
    fn alone(&self) -> bool {
        self.pending.load(Ordering::SeqCst) == 1
    }

    /// A runner ended (after [`Next::Stop`], or stopped at the close): the last one after the
    /// close runs it.
    fn runner_done(&self) -> Option<Close> {
        (self.state.fetch_sub(RUNNER, Ordering::SeqCst) == RUNNER | CLOSED).then_some(Close::RunNow)
    }

    /// The connection closed (session task only, after its last `admit`).
    fn close(&self) -> Close {
        if self.state.fetch_or(CLOSED, Ordering::SeqCst) >= RUNNER {
            Close::TellRunner
        } else {
            Close::RunNow
        }
    }
}

/// A client connection: runs its packets in order.
///
/// No task waits on an idle connection. A packet arriving while none is handled starts a
/// drainer task with it, which runs it and the packets queued behind it (through its inbox,
/// a channel made once a packet is queued, whose sending side the engine's session task
/// reaches), one at a time, and ends once it handled every packet counted (`pending`); the
/// next packet then starts the next drainer.
pub(crate) struct Client {
    conn: ConnRef,
    io: Weak<IoInner>,
    /// `SocketIoConfig::max_pending_packets` (at least 1), read once.
    max_pending: u32,
    /// Who runs the packets, and the close (see [`Flow`]).
    flow: Flow,
    open: AtomicBool,
    /// Why the connection closed (set once, by the first `on_close`).
    reason: OnceLock<DisconnectReason>,
    // The sockets and the connect timer. Written by a namespace join or leave, which run on
    // the drainer but also on any task (a handler's `disconnect`, a server-wide
    // `disconnect_sockets`, a recovery takeover); read by the session task and the drainer
    // only when the socket they last used is no longer connected (an atomic): not per packet.
    // Never held across an await.
    sockets: Mutex<Sockets>,
    // The packets queued behind the running handling, oldest first: the session task pushes
    // (and takes back the one it just pushed when the count refuses it), the drainer pops
    // what is counted. Empty and without a buffer while no burst runs: a lone packet, the
    // common case, goes to its drainer with the task. Held to push or pop only.
    //
    // A lock rather than a channel: a channel's message cost a node allocated and freed and
    // its atomics (futures-channel, tried first: about 600 instructions a packet under
    // callgrind), which cost echo with ack, whose packets come in bursts, about 9 % of its
    // rate (bench/results/2026-12-06.md); uncontended, a lock is two atomics, and echo came
    // back to within 1 % of the instructions per ack it took before the queue had one owner.
    inbox: Mutex<VecDeque<Packet>>,
    // Tells a running drainer that the connection closed (one permit, no allocation).
    closed: Notify,
    // Set once every socket ran its disconnect handlers: the server's count of live clients
    // (which `SocketIo::close` waits on) is then lowered, once.
    finished: AtomicBool,
}

/// Room for the packets of a burst, made at its first packet (grows beyond).
const BURST: usize = 8;

/// The namespace sockets of a connection.
#[derive(Default)]
struct Sockets {
    /// One per namespace (a handful at most: a list).
    list: SocketList,
    /// Closes the connection if no namespace is joined in time; aborted by the first join
    /// (here rather than in a field of its own: every connection pays for each field).
    connect_timer: Option<AbortHandle>,
}

impl Sockets {
    fn socket(&self, ns: &str) -> Option<Socket> {
        self.list.iter().find(|s| s.ns() == ns).cloned()
    }
}

/// A connection's sockets in the order they joined, the first one inline: most connections
/// join one namespace, and a list of one would cost each of them an allocation. The others
/// are boxed: every connection pays for the pointer alone.
#[derive(Default)]
struct SocketList {
    /// `None` only if `rest` is `None` too.
    first: Option<Socket>,
    /// The sockets after the first (`None` rather than empty).
    #[allow(clippy::box_collection, reason = "a connection of one namespace holds one pointer")]
    rest: Option<Box<Vec<Socket>>>,
}

impl SocketList {
    fn iter(&self) -> impl Iterator<Item = &Socket> {
        self.first.iter().chain(self.rest.iter().flat_map(|rest| rest.iter()))
    }

    fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    fn push(&mut self, socket: Socket) {
        if self.first.is_none() {
            self.first = Some(socket);
        } else {
            let rest = self.rest.get_or_insert_with(Box::default);
            // Exact growth: a second namespace is rare, a third rarer.
            rest.reserve_exact(1);
            rest.push(socket);
        }
    }

    /// Keeps the sockets `keep` says yes to, in order.
    fn retain(&mut self, keep: impl Fn(&Socket) -> bool) {
        if let Some(rest) = self.rest.as_mut() {
            rest.retain(&keep);
        }
        if self.first.as_ref().is_some_and(|s| !keep(s)) {
            self.first = self.rest.as_mut().filter(|rest| !rest.is_empty()).map(|r| r.remove(0));
        }
        if self.rest.as_ref().is_some_and(|rest| rest.is_empty()) {
            self.rest = None;
        }
    }

    fn to_vec(&self) -> Vec<Socket> {
        self.iter().cloned().collect()
    }
}

/// Polls `fut` once on the caller's task; if it is not done, gives it back (to be finished by
/// a task, which polls it again at once: the future re-registers its waker then, as every
/// future must on each poll, so no wake-up is lost).
///
/// A panic in `fut` is caught and logged: it runs on a task that is not its own (the engine's
/// session task, whose end would go unhandled), so it ends only this handling, as if it had
/// panicked in a task of its own.
fn poll_now(mut fut: BoxFuture<()>) -> Option<BoxFuture<()>> {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx))) {
        Ok(Poll::Ready(())) => None,
        Ok(Poll::Pending) => Some(fut),
        Err(_) => {
            tracing::error!("a handler panicked");
            None
        }
    }
}

/// Polls `fut` once on the caller's task; if it is not done, a task finishes it.
fn run_now_or_spawn(fut: BoxFuture<()>) {
    if let Some(fut) = poll_now(fut) {
        // Owned by nobody: it ends when the handling does; in the caller's (connection's) span.
        tokio::spawn(fut.in_current_span());
    }
}

impl Client {
    /// A client for `conn`, with the decoder for its messages; the connect timeout starts now.
    pub(crate) fn spawn(conn: ConnRef, io: &Arc<IoInner>) -> Inbound {
        let config = io.config();
        let client = Arc::new(Client {
            conn,
            io: Arc::downgrade(io),
            max_pending: u32::try_from(config.max_pending_packets.max(1)).unwrap_or(u32::MAX),
            flow: Flow::new(),
            open: AtomicBool::new(true),
            reason: OnceLock::new(),
            sockets: Mutex::new(Sockets::default()),
            inbox: Mutex::new(VecDeque::new()),
            closed: Notify::new(),
            finished: AtomicBool::new(false),
        });
        let weak = Arc::downgrade(&client);
        let timeout = config.connect_timeout;
        // The connect timeout lives until the first namespace join aborts it (or it fires):
        // an idle connected client has no task.
        let timer = tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            if let Some(client) = weak.upgrade() {
                if lock(&client.sockets).list.is_empty() {
                    tracing::debug!(
                        sid = client.conn.sid(),
                        "no namespace joined in time: closing"
                    );
                    client.conn.close(EngineReason::ForcedClose);
                }
            }
        });
        lock(&client.sockets).connect_timer = Some(timer.abort_handle());
        let v3 = client.is_v3();
        let mut inbound = Inbound { client, decoder: io.parser().decoder(), last: None };
        if v3 {
            // A Socket.IO v2 client never asks for the main namespace: it is joined for it
            // (Node's `client.connect("/")` for protocol 3).
            inbound.enqueue(Packet::connect(MAIN_NAMESPACE, None));
        }
        inbound
    }

    /// The queue of packets behind the running handling.
    fn inbox(&self) -> MutexGuard<'_, VecDeque<Packet>> {
        lock(&self.inbox)
    }

    /// Whether the client speaks Engine.IO v3 and Socket.IO protocol v4 (a Socket.IO v2
    /// client, with `allow_eio3`): the main namespace is joined without a CONNECT, a CONNECT
    /// carries its auth as a query in the namespace and gets no sid, a socket's id is the
    /// Engine.IO id, and a refusal's payload is a plain message.
    pub(crate) fn is_v3(&self) -> bool {
        self.conn.protocol() == Protocol::V3
    }

    pub(crate) fn conn(&self) -> &ConnRef {
        &self.conn
    }

    /// The connection closed and every socket was disconnected: the server counts one live
    /// client less (the first call only).
    fn finish(&self) {
        if !self.finished.swap(true, Ordering::SeqCst) {
            if let Some(io) = self.io.upgrade() {
                io.client_finished();
            }
        }
    }

    /// Whether a handler of this connection's packets is running (`SocketIo::close` lets the
    /// running ones answer their acks before it closes the connection).
    pub(crate) fn is_busy(&self) -> bool {
        self.flow.handling()
    }

    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::SeqCst)
    }

    pub(crate) fn socket(&self, ns: &str) -> Option<Socket> {
        lock(&self.sockets).socket(ns)
    }

    /// The socket of namespace `ns`: `last` (the one the caller used last) while it is still
    /// connected to `ns`, else looked up and kept in `last`. A connected socket is never
    /// replaced by another for its namespace (a second CONNECT is refused), so this finds
    /// what the lookup would, without a lock.
    fn cached(&self, last: &mut Option<Socket>, ns: &str) -> Option<Socket> {
        if let Some(s) = last.as_ref().filter(|s| s.ns() == ns && s.connected()) {
            return Some(s.clone());
        }
        let found = self.socket(ns);
        last.clone_from(&found);
        found
    }

    /// The socket a packet about to be handled is for (events and disconnects only).
    fn target(&self, last: &mut Option<Socket>, packet: &Packet) -> Option<Socket> {
        match packet.data {
            PacketData::Event { .. } | PacketData::Disconnect => self.cached(last, &packet.ns),
            _ => None,
        }
    }

    pub(crate) fn add_socket(&self, socket: Socket) {
        let timer = {
            let mut sockets = lock(&self.sockets);
            let list = &mut sockets.list;
            list.retain(|s| s.ns() != socket.ns());
            list.push(socket);
            sockets.connect_timer.take()
        };
        if let Some(timer) = timer {
            timer.abort();
        }
    }

    fn stop_connect_timer(&self) {
        let timer = lock(&self.sockets).connect_timer.take();
        if let Some(timer) = timer {
            timer.abort();
        }
    }

    pub(crate) fn remove_socket(&self, ns: &str) {
        lock(&self.sockets).list.retain(|s| s.ns() != ns);
    }

    fn all_sockets(&self) -> Vec<Socket> {
        lock(&self.sockets).list.to_vec()
    }

    /// Encodes and queues a packet that belongs to no socket (CONNECT answers and errors).
    pub(crate) fn send_packet(&self, packet: &Packet) {
        let Some(io) = self.io.upgrade() else { return };
        if let Err(e) = self.conn.send_many(io.parser().encode(packet)) {
            tracing::debug!(sid = self.conn.sid(), %e, "packet not sent");
        }
    }

    /// Why the connection closed (once it did).
    fn close_reason(&self) -> DisconnectReason {
        self.reason.get().copied().unwrap_or(DisconnectReason::TransportClose)
    }

    /// A running handling ended: the last one after the close disconnects the sockets.
    fn runner_done(self: &Arc<Self>) {
        if let Some(Close::RunNow) = self.flow.runner_done() {
            self.run_close();
        }
    }

    /// Disconnects the sockets after the close, with its reason, and counts the client
    /// finished.
    fn run_close(self: &Arc<Self>) {
        let client = self.clone();
        run_now_or_spawn(Box::pin(async move {
            client.close_all(client.close_reason()).await;
            client.finish();
        }));
    }

    /// The drainer: finishes the first handling (`Err`: one that started inline), then runs
    /// the packets of its inbox one by one, in order, and ends once none is counted. Packets
    /// queued before the connection closed still run first, as a close comes after them; if
    /// one of them waits, the sockets disconnect meanwhile (see [`Client::on_close`]).
    async fn drain(self: Arc<Self>, first: Result<(Packet, Option<Socket>), BoxFuture<()>>) {
        // Whether a packet was taken from the inbox (its buffer is given back at the end).
        let mut burst = false;
        // The socket of the last packet: the next one usually is for it too.
        let mut last = None;
        // The packet to run, with its socket (the first one's looked up by the session task).
        let mut next = match first {
            Ok((packet, socket)) => {
                last.clone_from(&socket);
                Some((packet, socket))
            }
            Err(started) => {
                if !self.run_one(started).await {
                    return self.runner_done();
                }
                None
            }
        };
        loop {
            if let Some((packet, socket)) = next.take() {
                // Pinned here, in the drainer's own state: handed on by reference, the (large)
                // handling future is never moved.
                let handling = self.handle(packet, socket);
                tokio::pin!(handling);
                if !self.run_one(handling).await {
                    break;
                }
            }
            if !self.flow.is_closed() && self.flow.alone() {
                // None behind it: once, the other tasks run first (this connection's engine
                // task may read the next burst meanwhile, sent here without a new task).
                tokio::task::yield_now().await;
            }
            // That packet is handled.
            if self.flow.handled() == Next::Stop {
                break;
            }
            // Counted, so queued before (the oldest is the next one counted). Its socket is
            // looked up now, after the packets before it ran (a CONNECT among them makes the
            // socket an event behind it is for).
            burst = true;
            let packet = self.inbox().pop_front();
            debug_assert!(packet.is_some(), "a counted packet was not queued");
            let Some(packet) = packet else { break };
            let socket = self.target(&mut last, &packet);
            next = Some((packet, socket));
        }
        if burst {
            // Gives the buffer back: an idle connection holds none. Not if a packet is there:
            // the session task queued it and is about to take it back (this runner ended
            // before it was counted), or it was left behind at a close.
            let mut inbox = self.inbox();
            if inbox.is_empty() {
                *inbox = VecDeque::new();
            }
        }
        self.runner_done();
    }

    /// Runs one packet's handling; false if the connection closed meanwhile (the sockets are
    /// disconnected then, and the packets behind it dropped).
    async fn run_one(self: &Arc<Self>, handling: impl Future<Output = ()> + Unpin) -> bool {
        // A handler that panics ends its own handling only (logged), as on the engine's task
        // (see `poll_now`): the packets behind it still run.
        let handling = async move {
            if AssertUnwindSafe(handling).catch_unwind().await.is_err() {
                tracing::error!("a handler panicked");
            }
        };
        tokio::pin!(handling);
        tokio::select! {
            biased;
            () = &mut handling => true,
            () = self.closed.notified() => {
                // The connection closed while a handler runs (maybe waiting for an ack
                // that will never come): as in Node, the sockets disconnect now, and the
                // handler still runs to its end; the packets behind it are dropped (with the
                // inbox, as the drainer ends).
                let reason = self.close_reason();
                // Boxed, as rare and large (the disconnect handlers): the drainer task stays
                // small for the common case.
                let closing = Box::pin(async {
                    self.close_said_goodbye().await;
                    self.close_all(reason).await;
                    self.finish();
                });
                tokio::join!(handling, closing);
                // A namespace the handler joined after the first pass.
                Box::pin(self.close_all(reason)).await;
                false
            }
        }
    }

    /// The engine closed the connection.
    pub(crate) fn on_close(self: &Arc<Self>, reason: DisconnectReason) {
        self.open.store(false, Ordering::SeqCst);
        self.stop_connect_timer();
        // No answer can come anymore: fail every pending emit_with_ack at once, so that a
        // handler waiting for one ends.
        for s in self.all_sockets() {
            s.fail_acks();
        }
        if self.reason.set(reason).is_err() {
            return;
        }
        if self.flow.close() == Close::TellRunner {
            // A runner disconnects the sockets: at once if its handler waits, else once the
            // packets queued before the close ran. One permit, kept until it looks.
            self.closed.notify_one();
            return;
        }
        let client = self.clone();
        run_now_or_spawn(Box::pin(async move {
            client.close_all(reason).await;
            client.finish();
        }));
    }

    /// At a close while a handler waits: the sockets whose DISCONNECT is queued behind it
    /// leave as their client asked (`client namespace disconnect`), not with the close's
    /// reason. The client said goodbye before its transport closed, and Node, which reads
    /// every packet as it arrives, sees it so: a deliberate leave is neither held for
    /// recovery nor taken for a cut.
    async fn close_said_goodbye(&self) {
        let namespaces: Vec<Str> = self
            .inbox()
            .iter()
            .filter(|p| matches!(p.data, PacketData::Disconnect))
            .map(|p| p.ns.clone())
            .collect();
        for ns in namespaces {
            if let Some(s) = self.socket(&ns) {
                s.on_close(DisconnectReason::ClientNamespaceDisconnect).await;
            }
        }
    }

    /// Disconnects every socket of this connection with `reason`.
    pub(crate) async fn close_all(&self, reason: DisconnectReason) {
        let sockets: Vec<Socket> = self.all_sockets();
        for s in sockets {
            s.on_close(reason).await;
        }
    }

    /// The connection upgraded its transport.
    pub(crate) fn on_upgrade(&self) {
        let transport = self.conn.transport();
        let sockets: Vec<Socket> = self.all_sockets();
        for s in sockets {
            s.notify_upgrade(transport);
        }
    }

    /// Disconnects every socket as if the server called `disconnect()` on each.
    pub(crate) async fn disconnect_all(&self) {
        let sockets: Vec<Socket> = self.all_sockets();
        for s in sockets {
            s.disconnect_one().await;
        }
    }

    /// Handles `packet`; `socket` is its namespace's socket, looked up when it was taken from
    /// the inbox (see [`Client::target`]).
    async fn handle(self: &Arc<Self>, packet: Packet, socket: Option<Socket>) {
        let Packet { ns, data } = packet;
        match data {
            // Boxed: once per namespace joined, and large (the connect middleware and
            // handlers), it would make every drainer task as large (each spawn copies it).
            PacketData::Connect(auth) => Box::pin(self.connect(&ns, auth)).await,
            PacketData::Disconnect => {
                if let Some(s) = socket {
                    // Boxed, as a connect: once per namespace left, and large.
                    Box::pin(s.on_close(DisconnectReason::ClientNamespaceDisconnect)).await;
                }
            }
            PacketData::Event { event, payload, ack } => match socket {
                Some(s) => s.dispatch(event, payload, ack).await,
                None => {
                    tracing::debug!(sid = self.conn.sid(), %ns, "event for a namespace not joined")
                }
            },
            _ => {
                tracing::debug!(sid = self.conn.sid(), "unexpected packet from a client: closing");
                self.conn.close(EngineReason::ParseError);
            }
        }
    }

    async fn connect(self: &Arc<Self>, ns: &str, auth: Option<Value>) {
        // Protocol v4: `/admin?token=abc`, the query is the auth (Node's `_parseNamespace`).
        let (ns, auth) = match ns.split_once('?') {
            Some((path, query)) if self.is_v3() => {
                // In the query's order, as Node's object keys.
                let auth = crate::query::query_pairs(query)
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect::<serde_json::Map<_, _>>();
                (path, Some(Value::Object(auth)))
            }
            _ => (ns, auth),
        };
        let Some(io) = self.io.upgrade() else { return };
        if self.socket(ns).is_some() {
            tracing::debug!(sid = self.conn.sid(), ns, "already connected to this namespace");
            return;
        }
        let auth = auth.unwrap_or_else(|| Value::Object(serde_json::Map::new()));
        let Some(namespace) = io.namespace_for(ns, &auth) else {
            self.send_packet(&Packet::connect_error(ns, "Invalid namespace", None));
            return;
        };
        let handshake = self.conn.clone().request().handshake(auth);
        namespace.connect(self, handshake).await;
    }
}

#[cfg(all(test, switchboard_loom))]
mod loom_tests;

impl Drop for Client {
    /// A client nothing refers to anymore (its connection never reported a close, as an
    /// in-process test connection given up on) has nothing left to run: it counts as finished.
    fn drop(&mut self) {
        self.finish();
    }
}
