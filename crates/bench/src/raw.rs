//! The machine's raw ceiling: a plain TCP fan-out server that speaks just enough of the protocol
//! for the generator (upgrade, open, connect) and answers each `bc` by writing the same
//! pre-encoded `m` frame to every connection: one `write` per frame, or batched (every frame of a
//! wake-up in one `write` per connection). No Socket.IO server can beat it on this machine.

use std::io::{self, Read as _, Write as _};
use std::net::SocketAddr;

use anyhow::Result;
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};

use crate::{http, packet, ws};

const LISTENER: Token = Token(usize::MAX);
const OPEN: &[u8] = br#"0{"sid":"raw","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;

struct Conn {
    stream: mio::net::TcpStream,
    upgraded: bool,
    ready: bool,
    rbuf: Vec<u8>,
    pending: Vec<u8>,
}

impl Conn {
    /// Writes `data` (after anything pending); keeps what the kernel does not take.
    fn write(&mut self, data: &[u8]) {
        if !self.pending.is_empty() {
            self.pending.extend_from_slice(data);
            return;
        }
        match self.stream.write(data) {
            Ok(n) if n == data.len() => {}
            Ok(n) => self.pending.extend_from_slice(data.get(n..).unwrap_or_default()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.pending.extend_from_slice(data),
            Err(_) => {}
        }
    }

    fn flush(&mut self) {
        let data = std::mem::take(&mut self.pending);
        self.write(&data);
    }
}

/// Serves on `addr` until killed; prints `listening on http://ADDR` once bound.
///
/// # Errors
/// Binding or polling failing.
pub fn serve(addr: SocketAddr, batched: bool) -> Result<()> {
    let listener = TcpListener::bind(addr)?;
    println!("listening on http://{}", listener.local_addr()?);
    serve_on(listener, batched)
}

/// Serves on a bound listener until killed.
///
/// # Errors
/// Polling failing.
pub fn serve_on(mut listener: TcpListener, batched: bool) -> Result<()> {
    let mut poll = Poll::new()?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut events = Events::with_capacity(4096);
    let mut scratch = vec![0u8; 64 * 1024];
    let mut seqs: Vec<u64> = Vec::new();
    let mut frames = Vec::new();
    let mut open = Vec::new();
    ws::encode_unmasked(&mut open, ws::OP_TEXT, OPEN);
    let mut connected = Vec::new();
    ws::encode_unmasked(&mut connected, ws::OP_TEXT, br#"40{"sid":"raw"}"#);
    loop {
        poll.poll(&mut events, None)?;
        for ev in &events {
            if ev.token() == LISTENER {
                while let Ok((mut stream, _)) = listener.accept() {
                    let _ = stream.set_nodelay(true);
                    let token = Token(conns.len());
                    poll.registry().register(
                        &mut stream,
                        token,
                        Interest::READABLE | Interest::WRITABLE,
                    )?;
                    conns.push(Some(Conn {
                        stream,
                        upgraded: false,
                        ready: false,
                        rbuf: Vec::new(),
                        pending: Vec::new(),
                    }));
                }
                continue;
            }
            let idx = ev.token().0;
            let Some(Some(c)) = conns.get_mut(idx) else { continue };
            if ev.is_writable() {
                c.flush();
            }
            let mut closed = false;
            loop {
                match c.stream.read(&mut scratch) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(n) => c.rbuf.extend_from_slice(scratch.get(..n).unwrap_or_default()),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        closed = true;
                        break;
                    }
                }
            }
            if !c.upgraded {
                if let Some(end) = http::head_end(&c.rbuf) {
                    c.rbuf.drain(..end);
                    c.upgraded = true;
                    c.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
                    c.write(&open);
                }
            }
            let mut pos = 0;
            while c.upgraded {
                let Some(h) = ws::parse_header(c.rbuf.get(pos..).unwrap_or_default()) else {
                    break;
                };
                let (start, end) = (pos + h.payload_start, pos + h.end());
                pos = end;
                let Some(payload) = c.rbuf.get_mut(start..end) else { break };
                if let Some(mask) = h.mask {
                    ws::apply_mask(payload, mask);
                }
                if h.opcode == ws::OP_CLOSE {
                    closed = true;
                } else if payload == b"40" {
                    c.ready = true;
                    c.write(&connected);
                } else if let Some(seq) = packet::parse_bc(payload) {
                    seqs.push(seq);
                }
            }
            c.rbuf.drain(..pos.min(c.rbuf.len()));
            if closed {
                if let Some(Some(mut c)) = conns.get_mut(idx).map(Option::take) {
                    let _ = poll.registry().deregister(&mut c.stream);
                }
            }
        }
        if seqs.is_empty() {
            continue;
        }
        // Encode once, write to all.
        frames.clear();
        let mut bounds = Vec::with_capacity(seqs.len());
        let mut payload = Vec::new();
        for &seq in &seqs {
            payload.clear();
            packet::write_m(&mut payload, seq);
            let start = frames.len();
            ws::encode_unmasked(&mut frames, ws::OP_TEXT, &payload);
            bounds.push(start..frames.len());
        }
        seqs.clear();
        for c in conns.iter_mut().flatten().filter(|c| c.ready) {
            if batched {
                c.write(&frames);
            } else {
                for b in &bounds {
                    c.write(frames.get(b.clone()).unwrap_or_default());
                }
            }
        }
    }
}
