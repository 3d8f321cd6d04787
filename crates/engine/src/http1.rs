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

mod body;
mod head;
mod upgrade;

use std::cell::Cell;
use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, Version};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};

use crate::service::BoxError;
pub use body::{BodyError, RequestBody};
use body::{Feed, feed_body, lock};
use head::{BodyLength, Head, closes, encode_head, parse_head, status_line};
use upgrade::UpgradeSlot;
pub(crate) use upgrade::{Handoff, OnUpgrade, Upgraded, on_upgrade};

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

/// The server's shutdown, as a connection sees it: once set, an idle connection closes, and
/// a request being served is answered with `connection: close`.
pub(crate) struct Closing(watch::Receiver<bool>);

impl Closing {
    pub(crate) fn new(watch: watch::Receiver<bool>) -> Self {
        Closing(watch)
    }

    fn now(&self) -> bool {
        *self.0.borrow()
    }

    /// Completes when the shutdown starts; never if the server went away without one (as
    /// before: its connections go on).
    async fn started(&mut self) {
        if self.0.wait_for(|closing| *closing).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
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
    mut closing: Closing,
) where
    S: tower_service::Service<Request<RequestBody>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let mut conn = Conn { tcp, buf: Vec::new() };
    loop {
        // A statement of its own: the answer's state is gone before what follows starts.
        let next = respond(&mut conn, &mut service, peer, max_body, &mut closing).await;
        match next {
            Next::KeepAlive if closing.now() => {
                let _ = conn.tcp.shutdown().await;
                return;
            }
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
async fn respond<S, B>(
    conn: &mut Conn,
    service: &mut S,
    peer: SocketAddr,
    max_body: usize,
    closing: &mut Closing,
) -> Next
where
    S: tower_service::Service<Request<RequestBody>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    // An idle connection closes when the shutdown starts; one with part of a request read
    // goes on to answer it.
    let idle = conn.buf.is_empty();
    let read = tokio::select! {
        read = tokio::time::timeout(HEADER_READ_TIMEOUT, conn.read_head(peer)) => read,
        () = closing.started(), if idle => return Next::Close(true),
    };
    let head = match read {
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
    keep_alive &= !closes(&parts.headers) && !closing.now();
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
            if client_left(tcp, cx, &mut watch) {
                return Poll::Ready(None);
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
        // A stream may run for long (server-sent events): the client leaving ends it.
        let mut watch = self.buf.is_empty();
        loop {
            let Some(frame) = self.next_frame(body.as_mut(), &mut watch).await? else { break };
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

impl Conn {
    /// The next frame of a streamed answer (`None` at its end); an error when the body fails
    /// or, while `watch` holds, when the client closes the connection (a peek, as in
    /// [`Conn::answer_of`]; bytes of a next request end the watch).
    async fn next_frame<B>(
        &self,
        mut body: Pin<&mut B>,
        watch: &mut bool,
    ) -> Result<Option<Frame<Bytes>>, ReadError>
    where
        B: Body<Data = Bytes>,
    {
        let tcp = &self.tcp;
        poll_fn(|cx| {
            if let Poll::Ready(frame) = body.as_mut().poll_frame(cx) {
                return Poll::Ready(match frame {
                    None => Ok(None),
                    Some(Ok(frame)) => Ok(Some(frame)),
                    Some(Err(_)) => Err(ReadError::Closed),
                });
            }
            if client_left(tcp, cx, watch) {
                return Poll::Ready(Err(ReadError::Closed));
            }
            Poll::Pending
        })
        .await
    }
}

/// While `watch` holds, whether the client has closed the connection, by a peek (no buffer);
/// the bytes of a next request (pipelined, read after this answer) end the watch. Registers
/// `cx` for the connection's next bytes when it cannot tell yet.
fn client_left(tcp: &TcpStream, cx: &mut Context<'_>, watch: &mut bool) -> bool {
    while *watch {
        let mut byte = [std::mem::MaybeUninit::uninit(); 1];
        let mut peeked = tokio::io::ReadBuf::uninit(&mut byte);
        match tcp.poll_peek(cx, &mut peeked) {
            Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return true,
            Poll::Ready(Ok(_)) => *watch = false,
            Poll::Pending => break,
        }
    }
    false
}

#[cfg(test)]
mod tests;
