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
use crate::results::Outcome;
use crate::wire::{self, Wire};
use crate::{cpu, http, net};

struct Link {
    stream: mio::net::TcpStream,
    connected: bool,
    busy: bool,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
}

impl Link {
    fn open(i: u64, addr: SocketAddr, poll: &Poll, token: usize) -> io::Result<Self> {
        let mut stream = net::connect_from(i, addr)?;
        poll.registry().register(
            &mut stream,
            Token(token),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        Ok(Self { stream, connected: false, busy: false, rbuf: Vec::new(), wbuf: Vec::new() })
    }

    fn flush(&mut self) -> io::Result<()> {
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

    fn on_writable(&mut self) -> io::Result<()> {
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

    /// Reads what is there; gives the complete responses.
    fn read(&mut self, scratch: &mut [u8]) -> io::Result<Vec<http::Response>> {
        loop {
            match self.stream.read(scratch) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.rbuf.extend_from_slice(scratch.get(..n).unwrap_or_default()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
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
    sent_at: Instant,
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

/// Polling throughput: `clients` clients, each with one `echo` outstanding, for `duration`.
///
/// # Errors
/// A connection failing, or the clients not all connecting.
pub fn polling(
    addr: SocketAddr,
    clients: usize,
    duration: Duration,
    wire: Wire,
) -> Result<Outcome> {
    let host = addr.to_string();
    let mut poll = Poll::new()?;
    let mut cs = Vec::with_capacity(clients);
    for i in 0..clients {
        let mut get = Link::open(2 * i as u64, addr, &poll, 2 * i)?;
        http::write_get(&mut get.wbuf, &host, None);
        get.busy = true;
        let post = Link::open(2 * i as u64 + 1, addr, &poll, 2 * i + 1)?;
        cs.push(Client {
            get,
            post,
            sid: String::new(),
            state: State::Opening,
            queue: Vec::new(),
            sent_at: Instant::now(),
        });
    }
    let mut events = Events::with_capacity(1024);
    let mut scratch = vec![0u8; 64 * 1024];
    let mut rtt = Latency::new();
    let mut frame = Vec::new();
    let mut next_id = 0u64;
    let (mut window_start, mut acks) = (None::<Instant>, 0u64);
    let setup_deadline = Instant::now() + Duration::from_secs(20);
    let mut cpu_window = cpu::Window::start();
    loop {
        let now = Instant::now();
        if window_start.is_none() && cs.iter().all(|c| c.state == State::Ready) {
            window_start = Some(now);
            cpu_window = cpu::Window::start();
        }
        match window_start {
            Some(t) if now >= t + duration => break,
            None if now >= setup_deadline => bail!("polling clients did not all connect"),
            _ => {}
        }
        poll.poll(&mut events, Some(Duration::from_millis(20)))?;
        for ev in &events {
            let (ci, is_post) = (ev.token().0 / 2, ev.token().0 % 2 == 1);
            let Some(c) = cs.get_mut(ci) else { continue };
            if ev.is_writable() || ev.is_error() {
                if is_post { c.post.on_writable()? } else { c.get.on_writable()? }
            }
            if !(ev.is_readable() || ev.is_read_closed()) {
                continue;
            }
            let responses =
                if is_post { c.post.read(&mut scratch)? } else { c.get.read(&mut scratch)? };
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
                            frame.clear();
                            wire.write_connect(&mut frame);
                            c.enqueue_packet(wire, &frame);
                        }
                        Incoming::Connected if c.state == State::Joining => {
                            c.state = State::Ready;
                            frame.clear();
                            wire.write_echo(&mut frame, next_id);
                            next_id += 1;
                            c.sent_at = Instant::now();
                            c.enqueue_packet(wire, &frame);
                        }
                        Incoming::Ping => c.enqueue(b"3"),
                        Incoming::Ack(_) => {
                            let now = Instant::now();
                            if window_start.is_some() {
                                rtt.record(now - c.sent_at);
                                acks += 1;
                            }
                            frame.clear();
                            wire.write_echo(&mut frame, next_id);
                            next_id += 1;
                            c.sent_at = now;
                            c.enqueue_packet(wire, &frame);
                        }
                        Incoming::Close | Incoming::ConnectError => {
                            bail!("server closed a polling session")
                        }
                        _ => {}
                    }
                }
            }
        }
        for c in &mut cs {
            c.pump(&host)?;
        }
    }
    Ok(Outcome::Polling {
        clients,
        acks_per_sec: acks as f64 / duration.as_secs_f64(),
        rtt: rtt.summary(),
        per_server_cpu_s: cpu_window.per_cpu_s(acks as f64),
    })
}
