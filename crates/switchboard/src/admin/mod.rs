//! The server side of the official Admin UI (`@socket.io/admin-ui` 0.5, feature `admin`):
//! Node's `instrument(io, opts)`.
//!
//! [`Admin::attach`] opens the admin namespace (`/admin` by default) on a server. The
//! unchanged UI (served by the `switchboard` binary at `/admin/`, or the hosted
//! <https://admin.socket.io>) connects to it and shows the server's sockets, rooms,
//! clients and events, and disconnects sockets or makes them join and leave rooms.
//!
//! - **Auth** ([`AdminAuth`]): basic auth with a bcrypt hash (`$2a$`, `$2b$`, `$2x$` and
//!   `$2y$` all verify), loopback peers only, or none. A login with credentials gets a
//!   session id (`session` event) that the UI presents on its next page load.
//! - **Modes** ([`AdminMode`]): in development every socket, room and event is reported; in
//!   production only `server_stats` (the dashboard and the servers page).
//! - **Read-only** ([`AdminOptions::readonly`]): the commands are ignored.
//! - **Clusters**: every event is a broadcast on the admin namespace through its adapter, so
//!   a UI connected to any server sees every server (each with its own
//!   [`AdminOptions::server_id`]); `all_sockets` asks the whole cluster, and the commands
//!   use the adapter's cluster-wide `sockets_join`, `sockets_leave`, `disconnect_sockets`.
//!
//! **Many sockets.** Node's module pushes every change, which freezes the UI around 10,000
//! sockets. Here the events are capped per second
//! ([`AdminOptions::max_state_events_per_second`] for sockets, rooms and disconnections,
//! [`AdminOptions::max_events_per_second`] for `event_received`/`event_sent`); past a cap
//! they are dropped, and when socket or room events were dropped the next `server_stats`
//! tick sends a fresh `all_sockets` to every admin socket, which the UI takes as its new
//! tables. `all_sockets` lists at most [`AdminOptions::max_listed_sockets`] sockets. The
//! dashboard's counts (`server_stats`) are always exact.
//!
//! ```
//! use switchboard::SocketIo;
//! use switchboard::admin::{Admin, AdminAuth, AdminOptions};
//! use switchboard::testing::{TestClient, TestError};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let io = SocketIo::new(Default::default());
//! let mut options = AdminOptions::default();
//! // The hash of "changeit" (`htpasswd -bnBC 10 "" changeit` makes a `$2y$` one).
//! let hash = "$2b$04$KsfNMtPVeVnkdwQwOSqmtu5ewDL6CAFFOO9mQOUq6iUSKhgOgsqdW";
//! options.auth = AdminAuth::basic("admin", hash)?;
//! let admin = Admin::attach(&io, options)?;
//! assert!(admin.server_id().contains('#')); // hostname#pid unless set
//!
//! let wrong = serde_json::json!({"username": "admin", "password": "guess"});
//! let refused = TestClient::connect_to(&io, "/admin", wrong).await;
//! assert!(matches!(refused, Err(TestError::Refused { message, .. }) if message == "invalid credentials"));
//!
//! let right = serde_json::json!({"username": "admin", "password": "changeit"});
//! let mut ui = TestClient::connect_to(&io, "/admin", right).await?;
//! let session = ui.recv().await?; // then `config`, `all_sockets`, `server_stats`...
//! assert_eq!((session.name.as_str(), session.data::<String>()?.len()), ("session", 16));
//! assert_eq!(ui.recv().await?.name, "config");
//! # Ok(()) }
//! ```

mod auth;
mod commands;
pub(crate) mod hook;
mod monitor;
pub(crate) mod observed;
mod wire;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{Namespace, Payload, Socket, SocketIo};
use monitor::{Monitor, Out};

/// Who may connect to the admin namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdminAuth {
    /// Everyone (Node's `auth: false`).
    None,
    /// Only peers on a loopback address (`127.0.0.0/8`, `::1`); others get the
    /// `connect_error` "invalid credentials". The peer address is the TCP one, never a
    /// forwarding header. The default: no credentials, no exposure.
    #[default]
    LoopbackOnly,
    /// A username and a bcrypt hash of the password (Node's `{type: "basic"}`).
    Basic {
        /// The username, compared whole.
        username: String,
        /// The bcrypt hash the password is checked against.
        password_hash: String,
    },
}

impl AdminAuth {
    /// Basic auth, checking that `password_hash` is a bcrypt hash.
    ///
    /// ```
    /// use switchboard::admin::{AdminAuth, AdminError};
    ///
    /// let hash = "$2y$04$951P/jPC8iuabTofwYcnluobpoqnTkkzhg7zjQgO6JAEvGtF/LPyW";
    /// assert!(AdminAuth::basic("admin", hash).is_ok());
    /// assert!(matches!(AdminAuth::basic("admin", "secret"), Err(AdminError::InvalidHash(_))));
    /// ```
    pub fn basic(
        username: impl Into<String>,
        password_hash: impl Into<String>,
    ) -> Result<Self, AdminError> {
        let password_hash = password_hash.into();
        auth::check_hash(&password_hash)?;
        Ok(AdminAuth::Basic { username: username.into(), password_hash })
    }
}

/// What the admin reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdminMode {
    /// Every socket, room and event (the UI's Sockets, Rooms, Clients and Events pages).
    #[default]
    Development,
    /// Only `server_stats` (the UI's dashboard and servers page).
    Production,
}

/// The admin's options. `Default` is Node's defaults where Node has one, with
/// [`AdminAuth::LoopbackOnly`] in place of Node's mandatory `auth`.
///
/// ```
/// use std::time::Duration;
/// use switchboard::admin::{AdminMode, AdminOptions};
///
/// let options = AdminOptions::default();
/// assert_eq!(options.namespace, "/admin");
/// assert_eq!(options.mode, AdminMode::Development);
/// assert_eq!(options.stats_interval, Duration::from_secs(2));
/// assert!(!options.readonly);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AdminOptions {
    /// The admin namespace (not `/`, whose users would all get the admin's traffic).
    pub namespace: String,
    /// Who may connect.
    pub auth: AdminAuth,
    /// Commands from the UI are ignored, and not advertised.
    pub readonly: bool,
    /// This server's name on the UI's servers page (default `hostname#pid`: servers of one
    /// host stay apart).
    pub server_id: Option<String>,
    /// What is reported.
    pub mode: AdminMode,
    /// How often `server_stats` goes out (the UI calls a server unhealthy after 10 s).
    pub stats_interval: Duration,
    /// Sockets listed at most by one `all_sockets`.
    pub max_listed_sockets: usize,
    /// Socket, room, update and disconnection events sent at most per second.
    pub max_state_events_per_second: u32,
    /// `event_received` and `event_sent` sent at most per second. `0` sends none and adds
    /// no listener to the sockets (see the cost below).
    ///
    /// Cost: in development mode each socket gets incoming and outgoing listeners, so a
    /// broadcast takes, per recipient, its socket's state lock twice and the admin's budget
    /// lock (a broadcast to sockets without listeners takes none).
    pub max_events_per_second: u32,
}

impl Default for AdminOptions {
    fn default() -> Self {
        AdminOptions {
            namespace: "/admin".to_owned(),
            auth: AdminAuth::default(),
            readonly: false,
            server_id: None,
            mode: AdminMode::default(),
            stats_interval: Duration::from_secs(2),
            max_listed_sockets: 1000,
            max_state_events_per_second: 500,
            max_events_per_second: 100,
        }
    }
}

/// Why an admin could not be attached.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The password hash is not a bcrypt hash.
    #[error("the admin password hash is not a bcrypt hash: {0}")]
    InvalidHash(String),
    /// The namespace is `/` or does not start with `/`.
    #[error("the admin namespace must start with / and not be the main namespace: {0:?}")]
    InvalidNamespace(String),
    /// This server has an admin already.
    #[error("this server has an admin already")]
    AlreadyAttached,
}

/// An attached admin (Node's `instrument`). Dropping it changes nothing: the admin lives as
/// long as the server.
#[derive(Clone, Debug)]
pub struct Admin {
    server_id: String,
}

/// What the admin's handlers share.
struct Shared {
    io: SocketIo,
    options: AdminOptions,
    server_id: String,
    hostname: String,
    started: Instant,
    sessions: auth::Sessions,
    monitor: Arc<Monitor>,
}

impl Admin {
    /// Opens the admin namespace on `io` and starts reporting to it. Call it inside a tokio
    /// runtime, before clients connect (sockets already connected are listed but their
    /// events are not reported).
    ///
    /// ```
    /// use switchboard::SocketIo;
    /// use switchboard::admin::{Admin, AdminError, AdminOptions};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let mut options = AdminOptions::default();
    /// options.server_id = Some("eu-1".to_owned());
    /// assert_eq!(Admin::attach(&io, options.clone())?.server_id(), "eu-1");
    /// assert!(matches!(Admin::attach(&io, options), Err(AdminError::AlreadyAttached)));
    /// # Ok(()) }
    /// ```
    pub fn attach(io: &SocketIo, options: AdminOptions) -> Result<Admin, AdminError> {
        if !options.namespace.starts_with('/') || options.namespace == "/" {
            return Err(AdminError::InvalidNamespace(options.namespace));
        }
        if let AdminAuth::Basic { password_hash, .. } = &options.auth {
            auth::check_hash(password_hash)?;
        }
        let hostname = wire::hostname();
        let server_id = options
            .server_id
            .clone()
            .unwrap_or_else(|| format!("{hostname}#{}", std::process::id()));
        // Hook events → the admin's task. Bounded: a burst past it is dropped (and resynced).
        let (tx, rx) = tokio::sync::mpsc::channel(4096);
        let caps = (options.max_state_events_per_second, options.max_events_per_second);
        let dev = options.mode == AdminMode::Development;
        let monitor = Arc::new(Monitor::new(options.namespace.clone(), dev, caps, tx));
        if !io.inner().observer().set(monitor.clone()) {
            return Err(AdminError::AlreadyAttached);
        }
        hook::activate();
        let ns = io.of(&options.namespace);
        let shared = Arc::new(Shared {
            io: io.clone(),
            options,
            server_id: server_id.clone(),
            hostname,
            started: Instant::now(),
            sessions: auth::Sessions::default(),
            monitor,
        });
        let s = shared.clone();
        ns.use_middleware(move |socket: Socket| {
            let s = s.clone();
            async move {
                match auth::admit(&s.options.auth, &s.sessions, &socket).await {
                    true => Ok(()),
                    false => Err(crate::HandlerError::new(auth::INVALID)),
                }
            }
        });
        let s = shared.clone();
        ns.on_connection(move |socket: Socket| {
            let s = s.clone();
            async move { s.admin_connected(socket).await }
        });
        // The admin's one task: broadcasts the hooks' events and the stats; ends when the
        // server closes (its queue's sender lives in the server, so it never closes first).
        tokio::spawn(shared.run(ns, rx));
        Ok(Admin { server_id })
    }

    /// This server's id in `server_stats`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = switchboard::SocketIo::new(Default::default());
    /// let admin = switchboard::admin::Admin::attach(&io, Default::default())?;
    /// assert!(admin.server_id().ends_with(&format!("#{}", std::process::id())));
    /// # Ok(()) }
    /// ```
    pub fn server_id(&self) -> &str {
        &self.server_id
    }
}

impl Shared {
    fn dev(&self) -> bool {
        self.options.mode == AdminMode::Development
    }

    /// `config.supportedFeatures`.
    fn features(&self) -> Vec<&'static str> {
        let mut features = Vec::new();
        if !self.options.readonly {
            features.extend([
                "EMIT",
                "JOIN",
                "LEAVE",
                "DISCONNECT",
                "MJOIN",
                "MLEAVE",
                "MDISCONNECT",
            ]);
        }
        features.push("AGGREGATED_EVENTS");
        if self.dev() {
            features.push("ALL_EVENTS");
        }
        features
    }

    /// After the CONNECT answer: `session` (a credentials login), `config`, then (development)
    /// `all_sockets`; and the commands, unless read-only.
    async fn admin_connected(self: Arc<Self>, socket: Socket) {
        if let Some(auth::NewSession(id)) = socket.extension::<auth::NewSession>() {
            let _ = socket.emit("session", &id);
        }
        let _ = socket.emit("config", &json!({ "supportedFeatures": self.features() }));
        if self.dev() {
            let all = self.all_sockets().await;
            let _ = socket.emit("all_sockets", &all);
        }
        if !self.options.readonly {
            commands::register(&self.io, &socket, &self.monitor);
        }
    }

    /// Every namespace's sockets, local first, then (in a cluster) the other servers', at most
    /// `max_listed_sockets`.
    async fn all_sockets(&self) -> Vec<Value> {
        let cap = self.options.max_listed_sockets;
        let mut out = Vec::new();
        let mut namespaces = self.io.namespaces();
        namespaces.sort_by(|a, b| a.name().cmp(b.name()));
        for ns in namespaces {
            let local = ns.sockets();
            for socket in &local {
                if out.len() >= cap {
                    return out;
                }
                out.push(wire::serialize_socket(socket));
            }
            if ns.adapter().server_count().await.unwrap_or(1) <= 1 {
                continue;
            }
            let Ok(all) = ns.fetch_sockets().await else { continue };
            for remote in all {
                if out.len() >= cap {
                    return out;
                }
                if !local.iter().any(|s| s.id() == remote.id()) {
                    out.push(wire::serialize_remote(&remote, ns.name()));
                }
            }
        }
        out
    }

    fn server_stats(&self) -> Value {
        let mut namespaces = self.io.namespaces();
        namespaces.sort_by(|a, b| a.name().cmp(b.name()));
        let namespaces: Vec<Value> = namespaces
            .iter()
            .map(|ns| json!({ "name": ns.name(), "socketsCount": ns.0.socket_count() }))
            .collect();
        json!({
            "serverId": self.server_id,
            "hostname": self.hostname,
            "pid": std::process::id(),
            "uptime": self.started.elapsed().as_secs_f64(),
            "clientsCount": self.io.engine().session_count(),
            "pollingClientsCount": self.monitor.polling(),
            "aggregatedEvents": self.monitor.take_aggregated(hook::take_counts()),
            "namespaces": namespaces,
        })
    }

    async fn run(self: Arc<Self>, ns: Namespace, mut rx: tokio::sync::mpsc::Receiver<Out>) {
        let mut tick = tokio::time::interval(self.options.stats_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut reported = 0;
        loop {
            tokio::select! {
                out = rx.recv() => {
                    let Some(out) = out else { return };
                    let _ = ns.emit_payload(out.name, out.payload).await;
                }
                _ = tick.tick() => {
                    if self.io.is_closing() {
                        return;
                    }
                    let stats = self.server_stats();
                    let _ = ns.emit_payload("server_stats", Payload::from_args(vec![stats])).await;
                    if self.dev() && self.monitor.dirty.swap(false, Ordering::Relaxed) {
                        let all = self.all_sockets().await;
                        let _ = ns.emit_payload("all_sockets", Payload::from_args(vec![Value::Array(all)])).await;
                    }
                    let dropped = self.monitor.dropped.load(Ordering::Relaxed);
                    if dropped > reported {
                        tracing::debug!(dropped = dropped - reported, "admin events over the per-second caps were dropped");
                        reported = dropped;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
