//! The WebSocket connection pool: one mio event loop drives every connection of a thread (no task
//! per connection). Sends are queued per connection and written once per wake-up, so a burst to
//! one connection costs one `write`.

use std::io::{self, Read as _, Write as _};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use crate::packet::{self, Incoming};
use crate::wire::{self, Wire};
use crate::{http, net, ws};

/// The masking key of every client frame: the key only has to be unpredictable to proxies, and a
/// fixed one lets frames be encoded once and written many times.
pub const MASK: [u8; 4] = [0x5a, 0x17, 0xc3, 0x9e];

/// What happened on a connection, handed to the scenario after each turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The Socket.IO handshake completed; `handshake` is from connect start.
    Ready {
        /// Connection index.
        idx: usize,
        /// Time from the TCP connect call to the `40` answer.
        handshake: Duration,
    },
    /// A connection failed before it was ready.
    Failed {
        /// Connection index.
        idx: usize,
    },
    /// A ready connection was closed.
    Closed {
        /// Connection index.
        idx: usize,
    },
    /// A `m` broadcast with its sequence number.
    Broadcast {
        /// Connection index.
        idx: usize,
        /// The broadcast's sequence number.
        seq: u64,
    },
    /// The ack of request `id`.
    Ack {
        /// Connection index.
        idx: usize,
        /// The ack id.
        id: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Upgrading,
    WaitOpen,
    WaitConnect,
    Ready,
    Dead,
}

struct Conn {
    stream: Option<mio::net::TcpStream>,
    phase: Phase,
    /// Bytes of an incomplete frame left from the last read.
    rbuf: Vec<u8>,
    /// Bytes queued or not yet accepted by the kernel.
    wbuf: Vec<u8>,
    dirty: bool,
    started: Instant,
    /// The `seq` of a binary broadcast whose attachment is still to come.
    attachment_of: Option<u64>,
}

/// Frames every connection sends, encoded once.
struct Frames {
    upgrade: Vec<u8>,
    connect: Vec<u8>,
    pong: Vec<u8>,
}

/// Many client connections to one server, driven by one poll loop.
pub struct Pool {
    poll: Poll,
    events: Events,
    conns: Vec<Conn>,
    target: SocketAddr,
    frames: Frames,
    scratch: Vec<u8>,
    dirty: Vec<usize>,
    source_offset: u64,
    wire: Wire,
    /// Connections that are ready now.
    pub ready: usize,
    /// Connections that are mid-handshake.
    pub handshaking: usize,
    /// Connections that failed or closed.
    pub dead: usize,
}

impl Pool {
    /// A pool connecting to `target`; `source_offset` varies the source addresses between pools.
    ///
    /// # Errors
    /// Creating the poll instance.
    pub fn new(target: SocketAddr, source_offset: u64) -> io::Result<Self> {
        Self::with_wire(target, source_offset, Wire::Json)
    }

    /// A pool whose connections speak the packet format `wire`.
    ///
    /// # Errors
    /// Creating the poll instance.
    pub fn with_wire(target: SocketAddr, source_offset: u64, wire: Wire) -> io::Result<Self> {
        let mut packet = Vec::new();
        wire.write_connect(&mut packet);
        let mut connect = Vec::new();
        ws::encode_masked(&mut connect, wire.opcode(), &packet, MASK);
        let mut pong = Vec::new();
        ws::encode_masked(&mut pong, ws::OP_TEXT, b"3", MASK);
        Ok(Self {
            poll: Poll::new()?,
            events: Events::with_capacity(4096),
            conns: Vec::new(),
            target,
            frames: Frames { upgrade: http::upgrade_request(&target.to_string()), connect, pong },
            scratch: vec![0; 256 * 1024],
            dirty: Vec::new(),
            source_offset,
            wire,
            ready: 0,
            handshaking: 0,
            dead: 0,
        })
    }

    /// How many connections were opened.
    #[must_use]
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether no connection was opened.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Whether connection `idx` is ready.
    #[must_use]
    pub fn is_ready(&self, idx: usize) -> bool {
        self.conns.get(idx).is_some_and(|c| c.phase == Phase::Ready)
    }

    /// Starts a new connection; gives its index. A failure to even start counts as dead.
    pub fn open(&mut self) -> usize {
        self.open_to(self.target)
    }

    /// Starts a new connection to another server than the pool's (another node of a
    /// cluster); gives its index.
    pub fn open_to(&mut self, target: SocketAddr) -> usize {
        let idx = self.conns.len();
        let mut conn = Conn {
            stream: None,
            phase: Phase::Connecting,
            rbuf: Vec::new(),
            wbuf: Vec::new(),
            dirty: false,
            started: Instant::now(),
            attachment_of: None,
        };
        let started =
            net::connect_from(self.source_offset + idx as u64, target).and_then(|mut s| {
                self.poll.registry().register(
                    &mut s,
                    Token(idx),
                    Interest::READABLE | Interest::WRITABLE,
                )?;
                Ok(s)
            });
        match started {
            Ok(s) => {
                conn.stream = Some(s);
                self.handshaking += 1;
            }
            Err(_) => {
                conn.phase = Phase::Dead;
                self.dead += 1;
            }
        }
        self.conns.push(conn);
        idx
    }

    /// Queues a text message (masked here) for connection `idx`.
    pub fn send_text(&mut self, idx: usize, payload: &[u8]) {
        if let Some(c) = self.conns.get_mut(idx) {
            ws::encode_masked(&mut c.wbuf, ws::OP_TEXT, payload, MASK);
            mark(&mut self.dirty, c, idx);
        }
    }

    /// The packet format of the connections.
    #[must_use]
    pub fn wire(&self) -> Wire {
        self.wire
    }

    /// Queues a Socket.IO packet written in [`Pool::wire`]'s format (a text or a binary
    /// message) for connection `idx`.
    pub fn send_packet(&mut self, idx: usize, payload: &[u8]) {
        if let Some(c) = self.conns.get_mut(idx) {
            ws::encode_masked(&mut c.wbuf, self.wire.opcode(), payload, MASK);
            mark(&mut self.dirty, c, idx);
        }
    }

    /// Queues pre-encoded bytes (a whole masked frame) for connection `idx`.
    pub fn send_frame(&mut self, idx: usize, frame: &[u8]) {
        if let Some(c) = self.conns.get_mut(idx) {
            c.wbuf.extend_from_slice(frame);
            mark(&mut self.dirty, c, idx);
        }
    }

    /// Closes every connection.
    pub fn close_all(&mut self) {
        for c in &mut self.conns {
            if let Some(mut s) = c.stream.take() {
                let _ = self.poll.registry().deregister(&mut s);
            }
            c.phase = Phase::Dead;
        }
        self.conns.clear();
        self.ready = 0;
        self.handshaking = 0;
        self.dead = 0;
    }

    /// Writes what is queued, waits up to `timeout` for readiness, handles it, and writes again;
    /// events for the scenario are appended to `out`.
    ///
    /// # Errors
    /// The poll call failing.
    pub fn turn(&mut self, timeout: Option<Duration>, out: &mut Vec<Event>) -> io::Result<()> {
        self.flush_dirty(out);
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        let tokens: Vec<(usize, bool, bool)> = self
            .events
            .iter()
            .map(|e| {
                (
                    e.token().0,
                    e.is_readable() || e.is_read_closed(),
                    e.is_writable() || e.is_error(),
                )
            })
            .collect();
        for (idx, readable, writable) in tokens {
            if writable {
                self.on_writable(idx, out);
            }
            if readable {
                self.on_readable(idx, out);
            }
        }
        self.flush_dirty(out);
        Ok(())
    }

    fn flush_dirty(&mut self, out: &mut Vec<Event>) {
        let dirty = std::mem::take(&mut self.dirty);
        for &idx in &dirty {
            if let Some(c) = self.conns.get_mut(idx) {
                c.dirty = false;
            }
            self.flush(idx, out);
        }
        let mut dirty = dirty;
        dirty.clear();
        if self.dirty.is_empty() {
            self.dirty = dirty;
        }
    }

    fn flush(&mut self, idx: usize, out: &mut Vec<Event>) {
        let Some(c) = self.conns.get_mut(idx) else { return };
        if c.phase == Phase::Connecting || c.wbuf.is_empty() {
            return;
        }
        let Some(s) = c.stream.as_mut() else { return };
        let mut written = 0;
        let mut failed = false;
        while written < c.wbuf.len() {
            match s.write(c.wbuf.get(written..).unwrap_or_default()) {
                Ok(0) => {
                    failed = true;
                    break;
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        c.wbuf.drain(..written);
        if failed {
            self.kill(idx, out);
        }
    }

    fn on_writable(&mut self, idx: usize, out: &mut Vec<Event>) {
        let Some(c) = self.conns.get_mut(idx) else { return };
        if c.phase == Phase::Connecting {
            let Some(s) = c.stream.as_mut() else { return };
            if !matches!(s.take_error(), Ok(None)) {
                self.kill(idx, out);
                return;
            }
            match s.peer_addr() {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(_) => {
                    self.kill(idx, out);
                    return;
                }
            }
            c.phase = Phase::Upgrading;
            c.wbuf.extend_from_slice(&self.frames.upgrade);
        }
        self.flush(idx, out);
    }

    fn on_readable(&mut self, idx: usize, out: &mut Vec<Event>) {
        let mut scratch = std::mem::take(&mut self.scratch);
        while let Some(s) = self.conns.get_mut(idx).and_then(|c| c.stream.as_mut()) {
            match s.read(&mut scratch) {
                Ok(0) => {
                    self.kill(idx, out);
                    break;
                }
                Ok(n) => {
                    let data = scratch.get(..n).unwrap_or_default();
                    if self.on_bytes(idx, data, out).is_err() {
                        self.kill(idx, out);
                        break;
                    }
                    // A short read drained the socket; bytes arriving later raise a new
                    // edge, so the extra read that would only say WouldBlock is skipped.
                    if n < scratch.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.kill(idx, out);
                    break;
                }
            }
        }
        self.scratch = scratch;
    }

    /// Handles freshly read bytes, joined to any incomplete frame left over.
    fn on_bytes(&mut self, idx: usize, data: &[u8], out: &mut Vec<Event>) -> Result<(), ()> {
        let Some(c) = self.conns.get_mut(idx) else { return Ok(()) };
        let mut leftover = std::mem::take(&mut c.rbuf);
        let used = if leftover.is_empty() {
            let used = self.process(idx, data, out)?;
            leftover.extend_from_slice(data.get(used..).unwrap_or_default());
            0
        } else {
            leftover.extend_from_slice(data);
            self.process(idx, &leftover, out)?
        };
        leftover.drain(..used);
        if leftover.capacity() > 64 * 1024 && leftover.len() < 1024 {
            leftover.shrink_to_fit();
        }
        if let Some(c) = self.conns.get_mut(idx) {
            c.rbuf = leftover;
        }
        Ok(())
    }

    /// Consumes whole frames (and the upgrade response) from `buf`; gives the bytes used.
    fn process(&mut self, idx: usize, buf: &[u8], out: &mut Vec<Event>) -> Result<usize, ()> {
        let mut pos = 0;
        let Some(c) = self.conns.get_mut(idx) else { return Ok(0) };
        if c.phase == Phase::Upgrading {
            let Some(end) = http::head_end(buf) else { return Ok(0) };
            if http::status(buf.get(..end).unwrap_or_default()) != Some(101) {
                return Err(());
            }
            c.phase = Phase::WaitOpen;
            pos = end;
        }
        while let Some(h) = ws::parse_header(buf.get(pos..).unwrap_or_default()) {
            let payload = buf.get(pos + h.payload_start..pos + h.end()).unwrap_or_default();
            pos += h.end();
            match h.opcode {
                ws::OP_TEXT => self.on_message(idx, packet::classify(payload), out)?,
                // In JSON, a binary message is the attachment of the packet before it.
                ws::OP_BINARY if self.wire == Wire::Json => {
                    let seq = self.conns.get_mut(idx).and_then(|c| c.attachment_of.take());
                    if let Some(seq) = seq {
                        out.push(Event::Broadcast { idx, seq });
                    }
                }
                ws::OP_BINARY => self.on_message(idx, wire::classify_msgpack(payload), out)?,
                ws::OP_PING => {
                    if let Some(c) = self.conns.get_mut(idx) {
                        ws::encode_masked(&mut c.wbuf, ws::OP_PONG, payload, MASK);
                        mark(&mut self.dirty, c, idx);
                    }
                }
                ws::OP_CLOSE => return Err(()),
                _ => {}
            }
        }
        Ok(pos)
    }

    fn on_message(
        &mut self,
        idx: usize,
        incoming: Incoming,
        out: &mut Vec<Event>,
    ) -> Result<(), ()> {
        let Some(c) = self.conns.get_mut(idx) else { return Ok(()) };
        match incoming {
            Incoming::Broadcast(seq) => out.push(Event::Broadcast { idx, seq }),
            Incoming::BinaryBroadcast(seq) => c.attachment_of = Some(seq),
            Incoming::Ack(id) => out.push(Event::Ack { idx, id }),
            Incoming::Ping => {
                c.wbuf.extend_from_slice(&self.frames.pong);
                mark(&mut self.dirty, c, idx);
            }
            Incoming::Open if c.phase == Phase::WaitOpen => {
                c.phase = Phase::WaitConnect;
                c.wbuf.extend_from_slice(&self.frames.connect);
                mark(&mut self.dirty, c, idx);
            }
            Incoming::Connected if c.phase == Phase::WaitConnect => {
                c.phase = Phase::Ready;
                self.handshaking -= 1;
                self.ready += 1;
                out.push(Event::Ready { idx, handshake: c.started.elapsed() });
            }
            Incoming::ConnectError | Incoming::Close => return Err(()),
            _ => {}
        }
        Ok(())
    }

    fn kill(&mut self, idx: usize, out: &mut Vec<Event>) {
        let Some(c) = self.conns.get_mut(idx) else { return };
        if let Some(mut s) = c.stream.take() {
            let _ = self.poll.registry().deregister(&mut s);
        }
        match c.phase {
            Phase::Dead => return,
            Phase::Ready => {
                self.ready -= 1;
                out.push(Event::Closed { idx });
            }
            _ => {
                self.handshaking -= 1;
                out.push(Event::Failed { idx });
            }
        }
        c.phase = Phase::Dead;
        c.wbuf = Vec::new();
        c.rbuf = Vec::new();
        self.dead += 1;
    }
}

fn mark(dirty: &mut Vec<usize>, c: &mut Conn, idx: usize) {
    if !c.dirty {
        c.dirty = true;
        dirty.push(idx);
    }
}
