//! A server WebSocket over an upgraded connection: frames are decoded by the proto crate's
//! [`Decoder`] and written from one buffer.
//!
//! An idle connection holds no buffer at all: bytes are read into a buffer that is freed as
//! soon as every frame in it is decoded, and frames queued for the client are written from a
//! buffer freed once it is written.

use std::cell::Cell;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use switchboard_proto::engine::websocket::{
    Decoder, Frame, FrameError, Opcode, encode, encode_compressed,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::deflate::{Agreed, Deflate};
use crate::http1::Upgraded;

/// The capacity of a write buffer when its first frame is queued.
const WRITE_START: usize = 1024;

/// How many bytes one read asks for.
const READ_CHUNK: usize = 4096;

/// How many bytes of queued frames make [`WsConn::queue`] try to write them at once; below
/// that, the frames of one wake-up wait for [`WsConn::poll_write_out`], so that they go out in
/// one write.
const WRITE_BATCH: usize = 64 * 1024;

/// The largest written-out buffer kept for the next write on the same thread.
const SPARE_MAX: usize = 16 * 1024;

thread_local! {
    /// A written-out write buffer, empty, kept for the next connection this thread writes
    /// to: a session task's frames are queued and written in the same wake-up, so a buffer
    /// per wake-up would be allocated and freed every time. One per thread, never per
    /// connection: an idle connection still holds none.
    static SPARE: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// A buffer for `bytes` bytes of frames: the thread's spare if it is large enough.
fn write_buffer(bytes: usize) -> Vec<u8> {
    let spare = SPARE.take();
    if spare.capacity() >= bytes {
        return spare;
    }
    // Too small (or none): the spare stays for a smaller write.
    SPARE.set(spare);
    Vec::with_capacity(bytes.max(WRITE_START))
}

/// The thread's spare buffer (empty) if its capacity is at most `max` bytes, else an empty
/// vector: for a session's mailbox, which fills it with the next frames while the frames it
/// held are written (see [`crate::mailbox::Frames`]).
pub(crate) fn spare_buffer(max: usize) -> Vec<u8> {
    let spare = SPARE.take();
    if spare.capacity() <= max {
        return spare;
    }
    SPARE.set(spare);
    Vec::new()
}

/// Gives a written-out buffer back as the thread's spare (a buffer with no capacity leaves the
/// spare as it is).
pub(crate) fn give_back(mut buffer: Vec<u8>) {
    if buffer.capacity() == 0 {
        return;
    }
    if buffer.capacity() <= SPARE_MAX {
        buffer.clear();
        SPARE.set(buffer);
    }
}

/// Why a WebSocket failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WsError {
    #[error("websocket i/o: {0}")]
    Io(#[from] io::Error),
    #[error("websocket protocol: {0}")]
    Frame(#[from] FrameError),
    #[error("websocket write buffer full")]
    WriteBufferFull,
}

/// The connection under a WebSocket: the TCP stream itself when the engine's own server
/// ([`serve`](crate::serve)) served it (no box and no dynamic calls), else hyper's upgraded
/// connection.
enum Io {
    Tcp(TcpStream),
    Upgraded(Box<TokioIo<hyper::upgrade::Upgraded>>),
}

impl Io {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self {
            Io::Tcp(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Io::Upgraded(io) => Pin::new(io.as_mut()).poll_read(cx, buf),
        }
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self {
            Io::Tcp(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Io::Upgraded(io) => Pin::new(io.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Io::Tcp(tcp) => Pin::new(tcp).poll_flush(cx),
            Io::Upgraded(io) => Pin::new(io.as_mut()).poll_flush(cx),
        }
    }
}

/// The server side of a WebSocket.
pub(crate) struct WsConn {
    io: Io,
    decoder: Decoder,
    /// Bytes read and not decoded yet, from `rpos` on.
    rbuf: Vec<u8>,
    rpos: usize,
    /// Frames queued for the client and not written yet, after the unwritten part of the
    /// `101` answer when `serve` held it back (so that it leaves with the first frame).
    wbuf: Vec<u8>,
    /// How many bytes at the start of `wbuf` are that answer: not frames, so not counted
    /// against the write buffer limit.
    head: u32,
    /// A close frame was queued: nothing more is sent.
    close_sent: bool,
    /// Nothing more is awaited from the peer: its close frame arrived (and was answered), or
    /// the connection failed (a frame error, its close frame queued). The server then closes
    /// the TCP connection at once (RFC 6455 §7.1.1, §7.1.7).
    finished: bool,
    /// The client ended the stream.
    eof: bool,
    /// The compression state when the handshake agreed on permessage-deflate.
    deflate: Option<Box<Deflate>>,
}

impl std::fmt::Debug for WsConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsConn").field("unwritten", &self.unwritten()).finish_non_exhaustive()
    }
}

impl WsConn {
    /// A WebSocket over `upgraded`, compressed as `deflate` says when the handshake agreed on
    /// permessage-deflate. The limits are arguments of the methods that need them, not
    /// fields: every byte here is paid by every connection.
    pub(crate) fn new(upgraded: Upgraded, deflate: Option<Agreed>) -> Self {
        let (io, read, held) = match upgraded {
            Upgraded::Ours(handoff) => (Io::Tcp(handoff.tcp), handoff.read, handoff.head),
            Upgraded::Hyper(upgraded) => {
                (Io::Upgraded(Box::new(TokioIo::new(upgraded))), Vec::new(), Vec::new())
            }
        };
        WsConn {
            io,
            decoder: Decoder::default(),
            // What the client sent right after its upgrade request (no buffer when nothing).
            rbuf: if read.is_empty() { Vec::new() } else { read },
            rpos: 0,
            head: u32::try_from(held.len()).unwrap_or(u32::MAX),
            wbuf: held,
            close_sent: false,
            finished: false,
            eof: false,
            deflate: deflate.map(|agreed| Box::new(Deflate::new(agreed))),
        }
    }

    /// The next message (of up to `max_message` bytes) or control frame from the client;
    /// `None` once the client ended the stream. A close frame is answered (the answer is
    /// queued) before it is returned.
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        max_message: usize,
    ) -> Poll<Option<Result<Frame, WsError>>> {
        loop {
            while self.rpos < self.rbuf.len() {
                let (used, frame) = match decode(
                    &mut self.decoder,
                    self.deflate.as_deref_mut(),
                    self.rbuf.get(self.rpos..).unwrap_or_default(),
                    max_message,
                ) {
                    Ok(decoded) => decoded,
                    Err(e) => return Poll::Ready(Some(Err(self.fail(e)))),
                };
                if used == 0 {
                    break;
                }
                self.rpos += used;
                if self.rpos >= self.rbuf.len() {
                    // Every byte read is decoded: an idle connection keeps no buffer.
                    self.rbuf = Vec::new();
                    self.rpos = 0;
                }
                if let Some(frame) = frame {
                    return Poll::Ready(Some(Ok(self.answer(frame))));
                }
            }
            if self.eof {
                return Poll::Ready(None);
            }
            if self.rpos > 0 {
                self.rbuf.drain(..self.rpos);
                self.rpos = 0;
            }
            let len = self.rbuf.len();
            // Read into the stack, uninitialised (no zeroing, no allocation): a read that
            // finds nothing (every wake-up ends with one) costs only the system call.
            let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
            let mut read = ReadBuf::uninit(&mut chunk);
            match self.io.poll_read(cx, &mut read) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
                Poll::Ready(Ok(())) => {}
            }
            let filled = read.filled();
            if filled.is_empty() {
                self.eof = true;
                if len > 0 {
                    // The stream ended inside a frame.
                    self.rbuf = Vec::new();
                    let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
                    return Poll::Ready(Some(Err(eof.into())));
                }
                continue;
            }
            if len > 0 {
                self.rbuf.extend_from_slice(filled);
                continue;
            }
            // Nothing buffered: decode straight from the stack, and keep (copy) only what
            // follows the first whole frame.
            let mut pos = 0;
            loop {
                let rest = filled.get(pos..).unwrap_or_default();
                match decode(&mut self.decoder, self.deflate.as_deref_mut(), rest, max_message) {
                    Err(e) => return Poll::Ready(Some(Err(self.fail(e)))),
                    Ok((0, _)) => {
                        self.rbuf.extend_from_slice(rest);
                        break;
                    }
                    Ok((used, None)) => pos += used,
                    Ok((used, Some(frame))) => {
                        self.rbuf.extend_from_slice(filled.get(pos + used..).unwrap_or_default());
                        return Poll::Ready(Some(Ok(self.answer(frame))));
                    }
                }
            }
        }
    }

    /// A frame on its way to the caller: a close frame is answered first.
    fn answer(&mut self, frame: Frame) -> Frame {
        if let Frame::Close(payload) = &frame {
            // Echo the status code (the decoder checked that a peer may send it), as peers do.
            let code = payload.get(..2).unwrap_or_default().to_vec();
            self.queue_close(&code);
            self.finished = true;
        }
        frame
    }

    /// Fails the connection for a frame error: queues the close frame whose status code says
    /// why (1002, 1007 or 1009), which the caller writes out before dropping the connection.
    fn fail(&mut self, error: FrameError) -> WsError {
        self.queue_close_code(error.close_code());
        self.finished = true;
        WsError::Frame(error)
    }

    /// Queues a close frame carrying only `code`.
    pub(crate) fn queue_close_code(&mut self, code: u16) {
        self.queue_close(&code.to_be_bytes());
    }

    /// Queues a frame, failing if that would leave more than `max_write` bytes unwritten;
    /// writes queued frames at once if they reach [`WRITE_BATCH`] bytes. Frames queued after a
    /// close frame are dropped. With permessage-deflate, a text or binary message from the
    /// threshold on is compressed (and counted compressed).
    pub(crate) fn queue(
        &mut self,
        cx: &mut Context<'_>,
        opcode: Opcode,
        payload: &[u8],
        max_write: usize,
    ) -> Result<(), WsError> {
        if self.close_sent {
            return Ok(());
        }
        if let Some(deflate) = self.deflate.as_deref_mut() {
            if matches!(opcode, Opcode::Text | Opcode::Binary) && deflate.compresses(payload.len())
            {
                let compressed = deflate.deflate(payload);
                return self.queue_encoded(cx, opcode, &compressed, max_write, encode_compressed);
            }
        }
        self.queue_encoded(cx, opcode, payload, max_write, encode)
    }

    /// Whether messages go out as they are, with no compression: frames written beforehand
    /// ([`WsConn::queue_frames`]) are then what [`WsConn::queue`] would write.
    pub(crate) fn sends_as_is(&self) -> bool {
        self.deflate.is_none()
    }

    /// Queues frames written beforehand, as [`WsConn::queue`] queues one: failing if that
    /// would leave more than `max_write` bytes unwritten, written at once from
    /// [`WRITE_BATCH`] bytes on, dropped after a close frame. With nothing else queued, the
    /// buffer becomes the write buffer (no copy).
    pub(crate) fn queue_frames(
        &mut self,
        cx: &mut Context<'_>,
        frames: Vec<u8>,
        max_write: usize,
    ) -> Result<(), WsError> {
        if self.close_sent {
            return Ok(());
        }
        if self.unwritten().saturating_add(frames.len()) > max_write {
            return Err(WsError::WriteBufferFull);
        }
        if self.wbuf.is_empty() {
            give_back(std::mem::replace(&mut self.wbuf, frames));
        } else {
            self.wbuf.extend_from_slice(&frames);
        }
        if self.unwritten() >= WRITE_BATCH {
            if let Poll::Ready(Err(e)) = self.poll_write_out(cx) {
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// Queues a frame that `encode_frame` writes.
    fn queue_encoded(
        &mut self,
        cx: &mut Context<'_>,
        opcode: Opcode,
        payload: &[u8],
        max_write: usize,
        encode_frame: fn(&mut Vec<u8>, Opcode, &[u8]),
    ) -> Result<(), WsError> {
        if self.unwritten().saturating_add(payload.len()) > max_write {
            return Err(WsError::WriteBufferFull);
        }
        if self.wbuf.capacity() == 0 {
            // Room for the other small frames of this wake-up at once, rather than a few
            // reallocations; the buffer is given back once written.
            self.wbuf = write_buffer(payload.len().saturating_add(14));
        }
        encode_frame(&mut self.wbuf, opcode, payload);
        if self.unwritten() >= WRITE_BATCH {
            if let Poll::Ready(Err(e)) = self.poll_write_out(cx) {
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// Queues a close frame with `payload` (empty, or a status code and a reason), the last
    /// frame sent.
    pub(crate) fn queue_close(&mut self, payload: &[u8]) {
        if !self.close_sent {
            encode(&mut self.wbuf, Opcode::Close, payload);
            self.close_sent = true;
        }
    }

    /// Drops every queued frame but keeps the unwritten part of a held `101` answer, and
    /// queues nothing more; false if there is none (nothing to write).
    pub(crate) fn keep_head_only(&mut self) -> bool {
        self.wbuf.truncate(self.head as usize);
        self.close_sent = true;
        !self.wbuf.is_empty()
    }

    /// Whether nothing more is awaited from the peer (see the field): once what is queued is
    /// written, the connection can be dropped.
    pub(crate) fn finished(&self) -> bool {
        self.finished
    }

    /// Bytes queued and not written yet.
    pub(crate) fn unwritten(&self) -> usize {
        self.wbuf.len().saturating_sub(self.head as usize)
    }

    /// Writes every queued frame.
    pub(crate) fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut written = 0;
        let result = loop {
            let Some(rest) = self.wbuf.get(written..).filter(|r| !r.is_empty()) else {
                break Poll::Ready(Ok(()));
            };
            match self.io.poll_write(cx, rest) {
                Poll::Ready(Ok(0)) => break Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => written += n,
                other => break other.map_ok(|_| ()),
            }
        };
        self.head = self.head.saturating_sub(u32::try_from(written).unwrap_or(u32::MAX));
        if written >= self.wbuf.len() {
            // All written: an idle connection keeps no buffer.
            give_back(std::mem::take(&mut self.wbuf));
        } else {
            // The peer is slow (the socket's buffer is full): keep the rest.
            self.wbuf.drain(..written);
        }
        if !matches!(result, Poll::Ready(Ok(()))) || !self.wbuf.is_empty() {
            return result;
        }
        self.io.poll_flush(cx)
    }
}

/// Decodes the first frame of `buf` (see [`Decoder::decode`]); with permessage-deflate, a
/// compressed message is inflated, within the inflated size limit.
fn decode(
    decoder: &mut Decoder,
    deflate: Option<&mut Deflate>,
    buf: &[u8],
    max_message: usize,
) -> Result<(usize, Option<Frame>), FrameError> {
    let Some(deflate) = deflate else { return decoder.decode(buf, max_message) };
    let (used, frame) = decoder.decode_deflate(buf, max_message)?;
    let frame = match frame {
        Some((Frame::Text(data), true)) => Some(Frame::Text(deflate.inflate(&data)?.into())),
        Some((Frame::Binary(data), true)) => Some(Frame::Binary(deflate.inflate(&data)?.into())),
        other => other.map(|(frame, _)| frame),
    };
    Ok((used, frame))
}
