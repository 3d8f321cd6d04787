//! The WebSocket scenarios, each a loop over one [`Pool`].

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::hist::{Latency, Schedule};
use crate::pool::{Event, Pool};
use crate::results::{IdleLevel, Outcome};
use crate::wire::Wire;
use crate::{cpu, net};

/// No progress for this long ends a scenario with an error (or a partial result).
const STALL: Duration = Duration::from_secs(10);

/// Quiet time between connecting and measuring.
const SETTLE: Duration = Duration::from_millis(500);

/// Opens connections until `pool` has `target` ready, at most `inflight` handshakes at once;
/// records handshake times in `hs`.
///
/// # Errors
/// More connections than the open-file limit allows, too many failures or no progress.
pub fn connect(pool: &mut Pool, target: usize, inflight: usize, hs: &mut Latency) -> Result<()> {
    // Past the open-file limit every new socket fails at once: refuse up front instead.
    let (limit, _) = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
    if target as u64 + FILES_SPARE > limit {
        bail!("{target} connections need more open files than this process may have ({limit})");
    }
    let mut evs = Vec::new();
    let mut last_progress = Instant::now();
    while pool.ready < target {
        while pool.handshaking < inflight && pool.ready + pool.handshaking < target {
            pool.open();
        }
        pool.turn(Some(Duration::from_millis(5)), &mut evs)?;
        for ev in evs.drain(..) {
            if let Event::Ready { handshake, .. } = ev {
                hs.record(handshake);
                last_progress = Instant::now();
            }
        }
        if pool.dead > target / 10 + 10 {
            bail!("{} connections failed ({} ready)", pool.dead, pool.ready);
        }
        if last_progress.elapsed() > STALL {
            bail!("no handshake completed for {STALL:?} ({} ready)", pool.ready);
        }
    }
    Ok(())
}

/// Open files kept free beside the connections (the poll, stdio, the server's /proc files).
const FILES_SPARE: u64 = 64;

/// Keeps the connections alive (answering pings) for `d`.
///
/// # Errors
/// The poll failing.
pub fn idle_for(pool: &mut Pool, d: Duration) -> Result<()> {
    let end = Instant::now() + d;
    let mut evs = Vec::new();
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        pool.turn(Some(left.min(Duration::from_millis(100))), &mut evs)?;
        evs.clear();
    }
    Ok(())
}

/// Idle memory: server RSS at each connection count.
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
    let mut pool = Pool::with_wire(addr, 0, wire)?;
    let mut hs = Latency::new();
    let mut out = Vec::new();
    for &n in levels {
        connect(&mut pool, n, 256, &mut hs)?;
        idle_for(&mut pool, settle)?;
        let rss_kib = rss()?;
        let per_conn_kib = rss_kib.saturating_sub(baseline_kib) as f64 / n.max(1) as f64;
        out.push(IdleLevel { conns: n, rss_kib, per_conn_kib });
    }
    pool.close_all();
    Ok(Outcome::Idle { baseline_kib, levels: out })
}

/// Connection storm: `n` full handshakes with `inflight` at once.
///
/// # Errors
/// Connecting failing.
pub fn storm(
    addr: SocketAddr,
    n: usize,
    inflight: usize,
    source_offset: u64,
    wire: Wire,
) -> Result<Outcome> {
    let mut pool = Pool::with_wire(addr, source_offset, wire)?;
    let mut hs = Latency::new();
    let start = Instant::now();
    let window = cpu::Window::start();
    connect(&mut pool, n, inflight, &mut hs)?;
    let elapsed = start.elapsed().as_secs_f64();
    let per_server_cpu_s = window.per_cpu_s(pool.ready as f64);
    let (ready, failed) = (pool.ready, pool.dead);
    pool.close_all();
    Ok(Outcome::Storm {
        ready,
        failed,
        per_sec: ready as f64 / elapsed,
        handshake: hs.summary(),
        per_server_cpu_s,
    })
}

/// Where a broadcast scenario sends its `bc` requests.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// From connection 0, one of the receivers (one server).
    Receiver,
    /// From a connection to another node of the cluster (`adapter` joins them): every
    /// delivery counted crosses the cluster adapter; the sender's own copy is not counted.
    Node {
        /// The node the broadcasts are sent to.
        addr: SocketAddr,
        /// The cluster adapter's name, for the report.
        adapter: String,
    },
}

/// What each broadcast carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// Its sequence number (`bc` → `m`).
    Number,
    /// Its sequence number and a 4 KiB binary attachment (`bcbin` → `mb`).
    Attachment,
}

/// Broadcast fan-out: connection 0 keeps `inflight` `bc` requests outstanding; a broadcast is
/// complete when every receiver has its `m`.
///
/// # Errors
/// Connecting failing, or broadcasts stalling.
#[allow(clippy::too_many_arguments)]
pub fn broadcast(
    addr: SocketAddr,
    conns: usize,
    inflight: usize,
    duration: Duration,
    trigger: &Trigger,
    wire: Wire,
    body: Body,
) -> Result<Outcome> {
    let binary = body == Body::Attachment;
    if binary && wire != Wire::Json {
        bail!("the binary broadcast speaks the JSON parser only");
    }
    let mut pool = Pool::with_wire(addr, 0, wire)?;
    // Connection 0 is the sender: on another node it is no receiver.
    let (cluster, senders) = match trigger {
        Trigger::Receiver => (None, 0),
        Trigger::Node { addr, adapter } => {
            pool.open_to(*addr);
            (Some(adapter.clone()), 1)
        }
    };
    connect(&mut pool, conns + senders, 256, &mut Latency::new())?;
    if !pool.is_ready(0) {
        bail!("the sender did not connect");
    }
    idle_for(&mut pool, SETTLE)?;
    let receivers = (pool.ready - senders) as u32;
    // Sent time and receivers still waiting, indexed by sequence number.
    let mut pending: Vec<(Instant, u32)> = Vec::new();
    let mut completion = Latency::new();
    let mut frame = Vec::new();
    let mut send = |pool: &mut Pool, pending: &mut Vec<(Instant, u32)>| {
        frame.clear();
        if binary {
            crate::packet::write_bcbin(&mut frame, pending.len() as u64);
        } else {
            pool.wire().write_bc(&mut frame, pending.len() as u64);
        }
        pending.push((Instant::now(), receivers));
        pool.send_packet(0, &frame);
    };
    let start = Instant::now();
    let end = start + duration;
    let window = cpu::Window::start();
    let mut per_server_cpu_s = None;
    let mut per_redis_cpu_s = None;
    for _ in 0..inflight {
        send(&mut pool, &mut pending);
    }
    let (mut deliveries, mut completed, mut outstanding) = (0u64, 0u64, inflight);
    let mut evs = Vec::new();
    let mut last_progress = Instant::now();
    while outstanding > 0 {
        pool.turn(Some(Duration::from_millis(50)), &mut evs)?;
        let now = Instant::now();
        for ev in evs.drain(..) {
            match ev {
                // The sender's own copy, on its node: not a delivery across the cluster.
                Event::Broadcast { idx: 0, .. } if senders == 1 => {}
                Event::Broadcast { seq, .. } => {
                    last_progress = now;
                    if now <= end {
                        deliveries += 1;
                    }
                    let Some(slot) = usize::try_from(seq).ok().and_then(|s| pending.get_mut(s))
                    else {
                        continue;
                    };
                    slot.1 = slot.1.saturating_sub(1);
                    if slot.1 == 0 {
                        completion.record(now - slot.0);
                        completed += 1;
                        outstanding -= 1;
                        if now < end {
                            send(&mut pool, &mut pending);
                            outstanding += 1;
                        }
                    }
                }
                Event::Closed { .. } => {
                    bail!("a receiver was disconnected during the broadcast run")
                }
                _ => {}
            }
        }
        if now > end && per_server_cpu_s.is_none() {
            per_server_cpu_s = Some(window.per_cpu_s(deliveries as f64));
            per_redis_cpu_s = Some(window.per_helper_cpu_s(deliveries as f64));
        }
        if last_progress.elapsed() > STALL {
            bail!("broadcasts stalled ({completed} completed)");
        }
    }
    let per_server_cpu_s = per_server_cpu_s.unwrap_or_else(|| window.per_cpu_s(deliveries as f64));
    let per_redis_cpu_s =
        per_redis_cpu_s.unwrap_or_else(|| window.per_helper_cpu_s(deliveries as f64));
    pool.close_all();
    Ok(Outcome::Broadcast {
        conns: receivers as usize,
        inflight,
        completed,
        deliveries_per_sec: deliveries as f64 / duration.as_secs_f64(),
        completion: completion.summary(),
        per_server_cpu_s,
        cluster,
        per_redis_cpu_s,
        binary,
    })
}

/// How long the loop may sleep before the next due send: close to it, spin (poll without
/// waiting), since epoll's timeout has millisecond granularity.
fn wait_until(next: Instant, now: Instant) -> Duration {
    next.saturating_duration_since(now).saturating_sub(Duration::from_millis(1))
}

/// Echo with ack, open loop: request `i` is due at `start + i / rate` (round robin over the
/// connections); latency counts from that due time, and requests still unanswered 2 s after the
/// run count with their wait so far.
///
/// # Errors
/// Connecting failing, or the poll failing.
pub fn echo_rate(
    addr: SocketAddr,
    conns: usize,
    rate: f64,
    duration: Duration,
    wire: Wire,
) -> Result<Outcome> {
    let mut pool = Pool::with_wire(addr, 0, wire)?;
    connect(&mut pool, conns, 256, &mut Latency::new())?;
    // Lets the server finish with the previous scenario's connections first.
    idle_for(&mut pool, SETTLE)?;
    let n = pool.len();
    let start = Instant::now() + Duration::from_millis(10);
    let end = start + duration;
    let sched = Schedule::new(start, rate);
    let mut acked: Vec<bool> = Vec::new();
    let mut latency = Latency::new();
    let (mut next, mut in_window, mut answered) = (0u64, 0u64, 0u64);
    let mut frame = Vec::new();
    let mut evs = Vec::new();
    let drain_end = end + Duration::from_secs(2);
    let window = cpu::Window::start();
    let mut per_server_cpu_s = None;
    loop {
        let now = Instant::now();
        if now >= end && per_server_cpu_s.is_none() {
            per_server_cpu_s = Some(window.per_cpu_s(in_window as f64));
        }
        // Requests due before `end` are all sent, even if the loop wakes late.
        let due = sched.due_count(now.min(end - Duration::from_nanos(1))).max(next);
        while next < due {
            frame.clear();
            pool.wire().write_echo(&mut frame, next);
            pool.send_packet((next % n as u64) as usize, &frame);
            acked.push(false);
            next += 1;
        }
        if (now >= end && answered == next) || now >= drain_end {
            break;
        }
        let timeout =
            if now < end { wait_until(sched.due(next), now) } else { Duration::from_millis(10) };
        pool.turn(Some(timeout), &mut evs)?;
        let now = Instant::now();
        for ev in evs.drain(..) {
            if let Event::Ack { id, .. } = ev {
                if let Some(slot) =
                    usize::try_from(id).ok().and_then(|i| acked.get_mut(i)).filter(|s| !**s)
                {
                    *slot = true;
                    answered += 1;
                    latency.record(now.saturating_duration_since(sched.due(id)));
                    if now <= end {
                        in_window += 1;
                    }
                }
            }
        }
    }
    let now = Instant::now();
    for (id, _) in acked.iter().enumerate().filter(|(_, a)| !**a) {
        latency.record(now.saturating_duration_since(sched.due(id as u64)));
    }
    pool.close_all();
    Ok(Outcome::Echo {
        rate,
        sent: next,
        acks_per_sec: in_window as f64 / duration.as_secs_f64(),
        latency: latency.summary(),
        per_server_cpu_s: per_server_cpu_s.flatten(),
    })
}

/// Echo with ack, closed loop: every connection keeps `window` requests outstanding; the
/// saturation throughput.
///
/// # Errors
/// Connecting failing, or the poll failing.
pub fn echo_max(
    addr: SocketAddr,
    conns: usize,
    window: usize,
    duration: Duration,
    wire: Wire,
) -> Result<Outcome> {
    let mut pool = Pool::with_wire(addr, 0, wire)?;
    connect(&mut pool, conns, 256, &mut Latency::new())?;
    // Lets the server finish with the previous scenario's connections first.
    idle_for(&mut pool, SETTLE)?;
    let n = pool.len();
    let mut sent_at: Vec<Instant> = Vec::new();
    let mut frame = Vec::new();
    let mut send = |pool: &mut Pool, sent_at: &mut Vec<Instant>, idx: usize| {
        frame.clear();
        pool.wire().write_echo(&mut frame, sent_at.len() as u64);
        sent_at.push(Instant::now());
        pool.send_packet(idx, &frame);
    };
    for idx in 0..n {
        for _ in 0..window {
            send(&mut pool, &mut sent_at, idx);
        }
    }
    let start = Instant::now();
    let end = start + duration;
    let cpu_window = cpu::Window::start();
    let mut latency = Latency::new();
    let (mut acks, mut evs) = (0u64, Vec::new());
    let mut last_progress = Instant::now();
    while Instant::now() < end {
        pool.turn(Some(Duration::from_millis(20)), &mut evs)?;
        let now = Instant::now();
        for ev in evs.drain(..) {
            if let Event::Ack { idx, id } = ev {
                last_progress = now;
                if let Some(t) = usize::try_from(id).ok().and_then(|i| sent_at.get(i)) {
                    latency.record(now - *t);
                }
                acks += 1;
                send(&mut pool, &mut sent_at, idx);
            }
        }
        if last_progress.elapsed() > STALL {
            bail!("echo stalled after {acks} acks");
        }
    }
    let per_server_cpu_s = cpu_window.per_cpu_s(acks as f64);
    let sent = sent_at.len() as u64;
    pool.close_all();
    Ok(Outcome::Echo {
        rate: 0.0,
        sent,
        acks_per_sec: acks as f64 / duration.as_secs_f64(),
        latency: latency.summary(),
        per_server_cpu_s,
    })
}
