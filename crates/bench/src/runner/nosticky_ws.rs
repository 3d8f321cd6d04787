//! The WebSocket side of `nosticky`: sessions opened by polling on one node and upgraded
//! either on that node (direct) or through another node, which proxies the WebSocket to the
//! owner for its life. Closed-loop echo with ack on each, blocking clients on threads.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::hist::{Latency, Summary};
use crate::http::{self, PATH};
use crate::packet;
use crate::ws;

/// How long one read may wait before the measurement fails.
const READ_LIMIT: Duration = Duration::from_secs(10);

/// A WebSocket client of one Engine.IO session.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// One request on a fresh connection; its response.
fn http_once(addr: SocketAddr, request: &[u8]) -> Result<http::Response> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(READ_LIMIT))?;
    stream.write_all(request)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(res) = http::parse_response(&buf).map_err(anyhow::Error::msg)? {
            return Ok(res);
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            bail!("connection closed before a full response");
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

impl Client {
    /// A session opened by polling on `owner`, upgraded through `via`, connected to `/`.
    fn open(owner: SocketAddr, via: SocketAddr) -> Result<Client> {
        let mut get = Vec::new();
        http::write_get(&mut get, &owner.to_string(), None);
        let res = http_once(owner, &get)?;
        let open = packet::split_payload(&res.body).next().context("no open packet")?;
        let sid = packet::open_sid(open).context("no sid")?.to_owned();
        let mut stream = TcpStream::connect(via)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(READ_LIMIT))?;
        let upgrade = format!(
            "GET {PATH}websocket&sid={sid} HTTP/1.1\r\nHost: {via}\r\nConnection: Upgrade\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        );
        stream.write_all(upgrade.as_bytes())?;
        let mut client = Client { stream, buf: Vec::new() };
        let end = loop {
            if let Some(end) = http::head_end(&client.buf) {
                break end;
            }
            client.fill()?;
        };
        if http::status(client.buf.get(..end).unwrap_or_default()) != Some(101) {
            bail!("the upgrade was refused: {}", String::from_utf8_lossy(&client.buf));
        }
        client.buf.drain(..end);
        client.send(b"2probe")?;
        if client.next()? != b"3probe" {
            bail!("no probe answer");
        }
        client.send(b"5")?;
        client.send(b"40")?;
        while !client.next()?.starts_with(b"40") {}
        Ok(client)
    }

    fn fill(&mut self) -> Result<()> {
        let mut chunk = [0u8; 16384];
        let n = self.stream.read(&mut chunk)?;
        if n == 0 {
            bail!("the server closed the connection");
        }
        self.buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        Ok(())
    }

    fn send(&mut self, text: &[u8]) -> Result<()> {
        let mut out = Vec::with_capacity(text.len() + 8);
        ws::encode_masked(&mut out, ws::OP_TEXT, text, [1, 2, 3, 4]);
        self.stream.write_all(&out)?;
        Ok(())
    }

    /// The next text message; Engine.IO pings are answered on the way.
    fn next(&mut self) -> Result<Vec<u8>> {
        loop {
            if let Some(h) = ws::parse_header(&self.buf) {
                if self.buf.len() >= h.end() {
                    let payload =
                        self.buf.get(h.payload_start..h.end()).unwrap_or_default().to_vec();
                    self.buf.drain(..h.end());
                    match h.opcode {
                        ws::OP_TEXT if payload == b"2" => self.send(b"3")?,
                        ws::OP_TEXT => return Ok(payload),
                        ws::OP_CLOSE => bail!("the server closed the WebSocket"),
                        _ => {}
                    }
                    continue;
                }
            }
            self.fill()?;
        }
    }
}

/// `clients` sessions owned by `owner` and upgraded through `via`, each with one echo
/// outstanding for `duration`: acks per second and the round trip.
pub(super) fn echo(
    owner: SocketAddr,
    via: SocketAddr,
    clients: usize,
    duration: Duration,
) -> Result<(f64, Summary)> {
    let mut opened = Vec::with_capacity(clients);
    for _ in 0..clients {
        opened.push(Client::open(owner, via)?);
    }
    let start = Instant::now();
    let end = start + duration;
    let threads: Vec<_> = opened
        .into_iter()
        .map(|mut c| {
            // One thread per client, owning its connection until `end`; joined below.
            std::thread::spawn(move || -> Result<(u64, Latency)> {
                let (mut acks, mut rtt, mut id) = (0u64, Latency::new(), 0u64);
                let mut out = Vec::new();
                while Instant::now() < end {
                    out.clear();
                    packet::write_echo(&mut out, id);
                    let sent = Instant::now();
                    c.send(&out)?;
                    loop {
                        let msg = c.next()?;
                        if let packet::Incoming::Ack(n) = packet::classify(&msg) {
                            if n == id {
                                break;
                            }
                        }
                    }
                    rtt.record(sent.elapsed());
                    acks += 1;
                    id += 1;
                }
                Ok((acks, rtt))
            })
        })
        .collect();
    let (mut acks, mut rtt) = (0u64, Latency::new());
    for t in threads {
        let (a, r) = t.join().map_err(|_| anyhow::anyhow!("an echo thread panicked"))??;
        acks += a;
        rtt.merge(&r);
    }
    let secs = start.elapsed().as_secs_f64();
    Ok((acks as f64 / secs, rtt.summary()))
}
