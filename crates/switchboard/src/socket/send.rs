//! Sending to one socket: ack bookkeeping, outgoing listeners, the engine's send queue and the
//! gate that holds live packets back while recovered ones are replayed.

use switchboard_adapter::{BroadcastOptions, Offset};
use switchboard_engine::{DisconnectReason as EngineReason, EncodedMessage, SendError};
use switchboard_proto::socket::{Packet, PacketData, Payload};

use std::sync::atomic::Ordering;

use switchboard_adapter::{AckSender, BroadcastFlags, LocalSocket};

use super::{Gated, Phase, Socket, SocketInner};
use crate::EmitError;
use crate::ack::AckWaiter;

impl Socket {
    /// The next ack id, from the namespace's counter: broadcasts with ack register their
    /// waiters in the same map, so single emits must not reuse their ids (Node's `nsp._ids`).
    pub(crate) fn next_ack_id(&self) -> u64 {
        switchboard_adapter::LocalNamespace::next_ack_id(&*self.0.ns)
    }

    pub(crate) fn forget_ack(&self, id: u64) {
        if let Some(acks) = &mut self.state().acks {
            acks.remove(&id);
        }
    }

    pub(crate) fn register_ack(&self, id: u64, waiter: AckWaiter) -> Result<(), EmitError> {
        let mut state = self.state();
        if self.0.phase() != Phase::Connected || self.0.acks_closed.load(Ordering::SeqCst) {
            return Err(EmitError::Closed);
        }
        // Drop the waiters of emitters that gave up, so an unanswering client cannot make
        // the map grow.
        let acks = state.acks.get_or_insert_with(Box::default);
        acks.retain(|_, w| !w.is_abandoned());
        acks.insert(id, waiter);
        Ok(())
    }

    pub(crate) fn register_broadcast_ack(&self, id: u64, waiter: AckWaiter) -> bool {
        self.register_ack(id, waiter).is_ok()
    }

    /// Fails every pending ack and refuses new ones: the client cannot answer anymore.
    pub(crate) fn fail_acks(&self) {
        let mut state = self.state();
        self.0.acks_closed.store(true, Ordering::SeqCst);
        // Dropping the waiters tells every pending emit_with_ack that the socket left.
        state.acks = None;
    }

    /// Resolves an ack the client sent.
    pub(crate) fn on_ack(&self, id: u64, payload: Payload) {
        let waiter = self.state().acks.as_mut().and_then(|acks| acks.remove(&id));
        match waiter {
            Some(w) => w.resolve(payload),
            None => tracing::debug!(socket = %self.id(), id, "ack for an unknown id ignored"),
        }
    }

    fn notify_outgoing(&self, packet: &Packet) {
        // `special` is clear only when there is no outgoing listener: no lock then.
        if !self.0.special.load(Ordering::SeqCst) {
            return;
        }
        if let PacketData::Event { event, payload, .. } = &packet.data {
            let listeners = self.state().extra(|e| &e.any_outgoing);
            for l in listeners {
                l(self, event, payload);
            }
        }
    }

    /// Encodes and queues a packet for this client.
    /// Fails with [`EmitError::Closed`] once the socket left its namespace: the connection may
    /// still be open for other namespaces, and the client must not get packets for this one.
    pub(crate) fn send_packet(&self, packet: &Packet, volatile: bool) -> Result<(), EmitError> {
        // No lock: the phase is an atomic (one lock less per packet sent).
        if self.0.phase() == Phase::Disconnected {
            return Err(EmitError::Closed);
        }
        self.notify_outgoing(packet);
        let messages = self.0.ns.encode_packet(packet);
        if volatile {
            return self.send_raw(&messages, volatile);
        }
        // Encoded for this socket alone: queued by move.
        let sent = self.0.conn.send_encoded_owned(messages);
        self.0.sent(sent)
    }

    /// Queues one message encoded for this socket alone (an ack written straight).
    /// Fails as [`Socket::send_packet`] does.
    pub(crate) fn send_wire(&self, message: EncodedMessage) -> Result<(), EmitError> {
        if self.0.phase() == Phase::Disconnected {
            return Err(EmitError::Closed);
        }
        let sent = self.0.conn.send_encoded_one(message);
        self.0.sent(sent)
    }

    /// Whether this socket's namespace writes packets with the default JSON parser.
    pub(crate) fn is_json(&self) -> bool {
        self.0.ns.is_json()
    }

    /// Queues pre-encoded messages (a broadcast).
    pub(crate) fn send_raw(
        &self,
        messages: &[EncodedMessage],
        volatile: bool,
    ) -> Result<(), EmitError> {
        self.0.send_raw(messages, volatile)
    }

    /// Queues a broadcast (`offset`: its place in the recovery log). While a replay runs, it
    /// waits behind the gate.
    pub(crate) fn deliver(
        &self,
        packet: &Packet,
        messages: &[EncodedMessage],
        volatile: bool,
        offset: Option<&Offset>,
    ) {
        self.0.deliver(packet, messages, volatile, offset);
    }

    /// Sends a packet to this socket alone through the adapter, which logs it (recovery on).
    /// The in-memory adapter does it at once; a future that is not ready at once (a cluster
    /// adapter's round trip) finishes on its own task.
    pub(crate) fn emit_logged(&self, packet: Packet, volatile: bool) -> Result<(), EmitError> {
        let mut opts = BroadcastOptions::new().to(self.id().room());
        opts.flags.volatile = volatile;
        let adapter = self.0.ns.adapter().clone();
        let mut fut = Box::pin(async move { adapter.broadcast(packet, opts).await });
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(result) => result.map_err(EmitError::from),
            std::task::Poll::Pending => {
                // Owned by nobody: it ends when the adapter has sent the packet.
                tokio::spawn(async move {
                    if let Err(e) = fut.await {
                        tracing::debug!(error = %e, "packet to a socket not sent");
                    }
                });
                Ok(())
            }
        }
    }

    /// Holds live deliveries until [`Socket::open_gate`].
    pub(crate) fn close_gate(&self) {
        let mut state = self.state();
        state.gate = Some(Box::default());
        // Set under the lock: deliveries look at the gate from now on.
        self.0.special.store(true, Ordering::SeqCst);
    }

    /// Sends the held deliveries, except logged ones at or before `replayed` (the replay had
    /// them), and lets the next ones through.
    pub(crate) fn open_gate(&self, replayed: Option<&Offset>) {
        let mut state = self.state();
        // Sent under the state lock so that no new delivery overtakes the held ones.
        for held in state.gate.take().map(|g| *g).unwrap_or_default() {
            if held.offset.is_some() && held.offset.as_ref() <= replayed {
                continue;
            }
            if let Err(e) = self.send_raw(&held.messages, held.volatile) {
                tracing::debug!(socket = %self.id(), %e, "held broadcast not delivered");
            }
        }
        // Cleared under the lock, after the held deliveries were queued: a delivery that
        // sees it cleared goes after them.
        let listeners = state.extras.as_deref().is_some_and(|e| !e.any_outgoing.is_empty());
        self.0.special.store(listeners, Ordering::SeqCst);
    }

    /// Whether a packet sent to this socket alone goes through the adapter (and into the
    /// recovery log), as Node does with recovery on.
    pub(crate) fn logs_own_packets(&self) -> bool {
        self.0.pid.is_some() && self.0.phase() != Phase::Pending
    }
}

impl SocketInner {
    /// Queues pre-encoded messages (a broadcast). A volatile packet is dropped when the
    /// transport is not writable now (as Node); a full queue closes the connection for any
    /// other packet (the client does not keep up), never a silent drop.
    fn send_raw(&self, messages: &[EncodedMessage], volatile: bool) -> Result<(), EmitError> {
        if volatile {
            return match self.conn.send_encoded_volatile(messages) {
                Ok(true) => Ok(()),
                Ok(false) => {
                    tracing::trace!(socket = %self.id, "volatile packet dropped: not writable");
                    Ok(())
                }
                Err(e) => Err(EmitError::Send(e)),
            };
        }
        self.sent(self.conn.send_encoded(messages))
    }

    /// What a non-volatile send's result means: a full queue closes the connection.
    fn sent(&self, result: Result<(), SendError>) -> Result<(), EmitError> {
        match result {
            Ok(()) => Ok(()),
            Err(SendError::Full) => {
                tracing::warn!(socket = %self.id, "send buffer full: closing the connection");
                self.conn.close(EngineReason::TransportError);
                Err(EmitError::Send(SendError::Full))
            }
            Err(e) => Err(EmitError::Send(e)),
        }
    }

    /// Queues a broadcast (`offset`: its place in the recovery log). While a replay runs, it
    /// waits behind the gate.
    fn deliver(
        &self,
        packet: &Packet,
        messages: &[EncodedMessage],
        volatile: bool,
        offset: Option<&Offset>,
    ) {
        // The common case (no listener, no replay, not volatile) takes no lock per recipient
        // and is nothing but the send: the rest is apart, so that this one saves no registers.
        if volatile || self.special.load(Ordering::SeqCst) {
            self.deliver_special(packet, messages, volatile, offset);
            return;
        }
        if let Err(e) = self.conn.send_encoded(messages) {
            self.not_delivered(e);
        }
    }

    /// [`SocketInner::deliver`] for a volatile packet, or to a socket with outgoing listeners
    /// or a replay gate.
    #[inline(never)]
    fn deliver_special(
        &self,
        packet: &Packet,
        messages: &[EncodedMessage],
        volatile: bool,
        offset: Option<&Offset>,
    ) {
        if self.special.load(Ordering::SeqCst) {
            let mut state = self.state();
            if state.extras.as_deref().is_some_and(|e| !e.any_outgoing.is_empty()) {
                // Listeners run without the lock (they may emit).
                drop(state);
                if let Some(me) = self.me.upgrade() {
                    Socket(me).notify_outgoing(packet);
                }
                state = self.state();
            }
            if let Some(gate) = &mut state.gate {
                gate.push(Gated { offset: offset.cloned(), messages: messages.to_vec(), volatile });
                return;
            }
        }
        if let Err(e) = self.send_raw(messages, volatile) {
            tracing::debug!(socket = %self.id, %e, "broadcast not delivered");
        }
    }

    /// A broadcast could not be queued: a full queue closes the connection (see
    /// [`SocketInner::sent`]).
    #[cold]
    #[inline(never)]
    fn not_delivered(&self, error: SendError) {
        if let Err(e) = self.sent(Err(error)) {
            tracing::debug!(socket = %self.id, %e, "broadcast not delivered");
        }
    }
}

/// The adapter reaches a socket in its rooms through this, without a lookup by id.
impl LocalSocket for SocketInner {
    fn deliver(
        &self,
        packet: &Packet,
        messages: &[EncodedMessage],
        flags: &BroadcastFlags,
        offset: Option<&Offset>,
    ) {
        crate::metrics::broadcast_recipient();
        SocketInner::deliver(self, packet, messages, flags.volatile, offset);
    }

    fn deliver_with_ack(
        &self,
        packet: &Packet,
        messages: &[EncodedMessage],
        ack_id: u64,
        responses: &AckSender,
        flags: &BroadcastFlags,
    ) -> bool {
        let Some(me) = self.me.upgrade() else { return false };
        crate::metrics::broadcast_recipient();
        Socket(me).deliver_with_ack(packet, messages, ack_id, responses, flags)
    }

    fn prefetch(&self) {
        self.conn.prefetch();
    }
}

impl Socket {
    /// Registers the answer to a broadcast with ack, then queues the broadcast; false if the
    /// socket cannot answer anymore.
    pub(crate) fn deliver_with_ack(
        &self,
        packet: &Packet,
        messages: &[EncodedMessage],
        ack_id: u64,
        responses: &AckSender,
        flags: &BroadcastFlags,
    ) -> bool {
        let waiter = AckWaiter::Broadcast(self.id().clone(), responses.clone());
        if !self.register_broadcast_ack(ack_id, waiter) {
            return false;
        }
        self.deliver(packet, messages, flags.volatile, None);
        true
    }
}
