//! The [`Socket`] of one namespace: emit, acknowledgements, listeners.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use switchboard_proto::Str;
use switchboard_proto::socket::{EventName, Payload};
use tokio::sync::{oneshot, watch};

use crate::handlers::{Listener, ListenerId, Listeners};
use crate::manager::{AckRequest, Cmd, Emit};
use crate::{AckError, ConnectError, DisconnectReason, Error, Event, Manager};

/// What the handles can read of a socket's state; written by the manager task.
#[derive(Debug, Clone, Default)]
pub(crate) struct Status {
    pub(crate) connected: bool,
    pub(crate) active: bool,
    pub(crate) id: Option<String>,
    pub(crate) recovered: bool,
}

/// State shared by a socket's handles and the manager task.
#[derive(Default)]
pub(crate) struct Shared {
    /// Added to by the handles, read (and `once` listeners removed) by the task before it calls
    /// them; never held while a listener runs.
    pub(crate) listeners: Mutex<Listeners>,
}

impl Shared {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Listeners> {
        self.listeners.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A Socket.IO client socket: one namespace on a [`Manager`]'s connection.
///
/// Cheap to clone; every clone is the same socket.
///
/// ```no_run
/// use std::time::Duration;
/// use switchboard_client::{ClientOptions, io};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let socket = io("http://127.0.0.1:3000", ClientOptions::default())?;
/// socket.on("news", |event| {
///     let headline: String = event.data().unwrap_or_default();
///     println!("{headline}");
/// });
/// socket.connect();
/// // Typed arguments in, typed answer out.
/// let total: (u32,) = socket.timeout(Duration::from_secs(5)).emit_with_ack("add", &(1, 2)).await?;
/// # let _ = total;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Socket {
    ns: Str,
    manager: Manager,
    shared: Arc<Shared>,
    status: watch::Receiver<Status>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("ns", &self.ns)
            .field("status", &*self.status.borrow())
            .finish()
    }
}

impl Socket {
    pub(crate) fn new(
        ns: Str,
        manager: Manager,
        shared: Arc<Shared>,
        status: watch::Receiver<Status>,
    ) -> Self {
        Socket { ns, manager, shared, status }
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.ns
    }

    /// The manager whose connection this socket uses.
    pub fn manager(&self) -> &Manager {
        &self.manager
    }

    /// The session id the server gave, while connected.
    pub fn id(&self) -> Option<String> {
        self.status.borrow().id.clone()
    }

    /// Whether the socket is connected to its namespace.
    pub fn connected(&self) -> bool {
        self.status.borrow().connected
    }

    /// Whether the socket wants to be connected (connected, or connecting and reconnecting).
    pub fn active(&self) -> bool {
        self.status.borrow().active
    }

    /// Whether the last connection restored the previous session (connection state recovery).
    pub fn recovered(&self) -> bool {
        self.status.borrow().recovered
    }

    /// Connects (or reconnects after a `disconnect`) to the namespace.
    pub fn connect(&self) {
        // A send error means the manager task is gone; nothing will connect, and `emit`
        // reports it.
        let _ = self.manager.send(Cmd::Connect { ns: self.ns.clone() });
    }

    /// Disconnects from the namespace; the connection closes if no other socket uses it.
    pub fn disconnect(&self) {
        let _ = self.manager.send(Cmd::Disconnect { ns: self.ns.clone() });
    }

    /// Sends an event; `args` is a tuple (or `Vec`) of arguments, `&()` for none. Buffered
    /// until connected.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, args: &T) -> Result<(), Error> {
        self.emitter().emit(event, args)
    }

    /// Sends an event with a prepared payload (for binary arguments).
    pub fn emit_payload(&self, event: &str, payload: Payload) -> Result<(), Error> {
        self.emitter().emit_payload(event, payload)
    }

    /// Sends an event and waits for the server's acknowledgement, deserialized from its
    /// arguments (as a tuple or a `Vec`). Uses `ack_timeout` from the options, if any.
    pub async fn emit_with_ack<T, R>(&self, event: &str, args: &T) -> Result<R, AckError>
    where
        T: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        self.emitter().emit_with_ack(event, args).await
    }

    /// Sends an event with a prepared payload and waits for the acknowledgement's payload.
    pub async fn emit_with_ack_payload(
        &self,
        event: &str,
        payload: Payload,
    ) -> Result<Payload, AckError> {
        self.emitter().emit_with_ack_payload(event, payload).await
    }

    /// An emitter whose packets are dropped rather than buffered while disconnected.
    pub fn volatile(&self) -> Emitter<'_> {
        self.emitter().volatile()
    }

    /// An emitter whose acknowledgements time out after `timeout`.
    pub fn timeout(&self, timeout: Duration) -> Emitter<'_> {
        self.emitter().timeout(timeout)
    }

    fn emitter(&self) -> Emitter<'_> {
        Emitter { socket: self, volatile: false, timeout: None }
    }

    /// Listens to event `event`; returns the listener's id.
    pub fn on(&self, event: &str, f: impl Fn(Event) + Send + Sync + 'static) -> ListenerId {
        self.add(Listener::Event { name: event.into(), once: false, f: Arc::new(f) })
    }

    /// Listens to the next event `event` only.
    pub fn once(&self, event: &str, f: impl Fn(Event) + Send + Sync + 'static) -> ListenerId {
        self.add(Listener::Event { name: event.into(), once: true, f: Arc::new(f) })
    }

    /// Removes every listener of event `event`.
    pub fn off(&self, event: &str) {
        self.shared.lock().remove_event(event);
    }

    /// Listens to every event (after the listeners of its name).
    pub fn on_any(&self, f: impl Fn(Event) + Send + Sync + 'static) -> ListenerId {
        self.add(Listener::Any(Arc::new(f)))
    }

    /// Removes every catch-all listener.
    pub fn off_any(&self) {
        self.shared.lock().remove_any();
    }

    /// Listens to `connect`.
    pub fn on_connect(&self, f: impl Fn() + Send + Sync + 'static) -> ListenerId {
        self.add(Listener::Connect(Arc::new(f)))
    }

    /// Listens to `connect_error`: the server refused the namespace, or the connection failed.
    pub fn on_connect_error(
        &self,
        f: impl Fn(&ConnectError) + Send + Sync + 'static,
    ) -> ListenerId {
        self.add(Listener::ConnectError(Arc::new(f)))
    }

    /// Listens to `disconnect`.
    pub fn on_disconnect(
        &self,
        f: impl Fn(DisconnectReason) + Send + Sync + 'static,
    ) -> ListenerId {
        self.add(Listener::Disconnect(Arc::new(f)))
    }

    /// Removes one listener.
    pub fn remove_listener(&self, id: ListenerId) {
        self.shared.lock().remove(id);
    }

    fn add(&self, listener: Listener) -> ListenerId {
        self.shared.lock().add(listener)
    }
}

/// Emits with flags: [`Socket::volatile`], [`Socket::timeout`].
#[derive(Debug, Clone, Copy)]
pub struct Emitter<'a> {
    socket: &'a Socket,
    volatile: bool,
    timeout: Option<Duration>,
}

impl Emitter<'_> {
    /// Drops the packets instead of buffering them while disconnected.
    pub fn volatile(mut self) -> Self {
        self.volatile = true;
        self
    }

    /// Fails the acknowledgement with [`AckError::Timeout`] after `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sends an event; see [`Socket::emit`].
    pub fn emit<T: Serialize + ?Sized>(self, event: &str, args: &T) -> Result<(), Error> {
        self.emit_payload(event, Payload::spread(args).map_err(Error::Serialize)?)
    }

    /// Sends an event with a prepared payload.
    pub fn emit_payload(self, event: &str, payload: Payload) -> Result<(), Error> {
        self.send(event, payload, None)
    }

    /// Sends an event and waits for its typed acknowledgement; see [`Socket::emit_with_ack`].
    pub async fn emit_with_ack<T, R>(self, event: &str, args: &T) -> Result<R, AckError>
    where
        T: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let payload = Payload::spread(args).map_err(Error::Serialize)?;
        let answer = self.emit_with_ack_payload(event, payload).await?;
        serde_json::from_value(Value::Array(answer.args().to_vec())).map_err(AckError::Deserialize)
    }

    /// Sends an event with a prepared payload and waits for the acknowledgement's payload.
    pub async fn emit_with_ack_payload(
        self,
        event: &str,
        payload: Payload,
    ) -> Result<Payload, AckError> {
        let (reply, rx) = oneshot::channel();
        self.send(event, payload, Some(AckRequest { reply, timeout: self.timeout }))?;
        rx.await.map_err(|_| AckError::Emit(Error::Closed))?
    }

    fn send(self, event: &str, payload: Payload, ack: Option<AckRequest>) -> Result<(), Error> {
        let event = EventName::new(event)?;
        let ns = self.socket.ns.clone();
        self.socket.manager.send(Cmd::Emit(Emit {
            ns,
            event,
            payload,
            volatile: self.volatile,
            ack,
        }))
    }
}
