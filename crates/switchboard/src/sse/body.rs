//! The response body of a stream: the replay, then live events, heartbeats and the end.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame as BodyFrame, SizeHint};
use switchboard_adapter::{Offset, SocketId};
use tokio::sync::mpsc;
use tokio::time::Interval;

use super::tap::{End, Frame, Tap};
use crate::namespace::NamespaceInner;

/// The body of a `/sse` response: an event stream, or a short error text.
///
/// It implements [`http_body::Body`] with `Bytes` data and no error, so any server built on
/// `http` (hyper, axum, tower) can send it.
pub struct SseBody(Inner);

enum Inner {
    Full(Option<Bytes>),
    Stream(Box<Stream>),
}

impl SseBody {
    pub(crate) fn full(text: impl Into<Bytes>) -> Self {
        SseBody(Inner::Full(Some(text.into())))
    }

    pub(crate) fn stream(stream: Stream) -> Self {
        SseBody(Inner::Stream(Box::new(stream)))
    }
}

impl std::fmt::Debug for SseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.0 {
            Inner::Full(_) => "full",
            Inner::Stream(_) => "stream",
        };
        f.debug_tuple("SseBody").field(&kind).finish()
    }
}

/// Leaves the rooms when the stream ends (the client went away, or the server ended it).
pub(crate) struct Membership {
    ns: Arc<NamespaceInner>,
    id: SocketId,
}

impl Membership {
    pub(crate) fn new(ns: Arc<NamespaceInner>, id: SocketId) -> Self {
        crate::metrics::sse_streams(1.0);
        Membership { ns, id }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        crate::metrics::sse_streams(-1.0);
        self.ns.adapter().del_all(&self.id);
        self.ns.taps.remove(&self.id);
    }
}

/// One of the [`super::SseConfig::max_streams`] places, given back when the stream is dropped.
pub(crate) struct Place(Arc<AtomicUsize>);

impl Place {
    /// A place, if fewer than `max` are taken.
    pub(crate) fn take(open: &Arc<AtomicUsize>, max: usize) -> Option<Place> {
        open.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < max).then_some(n + 1))
            .ok()
            .map(|_| Place(open.clone()))
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A live stream.
pub(crate) struct Stream {
    /// Written before any live event: the opening comment, the replay or the missed-data event.
    pub(crate) first: VecDeque<Bytes>,
    /// Live events at or before this offset were in the replay.
    pub(crate) replayed: Option<Offset>,
    pub(crate) live: mpsc::Receiver<Frame>,
    pub(crate) tap: Arc<Tap>,
    pub(crate) heartbeat: Interval,
    pub(crate) done: bool,
    /// Dropped when the stream ends, which leaves the rooms.
    pub(crate) membership: Option<Membership>,
    pub(crate) _place: Place,
}

/// The last event of a stream the server ends.
fn end_text(end: End) -> Bytes {
    Bytes::from_static(match end {
        End::Overflow => {
            b"event: sse.overflow\ndata: {\"reason\":\"the stream's buffer is full: the client reads too slowly\"}\n\n"
        }
        End::Closing => b"event: sse.close\ndata: {\"reason\":\"the server is shutting down\"}\n\n",
    })
}

impl Stream {
    /// The last event is out: leave the rooms now rather than when the body is dropped.
    fn finish(&mut self) {
        self.done = true;
        self.membership = None;
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Some(text) = self.first.pop_front() {
            return Poll::Ready(Some(text));
        }
        match self.tap.ended(cx) {
            // A slow reader loses what is buffered: it resumes from its last id.
            Some(End::Overflow) => {
                crate::metrics::sse_overflow();
                self.finish();
                return Poll::Ready(Some(end_text(End::Overflow)));
            }
            // The server closes: what was delivered before is written first.
            Some(End::Closing) => {
                if let Poll::Ready(Some(frame)) = self.live.poll_recv(cx) {
                    return Poll::Ready(Some(frame.text));
                }
                self.finish();
                return Poll::Ready(Some(end_text(End::Closing)));
            }
            None => {}
        }
        loop {
            match self.live.poll_recv(cx) {
                Poll::Ready(Some(frame)) => {
                    let seen = match (&frame.offset, &self.replayed) {
                        (Some(offset), Some(replayed)) => offset <= replayed,
                        _ => false,
                    };
                    if !seen {
                        return Poll::Ready(Some(frame.text));
                    }
                }
                // Cannot happen while the tap lives (it holds the sender); ends the stream.
                Poll::Ready(None) => {
                    self.finish();
                    return Poll::Ready(None);
                }
                Poll::Pending => break,
            }
        }
        match self.heartbeat.poll_tick(cx) {
            Poll::Ready(_) => Poll::Ready(Some(Bytes::from_static(b": ping\n\n"))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Body for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<BodyFrame<Bytes>, Infallible>>> {
        match &mut self.get_mut().0 {
            Inner::Full(text) => Poll::Ready(text.take().map(|t| Ok(BodyFrame::data(t)))),
            Inner::Stream(stream) => {
                stream.poll_next(cx).map(|t| t.map(|t| Ok(BodyFrame::data(t))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Inner::Full(text) => text.is_none(),
            Inner::Stream(stream) => stream.done,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Inner::Full(Some(text)) => SizeHint::with_exact(text.len() as u64),
            Inner::Full(None) => SizeHint::with_exact(0),
            Inner::Stream(_) => SizeHint::default(),
        }
    }
}
