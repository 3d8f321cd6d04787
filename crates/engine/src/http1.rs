//! The HTTP/1.1 server under [`serve`](crate::serve): request heads parsed with `httparse`,
//! bodies read whole (by `Content-Length` or chunked) before the request goes to the service,
//! answers written in one write.
//!
//! Memory: a connection holds a read buffer only while it reads. An idle keep-alive
//! connection, or one whose request is held (a long-polling GET), waits with none; the
//! buffer goes back to a per-thread spare for the next read. The request keeps one exactly
//! sized copy of its head, which its header values and URI point into.
//!
//! Upgrades: a request asking for one carries an [`UpgradeSlot`]; when the service answers
//! `101`, the connection gives its TCP stream, the bytes read past the request, and the
//! unwritten `101` answer to whoever took the slot ([`on_upgrade`]), so that the answer leaves
//! with the first bytes of the upgraded protocol. [`on_upgrade`] falls back to hyper's
//! upgrade for services served by hyper (axum, or a layer in a hyper server).

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Version};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use crate::service::BoxError;

/// How long a connection may take to send a whole request head, counted from the moment it
/// starts waiting for one (an idle keep-alive connection is closed after that long).
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest request head (request line and headers), as Node's default; larger: `431`.
const MAX_HEAD: usize = 16 * 1024;

/// The most header lines a request may have (hyper's default); more: `431`.
const MAX_HEADERS: usize = 100;

/// The size of a fresh read buffer.
const READ_START: usize = 4096;

/// The largest read buffer kept as the thread's spare.
const SPARE_MAX: usize = 16 * 1024;

thread_local! {
    /// An empty read buffer kept for the next read on this thread: a request is read in one
    /// wake-up, so a buffer per request would be allocated and freed every time. One per
    /// thread, never per connection: a waiting connection holds none.
    static SPARE: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };

    /// An empty write buffer kept for the next answer written on this thread, as [`SPARE`].
    static WRITE_SPARE: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };

    /// The `date` header value of the current second, formatted once per second and thread.
    static DATE: RefCell<(u64, Option<HeaderValue>)> = const { RefCell::new((0, None)) };
}

/// The body of a request served by [`serve`](crate::serve).
///
/// A body the server read whole with its head (the usual small POST) is one frame. A body
/// still arriving when the head is read (by `Content-Length`) comes frame by frame as the
/// connection reads it, so that the service sees the request at once. A chunked body is read
/// whole first.
///
/// A body larger than the server's limit is not read past the limit: its first bytes (one
/// more than the limit) come as a frame, then [`BodyError::TooLarge`]; the connection is
/// closed after the answer.
///
/// ```
/// use http_body_util::BodyExt;
/// use switchboard_engine::RequestBody;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let body = RequestBody::from(bytes::Bytes::from_static(b"4hello"));
/// assert_eq!(body.collect().await?.to_bytes(), "4hello");
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct RequestBody {
    data: Bytes,
    too_large: bool,
    /// The rest of a body the connection is still reading.
    feed: Option<Arc<Mutex<Feed>>>,
}

impl From<Bytes> for RequestBody {
    fn from(data: Bytes) -> Self {
        RequestBody { data, too_large: false, feed: None }
    }
}

/// Why a [`RequestBody`] ended early.
///
/// ```
/// use switchboard_engine::BodyError;
/// assert_eq!(
///     BodyError::TooLarge.to_string(),
///     "the request body is larger than the server accepts"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The body is larger than the server accepts.
    #[error("the request body is larger than the server accepts")]
    TooLarge,
    /// The connection ended before the whole body came.
    #[error("the connection ended in the request body")]
    Incomplete,
}

/// The part of a body the connection reads while the service runs.
#[derive(Debug, Default)]
struct Feed {
    /// Read, not taken by the body yet.
    data: Bytes,
    /// Bytes still to read from the connection.
    remaining: u64,
    /// The connection ended first.
    failed: bool,
    /// The body waiting for data.
    body: Option<Waker>,
    /// The connection waiting for the body to take `data`.
    conn: Option<Waker>,
}

fn lock(feed: &Mutex<Feed>) -> MutexGuard<'_, Feed> {
    // A panic while holding the lock cannot leave the feed inconsistent: recover it.
    feed.lock().unwrap_or_else(|e| e.into_inner())
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        if !this.data.is_empty() {
            return Poll::Ready(Some(Ok(Frame::data(std::mem::take(&mut this.data)))));
        }
        if this.too_large {
            this.too_large = false;
            return Poll::Ready(Some(Err(BodyError::TooLarge)));
        }
        let Some(shared) = &this.feed else {
            return Poll::Ready(None);
        };
        let mut feed = lock(shared);
        if !feed.data.is_empty() {
            let data = std::mem::take(&mut feed.data);
            if let Some(conn) = feed.conn.take() {
                conn.wake();
            }
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if feed.remaining == 0 {
            drop(feed);
            this.feed = None;
            return Poll::Ready(None);
        }
        if feed.failed {
            drop(feed);
            this.feed = None;
            return Poll::Ready(Some(Err(BodyError::Incomplete)));
        }
        feed.body = Some(cx.waker().clone());
        if let Some(conn) = feed.conn.take() {
            conn.wake();
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_empty() && !self.too_large && self.feed.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match &self.feed {
            _ if self.too_large => SizeHint::default(),
            None => SizeHint::with_exact(self.data.len() as u64),
            Some(feed) => {
                let feed = lock(feed);
                SizeHint::with_exact((self.data.len() + feed.data.len()) as u64 + feed.remaining)
            }
        }
    }
}

/// What a connection hands over when its request is answered `101`.
pub(crate) struct Handoff {
    pub(crate) tcp: TcpStream,
    /// What the client sent after its request head.
    pub(crate) read: Vec<u8>,
    /// The `101` answer, not written yet: the upgraded connection writes it first.
    pub(crate) head: Vec<u8>,
}

/// The request extension through which [`on_upgrade`] takes the connection of a request that
/// asks for an upgrade. A clone is empty: only the request's own copy can take it.
struct UpgradeSlot(Option<oneshot::Receiver<Handoff>>);

impl Clone for UpgradeSlot {
    fn clone(&self) -> Self {
        UpgradeSlot(None)
    }
}

/// The connection to come once the `101` answer to a request is given.
pub(crate) enum OnUpgrade {
    Ours(oneshot::Receiver<Handoff>),
    Hyper(hyper::upgrade::OnUpgrade),
}

/// An upgraded connection: from [`serve`](crate::serve), or from hyper.
pub(crate) enum Upgraded {
    Ours(Handoff),
    Hyper(hyper::upgrade::Upgraded),
}

/// The connection `req` will be upgraded to, whichever server reads it.
pub(crate) fn on_upgrade<B>(req: &mut Request<B>) -> OnUpgrade {
    match req.extensions_mut().remove::<UpgradeSlot>().and_then(|slot| slot.0) {
        Some(rx) => OnUpgrade::Ours(rx),
        None => OnUpgrade::Hyper(hyper::upgrade::on(req)),
    }
}

impl OnUpgrade {
    /// The upgraded connection; `None` (logged) if the connection ended first.
    pub(crate) async fn upgraded(self) -> Option<Upgraded> {
        match self {
            OnUpgrade::Ours(rx) => match rx.await {
                Ok(handoff) => Some(Upgraded::Ours(handoff)),
                Err(_) => {
                    tracing::debug!("connection ended before its upgrade");
                    None
                }
            },
            OnUpgrade::Hyper(on) => match on.await {
                Ok(io) => Some(Upgraded::Hyper(io)),
                Err(e) => {
                    tracing::debug!(error = %e, "upgrade failed");
                    None
                }
            },
        }
    }
}

/// Why reading from the connection stopped.
#[derive(Debug)]
enum ReadError {
    /// The peer closed the connection (or it failed): nothing to answer.
    Closed,
    /// A malformed request: `400`, then close.
    Bad,
    /// A head over [`MAX_HEAD`] or [`MAX_HEADERS`]: `431`, then close.
    HeadTooLarge,
}

impl From<io::Error> for ReadError {
    fn from(_: io::Error) -> Self {
        ReadError::Closed
    }
}

/// A parsed request head, its body not read yet.
struct Head {
    request: Request<RequestBody>,
    /// The body's framing.
    length: BodyLength,
    keep_alive: bool,
    expect_continue: bool,
    wants_upgrade: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyLength {
    Known(u64),
    Chunked,
}

/// One server connection.
struct Conn {
    tcp: TcpStream,
    /// Bytes read and not used yet (empty and without capacity between requests).
    buf: Vec<u8>,
}

impl Conn {
    /// Reads more bytes into the buffer (taking the thread's spare if it has none).
    async fn fill(&mut self) -> Result<(), ReadError> {
        // Waits with no buffer: one is taken only once there is something to read.
        self.tcp.readable().await?;
        if self.buf.capacity() == 0 {
            self.buf = SPARE.take();
        }
        if self.buf.capacity() - self.buf.len() < READ_START / 4 {
            // Grows by doubling, from READ_START.
            self.buf.reserve(READ_START.max(self.buf.len()));
        }
        // A read through `AsyncRead` marks the socket as drained when it returns less than
        // asked, so that the next wait costs no system call.
        match self.tcp.read_buf(&mut self.buf).await {
            Ok(0) | Err(_) => Err(ReadError::Closed),
            Ok(_) => Ok(()),
        }
    }

    /// Gives the read buffer back to the thread when every byte in it is used.
    fn release(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > 0 {
            let buf = std::mem::take(&mut self.buf);
            if buf.capacity() <= SPARE_MAX {
                SPARE.set(buf);
            }
        }
    }

    /// Reads bytes until the buffer holds `n`.
    async fn fill_to(&mut self, n: usize) -> Result<(), ReadError> {
        if self.buf.capacity() < n {
            self.buf.reserve(n - self.buf.len());
        }
        while self.buf.len() < n {
            self.fill().await?;
        }
        Ok(())
    }

    /// Reads and parses the next request head.
    async fn read_head(&mut self, peer: SocketAddr) -> Result<Head, ReadError> {
        loop {
            if !self.buf.is_empty() {
                if let Some(head) = parse_head(&mut self.buf, peer)? {
                    return Ok(head);
                }
                if self.buf.len() >= MAX_HEAD {
                    return Err(ReadError::HeadTooLarge);
                }
            }
            self.fill().await?;
        }
    }

    /// The body of `length` bytes: whole when the buffer holds it, else what the buffer holds
    /// and a feed for the rest, read while the service runs. A body over `limit` is not read.
    fn sized_body(&mut self, length: u64, limit: usize) -> RequestBody {
        if length > u64::try_from(limit).unwrap_or(u64::MAX) {
            // Not read at all: the answer closes the connection.
            return RequestBody { too_large: true, ..RequestBody::default() };
        }
        let held = self.buf.len().min(usize::try_from(length).unwrap_or(usize::MAX));
        let data = Bytes::copy_from_slice(self.buf.get(..held).unwrap_or_default());
        self.buf.drain(..held);
        let remaining = length - held as u64;
        if remaining == 0 {
            return RequestBody::from(data);
        }
        let feed = Feed { remaining, ..Feed::default() };
        RequestBody { data, too_large: false, feed: Some(Arc::new(Mutex::new(feed))) }
    }

    /// Reads a chunked body (RFC 9112 §7.1), up to `limit` + 1 bytes of data; trailers are
    /// read and dropped.
    async fn read_chunked(&mut self, limit: usize) -> Result<RequestBody, ReadError> {
        let mut data = BytesMut::new();
        let mut pos = 0;
        loop {
            let rest = self.buf.get(pos..).unwrap_or_default();
            let (used, size) = match httparse::parse_chunk_size(rest) {
                Ok(httparse::Status::Complete(found)) => found,
                Ok(httparse::Status::Partial) => {
                    if rest.len() > MAX_HEAD {
                        return Err(ReadError::Bad);
                    }
                    self.fill().await?;
                    continue;
                }
                Err(_) => return Err(ReadError::Bad),
            };
            pos += used;
            if size == 0 {
                break;
            }
            let room = limit.saturating_add(1).saturating_sub(data.len());
            let size = usize::try_from(size).unwrap_or(usize::MAX);
            let take = size.min(room);
            self.fill_to(pos + take).await?;
            data.extend_from_slice(self.buf.get(pos..pos + take).unwrap_or_default());
            pos += take;
            if data.len() > limit {
                self.buf.drain(..pos);
                return Ok(RequestBody { data: data.freeze(), too_large: true, feed: None });
            }
            self.fill_to(pos + 2).await?;
            if self.buf.get(pos..pos + 2) != Some(b"\r\n") {
                return Err(ReadError::Bad);
            }
            pos += 2;
        }
        // Trailer lines, up to the empty line.
        loop {
            let rest = self.buf.get(pos..).unwrap_or_default();
            match rest.windows(2).position(|w| w == b"\r\n") {
                Some(0) => {
                    pos += 2;
                    break;
                }
                Some(end) => pos += end + 2,
                None if rest.len() > MAX_HEAD => return Err(ReadError::Bad),
                None => self.fill().await?,
            }
        }
        self.buf.drain(..pos);
        Ok(RequestBody::from(data.freeze()))
    }

    /// Writes `bytes` whole.
    async fn write(&mut self, bytes: &[u8]) -> Result<(), ReadError> {
        self.tcp.write_all(bytes).await?;
        Ok(())
    }

    /// Answers a request the connection refuses itself, and closes.
    async fn refuse(mut self, status: StatusCode) {
        let mut out = Vec::with_capacity(96);
        status_line(&mut out, Version::HTTP_11, status);
        out.extend_from_slice(b"content-length: 0\r\nconnection: close\r\n\r\n");
        if self.write(&out).await.is_ok() {
            let _ = self.tcp.shutdown().await;
        }
    }
}

/// Parses the request head at the start of `buf`: `None` if it is not whole yet. The head's
/// bytes are taken out of `buf` and copied into the request.
fn parse_head(buf: &mut Vec<u8>, peer: SocketAddr) -> Result<Option<Head>, ReadError> {
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

/// A buffer for an answer of about `bytes` bytes: the thread's spare when it has one.
fn write_buffer(bytes: usize) -> Vec<u8> {
    let mut buffer = WRITE_SPARE.take();
    buffer.reserve(bytes);
    buffer
}

/// Gives a written-out buffer back as the thread's spare.
fn give_back(mut buffer: Vec<u8>) {
    if buffer.capacity() <= SPARE_MAX {
        buffer.clear();
        WRITE_SPARE.set(buffer);
    }
}

/// `HTTP/1.1 200 OK\r\n`.
fn status_line(out: &mut Vec<u8>, version: Version, status: StatusCode) {
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
fn encode_head(
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
fn closes(headers: &HeaderMap) -> bool {
    headers.get_all(http::header::CONNECTION).iter().any(|v| {
        v.as_bytes().split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
    })
}

/// What a connection does after an answer.
enum Next {
    /// Reads the next request.
    KeepAlive,
    /// Closes (after a graceful shutdown when `true`).
    Close(bool),
    /// Refuses the request with this status, then closes.
    Refuse(StatusCode),
    /// Hands the stream over with the unwritten `101` answer (to nobody: the answer is
    /// written and the stream closed).
    Upgrade(Vec<u8>, Option<oneshot::Sender<Handoff>>),
}

/// Serves one connection until it closes, is upgraded, or fails.
///
/// [`respond`] serves each request; the loop ends the connection as it says.
pub(crate) async fn serve_connection<S, B>(
    tcp: TcpStream,
    peer: SocketAddr,
    mut service: S,
    max_body: usize,
) where
    S: tower_service::Service<Request<RequestBody>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let mut conn = Conn { tcp, buf: Vec::new() };
    loop {
        // A statement of its own: the answer's state is gone before what follows starts.
        let next = respond(&mut conn, &mut service, peer, max_body).await;
        match next {
            Next::KeepAlive => conn.release(),
            Next::Close(graceful) => {
                if graceful {
                    let _ = conn.tcp.shutdown().await;
                }
                return;
            }
            Next::Refuse(status) => return conn.refuse(status).await,
            Next::Upgrade(head, taker) => {
                let Conn { tcp, buf } = conn;
                let handoff = Handoff { tcp, read: buf, head };
                let unsent = match taker {
                    Some(tx) => tx.send(handoff).err(),
                    // A `101` to a request that asked for no upgrade: nothing can follow it.
                    None => Some(handoff),
                };
                if let Some(Handoff { mut tcp, head, .. }) = unsent {
                    // Nobody took the connection: the answer is written, and the stream closed.
                    let _ = tcp.write_all(&head).await;
                }
                return;
            }
        }
    }
}

/// Reads the next request, has the service answer it, and writes the answer.
///
/// Its arguments are small: an async fn keeps its arguments for its whole life, while the
/// request and then the answer are locals, which share memory with the read's state.
async fn respond<S, B>(conn: &mut Conn, service: &mut S, peer: SocketAddr, max_body: usize) -> Next
where
    S: tower_service::Service<Request<RequestBody>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let head = match tokio::time::timeout(HEADER_READ_TIMEOUT, conn.read_head(peer)).await {
        Ok(Ok(head)) => head,
        Ok(Err(ReadError::Bad)) => return Next::Refuse(StatusCode::BAD_REQUEST),
        Ok(Err(ReadError::HeadTooLarge)) => {
            return Next::Refuse(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        }
        Ok(Err(ReadError::Closed)) | Err(_) => return Next::Close(false),
    };
    let Head { mut request, length, mut keep_alive, expect_continue, wants_upgrade } = head;
    let unread = match length {
        BodyLength::Known(n) => n > 0 && conn.buf.len() < usize::try_from(n).unwrap_or(0),
        BodyLength::Chunked => true,
    };
    let within = match length {
        BodyLength::Known(n) => n <= u64::try_from(max_body).unwrap_or(u64::MAX),
        BodyLength::Chunked => true,
    };
    if expect_continue
        && unread
        && within
        && conn.write(b"HTTP/1.1 100 Continue\r\n\r\n").await.is_err()
    {
        return Next::Close(false);
    }
    let body = match length {
        BodyLength::Known(n) => conn.sized_body(n, max_body),
        BodyLength::Chunked => match conn.read_chunked(max_body).await {
            Ok(body) => body,
            Err(ReadError::Closed) => return Next::Close(false),
            Err(_) => return Next::Refuse(StatusCode::BAD_REQUEST),
        },
    };
    // The rest of a body over the limit is not read: the connection ends after the answer.
    keep_alive &= !body.too_large;
    // The lock is shared by the body (in the service) and this task, which reads the rest
    // of the body into it; dropped by both when the request is answered.
    let feed = body.feed.clone();
    *request.body_mut() = body;
    let head_only = request.method() == Method::HEAD;
    let version = request.version();
    let mut upgrade = None;
    if wants_upgrade {
        // The sender stays with the connection, the receiver with the request: whoever
        // takes it from there gets the stream when the answer is `101`.
        let (tx, rx) = oneshot::channel();
        request.extensions_mut().insert(UpgradeSlot(Some(rx)));
        upgrade = Some(tx);
    }
    conn.release();
    if poll_fn(|cx| service.poll_ready(cx)).await.is_err() {
        return Next::Close(false);
    }
    // The service's error need not be Send: dropped at once.
    let response = match conn.answer_of(service.call(request), feed.as_deref()).await {
        Some(Ok(response)) => response,
        _ => return Next::Close(false),
    };
    // A body not read to its end leaves the connection unusable.
    keep_alive &= feed.is_none_or(|feed| lock(&feed).remaining == 0);
    let (parts, body) = response.into_parts();
    if parts.status == StatusCode::SWITCHING_PROTOCOLS {
        let mut head = Vec::with_capacity(256);
        encode_head(&mut head, version, parts.status, &parts.headers, None, true);
        return Next::Upgrade(head, upgrade);
    }
    keep_alive &= !closes(&parts.headers);
    let written = if head_only {
        let mut out = Vec::with_capacity(256);
        let length = body.size_hint().exact();
        encode_head(&mut out, version, parts.status, &parts.headers, length, keep_alive);
        conn.write(&out).await
    } else {
        conn.write_answer(version, parts.status, &parts.headers, body, &mut keep_alive).await
    };
    match written {
        Err(_) => Next::Close(false),
        Ok(()) if keep_alive => Next::KeepAlive,
        Ok(()) => Next::Close(true),
    }
}

/// Reads the next part of a body into its feed: ready when the body has something new to
/// take (or the connection ended), pending while the body has not taken the last part or the
/// connection has nothing (or the body is whole).
fn feed_body(tcp: &TcpStream, shared: &Mutex<Feed>, cx: &mut Context<'_>) -> Poll<()> {
    let mut feed = lock(shared);
    if feed.remaining == 0 || feed.failed {
        return Poll::Pending;
    }
    if !feed.data.is_empty() {
        feed.conn = Some(cx.waker().clone());
        return Poll::Pending;
    }
    loop {
        match tcp.poll_read_ready(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(_)) => feed.failed = true,
        }
        if !feed.failed {
            let want = usize::try_from(feed.remaining).unwrap_or(usize::MAX).min(SPARE_MAX);
            let mut chunk = Vec::with_capacity(want);
            match tcp.try_read_buf(&mut chunk) {
                Ok(0) => feed.failed = true,
                Ok(n) => {
                    feed.remaining -= n as u64;
                    feed.data = Bytes::from(chunk);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(_) => feed.failed = true,
            }
        }
        if let Some(body) = feed.body.take() {
            body.wake();
        }
        return Poll::Ready(());
    }
}

impl Conn {
    /// Waits for the service's answer, or for the client to close the connection (then the
    /// request is dropped: `None`).
    async fn answer_of<F, T>(&mut self, answer: F, feed: Option<&Mutex<Feed>>) -> Option<T>
    where
        F: Future<Output = T>,
    {
        let mut answer = pin!(answer);
        // With nothing read ahead, the connection is watched for its end (a peek, with no
        // buffer): a held poll whose client left is dropped at once.
        let mut watch = self.buf.is_empty() && feed.is_none();
        let tcp = &self.tcp;
        poll_fn(|cx| {
            loop {
                if let Poll::Ready(t) = answer.as_mut().poll(cx) {
                    return Poll::Ready(Some(t));
                }
                let Some(feed) = feed else { break };
                match feed_body(tcp, feed, cx) {
                    Poll::Ready(()) => continue,
                    Poll::Pending => return Poll::Pending,
                }
            }
            while watch {
                let mut byte = [std::mem::MaybeUninit::uninit(); 1];
                let mut peeked = tokio::io::ReadBuf::uninit(&mut byte);
                match tcp.poll_peek(cx, &mut peeked) {
                    Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(None),
                    // The next request (pipelined): read after this answer.
                    Poll::Ready(Ok(_)) => watch = false,
                    Poll::Pending => break,
                }
            }
            Poll::Pending
        })
        .await
    }

    /// Writes an answer: head and body in one write when the body's length is known (the
    /// engine's are), else the head and then each frame, chunked.
    async fn write_answer<B>(
        &mut self,
        version: Version,
        status: StatusCode,
        headers: &HeaderMap,
        body: B,
        keep_alive: &mut bool,
    ) -> Result<(), ReadError>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        let mut body = pin!(body);
        if let Some(length) = body.size_hint().exact() {
            let mut out = write_buffer(256 + usize::try_from(length).unwrap_or(0));
            encode_head(&mut out, version, status, headers, Some(length), *keep_alive);
            let head = out.len();
            loop {
                // The error need not be Send: dropped before anything else is awaited.
                let frame = match body.frame().await {
                    None => break,
                    Some(Ok(frame)) => frame,
                    Some(Err(_)) => return Err(ReadError::Closed),
                };
                if let Ok(chunk) = frame.into_data() {
                    out.extend_from_slice(&chunk);
                }
            }
            if (out.len() - head) as u64 != length {
                return Err(ReadError::Closed);
            }
            let written = self.write(&out).await;
            give_back(out);
            return written;
        }
        // A stream: with HTTP/1.0 it ends with the connection.
        if version == Version::HTTP_10 {
            *keep_alive = false;
        }
        let mut out = Vec::with_capacity(256);
        encode_head(&mut out, version, status, headers, None, *keep_alive);
        self.write(&out).await?;
        let chunked = version == Version::HTTP_11;
        loop {
            let frame = match body.frame().await {
                None => break,
                Some(Ok(frame)) => frame,
                Some(Err(_)) => return Err(ReadError::Closed),
            };
            let Ok(chunk) = frame.into_data() else { continue };
            if chunk.is_empty() {
                continue;
            }
            if chunked {
                let mut out = Vec::with_capacity(chunk.len() + 16);
                out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                out.extend_from_slice(&chunk);
                out.extend_from_slice(b"\r\n");
                self.write(&out).await?;
            } else {
                self.write(&chunk).await?;
            }
        }
        if chunked {
            self.write(b"0\r\n\r\n").await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
