//! The SSE bridge (feature `sse`): room broadcasts as a `text/event-stream`, for read-only
//! consumers (feeds, dashboards) and for clients that cannot keep a WebSocket.
//!
//! [`Sse`] is a `tower` service bound to a [`SocketIo`]. `GET /sse?namespace=/chat&rooms=a,b`
//! subscribes to rooms `a` and `b` of `/chat` as a member of the namespace's adapter, so that
//! a stream gets what a socket in exactly those rooms would get from a broadcast: broadcasts
//! of this node and, through a cluster adapter, of the others. Each broadcast is one event:
//!
//! ```text
//! id: 42
//! event: message:new
//! data: [{"text":"hi"}]
//! ```
//!
//! - `id:` is the broadcast's offset in the connection-state-recovery log (no `id:` line when
//!   recovery is off or the broadcast is not logged, such as a volatile one);
//! - `event:` is the event name;
//! - `data:` is always the JSON array of the arguments (without the offset the log adds), on
//!   one line, so `["hi"]` for `emit("x", "hi")` and `[]` for no argument.
//!
//! Binary events (with attachments), broadcasts with an ack and event names holding a line
//! break are not streamed: SSE is text, and a stream cannot answer.
//!
//! **Resuming**: a `Last-Event-ID` header (sent by `EventSource` on its reconnection), or a
//! `lastEventId` query parameter, replays from the recovery log what the rooms got after that
//! id, then goes live, with nothing twice. When the id is older than the log (or unknown, or
//! recovery is off) the stream starts with `event: sse.missed` (data `{"lastEventId":...}`,
//! and an empty `id:` so that the browser forgets the stale id), then goes live.
//!
//! **Heartbeats**: a comment line `: ping` every [`SseConfig::heartbeat`] keeps proxies from
//! closing an idle stream. The stream opens with the comment `: subscribed` once the
//! subscription is in place: anything broadcast after the client read it reaches the client.
//!
//! **Bounded memory**: each stream buffers at most [`SseConfig::buffer`] events that the
//! client has not read. Past that the stream ends with `event: sse.overflow`; the client
//! reconnects with its last id and gets the rest from the log. When the server closes
//! ([`SocketIo::close`]) every stream ends with `event: sse.close`.
//!
//! **Errors** are JSON `{"ok":false,"error":{"code","message"}}`: 400 for a bad query (no
//! rooms, an empty or too long room name, too many rooms), 401/403 from the
//! [`Sse::authorize`] hook, 404 for an unknown namespace, 405 for a method other than GET,
//! 503 while the server closes or when [`SseConfig::max_streams`] streams are open. See
//! [`SseError`].
//!
//! **Auth**: a socket's middlewares need a socket, so a stream has its own hook,
//! [`Sse::authorize`], which sees the request (with the token of an `Authorization: Bearer`
//! header or of a `token` query parameter, since `EventSource` cannot set headers) and may
//! refuse it or change its rooms. An application checks there what its connect middleware
//! checks.
//!
//! ```
//! use std::time::Duration;
//! use http_body_util::BodyExt;
//! use switchboard::SocketIo;
//! use switchboard::sse::{Sse, SseConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let io = SocketIo::new(Default::default());
//! let mut config = SseConfig::default();
//! config.heartbeat = Duration::from_secs(30);
//! let sse = Sse::new(io.clone()).config(config);
//! // With axum: `Router::new().route_service("/sse", sse)`. Here, one request by hand:
//! let request = http::Request::get("/sse?rooms=news").body(())?;
//! let (parts, ()) = request.into_parts();
//! let response = sse.respond(&parts).await;
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.headers()["content-type"], "text/event-stream");
//! let mut body = response.into_body();
//! let first = body.frame().await.and_then(|f| f.ok()?.into_data().ok());
//! assert_eq!(first.as_deref(), Some(&b": subscribed\n\n"[..]));
//! io.to("news").emit("headline", "rust 2030").await?;
//! let event = body.frame().await.and_then(|f| f.ok()?.into_data().ok());
//! assert_eq!(event.as_deref(), Some(&b"event: headline\ndata: [\"rust 2030\"]\n\n"[..]));
//! # Ok(()) }
//! ```

mod body;
mod tap;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode, header};
use serde_json::json;
use switchboard_adapter::{AdapterError, Offset, Room, SocketId};

pub use body::SseBody;
pub(crate) use tap::Taps;

use crate::event::BoxFuture;
use crate::{Query, SocketIo};

/// The settings of the SSE bridge.
///
/// ```
/// use std::time::Duration;
/// use switchboard::sse::SseConfig;
///
/// let config = SseConfig::default();
/// assert_eq!(config.heartbeat, Duration::from_secs(15));
/// assert_eq!((config.buffer, config.max_rooms, config.max_streams), (1024, 32, 10_000));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SseConfig {
    /// How often a `: ping` comment is sent (15 s).
    pub heartbeat: Duration,
    /// The most events a stream holds for a client that does not read them (1024); past it
    /// the stream ends with `event: sse.overflow`.
    pub buffer: usize,
    /// The most rooms one stream may name (32).
    pub max_rooms: usize,
    /// The most streams open at once through one [`Sse`] and its clones (10 000); past it a
    /// request gets 503 ([`SseError::TooManyStreams`]).
    pub max_streams: usize,
}

impl Default for SseConfig {
    fn default() -> Self {
        SseConfig {
            heartbeat: Duration::from_secs(15),
            buffer: 1024,
            max_rooms: 32,
            max_streams: 10_000,
        }
    }
}

/// The longest room name, and the longest `Last-Event-ID`, a stream takes.
const MAX_NAME: usize = 256;

/// What a stream asks for, read from the request.
///
/// ```
/// use switchboard::sse::SseRequest;
///
/// let request = http::Request::get("/sse?namespace=/chat&rooms=a,b&token=t1")
///     .header("last-event-id", "17")
///     .body(())?;
/// let r = SseRequest::from_parts(&request.into_parts().0)?;
/// assert_eq!(r.namespace, "/chat");
/// assert_eq!(r.rooms, ["a", "b"]);
/// assert_eq!((r.last_event_id.as_deref(), r.token.as_deref()), (Some("17"), Some("t1")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SseRequest {
    /// `namespace` (`/` when absent).
    pub namespace: String,
    /// `rooms`, comma-separated in the query; the authorize hook may change them.
    pub rooms: Vec<String>,
    /// The `Last-Event-ID` header, else the `lastEventId` query parameter.
    pub last_event_id: Option<String>,
    /// The token of an `Authorization: Bearer` header, else the `token` query parameter.
    pub token: Option<String>,
    /// Every query parameter.
    pub query: Query,
    /// The request headers.
    pub headers: http::HeaderMap,
}

impl SseRequest {
    /// Reads a request; [`SseError::BadRequest`] for rooms that are missing, empty, too long or
    /// too many (more than [`SseConfig::default`]'s `max_rooms`; [`Sse`] applies its own).
    pub fn from_parts(parts: &http::request::Parts) -> Result<SseRequest, SseError> {
        Self::read(parts, SseConfig::default().max_rooms)
    }

    fn read(parts: &http::request::Parts, max_rooms: usize) -> Result<SseRequest, SseError> {
        let query = Query::new(parts.uri.query().unwrap_or_default());
        let namespace = match query.get("namespace").map(String::as_str) {
            None | Some("") => "/".to_owned(),
            Some(n) if n.starts_with('/') => n.to_owned(),
            Some(n) => format!("/{n}"),
        };
        let rooms_text = query.get("rooms").map(String::as_str).unwrap_or_default();
        if rooms_text.is_empty() {
            return Err(SseError::BadRequest("rooms is required (rooms=a,b)".into()));
        }
        let rooms: Vec<String> = rooms_text.split(',').map(str::to_owned).collect();
        if rooms.len() > max_rooms {
            return Err(SseError::BadRequest(format!("at most {max_rooms} rooms")));
        }
        if let Some(bad) = rooms.iter().find(|r| !valid_name(r)) {
            return Err(SseError::BadRequest(format!(
                "room {bad:?}: 1 to {MAX_NAME} bytes without control characters"
            )));
        }
        let header_text = |name: header::HeaderName| {
            parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
        };
        let last_event_id = header_text(header::HeaderName::from_static("last-event-id"))
            .or_else(|| query.get("lastEventId").cloned())
            .filter(|id| !id.is_empty());
        if last_event_id.as_deref().is_some_and(|id| !valid_name(id)) {
            return Err(SseError::BadRequest("Last-Event-ID is not an event id".into()));
        }
        let token = header_text(header::AUTHORIZATION)
            .and_then(|v| v.strip_prefix("Bearer ").map(|t| t.trim().to_owned()))
            .or_else(|| query.get("token").cloned());
        Ok(SseRequest {
            namespace,
            rooms,
            last_event_id,
            token,
            query,
            headers: parts.headers.clone(),
        })
    }
}

fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.len()) && !name.chars().any(char::is_control)
}

/// Why a stream was refused; each maps to an HTTP status ([`SseError::status`]).
///
/// ```
/// use switchboard::sse::SseError;
///
/// let err = SseError::Unauthorized("auth.token is required".into());
/// assert_eq!(err.status(), 401);
/// assert_eq!(err.code(), "unauthorized");
/// assert_eq!(err.to_string(), "auth.token is required");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SseError {
    /// 400: the query is not a valid subscription.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no valid credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: valid credentials, not for these rooms.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such namespace.
    #[error("unknown namespace {0}")]
    UnknownNamespace(String),
    /// 405: not a GET.
    #[error("only GET opens a stream")]
    MethodNotAllowed,
    /// 503: the server is closing.
    #[error("the server is shutting down")]
    Closing,
    /// 503: [`SseConfig::max_streams`] streams are open.
    #[error("too many streams are open, retry later")]
    TooManyStreams,
    /// 500: the adapter could not read the recovery log.
    #[error("the adapter failed")]
    Adapter(#[from] AdapterError),
}

impl SseError {
    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        match self {
            SseError::BadRequest(_) => StatusCode::BAD_REQUEST,
            SseError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            SseError::Forbidden(_) => StatusCode::FORBIDDEN,
            SseError::UnknownNamespace(_) => StatusCode::NOT_FOUND,
            SseError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            SseError::Closing | SseError::TooManyStreams => StatusCode::SERVICE_UNAVAILABLE,
            SseError::Adapter(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable `code` of the JSON answer.
    pub fn code(&self) -> &'static str {
        match self {
            SseError::BadRequest(_) => "bad_request",
            SseError::Unauthorized(_) => "unauthorized",
            SseError::Forbidden(_) => "forbidden",
            SseError::UnknownNamespace(_) => "unknown_namespace",
            SseError::MethodNotAllowed => "method_not_allowed",
            SseError::Closing => "shutting_down",
            SseError::TooManyStreams => "too_many_streams",
            SseError::Adapter(_) => "internal",
        }
    }

    fn response(&self) -> http::Response<SseBody> {
        let body =
            json!({ "ok": false, "error": { "code": self.code(), "message": self.to_string() } });
        let mut response = http::Response::new(SseBody::full(body.to_string()));
        *response.status_mut() = self.status();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
        response
    }
}

/// The authorize hook: the request in, the request to serve (rooms possibly changed) out.
type AuthorizeFn = dyn Fn(SseRequest) -> BoxFuture<Result<SseRequest, SseError>> + Send + Sync;

/// The SSE endpoint of a [`SocketIo`]: a `tower` service (mount it with axum's
/// `route_service`), or [`Sse::respond`] from any handler. Cloning is cheap.
#[derive(Clone)]
pub struct Sse {
    io: SocketIo,
    config: SseConfig,
    authorize: Option<Arc<AuthorizeFn>>,
    /// Streams open now, shared by the clones; each stream's guard gives its place back.
    open: Arc<std::sync::atomic::AtomicUsize>,
}

impl std::fmt::Debug for Sse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sse").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Sse {
    /// The endpoint of `io`, with the default [`SseConfig`] and no authorization.
    pub fn new(io: SocketIo) -> Self {
        Sse { io, config: SseConfig::default(), authorize: None, open: Arc::default() }
    }

    /// Sets the configuration.
    pub fn config(mut self, config: SseConfig) -> Self {
        self.config = config;
        self
    }

    /// Checks every request before it subscribes: return the request to serve (its rooms may
    /// be changed, for example mapped to the application's room names) or the error to answer.
    ///
    /// ```
    /// use switchboard::SocketIo;
    /// use switchboard::sse::{Sse, SseError};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sse = Sse::new(SocketIo::new(Default::default())).authorize(|mut request| async move {
    ///     if request.token.as_deref() != Some("s3cret") {
    ///         return Err(SseError::Unauthorized("a valid token is required".into()));
    ///     }
    ///     request.rooms = request.rooms.iter().map(|r| format!("room:{r}")).collect();
    ///     Ok(request)
    /// });
    /// let (parts, ()) = http::Request::get("/sse?rooms=a").body(())?.into_parts();
    /// assert_eq!(sse.respond(&parts).await.status(), 401);
    /// # Ok(()) }
    /// ```
    pub fn authorize<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(SseRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<SseRequest, SseError>> + Send + 'static,
    {
        self.authorize = Some(Arc::new(move |request| Box::pin(hook(request))));
        self
    }

    /// Answers one request: a stream, or an error as JSON.
    pub async fn respond(&self, parts: &http::request::Parts) -> http::Response<SseBody> {
        let result = match parts.method {
            Method::GET => match SseRequest::read(parts, self.config.max_rooms) {
                Ok(request) => self.open(request).await,
                Err(e) => Err(e),
            },
            _ => Err(SseError::MethodNotAllowed),
        };
        match result {
            Ok(body) => {
                let mut response = http::Response::new(body);
                let headers = response.headers_mut();
                let value = header::HeaderValue::from_static;
                headers.insert(header::CONTENT_TYPE, value("text/event-stream"));
                headers.insert(header::CACHE_CONTROL, value("no-cache"));
                // Tells nginx not to buffer the stream.
                headers.insert("x-accel-buffering", value("no"));
                response
            }
            Err(error) => error.response(),
        }
    }

    /// Subscribes `request` (after the authorize hook) and returns its event stream.
    pub async fn open(&self, request: SseRequest) -> Result<SseBody, SseError> {
        if self.io.is_closing() {
            return Err(SseError::Closing);
        }
        let request = match &self.authorize {
            Some(hook) => hook(request).await?,
            None => request,
        };
        if request.rooms.is_empty() || !request.rooms.iter().all(|r| valid_name(r)) {
            return Err(SseError::BadRequest("no valid room to subscribe to".into()));
        }
        let place = body::Place::take(&self.open, self.config.max_streams)
            .ok_or(SseError::TooManyStreams)?;
        let ns = self
            .io
            .inner()
            .namespace_for(&request.namespace, &serde_json::Value::Null)
            .ok_or_else(|| match self.io.is_closing() {
                true => SseError::Closing,
                false => SseError::UnknownNamespace(request.namespace.clone()),
            })?;
        let rooms: Vec<Room> = request.rooms.iter().map(|r| Room::from(r.as_str())).collect();
        let id = SocketId::new(format!("sse:{}", crate::id::generate()));
        let (tap, live) = tap::Tap::new(self.config.buffer);
        // Live broadcasts are buffered from here on; the replay below is read after, and
        // the body drops the live ones it already had.
        ns.taps.insert(id.clone(), tap.clone());
        let membership = body::Membership::new(ns.clone(), id.clone());
        ns.adapter().add_all(&id, &rooms);
        let mut first = VecDeque::from([Bytes::from_static(b": subscribed\n\n")]);
        let mut replayed = None;
        if let Some(last) = &request.last_event_id {
            let after = Offset::from(last.as_str());
            let missed = match ns.recovery.is_some() {
                true => ns.adapter().missed_packets(&after, &rooms).await?,
                false => None,
            };
            match missed {
                Some(packets) => {
                    let mut newest = after;
                    for (offset, packet) in packets {
                        first.extend(tap::event_text(&packet, Some(&offset)));
                        newest = newest.max(offset);
                    }
                    replayed = Some(newest);
                }
                None => {
                    let data = json!({ "lastEventId": last });
                    first.push_back(Bytes::from(format!(
                        "id:\nevent: sse.missed\ndata: {data}\n\n"
                    )));
                }
            }
        }
        let period = self.config.heartbeat.max(Duration::from_millis(1));
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ok(SseBody::stream(body::Stream {
            first,
            replayed,
            live,
            tap,
            heartbeat,
            done: false,
            membership: Some(membership),
            _place: place,
        }))
    }
}

impl<B> tower_service::Service<http::Request<B>> for Sse {
    type Response = http::Response<SseBody>;
    type Error = Infallible;
    type Future = BoxFuture<Result<http::Response<SseBody>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let sse = self.clone();
        let (parts, _body) = request.into_parts();
        Box::pin(async move { Ok(sse.respond(&parts).await) })
    }
}
