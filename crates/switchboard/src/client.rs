//! One Engine.IO connection and the namespace sockets multiplexed on it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use serde_json::Value;
use switchboard_engine::{DisconnectReason as EngineReason, Message};
use switchboard_proto::socket::{Decode, Packet, PacketData};
use tokio::sync::{mpsc, oneshot};

use crate::conn::ConnRef;
use crate::io::IoInner;
use crate::{DisconnectReason, Handshake, RequestParts, Socket};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the data consistent, so a poisoned lock is usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A client connection: decodes its messages and runs its packets, in order, on its own task.
pub(crate) struct Client {
    conn: ConnRef,
    parts: RequestParts,
    io: Weak<IoInner>,
    open: AtomicBool,
    // Only the engine's session task calls `on_message`, so this lock is never contended;
    // it exists because the handler trait takes `&self`.
    decoder: Mutex<Box<dyn Decode>>,
    // Namespace name → socket. Written by the client task (connect, disconnect), read by the
    // engine callback (acks) and by `close_all`.
    sockets: Mutex<HashMap<String, Socket>>,
    // Decoded packets to the client task, which owns their handling; bounded by
    // `max_pending_packets`, closed when the client is dropped. Boxed: the channel allocates
    // its first block of 32 slots up front, which for whole packets would cost every idle
    // connection 4 KiB.
    tx: mpsc::Sender<Box<Packet>>,
    // Tells the client task the connection ended; taken by the first `on_close`.
    close_tx: Mutex<Option<oneshot::Sender<DisconnectReason>>>,
    // Set by the client task once every socket ran its disconnect handlers; `close` waits
    // for it.
    done: tokio::sync::watch::Sender<bool>,
}

impl Client {
    /// A client for `conn`, with its task spawned.
    pub(crate) fn spawn(conn: ConnRef, parts: RequestParts, io: &Arc<IoInner>) -> Arc<Client> {
        let config = io.config();
        let (tx, rx) = mpsc::channel(config.max_pending_packets.max(1));
        let (close_tx, close_rx) = oneshot::channel();
        let client = Arc::new(Client {
            conn,
            parts,
            io: Arc::downgrade(io),
            open: AtomicBool::new(true),
            decoder: Mutex::new(io.parser().decoder()),
            sockets: Mutex::new(HashMap::new()),
            tx,
            close_tx: Mutex::new(Some(close_tx)),
            done: tokio::sync::watch::Sender::new(false),
        });
        // The client task owns the handling of this connection's packets; it ends when the
        // connection closes (close_rx) after disconnecting every socket.
        tokio::spawn(run(client.clone(), rx, close_rx, config.connect_timeout));
        client
    }

    pub(crate) fn conn(&self) -> &ConnRef {
        &self.conn
    }

    /// Becomes true once the connection closed and every socket was disconnected.
    pub(crate) fn done(&self) -> tokio::sync::watch::Receiver<bool> {
        self.done.subscribe()
    }

    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::SeqCst)
    }

    pub(crate) fn socket(&self, ns: &str) -> Option<Socket> {
        lock(&self.sockets).get(ns).cloned()
    }

    pub(crate) fn add_socket(&self, ns: &str, socket: Socket) {
        lock(&self.sockets).insert(ns.to_owned(), socket);
    }

    pub(crate) fn remove_socket(&self, ns: &str) {
        lock(&self.sockets).remove(ns);
    }

    /// Encodes and queues a packet that belongs to no socket (CONNECT answers and errors).
    pub(crate) fn send_packet(&self, packet: &Packet) {
        let Some(io) = self.io.upgrade() else { return };
        if let Err(e) = self.conn.send_many(io.parser().encode(packet)) {
            tracing::debug!(sid = self.conn.sid(), %e, "packet not sent");
        }
    }

    /// A message from the engine: decode it; acks are resolved at once (a handler may be
    /// waiting for one), other packets go to the client task in order.
    pub(crate) fn on_message(&self, message: Message) {
        let decoded = lock(&self.decoder).decode(message);
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
                if self.tx.try_send(Box::new(packet)).is_err() {
                    tracing::warn!(
                        sid = self.conn.sid(),
                        "too many packets waiting for handlers: closing"
                    );
                    self.conn.close(EngineReason::TransportError);
                }
            }
            Err(e) => {
                tracing::debug!(sid = self.conn.sid(), error = %e, "parse error: closing");
                self.conn.close(EngineReason::ParseError);
            }
        }
    }

    /// The engine closed the connection.
    pub(crate) fn on_close(&self, reason: DisconnectReason) {
        self.open.store(false, Ordering::SeqCst);
        // No answer can come anymore: fail every pending emit_with_ack at once, so that a
        // handler waiting for one ends.
        let sockets: Vec<Socket> = lock(&self.sockets).values().cloned().collect();
        for s in sockets {
            s.fail_acks();
        }
        if let Some(tx) = lock(&self.close_tx).take() {
            // The task may already be gone (runtime shutting down): nothing to tell then.
            let _ = tx.send(reason);
        }
    }

    /// Disconnects every socket of this connection with `reason`.
    pub(crate) async fn close_all(&self, reason: DisconnectReason) {
        let sockets: Vec<Socket> = lock(&self.sockets).values().cloned().collect();
        for s in sockets {
            s.on_close(reason).await;
        }
    }

    /// The connection upgraded its transport.
    pub(crate) fn on_upgrade(&self) {
        let transport = self.conn.transport();
        let sockets: Vec<Socket> = lock(&self.sockets).values().cloned().collect();
        for s in sockets {
            s.notify_upgrade(transport);
        }
    }

    /// Disconnects every socket as if the server called `disconnect()` on each.
    pub(crate) async fn disconnect_all(&self) {
        let sockets: Vec<Socket> = lock(&self.sockets).values().cloned().collect();
        for s in sockets {
            s.disconnect_one().await;
        }
    }

    async fn handle(self: &Arc<Self>, packet: Packet) {
        let Packet { ns, data } = packet;
        match data {
            PacketData::Connect(auth) => self.connect(&ns, auth).await,
            PacketData::Disconnect => {
                if let Some(s) = self.socket(&ns) {
                    s.on_close(DisconnectReason::ClientNamespaceDisconnect).await;
                }
            }
            PacketData::Event { event, payload, ack } => match self.socket(&ns) {
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
        let handshake = Handshake::new(&self.parts, auth);
        namespace.connect(self, handshake).await;
    }
}

/// The client task: packets in arrival order, the connect timeout, then the disconnection.
async fn run(
    client: Arc<Client>,
    mut rx: mpsc::Receiver<Box<Packet>>,
    mut close_rx: oneshot::Receiver<DisconnectReason>,
    connect_timeout: Duration,
) {
    let deadline = tokio::time::sleep(connect_timeout);
    tokio::pin!(deadline);
    let mut armed = true;
    let reason = loop {
        tokio::select! {
            biased;
            packet = rx.recv() => match packet {
                Some(packet) => {
                    let handling = client.handle(*packet);
                    tokio::pin!(handling);
                    tokio::select! {
                        biased;
                        () = &mut handling => {}
                        reason = &mut close_rx => {
                            // The connection closed while a handler runs (maybe waiting for an
                            // ack that will never come): as in Node, the sockets disconnect
                            // now, and the handler still runs to its end.
                            let reason = reason.unwrap_or(DisconnectReason::TransportClose);
                            let closing = async {
                                client.close_all(reason).await;
                                client.done.send_replace(true);
                            };
                            tokio::join!(handling, closing);
                            // A namespace the handler joined after the first pass.
                            client.close_all(reason).await;
                            return;
                        }
                    }
                }
                None => break DisconnectReason::TransportClose,
            },
            reason = &mut close_rx => break reason.unwrap_or(DisconnectReason::TransportClose),
            () = &mut deadline, if armed => {
                armed = false;
                if lock(&client.sockets).is_empty() {
                    tracing::debug!(sid = client.conn.sid(), "no namespace joined in time: closing");
                    client.conn.close(EngineReason::ForcedClose);
                }
            }
        }
    };
    client.close_all(reason).await;
    client.done.send_replace(true);
}
