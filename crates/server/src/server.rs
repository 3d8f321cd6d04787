//! Binding, serving and graceful shutdown.

use std::io::Write;

use anyhow::Context;
use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::cli::ServeArgs;
use crate::{page, realtime};

/// Binds `args.host:args.port`, prints the URL and serves until SIGINT or SIGTERM.
pub(crate) async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let engine = realtime::engine();
    let router = Router::new().route("/", get(page::index));
    let router = realtime::realtime_layer(router, &engine);

    let listener = TcpListener::bind((args.host.as_str(), args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
    let addr = listener.local_addr().context("cannot read the bound address")?;
    // Exactly one line on stdout, flushed now: scripts and tests read the port from it.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "Switchboard listening on http://{addr}")?;
    stdout.flush()?;
    drop(stdout);
    tracing::info!(%addr, "listening");

    let shutdown = async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        // Ends every Engine.IO session (held polls and WebSockets) so the graceful shutdown
        // does not wait for them.
        engine.close();
    };
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await.context("server error")?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
