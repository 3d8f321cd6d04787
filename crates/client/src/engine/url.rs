//! Building the Engine.IO request URLs from the user's URL and options.

use http::Uri;

use super::{EngineOptions, Error, TransportKind};

/// Where the Engine.IO endpoint is, and the query every request carries.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// `host:port`.
    authority: String,
    /// The Engine.IO path, with a trailing slash.
    path: String,
    /// The encoded query without `EIO`, `transport` and `sid` (may be empty).
    query: String,
}

impl Endpoint {
    /// Parses `url` (`http://` or `ws://`; its path is ignored, its query is kept) with the
    /// path and query of `options`.
    pub(crate) fn new(url: &str, options: &EngineOptions) -> Result<Self, Error> {
        let uri: Uri = url.parse().map_err(|_| Error::InvalidUrl(url.into()))?;
        match uri.scheme_str() {
            Some("http" | "ws") => {}
            Some(s @ ("https" | "wss")) => return Err(Error::TlsUnsupported(s.into())),
            _ => return Err(Error::InvalidUrl(url.into())),
        }
        let host = uri.host().ok_or_else(|| Error::InvalidUrl(url.into()))?;
        let authority = format!("{host}:{}", uri.port_u16().unwrap_or(80));
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
        Ok(Endpoint { authority, path, query })
    }

    /// The URL of a request on `transport`, for session `sid` once known.
    pub(crate) fn url(&self, transport: TransportKind, sid: Option<&str>) -> String {
        let scheme = match transport {
            TransportKind::Polling => "http",
            TransportKind::WebSocket => "ws",
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
    fn rejects_tls_and_garbage() {
        let o = EngineOptions::default();
        assert!(matches!(Endpoint::new("https://x", &o), Err(Error::TlsUnsupported(_))));
        assert!(matches!(Endpoint::new("ftp://x", &o), Err(Error::InvalidUrl(_))));
        assert!(matches!(Endpoint::new("not a url", &o), Err(Error::InvalidUrl(_))));
    }
}
