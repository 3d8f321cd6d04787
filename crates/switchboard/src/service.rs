//! The tower service and layer: the engine, plus the browser client files.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, header};
use http_body::Body;
use http_body_util::Either;
use switchboard_engine::{EngineService, ResponseBody};

use crate::IoHandler;
use crate::bundle::ClientBundle;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A tower service answering Socket.IO requests under the server path (404 elsewhere), and
/// the browser client at `<path>socket.io.js` when `serve_client` is on. Made by
/// [`crate::SocketIo::service`].
///
/// Called directly here, as tower calls it (in axum: `Router::new().route_service(..)`):
///
/// ```
/// use http_body_util::{BodyExt, Empty};
/// use switchboard::SocketIo;
/// use tower_service::Service;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let io = SocketIo::new(Default::default());
/// let mut service = io.service();
/// let get = |uri: &str| http::Request::get(uri).body(Empty::<bytes::Bytes>::new());
///
/// // An Engine.IO handshake over long-polling: the open packet `0{"sid":..}`.
/// let open = service.call(get("/socket.io/?EIO=4&transport=polling")?).await?;
/// assert_eq!(open.status(), 200);
/// assert!(open.into_body().collect().await?.to_bytes().starts_with(b"0{\"sid\":"));
///
/// let old = service.call(get("/socket.io/?EIO=3&transport=polling")?).await?;
/// assert_eq!(old.status(), 400); // Engine.IO 3 (socket.io-client 2) is not spoken
/// assert_eq!(service.call(get("/elsewhere")?).await?.status(), 404);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct IoService {
    path: Arc<str>,
    bundle: Option<Arc<ClientBundle>>,
    engine: EngineService<IoHandler>,
}

impl std::fmt::Debug for IoService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoService").field("path", &self.path).finish()
    }
}

impl IoService {
    pub(crate) fn new(
        path: &str,
        bundle: Option<Arc<ClientBundle>>,
        engine: EngineService<IoHandler>,
    ) -> Self {
        IoService { path: Arc::from(path), bundle, engine }
    }

    fn client_file<B>(&self, req: &Request<B>) -> Option<Response<ResponseBody>> {
        let bundle = self.bundle.as_ref()?;
        let file = req.uri().path().strip_prefix(&*self.path)?;
        bundle.respond(file, req.headers().get(header::IF_NONE_MATCH))
    }

    fn under_path(&self, path: &str) -> bool {
        path.starts_with(&*self.path)
    }
}

impl<B> tower_service::Service<Request<B>> for IoService
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if let Some(res) = self.client_file(&req) {
            return Box::pin(async move { Ok(res) });
        }
        self.engine.call(req)
    }
}

/// A tower layer: requests under the Socket.IO path go to the server, the rest to the inner
/// service. Made by [`crate::SocketIo::layer`].
///
/// ```
/// use axum::{Router, routing::get};
/// use http_body_util::{BodyExt, Empty};
/// use switchboard::SocketIo;
/// use tower_service::Service;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let io = SocketIo::new(Default::default());
/// let mut app = Router::new().route("/", get(|| async { "home" })).layer(io.layer());
/// // Served with `axum::serve(listener, app)`; called directly here, as the server calls it.
/// let get = |uri: &str| http::Request::get(uri).body(Empty::<bytes::Bytes>::new());
///
/// let home = app.call(get("/")?).await?;
/// assert_eq!(home.into_body().collect().await?.to_bytes(), "home");
/// let open = app.call(get("/socket.io/?EIO=4&transport=polling")?).await?;
/// assert!(open.into_body().collect().await?.to_bytes().starts_with(b"0{"));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct IoLayer {
    service: IoService,
}

impl IoLayer {
    pub(crate) fn new(service: IoService) -> Self {
        IoLayer { service }
    }
}

impl<S> tower::Layer<S> for IoLayer {
    type Service = IoLayered<S>;

    fn layer(&self, inner: S) -> IoLayered<S> {
        IoLayered { io: self.service.clone(), inner }
    }
}

/// The service made by [`IoLayer`]: the Socket.IO server in front of `S`.
///
/// ```
/// use axum::{Router, routing::get};
/// use switchboard::{IoLayered, SocketIo};
/// use tower::Layer;
/// use tower_service::Service;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let io = SocketIo::new(Default::default());
/// let inner = Router::new().route("/health", get(|| async { "ok" }));
/// let mut app: IoLayered<Router> = io.layer().layer(inner);
/// let get = |uri: &str| http::Request::get(uri).body(axum::body::Body::empty());
/// assert_eq!(app.call(get("/health")?).await?.status(), 200); // to the inner service
/// assert_eq!(app.call(get("/socket.io/?EIO=4&transport=polling")?).await?.status(), 200);
/// assert_eq!(app.call(get("/nothing")?).await?.status(), 404); // the inner service's 404
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct IoLayered<S> {
    io: IoService,
    inner: S,
}

impl<S, B, ResB> tower_service::Service<Request<B>> for IoLayered<S>
where
    S: tower_service::Service<Request<B>, Response = Response<ResB>>,
    S::Future: Send + 'static,
    S::Error: 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    ResB: Body<Data = Bytes>,
{
    type Response = Response<Either<ResponseBody, ResB>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if self.io.under_path(req.uri().path()) {
            let fut = tower_service::Service::call(&mut self.io, req);
            Box::pin(async move {
                match fut.await {
                    Ok(res) => Ok(res.map(Either::Left)),
                    Err(never) => match never {},
                }
            })
        } else {
            let fut = self.inner.call(req);
            Box::pin(async move { fut.await.map(|res| res.map(Either::Right)) })
        }
    }
}
