//! Running an engine (or any service) on a TCP listener, with the engine's own HTTP/1.1
//! server ([`http1`](crate::http1)).

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tokio::net::TcpListener;

use crate::http1::{self, Closing, RequestBody};
use crate::service::BoxError;

/// The body limit of [`serve`]: the default [`EngineConfig::max_payload`](crate::EngineConfig).
///
/// ```
/// use switchboard_engine::{DEFAULT_MAX_BODY, EngineConfig};
/// assert_eq!(DEFAULT_MAX_BODY, EngineConfig::default().max_payload);
/// ```
pub const DEFAULT_MAX_BODY: usize = 1_000_000;

/// Serves `service` on `listener` over HTTP/1.1 (keep-alive, pipelining, chunked bodies,
/// `Expect: 100-continue`, WebSocket upgrades), with request bodies up to
/// [`DEFAULT_MAX_BODY`] bytes; see [`serve_with_max_body`].
///
/// Each request carries the peer's [`SocketAddr`](std::net::SocketAddr) in its extensions.
/// Connections that do not send a whole request head within 30 s (counted from when they
/// start waiting for one, so idle keep-alive connections too) are closed. Runs until the task
/// is dropped; accept errors (such as running out of file descriptors) are logged and retried.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use switchboard_engine::{Engine, EngineConfig, Handler, Message, Socket, DisconnectReason};
/// # struct Quiet;
/// # impl Handler for Quiet {
/// #     type Session = ();
/// #     fn on_connect(&self, _: Arc<Socket>) {}
/// #     fn on_message(&self, _: &mut (), _: &Arc<Socket>, _: Message) {}
/// #     fn on_disconnect(&self, _: (), _: &Arc<Socket>, _: DisconnectReason) {}
/// # }
/// # async fn demo() -> std::io::Result<()> {
/// let engine = Engine::new(Arc::new(Quiet), EngineConfig::default());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// switchboard_engine::serve(listener, engine.service()).await
/// # }
/// ```
pub async fn serve<S, B>(listener: TcpListener, service: S) -> std::io::Result<()>
where
    S: tower_service::Service<Request<RequestBody>, Response = Response<B>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    serve_with_max_body(listener, service, DEFAULT_MAX_BODY).await
}

/// [`serve`] with request bodies up to `max_body` bytes. A request whose body is larger gets
/// a body that yields its first `max_body + 1` bytes then [`BodyError::TooLarge`](crate::BodyError)
/// (its `Content-Length` tells it already, when it has one), and its connection is closed
/// after the answer, the rest of the body unread. An engine's service answers it `413`.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use switchboard_engine::{Engine, EngineConfig, Handler, Message, Socket, DisconnectReason};
/// # struct Quiet;
/// # impl Handler for Quiet {
/// #     type Session = ();
/// #     fn on_connect(&self, _: Arc<Socket>) {}
/// #     fn on_message(&self, _: &mut (), _: &Arc<Socket>, _: Message) {}
/// #     fn on_disconnect(&self, _: (), _: &Arc<Socket>, _: DisconnectReason) {}
/// # }
/// # async fn demo() -> std::io::Result<()> {
/// let mut config = EngineConfig::default();
/// config.max_payload = 64 * 1024;
/// let max_body = config.max_payload;
/// let engine = Engine::new(Arc::new(Quiet), config);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// switchboard_engine::serve_with_max_body(listener, engine.service(), max_body).await
/// # }
/// ```
pub async fn serve_with_max_body<S, B>(
    listener: TcpListener,
    service: S,
    max_body: usize,
) -> std::io::Result<()>
where
    S: tower_service::Service<Request<RequestBody>, Response = Response<B>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    serve_with_shutdown(listener, service, max_body, std::future::pending()).await
}

/// [`serve_with_max_body`] until `signal` completes, then a graceful shutdown: no new
/// connection is accepted, idle keep-alive connections are closed, a request being served
/// gets its answer (with `connection: close`) and then its connection closes. Returns once
/// every connection has closed. Upgraded connections (WebSockets) are no longer the server's
/// and do not hold it: close them (e.g. by closing the engine) before or after.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use switchboard_engine::{Engine, EngineConfig, Handler, Message, Socket, DisconnectReason};
/// # struct Quiet;
/// # impl Handler for Quiet {
/// #     type Session = ();
/// #     fn on_connect(&self, _: Arc<Socket>) {}
/// #     fn on_message(&self, _: &mut (), _: &Arc<Socket>, _: Message) {}
/// #     fn on_disconnect(&self, _: (), _: &Arc<Socket>, _: DisconnectReason) {}
/// # }
/// # async fn demo() -> std::io::Result<()> {
/// let engine = Engine::new(Arc::new(Quiet), EngineConfig::default());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// // `stop.send(())`, from anywhere, starts the shutdown.
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let signal = async {
///     let _ = stopped.await;
/// };
/// let max_body = switchboard_engine::DEFAULT_MAX_BODY;
/// switchboard_engine::serve_with_shutdown(listener, engine.service(), max_body, signal).await
/// # }
/// ```
pub async fn serve_with_shutdown<S, B, F>(
    listener: TcpListener,
    service: S,
    max_body: usize,
    signal: F,
) -> std::io::Result<()>
where
    S: tower_service::Service<Request<RequestBody>, Response = Response<B>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    F: Future<Output = ()> + Send,
{
    // Set once, when the shutdown starts. Every connection task holds a receiver and drops
    // it when it ends (or hands its stream over), so `closed()` on the sender waits for all.
    let (closing, closing_rx) = tokio::sync::watch::channel(false);
    let mut signal = pin!(signal);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    // Back off so that a persistent error (EMFILE) does not spin the loop.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        let closing_rx = Closing::new(closing_rx.clone());
        // One task per connection, ended when the connection closes; an upgraded
        // connection leaves it and belongs to whoever took the upgrade (a session task).
        tokio::spawn(http1::serve_connection(stream, peer, service, max_body, closing_rx));
    }
    drop(listener);
    drop(closing_rx);
    closing.send_replace(true);
    closing.closed().await;
    Ok(())
}
