//! Request heads in (parsed with `httparse`), answer heads out.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Version};

use super::{MAX_HEAD, MAX_HEADERS, ReadError, RequestBody};

thread_local! {
    /// The `date` header value of the current second, formatted once per second and thread.
    static DATE: RefCell<(u64, Option<HeaderValue>)> = const { RefCell::new((0, None)) };
}

/// A parsed request head, its body not read yet.
pub(super) struct Head {
    pub(super) request: Request<RequestBody>,
    /// The body's framing.
    pub(super) length: BodyLength,
    pub(super) keep_alive: bool,
    pub(super) expect_continue: bool,
    pub(super) wants_upgrade: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyLength {
    Known(u64),
    Chunked,
}

/// Parses the request head at the start of `buf`: `None` if it is not whole yet. The head's
/// bytes are taken out of `buf` and copied into the request.
pub(super) fn parse_head(buf: &mut Vec<u8>, peer: SocketAddr) -> Result<Option<Head>, ReadError> {
    // Not initialised: the parser writes each header line it finds before it is read.
    let mut headers = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(ReadError::HeadTooLarge),
        Err(_) => return Err(ReadError::Bad),
    };
    if len > MAX_HEAD {
        return Err(ReadError::HeadTooLarge);
    }
    // One exactly sized copy of the head: the header values and the URI are slices of it.
    let copy = Bytes::copy_from_slice(buf.get(..len).unwrap_or_default());
    let base = buf.as_ptr() as usize;
    let slice = |part: &[u8]| {
        let start = (part.as_ptr() as usize).wrapping_sub(base);
        copy.get(start..start + part.len()).map(|_| copy.slice(start..start + part.len()))
    };
    let method = Method::from_bytes(req.method.unwrap_or_default().as_bytes())
        .map_err(|_| ReadError::Bad)?;
    let path = req.path.unwrap_or_default();
    let uri = slice(path.as_bytes())
        .and_then(|bytes| http::Uri::from_maybe_shared(bytes).ok())
        .ok_or(ReadError::Bad)?;
    let version = match req.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let mut map = HeaderMap::with_capacity(req.headers.len());
    let mut length = None;
    let mut chunked = false;
    let mut close = false;
    let mut keep_alive = false;
    let mut upgrade_token = false;
    let mut expect_continue = false;
    for h in req.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| ReadError::Bad)?;
        let value = slice(h.value)
            .and_then(|bytes| HeaderValue::from_maybe_shared(bytes).ok())
            .ok_or(ReadError::Bad)?;
        if name == http::header::CONTENT_LENGTH {
            let n = content_length(h.value).ok_or(ReadError::Bad)?;
            if length.is_some_and(|m| m != n) {
                return Err(ReadError::Bad);
            }
            length = Some(n);
        } else if name == http::header::TRANSFER_ENCODING {
            // Only `chunked` alone is understood; any other coding cannot be read.
            if chunked || !h.value.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                return Err(ReadError::Bad);
            }
            chunked = true;
        } else if name == http::header::CONNECTION {
            for token in h.value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                upgrade_token |= token.eq_ignore_ascii_case(b"upgrade");
            }
        } else if name == http::header::EXPECT {
            expect_continue = h.value.trim_ascii().eq_ignore_ascii_case(b"100-continue");
        }
        map.append(name, value);
    }
    // Both framings at once is how requests are smuggled past proxies: refused.
    if chunked && length.is_some() {
        return Err(ReadError::Bad);
    }
    let wants_upgrade = upgrade_token && map.contains_key(http::header::UPGRADE);
    buf.drain(..len);
    let mut request = Request::new(RequestBody::default());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    *request.headers_mut() = map;
    request.extensions_mut().insert(peer);
    Ok(Some(Head {
        request,
        length: if chunked { BodyLength::Chunked } else { BodyLength::Known(length.unwrap_or(0)) },
        keep_alive: match version {
            Version::HTTP_10 => keep_alive && !close,
            _ => !close,
        },
        expect_continue: expect_continue && version == Version::HTTP_11,
        wants_upgrade,
    }))
}

/// A `Content-Length` value: digits only (RFC 9110 §8.6; `str::parse` would also take a
/// leading `+`, which a proxy in front may read differently).
fn content_length(value: &[u8]) -> Option<u64> {
    let digits = value.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// `HTTP/1.1 200 OK\r\n`.
pub(super) fn status_line(out: &mut Vec<u8>, version: Version, status: StatusCode) {
    out.extend_from_slice(if version == Version::HTTP_10 { b"HTTP/1.0 " } else { b"HTTP/1.1 " });
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The `date` header's value now (formatted once a second per thread).
fn date() -> Option<HeaderValue> {
    let now = SystemTime::now();
    let secs = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with_borrow_mut(|(at, value)| {
        if *at != secs || value.is_none() {
            *value = HeaderValue::from_str(&httpdate::fmt_http_date(now)).ok();
            *at = secs;
        }
        value.clone()
    })
}

/// The head of an answer: status line and headers, and the framing headers the connection
/// adds (`content-length` when `length` is known, else chunked; `connection`).
pub(super) fn encode_head(
    out: &mut Vec<u8>,
    version: Version,
    status: StatusCode,
    headers: &HeaderMap,
    length: Option<u64>,
    keep_alive: bool,
) {
    status_line(out, version, status);
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !headers.contains_key(http::header::DATE) {
        if let Some(date) = date() {
            out.extend_from_slice(b"date: ");
            out.extend_from_slice(date.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    let bodiless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if !bodiless && !headers.contains_key(http::header::CONTENT_LENGTH) {
        match length {
            Some(n) => {
                out.extend_from_slice(b"content-length: ");
                out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            None if version == Version::HTTP_11 => {
                out.extend_from_slice(b"transfer-encoding: chunked\r\n");
            }
            // An HTTP/1.0 body of unknown length ends with the connection.
            None => {}
        }
    }
    if status != StatusCode::SWITCHING_PROTOCOLS && !headers.contains_key(http::header::CONNECTION)
    {
        match (version, keep_alive) {
            (Version::HTTP_10, true) => out.extend_from_slice(b"connection: keep-alive\r\n"),
            (Version::HTTP_11, false) => out.extend_from_slice(b"connection: close\r\n"),
            _ => {}
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// Whether the answer's own `connection` header closes the connection.
pub(super) fn closes(headers: &HeaderMap) -> bool {
    headers.get_all(http::header::CONNECTION).iter().any(|v| {
        v.as_bytes().split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
    })
}
