//! Building the Engine.IO request URLs from the user's URL and options.

use std::sync::Arc;

use http::Uri;

use super::{EngineOptions, Error, TransportKind};

/// Where the Engine.IO endpoint is, and the query every request carries.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// The TLS configuration, for `https`/`wss` URLs.
    tls: Option<Arc<rustls::ClientConfig>>,
    /// `host:port`.
    authority: String,
    /// The Engine.IO path, with a trailing slash.
    path: String,
    /// The encoded query without `EIO`, `transport` and `sid` (may be empty).
    query: String,
}

impl Endpoint {
    /// Parses `url` (`http://`, `ws://`, or with TLS `https://`, `wss://`; its path is
    /// ignored, its query is kept) with the path, query and TLS configuration of `options`.
    pub(crate) fn new(url: &str, options: &EngineOptions) -> Result<Self, Error> {
        let uri: Uri = url.parse().map_err(|_| Error::InvalidUrl(url.into()))?;
        let (tls, default_port) = match uri.scheme_str() {
            Some("http" | "ws") => (None, 80),
            Some("https" | "wss") => {
                let config = match &options.tls {
                    Some(config) => config.clone(),
                    None => super::platform_tls_config().map_err(Error::Tls)?,
                };
                (Some(config), 443)
            }
            _ => return Err(Error::InvalidUrl(url.into())),
        };
        let host = uri.host().ok_or_else(|| Error::InvalidUrl(url.into()))?;
        let authority = format!("{host}:{}", uri.port_u16().unwrap_or(default_port));
        let mut path = options.path.trim_end_matches('/').to_owned();
        path.push('/');
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        let mut query = String::new();
        for (k, v) in &options.query {
            push_pair(&mut query, k, v);
        }
        if let Some(q) = uri.query().filter(|q| !q.is_empty()) {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(q);
        }
        Ok(Endpoint { tls, authority, path, query })
    }

    /// The TLS configuration, when the URL asks for TLS.
    pub(crate) fn tls(&self) -> Option<&Arc<rustls::ClientConfig>> {
        self.tls.as_ref()
    }

    /// The URL of a request on `transport`, for session `sid` once known.
    pub(crate) fn url(&self, transport: TransportKind, sid: Option<&str>) -> String {
        let scheme = match (transport, self.tls.is_some()) {
            (TransportKind::Polling, false) => "http",
            (TransportKind::Polling, true) => "https",
            (TransportKind::WebSocket, false) => "ws",
            (TransportKind::WebSocket, true) => "wss",
        };
        let mut q = format!("EIO=4&transport={}", transport.name());
        if let Some(sid) = sid {
            push_pair(&mut q, "sid", sid);
        }
        if !self.query.is_empty() {
            q.push('&');
            q.push_str(&self.query);
        }
        format!("{scheme}://{}{}?{q}", self.authority, self.path)
    }
}

/// Appends `k=v` (percent-encoded like `encodeURIComponent`) to a query string.
fn push_pair(q: &mut String, k: &str, v: &str) {
    if !q.is_empty() {
        q.push('&');
    }
    encode_component(q, k);
    q.push('=');
    encode_component(q, v);
}

fn encode_component(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_request_urls() {
        let mut o = EngineOptions::default();
        o.query.push(("token".into(), "a b&c".into()));
        let e = Endpoint::new("http://localhost:3000/ignored?x=1", &o).unwrap();
        assert_eq!(
            e.url(TransportKind::Polling, None),
            "http://localhost:3000/engine.io/?EIO=4&transport=polling&token=a%20b%26c&x=1"
        );
        assert_eq!(
            e.url(TransportKind::WebSocket, Some("ab-C_")),
            "ws://localhost:3000/engine.io/?EIO=4&transport=websocket&sid=ab-C_&token=a%20b%26c&x=1"
        );
    }

    #[test]
    fn normalizes_path_and_port() {
        let o = EngineOptions { path: "socket.io".into(), ..Default::default() };
        let e = Endpoint::new("ws://127.0.0.1", &o).unwrap();
        assert_eq!(
            e.url(TransportKind::Polling, None),
            "http://127.0.0.1:80/socket.io/?EIO=4&transport=polling"
        );
    }

    #[test]
    fn tls_urls_keep_their_scheme_and_default_to_port_443() {
        let o = EngineOptions {
            tls: Some(crate::engine::tls::tests::any_config()),
            ..EngineOptions::default()
        };
        let e = Endpoint::new("wss://example.test", &o).unwrap();
        assert!(e.tls().is_some());
        assert_eq!(
            e.url(TransportKind::Polling, None),
            "https://example.test:443/engine.io/?EIO=4&transport=polling"
        );
        let e = Endpoint::new("https://example.test:8443/x", &o).unwrap();
        assert_eq!(
            e.url(TransportKind::WebSocket, Some("s")),
            "wss://example.test:8443/engine.io/?EIO=4&transport=websocket&sid=s"
        );
        assert!(Endpoint::new("http://example.test", &o).unwrap().tls().is_none());
    }

    #[test]
    fn rejects_garbage() {
        let o = EngineOptions::default();
        assert!(matches!(Endpoint::new("ftp://x", &o), Err(Error::InvalidUrl(_))));
        assert!(matches!(Endpoint::new("not a url", &o), Err(Error::InvalidUrl(_))));
    }
}
