//! The tower service and layer: request routing and validation, as Node's `verify`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::Body;
use http_body_util::{Either, Full};

use crate::error::RequestError;
use crate::session_task::{SessionHandle, Wire};
use crate::socket::{RequestInfo, TransportKind};
use crate::{Engine, Handler, Protocol, cors, polling, websocket};

/// The body of every engine response.
pub type ResponseBody = Full<Bytes>;

/// A boxed error, as request bodies may produce.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A tower [`Service`](tower_service::Service) answering Engine.IO requests under
/// `config.path` (404 elsewhere). Made by [`Engine::service`].
pub struct EngineService<H: Handler> {
    engine: Engine<H>,
}

impl<H: Handler> EngineService<H> {
    pub(crate) fn new(engine: Engine<H>) -> Self {
        EngineService { engine }
    }
}

impl<H: Handler> Clone for EngineService<H> {
    fn clone(&self) -> Self {
        EngineService { engine: self.engine.clone() }
    }
}

impl<H: Handler> std::fmt::Debug for EngineService<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineService").field("path", &self.engine.config().path).finish()
    }
}

impl<H, B> tower_service::Service<Request<B>> for EngineService<H>
where
    H: Handler,
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
        let answer = start(&self.engine, req);
        let engine = self.engine.clone();
        Box::pin(async move { Ok(answer.finish(engine).await) })
    }
}

/// A tower layer sending requests under the engine's path to the engine and the rest to the
/// inner service. Made by [`Engine::layer`].
pub struct EngineLayer<H: Handler> {
    engine: Engine<H>,
}

impl<H: Handler> EngineLayer<H> {
    pub(crate) fn new(engine: Engine<H>) -> Self {
        EngineLayer { engine }
    }
}

impl<H: Handler> Clone for EngineLayer<H> {
    fn clone(&self) -> Self {
        EngineLayer { engine: self.engine.clone() }
    }
}

impl<H: Handler, S> tower::Layer<S> for EngineLayer<H> {
    type Service = EngineLayered<H, S>;

    fn layer(&self, inner: S) -> Self::Service {
        EngineLayered { engine: self.engine.clone(), inner }
    }
}

/// The service made by [`EngineLayer`]: the engine in front of `S`.
pub struct EngineLayered<H: Handler, S> {
    engine: Engine<H>,
    inner: S,
}

impl<H: Handler, S: Clone> Clone for EngineLayered<H, S> {
    fn clone(&self) -> Self {
        EngineLayered { engine: self.engine.clone(), inner: self.inner.clone() }
    }
}

impl<H, S, B, ResB> tower_service::Service<Request<B>> for EngineLayered<H, S>
where
    H: Handler,
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
        if under_path(&self.engine.config().path, req.uri().path()) {
            let answer = start(&self.engine, req);
            let engine = self.engine.clone();
            Box::pin(async move { Ok(answer.finish(engine).await.map(Either::Left)) })
        } else {
            let fut = self.inner.call(req);
            Box::pin(async move { fut.await.map(|res| res.map(Either::Right)) })
        }
    }
}

fn under_path(prefix: &str, path: &str) -> bool {
    path.starts_with(prefix)
}

/// The query parameters the engine reads.
#[derive(Debug, Default)]
struct Query<'a> {
    eio: Option<&'a str>,
    transport: Option<&'a str>,
    sid: Option<&'a str>,
    /// `b64` is present: the client cannot take binary (Engine.IO v3).
    b64: bool,
    /// `j` is present: a JSONP polling request (Engine.IO v3 clients in old browsers).
    jsonp: bool,
}

impl<'a> Query<'a> {
    fn parse(query: Option<&'a str>) -> Self {
        let mut q = Query::default();
        // Split on the bytes (`&` and `=` are ASCII, so every cut is a character boundary):
        // a query is a few dozen bytes, read on every request, and a `char` pattern's search
        // costs more than the scan.
        let query = query.unwrap_or_default();
        let bytes = query.as_bytes();
        let ends = bytes.iter().enumerate().filter(|(_, b)| **b == b'&').map(|(i, _)| i);
        let mut start = 0;
        for end in ends.chain([bytes.len()]) {
            let pair = query.get(start..end).unwrap_or_default();
            start = end + 1;
            let (k, v) = match pair.bytes().position(|b| b == b'=') {
                Some(i) => {
                    (pair.get(..i).unwrap_or_default(), pair.get(i + 1..).unwrap_or_default())
                }
                None => (pair, ""),
            };
            match k {
                "EIO" => q.eio = Some(v),
                "transport" => q.transport = Some(v),
                "sid" if !v.is_empty() => q.sid = Some(v),
                "b64" => q.b64 = true,
                "j" => q.jsonp = true,
                _ => {}
            }
        }
        q
    }
}

/// How much longer than a poll can be held a forwarded request may take.
const FORWARD_SLACK: std::time::Duration = std::time::Duration::from_secs(5);

/// The message of the `403` for a request from an origin outside `Cors::origins`.
const ORIGIN_NOT_ALLOWED: &str = "Origin not allowed";

/// A request after its synchronous part: answered, or waiting for what [`route`] started.
///
/// The routing is done before the request's future is made, so that the future holds only
/// what the wait needs: a held poll waits in a future of a few hundred bytes, without the
/// request.
enum Answer {
    Ready(Response<ResponseBody>),
    Pending {
        /// The request's `Origin`, for the CORS headers of the answer.
        origin: Option<HeaderValue>,
        step: Step,
    },
}

/// What a routed request waits for.
enum Step {
    Done(Result<Response<ResponseBody>, RequestError>),
    /// A poll of this session (a data GET, or the handshake's first poll).
    Poll(SessionHandle),
    /// A POST, a forwarded request: boxed, their futures are large and rare next to polls.
    Later(BoxFuture<Result<Response<ResponseBody>, RequestError>>),
}

/// Checks a request (path, cluster token, CORS) and routes it.
fn start<H, B>(engine: &Engine<H>, req: Request<B>) -> Answer
where
    H: Handler,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let config = engine.config();
    if !under_path(&config.path, req.uri().path()) {
        let mut res = Response::new(Full::new(Bytes::new()));
        *res.status_mut() = StatusCode::NOT_FOUND;
        return Answer::Ready(res);
    }
    // A request another node forwarded: answered only with the cluster's token.
    let forwarded = match crate::cluster::check_forwarded(config.cluster.as_ref(), req.headers()) {
        Ok(forwarded) => forwarded,
        Err(e) => return Answer::Ready(e.response()),
    };
    let cors = config.cors.as_ref();
    if cors.is_some() && req.method() == Method::OPTIONS {
        return Answer::Ready(cors::preflight(cors, req.headers()));
    }
    if !cors::origin_allowed(cors, req.headers()) {
        return Answer::Ready(RequestError::Forbidden(ORIGIN_NOT_ALLOWED.to_owned()).response());
    }
    // Copied: a value may point into the request's head, which a held poll need not keep.
    let origin =
        req.headers().get(header::ORIGIN).and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok());
    Answer::Pending { origin, step: route(engine, req, forwarded) }
}

impl Answer {
    /// Waits for the answer, and adds the CORS headers.
    async fn finish<H: Handler>(self, engine: Engine<H>) -> Response<ResponseBody> {
        let (origin, step) = match self {
            Answer::Ready(res) => return res,
            Answer::Pending { origin, step } => (origin, step),
        };
        let result = match step {
            Step::Done(result) => result,
            Step::Poll(handle) => polling::get(&handle).await,
            Step::Later(later) => later.await,
        };
        let mut res = match result {
            Ok(res) => res,
            Err(e) => e.response(),
        };
        if res.status() != StatusCode::SWITCHING_PROTOCOLS {
            cors::apply(engine.config().cors.as_ref(), origin.as_ref(), res.headers_mut());
        }
        res
    }
}

fn route<H, B>(engine: &Engine<H>, req: Request<B>, forwarded: bool) -> Step
where
    H: Handler,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    match route_now(engine, req, forwarded) {
        Ok(step) => step,
        Err(e) => Step::Done(Err(e)),
    }
}

fn route_now<H, B>(
    engine: &Engine<H>,
    req: Request<B>,
    forwarded: bool,
) -> Result<Step, RequestError>
where
    H: Handler,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let config = engine.config();
    let uri = req.uri().clone();
    let query = Query::parse(uri.query());
    let transport = match query.transport {
        Some("polling") if config.transports.polling => TransportKind::Polling,
        Some("websocket") if config.transports.websocket => TransportKind::WebSocket,
        _ => return Err(RequestError::UnknownTransport),
    };
    if let Some(sid) = query.sid {
        let Some(handle) = engine.lookup(sid) else {
            // Another node's session: forwarded to its owner, unless the request was
            // forwarded already (a request crosses one extra hop at most).
            if config.cluster.is_none() || forwarded {
                return Err(RequestError::UnknownSid);
            }
            let engine = engine.clone();
            let sid = sid.to_owned();
            return Ok(Step::Later(Box::pin(async move {
                let config = engine.config();
                let Some(cluster) = &config.cluster else {
                    return Err(RequestError::UnknownSid);
                };
                let wait = config.ping_interval + config.ping_timeout + FORWARD_SLACK;
                crate::cluster::forward(cluster, &sid, req, config.max_payload, wait).await
            })));
        };
        return match transport {
            TransportKind::WebSocket if config.allow_upgrades => Ok(Step::Done(websocket::probe(
                handle,
                query.b64,
                req,
                config.per_message_deflate.as_ref(),
            ))),
            TransportKind::WebSocket => Err(RequestError::BadRequest),
            TransportKind::Polling => {
                if handle.socket.transport() != TransportKind::Polling {
                    return Err(RequestError::BadRequest);
                }
                match *req.method() {
                    // A held poll keeps nothing of its request.
                    Method::GET => Ok(Step::Poll(handle)),
                    Method::POST => {
                        let engine = engine.clone();
                        Ok(Step::Later(Box::pin(async move {
                            polling::post(engine.config(), &handle, req).await
                        })))
                    }
                    _ => Err(RequestError::BadRequest),
                }
            }
        };
    }
    if req.method() != Method::GET {
        return Err(RequestError::BadHandshakeMethod);
    }
    // As Node: anything but `EIO=4` (even none) is the 3rd revision.
    let protocol = match query.eio {
        Some("4") => Protocol::V4,
        _ if config.allow_eio3 => Protocol::V3,
        _ => return Err(RequestError::UnsupportedProtocolVersion),
    };
    // JSONP polling is not implemented: refused rather than answered in a form its client
    // cannot read.
    if protocol == Protocol::V3 && query.jsonp {
        return Err(RequestError::BadRequest);
    }
    let wire = Wire { protocol, b64: query.b64 };
    if transport == TransportKind::WebSocket && !websocket::is_upgrade(&req) {
        return Err(RequestError::BadRequest);
    }
    let (parts, body) = req.into_parts();
    if let Some(allow) = &config.allow_request {
        allow(&parts).map_err(RequestError::Forbidden)?;
    }
    if engine.is_closed() {
        return Err(RequestError::BadRequest);
    }
    let remote_addr = parts.extensions.get::<std::net::SocketAddr>().copied();
    let ticket = engine.admit(remote_addr.map(|a| a.ip()))?;
    let secure = parts.uri.scheme() == Some(&http::uri::Scheme::HTTPS);
    let uri = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    // Copied into one block of its own: a session that kept slices of the request's head
    // would keep the whole head (or, under hyper, the connection's read buffer) alive.
    let info = RequestInfo::new(uri, &parts.headers, remote_addr, secure);
    Ok(match transport {
        TransportKind::Polling => Step::Poll(polling::handshake(engine, info, wire, ticket)),
        TransportKind::WebSocket => Step::Done(websocket::handshake(
            engine,
            info,
            wire,
            ticket,
            Request::from_parts(parts, body),
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_query() {
        let q = Query::parse(Some("EIO=4&transport=polling&t=abc&sid=xyz"));
        assert_eq!((q.eio, q.transport, q.sid), (Some("4"), Some("polling"), Some("xyz")));
        let q = Query::parse(None);
        assert_eq!((q.eio, q.transport, q.sid), (None, None, None));
        let q = Query::parse(Some("EIO&sid="));
        assert_eq!((q.eio, q.sid, q.b64), (Some(""), None, false));
        let q = Query::parse(Some("EIO=3&transport=polling&b64=1"));
        assert_eq!((q.eio, q.b64, q.jsonp), (Some("3"), true, false));
        assert!(Query::parse(Some("EIO=3&transport=polling&j=0")).jsonp);
    }
}
