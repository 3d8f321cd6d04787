//! The soak: rounds of clients that connect, talk and vanish, for minutes, against a server
//! whose sessions end fast (the protocol test server: pingInterval 300 ms, pingTimeout 200 ms);
//! then the server's memory and open files must be back where they were after the first two
//! rounds.
//!
//! Each round opens `clients` WebSocket clients and a tenth as many polling clients. Every
//! WebSocket client sends a `message-with-ack` (the server acks it); then, on alternate rounds, they
//! all vanish without a close (their TCP connections dropped) or leave properly (a namespace
//! disconnect and an Engine.IO close first). Polling clients always vanish after joining.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde::{Deserialize, Serialize};

use crate::hist::Latency;
use crate::net;
use crate::pool::{Event, Pool};
use crate::scenario::connect;

/// What a soak saw.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Soak {
    /// Rounds run.
    pub rounds: u64,
    /// WebSocket clients connected in all.
    pub websocket_clients: u64,
    /// Polling clients connected in all.
    pub polling_clients: u64,
    /// Clients that vanished without a close.
    pub vanished: u64,
    /// Echoes received.
    pub echoes: u64,
    /// Server RSS after the first two rounds, once their clients were gone (KiB).
    pub baseline_rss_kib: u64,
    /// Server RSS at the end, once every client was gone (KiB).
    pub end_rss_kib: u64,
    /// Server's open files after the first two rounds.
    pub baseline_fds: u64,
    /// Server's open files at the end.
    pub end_fds: u64,
}

impl Soak {
    /// The end RSS against the baseline, as a fraction (0.05 is 5 % more).
    #[must_use]
    pub fn rss_growth(&self) -> f64 {
        self.end_rss_kib as f64 / self.baseline_rss_kib.max(1) as f64 - 1.0
    }
}

/// The number of open files of `pid`.
fn open_files(pid: u32) -> Result<u64> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/fd")).context("reading the server's fds")?;
    Ok(dir.count() as u64)
}

/// Waits (at most `limit`) until the server's open files are back to `target` or fewer: its
/// sessions of the vanished clients were reaped. Gives the count it settled at.
fn settle(pid: u32, target: u64, limit: Duration) -> Result<u64> {
    let end = Instant::now() + limit;
    loop {
        let fds = open_files(pid)?;
        if fds <= target || Instant::now() > end {
            return Ok(fds);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One polling client: handshake, join `/`, then vanish (the connection is dropped).
fn polling_client(addr: SocketAddr) -> Result<()> {
    let host = addr.to_string();
    let mut open = TcpStream::connect(addr)?;
    open.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(open, "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: {host}\r\n\r\n")?;
    let answer = read_answer(&mut open)?;
    let sid = answer
        .split("\"sid\":\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .context("no sid in the handshake")?
        .to_owned();
    write!(
        open,
        "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: {host}\r\n\
         Content-Length: 2\r\n\r\n40"
    )?;
    let posted = read_answer(&mut open)?;
    if !posted.starts_with("HTTP/1.1 200") {
        bail!("the join was refused: {posted}");
    }
    Ok(())
}

/// One HTTP answer with a `Content-Length` body, as text.
fn read_answer(stream: &mut TcpStream) -> Result<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&buf);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0usize);
            if buf.len() >= end + 4 + length {
                return Ok(text.into_owned());
            }
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            bail!("the connection closed mid-answer");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// One round; gives (echoes, WebSocket clients, polling clients, vanished).
fn round(addr: SocketAddr, clients: usize, n: u64, vanish: bool) -> Result<(u64, u64, u64, u64)> {
    let mut pool = Pool::new(addr, n * clients as u64)?;
    // A soak looks for leaks, not for refused connections: on a loaded machine a few may
    // fail; the round goes on with those that connected, unless most did not.
    if let Err(e) = connect(&mut pool, clients, 256, &mut Latency::new()) {
        if pool.ready < clients / 2 {
            return Err(e.context(format!("round {n}")));
        }
    }
    let ready = pool.ready;
    for idx in 0..pool.len() {
        if pool.is_ready(idx) {
            pool.send_text(idx, format!("42{idx}[\"message-with-ack\",\"soak\"]").as_bytes());
        }
    }
    let (mut echoes, mut evs) = (0u64, Vec::new());
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end && echoes < ready as u64 {
        pool.turn(Some(Duration::from_millis(20)), &mut evs)?;
        echoes += evs.drain(..).filter(|e| matches!(e, Event::Ack { .. })).count() as u64;
    }
    if echoes < ready as u64 / 2 {
        bail!("round {n}: {echoes} of {ready} acks in 5 s");
    }
    if !vanish {
        // Leave properly: a namespace disconnect, then the Engine.IO close.
        for idx in 0..pool.len() {
            pool.send_text(idx, b"41");
            pool.send_text(idx, b"1");
        }
        pool.turn(Some(Duration::from_millis(50)), &mut evs)?;
    }
    pool.close_all();
    let wanted = (clients / 10).max(1);
    let polling = (0..wanted).filter(|_| polling_client(addr).is_ok()).count();
    if polling < wanted / 2 {
        bail!("round {n}: {polling} of {wanted} polling clients joined");
    }
    let vanished = if vanish { ready as u64 } else { 0 } + polling as u64;
    Ok((echoes, ready as u64, polling as u64, vanished))
}

/// Runs rounds of `clients` for `duration` against the server at `addr` (process `pid`).
///
/// # Errors
/// Connecting failing, or the server's memory or files being unreadable.
pub fn soak(addr: SocketAddr, pid: u32, duration: Duration, clients: usize) -> Result<Soak> {
    let rss = || net::rss_kib(pid).context("reading the server's RSS");
    let idle_fds = open_files(pid)?;
    // The first two rounds (one of each kind) warm the allocator and the maps up; the
    // baseline is taken after them.
    let (mut echoes, mut ws, mut polling, mut vanished) = round(addr, clients, 0, true)?;
    settle(pid, idle_fds, Duration::from_secs(10))?;
    let (e, w, p, v) = round(addr, clients, 1, false)?;
    (echoes, ws, polling, vanished) = (echoes + e, ws + w, polling + p, vanished + v);
    let baseline_fds = settle(pid, idle_fds, Duration::from_secs(10))?;
    let baseline_rss_kib = rss()?;
    let end = Instant::now() + duration;
    let mut rounds = 2;
    while Instant::now() < end {
        // The last round's sessions are reaped first: the server may have 1024 files only.
        settle(pid, baseline_fds, Duration::from_secs(10))?;
        let (e, w, p, v) = round(addr, clients, rounds, rounds % 2 == 0)?;
        (echoes, ws, polling, vanished) = (echoes + e, ws + w, polling + p, vanished + v);
        rounds += 1;
    }
    let end_fds = settle(pid, baseline_fds, Duration::from_secs(10))?;
    Ok(Soak {
        rounds,
        websocket_clients: ws,
        polling_clients: polling,
        vanished,
        echoes,
        baseline_rss_kib,
        end_rss_kib: rss()?,
        baseline_fds,
        end_fds,
    })
}
