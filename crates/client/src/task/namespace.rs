//! The state of one namespace's socket, owned by the manager task.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use switchboard_proto::Str;
use switchboard_proto::socket::{EventName, Packet, Payload};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::handlers::Listener;
use crate::manager::Emit;
use crate::socket::{Shared, Status};
use crate::{AckError, ConnectError, DisconnectReason, Event};

/// Ack deadlines of every namespace: `(when, namespace, ack id)`.
pub(crate) type Deadlines = BTreeSet<(Instant, Str, u64)>;

type Reply = oneshot::Sender<Result<Payload, AckError>>;

/// Who waits for an acknowledgement.
enum AckTarget {
    /// An `emit_with_ack` caller.
    User(Reply),
    /// The retry queue's packet number `seq`.
    Queue(u64),
}

/// An emit of the retry queue (`retries` > 0): sent one at a time, retried until acknowledged.
struct Queued {
    seq: u64,
    event: EventName,
    payload: Payload,
    tries: u32,
    pending: bool,
    timeout: Option<Duration>,
    reply: Option<Reply>,
}

/// Timing settings the namespace needs from the options.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AckSettings {
    pub(crate) timeout: Option<Duration>,
    pub(crate) retries: u32,
}

/// One namespace's socket state.
pub(crate) struct Namespace {
    ns: Str,
    shared: Arc<Shared>,
    status: watch::Sender<Status>,
    pub(crate) active: bool,
    pub(crate) connected: bool,
    pid: Option<String>,
    offset: Option<String>,
    next_ack: u64,
    acks: HashMap<u64, AckTarget>,
    /// Packets emitted while disconnected (with their ack id), sent on connect.
    send_buffer: VecDeque<(Packet, Option<u64>)>,
    queue: VecDeque<Queued>,
    next_seq: u64,
}

impl Namespace {
    pub(crate) fn new(ns: Str, shared: Arc<Shared>, status: watch::Sender<Status>) -> Self {
        Namespace {
            ns,
            shared,
            status,
            active: false,
            connected: false,
            pid: None,
            offset: None,
            next_ack: 0,
            acks: HashMap::new(),
            send_buffer: VecDeque::new(),
            queue: VecDeque::new(),
            next_seq: 0,
        }
    }

    pub(crate) fn set_active(&mut self, active: bool) {
        self.active = active;
        self.status.send_modify(|s| s.active = active);
    }

    /// The `CONNECT` packet, with the session to recover, if any.
    pub(crate) fn connect_packet(&self, auth: Option<Value>) -> Packet {
        let data = match &self.pid {
            None => auth,
            Some(pid) => {
                let mut map = Map::new();
                map.insert("pid".into(), Value::String(pid.clone()));
                if let Some(offset) = &self.offset {
                    map.insert("offset".into(), Value::String(offset.clone()));
                }
                if let Some(Value::Object(auth)) = auth {
                    map.extend(auth);
                }
                Some(Value::Object(map))
            }
        };
        Packet::connect(self.ns.clone(), data)
    }

    /// Queues or sends an emit.
    pub(crate) fn emit(
        &mut self,
        e: Emit,
        settings: AckSettings,
        deadlines: &mut Deadlines,
        out: &mut Vec<Packet>,
    ) {
        if settings.retries > 0 && !e.volatile {
            let (reply, timeout) = match e.ack {
                Some(a) => (Some(a.reply), a.timeout),
                None => (None, None),
            };
            self.next_seq += 1;
            self.queue.push_back(Queued {
                seq: self.next_seq,
                event: e.event,
                payload: e.payload,
                tries: 0,
                pending: false,
                timeout: timeout.or(settings.timeout),
                reply,
            });
            self.drain_queue(false, deadlines, out);
            return;
        }
        let ack = e.ack.map(|req| {
            let timeout = req.timeout.or(settings.timeout);
            self.register_ack(AckTarget::User(req.reply), timeout, deadlines)
        });
        let packet = match ack {
            Some(id) => Packet::event_with_ack(self.ns.clone(), e.event, e.payload, id),
            None => Packet::event(self.ns.clone(), e.event, e.payload),
        };
        if self.connected {
            out.push(packet);
        } else if e.volatile {
            if let Some(AckTarget::User(reply)) = ack.and_then(|id| self.acks.remove(&id)) {
                let _ = reply.send(Err(AckError::Dropped));
            }
        } else {
            self.send_buffer.push_back((packet, ack));
        }
    }

    fn register_ack(
        &mut self,
        target: AckTarget,
        timeout: Option<Duration>,
        deadlines: &mut Deadlines,
    ) -> u64 {
        let id = self.next_ack;
        self.next_ack += 1;
        if let Some(t) = timeout {
            deadlines.insert((Instant::now() + t, self.ns.clone(), id));
        }
        self.acks.insert(id, target);
        id
    }

    /// Sends the head of the retry queue if it is not already in flight (or if `force`).
    fn drain_queue(&mut self, force: bool, deadlines: &mut Deadlines, out: &mut Vec<Packet>) {
        if !self.connected {
            return;
        }
        let Some(head) = self.queue.front_mut() else { return };
        if head.pending && !force {
            return;
        }
        head.pending = true;
        head.tries += 1;
        let (seq, timeout) = (head.seq, head.timeout);
        let (event, payload) = (head.event.clone(), head.payload.clone());
        let id = self.register_ack(AckTarget::Queue(seq), timeout, deadlines);
        out.push(Packet::event_with_ack(self.ns.clone(), event, payload, id));
    }

    fn on_queue_result(
        &mut self,
        seq: u64,
        result: Result<Payload, AckError>,
        settings: AckSettings,
        deadlines: &mut Deadlines,
        out: &mut Vec<Packet>,
    ) {
        let Some(head) = self.queue.front_mut() else { return };
        if head.seq != seq {
            return;
        }
        let done = result.is_ok() || head.tries > settings.retries;
        head.pending = false;
        if done {
            if let Some(Queued { reply: Some(reply), .. }) = self.queue.pop_front() {
                let _ = reply.send(result);
            }
        }
        self.drain_queue(false, deadlines, out);
    }

    /// The server accepted the namespace.
    pub(crate) fn on_connect(
        &mut self,
        data: Option<&Value>,
        deadlines: &mut Deadlines,
        out: &mut Vec<Packet>,
    ) {
        let Some(sid) = data.and_then(|d| d.get("sid")).and_then(Value::as_str) else {
            let error = ConnectError::Server {
                message: "invalid connect packet (a Socket.IO v2 server?)".into(),
                data: None,
            };
            self.emit_connect_error(&error);
            return;
        };
        let pid = data.and_then(|d| d.get("pid")).and_then(Value::as_str).map(str::to_owned);
        let recovered = pid.is_some() && pid == self.pid;
        self.pid = pid;
        self.connected = true;
        self.status.send_modify(|s| {
            s.connected = true;
            s.id = Some(sid.to_owned());
            s.recovered = recovered;
        });
        out.extend(self.send_buffer.drain(..).map(|(p, _)| p));
        for l in self.shared.lock().snapshot() {
            if let Listener::Connect(f) = l {
                f();
            }
        }
        self.drain_queue(true, deadlines, out);
    }

    /// The socket lost its namespace connection.
    pub(crate) fn on_close(&mut self, reason: DisconnectReason) {
        let was_connected = self.connected;
        self.connected = false;
        self.status.send_modify(|s| {
            s.connected = false;
            s.id = None;
        });
        if was_connected {
            for l in self.shared.lock().snapshot() {
                if let Listener::Disconnect(f) = l {
                    f(reason);
                }
            }
        }
        self.clear_acks();
    }

    /// Fails the acks of packets already sent; those still buffered wait for the reconnection,
    /// and the queue head is sent again on connect.
    fn clear_acks(&mut self) {
        let buffered: Vec<u64> = self.send_buffer.iter().filter_map(|(_, id)| *id).collect();
        let ids: Vec<u64> = self.acks.keys().copied().filter(|id| !buffered.contains(id)).collect();
        for id in ids {
            if let Some(AckTarget::User(reply)) = self.acks.remove(&id) {
                let _ = reply.send(Err(AckError::Disconnected));
            }
        }
        if let Some(head) = self.queue.front_mut() {
            head.pending = false;
        }
    }

    pub(crate) fn emit_connect_error(&self, error: &ConnectError) {
        for l in self.shared.lock().snapshot() {
            if let Listener::ConnectError(f) = l {
                f(error);
            }
        }
    }

    /// An event from the server: records the recovery offset, then calls the listeners
    /// (catch-all ones first, as in JS).
    pub(crate) fn on_event(&mut self, event: Event) {
        if self.pid.is_some() {
            if let Some(Value::String(offset)) = event.payload.args().last() {
                self.offset = Some(offset.clone());
            }
        }
        let (named, any) = self.shared.lock().take_for_event(event.name());
        for f in any.iter().chain(named.iter()) {
            f(event.clone());
        }
    }

    /// An acknowledgement from the server.
    pub(crate) fn on_ack(
        &mut self,
        id: u64,
        payload: Payload,
        settings: AckSettings,
        deadlines: &mut Deadlines,
        out: &mut Vec<Packet>,
    ) {
        match self.acks.remove(&id) {
            Some(AckTarget::User(reply)) => {
                let _ = reply.send(Ok(payload));
            }
            Some(AckTarget::Queue(seq)) => {
                self.on_queue_result(seq, Ok(payload), settings, deadlines, out);
            }
            None => {}
        }
    }

    /// Ack `id`'s deadline passed.
    pub(crate) fn on_ack_timeout(
        &mut self,
        id: u64,
        settings: AckSettings,
        deadlines: &mut Deadlines,
        out: &mut Vec<Packet>,
    ) {
        match self.acks.remove(&id) {
            Some(AckTarget::User(reply)) => {
                // A timed-out packet still buffered is not sent any more, as in JS.
                self.send_buffer.retain(|(_, ack)| *ack != Some(id));
                let _ = reply.send(Err(AckError::Timeout));
            }
            Some(AckTarget::Queue(seq)) => {
                self.on_queue_result(seq, Err(AckError::Timeout), settings, deadlines, out);
            }
            None => {}
        }
    }
}

#[cfg(test)]
#[path = "namespace_tests.rs"]
mod tests;
