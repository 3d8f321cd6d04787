//! Engine configuration. `Default` equals the Node `engine.io` v6 defaults.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Decides whether a handshake or upgrade request may proceed (Node's `allowRequest`).
///
/// Returning `Err(message)` answers HTTP 403 with `{"code":4,"message":message}`, or with
/// `"Forbidden"` as the message when `message` is empty (as Node does).
///
/// ```
/// use std::sync::Arc;
/// use switchboard_engine::AllowRequest;
///
/// let signed_in: AllowRequest = Arc::new(|parts| match parts.headers.get("authorization") {
///     Some(_) => Ok(()),
///     None => Err("sign in first".to_owned()),
/// });
/// let (parts, ()) = http::Request::get("/engine.io/?EIO=4").body(())?.into_parts();
/// assert_eq!(signed_in(&parts), Err("sign in first".to_owned()));
/// # Ok::<(), http::Error>(())
/// ```
pub type AllowRequest =
    Arc<dyn Fn(&http::request::Parts) -> Result<(), String> + Send + Sync + 'static>;

/// Which transports the server accepts.
///
/// ```
/// # use std::sync::Arc;
/// # use switchboard_engine::{DisconnectReason, Engine, EngineConfig, Handler, Message};
/// # use switchboard_engine::Socket;
/// # struct Quiet;
/// # impl Handler for Quiet {
/// #     type Session = ();
/// #     fn on_connect(&self, _: Arc<Socket>) {}
/// #     fn on_message(&self, _: &mut (), _: &Arc<Socket>, _: Message) {}
/// #     fn on_disconnect(&self, _: (), _: &Arc<Socket>, _: DisconnectReason) {}
/// # }
/// # type BoxError = Box<dyn std::error::Error>;
/// # async fn get<H: Handler>(engine: &Engine<H>, uri: &str) -> Result<(u16, String), BoxError>
/// # {
/// #     use http_body_util::BodyExt;
/// #     use tower_service::Service;
/// #     let res = engine.service().call(http::Request::get(uri).body(String::new())?).await?;
/// #     let status = res.status().as_u16();
/// #     let body = res.into_body().collect().await?.to_bytes();
/// #     Ok((status, String::from_utf8(body.to_vec())?))
/// # }
/// use switchboard_engine::Transports;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut config = EngineConfig::default();
/// assert_eq!(config.transports, Transports { polling: true, websocket: true });
/// config.transports = Transports { polling: false, websocket: true };
/// let engine = Engine::new(Arc::new(Quiet), config);
/// let refused = get(&engine, "/engine.io/?EIO=4&transport=polling").await?;
/// assert_eq!(refused, (400, r#"{"code":0,"message":"Transport unknown"}"#.to_owned()));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transports {
    /// HTTP long-polling.
    pub polling: bool,
    /// WebSocket.
    pub websocket: bool,
}

impl Default for Transports {
    fn default() -> Self {
        Transports { polling: true, websocket: true }
    }
}

/// Cross-origin resource sharing for the polling transport.
///
/// ```
/// # use std::sync::Arc;
/// # use switchboard_engine::{DisconnectReason, Engine, EngineConfig, Handler, Message};
/// # use switchboard_engine::Socket;
/// # struct Quiet;
/// # impl Handler for Quiet {
/// #     type Session = ();
/// #     fn on_connect(&self, _: Arc<Socket>) {}
/// #     fn on_message(&self, _: &mut (), _: &Arc<Socket>, _: Message) {}
/// #     fn on_disconnect(&self, _: (), _: &Arc<Socket>, _: DisconnectReason) {}
/// # }
/// # use http_body_util::BodyExt;
/// # use tower_service::Service;
/// use switchboard_engine::Cors;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut cors = Cors::default(); // any origin
/// cors.origins = Some(vec!["https://app.example".to_owned()]);
/// cors.credentials = true;
/// let mut config = EngineConfig::default();
/// config.cors = Some(cors);
/// let mut service = Engine::new(Arc::new(Quiet), config).service();
///
/// let handshake = |origin: &str| {
///     http::Request::get("/engine.io/?EIO=4&transport=polling")
///         .header("origin", origin)
///         .body(String::new())
/// };
/// let res = service.call(handshake("https://app.example")?).await?;
/// assert_eq!(res.headers()["access-control-allow-origin"], "https://app.example");
/// assert_eq!(res.headers()["access-control-allow-credentials"], "true");
///
/// let res = service.call(handshake("https://elsewhere.example")?).await?;
/// assert_eq!(res.status(), 403);
/// let body = res.into_body().collect().await?.to_bytes();
/// assert_eq!(body, r#"{"code":4,"message":"Origin not allowed"}"#);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Cors {
    /// Allowed origins; `None` allows any origin (`*`, or the request's origin with credentials).
    ///
    /// With a list, a request (polling or WebSocket upgrade) whose `Origin` is neither listed
    /// nor its own (`Host`) is refused with `403 {"code":4,"message":"Origin not allowed"}`:
    /// CORS headers do not protect a WebSocket, so this stops cross-site WebSocket hijacking.
    /// Requests without `Origin` (not from a browser page) pass.
    pub origins: Option<Vec<String>>,
    /// Send `Access-Control-Allow-Credentials: true`.
    pub credentials: bool,
}

/// Engine.IO server options.
///
/// The defaults are those of the Node `engine.io` server: `pingInterval` 25 s,
/// `pingTimeout` 20 s, `upgradeTimeout` 10 s, `maxHttpBufferSize` 1e6, both transports,
/// upgrades allowed, path `/engine.io/`.
///
/// ```
/// # use std::sync::Arc;
/// # use switchboard_engine::{DisconnectReason, Engine, EngineConfig, Handler, Message};
/// # use switchboard_engine::Socket;
/// # struct Quiet;
/// # impl Handler for Quiet {
/// #     type Session = ();
/// #     fn on_connect(&self, _: Arc<Socket>) {}
/// #     fn on_message(&self, _: &mut (), _: &Arc<Socket>, _: Message) {}
/// #     fn on_disconnect(&self, _: (), _: &Arc<Socket>, _: DisconnectReason) {}
/// # }
/// # type BoxError = Box<dyn std::error::Error>;
/// # async fn get<H: Handler>(engine: &Engine<H>, uri: &str) -> Result<(u16, String), BoxError>
/// # {
/// #     use http_body_util::BodyExt;
/// #     use tower_service::Service;
/// #     let res = engine.service().call(http::Request::get(uri).body(String::new())?).await?;
/// #     let status = res.status().as_u16();
/// #     let body = res.into_body().collect().await?.to_bytes();
/// #     Ok((status, String::from_utf8(body.to_vec())?))
/// # }
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut config = EngineConfig::default();
/// assert_eq!(config.ping_interval, Duration::from_secs(25));
/// assert_eq!(config.max_payload, 1_000_000);
/// config.path = "/realtime/".to_owned();
/// config.ping_timeout = Duration::from_secs(5);
/// // Only clients that present a token may open a session.
/// config.allow_request = Some(Arc::new(|parts: &http::request::Parts| {
///     if parts.uri.query().is_some_and(|q| q.contains("token=")) {
///         Ok(())
///     } else {
///         Err("no token".to_owned())
///     }
/// }));
/// let engine = Engine::new(Arc::new(Quiet), config);
///
/// let (status, _) = get(&engine, "/realtime/?EIO=4&transport=polling&token=abc").await?;
/// assert_eq!(status, 200);
/// let refused = get(&engine, "/realtime/?EIO=4&transport=polling").await?;
/// assert_eq!(refused, (403, r#"{"code":4,"message":"no token"}"#.to_owned()));
/// let (status, _) = get(&engine, "/engine.io/?EIO=4&transport=polling&token=abc").await?;
/// assert_eq!(status, 404);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct EngineConfig {
    /// The path the server answers on; it must start and end with `/`.
    pub path: String,
    /// Time between two server pings.
    pub ping_interval: Duration,
    /// Time the client has to answer a ping before the session is closed.
    pub ping_timeout: Duration,
    /// Time a started upgrade has to complete.
    pub upgrade_timeout: Duration,
    /// Largest message or polling body accepted, in bytes (Node's `maxHttpBufferSize`).
    pub max_payload: usize,
    /// Accepted transports.
    pub transports: Transports,
    /// Whether polling sessions may upgrade to WebSocket.
    pub allow_upgrades: bool,
    /// CORS for polling requests; `None` sends no CORS headers.
    pub cors: Option<Cors>,
    /// Optional request filter for handshakes and upgrades.
    pub allow_request: Option<AllowRequest>,
    /// Most messages queued for one session before [`crate::Socket::send`] fails with
    /// [`crate::SendError::Full`].
    pub max_buffered_messages: usize,
    /// Most bytes a WebSocket may hold unsent, which also bounds the largest frame the server
    /// can send (default 4 MiB; Node has no such limit). A larger message ends the session.
    pub max_websocket_write_buffer: usize,
    /// Caps on open sessions (in all and per client address) and on the handshake rate per
    /// client address; all off by default, as in Node.
    pub limits: crate::Limits,
    /// Accept Engine.IO v3 clients (Socket.IO v2), as Node's `allowEIO3`; off by default.
    ///
    /// Off, a handshake without `EIO=4` is refused with
    /// `400 {"code":5,"message":"Unsupported protocol version"}`. On, any other `EIO` value
    /// (or none) opens a v3 session, as in Node: the client sends the pings and the server
    /// answers them, payloads are length-prefixed, and binary travels as `b4` and base64 (or
    /// as type-prefixed binary frames and XHR2 binary payloads when the client did not ask for
    /// `b64`). [`crate::Socket::protocol`] tells the layer above which revision a session
    /// speaks. JSONP polling (`j=`) is not supported.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use switchboard_engine::{DisconnectReason, Engine, EngineConfig, Handler, Message};
    /// # use switchboard_engine::Socket;
    /// # struct Quiet;
    /// # impl Handler for Quiet {
    /// #     type Session = ();
    /// #     fn on_connect(&self, _: Arc<Socket>) {}
    /// #     fn on_message(&self, _: &mut (), _: &Arc<Socket>, _: Message) {}
    /// #     fn on_disconnect(&self, _: (), _: &Arc<Socket>, _: DisconnectReason) {}
    /// # }
    /// # type BoxError = Box<dyn std::error::Error>;
    /// # async fn get<H: Handler>(engine: &Engine<H>, uri: &str) -> Result<(u16, String), BoxError>
    /// # {
    /// #     use http_body_util::BodyExt;
    /// #     use tower_service::Service;
    /// #     let res = engine.service().call(http::Request::get(uri).body(String::new())?).await?;
    /// #     let status = res.status().as_u16();
    /// #     let body = res.into_body().collect().await?.to_bytes();
    /// #     Ok((status, String::from_utf8(body.to_vec())?))
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let engine = Engine::new(Arc::new(Quiet), EngineConfig::default());
    /// let refused = get(&engine, "/engine.io/?EIO=3&transport=polling").await?;
    /// assert_eq!(refused, (400, r#"{"code":5,"message":"Unsupported protocol version"}"#.into()));
    ///
    /// let mut config = EngineConfig::default();
    /// config.allow_eio3 = true;
    /// let engine = Engine::new(Arc::new(Quiet), config);
    /// let (status, body) = get(&engine, "/engine.io/?EIO=3&transport=polling&b64=1").await?;
    /// assert_eq!(status, 200);
    /// // A v3 payload: the open packet behind its length.
    /// let (length, open) = body.split_once(':').ok_or("no length prefix")?;
    /// assert_eq!(length.parse::<usize>()?, open.len());
    /// assert!(open.starts_with(r#"0{"sid":"#));
    /// # Ok(())
    /// # }
    /// ```
    pub allow_eio3: bool,
    /// WebSocket compression (permessage-deflate, RFC 7692); `None`, the default as in Node
    /// (`perMessageDeflate: false`), never negotiates it.
    pub per_message_deflate: Option<PerMessageDeflate>,
    /// A cluster without sticky sessions: requests for sessions of other nodes are forwarded
    /// to their owner (see [`crate::Cluster`]); `None`, the default, answers them
    /// `Session ID unknown` as Node does.
    pub cluster: Option<crate::Cluster>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            path: "/engine.io/".to_owned(),
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            upgrade_timeout: Duration::from_millis(10_000),
            max_payload: 1_000_000,
            transports: Transports::default(),
            allow_upgrades: true,
            cors: None,
            allow_request: None,
            max_buffered_messages: 4096,
            max_websocket_write_buffer: 4 << 20,
            limits: crate::Limits::default(),
            allow_eio3: false,
            per_message_deflate: None,
            cluster: None,
        }
    }
}

impl fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineConfig")
            .field("path", &self.path)
            .field("ping_interval", &self.ping_interval)
            .field("ping_timeout", &self.ping_timeout)
            .field("upgrade_timeout", &self.upgrade_timeout)
            .field("max_payload", &self.max_payload)
            .field("transports", &self.transports)
            .field("allow_upgrades", &self.allow_upgrades)
            .field("cors", &self.cors)
            .field("allow_request", &self.allow_request.is_some())
            .field("max_buffered_messages", &self.max_buffered_messages)
            .field("max_websocket_write_buffer", &self.max_websocket_write_buffer)
            .field("allow_eio3", &self.allow_eio3)
            .field("limits", &self.limits)
            .field("per_message_deflate", &self.per_message_deflate)
            .field("cluster", &self.cluster)
            .finish()
    }
}

/// WebSocket compression (permessage-deflate, RFC 7692), as Node's `perMessageDeflate`.
///
/// When a client offers the extension (browsers and the Node `ws` client do), the server
/// accepts it, compresses the text and binary messages it sends from [`threshold`] bytes on,
/// and inflates the compressed messages it receives. Two limits apply to a received message:
/// [`EngineConfig::max_payload`] to its bytes on the wire, and [`max_inflated`] to its bytes
/// once inflated; inflating stops as the second is passed, and the connection is closed with
/// status code 1009, so that a small message that inflates to gigabytes (a compression bomb)
/// costs no more than the limit.
///
/// With context takeover (the default, as in Node), each direction keeps its compression
/// window between messages, which compresses a stream of similar messages far better, at a
/// cost in memory per connection: the deflate state exists from the first message the server
/// compresses, the inflate state from the first compressed message it receives, and both stay
/// until the connection ends, about 340 KiB per connection together at 15 window bits (about
/// 210 KiB at 10). Without it ([`server_no_context_takeover`] and
/// [`client_no_context_takeover`]), they are freed after each message, and an idle connection
/// costs what it costs without compression (about 3 KiB). The measurement is in
/// `docs/ARCHITECTURE.md` (WebSocket).
///
/// `Default` is Node's `perMessageDeflate: true`: threshold 1024 bytes, context takeover both
/// ways, 15 window bits, compression level 6, and inflated messages bounded like the wire
/// (1,000,000 bytes).
///
/// [`threshold`]: PerMessageDeflate::threshold
/// [`max_inflated`]: PerMessageDeflate::max_inflated
/// [`server_no_context_takeover`]: PerMessageDeflate::server_no_context_takeover
/// [`client_no_context_takeover`]: PerMessageDeflate::client_no_context_takeover
///
/// ```
/// # use std::sync::Arc;
/// # use switchboard_engine::{DisconnectReason, Engine, EngineConfig, Handler, Message};
/// # use switchboard_engine::Socket;
/// # struct Quiet;
/// # impl Handler for Quiet {
/// #     type Session = ();
/// #     fn on_connect(&self, _: Arc<Socket>) {}
/// #     fn on_message(&self, _: &mut (), _: &Arc<Socket>, _: Message) {}
/// #     fn on_disconnect(&self, _: (), _: &Arc<Socket>, _: DisconnectReason) {}
/// # }
/// use switchboard_engine::PerMessageDeflate;
/// use tower_service::Service;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut deflate = PerMessageDeflate::default();
/// assert_eq!(deflate.threshold, 1024);
/// deflate.max_inflated = 64 * 1024;
/// deflate.server_no_context_takeover = true;
/// let mut config = EngineConfig::default();
/// assert!(config.per_message_deflate.is_none()); // off by default, as in Node
/// config.per_message_deflate = Some(deflate);
/// let mut service = Engine::new(Arc::new(Quiet), config).service();
///
/// // A browser's WebSocket handshake offers the extension; the answer accepts it.
/// let req = http::Request::get("/engine.io/?EIO=4&transport=websocket")
///     .header("connection", "Upgrade")
///     .header("upgrade", "websocket")
///     .header("sec-websocket-version", "13")
///     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
///     .header("sec-websocket-extensions", "permessage-deflate; client_max_window_bits")
///     .body(String::new())?;
/// let res = service.call(req).await?;
/// assert_eq!(res.status(), 101);
/// assert_eq!(
///     res.headers()["sec-websocket-extensions"],
///     "permessage-deflate; server_no_context_takeover"
/// );
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PerMessageDeflate {
    /// Messages shorter than this many bytes are sent uncompressed (Node's `threshold`).
    pub threshold: usize,
    /// Largest message accepted once inflated, in bytes; a compressed message that would
    /// inflate past it closes the connection with status code 1009.
    pub max_inflated: usize,
    /// Start the server's compression window afresh for each message (and ask the client to
    /// let it): less memory per connection, less compression.
    pub server_no_context_takeover: bool,
    /// Ask the client to start its compression window afresh for each message, so that the
    /// server frees its inflate state between messages.
    pub client_no_context_takeover: bool,
    /// Largest compression window the server uses, as a power of two (9 to 15; 8 counts as 9,
    /// which zlib uses for it as well); a client may ask for a smaller one.
    pub server_max_window_bits: u8,
    /// Largest compression window asked of a client that says it can limit it, as a power of
    /// two (9 to 15): a smaller window means a smaller inflate state on the server.
    pub client_max_window_bits: u8,
    /// Compression level, 0 (none) to 9 (smallest output, slowest).
    pub level: u8,
}

impl Default for PerMessageDeflate {
    fn default() -> Self {
        PerMessageDeflate {
            threshold: 1024,
            max_inflated: 1_000_000,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            level: 6,
        }
    }
}
