//! Request errors, answered as the Node server answers them.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

/// Why an HTTP request to the engine was refused.
///
/// Each maps to the status and JSON body of the Node server: `400 {"code":1,"message":"Session ID
/// unknown"}` and so on; [`RequestError::PayloadTooLarge`] is a bare `413`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The `transport` query parameter is missing or names a disabled transport (code 0).
    #[error("transport unknown")]
    UnknownTransport,
    /// The `sid` names no open session (code 1).
    #[error("session id unknown")]
    UnknownSid,
    /// A handshake that is not a GET (code 2).
    #[error("bad handshake method")]
    BadHandshakeMethod,
    /// Anything else malformed (code 3).
    #[error("bad request")]
    BadRequest,
    /// Refused by the `allow_request` hook (code 4, HTTP 403), with its message.
    #[error("forbidden")]
    Forbidden(String),
    /// `EIO` is not `4` (code 5).
    #[error("unsupported protocol version")]
    UnsupportedProtocolVersion,
    /// A polling body larger than `max_payload` (HTTP 413).
    #[error("payload too large")]
    PayloadTooLarge,
    /// A WebSocket upgrade whose `Sec-WebSocket-Version` is missing or not `13`: HTTP 426 with
    /// `Sec-WebSocket-Version: 13`, as RFC 6455 §4.4 asks (Node's `ws` answers a bare 400).
    #[error("unsupported websocket version")]
    UnsupportedWebSocketVersion,
    /// A handshake past `Limits::max_sessions`: HTTP 503 with `Retry-After: 1`.
    #[error("server full")]
    ServerFull,
    /// A handshake past `Limits::max_sessions_per_ip` or `Limits::handshakes_per_ip`: HTTP
    /// 429 with `Retry-After: 1`.
    #[error("too many requests")]
    TooManyRequests,
}

impl RequestError {
    /// The Engine.IO error code, when the answer carries one.
    pub fn code(&self) -> Option<u8> {
        Some(match self {
            RequestError::UnknownTransport => 0,
            RequestError::UnknownSid => 1,
            RequestError::BadHandshakeMethod => 2,
            RequestError::BadRequest => 3,
            RequestError::Forbidden(_) => 4,
            RequestError::UnsupportedProtocolVersion => 5,
            RequestError::PayloadTooLarge
            | RequestError::UnsupportedWebSocketVersion
            | RequestError::ServerFull
            | RequestError::TooManyRequests => return None,
        })
    }

    /// The message of the JSON body, as Node writes it.
    pub fn message(&self) -> &str {
        match self {
            RequestError::UnknownTransport => "Transport unknown",
            RequestError::UnknownSid => "Session ID unknown",
            RequestError::BadHandshakeMethod => "Bad handshake method",
            RequestError::BadRequest => "Bad request",
            RequestError::Forbidden(m) if !m.is_empty() => m,
            RequestError::Forbidden(_) => "Forbidden",
            RequestError::UnsupportedProtocolVersion => "Unsupported protocol version",
            RequestError::PayloadTooLarge => "Payload too large",
            RequestError::UnsupportedWebSocketVersion => "Unsupported WebSocket version",
            RequestError::ServerFull => "Server full",
            RequestError::TooManyRequests => "Too many requests",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            RequestError::Forbidden(_) => StatusCode::FORBIDDEN,
            RequestError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            RequestError::UnsupportedWebSocketVersion => StatusCode::UPGRADE_REQUIRED,
            RequestError::ServerFull => StatusCode::SERVICE_UNAVAILABLE,
            RequestError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The response Node would send.
    pub(crate) fn response(&self) -> Response<Full<Bytes>> {
        let mut res = match self.code() {
            Some(code) => {
                let body = serde_json::json!({ "code": code, "message": self.message() });
                let mut res = Response::new(Full::new(Bytes::from(body.to_string())));
                res.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                res
            }
            None => Response::new(Full::new(Bytes::new())),
        };
        *res.status_mut() = self.status();
        match self {
            RequestError::UnsupportedWebSocketVersion => {
                res.headers_mut()
                    .insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
            }
            RequestError::ServerFull | RequestError::TooManyRequests => {
                res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_match_node() {
        let cases = [
            (RequestError::UnknownTransport, 400, r#"{"code":0,"message":"Transport unknown"}"#),
            (RequestError::UnknownSid, 400, r#"{"code":1,"message":"Session ID unknown"}"#),
            (
                RequestError::BadHandshakeMethod,
                400,
                r#"{"code":2,"message":"Bad handshake method"}"#,
            ),
            (RequestError::BadRequest, 400, r#"{"code":3,"message":"Bad request"}"#),
            (RequestError::Forbidden(String::new()), 403, r#"{"code":4,"message":"Forbidden"}"#),
            (RequestError::Forbidden("no".into()), 403, r#"{"code":4,"message":"no"}"#),
            (
                RequestError::UnsupportedProtocolVersion,
                400,
                r#"{"code":5,"message":"Unsupported protocol version"}"#,
            ),
        ];
        for (err, status, body) in cases {
            assert_eq!(err.status().as_u16(), status);
            let got = serde_json::json!({ "code": err.code(), "message": err.message() });
            assert_eq!(got.to_string(), body);
        }
        assert_eq!(RequestError::PayloadTooLarge.response().status(), 413);
    }
}
