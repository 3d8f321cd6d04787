//! Running an engine (or any service) on a TCP listener with hyper.

use std::net::SocketAddr;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::held::HeldIo;
use crate::service::BoxError;

/// Serves `service` on `listener` over HTTP/1.1 with upgrades (WebSocket) enabled.
///
/// Each request carries the peer's [`SocketAddr`] in its extensions. Connections that do not
/// send their request head within 30 s are closed. Runs until the task is dropped; accept
/// errors (such as running out of file descriptors) are logged and retried.
pub async fn serve<S, B>(listener: TcpListener, service: S) -> std::io::Result<()>
where
    S: tower_service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                // Back off so that a persistent error (EMFILE) does not spin the loop.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(WithPeer { inner: service.clone(), peer });
        // One task per connection, ended by hyper when the connection closes; an upgraded
        // WebSocket leaves it and belongs to its session task.
        tokio::spawn(async move {
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .serve_connection(TokioIo::new(HeldIo::new(stream)), service)
                .with_upgrades();
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "connection error");
            }
        });
    }
}

/// Adds the peer address to each request's extensions.
#[derive(Clone)]
struct WithPeer<S> {
    inner: S,
    peer: SocketAddr,
}

impl<S, B> tower_service::Service<Request<B>> for WithPeer<S>
where
    S: tower_service::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> S::Future {
        req.extensions_mut().insert(self.peer);
        self.inner.call(req)
    }
}
