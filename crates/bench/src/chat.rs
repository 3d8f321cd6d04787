//! The chat load: clients log into the `switchboard` binary's `/chat` namespace (dev
//! authentication, `auth: { username }`), join one room and send `message:send` with an ack
//! (answered once the message is committed to the store) as fast as the acks come back, with
//! a bounded window of sends in flight per client. Every member of the room, the sender
//! included, receives each message as `message:new`.
//!
//! Few connections and a plain blocking socket per client: one thread per client, unlike the
//! mio pool of the other scenarios, which speaks only to namespace `/`. With tens of clients
//! the generator is far from its limit (the server's store commit is the cost measured).

use std::collections::HashMap;
use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde::{Deserialize, Serialize};

use crate::chat_wire::{ChatIncoming, ROOM, classify, write_connect, write_join, write_send};
use crate::hist::{Latency, Summary};
use crate::{cpu, http, pool::MASK, ws};

/// The result of one chat load, one JSON line of `switchboard-bench chat-gen`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatOutcome {
    /// Clients in the room.
    pub clients: usize,
    /// Nodes the clients were spread over.
    pub nodes: usize,
    /// Sends in flight per client.
    pub window: usize,
    /// Measurement window, ms (after the warm-up).
    pub duration_ms: u64,
    /// Acknowledged (`ok: true`) messages per second in the window.
    pub acks_per_sec: f64,
    /// `message:new` deliveries per second in the window (all clients together).
    pub deliveries_per_sec: f64,
    /// Acknowledged messages per CPU-second of the nodes (database and Redis not counted).
    pub acks_per_node_cpu_s: Option<f64>,
    /// Acknowledged messages per CPU-second of the nodes, PostgreSQL (all its processes) and
    /// Redis together: the whole server side.
    #[serde(default)]
    pub acks_per_server_cpu_s: Option<f64>,
    /// Ack latency, send to ack, of the acks in the window.
    pub ack_latency: Summary,
    /// Sends answered `ok: false` over the whole run.
    pub refused: u64,
    /// Messages acknowledged over the whole run (warm-up and drain included).
    pub acked_total: u64,
    /// Deliveries over the whole run; `acked_total × clients` when none was lost.
    pub delivered_total: u64,
}

/// Counters shared by the client threads.
#[derive(Default)]
struct Shared {
    acked: AtomicU64,
    refused: AtomicU64,
    delivered: AtomicU64,
    window_acks: AtomicU64,
    window_deliveries: AtomicU64,
    in_flight: AtomicU64,
    joined: AtomicUsize,
    stop: AtomicBool,
    failed: AtomicBool,
}

/// The measurement window, set once every client is in the room.
#[derive(Debug, Clone, Copy)]
struct Times {
    from: Instant,
    to: Instant,
}

/// A blocking WebSocket connection speaking Engine.IO text packets.
struct Conn {
    stream: TcpStream,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    scratch: Vec<u8>,
}

impl Conn {
    fn open(addr: SocketAddr) -> Result<Self> {
        let mut stream = TcpStream::connect(addr).with_context(|| format!("connecting {addr}"))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_millis(50)))?;
        stream.write_all(&http::upgrade_request(&addr.to_string()))?;
        let mut conn =
            Self { stream, rbuf: Vec::new(), wbuf: Vec::new(), scratch: vec![0; 64 * 1024] };
        let deadline = Instant::now() + Duration::from_secs(10);
        let end = loop {
            if let Some(end) = http::head_end(&conn.rbuf) {
                break end;
            }
            if Instant::now() > deadline {
                bail!("no WebSocket upgrade answer within 10 s");
            }
            conn.fill()?;
        };
        let status = conn.rbuf.get(..end).and_then(http::status);
        if status != Some(101) {
            bail!("the upgrade was answered {status:?}");
        }
        conn.rbuf.drain(..end);
        Ok(conn)
    }

    /// Reads what is there (up to the read timeout) into `rbuf`.
    fn fill(&mut self) -> Result<()> {
        match self.stream.read(&mut self.scratch) {
            Ok(0) => bail!("the server closed the connection"),
            Ok(n) => {
                self.rbuf.extend_from_slice(self.scratch.get(..n).unwrap_or_default());
                Ok(())
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Queues a text packet.
    fn queue(&mut self, packet: &[u8]) {
        ws::encode_masked(&mut self.wbuf, ws::OP_TEXT, packet, MASK);
    }

    fn flush(&mut self) -> Result<()> {
        if !self.wbuf.is_empty() {
            self.stream.write_all(&self.wbuf)?;
            self.wbuf.clear();
        }
        Ok(())
    }

    /// The text packets complete in `rbuf` after one read, classified.
    fn next_packets(&mut self, out: &mut Vec<ChatIncoming>) -> Result<()> {
        out.clear();
        self.fill()?;
        let mut at = 0;
        while let Some(h) = self.rbuf.get(at..).and_then(ws::parse_header) {
            let payload = self.rbuf.get(at + h.payload_start..at + h.end()).unwrap_or_default();
            match h.opcode {
                ws::OP_TEXT => out.push(classify(payload)),
                ws::OP_CLOSE => bail!("the server sent a WebSocket close"),
                _ => {}
            }
            at += h.end();
        }
        self.rbuf.drain(..at);
        Ok(())
    }
}

/// Waits on `conn` until `want` arrives, answering pings; fails on `ConnectError` or after
/// 10 s.
fn wait_for(conn: &mut Conn, want: impl Fn(ChatIncoming) -> bool, what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut packets = Vec::new();
    loop {
        conn.next_packets(&mut packets)?;
        for &p in &packets {
            if want(p) {
                return Ok(());
            }
            match p {
                ChatIncoming::Ping => conn.queue(b"3"),
                ChatIncoming::ConnectError => bail!("the server refused the /chat connection"),
                ChatIncoming::Ack { ok: false, .. } => bail!("{what} was refused"),
                _ => {}
            }
        }
        conn.flush()?;
        if Instant::now() > deadline {
            bail!("no {what} within 10 s");
        }
    }
}

/// What every client thread shares.
struct Ctx {
    shared: Shared,
    /// Set once every client is in the room.
    times: OnceLock<Times>,
    /// The clients' ack latencies, merged in by each client thread as it ends.
    latency: Mutex<Latency>,
    window: usize,
    members: u64,
}

/// One client: connect, join, wait for the start, then the send loop until `stop`, then the
/// drain.
fn client(addr: SocketAddr, name: &str, ctx: &Ctx) -> Result<()> {
    let (shared, window, expected_members) = (&ctx.shared, ctx.window, ctx.members);
    let mut conn = Conn::open(addr)?;
    let mut pkt = Vec::new();
    let mut packets = Vec::new();
    wait_for(&mut conn, |p| p == ChatIncoming::Open, "Engine.IO open")?;
    write_connect(&mut pkt, name);
    conn.queue(&pkt);
    conn.flush()?;
    wait_for(&mut conn, |p| p == ChatIncoming::Connected, "/chat connect")?;
    pkt.clear();
    write_join(&mut pkt, 0, ROOM);
    conn.queue(&pkt);
    conn.flush()?;
    wait_for(&mut conn, |p| matches!(p, ChatIncoming::Ack { id: 0, ok: true }), "room:join")?;
    shared.joined.fetch_add(1, Ordering::Relaxed);
    let Times { from, to } = loop {
        if let Some(&t) = ctx.times.get() {
            break t;
        }
        if shared.failed.load(Ordering::Relaxed) {
            return Ok(());
        }
        // Answering pings while the others join; counting what the first senders already
        // sent (the window is set: they may have started while this client waited to read).
        conn.next_packets(&mut packets)?;
        for &p in &packets {
            match p {
                ChatIncoming::Ping => conn.queue(b"3"),
                ChatIncoming::MessageNew => {
                    shared.delivered.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
        conn.flush()?;
    };
    let in_window = |t: Instant| t >= from && t < to;
    let mut sent: HashMap<u64, Instant> = HashMap::with_capacity(window);
    let mut next_id = 1u64;
    let mut mine = Latency::new();
    let drain_until = to + Duration::from_secs(10);
    loop {
        let stopping = shared.stop.load(Ordering::Relaxed) || shared.failed.load(Ordering::Relaxed);
        if !stopping {
            while sent.len() < window {
                pkt.clear();
                write_send(&mut pkt, next_id, ROOM);
                conn.queue(&pkt);
                sent.insert(next_id, Instant::now());
                shared.in_flight.fetch_add(1, Ordering::Relaxed);
                next_id += 1;
            }
        } else {
            // The drain: every send answered and every acknowledged message delivered to
            // every member, or the drain's time is up.
            let all_in = shared.in_flight.load(Ordering::Relaxed) == 0
                && shared.delivered.load(Ordering::Relaxed)
                    >= shared.acked.load(Ordering::Relaxed) * expected_members;
            if all_in || Instant::now() > drain_until || shared.failed.load(Ordering::Relaxed) {
                break;
            }
        }
        conn.flush()?;
        conn.next_packets(&mut packets)?;
        let now = Instant::now();
        for &p in &packets {
            match p {
                ChatIncoming::Ack { id, ok } => {
                    let Some(at) = sent.remove(&id) else { continue };
                    shared.in_flight.fetch_sub(1, Ordering::Relaxed);
                    if !ok {
                        shared.refused.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    shared.acked.fetch_add(1, Ordering::Relaxed);
                    if in_window(now) {
                        shared.window_acks.fetch_add(1, Ordering::Relaxed);
                        mine.record(now - at);
                    }
                }
                ChatIncoming::MessageNew => {
                    shared.delivered.fetch_add(1, Ordering::Relaxed);
                    if in_window(now) {
                        shared.window_deliveries.fetch_add(1, Ordering::Relaxed);
                    }
                }
                ChatIncoming::Ping => conn.queue(b"3"),
                ChatIncoming::Close => bail!("the server closed the session"),
                _ => {}
            }
        }
    }
    if let Ok(mut all) = ctx.latency.lock() {
        all.merge(&mine);
    }
    Ok(())
}

/// Clock ticks per second of `/proc/PID/stat` (USER_HZ, 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// The parent pid and `utime + stime` of a `/proc/PID/stat` line (the command name may hold
/// spaces and parentheses, so fields are counted after the last `)`).
fn parse_stat(line: &str) -> Option<(u32, u64)> {
    let rest = line.get(line.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((ppid, utime + stime))
}

/// The CPU ticks of the processes `roots` and of their children (PostgreSQL's backends are
/// children of the postmaster); `None` with no roots.
fn tree_ticks(roots: &[u32]) -> Option<u64> {
    if roots.is_empty() {
        return None;
    }
    let mut total = 0;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(line) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        if let Some((ppid, ticks)) = parse_stat(&line)
            && (roots.contains(&pid) || roots.contains(&ppid))
        {
            total += ticks;
        }
    }
    Some(total)
}

/// Runs the chat load: `clients` clients spread round-robin over `nodes`, `window` sends in
/// flight each, `warmup` then `duration` measured; `all_pids` are the whole server side
/// (nodes, database, Redis) whose CPU time, children included, is counted.
///
/// # Errors
/// A client failing to connect, join or keep its connection.
pub fn chat(
    nodes: &[SocketAddr],
    all_pids: &[u32],
    clients: usize,
    window: usize,
    warmup: Duration,
    duration: Duration,
    tag: &str,
) -> Result<ChatOutcome> {
    if nodes.is_empty() || clients == 0 || window == 0 {
        bail!("at least one node, one client and a window of one are needed");
    }
    let ctx = Arc::new(Ctx {
        shared: Shared::default(),
        times: OnceLock::new(),
        latency: Mutex::new(Latency::new()),
        window,
        members: clients as u64,
    });
    let shared = &ctx.shared;
    let mut threads = Vec::with_capacity(clients);
    for i in 0..clients {
        let addr = nodes.get(i % nodes.len()).copied().context("a node address")?;
        let ctx = ctx.clone();
        let name = format!("{tag}-{i}");
        // One thread per client, ended by `stop` and the drain (or its failure); joined below.
        threads.push(std::thread::spawn(move || {
            let res = client(addr, &name, &ctx);
            if res.is_err() {
                ctx.shared.failed.store(true, Ordering::Relaxed);
            }
            res
        }));
    }
    // Every client in the room, or one failed, or the joins took too long.
    let join_limit = Instant::now() + Duration::from_secs(60);
    while shared.joined.load(Ordering::Relaxed) < clients && !shared.failed.load(Ordering::Relaxed)
    {
        if Instant::now() > join_limit {
            shared.failed.store(true, Ordering::Relaxed);
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let from = Instant::now() + warmup;
    let _ = ctx.times.set(Times { from, to: from + duration });
    if !shared.failed.load(Ordering::Relaxed) {
        std::thread::sleep(warmup);
    }
    let cpu = cpu::Window::start();
    let all_start = tree_ticks(all_pids);
    if !shared.failed.load(Ordering::Relaxed) {
        std::thread::sleep(duration);
    }
    let window_acks = shared.window_acks.load(Ordering::Relaxed);
    let per_cpu = cpu.per_cpu_s(window_acks as f64);
    let per_server_cpu = match (all_start, tree_ticks(all_pids)) {
        (Some(a), Some(b)) if b > a => Some(window_acks as f64 / ((b - a) as f64 / TICKS_PER_SEC)),
        _ => None,
    };
    shared.stop.store(true, Ordering::Relaxed);
    let mut errors = Vec::new();
    for t in threads {
        match t.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.push(format!("{e:#}")),
            Err(_) => errors.push("a client thread panicked".to_owned()),
        }
    }
    if let Some(e) = errors.first() {
        bail!("{} of {clients} clients failed, first: {e}", errors.len());
    }
    if shared.failed.load(Ordering::Relaxed) {
        bail!("the clients did not all join the room within 60 s");
    }
    let secs = duration.as_secs_f64();
    let ack_latency = ctx.latency.lock().map(|l| l.summary()).unwrap_or_default();
    Ok(ChatOutcome {
        clients,
        nodes: nodes.len(),
        window,
        duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        acks_per_sec: window_acks as f64 / secs,
        deliveries_per_sec: shared.window_deliveries.load(Ordering::Relaxed) as f64 / secs,
        acks_per_node_cpu_s: per_cpu,
        acks_per_server_cpu_s: per_server_cpu,
        ack_latency,
        refused: shared.refused.load(Ordering::Relaxed),
        acked_total: shared.acked.load(Ordering::Relaxed),
        delivered_total: shared.delivered.load(Ordering::Relaxed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_parent_and_ticks() {
        let line = "1234 (postgres: x (y)) S 77 2 3 4 5 6 7 8 9 10 250 70 0 0 20 0 4 0 100 0 0";
        assert_eq!(parse_stat(line), Some((77, 320)));
        assert_eq!(parse_stat("garbage"), None);
        assert!(tree_ticks(&[std::process::id()]).is_some());
        assert_eq!(tree_ticks(&[]), None);
    }
}
