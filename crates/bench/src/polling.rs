//! The polling scenario: each client holds two HTTP/1.1 keep-alive connections (a long-polling
//! `GET` and a `POST`), as browsers do, and keeps one `echo` outstanding. One mio loop drives all.

use std::io::{self, Read as _, Write as _};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use mio::{Events, Interest, Poll, Token};

use crate::hist::Latency;
use crate::packet::{self, Incoming};
use crate::results::{IdleLevel, Outcome};
use crate::wire::{self, Wire};
use crate::{cpu, http, net};

/// One keep-alive HTTP/1.1 connection of a polling client (also the raw stream of the
/// default-mode storm's WebSocket).
pub(crate) struct Link {
    pub(crate) stream: mio::net::TcpStream,
    pub(crate) connected: bool,
    /// A request is outstanding.
    pub(crate) busy: bool,
    pub(crate) rbuf: Vec<u8>,
    pub(crate) wbuf: Vec<u8>,
}

impl Link {
    pub(crate) fn open(i: u64, addr: SocketAddr, poll: &Poll, token: usize) -> io::Result<Self> {
        let mut stream = net::connect_from(i, addr)?;
        poll.registry().register(
            &mut stream,
            Token(token),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        Ok(Self { stream, connected: false, busy: false, rbuf: Vec::new(), wbuf: Vec::new() })
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        if !self.connected {
            return Ok(());
        }
        let mut written = 0;
        while written < self.wbuf.len() {
            match self.stream.write(self.wbuf.get(written..).unwrap_or_default()) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.wbuf.drain(..written);
        Ok(())
    }

    pub(crate) fn on_writable(&mut self) -> io::Result<()> {
        if !self.connected {
            if let Some(e) = self.stream.take_error()? {
                return Err(e);
            }
            match self.stream.peer_addr() {
                Ok(_) => self.connected = true,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        self.flush()
    }

    /// Reads what is there into `rbuf`.
    pub(crate) fn fill(&mut self, scratch: &mut [u8]) -> io::Result<()> {
        loop {
            match self.stream.read(scratch) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.rbuf.extend_from_slice(scratch.get(..n).unwrap_or_default()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads what is there; gives the complete responses.
    pub(crate) fn read(&mut self, scratch: &mut [u8]) -> io::Result<Vec<http::Response>> {
        self.fill(scratch)?;
        let mut out = Vec::new();
        while let Some(r) = http::parse_response(&self.rbuf).map_err(io::Error::other)? {
            self.rbuf.drain(..r.consumed);
            out.push(r);
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Opening,
    Joining,
    Ready,
}

struct Client {
    get: Link,
    post: Link,
    sid: String,
    state: State,
    /// Packets waiting for the POST connection, joined with 0x1e.
    queue: Vec<u8>,
    /// When the outstanding echo was due (paced) or sent (closed loop): its round trip is
    /// measured from here.
    sent_at: Instant,
    /// Paced: when the next echo is due, once the last one was answered.
    next_due: Option<Instant>,
}

impl Client {
    fn enqueue(&mut self, packet: &[u8]) {
        if !self.queue.is_empty() {
            self.queue.push(0x1e);
        }
        self.queue.extend_from_slice(packet);
    }

    /// Queues a Socket.IO packet: as is in JSON, as `b` and its base64 in msgpack (a binary
    /// message in a polling payload).
    fn enqueue_packet(&mut self, wire: Wire, packet: &[u8]) {
        match wire {
            Wire::Json => self.enqueue(packet),
            Wire::Msgpack => {
                let mut record = Vec::with_capacity(1 + packet.len() * 4 / 3 + 4);
                record.push(b'b');
                record.extend_from_slice(BASE64.encode(packet).as_bytes());
                self.enqueue(&record);
            }
        }
    }

    fn pump(&mut self, host: &str) -> io::Result<()> {
        if !self.get.busy && self.state != State::Opening {
            http::write_get(&mut self.get.wbuf, host, Some(&self.sid));
            self.get.busy = true;
        }
        if !self.post.busy && !self.queue.is_empty() {
            http::write_post(&mut self.post.wbuf, host, &self.sid, &self.queue);
            self.queue.clear();
            self.post.busy = true;
        }
        self.get.flush()?;
        self.post.flush()
    }
}

/// Clients mid-handshake at once while the polling clients connect.
const SETUP_INFLIGHT: usize = 64;

/// How long the polling clients may take to connect.
const SETUP_LIMIT: Duration = Duration::from_secs(60);

/// Polling clients driven by one poll loop.
struct Fleet {
    addr: SocketAddr,
    host: String,
    wire: Wire,
    poll: Poll,
    events: Events,
    scratch: Vec<u8>,
    frame: Vec<u8>,
    cs: Vec<Client>,
    next_id: u64,
    /// Acks answer with the next echo (the throughput scenario), or nothing (idle).
    echo: bool,
    /// Acks and round trips are counted.
    measuring: bool,
    rtt: Latency,
    acks: u64,
    /// Paced: each client sends its next echo this long after its last one was due (so that
    /// all clients together offer a fixed rate), or at once when that time has passed.
    interval: Option<Duration>,
}

impl Fleet {
    fn new(addr: SocketAddr, wire: Wire) -> io::Result<Self> {
        Ok(Self {
            addr,
            host: addr.to_string(),
            wire,
            poll: Poll::new()?,
            events: Events::with_capacity(1024),
            scratch: vec![0u8; 64 * 1024],
            frame: Vec::new(),
            cs: Vec::new(),
            next_id: 0,
            echo: false,
            measuring: false,
            rtt: Latency::new(),
            acks: 0,
            interval: None,
        })
    }

    /// Connects clients until there are `target`, at most [`SETUP_INFLIGHT`] mid-handshake
    /// at once (a burst of thousands of connects overflows a listen backlog), serving the
    /// others meanwhile.
    fn connect(&mut self, target: usize) -> Result<()> {
        let deadline = Instant::now() + SETUP_LIMIT;
        loop {
            let in_setup = self.cs.iter().filter(|c| c.state != State::Ready).count();
            for _ in in_setup..SETUP_INFLIGHT {
                if self.cs.len() >= target {
                    break;
                }
                let i = self.cs.len();
                let mut get = Link::open(2 * i as u64, self.addr, &self.poll, 2 * i)?;
                http::write_get(&mut get.wbuf, &self.host, None);
                get.busy = true;
                let post = Link::open(2 * i as u64 + 1, self.addr, &self.poll, 2 * i + 1)?;
                self.cs.push(Client {
                    get,
                    post,
                    sid: String::new(),
                    state: State::Opening,
                    queue: Vec::new(),
                    sent_at: Instant::now(),
                    next_due: None,
                });
            }
            if self.cs.len() >= target && self.cs.iter().all(|c| c.state == State::Ready) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let count = |st: State| self.cs.iter().filter(|c| c.state == st).count();
                bail!(
                    "polling clients did not all connect in {SETUP_LIMIT:?}: {} opening, {} \
                     joining, {} ready",
                    count(State::Opening),
                    count(State::Joining),
                    count(State::Ready)
                );
            }
            self.turn(Duration::from_millis(20))?;
        }
    }

    /// Sends every client's first echo (paced: spread over one interval).
    fn start_echo(&mut self) -> io::Result<()> {
        self.echo = true;
        let now = Instant::now();
        let n = self.cs.len().max(1) as u32;
        for (i, c) in self.cs.iter_mut().enumerate() {
            match self.interval {
                Some(interval) => c.next_due = Some(now + interval / n * i as u32),
                None => {
                    self.frame.clear();
                    self.wire.write_echo(&mut self.frame, self.next_id);
                    self.next_id += 1;
                    c.sent_at = now;
                    c.enqueue_packet(self.wire, &self.frame);
                    c.pump(&self.host)?;
                }
            }
        }
        Ok(())
    }

    /// Paced: sends the echoes that are due; gives how long until the next one is.
    fn send_due(&mut self) -> Option<Duration> {
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        for c in &mut self.cs {
            let Some(due) = c.next_due else { continue };
            if due > now {
                next = Some(next.map_or(due, |n| n.min(due)));
                continue;
            }
            c.next_due = None;
            self.frame.clear();
            self.wire.write_echo(&mut self.frame, self.next_id);
            self.next_id += 1;
            // Measured from when it was due, not from when this loop got to it.
            c.sent_at = due;
            c.enqueue_packet(self.wire, &self.frame);
        }
        next.map(|n| n.saturating_duration_since(now))
    }

    /// Waits up to `timeout` (paced: at most until the next echo is due) for readiness and
    /// handles it.
    fn turn(&mut self, timeout: Duration) -> Result<()> {
        let timeout = match self.interval.and_then(|_| self.send_due()) {
            Some(until_due) => timeout.min(until_due),
            None => timeout,
        };
        self.poll.poll(&mut self.events, Some(timeout))?;
        for ev in &self.events {
            let (ci, is_post) = (ev.token().0 / 2, ev.token().0 % 2 == 1);
            let Some(c) = self.cs.get_mut(ci) else { continue };
            if ev.is_writable() || ev.is_error() {
                if is_post { c.post.on_writable()? } else { c.get.on_writable()? }
            }
            if !(ev.is_readable() || ev.is_read_closed()) {
                continue;
            }
            let link = if is_post { &mut c.post } else { &mut c.get };
            let responses = match link.read(&mut self.scratch) {
                Ok(responses) => responses,
                // An idle keep-alive connection the server closed (Node closes them after
                // 5 s): reconnect, as a browser would for its next request.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !link.busy => {
                    let token = ev.token().0;
                    let mut stream = Link::open(token as u64, self.addr, &self.poll, token)?;
                    std::mem::swap(&mut stream.wbuf, &mut link.wbuf);
                    let mut old = std::mem::replace(link, stream);
                    let _ = self.poll.registry().deregister(&mut old.stream);
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            for r in responses {
                if r.status != 200 {
                    bail!(
                        "polling request answered {}: {}",
                        r.status,
                        String::from_utf8_lossy(&r.body)
                    );
                }
                if is_post {
                    c.post.busy = false;
                    continue;
                }
                c.get.busy = false;
                for p in packet::split_payload(&r.body) {
                    // A binary message travels as `b` and its base64.
                    let incoming = match p.strip_prefix(b"b") {
                        Some(b64) => match BASE64.decode(b64) {
                            Ok(bytes) => wire::classify_msgpack(&bytes),
                            Err(_) => Incoming::Other,
                        },
                        None => packet::classify(p),
                    };
                    match incoming {
                        Incoming::Open if c.state == State::Opening => {
                            c.sid = packet::open_sid(p).unwrap_or_default().to_owned();
                            c.state = State::Joining;
                            self.frame.clear();
                            self.wire.write_connect(&mut self.frame);
                            c.enqueue_packet(self.wire, &self.frame);
                        }
                        // The first echo waits for every client (`start_echo`): the setup is
                        // not measured, and echoes during it would slow the handshakes.
                        Incoming::Connected if c.state == State::Joining => c.state = State::Ready,
                        Incoming::Ping => c.enqueue(b"3"),
                        Incoming::Ack(_) if self.echo => {
                            let now = Instant::now();
                            if self.measuring {
                                self.rtt.record(now.saturating_duration_since(c.sent_at));
                                self.acks += 1;
                            }
                            if let Some(interval) = self.interval {
                                c.next_due = Some(c.sent_at + interval);
                                continue;
                            }
                            self.frame.clear();
                            self.wire.write_echo(&mut self.frame, self.next_id);
                            self.next_id += 1;
                            c.sent_at = now;
                            c.enqueue_packet(self.wire, &self.frame);
                        }
                        Incoming::Close | Incoming::ConnectError => {
                            bail!("server closed a polling session")
                        }
                        _ => {}
                    }
                }
            }
        }
        for c in &mut self.cs {
            c.pump(&self.host)?;
        }
        Ok(())
    }
}

/// Polling throughput: `clients` clients, each with one `echo` outstanding, for `duration`.
/// With a `rate`, the clients together offer that many echoes per second (each client one
/// every `clients / rate` seconds, or at once when its last answer came later), and round
/// trips are measured from when each echo was due: two servers compared at the same rate.
///
/// # Errors
/// A connection failing, or the clients not all connecting.
pub fn polling(
    addr: SocketAddr,
    clients: usize,
    duration: Duration,
    rate: Option<f64>,
    wire: Wire,
) -> Result<Outcome> {
    let mut fleet = Fleet::new(addr, wire)?;
    fleet.interval =
        rate.filter(|r| *r > 0.0).map(|r| Duration::from_secs_f64(clients.max(1) as f64 / r));
    fleet.connect(clients)?;
    let cpu_window = cpu::Window::start();
    let start = Instant::now();
    fleet.measuring = true;
    fleet.start_echo()?;
    while let Some(left) = (start + duration).checked_duration_since(Instant::now()) {
        fleet.turn(left.min(Duration::from_millis(20)))?;
    }
    let (acks, rtt) = (fleet.acks, fleet.rtt.summary());
    Ok(Outcome::Polling {
        clients,
        rate,
        acks_per_sec: acks as f64 / duration.as_secs_f64(),
        rtt,
        per_server_cpu_s: cpu_window.per_cpu_s(acks as f64),
        kernel_share: cpu_window.kernel_share(),
    })
}

/// Idle memory of long-polling clients: server RSS at each client count, every client
/// connected to `/` and holding a `GET`.
///
/// # Errors
/// Connecting failing, or the server's RSS being unreadable.
pub fn idle(
    addr: SocketAddr,
    pid: u32,
    levels: &[usize],
    settle: Duration,
    wire: Wire,
) -> Result<Outcome> {
    let rss = || net::rss_kib(pid).ok_or_else(|| anyhow::anyhow!("cannot read RSS of pid {pid}"));
    let baseline_kib = rss()?;
    let mut fleet = Fleet::new(addr, wire)?;
    let mut out = Vec::new();
    for &n in levels {
        fleet.connect(n)?;
        let end = Instant::now() + settle;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            fleet.turn(left.min(Duration::from_millis(100)))?;
        }
        let rss_kib = rss()?;
        let per_conn_kib = rss_kib.saturating_sub(baseline_kib) as f64 / n.max(1) as f64;
        out.push(IdleLevel { conns: n, rss_kib, per_conn_kib });
    }
    Ok(Outcome::IdlePolling { baseline_kib, levels: out })
}
