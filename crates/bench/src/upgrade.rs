//! The default-mode connection storm: what the official client's `io(url)` does, step by step.
//!
//! 1. `GET` the polling handshake (the `open` packet and its sid);
//! 2. `POST` the Socket.IO `CONNECT` and `GET` the next poll, whose answer carries `40`
//!    ("connected"), while
//! 3. a WebSocket to the same sid sends `2probe`; on `3probe` the client waits for its poll
//!    in flight to end (the server answers it with a `noop`), then sends `5` ("upgraded").
//!
//! Each client uses three connections (the poll, the post and the WebSocket) from its own
//! loopback source address, as a browser would; once upgraded, the polling connections are
//! closed and the WebSocket stays open until the end. One mio loop drives every client.

use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use mio::{Events, Poll};

use crate::hist::Latency;
use crate::packet::{self, Incoming};
use crate::polling::Link;
use crate::pool::MASK;
use crate::results::Outcome;
use crate::{cpu, http, ws};

/// No client finishing for this long ends the storm with an error.
const STALL: Duration = Duration::from_secs(10);

/// The connections of one client, as mio tokens `3 * client + kind`.
const GET: usize = 0;
const POST: usize = 1;
const WS: usize = 2;

struct Client {
    /// Its index (mio tokens `3 * idx + kind`) and its source address number.
    idx: usize,
    source: u64,
    get: Option<Link>,
    post: Option<Link>,
    ws: Option<Link>,
    sid: String,
    started: Instant,
    /// Packets waiting for the POST connection, joined with 0x1e.
    queue: Vec<u8>,
    /// The WebSocket answered `101`.
    ws_open: bool,
    /// `3probe` received: polling is paused until the poll in flight ends.
    probed: bool,
    /// When `40` arrived.
    connected: Option<Instant>,
    upgraded: bool,
    done: bool,
}

impl Client {
    fn new(i: u64, addr: SocketAddr, poll: &Poll, idx: usize) -> io::Result<Self> {
        // The three connections share source address `i`, as one browser's would.
        let mut get = Link::open(i, addr, poll, 3 * idx + GET)?;
        http::write_get(&mut get.wbuf, &addr.to_string(), None);
        get.busy = true;
        let post = Link::open(i, addr, poll, 3 * idx + POST)?;
        Ok(Self {
            idx,
            source: i,
            get: Some(get),
            post: Some(post),
            ws: None,
            sid: String::new(),
            started: Instant::now(),
            queue: Vec::new(),
            ws_open: false,
            probed: false,
            connected: None,
            upgraded: false,
            done: false,
        })
    }

    fn link(&mut self, kind: usize) -> Option<&mut Link> {
        match kind {
            GET => self.get.as_mut(),
            POST => self.post.as_mut(),
            _ => self.ws.as_mut(),
        }
    }

    /// Sends what can be sent: the next poll (unless paused or upgraded) and the queued
    /// packets.
    fn pump(&mut self, host: &str) -> io::Result<()> {
        let may_poll = !self.sid.is_empty() && !self.probed && !self.upgraded;
        if let Some(get) = self.get.as_mut() {
            if may_poll && !get.busy {
                http::write_get(&mut get.wbuf, host, Some(&self.sid));
                get.busy = true;
            }
            get.flush()?;
        }
        if let Some(post) = self.post.as_mut() {
            if !post.busy && !self.queue.is_empty() {
                http::write_post(&mut post.wbuf, host, &self.sid, &self.queue);
                self.queue.clear();
                post.busy = true;
            }
            post.flush()?;
        }
        if let Some(ws) = self.ws.as_mut() {
            ws.flush()?;
        }
        Ok(())
    }

    fn enqueue(&mut self, packet: &[u8]) {
        if !self.queue.is_empty() {
            self.queue.push(0x1e);
        }
        self.queue.extend_from_slice(packet);
    }

    /// Sends `5` over the WebSocket once probed and no request is in flight or queued (the
    /// official client's `pause()`: the poll ends and the last `POST` is answered first).
    fn try_upgrade(&mut self) {
        let in_flight = self.get.as_ref().is_some_and(|g| g.busy)
            || self.post.as_ref().is_some_and(|p| p.busy)
            || !self.queue.is_empty();
        if self.probed && !self.upgraded && !in_flight {
            if let Some(ws) = self.ws.as_mut() {
                ws::encode_masked(&mut ws.wbuf, ws::OP_TEXT, b"5", MASK);
                self.upgraded = true;
            }
        }
    }
}

/// `n` default-mode connections, `inflight` at once.
///
/// # Errors
/// A connection failing, a server answering other than the protocol says, or no progress.
pub fn storm(addr: SocketAddr, n: usize, inflight: usize, source_offset: u64) -> Result<Outcome> {
    let host = addr.to_string();
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(4096);
    let mut scratch = vec![0u8; 64 * 1024];
    let mut clients: Vec<Client> = Vec::with_capacity(n);
    let (mut connected, mut upgraded) = (Latency::new(), Latency::new());
    let (mut ready, mut failed, mut active) = (0usize, 0usize, 0usize);
    let start = Instant::now();
    let window = cpu::Window::start();
    let mut last_progress = Instant::now();
    while ready + failed < n {
        while active < inflight && clients.len() < n {
            let idx = clients.len();
            match Client::new(source_offset + idx as u64, addr, &poll, idx) {
                Ok(c) => {
                    clients.push(c);
                    active += 1;
                }
                Err(e) => bail!("cannot open connection {idx}: {e}"),
            }
        }
        poll.poll(&mut events, Some(Duration::from_millis(5)))?;
        let ready_tokens: Vec<(usize, bool, bool)> = events
            .iter()
            .map(|e| {
                let readable = e.is_readable() || e.is_read_closed();
                (e.token().0, readable, e.is_writable() || e.is_error())
            })
            .collect();
        for (token, readable, writable) in ready_tokens {
            let (idx, kind) = (token / 3, token % 3);
            let Some(c) = clients.get_mut(idx) else { continue };
            if c.done {
                continue;
            }
            let outcome = handle(c, kind, readable, writable, &host, &poll, addr, &mut scratch);
            let finished = match outcome {
                Ok(()) if c.upgraded && c.connected.is_some() => {
                    upgraded.record(c.started.elapsed());
                    if let Some(at) = c.connected {
                        connected.record(at - c.started);
                    }
                    ready += 1;
                    true
                }
                Ok(()) => false,
                Err(e) => {
                    if failed == 0 {
                        eprintln!("storm-default: client {idx} failed: {e}");
                    }
                    failed += 1;
                    true
                }
            };
            if finished {
                c.done = true;
                active -= 1;
                last_progress = Instant::now();
                // Flush the `5`, then drop the polling connections; the WebSocket stays.
                let _ = c.pump(&host);
                for link in [c.get.take(), c.post.take()].into_iter().flatten() {
                    let mut stream = link.stream;
                    let _ = poll.registry().deregister(&mut stream);
                }
            }
        }
        if failed > n / 10 + 10 {
            bail!("{failed} default-mode connections failed ({ready} upgraded)");
        }
        if last_progress.elapsed() > STALL {
            bail!("no client upgraded for {STALL:?} ({ready} upgraded, {active} in progress)");
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let per_server_cpu_s = window.per_cpu_s(ready as f64);
    let kernel_share = window.kernel_share();
    for c in &mut clients {
        if let Some(link) = c.ws.take() {
            let mut stream = link.stream;
            let _ = poll.registry().deregister(&mut stream);
        }
    }
    Ok(Outcome::StormDefault {
        ready,
        failed,
        per_sec: ready as f64 / elapsed.max(1e-9),
        connected: connected.summary(),
        upgraded: upgraded.summary(),
        per_server_cpu_s,
        kernel_share,
    })
}

fn mark_connected(c: &mut Client) {
    if c.connected.is_none() {
        c.connected = Some(Instant::now());
    }
}

/// Handles readiness of connection `kind` of client `c`.
#[allow(clippy::too_many_arguments)]
fn handle(
    c: &mut Client,
    kind: usize,
    readable: bool,
    writable: bool,
    host: &str,
    poll: &Poll,
    addr: SocketAddr,
    scratch: &mut [u8],
) -> Result<()> {
    if writable {
        if let Some(link) = c.link(kind) {
            link.on_writable()?;
        }
    }
    if readable {
        match kind {
            GET => on_get(c, host, poll, addr, scratch)?,
            POST => {
                let Some(post) = c.post.as_mut() else { return Ok(()) };
                for r in post.read(scratch)? {
                    if r.status != 200 {
                        bail!("POST answered {}: {}", r.status, String::from_utf8_lossy(&r.body));
                    }
                    post.busy = false;
                }
            }
            _ => on_ws(c, scratch)?,
        }
    }
    c.try_upgrade();
    c.pump(host)?;
    Ok(())
}

fn on_get(
    c: &mut Client,
    host: &str,
    poll: &Poll,
    addr: SocketAddr,
    scratch: &mut [u8],
) -> Result<()> {
    let Some(get) = c.get.as_mut() else { return Ok(()) };
    let responses = get.read(scratch)?;
    for r in responses {
        if r.status != 200 {
            bail!("poll answered {}: {}", r.status, String::from_utf8_lossy(&r.body));
        }
        if let Some(get) = c.get.as_mut() {
            get.busy = false;
        }
        for p in packet::split_payload(&r.body) {
            match packet::classify(p) {
                Incoming::Open if c.sid.is_empty() => {
                    c.sid = packet::open_sid(p).unwrap_or_default().to_owned();
                    if c.sid.is_empty() {
                        bail!("open packet without a sid");
                    }
                    c.enqueue(b"40");
                    // The probe starts right after the open, beside the CONNECT.
                    let mut ws = Link::open(c.source, addr, poll, 3 * c.idx + WS)?;
                    let mut request = Vec::new();
                    let _ = write!(
                        request,
                        "GET {}websocket&sid={} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\n\
                         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
                         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
                        http::PATH,
                        c.sid
                    );
                    ws.wbuf.extend_from_slice(&request);
                    c.ws = Some(ws);
                }
                Incoming::Connected => mark_connected(c),
                Incoming::Ping => c.enqueue(b"3"),
                Incoming::ConnectError => bail!("connect_error: {}", String::from_utf8_lossy(p)),
                Incoming::Close => bail!("the server closed the session"),
                _ => {}
            }
        }
    }
    Ok(())
}

fn on_ws(c: &mut Client, scratch: &mut [u8]) -> Result<()> {
    let Some(ws) = c.ws.as_mut() else { return Ok(()) };
    ws.fill(scratch)?;
    if !c.ws_open {
        let Some(end) = http::head_end(&ws.rbuf) else { return Ok(()) };
        let status = http::status(ws.rbuf.get(..end).unwrap_or_default());
        if status != Some(101) {
            bail!("the WebSocket upgrade answered {status:?}");
        }
        ws.rbuf.drain(..end);
        c.ws_open = true;
        ws::encode_masked(&mut ws.wbuf, ws::OP_TEXT, b"2probe", MASK);
    }
    let mut messages: Vec<Vec<u8>> = Vec::new();
    while let Some(h) = ws::parse_header(&ws.rbuf) {
        let payload = ws.rbuf.get(h.payload_start..h.end()).unwrap_or_default().to_vec();
        ws.rbuf.drain(..h.end());
        match h.opcode {
            ws::OP_TEXT => messages.push(payload),
            ws::OP_CLOSE => bail!("the server closed the WebSocket"),
            _ => {}
        }
    }
    for m in messages {
        match m.as_slice() {
            b"3probe" => c.probed = true,
            p => match packet::classify(p) {
                Incoming::Connected => mark_connected(c),
                Incoming::Ping => {
                    if let Some(ws) = c.ws.as_mut() {
                        ws::encode_masked(&mut ws.wbuf, ws::OP_TEXT, b"3", MASK);
                    }
                }
                Incoming::ConnectError => bail!("connect_error: {}", String::from_utf8_lossy(p)),
                _ => {}
            },
        }
    }
    Ok(())
}
