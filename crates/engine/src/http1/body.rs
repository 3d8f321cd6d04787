//! Request bodies: read whole with the head, fed by the connection while the service runs
//! (`Content-Length`), or read whole first (chunked).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use tokio::net::TcpStream;

use super::{Conn, MAX_HEAD, ReadError, SPARE_MAX};

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
    pub(super) too_large: bool,
    /// The rest of a body the connection is still reading.
    pub(super) feed: Option<Arc<Mutex<Feed>>>,
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
pub(super) struct Feed {
    /// Read, not taken by the body yet.
    data: Bytes,
    /// Bytes still to read from the connection.
    pub(super) remaining: u64,
    /// The connection ended first.
    failed: bool,
    /// The body waiting for data.
    body: Option<Waker>,
    /// The connection waiting for the body to take `data`.
    conn: Option<Waker>,
}

pub(super) fn lock(feed: &Mutex<Feed>) -> MutexGuard<'_, Feed> {
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

impl Conn {
    /// The body of `length` bytes: whole when the buffer holds it, else what the buffer holds
    /// and a feed for the rest, read while the service runs. A body over `limit` is not read.
    pub(super) fn sized_body(&mut self, length: u64, limit: usize) -> RequestBody {
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
    pub(super) async fn read_chunked(&mut self, limit: usize) -> Result<RequestBody, ReadError> {
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
}

/// Reads the next part of a body into its feed: ready when the body has something new to
/// take (or the connection ended), pending while the body has not taken the last part or the
/// connection has nothing (or the body is whole).
pub(super) fn feed_body(tcp: &TcpStream, shared: &Mutex<Feed>, cx: &mut Context<'_>) -> Poll<()> {
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
