//! The apps of the binary, and what they share.
//!
//! An app is one module under `apps/<name>/`: its events (typed payloads), its part of the
//! store and its page (`apps/<name>/page/`, compiled in). It implements [`App`]: a name (its
//! namespace `/<name>`, its page `/<name>`, its key in `--apps`), handlers installed on the
//! Socket.IO server, HTTP routes. Every app gets the same [`AppContext`]: the Socket.IO
//! server, the store, the auth, the rate limiter, the configuration and the shutdown signal.
//! [`registry`] is the one list of the apps; `--apps` picks a subset.
//!
//! Handlers answer `{ ok: true, ... }` or `{ ok: false, error: { code, message } }` with the
//! helpers of [`api`]; the connect-time auth is [`authenticate`], the same on every namespace.

pub(crate) mod api;
pub(crate) mod arena;
pub(crate) mod auction;
pub(crate) mod chat;
pub(crate) mod dashboard;
pub(crate) mod editor;
pub(crate) mod notifications;
pub(crate) mod page;
pub(crate) mod store;
pub(crate) mod tictactoe;
pub(crate) mod tracking;
pub(crate) mod whiteboard;

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::bail;
use switchboard::extract::Context;
use switchboard::{FromContext, HandlerError, Namespace, Socket, SocketIo, State};

pub(crate) use api::{
    ApiError, Outcome, check_client_id, check_room_id, check_text, fields, parse, user_of,
};
pub(crate) use page::{Asset, page_routes};
pub(crate) use store::AppStore;

use crate::auth::Authenticator;
use crate::cluster::{Inbox, Link};
use crate::config::Config;
use crate::limits::Limiter;
use crate::store::{AppMigrations, Store};

/// One app of the binary.
pub(crate) trait App: Send + Sync + 'static {
    /// Its name in `--apps`, its namespace (`/<name>`) and its page's path (`/<name>`):
    /// lowercase ASCII letters.
    fn name(&self) -> &'static str;
    /// Its title on the index page.
    fn title(&self) -> &'static str;
    /// One line about it on the index page.
    fn summary(&self) -> &'static str;
    /// Its namespace.
    fn namespace(&self) -> String {
        format!("/{}", self.name())
    }
    /// Whether its live state lives in one process (games, auctions, boards): in cluster mode
    /// it must run on one node only, and the server says so at start.
    fn single_node(&self) -> bool {
        false
    }
    /// Registers its namespace and handlers on `cx.io` (with [`authenticate`] for its users);
    /// may spawn tasks of its own, which end when `cx.shutdown` fires.
    fn install(&self, cx: &AppContext) -> anyhow::Result<()>;
    /// Its HTTP routes: its page and assets (see [`page_routes`]) and its APIs.
    fn routes(&self, cx: &AppContext) -> axum::Router;
    /// Its own tables: migrations applied at start after the shared ones, counted per app
    /// (default: none; apps without SQL keep their state in [`AppStore`]).
    fn migrations(&self) -> AppMigrations {
        AppMigrations { app: self.name(), sqlite: &[], postgres: &[] }
    }
    /// A line for the log once the server listens at `base_url` (how to try the app).
    fn welcome(&self, _cx: &AppContext, _base_url: &str) -> Option<String> {
        None
    }
    /// Runs once every connection is closed, before the store is flushed (the default does
    /// nothing).
    fn stop(&self) -> Stopping {
        Box::pin(async {})
    }
}

/// What [`App::stop`] returns.
pub(crate) type Stopping = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// Every app, in the order of the index page.
pub(crate) fn registry() -> Vec<Arc<dyn App>> {
    vec![
        Arc::new(chat::ChatApp::default()),
        Arc::new(notifications::NotificationsApp),
        Arc::new(tictactoe::TicTacToe),
        Arc::new(auction::Auctions),
        Arc::new(whiteboard::Whiteboard),
        Arc::new(editor::EditorApp),
        Arc::new(dashboard::DashboardApp),
        Arc::new(tracking::TrackingApp::default()),
        Arc::new(arena::ArenaApp::default()),
    ]
}

/// The migrations of every app (tests open databases with every app's tables).
#[cfg(test)]
pub(crate) fn all_migrations() -> Vec<AppMigrations> {
    registry().iter().map(|a| a.migrations()).collect()
}

/// The apps of `--apps` (every app when `None`), in the registry's order; an unknown name is
/// an error that lists the known ones.
pub(crate) fn select(names: Option<&[String]>) -> anyhow::Result<Vec<Arc<dyn App>>> {
    let all = registry();
    let Some(names) = names else { return Ok(all) };
    if let Some(unknown) = names.iter().find(|n| !all.iter().any(|a| a.name() == n.as_str())) {
        let known: Vec<&str> = all.iter().map(|a| a.name()).collect();
        bail!("--apps: no app named {unknown:?} (the apps are: {})", known.join(", "));
    }
    if names.is_empty() {
        bail!("--apps needs at least one app");
    }
    Ok(all.into_iter().filter(|a| names.iter().any(|n| n == a.name())).collect())
}

/// What every app gets. Cloning is cheap; the fields are reached through `Deref`
/// (`cx.io`, `cx.store`, ...).
#[derive(Clone)]
pub(crate) struct AppContext(Arc<ContextInner>);

/// The parts of [`AppContext`].
pub(crate) struct ContextInner {
    /// The Socket.IO server.
    pub(crate) io: SocketIo,
    /// The database.
    pub(crate) store: Store,
    /// Connect-time auth.
    pub(crate) auth: Authenticator,
    /// Per-user send rate.
    pub(crate) limiter: Limiter,
    /// The resolved configuration.
    pub(crate) config: Arc<Config>,
    /// Fires at the start of the drain.
    pub(crate) shutdown: Shutdown,
    /// This node's link to the other nodes (cluster mode).
    pub(crate) cluster: Option<Link>,
    // Taken once by the app that listens to the other nodes (chat's presence); behind a lock
    // because install takes `&self`; touched only at start.
    cluster_inbox: Mutex<Option<Inbox>>,
    // The apps' shared states by type: written while the apps install (behind the lock),
    // then sealed into the `OnceLock`, read by every handler without a lock.
    pending: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    sealed: OnceLock<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl std::ops::Deref for AppContext {
    type Target = ContextInner;
    fn deref(&self) -> &ContextInner {
        &self.0
    }
}

/// The parts a context is built from.
pub(crate) struct ContextParts {
    pub(crate) io: SocketIo,
    pub(crate) store: Store,
    pub(crate) auth: Authenticator,
    pub(crate) config: Arc<Config>,
    pub(crate) shutdown: Shutdown,
    pub(crate) cluster: Option<(Link, Inbox)>,
}

impl AppContext {
    /// Builds the context.
    pub(crate) fn new(parts: ContextParts) -> AppContext {
        let (cluster, inbox) = match parts.cluster {
            Some((link, inbox)) => (Some(link), Some(inbox)),
            None => (None, None),
        };
        AppContext(Arc::new(ContextInner {
            limiter: Limiter::new(parts.config.rate_limit, parts.config.rate_burst),
            io: parts.io,
            store: parts.store,
            auth: parts.auth,
            config: parts.config,
            shutdown: parts.shutdown,
            cluster,
            cluster_inbox: Mutex::new(inbox),
            pending: Mutex::new(HashMap::new()),
            sealed: OnceLock::new(),
        }))
    }

    /// The app's own slice of the store.
    pub(crate) fn store_of(&self, app: &'static str) -> AppStore {
        AppStore::new(self.store.clone(), app)
    }

    /// The namespace `name` (`"/chat"`).
    pub(crate) fn of(&self, name: &str) -> Namespace {
        self.io.of(name)
    }

    /// Takes the messages of the other nodes (cluster mode), once.
    pub(crate) fn take_cluster_inbox(&self) -> Option<Inbox> {
        lock(&self.cluster_inbox).take()
    }

    /// Shares `state` with the handlers, which take it as [`Shared<T>`] (one value per type).
    /// Only during [`App::install`].
    pub(crate) fn provide<T: Clone + Send + Sync + 'static>(&self, state: T) {
        if self.sealed.get().is_some() {
            tracing::error!(state = std::any::type_name::<T>(), "state provided after start");
            return;
        }
        lock(&self.pending).insert(TypeId::of::<T>(), Arc::new(state));
    }

    /// Ends the installation: the states provided are readable from now on.
    pub(crate) fn seal(&self) {
        let states = std::mem::take(&mut *lock(&self.pending));
        let _ = self.sealed.set(states);
    }

    /// A state given to [`AppContext::provide`].
    pub(crate) fn shared<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.sealed.get()?.get(&TypeId::of::<T>())?.downcast_ref::<T>().cloned()
    }
}

/// Locks `m`, poisoned or not (every critical section here leaves its value consistent).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The context, in the Socket.IO server's state: filled once the context exists (the context
/// holds the server).
#[derive(Clone, Default)]
pub(crate) struct ContextSlot(Arc<OnceLock<AppContext>>);

impl ContextSlot {
    /// Fills the slot (once).
    pub(crate) fn set(&self, cx: AppContext) {
        let _ = self.0.set(cx);
    }
}

/// A handler's context, from the server's state.
impl FromContext for AppContext {
    fn from_context(cx: &mut Context) -> Result<Self, HandlerError> {
        let State(slot) = State::<ContextSlot>::from_context(cx)?;
        slot.0.get().cloned().ok_or_else(|| HandlerError::new("the server is starting"))
    }
}

/// A state an app shared with [`AppContext::provide`], as a handler argument.
#[derive(Debug, Clone)]
pub(crate) struct Shared<T>(pub(crate) T);

impl<T: Clone + Send + Sync + 'static> FromContext for Shared<T> {
    fn from_context(cx: &mut Context) -> Result<Self, HandlerError> {
        let app = AppContext::from_context(cx)?;
        app.shared::<T>().map(Shared).ok_or_else(|| {
            tracing::error!(state = std::any::type_name::<T>(), "state not provided");
            HandlerError::new("server misconfigured")
        })
    }
}

/// Fires once, at the start of the drain; apps end their own tasks on it.
#[derive(Clone, Debug)]
pub(crate) struct Shutdown {
    // The server owns the one `Trigger` (the sender); every clone of this side waits on it.
    rx: tokio::sync::watch::Receiver<bool>,
}

/// The server's side of [`Shutdown`].
#[derive(Debug)]
pub(crate) struct Trigger(tokio::sync::watch::Sender<bool>);

impl Shutdown {
    /// A signal and its trigger.
    pub(crate) fn new() -> (Shutdown, Trigger) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        (Shutdown { rx }, Trigger(tx))
    }

    /// Whether it fired.
    #[allow(dead_code)] // part of the apps' API; the chat waits with `fired`
    pub(crate) fn is_fired(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once it fired (or the trigger is gone).
    pub(crate) async fn fired(&self) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|fired| *fired).await;
    }
}

impl Trigger {
    /// Fires the signal.
    pub(crate) fn fire(&self) {
        self.0.send_replace(true);
    }
}

/// Installs the connect-time auth on `ns`: the user goes into the socket's extensions and
/// its `data` (what a recovered socket gets back), or the connection is refused with
/// `{ code, message }`.
pub(crate) fn authenticate(ns: &Namespace) {
    ns.use_middleware(|socket: Socket, cx: AppContext| async move {
        match cx.auth.authenticate(&socket.handshake().auth) {
            Ok(user) => {
                if let Err(error) = socket.set_data(&user) {
                    tracing::warn!(%error, "user not kept for recovery");
                }
                socket.insert_extension(user);
                Ok(())
            }
            Err(e) => {
                tracing::debug!(code = e.code, "connection refused");
                Err(HandlerError::new(e.message.clone()).with_data(e.data()))
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apps_are_selected_by_name_in_registry_order() {
        let names = |apps: Vec<Arc<dyn App>>| apps.iter().map(|a| a.name()).collect::<Vec<_>>();
        assert_eq!(
            names(select(None).unwrap()),
            [
                "chat",
                "notifications",
                "tictactoe",
                "auction",
                "whiteboard",
                "editor",
                "dashboard",
                "tracking",
                "arena"
            ]
        );
        let picked = select(Some(&["notifications".to_owned(), "chat".to_owned()])).unwrap();
        assert_eq!(names(picked), ["chat", "notifications"]);
        let one = select(Some(&["notifications".to_owned()])).unwrap();
        assert_eq!(names(one), ["notifications"]);
        let err = select(Some(&["chess".to_owned()])).err().unwrap().to_string();
        assert!(
            err.contains("\"chess\"") && err.contains("chat, notifications, tictactoe"),
            "{err}"
        );
        assert!(select(Some(&[])).is_err());
        for app in registry() {
            assert!(app.name().bytes().all(|b| b.is_ascii_lowercase()), "{}", app.name());
            assert_eq!(app.namespace(), format!("/{}", app.name()));
        }
    }

    #[tokio::test]
    async fn shutdown_fires_once_for_every_waiter() {
        let (shutdown, trigger) = Shutdown::new();
        assert!(!shutdown.is_fired());
        let waiter = shutdown.clone();
        let waiting = tokio::spawn(async move { waiter.fired().await });
        trigger.fire();
        waiting.await.unwrap();
        assert!(shutdown.is_fired());
        shutdown.fired().await;
    }
}
