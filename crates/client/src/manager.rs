//! The [`Manager`]: one Engine.IO connection shared by the sockets of several namespaces.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard_proto::Str;
use switchboard_proto::socket::{EventName, Payload};
use tokio::sync::{mpsc, oneshot, watch};

use crate::engine;
use crate::handlers::{Listener, ListenerId, Listeners};
use crate::socket::{Shared, Status};
use crate::task::Task;
use crate::{AckError, ClientOptions, DisconnectReason, Error, Socket};

/// Something that happened to the manager's connection (the JS `Manager` events).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ManagerEvent {
    /// The connection is open (`open`).
    Open,
    /// The connection closed (`close`).
    Close(DisconnectReason),
    /// Opening the connection failed (`error`).
    Error(Arc<engine::Error>),
    /// Reconnection attempt `n` starts (`reconnect_attempt`), counting from 1.
    ReconnectAttempt(u32),
    /// Reconnected after `n` attempts (`reconnect`).
    Reconnect(u32),
    /// A reconnection attempt failed (`reconnect_error`).
    ReconnectError(Arc<engine::Error>),
    /// Every reconnection attempt failed (`reconnect_failed`).
    ReconnectFailed,
}

/// What the handles ask of the manager task.
pub(crate) enum Cmd {
    Register { ns: Str, shared: Arc<Shared>, status: watch::Sender<Status> },
    Connect { ns: Str },
    Disconnect { ns: Str },
    Emit(Emit),
    Ack { ns: Str, id: u64, payload: Payload },
}

/// One emit, with its flags.
pub(crate) struct Emit {
    pub(crate) ns: Str,
    pub(crate) event: EventName,
    pub(crate) payload: Payload,
    pub(crate) volatile: bool,
    pub(crate) ack: Option<AckRequest>,
}

/// Where and when an acknowledgement is expected.
pub(crate) struct AckRequest {
    pub(crate) reply: oneshot::Sender<Result<Payload, AckError>>,
    pub(crate) timeout: Option<Duration>,
}

/// Multiplexes the sockets of several namespaces over one Engine.IO connection, and reconnects
/// it with exponential backoff when it is lost.
///
/// A task owns the connection and every socket's state; a `Manager` and its [`Socket`]s are
/// cheap handles to it. The task ends when every handle is dropped.
///
/// ```no_run
/// use switchboard_client::{ClientOptions, Manager, ManagerEvent};
///
/// # async fn run() -> Result<(), switchboard_client::Error> {
/// let manager = Manager::new("http://127.0.0.1:3000", ClientOptions::default())?;
/// manager.on(|event| {
///     if let ManagerEvent::ReconnectAttempt(n) = event {
///         println!("reconnection attempt {n}");
///     }
/// });
/// let main = manager.socket("/");
/// let admin = manager.socket("/admin");
/// main.connect();
/// admin.connect();
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Manager {
    inner: Arc<Inner>,
}

/// What the manager keeps of each socket it made.
type SocketState = (Arc<Shared>, watch::Receiver<Status>);

struct Inner {
    cmds: mpsc::UnboundedSender<Cmd>,
    /// The sockets made so far, by namespace, so that `socket(ns)` returns the same one, as in
    /// JS. Locked only by `socket()`, never across an await.
    sockets: Mutex<HashMap<String, SocketState>>,
    /// Manager listeners, called by the task. Locked briefly to add, remove or snapshot.
    listeners: Arc<Mutex<Listeners>>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager").finish_non_exhaustive()
    }
}

impl Manager {
    /// A manager for the server at `url` (`http://host:port`; a path is ignored, the
    /// namespaces are chosen with [`Manager::socket`]). Nothing connects before a socket does.
    ///
    /// Must be called inside a tokio runtime: it spawns the task owning the connection.
    pub fn new(url: &str, options: ClientOptions) -> Result<Manager, Error> {
        let endpoint = engine::Endpoint::new(url, &options.engine).map_err(Error::Url)?;
        // Commands from every handle, in order; unbounded so that `emit` and `on` handlers can
        // emit without awaiting, as in JS (the offline buffer is unbounded there too). The task
        // ends when every sender is dropped.
        let (cmds, rx) = mpsc::unbounded_channel();
        let listeners = Arc::new(Mutex::new(Listeners::default()));
        let task = Task::new(endpoint, options, rx, cmds.downgrade(), listeners.clone());
        // The task owns the engine connection and the state of every socket of this manager.
        tokio::spawn(task.run());
        let inner = Inner { cmds, sockets: Mutex::new(HashMap::new()), listeners };
        Ok(Manager { inner: Arc::new(inner) })
    }

    /// The socket of namespace `ns` (`"/"` for the main one), not yet connected: register its
    /// listeners, then call [`Socket::connect`]. The same namespace gives the same socket.
    pub fn socket(&self, ns: &str) -> Socket {
        let ns = if ns.starts_with('/') { ns.to_owned() } else { format!("/{ns}") };
        let mut sockets = self.inner.sockets.lock().unwrap_or_else(|e| e.into_inner());
        let (shared, status) = sockets
            .entry(ns.clone())
            .or_insert_with(|| {
                let shared = Arc::new(Shared::default());
                let (tx, rx) = watch::channel(Status::default());
                let cmd = Cmd::Register {
                    ns: Str::from(ns.as_str()),
                    shared: shared.clone(),
                    status: tx,
                };
                // A send error means the task is gone: the socket then reports `Error::Closed`.
                let _ = self.inner.cmds.send(cmd);
                (shared, rx)
            })
            .clone();
        Socket::new(Str::from(ns), self.clone(), shared, status)
    }

    /// Adds a listener of the manager's events; returns its id for
    /// [`Manager::remove_listener`].
    pub fn on(&self, f: impl Fn(&ManagerEvent) + Send + Sync + 'static) -> ListenerId {
        self.lock_listeners().add(Listener::Manager(Arc::new(f)))
    }

    /// Removes a listener.
    pub fn remove_listener(&self, id: ListenerId) {
        self.lock_listeners().remove(id);
    }

    fn lock_listeners(&self) -> std::sync::MutexGuard<'_, Listeners> {
        self.inner.listeners.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn send(&self, cmd: Cmd) -> Result<(), Error> {
        self.inner.cmds.send(cmd).map_err(|_| Error::Closed)
    }
}

/// A socket for the namespace named by `url`'s path (`/` if none), on a new [`Manager`]: the
/// `io(url, options)` of the JS client. Call [`Socket::connect`] once its listeners are set.
///
/// ```no_run
/// use switchboard_client::{ClientOptions, io};
///
/// # async fn run() -> Result<(), switchboard_client::Error> {
/// let socket = io("http://127.0.0.1:3000/chat", ClientOptions::default())?;
/// socket.on("message", |event| println!("{:?}", event.payload()));
/// socket.on_connect(|| println!("connected"));
/// socket.connect();
/// socket.emit("message", &("hello",))?;
/// # Ok(())
/// # }
/// ```
pub fn io(url: &str, options: ClientOptions) -> Result<Socket, Error> {
    let ns = url
        .parse::<http::Uri>()
        .ok()
        .map(|u| u.path().to_owned())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/".to_owned());
    Ok(Manager::new(url, options)?.socket(&ns))
}
