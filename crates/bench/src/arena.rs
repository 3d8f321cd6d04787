//! `switchboard-bench arena`: bot players in the `switchboard` binary's arenas (`/arena`).
//!
//! The runner starts the binary (a fresh data directory, port 0), then `arenas` threads each
//! open `players` WebSocket connections (dev authentication `auth: { username }`), join their
//! arena and, every 200 ms, send a volatile-style input (no ack) with a random direction.
//! Every bot times the arrival of each `arena:state` snapshot: the interval between two
//! snapshots as a bot sees it is the tick rate's jitter from the outside (ideal: 33.3 ms).
//! The server's own view comes from `GET /api/arena/stats` (ticks started more than a period
//! late, lateness p99 and max), read before and after the window; its CPU time over the
//! window from `/proc`. Writes `bench/results/<date>-arena.md` with the load average.
//!
//! One thread per arena reads its 100 connections without blocking and sleeps 1 ms when none
//! had anything: the arrival times are accurate to about a millisecond plus the generator's
//! own scheduling delays on a busy machine (which count against the server here).

use std::io::{self, BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde::{Deserialize, Serialize};

use crate::hist::{Latency, Summary};
use crate::host::{loadavg, machine, today};
use crate::{http, pool::MASK, ws};

/// The server's tick period (30 Hz).
const PERIOD: Duration = Duration::from_nanos(1_000_000_000 / 30);

/// Options of `switchboard-bench arena`.
#[derive(Debug, Clone, clap::Args)]
pub struct ArenaOptions {
    /// The workspace root (paths below are relative to it).
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
    /// The `switchboard` server binary.
    #[arg(long, default_value = "target/release/switchboard")]
    pub server_bin: PathBuf,
    /// Arenas.
    #[arg(long, default_value_t = 10)]
    pub arenas: usize,
    /// Bot players per arena (the server takes up to 100).
    #[arg(long, default_value_t = 100)]
    pub players: usize,
    /// Before the measurement, ms.
    #[arg(long, default_value_t = 2000)]
    pub warmup_ms: u64,
    /// The measurement, ms.
    #[arg(long, default_value_t = 10_000)]
    pub duration_ms: u64,
    /// Where `<date>-arena.md` goes.
    #[arg(long, default_value = "bench/results")]
    pub out_dir: PathBuf,
    /// Print the result only, write no report.
    #[arg(long)]
    pub no_report: bool,
}

/// The result of one arena load.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArenaOutcome {
    /// Arenas.
    pub arenas: usize,
    /// Players per arena.
    pub players: usize,
    /// The measurement window, ms.
    pub duration_ms: u64,
    /// Snapshots received per second per bot (ideal 30).
    pub snapshots_per_bot_s: f64,
    /// The interval between two consecutive snapshots at a bot, µs.
    pub interval: Summary,
    /// p99 of the interval minus the period, ms.
    pub jitter_p99_ms: f64,
    /// Intervals longer than two periods (a snapshot more than one period late, or lost).
    pub intervals_over_2_periods: u64,
    /// The server's ticks in the window.
    pub server_ticks: u64,
    /// The server's ticks that started more than one period late, in the window.
    pub server_late_ticks: u64,
    /// The server's tick lateness p99 and max since its start, ms.
    pub server_late_p99_ms: f64,
    /// See `server_late_p99_ms`.
    pub server_late_max_ms: f64,
    /// The server's CPU time over the window per player, as a percentage of one core.
    pub server_cpu_per_player_pct: Option<f64>,
    /// The server's CPU over the window, percent of one core.
    pub server_cpu_pct: Option<f64>,
    /// Load average (1, 5, 15 min) at the end.
    pub loadavg: String,
}

/// A bot's connection, non-blocking once joined.
struct Bot {
    stream: TcpStream,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    last_snapshot: Option<Instant>,
    rng: u64,
}

impl Bot {
    /// Connects, joins `arena` as `name` (blocking, bounded), then turns non-blocking.
    fn join(addr: SocketAddr, name: &str, arena: &str, seed: u64) -> Result<Bot> {
        let mut stream = TcpStream::connect(addr).with_context(|| format!("connecting {addr}"))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_millis(50)))?;
        stream.write_all(&http::upgrade_request(&addr.to_string()))?;
        let mut bot =
            Bot { stream, rbuf: Vec::new(), wbuf: Vec::new(), last_snapshot: None, rng: seed | 1 };
        let deadline = Instant::now() + Duration::from_secs(20);
        let end = loop {
            if let Some(end) = http::head_end(&bot.rbuf) {
                break end;
            }
            if Instant::now() > deadline {
                bail!("no WebSocket upgrade answer within 20 s");
            }
            bot.fill()?;
        };
        if bot.rbuf.get(..end).and_then(http::status) != Some(101) {
            bail!("the upgrade was refused");
        }
        bot.rbuf.drain(..end);
        bot.wait(deadline, |p| p.first() == Some(&b'0'), "Engine.IO open")?;
        bot.send(format!("40/arena,{{\"username\":\"{name}\"}}").as_bytes())?;
        bot.wait(deadline, |p| p.starts_with(b"40/arena,"), "/arena connect")?;
        bot.send(format!("42/arena,0[\"arena:join\",{{\"arena\":\"{arena}\"}}]").as_bytes())?;
        bot.wait(deadline, |p| p.starts_with(b"43/arena,0["), "arena:join ack").and_then(
            |ack| match ack.windows(9).any(|w| w == b"\"ok\":true") {
                true => Ok(ack),
                false => bail!("arena:join refused: {}", String::from_utf8_lossy(&ack)),
            },
        )?;
        bot.stream.set_nonblocking(true)?;
        Ok(bot)
    }

    fn fill(&mut self) -> Result<usize> {
        let mut scratch = [0u8; 16 * 1024];
        match self.stream.read(&mut scratch) {
            Ok(0) => bail!("the server closed the connection"),
            Ok(n) => {
                self.rbuf.extend_from_slice(scratch.get(..n).unwrap_or_default());
                Ok(n)
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                Ok(0)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn send(&mut self, packet: &[u8]) -> Result<()> {
        ws::encode_masked(&mut self.wbuf, ws::OP_TEXT, packet, MASK);
        self.flush()
    }

    fn flush(&mut self) -> Result<()> {
        while !self.wbuf.is_empty() {
            match self.stream.write(&self.wbuf) {
                Ok(n) => {
                    self.wbuf.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// The complete frames in `rbuf`: text payloads, and a marker for each binary frame.
    fn frames(&mut self, out: &mut Vec<Frame>) -> Result<()> {
        let mut at = 0;
        while let Some(h) = self.rbuf.get(at..).and_then(ws::parse_header) {
            let payload = self.rbuf.get(at + h.payload_start..at + h.end()).unwrap_or_default();
            match h.opcode {
                ws::OP_TEXT => out.push(Frame::Text(payload.to_vec())),
                ws::OP_CLOSE => bail!("the server sent a WebSocket close"),
                _ => out.push(Frame::Binary),
            }
            at += h.end();
        }
        self.rbuf.drain(..at);
        Ok(())
    }

    /// Reads until a text packet satisfies `want` (answering pings); that packet.
    fn wait(
        &mut self,
        deadline: Instant,
        want: impl Fn(&[u8]) -> bool,
        what: &str,
    ) -> Result<Vec<u8>> {
        let mut frames = Vec::new();
        loop {
            self.fill()?;
            frames.clear();
            self.frames(&mut frames)?;
            for f in &frames {
                if let Frame::Text(p) = f {
                    if want(p) {
                        return Ok(p.clone());
                    }
                    if p.as_slice() == b"2" {
                        self.send(b"3")?;
                    }
                    if p.starts_with(b"44/arena,") {
                        bail!("the server refused the /arena connection");
                    }
                }
            }
            if Instant::now() > deadline {
                bail!("no {what} within 20 s");
            }
        }
    }

    /// A random direction, -1..=1 (xorshift).
    fn direction(&mut self) -> i8 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        i8::try_from(self.rng % 3).unwrap_or(0) - 1
    }
}

enum Frame {
    Text(Vec<u8>),
    Binary,
}

/// What one arena thread measured.
#[derive(Default)]
struct ThreadResult {
    intervals: Latency,
    snapshots: u64,
    over: u64,
}

/// One arena's bots until `stop`: reads, times the snapshots in the window, sends inputs.
fn arena_thread(
    addr: SocketAddr,
    arena: usize,
    players: usize,
    ready: &std::sync::Barrier,
    window: &std::sync::OnceLock<(Instant, Instant)>,
    stop: &AtomicBool,
) -> Result<ThreadResult> {
    let mut bots = Vec::with_capacity(players);
    for i in 0..players {
        let seed = (arena as u64) << 32 | i as u64;
        bots.push(Bot::join(addr, &format!("bot-{arena}-{i}"), &format!("bench-{arena}"), seed)?);
    }
    ready.wait();
    let mut result = ThreadResult::default();
    let mut frames = Vec::new();
    let mut next_input = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let mut any = false;
        let now = Instant::now();
        let (from, to) = window.get().copied().unwrap_or((now + PERIOD * 1000, now));
        let send_inputs = now >= next_input;
        if send_inputs {
            next_input = now + Duration::from_millis(200);
        }
        for bot in &mut bots {
            if bot.fill()? > 0 {
                any = true;
            }
            frames.clear();
            bot.frames(&mut frames)?;
            let at = Instant::now();
            for f in &frames {
                let Frame::Text(p) = f else { continue };
                if p.starts_with(b"451-/arena,[\"arena:state\"") {
                    if let Some(prev) = bot.last_snapshot
                        && prev >= from
                        && at < to
                    {
                        let gap = at - prev;
                        result.intervals.record(gap);
                        result.snapshots += 1;
                        if gap > PERIOD * 2 {
                            result.over += 1;
                        }
                    }
                    bot.last_snapshot = Some(at);
                } else if p.as_slice() == b"2" {
                    ws::encode_masked(&mut bot.wbuf, ws::OP_TEXT, b"3", MASK);
                }
            }
            if send_inputs {
                let (dx, dy) = (bot.direction(), bot.direction());
                let input = format!("42/arena,[\"arena:input\",{{\"dx\":{dx},\"dy\":{dy}}}]");
                ws::encode_masked(&mut bot.wbuf, ws::OP_TEXT, input.as_bytes(), MASK);
            }
            bot.flush()?;
        }
        if !any {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    Ok(result)
}

/// The server's tick stats (`GET /api/arena/stats`).
fn server_stats(addr: SocketAddr) -> Result<serde_json::Value> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET /api/arena/stats HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).context("an HTTP answer")?;
    serde_json::from_str(body).context("the stats as JSON")
}

/// The CPU ticks (`utime + stime`, 1/100 s) of `pid`.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let line = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = line.get(line.rfind(')')? + 1..)?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The server; killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    data_dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

fn start_server(opts: &ArenaOptions) -> Result<Server> {
    let data_dir = std::env::temp_dir().join(format!("sb-bench-arena-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    std::fs::create_dir_all(&data_dir)?;
    let mut child = Command::new(opts.root.join(&opts.server_bin))
        .args(["--port", "0", "--apps", "arena", "--data-dir"])
        .arg(&data_dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting switchboard")?;
    let out = child.stdout.take().context("switchboard stdout")?;
    let mut server = Server { child, addr: SocketAddr::from(([127, 0, 0, 1], 0)), data_dir };
    let mut lines = BufReader::new(out);
    let mut line = String::new();
    while server.addr.port() == 0 {
        line.clear();
        if lines.read_line(&mut line)? == 0 {
            bail!("switchboard exited or printed no `listening` line");
        }
        if let Some(addr) = line.trim().strip_prefix("Switchboard listening on http://") {
            server.addr = addr.parse().context("the listening address")?;
        }
    }
    // Keeps draining stdout so the server never blocks on a full pipe; ends at its exit.
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = lines.read_to_end(&mut sink);
    });
    Ok(server)
}

fn num(v: &serde_json::Value, key: &str) -> f64 {
    v.get(key).and_then(serde_json::Value::as_f64).unwrap_or(0.0)
}

/// Runs the load against a fresh server and reports.
///
/// # Errors
/// The server not starting, a bot failing to join or losing its connection.
pub fn run(opts: &ArenaOptions) -> Result<()> {
    if opts.arenas == 0 || !(1..=100).contains(&opts.players) {
        bail!("at least one arena, and 1 to 100 players an arena");
    }
    let server = start_server(opts)?;
    let addr = server.addr;
    let ready = Arc::new(std::sync::Barrier::new(opts.arenas + 1));
    let window = Arc::new(std::sync::OnceLock::new());
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for arena in 0..opts.arenas {
        let (ready, window, stop) = (ready.clone(), window.clone(), stop.clone());
        let players = opts.players;
        // One thread per arena, ended by `stop`; joined below.
        threads.push(std::thread::spawn(move || {
            let result = arena_thread(addr, arena, players, &ready, &window, &stop);
            if result.is_err() {
                // The others must not wait at the barrier for a thread that failed.
                stop.store(true, Ordering::Relaxed);
            }
            result
        }));
    }
    // Every bot joined (a failed thread never reaches the barrier: the join below reports).
    let joined = {
        let ready = ready.clone();
        std::thread::spawn(move || ready.wait())
    };
    let limit = Instant::now() + Duration::from_secs(120);
    while !joined.is_finished() {
        if Instant::now() > limit || threads.iter().any(std::thread::JoinHandle::is_finished) {
            stop.store(true, Ordering::Relaxed);
            for t in threads {
                if let Ok(Err(e)) = t.join() {
                    bail!("a bot failed: {e:#}");
                }
            }
            bail!("the bots did not all join within 120 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(opts.warmup_ms));
    let before = server_stats(addr)?;
    let cpu_before = cpu_ticks(server.child.id());
    let duration = Duration::from_millis(opts.duration_ms);
    let from = Instant::now();
    let _ = window.set((from, from + duration));
    std::thread::sleep(duration);
    let cpu_after = cpu_ticks(server.child.id());
    let after = server_stats(addr)?;
    let load = loadavg();
    stop.store(true, Ordering::Relaxed);
    let mut intervals = Latency::new();
    let (mut snapshots, mut over) = (0, 0);
    for t in threads {
        let r = t.join().map_err(|_| anyhow::anyhow!("a bot thread panicked"))??;
        intervals.merge(&r.intervals);
        snapshots += r.snapshots;
        over += r.over;
    }
    let interval = intervals.summary();
    let bots = (opts.arenas * opts.players) as f64;
    let secs = duration.as_secs_f64();
    let cpu_pct = match (cpu_before, cpu_after) {
        (Some(a), Some(b)) if b >= a => Some((b - a) as f64 / 100.0 / secs * 100.0),
        _ => None,
    };
    let outcome = ArenaOutcome {
        arenas: opts.arenas,
        players: opts.players,
        duration_ms: opts.duration_ms,
        snapshots_per_bot_s: snapshots as f64 / bots / secs,
        interval,
        jitter_p99_ms: (interval.p99_us / 1000.0 - PERIOD.as_secs_f64() * 1000.0).max(0.0),
        intervals_over_2_periods: over,
        server_ticks: (num(&after, "ticks") - num(&before, "ticks")) as u64,
        server_late_ticks: (num(&after, "lateTicks") - num(&before, "lateTicks")) as u64,
        server_late_p99_ms: num(&after, "lateP99Ms"),
        server_late_max_ms: num(&after, "maxLateMs"),
        server_cpu_per_player_pct: cpu_pct.map(|c| c / bots),
        server_cpu_pct: cpu_pct,
        loadavg: load,
    };
    println!("{}", serde_json::to_string(&outcome)?);
    if !opts.no_report {
        let dir = opts.root.join(&opts.out_dir);
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{}-arena.md", today()));
        std::fs::write(&path, report(&outcome))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// The report's Markdown.
fn report(o: &ArenaOutcome) -> String {
    let ms = |us: f64| format!("{:.1}", us / 1000.0);
    let cpu =
        |v: Option<f64>, digits: usize| v.map_or("n/a".to_owned(), |v| format!("{v:.digits$}"));
    let goal = if o.server_late_ticks == 0 { "met" } else { "missed" };
    format!(
        "# Arena: {arenas} arenas × {players} bot players ({date})\n\n\
         `switchboard-bench arena` against the release `switchboard` binary (`--apps arena`), \
         30 Hz tick per arena, snapshots as volatile binary attachments (7 bytes a player), \
         every bot sending an input every 200 ms. Machine: {machine}. Load average at the end: \
         {load} (1, 5, 15 min) — the machine was shared with other builds and tests while this \
         ran, so the figures include their interference.\n\n\
         | Figure | Value |\n|---|---|\n\
         | Snapshot interval at the bots, p50 / p99 / p99.9 / max (ms) | {p50} / {p99} / {p999} / {max} |\n\
         | Tick-rate p99 jitter at the bots (p99 interval − 33.3 ms) | {jitter:.1} ms |\n\
         | Intervals over two periods (66.7 ms) at the bots | {over} of {count} |\n\
         | Snapshots per bot per second | {rate:.2} |\n\
         | Server ticks in the window / started more than one period late | {ticks} / {late} |\n\
         | Server tick lateness p99 / max since start (ms) | {lp99} / {lmax:.1} |\n\
         | Server CPU (percent of one core) | {cpu} |\n\
         | Server CPU per player (percent of one core) | {cpu_player} |\n\n\
         Goal (no tick late by more than one period, 33 ms, at this load): **{goal}** by the \
         server's own count of late ticks. The bots' intervals also carry the generator's own \
         scheduling delays (1000 connections read by {arenas} threads on the same 2 cores).\n",
        arenas = o.arenas,
        players = o.players,
        date = today(),
        machine = machine(),
        load = o.loadavg,
        p50 = ms(o.interval.p50_us),
        p99 = ms(o.interval.p99_us),
        p999 = ms(o.interval.p999_us),
        max = ms(o.interval.max_us),
        jitter = o.jitter_p99_ms,
        over = o.intervals_over_2_periods,
        count = o.interval.count,
        rate = o.snapshots_per_bot_s,
        ticks = o.server_ticks,
        late = o.server_late_ticks,
        lp99 = o.server_late_p99_ms,
        lmax = o.server_late_max_ms,
        cpu = cpu(o.server_cpu_pct, 1),
        cpu_player = cpu(o.server_cpu_per_player_pct, 3),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_says_whether_the_goal_was_met() {
        let mut o = ArenaOutcome {
            arenas: 10,
            players: 100,
            duration_ms: 10_000,
            snapshots_per_bot_s: 29.9,
            interval: Summary {
                count: 3,
                p50_us: 33_300.0,
                p99_us: 40_000.0,
                ..Summary::default()
            },
            jitter_p99_ms: 6.7,
            intervals_over_2_periods: 0,
            server_ticks: 3000,
            server_late_ticks: 0,
            server_late_p99_ms: 2.0,
            server_late_max_ms: 20.0,
            server_cpu_per_player_pct: Some(0.02),
            server_cpu_pct: Some(20.0),
            loadavg: "1.00 2.00 3.00".to_owned(),
        };
        let text = report(&o);
        assert!(text.contains("**met**") && text.contains("| 33.3 / 40.0 /"), "{text}");
        assert!(text.contains("1.00 2.00 3.00"));
        o.server_late_ticks = 2;
        assert!(report(&o).contains("**missed**"));
        assert!(cpu_ticks(std::process::id()).is_some());
    }
}
