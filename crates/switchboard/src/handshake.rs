//! What the client sent when it connected.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::{Auth, Query};

/// Where shared request headers live: an owned map, or the engine session that keeps its
/// request's.
trait HeaderSource: Send + Sync {
    fn headers(&self) -> &http::HeaderMap;

    /// Whether a header called `name` is there, without building a map that is not built yet.
    fn has(&self, name: &str) -> bool {
        self.headers().contains_key(name)
    }
}

impl HeaderSource for http::HeaderMap {
    fn headers(&self) -> &http::HeaderMap {
        self
    }
}

impl HeaderSource for switchboard_engine::Socket {
    fn headers(&self) -> &http::HeaderMap {
        &self.request().headers
    }

    fn has(&self, name: &str) -> bool {
        self.request().headers.has(name)
    }
}

/// The headers of a connection's first request, shared (cloning is a reference-count
/// increment): the engine session, the connection and the handshake of each of its namespaces
/// read the same map. Derefs to [`http::HeaderMap`].
///
/// ```
/// use switchboard::Headers;
///
/// let mut map = http::HeaderMap::new();
/// map.insert("x-user", "ana".parse().unwrap());
/// let headers = Headers::from(map);
/// assert_eq!(headers.get("x-user").map(|v| v.as_bytes()), Some(&b"ana"[..]));
/// assert_eq!(headers.clone(), headers);
/// ```
#[derive(Clone)]
pub struct Headers(Arc<dyn HeaderSource>);

impl Headers {
    /// The request headers of an engine session, without copying them.
    pub(crate) fn of_session(socket: Arc<switchboard_engine::Socket>) -> Self {
        Headers(socket)
    }

    /// Whether a header called `name` is there. Unlike going through the map, this reads an
    /// engine session's raw headers, so a connection whose headers nobody reads never builds
    /// a map.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.0.has(name)
    }
}

impl Default for Headers {
    fn default() -> Self {
        Headers::from(http::HeaderMap::new())
    }
}

impl From<http::HeaderMap> for Headers {
    fn from(map: http::HeaderMap) -> Self {
        Headers(Arc::new(map))
    }
}

impl std::ops::Deref for Headers {
    type Target = http::HeaderMap;

    fn deref(&self) -> &http::HeaderMap {
        self.0.headers()
    }
}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl PartialEq for Headers {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

/// The parts of the Engine.IO handshake request a Socket.IO handshake is built from.
///
/// ```
/// use switchboard::{Handshake, Headers, RequestParts};
///
/// let mut parts = RequestParts::new("/socket.io/?EIO=4&transport=polling".parse().unwrap());
/// let mut headers = http::HeaderMap::new();
/// headers.insert("origin", "https://example.com".parse().unwrap());
/// parts.headers = Headers::from(headers);
/// parts.remote_addr = Some("10.0.0.7:51000".parse().unwrap());
/// parts.secure = true;
/// let hs = Handshake::new(&parts, serde_json::json!({}));
/// assert!(hs.secure && hs.xdomain); // xdomain: it has an `Origin` header
/// assert_eq!(hs.address(), "10.0.0.7");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RequestParts {
    /// The request URI (path and query).
    pub uri: http::Uri,
    /// The request headers, shared by the handshakes of every namespace of the connection.
    pub headers: Headers,
    /// The peer address.
    pub remote_addr: Option<SocketAddr>,
    /// When the request arrived.
    pub time: SystemTime,
    /// Whether it came over TLS.
    pub secure: bool,
}

impl RequestParts {
    /// Parts of a request to `uri`, arriving now.
    ///
    /// ```
    /// use switchboard::RequestParts;
    ///
    /// let parts = RequestParts::new("/socket.io/?EIO=4&transport=websocket".parse().unwrap());
    /// assert_eq!(parts.uri.query(), Some("EIO=4&transport=websocket"));
    /// assert!(parts.headers.is_empty());
    /// assert_eq!(parts.remote_addr, None);
    /// assert!(!parts.secure);
    /// ```
    pub fn new(uri: http::Uri) -> Self {
        RequestParts {
            uri,
            headers: Headers::default(),
            remote_addr: None,
            time: SystemTime::now(),
            secure: false,
        }
    }
}

/// Where a connection's handshakes read its first request from: the engine session, which
/// keeps it anyway (no copy per connection).
pub(crate) enum RequestSource {
    /// The engine session's request.
    Session(Arc<switchboard_engine::Socket>),
    /// Parts given by the caller (tests, on an in-process connection).
    Parts(Box<RequestParts>),
}

impl RequestSource {
    /// The handshake of a socket connecting with `auth`.
    pub(crate) fn handshake(&self, auth: Value) -> Handshake {
        match self {
            RequestSource::Session(socket) => {
                let req = socket.request();
                // Read in place: a clone of the URI would make its buffer shared, which
                // allocates a header kept for the connection's life.
                let request =
                    (Query::of_session(socket.clone()), Headers::of_session(socket.clone()));
                let (time, secure) = (req.time, req.secure);
                Handshake::build(Origin::Session(socket.clone()), request, time, secure, auth)
            }
            RequestSource::Parts(parts) => Handshake::new(parts, auth),
        }
    }
}

/// The handshake of a socket (Node's `socket.handshake`).
///
/// The peer address, the date and the URL are read from the connection's first request
/// when asked for ([`Handshake::address`], [`Handshake::time`], [`Handshake::url`]), not
/// copied into every socket.
///
/// ```
/// use switchboard::{Handshake, RequestParts};
///
/// let uri = "/socket.io/?EIO=4&transport=polling&room=a".parse().unwrap();
/// let mut parts = RequestParts::new(uri);
/// parts.remote_addr = Some("10.0.0.7:51000".parse().unwrap());
/// let hs = Handshake::new(&parts, serde_json::json!({"token": "t"}));
/// assert_eq!(hs.query.get("room").map(String::as_str), Some("a"));
/// assert_eq!(hs.auth["token"], "t");
/// assert_eq!(hs.address(), "10.0.0.7");
/// assert_eq!(hs.url(), "/socket.io/?EIO=4&transport=polling&room=a");
/// assert!(hs.time().ends_with(" GMT"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Handshake {
    /// The CONNECT payload (`{}` if none).
    pub auth: Auth,
    /// The query parameters of the first request (last value wins), parsed on first use.
    pub query: Query,
    /// The headers of the first request (shared, not copied, by every handshake of the
    /// connection).
    pub headers: Headers,
    /// When the connection was made, in milliseconds since the Unix epoch.
    pub issued: u64,
    /// Whether the connection is over TLS.
    pub secure: bool,
    /// Whether the request came from another origin (has an `Origin` header).
    pub xdomain: bool,
    /// Where the address and the URL are read from.
    origin: Origin,
}

/// The request a handshake's address and URL come from.
#[derive(Clone)]
enum Origin {
    /// The engine session's first request (read in place).
    Session(Arc<switchboard_engine::Socket>),
    /// Text of its own: a socket of another node, or a handshake built from parts.
    Text(Box<OriginText>),
}

#[derive(Clone, Debug)]
struct OriginText {
    address: String,
    /// The other node's own date text (`None`: made from `issued`).
    time: Option<String>,
    url: String,
}

impl std::fmt::Debug for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (address, url) = match self {
            Origin::Session(socket) => {
                (socket.request().remote_addr.map(|a| a.ip()), url_of(socket))
            }
            Origin::Text(text) => return text.fmt(f),
        };
        f.debug_struct("Origin").field("address", &address).field("url", &url).finish()
    }
}

/// A peer's IP address as text (empty if unknown).
fn ip_text(addr: Option<SocketAddr>) -> String {
    addr.map(|a| a.ip().to_string()).unwrap_or_default()
}

/// The path and query of a session's first request.
fn url_of(socket: &switchboard_engine::Socket) -> &str {
    socket.request().uri()
}

impl Handshake {
    /// The handshake of a socket connecting with `auth` over the request `parts`.
    ///
    /// ```
    /// use switchboard::{Handshake, RequestParts};
    ///
    /// let uri = "/socket.io/?EIO=4&transport=polling&room=a".parse().unwrap();
    /// let parts = RequestParts::new(uri);
    /// let hs = Handshake::new(&parts, serde_json::json!({"token": "t"}));
    /// assert_eq!(hs.auth["token"], "t");
    /// assert_eq!(hs.query.get("room").map(String::as_str), Some("a"));
    /// assert!(!hs.xdomain && !hs.secure);
    /// ```
    pub fn new(parts: &RequestParts, auth: Value) -> Self {
        let request = (Query::new(parts.uri.query().unwrap_or_default()), parts.headers.clone());
        let origin = Origin::Text(Box::new(OriginText {
            address: ip_text(parts.remote_addr),
            time: None,
            url: parts.uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default(),
        }));
        Handshake::build(origin, request, parts.time, parts.secure, auth)
    }

    fn build(
        origin: Origin,
        (query, headers): (Query, Headers),
        time: SystemTime,
        secure: bool,
        auth: Value,
    ) -> Self {
        let issued = time
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Handshake {
            auth: Auth::from(auth),
            query,
            xdomain: headers.has("origin"),
            headers,
            issued,
            secure,
            origin,
        }
    }

    /// The TCP peer's IP address (never a forwarding header); `None` if unknown.
    #[cfg(feature = "admin")]
    pub(crate) fn peer_ip(&self) -> Option<std::net::IpAddr> {
        match &self.origin {
            Origin::Session(socket) => socket.request().remote_addr.map(|a| a.ip()),
            Origin::Text(text) => text.address.parse().ok(),
        }
    }

    /// The peer's IP address (empty if unknown).
    ///
    /// ```
    /// use switchboard::{Handshake, RequestParts};
    ///
    /// let mut parts = RequestParts::new("/socket.io/".parse().unwrap());
    /// assert_eq!(Handshake::new(&parts, serde_json::json!({})).address(), "");
    /// parts.remote_addr = Some("[::1]:51000".parse().unwrap());
    /// assert_eq!(Handshake::new(&parts, serde_json::json!({})).address(), "::1"); // no port
    /// ```
    pub fn address(&self) -> String {
        match &self.origin {
            Origin::Session(socket) => ip_text(socket.request().remote_addr),
            Origin::Text(text) => text.address.clone(),
        }
    }

    /// When the connection was made, as an HTTP date (`Sun, 22 Nov 2026 01:40:43 GMT`).
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use switchboard::{Handshake, RequestParts};
    ///
    /// let mut parts = RequestParts::new("/socket.io/".parse().unwrap());
    /// parts.time = UNIX_EPOCH + Duration::from_secs(1_795_305_600);
    /// let hs = Handshake::new(&parts, serde_json::json!({}));
    /// assert_eq!(hs.time(), "Sun, 22 Nov 2026 00:00:00 GMT");
    /// assert_eq!(hs.issued, 1_795_305_600_000); // the same moment, in milliseconds
    /// ```
    pub fn time(&self) -> String {
        let made = || http_date(self.issued / 1000);
        match &self.origin {
            Origin::Text(text) => text.time.clone().unwrap_or_else(made),
            Origin::Session(_) => made(),
        }
    }

    /// The request URL (path and query).
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.emit("url", socket.handshake().url())
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// // The in-process client's request, as a WebSocket client's first one.
    /// assert_eq!(client.recv().await?.data::<String>()?, "/socket.io/?EIO=4&transport=websocket");
    /// # Ok(()) }
    /// ```
    pub fn url(&self) -> &str {
        match &self.origin {
            Origin::Session(socket) => url_of(socket),
            Origin::Text(text) => &text.url,
        }
    }

    /// The handshake as JSON, in Node's shape (for `fetch_sockets` across a cluster).
    ///
    /// ```
    /// use switchboard::{Handshake, RequestParts};
    ///
    /// let parts = RequestParts::new("/socket.io/?EIO=4&transport=polling".parse().unwrap());
    /// let json = Handshake::new(&parts, serde_json::json!({"token": "t"})).to_json();
    /// assert_eq!(json["url"], "/socket.io/?EIO=4&transport=polling");
    /// assert_eq!(json["query"]["transport"], "polling");
    /// assert_eq!(json["auth"]["token"], "t");
    /// let mut keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
    /// keys.sort();
    /// assert_eq!(
    ///     keys,
    ///     ["address", "auth", "headers", "issued", "query", "secure", "time", "url", "xdomain"]
    /// );
    /// ```
    pub fn to_json(&self) -> Value {
        let headers: Map<String, Value> = self
            .headers
            .iter()
            .map(|(k, v)| {
                (k.as_str().to_owned(), Value::String(v.to_str().unwrap_or_default().to_owned()))
            })
            .collect();
        let query: Map<String, Value> =
            self.query.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        serde_json::json!({
            "headers": headers,
            "time": self.time(),
            "address": self.address(),
            "xdomain": self.xdomain,
            "secure": self.secure,
            "issued": self.issued,
            "url": self.url(),
            "query": query,
            "auth": self.auth,
        })
    }

    /// Rebuilds a handshake from [`Handshake::to_json`] (for remote sockets).
    ///
    /// ```
    /// use switchboard::{Handshake, RequestParts};
    ///
    /// let mut parts = RequestParts::new("/socket.io/?EIO=4&transport=polling".parse().unwrap());
    /// parts.remote_addr = Some("10.0.0.7:51000".parse().unwrap());
    /// let here = Handshake::new(&parts, serde_json::json!({"token": "t"}));
    /// // As another server of the cluster sees it:
    /// let there = Handshake::from_json(&here.to_json());
    /// assert_eq!((there.address(), there.url()), (here.address(), here.url()));
    /// assert_eq!(there.time(), here.time());
    /// assert_eq!((&there.auth, &there.query), (&here.auth, &here.query));
    /// // Missing or mistyped fields are left empty.
    /// assert_eq!(Handshake::from_json(&serde_json::json!({"url": 7})).url(), "");
    /// ```
    pub fn from_json(v: &Value) -> Self {
        let str_map = |v: Option<&Value>| -> HashMap<String, String> {
            v.and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut headers = http::HeaderMap::new();
        for (k, v) in str_map(v.get("headers")) {
            if let (Ok(k), Ok(v)) = (http::HeaderName::try_from(k), http::HeaderValue::try_from(v))
            {
                headers.insert(k, v);
            }
        }
        let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
        let headers = Headers::from(headers);
        Handshake {
            auth: v.get("auth").cloned().map(Auth::from).unwrap_or_default(),
            query: Query::from(str_map(v.get("query"))),
            headers,
            issued: v.get("issued").and_then(Value::as_u64).unwrap_or(0),
            secure: v.get("secure").and_then(Value::as_bool).unwrap_or(false),
            xdomain: v.get("xdomain").and_then(Value::as_bool).unwrap_or(false),
            origin: Origin::Text(Box::new(OriginText {
                address: text("address"),
                time: Some(text("time")),
                url: text("url"),
            })),
        }
    }
}

/// `Sun, 22 Nov 2026 00:00:00 GMT` for `secs` since the epoch.
fn http_date(secs: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_dates_and_queries() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(1_795_305_600), "Sun, 22 Nov 2026 00:00:00 GMT");
    }

    #[test]
    fn json_round_trip() {
        let mut parts = RequestParts::new("/socket.io/?x=1".parse().unwrap());
        let mut headers = http::HeaderMap::new();
        headers.insert("origin", "http://a".parse().unwrap());
        parts.headers = Headers::from(headers);
        let hs = Handshake::new(&parts, serde_json::json!({"t": 1}));
        let back = Handshake::from_json(&hs.to_json());
        assert_eq!(back.query, hs.query);
        assert_eq!(back.auth, hs.auth);
        assert_eq!(back.headers, hs.headers);
        assert!(back.xdomain);
        assert_eq!(back.url(), "/socket.io/?x=1");
        assert_eq!(back.time(), hs.time());
    }
}
