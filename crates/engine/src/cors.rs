//! CORS headers for polling requests, as Node's `cors` middleware with the engine's options.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

use crate::Cors;

/// Adds the CORS response headers for a request from `origin`.
pub(crate) fn apply(cors: Option<&Cors>, origin: Option<&HeaderValue>, response: &mut HeaderMap) {
    let Some(cors) = cors else { return };
    let allow = match (&cors.origins, origin) {
        (None, Some(o)) if cors.credentials => Some(o.clone()),
        (None, _) => Some(HeaderValue::from_static("*")),
        (Some(list), Some(o)) => {
            let ok = o.to_str().is_ok_and(|o| list.iter().any(|allowed| allowed == o));
            ok.then(|| o.clone())
        }
        (Some(_), None) => None,
    };
    if let Some(allow) = allow {
        let reflected = allow != "*";
        response.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        if reflected {
            response.append(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
    if cors.credentials {
        response.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    }
}

/// Whether a request may reach the engine, judging by its `Origin`: with a list of allowed
/// origins, a request that names an origin must name a listed one or its own (same-origin:
/// the origin's host and port are the request's `Host`). CORS headers only stop a browser
/// from *reading* an answer, and do nothing for a WebSocket, so without this check any page
/// could open a session with the visitor's cookies (cross-site WebSocket hijacking).
/// Requests without `Origin` (not from a browser page) and servers with no list pass.
pub(crate) fn origin_allowed(cors: Option<&Cors>, request: &HeaderMap) -> bool {
    let (Some(Cors { origins: Some(list), .. }), Some(origin)) =
        (cors, request.get(header::ORIGIN))
    else {
        return true;
    };
    let Ok(origin) = origin.to_str() else { return false };
    list.iter().any(|allowed| allowed == origin) || same_origin(origin, request.get(header::HOST))
}

/// Whether `origin` (`scheme://host[:port]`) names the host and port of `host`, default ports
/// included.
fn same_origin(origin: &str, host: Option<&HeaderValue>) -> bool {
    let Some(host) = host.and_then(|h| h.to_str().ok()) else { return false };
    let Some((scheme, authority)) = origin.split_once("://") else { return false };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => "80",
        "https" => "443",
        _ => return false,
    };
    let with_port = |a: &str| match a.rsplit_once(':') {
        // An IPv6 literal without a port (`[::1]`) has colons but ends in `]`.
        Some((_, port)) if !port.ends_with(']') => a.to_ascii_lowercase(),
        _ => format!("{}:{default_port}", a.to_ascii_lowercase()),
    };
    with_port(authority) == with_port(host)
}

/// The answer to a preflight `OPTIONS` request.
pub(crate) fn preflight(cors: Option<&Cors>, request: &HeaderMap) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = StatusCode::NO_CONTENT;
    let headers = res.headers_mut();
    apply(cors, request.get(header::ORIGIN), headers);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET,HEAD,PUT,PATCH,POST,DELETE"),
    );
    if let Some(h) = request.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, h.clone());
        headers.append(header::VARY, HeaderValue::from_static("Access-Control-Request-Headers"));
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(origin: Option<&'static str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_static(o));
        }
        h
    }

    #[test]
    fn origin_rules() {
        let any = Cors::default();
        let creds = Cors { origins: None, credentials: true };
        let list = Cors { origins: Some(vec!["https://a.example".into()]), credentials: false };
        let cases: [(&Cors, Option<&'static str>, Option<&str>); 5] = [
            (&any, Some("https://x.example"), Some("*")),
            (&any, None, Some("*")),
            (&creds, Some("https://x.example"), Some("https://x.example")),
            (&list, Some("https://a.example"), Some("https://a.example")),
            (&list, Some("https://b.example"), None),
        ];
        for (cors, origin, want) in cases {
            let mut out = HeaderMap::new();
            apply(Some(cors), req(origin).get(header::ORIGIN), &mut out);
            let got = out.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).and_then(|v| v.to_str().ok());
            assert_eq!(got, want, "{cors:?} {origin:?}");
        }
        let mut out = HeaderMap::new();
        apply(Some(&creds), None, &mut out);
        assert_eq!(
            out.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).map(|v| v.as_bytes()),
            Some(&b"true"[..])
        );
        let mut out = HeaderMap::new();
        apply(None, req(Some("https://x.example")).get(header::ORIGIN), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn origins_outside_the_list_are_refused_unless_same_origin() {
        let list = Cors { origins: Some(vec!["https://a.example".into()]), credentials: false };
        let request = |origin: Option<&'static str>, host: Option<&'static str>| {
            let mut h = req(origin);
            if let Some(host) = host {
                h.insert(header::HOST, HeaderValue::from_static(host));
            }
            h
        };
        let cases = [
            (Some("https://a.example"), Some("api.example"), true),
            (None, Some("api.example"), true),
            (Some("https://b.example"), Some("api.example"), false),
            (Some("null"), Some("api.example"), false),
            (Some("https://a.example.evil"), None, false),
            (Some("http://api.example:8080"), Some("api.example:8080"), true),
            (Some("http://API.example"), Some("api.example:80"), true),
            (Some("https://api.example"), Some("api.example:443"), true),
            (Some("https://api.example"), Some("api.example:80"), false),
            (Some("http://[::1]:3000"), Some("[::1]:3000"), true),
            (Some("http://[::1]"), Some("[::1]:80"), true),
            (Some("ws://api.example"), Some("api.example"), false),
            (Some("http://api.example:8081"), Some("api.example:8080"), false),
        ];
        for (origin, host, allowed) in cases {
            assert_eq!(
                origin_allowed(Some(&list), &request(origin, host)),
                allowed,
                "{origin:?} {host:?}"
            );
        }
        // No list, or no CORS at all: every origin passes.
        let evil = request(Some("https://evil.example"), Some("api.example"));
        assert!(origin_allowed(Some(&Cors::default()), &evil));
        assert!(origin_allowed(None, &evil));
    }

    #[test]
    fn preflight_reflects_requested_headers() {
        let mut h = req(Some("https://x.example"));
        h.insert(header::ACCESS_CONTROL_REQUEST_HEADERS, HeaderValue::from_static("x-token"));
        let res = preflight(Some(&Cors::default()), &h);
        assert_eq!(res.status(), 204);
        assert_eq!(res.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS], "x-token");
        assert_eq!(res.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    }
}
