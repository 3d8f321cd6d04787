//! Binding, wiring and graceful shutdown.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{ConnectInfo, Request};
use switchboard::{ConnectionStateRecovery, SocketIo, SocketIoConfig};
use switchboard_engine::{Cors, HandshakeRate, Limits, PerMessageDeflate};
use tokio::net::TcpListener;

use crate::tls::PeerAddr;

use crate::apps::{App, AppContext, ContextParts, ContextSlot, Shutdown};
use crate::auth::Authenticator;
use crate::config::{Config, Database};
use crate::ops::Ops;
use crate::store::{PostgresStorage, SqliteStorage, Store};
use crate::{apps, cluster, web};

/// The largest request body an app route takes: axum's default limit of its body extractors.
const APP_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// How long the shutdown may take before the process exits anyway.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(10);

/// How long the drain of the Socket.IO connections may take (within [`SHUTDOWN_LIMIT`], so
/// that the HTTP server has time left to finish its last responses).
const DRAIN_LIMIT: Duration = Duration::from_secs(8);

/// Opens the store, binds `config.host:config.port`, prints the URL and serves until SIGINT
/// or SIGTERM.
pub(crate) async fn serve(config: Config) -> anyhow::Result<()> {
    let apps = apps::select(config.apps.as_deref())?;
    let prometheus =
        crate::ops::install_metrics().context("cannot install the metrics recorder")?;
    let auth = Authenticator::new(&config.auth).context("invalid JWT configuration")?;
    // Cluster mode: Redis must answer before anything listens.
    let cluster = match &config.cluster {
        Some(c) => Some(cluster::open(&c.redis, c.adapter).await?),
        None => None,
    };
    let migrations: Vec<_> = apps.iter().map(|a| a.migrations()).collect();
    let (store, store_thread) = open_store(&config.database, migrations).await?;

    let mut io_config = SocketIoConfig::default();
    io_config.client_dist = match config.builtin_client {
        true => None,
        false => web::find_client_dist(config.client_dist.as_deref()),
    };
    match &io_config.client_dist {
        Some(dir) => tracing::info!(dir = %dir.display(), "serving the official socket.io-client"),
        None => tracing::info!("serving the built-in browser client"),
    }
    let builtin_client = io_config.client_dist.is_none();
    io_config.parser = config.parser;
    // The pages load `/socket.io/socket.io.js`: with msgpack, the official bundle that
    // speaks it (the built-in client speaks JSON only).
    let msgpack_bundle = match (config.parser, &io_config.client_dist) {
        (switchboard::ParserKind::Msgpack, Some(dir)) => {
            let path = dir.join("socket.io.msgpack.min.js");
            let bundle = std::fs::read(&path)
                .with_context(|| format!("reading the msgpack client {}", path.display()))?;
            Some(axum::body::Bytes::from(bundle))
        }
        (switchboard::ParserKind::Msgpack, None) => {
            tracing::warn!(
                "--parser msgpack without the official client bundle: the pages will not connect"
            );
            None
        }
        (_, _) => None,
    };
    let mut limits = Limits::default();
    limits.max_sessions = config.max_connections;
    limits.max_sessions_per_ip = config.max_connections_per_ip;
    limits.handshakes_per_ip =
        config.handshakes_per_ip.map(|n| HandshakeRate { per_second: n, burst: n });
    io_config.engine.limits = limits;
    io_config.engine.allow_eio3 = config.allow_eio3;
    if config.per_message_deflate {
        io_config.engine.per_message_deflate = Some(PerMessageDeflate::default());
    }
    if !config.cors_origins.is_empty() {
        let mut cors = Cors::default();
        cors.origins = Some(config.cors_origins.clone());
        // The Admin UI polls with credentials (`withCredentials`): a UI on another origin
        // needs them allowed.
        cors.credentials |= config.admin.is_some();
        io_config.engine.cors = Some(cors);
    }
    // Recovery is a server-wide option: /chat (issue: missed `message:new` after a short cut)
    // and /notifications both get it; their connection handlers know a recovered socket.
    io_config.connection_state_recovery = config.max_disconnection_duration.map(|window| {
        let mut recovery = ConnectionStateRecovery::default();
        recovery.max_disconnection_duration = window;
        recovery
    });
    // No sticky sessions: the heartbeat task announcing this node is owned here and aborted
    // at shutdown.
    let forwarding = match (&config.forwarding, &cluster) {
        (Some(forwarding), Some(c)) => {
            let (engine_cluster, heartbeat) = forwarding.start(c.driver.clone()).await?;
            io_config.engine.cluster = Some(engine_cluster);
            Some(heartbeat)
        }
        _ => None,
    };
    // The handlers take the apps' context from the server's state, filled once it exists.
    let slot = ContextSlot::default();
    // The HTTP server's body limit: the largest any route takes (axum's extractors stop at
    // their own 2 MiB default with `413`; the engine checks `max_payload` itself).
    let max_body = APP_BODY_LIMIT.max(io_config.engine.max_payload);
    let mut builder = SocketIo::builder().config(io_config).with_state(slot.clone());
    if let Some(cluster) = &cluster {
        builder = builder.adapter(cluster.adapter.clone());
    }
    let io = builder.build();
    if let Some(admin) = &config.admin {
        crate::admin::attach(&io, admin)?;
    }
    let (shutdown_signal, shutdown_trigger) = Shutdown::new();
    let config = std::sync::Arc::new(config);
    let redis_status = cluster.as_ref().map(|c| c.status.clone());
    let cx = AppContext::new(ContextParts {
        io: io.clone(),
        store: store.clone(),
        auth,
        config: config.clone(),
        shutdown: shutdown_signal,
        cluster: cluster.map(|c| (c.link, c.inbox)),
    });
    slot.set(cx.clone());
    let mut router = Router::new();
    for app in &apps {
        if app.single_node() && cx.cluster.is_some() {
            tracing::warn!(
                app = app.name(),
                "this app's live state is owned by one node: in cluster mode, run it on one node \
                 only (--apps on the others)"
            );
        }
        app.install(&cx).with_context(|| format!("cannot start the app {}", app.name()))?;
        router = router.merge(app.routes(&cx));
    }
    cx.seal();
    let names: Vec<&str> = apps.iter().map(|a| a.name()).collect();
    tracing::info!(apps = %names.join(","), "apps installed");

    let ops = Ops::new(io.clone(), prometheus, redis_status);
    let router = router
        .merge(web::routes(builtin_client, msgpack_bundle, web::index_page(&apps)))
        .merge(crate::sse::routes(&cx))
        .merge(match &config.admin {
            Some(admin) => crate::admin::routes(admin),
            None => Router::new(),
        })
        .merge(ops.routes())
        .fallback_service(io.service())
        .layer(axum::middleware::map_request(peer_address));

    // Bad certificate files stop the start with one clear line, before anything listens.
    let tls = match &config.tls {
        Some(files) => Some(crate::tls::server_config(&files.cert, &files.key)?),
        None => None,
    };
    let signals = Signals::install().context("cannot install the signal handlers")?;
    let listener = match TcpListener::bind((config.host.as_str(), config.port)).await {
        Ok(listener) => listener,
        Err(error) => {
            let hint = match error.kind() {
                std::io::ErrorKind::AddrInUse => Some(
                    "another process listens on this port: pick another with --port, or \
                     --port 0 for any free port",
                ),
                std::io::ErrorKind::PermissionDenied => {
                    Some("ports below 1024 need privileges: pick a port above 1023 with --port")
                }
                _ => None,
            };
            let error = anyhow::Error::new(error)
                .context(format!("cannot listen on {}:{}", config.host, config.port));
            return Err(match hint {
                Some(hint) => error.context(crate::Hint(hint)),
                None => error,
            });
        }
    };
    let addr = listener.local_addr().context("cannot read the bound address")?;
    // Exactly one line on stdout, flushed now: scripts and tests read the port from it.
    let mut stdout = std::io::stdout().lock();
    let scheme = if tls.is_some() { "https" } else { "http" };
    writeln!(stdout, "Switchboard listening on {scheme}://{addr}")?;
    stdout.flush()?;
    drop(stdout);
    tracing::info!(%addr, auth = cx.auth.mode(), data_dir = %config.data_dir.display(), "listening");
    let base = format!("{scheme}://{addr}");
    for app in &apps {
        if let Some(line) = app.welcome(&cx, &base) {
            tracing::info!(app = app.name(), "{line}");
        }
    }

    // Fires once the signal arrived, so the drain below starts counting its deadline.
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown_io = io.clone();
    let shutdown_apps = apps.clone();
    let shutdown = async move {
        signals.recv().await;
        // Not ready from now on: a load balancer stops sending new clients.
        ops.start_drain();
        tracing::info!("shutting down: draining the connections");
        let _ = signalled_tx.send(());
        shutdown_trigger.fire();
        tell_clients(&shutdown_io, &shutdown_apps).await;
        // Lets running handlers answer, writes out what is queued for every connection (the
        // notice above included), then ends every socket and Engine.IO session (held polls
        // and WebSockets), so the HTTP server's graceful shutdown does not wait for them.
        let report = shutdown_io.close_within(DRAIN_LIMIT).await;
        if report.is_complete() {
            tracing::info!("connections drained");
        } else {
            tracing::warn!(?report, "the drain did not finish in time");
        }
    };
    let server: std::pin::Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>> = match tls {
        // TLS streams go through hyper, as axum serves them.
        Some(tls) => {
            let listener = crate::tls::TlsListener::new(listener, tls)
                .context("cannot read the bound address")?;
            let service = router.into_make_service_with_connect_info::<PeerAddr>();
            Box::pin(axum::serve(listener, service).with_graceful_shutdown(shutdown).into_future())
        }
        // Plain TCP: the engine's own HTTP/1.1 server (small idle connections, one write per
        // answer); it puts the peer's address in each request itself.
        None => {
            Box::pin(switchboard_engine::serve_with_shutdown(listener, router, max_body, shutdown))
        }
    };
    let deadline = async {
        if signalled_rx.await.is_ok() {
            tokio::time::sleep(SHUTDOWN_LIMIT).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = server => result.context("server error")?,
        () = deadline => tracing::warn!("connections still open after the shutdown limit"),
    }
    if let Some(heartbeat) = forwarding {
        // The other nodes stop forwarding here once the key expires.
        heartbeat.abort();
    }
    for app in &apps {
        app.stop().await;
    }
    match tokio::time::timeout(SHUTDOWN_LIMIT, store.close()).await {
        Ok(Ok(())) => tracing::info!("store flushed"),
        Ok(Err(error)) => tracing::error!(%error, "store flush failed"),
        Err(_) => tracing::error!("store flush timed out"),
    }
    // The thread ends right after the flush; join it off the runtime.
    if tokio::task::spawn_blocking(move || store_thread.join()).await.is_err() {
        tracing::error!("the store thread panicked");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Opens the database on the store thread; one clear error if it cannot be opened.
async fn open_store(
    database: &Database,
    apps: Vec<crate::store::AppMigrations>,
) -> anyhow::Result<(Store, std::thread::JoinHandle<()>)> {
    let (store, thread) = match database.clone() {
        Database::Sqlite(path) => {
            Store::open(move || SqliteStorage::open_file_with(&path, &apps)).await
        }
        Database::Postgres(url) => {
            Store::open(move || PostgresStorage::connect_with(&url, &apps)).await
        }
    }
    .context("cannot start the store thread")?;
    let store =
        store.with_context(|| format!("cannot open the database {}", database.describe()))?;
    tracing::info!(database = %database.describe(), "store open");
    Ok((store, thread))
}

/// Puts the client's address in the request as the engine reads it (a plain `SocketAddr`):
/// the handshake's `address`, and the per-address limits, need it. Requests served over TLS
/// (by axum) carry it as [`ConnectInfo`]; the engine's server puts it there itself.
async fn peer_address(mut req: Request) -> Request {
    if let Some(&ConnectInfo(PeerAddr(peer))) = req.extensions().get::<ConnectInfo<PeerAddr>>() {
        req.extensions_mut().insert(peer);
    }
    req
}

/// Server → client on every namespace: `{ message: "server shutting down" }`.
const SHUTDOWN_EVENT: &str = "server:shutdown";

/// Tells every client the server is going away before their connections close. The close
/// that follows writes out what is queued first, so the notice arrives before the close.
async fn tell_clients(io: &SocketIo, apps: &[std::sync::Arc<dyn App>]) {
    let notice = serde_json::json!({ "message": "server shutting down" });
    for ns in apps.iter().map(|a| io.of(&a.namespace())) {
        if let Err(error) = ns.emit(SHUTDOWN_EVENT, &notice).await {
            tracing::debug!(%error, "shutdown notice not sent");
        }
    }
}

/// SIGINT and SIGTERM handlers, installed before the server announces itself, so a signal
/// sent right after the "listening" line stops it gracefully instead of killing it.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers.
    fn install() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// Resolves on the first SIGINT (Ctrl-C) or SIGTERM.
    async fn recv(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
