//! One Engine.IO connection and the namespace sockets multiplexed on it.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};

use futures_util::FutureExt as _;
use serde_json::Value;
use switchboard_engine::{DisconnectReason as EngineReason, Message, TransportKind};
use switchboard_proto::socket::{Decode, DecodeError, Packet, PacketData};
use tokio::sync::Notify;
use tokio::task::AbortHandle;

use crate::conn::ConnRef;
use crate::event::BoxFuture;
use crate::handshake::RequestSource;
use crate::io::IoInner;
use crate::{DisconnectReason, Socket};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the data consistent, so a poisoned lock is usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What only the engine's session task touches of a connection: the packet decoder (which
/// holds a binary packet's attachments until they all arrived). The session task owns it,
/// with the engine session, and lends it to each message: no lock.
pub(crate) struct Inbound {
    client: Arc<Client>,
    decoder: Box<dyn Decode>,
}

impl Inbound {
    /// The client connection these messages are for.
    pub(crate) fn client(&self) -> &Arc<Client> {
        &self.client
    }

    /// A message from the engine: decoded here, then handed to the client.
    pub(crate) fn on_message(&mut self, message: Message) {
        let decoded = self.decoder.decode(message);
        self.client.on_decoded(decoded);
    }
}

/// Room made in a connection's packet queue at once.
const BURST: usize = 8;

/// A client connection: decodes its messages and runs its packets in order.
///
/// No task waits on an idle connection. A packet arriving while none is handled starts a
/// drainer task, which runs it and the packets queued behind it, one at a time, and ends once
/// the queue is empty. Only one drainer exists at a time, so packets keep their order.
pub(crate) struct Client {
    conn: ConnRef,
    request: RequestSource,
    io: Weak<IoInner>,
    /// `SocketIoConfig::max_pending_packets` (at least 1), read once; 32 bits, so that it
    /// shares a word with `open`.
    max_pending: u32,
    open: AtomicBool,
    // Packets waiting for the one running handling, and whether one runs; the sockets; the
    // connect timer. Pushed to by the engine's session task, popped by the handling (which
    // finds the packet's socket under the same lock). Never held across an await.
    work: Mutex<Work>,
    // Tells a running drainer that the connection closed (one permit, no allocation).
    closed: Notify,
    // Set once every socket ran its disconnect handlers: the server's count of live clients
    // (which `SocketIo::close` waits on) is then lowered, once.
    finished: AtomicBool,
}

/// The packets of a connection waiting for their handling.
#[derive(Default)]
struct Work {
    /// Packets behind the running one, in arrival order (allocated only while busy).
    queue: VecDeque<Packet>,
    /// Whether a packet is being handled (inline or by the drainer task).
    running: bool,
    /// Set once by the first `on_close`.
    closed: Option<DisconnectReason>,
    /// The sockets of this connection, one per namespace (a handful at most: a list). Written
    /// by the packet handling (connect, disconnect), read with each packet popped, by the
    /// engine callback (acks) and by `close_all`.
    sockets: Vec<Socket>,
    /// Closes the connection if no namespace is joined in time; aborted by the first join
    /// (here rather than in a field of its own: every connection pays for each field).
    connect_timer: Option<AbortHandle>,
}

impl Work {
    fn socket(&self, ns: &str) -> Option<Socket> {
        self.sockets.iter().find(|s| s.ns() == ns).cloned()
    }

    /// The socket a packet about to be handled is for (events and disconnects only).
    fn target(&self, packet: &Packet) -> Option<Socket> {
        match packet.data {
            PacketData::Event { .. } | PacketData::Disconnect => self.socket(&packet.ns),
            _ => None,
        }
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
        // Owned by nobody: it ends when the handling does.
        tokio::spawn(fut);
    }
}

impl Client {
    /// A client for `conn`, with the decoder for its messages; the connect timeout starts now.
    pub(crate) fn spawn(conn: ConnRef, request: RequestSource, io: &Arc<IoInner>) -> Inbound {
        let config = io.config();
        let client = Arc::new(Client {
            conn,
            request,
            io: Arc::downgrade(io),
            max_pending: u32::try_from(config.max_pending_packets.max(1)).unwrap_or(u32::MAX),
            open: AtomicBool::new(true),
            work: Mutex::new(Work::default()),
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
                if lock(&client.work).sockets.is_empty() {
                    tracing::debug!(
                        sid = client.conn.sid(),
                        "no namespace joined in time: closing"
                    );
                    client.conn.close(EngineReason::ForcedClose);
                }
            }
        });
        lock(&client.work).connect_timer = Some(timer.abort_handle());
        Inbound { client, decoder: io.parser().decoder() }
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

    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::SeqCst)
    }

    pub(crate) fn socket(&self, ns: &str) -> Option<Socket> {
        lock(&self.work).socket(ns)
    }

    pub(crate) fn add_socket(&self, socket: Socket) {
        let timer = {
            let mut work = lock(&self.work);
            let sockets = &mut work.sockets;
            sockets.retain(|s| s.ns() != socket.ns());
            // Exact growth: most connections join one namespace (the default reserves four).
            sockets.reserve_exact(1);
            sockets.push(socket);
            work.connect_timer.take()
        };
        if let Some(timer) = timer {
            timer.abort();
        }
    }

    fn stop_connect_timer(&self) {
        let timer = lock(&self.work).connect_timer.take();
        if let Some(timer) = timer {
            timer.abort();
        }
    }

    pub(crate) fn remove_socket(&self, ns: &str) {
        lock(&self.work).sockets.retain(|s| s.ns() != ns);
    }

    fn all_sockets(&self) -> Vec<Socket> {
        lock(&self.work).sockets.clone()
    }

    /// Encodes and queues a packet that belongs to no socket (CONNECT answers and errors).
    pub(crate) fn send_packet(&self, packet: &Packet) {
        let Some(io) = self.io.upgrade() else { return };
        if let Err(e) = self.conn.send_many(io.parser().encode(packet)) {
            tracing::debug!(sid = self.conn.sid(), %e, "packet not sent");
        }
    }

    /// A decoded message from the engine: acks are resolved at once (a handler may be waiting
    /// for one), other packets are handled in order.
    fn on_decoded(self: &Arc<Self>, decoded: Result<Option<Packet>, DecodeError>) {
        match decoded {
            Ok(None) => {}
            Ok(Some(Packet { ns, data: PacketData::Ack { payload, ack } })) => {
                match self.socket(&ns) {
                    Some(s) => s.on_ack(ack, payload),
                    None => {
                        tracing::debug!(sid = self.conn.sid(), %ns, "ack for a namespace not joined")
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
                tracing::debug!(sid = self.conn.sid(), error = %e, "parse error: closing");
                self.conn.close(EngineReason::ParseError);
            }
        }
    }

    /// Handles `packet` now if nothing runs, else queues it behind the running handling.
    fn enqueue(self: &Arc<Self>, packet: Packet) {
        let mut work = lock(&self.work);
        if work.closed.is_some() {
            return;
        }
        if work.running {
            if work.queue.len() >= usize::try_from(self.max_pending).unwrap_or(usize::MAX) {
                drop(work);
                tracing::warn!(
                    sid = self.conn.sid(),
                    "too many packets waiting for handlers: closing"
                );
                self.conn.close(EngineReason::TransportError);
                return;
            }
            work.queue.push_back(packet);
            return;
        }
        work.running = true;
        if self.conn.transport() == TransportKind::Polling {
            // Over polling, answers wait for the next GET whatever runs them: the packet is
            // handled at once, on the engine's task, and a task only finishes a handling
            // that waits for something.
            let socket = work.target(&packet);
            drop(work);
            let client = self.clone();
            let first = poll_now(Box::pin(async move { client.handle(packet, socket).await }));
            let mut work = lock(&self.work);
            if first.is_none() && work.queue.is_empty() && work.closed.is_none() {
                work.running = false;
                return;
            }
            drop(work);
            let client = self.clone();
            tokio::spawn(async move { client.drain(first).await });
            return;
        }
        if work.queue.capacity() == 0 {
            // A burst (the rest of a read) usually follows: room for a few at once rather
            // than growing 4, 8 (freed when the drainer ends).
            work.queue.reserve(BURST);
        }
        work.queue.push_back(packet);
        drop(work);
        let client = self.clone();
        // The drainer: ends once the queue is empty. A task rather than handling inline on
        // the engine's task: the engine then reads the rest of a burst before it writes, so
        // the answers of a burst go out in one write (inline, each answer cost a write: echo
        // with ack ran at a quarter of the rate).
        tokio::spawn(async move { client.drain(None).await });
    }

    /// The drainer: finishes `first` (a handling that started inline), then runs the queued
    /// packets one by one, in order, and ends when none is left. Packets queued before the
    /// connection closed still run first, as a close comes after them; if one of them waits,
    /// the sockets disconnect meanwhile (see [`Client::on_close`]).
    async fn drain(self: &Arc<Self>, first: Option<BoxFuture<()>>) {
        if let Some(first) = first {
            if !self.run_one(first).await {
                return;
            }
        }
        // Whether the drainer already let the other tasks run once since its queue emptied.
        let mut lingered = false;
        loop {
            let next = {
                let mut work = lock(&self.work);
                // The packet's socket is looked up under the same lock: one lock per packet.
                let next = work.queue.pop_front().map(|p| {
                    let socket = work.target(&p);
                    (p, socket)
                });
                if next.is_none() && (lingered || work.closed.is_some()) {
                    work.running = false;
                    // Gives the queue's buffer back: an idle connection holds none.
                    work.queue = VecDeque::new();
                }
                (next, work.closed)
            };
            let (packet, socket) = match next {
                (Some(next), _) => {
                    lingered = false;
                    next
                }
                (None, None) if !lingered => {
                    // Empty: once, the other tasks run first (this connection's engine task
                    // may read the next burst meanwhile, queued here without a new task).
                    lingered = true;
                    tokio::task::yield_now().await;
                    continue;
                }
                (None, Some(reason)) => {
                    // The connection closed while packets were queued: they ran, now the
                    // sockets disconnect.
                    self.close_all(reason).await;
                    self.finish();
                    return;
                }
                (None, None) => return,
            };
            // Pinned here, in the drainer's own state: handed on by reference, the (large)
            // handling future is never moved.
            let handling = self.handle(packet, socket);
            tokio::pin!(handling);
            if !self.run_one(handling).await {
                return;
            }
        }
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
                // handler still runs to its end; the packets behind it are dropped.
                let reason = lock(&self.work).closed.unwrap_or(DisconnectReason::TransportClose);
                let closing = async {
                    self.close_all(reason).await;
                    self.finish();
                };
                tokio::join!(handling, closing);
                {
                    let mut work = lock(&self.work);
                    work.running = false;
                    work.queue = VecDeque::new();
                }
                // A namespace the handler joined after the first pass.
                self.close_all(reason).await;
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
        let draining = {
            let mut work = lock(&self.work);
            if work.closed.is_some() {
                return;
            }
            work.closed = Some(reason);
            work.running
        };
        if draining {
            // The drainer disconnects the sockets: at once if its handler waits, else once
            // the packets queued before the close ran. One permit, kept until it looks.
            self.closed.notify_one();
            return;
        }
        let client = self.clone();
        run_now_or_spawn(Box::pin(async move {
            client.close_all(reason).await;
            client.finish();
        }));
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
    /// the queue (see [`Work::target`]).
    async fn handle(self: &Arc<Self>, packet: Packet, socket: Option<Socket>) {
        let Packet { ns, data } = packet;
        match data {
            PacketData::Connect(auth) => self.connect(&ns, auth).await,
            PacketData::Disconnect => {
                if let Some(s) = socket {
                    s.on_close(DisconnectReason::ClientNamespaceDisconnect).await;
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
        let handshake = self.request.handshake(auth);
        namespace.connect(self, handshake).await;
    }
}

impl Drop for Client {
    /// A client nothing refers to anymore (its connection never reported a close, as an
    /// in-process test connection given up on) has nothing left to run: it counts as finished.
    fn drop(&mut self) {
        self.finish();
    }
}
