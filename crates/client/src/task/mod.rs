//! The manager task: owns the Engine.IO connection, the reconnection and every socket's state.

mod namespace;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use switchboard_proto::Str;
use switchboard_proto::socket::{Decode, Packet, PacketData};
use tokio::sync::mpsc;
use tokio::time::Instant;

use self::namespace::{AckSettings, Deadlines, Namespace};
use crate::engine::{self, Endpoint};
use crate::event::AckSender;
use crate::handlers::{Listener, Listeners};
use crate::manager::Cmd;
use crate::{Backoff, ClientOptions, ConnectError, DisconnectReason, Event, ManagerEvent};

type Opening = Pin<Box<dyn Future<Output = Result<engine::Socket, engine::Error>> + Send>>;

/// The manager's connection state (`readyState` and `_reconnecting` of the JS `Manager`).
enum Conn {
    /// No connection and none wanted yet (or given up).
    Idle,
    /// Opening the Engine.IO connection.
    Opening(Opening),
    /// Open.
    Open(engine::Socket),
    /// Waiting for the next reconnection attempt.
    Waiting(Instant),
}

/// What woke the task.
enum Step {
    Cmd(Option<Cmd>),
    Opened(Result<engine::Socket, engine::Error>),
    Engine(Option<engine::Event>),
    Retry,
    AckTimeout,
}

/// The owner of a manager's state; runs until every handle is dropped.
pub(crate) struct Task {
    endpoint: Endpoint,
    options: ClientOptions,
    cmds: mpsc::UnboundedReceiver<Cmd>,
    /// To give acknowledgement senders to the listeners without keeping the task alive.
    weak_cmds: mpsc::WeakUnboundedSender<Cmd>,
    listeners: Arc<Mutex<Listeners>>,
    conn: Conn,
    backoff: Backoff,
    reconnecting: bool,
    skip_reconnect: bool,
    namespaces: BTreeMap<Str, Namespace>,
    decoder: Box<dyn Decode>,
    deadlines: Deadlines,
}

impl Task {
    pub(crate) fn new(
        endpoint: Endpoint,
        options: ClientOptions,
        cmds: mpsc::UnboundedReceiver<Cmd>,
        weak_cmds: mpsc::WeakUnboundedSender<Cmd>,
        listeners: Arc<Mutex<Listeners>>,
    ) -> Self {
        let (min, max, jitter) = (
            options.reconnection_delay,
            options.reconnection_delay_max,
            options.randomization_factor,
        );
        let backoff = match options.backoff_seed {
            Some(seed) => Backoff::with_seed(min, max, jitter, seed),
            None => Backoff::new(min, max, jitter),
        };
        let decoder = options.parser.decoder();
        Task {
            endpoint,
            options,
            cmds,
            weak_cmds,
            listeners,
            conn: Conn::Idle,
            backoff,
            reconnecting: false,
            skip_reconnect: false,
            namespaces: BTreeMap::new(),
            decoder,
            deadlines: Deadlines::new(),
        }
    }

    pub(crate) async fn run(mut self) {
        loop {
            match self.next().await {
                Step::Cmd(None) => break,
                Step::Cmd(Some(cmd)) => self.on_cmd(cmd).await,
                Step::Opened(res) => self.on_opened(res).await,
                Step::Engine(Some(event)) => self.on_engine(event).await,
                Step::Engine(None) => self.on_close(DisconnectReason::TransportClose),
                Step::Retry => {
                    self.conn = Conn::Idle;
                    if !self.skip_reconnect {
                        self.emit(ManagerEvent::ReconnectAttempt(self.backoff.attempts()));
                        self.start_open();
                    }
                }
                Step::AckTimeout => self.on_ack_timeouts().await,
            }
        }
        if let Conn::Open(socket) = &self.conn {
            socket.close().await;
        }
    }

    async fn next(&mut self) -> Step {
        let earliest = self.deadlines.first().map(|(t, _, _)| *t);
        tokio::select! {
            cmd = self.cmds.recv() => Step::Cmd(cmd),
            step = conn_step(&mut self.conn) => step,
            () = sleep_until(earliest) => Step::AckTimeout,
        }
    }

    fn settings(&self) -> AckSettings {
        AckSettings { timeout: self.options.ack_timeout, retries: self.options.retries }
    }

    async fn on_cmd(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Register { ns, shared, status } => {
                self.namespaces.insert(ns.clone(), Namespace::new(ns, shared, status));
            }
            Cmd::Connect { ns } => {
                let Some(n) = self.namespaces.get_mut(&ns) else { return };
                if n.connected {
                    return;
                }
                n.set_active(true);
                match self.conn {
                    Conn::Open(_) => self.send_connect(&ns).await,
                    Conn::Idle => {
                        self.skip_reconnect = false;
                        self.start_open();
                    }
                    Conn::Opening(_) | Conn::Waiting(_) => {}
                }
            }
            Cmd::Disconnect { ns } => {
                let Some(n) = self.namespaces.get_mut(&ns) else { return };
                let was_connected = n.connected;
                n.set_active(false);
                n.on_close(DisconnectReason::IoClientDisconnect);
                if was_connected {
                    self.send(vec![Packet::disconnect(ns)]).await;
                }
                self.close_if_unused().await;
            }
            Cmd::Emit(e) => {
                let settings = self.settings();
                let mut out = Vec::new();
                if let Some(n) = self.namespaces.get_mut(&e.ns) {
                    n.emit(e, settings, &mut self.deadlines, &mut out);
                }
                self.send(out).await;
            }
            Cmd::Ack { ns, id, payload } => {
                if self.namespaces.get(&ns).is_some_and(|n| n.connected) {
                    self.send(vec![Packet::ack(ns, payload, id)]).await;
                }
            }
        }
    }

    /// Closes the connection when no socket wants it (the JS `Manager._destroy`).
    async fn close_if_unused(&mut self) {
        if self.namespaces.values().any(|n| n.active) {
            return;
        }
        self.skip_reconnect = true;
        self.reconnecting = false;
        self.backoff.reset();
        let conn = std::mem::replace(&mut self.conn, Conn::Idle);
        if let Conn::Open(socket) = conn {
            self.emit(ManagerEvent::Close(DisconnectReason::IoClientDisconnect));
            socket.close().await;
        }
    }

    fn start_open(&mut self) {
        let mut options = self.options.engine.clone();
        options.connect_timeout = self.options.timeout;
        let endpoint = self.endpoint.clone();
        self.conn = Conn::Opening(Box::pin(engine::Socket::connect_to(endpoint, options)));
    }

    async fn on_opened(&mut self, res: Result<engine::Socket, engine::Error>) {
        match res {
            Ok(socket) => {
                self.conn = Conn::Open(socket);
                self.decoder = self.options.parser.decoder();
                self.emit(ManagerEvent::Open);
                let active: Vec<Str> = self
                    .namespaces
                    .iter()
                    .filter(|(_, n)| n.active)
                    .map(|(k, _)| k.clone())
                    .collect();
                for ns in active {
                    self.send_connect(&ns).await;
                }
                if self.reconnecting {
                    self.reconnecting = false;
                    let attempts = self.backoff.attempts();
                    self.backoff.reset();
                    self.emit(ManagerEvent::Reconnect(attempts));
                }
            }
            Err(e) => {
                self.conn = Conn::Idle;
                let e = Arc::new(e);
                tracing::debug!(error = %e, "cannot open the connection");
                self.emit(ManagerEvent::Error(e.clone()));
                let error = ConnectError::Engine(e.clone());
                for n in self.namespaces.values().filter(|n| n.active && !n.connected) {
                    n.emit_connect_error(&error);
                }
                if self.reconnecting {
                    self.reconnecting = false;
                    self.schedule_reconnect();
                    self.emit(ManagerEvent::ReconnectError(e));
                } else if self.options.reconnection && self.backoff.attempts() == 0 {
                    self.schedule_reconnect();
                }
            }
        }
    }

    /// The JS `Manager.reconnect`: waits for the next backoff delay, or gives up.
    fn schedule_reconnect(&mut self) {
        if self.reconnecting || self.skip_reconnect {
            return;
        }
        if self.backoff.attempts() >= self.options.reconnection_attempts {
            self.backoff.reset();
            self.emit(ManagerEvent::ReconnectFailed);
            self.conn = Conn::Idle;
        } else {
            let delay = self.backoff.duration();
            tracing::debug!(?delay, "reconnecting");
            self.reconnecting = true;
            self.conn = Conn::Waiting(Instant::now() + delay);
        }
    }

    async fn send_connect(&mut self, ns: &Str) {
        let auth = self.options.auth.get().await;
        if let Some(n) = self.namespaces.get(ns) {
            let packet = n.connect_packet(auth);
            self.send(vec![packet]).await;
        }
    }

    async fn on_engine(&mut self, event: engine::Event) {
        match event {
            engine::Event::Message(m) => match self.decoder.decode(m) {
                Ok(Some(packet)) => self.on_packet(packet).await,
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "invalid packet from the server");
                    if let Conn::Open(socket) = &self.conn {
                        socket.close().await;
                    }
                    self.on_close(DisconnectReason::ParseError);
                }
            },
            engine::Event::Close(reason) => self.on_close(DisconnectReason::from_close(&reason)),
            _ => {}
        }
    }

    /// The connection closed: every socket disconnects, then the manager reconnects.
    fn on_close(&mut self, reason: DisconnectReason) {
        if matches!(self.conn, Conn::Idle | Conn::Waiting(_)) {
            return;
        }
        self.conn = Conn::Idle;
        self.backoff.reset();
        for n in self.namespaces.values_mut() {
            n.on_close(reason);
        }
        self.emit(ManagerEvent::Close(reason));
        if self.options.reconnection && !self.skip_reconnect {
            self.schedule_reconnect();
        }
    }

    async fn on_packet(&mut self, packet: Packet) {
        let settings = self.settings();
        let mut out = Vec::new();
        let Some(n) = self.namespaces.get_mut(&packet.ns) else { return };
        let mut destroyed = false;
        match packet.data {
            PacketData::Connect(data) => n.on_connect(data.as_ref(), &mut self.deadlines, &mut out),
            PacketData::ConnectError(data) => {
                n.set_active(false);
                destroyed = true;
                let (message, data) = match data {
                    serde_json::Value::Object(mut o) => (
                        o.get("message").and_then(|m| m.as_str()).unwrap_or_default().to_owned(),
                        o.remove("data"),
                    ),
                    serde_json::Value::String(s) => (s, None),
                    other => (other.to_string(), None),
                };
                n.emit_connect_error(&ConnectError::Server { message, data });
            }
            PacketData::Disconnect => {
                n.set_active(false);
                destroyed = true;
                n.on_close(DisconnectReason::IoServerDisconnect);
            }
            PacketData::Event { event, payload, ack } => {
                let ack = ack.and_then(|id| {
                    let cmds = self.weak_cmds.upgrade()?;
                    let sent = Arc::new(AtomicBool::new(false));
                    Some(AckSender { ns: packet.ns.clone(), id, cmds, sent })
                });
                let name = Str::from(event.as_str());
                n.on_event(Event { name, payload, ack });
            }
            PacketData::Ack { payload, ack } => {
                n.on_ack(ack, payload, settings, &mut self.deadlines, &mut out);
            }
            _ => {}
        }
        self.send(out).await;
        if destroyed {
            self.close_if_unused().await;
        }
    }

    async fn on_ack_timeouts(&mut self) {
        let settings = self.settings();
        let now = Instant::now();
        let mut out = Vec::new();
        while let Some(first) = self.deadlines.first().cloned() {
            if first.0 > now {
                break;
            }
            self.deadlines.pop_first();
            let (_, ns, id) = first;
            if let Some(n) = self.namespaces.get_mut(&ns) {
                n.on_ack_timeout(id, settings, &mut self.deadlines, &mut out);
            }
        }
        self.send(out).await;
    }

    /// Writes packets on the open connection; without one they are dropped (the sockets
    /// buffer what must not be lost before handing it here).
    async fn send(&mut self, packets: Vec<Packet>) {
        let Conn::Open(socket) = &self.conn else { return };
        for packet in packets {
            for message in self.options.parser.encode(&packet) {
                if socket.send(message).await.is_err() {
                    return;
                }
            }
        }
    }

    /// Calls the manager listeners (outside the lock, so that they may add listeners).
    fn emit(&self, event: ManagerEvent) {
        let listeners = self.listeners.lock().unwrap_or_else(|e| e.into_inner()).snapshot();
        for l in listeners {
            if let Listener::Manager(f) = l {
                f(&event);
            }
        }
    }
}

/// Waits on whatever the connection state waits for.
async fn conn_step(conn: &mut Conn) -> Step {
    match conn {
        Conn::Idle => std::future::pending().await,
        Conn::Opening(f) => Step::Opened(f.await),
        Conn::Open(socket) => Step::Engine(socket.recv().await),
        Conn::Waiting(at) => {
            tokio::time::sleep_until(*at).await;
            Step::Retry
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
