//! A server for measuring delivery over unreliable networks: every connection joins room
//! `stream`; on `start` (optional ack) it broadcasts `tick` `{ seq }` for seq 1..=rate·duration
//! to `stream`, paced on the wall clock, then `done` `{ last }`. The ack is `{ ok: true, last }`;
//! a `start` during a run is answered `{ ok: false }` and ignored. `--recovery on` turns
//! connection state recovery on with `maxDisconnectionDuration` 120 s.
//!
//! ```text
//! cargo run --release -p switchboard --example jitter -- --port 3000 --rate 20 --duration 60 --recovery on
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use serde_json::json;
use switchboard::ConnectionStateRecovery;
use switchboard::prelude::*;

/// On or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Switch {
    On,
    Off,
}

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "Socket.IO jitter server: paced broadcasts to room `stream`")]
struct Args {
    /// Port to bind on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Ticks per second.
    #[arg(long, default_value_t = 20)]
    rate: u64,
    /// Seconds of ticks.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Connection state recovery (maxDisconnectionDuration 120 s).
    #[arg(long, value_enum, default_value_t = Switch::On)]
    recovery: Switch,
}

/// Broadcasts the ticks, paced on the wall clock: tick `seq` goes out at `(seq - 1) / rate`
/// seconds after the start, however late the previous one was.
async fn run(ns: Namespace, rate: u64, last: u64) {
    let start = tokio::time::Instant::now();
    let period = Duration::from_secs(1).checked_div(u32::try_from(rate).unwrap_or(u32::MAX));
    let period = period.unwrap_or(Duration::from_secs(1));
    for seq in 1..=last {
        let at = start + period.saturating_mul(u32::try_from(seq - 1).unwrap_or(u32::MAX));
        tokio::time::sleep_until(at).await;
        if let Err(e) = ns.to("stream").emit("tick", &json!({ "seq": seq })).await {
            tracing::warn!(error = %e, seq, "tick not broadcast");
        }
    }
    if let Err(e) = ns.to("stream").emit("done", &json!({ "last": last })).await {
        tracing::warn!(error = %e, "done not broadcast");
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut config = SocketIoConfig::default();
    if args.recovery == Switch::On {
        let mut recovery = ConnectionStateRecovery::default();
        recovery.max_disconnection_duration = Duration::from_secs(120);
        config.connection_state_recovery = Some(recovery);
    }
    let (rate, last) = (args.rate.max(1), args.rate.max(1).saturating_mul(args.duration));
    // Whether a run is under way: one at a time.
    let running = Arc::new(AtomicBool::new(false));
    let io = SocketIo::builder().config(config).with_state(running).build();
    io.on_connection(move |socket: Socket| async move {
        socket.join("stream");
        socket.on("start", move |s: Socket, State(running): State<Arc<AtomicBool>>| async move {
            if running.swap(true, Ordering::SeqCst) {
                return Ok::<_, HandlerError>(json!({ "ok": false }));
            }
            let ns = s.namespace();
            // The run owns the pacing; it ends after `done` and frees the flag.
            tokio::spawn(async move {
                run(ns, rate, last).await;
                running.store(false, Ordering::SeqCst);
            });
            Ok(json!({ "ok": true, "last": last }))
        })
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{}", args.port))?;
    println!("listening on http://{}", listener.local_addr()?);
    io.serve(listener).await?;
    Ok(())
}
