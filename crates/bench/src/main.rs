//! `switchboard-bench`: `gen` runs one scenario against a server and prints one JSON line;
//! `raw-server` is the raw TCP ceiling; `stall-probe` measures the core's own stalls; `run` runs
//! the whole comparison (what `cargo xtask bench` calls); `chat` measures the `switchboard`
//! binary's chat on SQLite, PostgreSQL and a three-node cluster (`chat-gen` is its load).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};
use switchboard_bench::wire::Wire;
use switchboard_bench::{net, polling, raw, runner, scenario, stall};

#[derive(Debug, Parser)]
#[command(about = "Socket.IO load generator and side-by-side benchmark runner")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one scenario against a server and print its result as one JSON line.
    Gen {
        /// The server, e.g. 127.0.0.1:3000.
        #[arg(long)]
        addr: SocketAddr,
        /// The server's process id (each node's, comma-separated, for a cluster): its CPU
        /// time gives events per server CPU-second.
        #[arg(long, value_delimiter = ',')]
        server_pid: Vec<u32>,
        /// The Redis server's process id, for a cluster: deliveries per Redis CPU-second.
        #[arg(long)]
        redis_pid: Option<u32>,
        /// The Socket.IO packet format: `json` or `msgpack` (`socket.io-msgpack-parser`);
        /// the server must speak the same.
        #[arg(long, value_enum, default_value_t = Wire::Json)]
        parser: Wire,
        #[command(subcommand)]
        scenario: Scenario,
    },
    /// The raw TCP fan-out ceiling server.
    RawServer {
        /// Port on 127.0.0.1 (0 picks one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Write every frame of a wake-up in one write per connection.
        #[arg(long)]
        batched: bool,
    },
    /// Spin on this core and print, as one JSON line, the gaps the core did not give it.
    StallProbe {
        #[arg(long, default_value_t = 2000)]
        duration_ms: u64,
        /// The shortest gap counted, microseconds.
        #[arg(long, default_value_t = stall::MIN_GAP.as_micros() as u64)]
        min_us: u64,
    },
    /// Rounds of clients that connect, talk and vanish, for `seconds`; then the server's RSS
    /// and open files must be back to what they were after the first round. Prints the result
    /// as one JSON line; fails past `max_rss_growth` or with files left open.
    Soak {
        /// The server (one whose sessions end fast: the protocol test server).
        #[arg(long)]
        addr: SocketAddr,
        /// The server's process id.
        #[arg(long)]
        server_pid: u32,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// WebSocket clients per round (and a tenth as many polling clients).
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        /// The largest RSS growth accepted, as a fraction of the baseline.
        #[arg(long, default_value_t = 0.10)]
        max_rss_growth: f64,
    },
    /// Run every scenario against every server and write the report.
    Run(runner::Options),
    /// Chat messages per second through the `switchboard` binary: one node on SQLite, one on
    /// PostgreSQL, three on PostgreSQL and Redis; writes `bench/results/chat-<date>.md`.
    Chat(runner::chat::ChatOptions),
    /// Polling echo + ack through three nodes behind nginx round-robin (no sticky sessions)
    /// against nginx to one node and one node directly, interleaved; writes
    /// `bench/results/<date>-nosticky.md`.
    Nosticky(runner::nosticky::NoStickyOptions),
    /// Bot players in the `switchboard` binary's arenas (10 × 100 by default): the tick
    /// rate's jitter as the bots see it, late ticks, CPU per player; writes
    /// `bench/results/<date>-arena.md`.
    Arena(switchboard_bench::arena::ArenaOptions),
    /// One chat load against running `switchboard` nodes; prints its result as one JSON line.
    ChatGen {
        /// The nodes (comma-separated); clients are spread over them round-robin.
        #[arg(long, value_delimiter = ',', required = true)]
        nodes: Vec<SocketAddr>,
        /// The nodes' process ids: their CPU time gives messages per node CPU-second.
        #[arg(long, value_delimiter = ',')]
        server_pid: Vec<u32>,
        /// The database's and Redis's process ids: with the nodes and their children, the
        /// whole server side's CPU time.
        #[arg(long, value_delimiter = ',')]
        helper_pid: Vec<u32>,
        #[arg(long, default_value_t = 24)]
        clients: usize,
        /// Sends in flight per client.
        #[arg(long, default_value_t = 4)]
        window: usize,
        #[arg(long, default_value_t = 1000)]
        warmup_ms: u64,
        #[arg(long, default_value_t = 5000)]
        duration_ms: u64,
        /// Prefix of the clients' user names.
        #[arg(long, default_value = "bench")]
        tag: String,
    },
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Server RSS per idle WebSocket connection.
    Idle {
        /// The server's process id.
        #[arg(long)]
        pid: u32,
        /// Connection counts, ascending.
        #[arg(long, value_delimiter = ',', default_value = "1000,5000,10000,19000")]
        levels: Vec<usize>,
        /// Idle time before each RSS reading, ms.
        #[arg(long, default_value_t = 2000)]
        settle_ms: u64,
    },
    /// Idle memory per long-polling client.
    IdlePolling {
        /// The server's process id (for its RSS).
        #[arg(long)]
        pid: u32,
        /// Client counts, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1000,5000")]
        levels: Vec<usize>,
        /// Idle time before each RSS reading, ms.
        #[arg(long, default_value_t = 2000)]
        settle_ms: u64,
    },
    /// Full handshakes per second.
    Storm {
        #[arg(long, default_value_t = 5000)]
        conns: usize,
        #[arg(long, default_value_t = 128)]
        inflight: usize,
        /// Shifts the source addresses (vary it between runs).
        #[arg(long, default_value_t = 0)]
        source_offset: u64,
    },
    /// Broadcast fan-out.
    Broadcast {
        #[arg(long, default_value_t = 1000)]
        conns: usize,
        #[arg(long, default_value_t = 1)]
        inflight: usize,
        #[arg(long, default_value_t = 5000)]
        duration_ms: u64,
        /// Send the broadcasts to this other node of a cluster (the receivers are on
        /// `--addr`): a cross-node broadcast.
        #[arg(long, requires = "adapter")]
        trigger_addr: Option<SocketAddr>,
        /// The cluster adapter joining the nodes, for the report (with `--trigger-addr`).
        #[arg(long, requires = "trigger_addr")]
        adapter: Option<String>,
        /// Each broadcast carries a 4 KiB binary attachment (`bcbin`).
        #[arg(long)]
        binary: bool,
    },
    /// Echo with ack at a fixed rate (open loop).
    Echo {
        #[arg(long, default_value_t = 100)]
        conns: usize,
        #[arg(long)]
        rate: f64,
        #[arg(long, default_value_t = 5000)]
        duration_ms: u64,
    },
    /// Echo with ack, closed loop: the saturation throughput.
    EchoMax {
        #[arg(long, default_value_t = 100)]
        conns: usize,
        #[arg(long, default_value_t = 16)]
        window: usize,
        #[arg(long, default_value_t = 5000)]
        duration_ms: u64,
    },
    /// Default-mode connections (polling, then the upgrade to WebSocket) per second.
    StormDefault {
        #[arg(long, default_value_t = 2000)]
        conns: usize,
        #[arg(long, default_value_t = 128)]
        inflight: usize,
        /// Shifts the source addresses (vary it between runs).
        #[arg(long, default_value_t = 0)]
        source_offset: u64,
    },
    /// Polling transport throughput.
    Polling {
        #[arg(long, default_value_t = 50)]
        clients: usize,
        #[arg(long, default_value_t = 5000)]
        duration_ms: u64,
        /// Offer this many echoes per second in all (paced) rather than one after another
        /// as fast as the answers come (closed loop).
        #[arg(long)]
        rate: Option<f64>,
    },
}

fn main() -> Result<()> {
    let _ = net::raise_nofile();
    match Cli::parse().command {
        Command::Gen { addr, server_pid, redis_pid, parser, scenario } => {
            switchboard_bench::cpu::watch(&server_pid);
            if let Some(pid) = redis_pid {
                switchboard_bench::cpu::watch_helper(pid);
            }
            let ms = Duration::from_millis;
            let outcome = match scenario {
                Scenario::Idle { pid, levels, settle_ms } => {
                    scenario::idle(addr, pid, &levels, ms(settle_ms), parser)?
                }
                Scenario::IdlePolling { pid, levels, settle_ms } => {
                    polling::idle(addr, pid, &levels, ms(settle_ms), parser)?
                }
                Scenario::Storm { conns, inflight, source_offset } => {
                    scenario::storm(addr, conns, inflight, source_offset, parser)?
                }
                Scenario::Broadcast {
                    conns,
                    inflight,
                    duration_ms,
                    trigger_addr,
                    adapter,
                    binary,
                } => {
                    let trigger = match (trigger_addr, adapter) {
                        (Some(addr), Some(adapter)) => scenario::Trigger::Node { addr, adapter },
                        _ => scenario::Trigger::Receiver,
                    };
                    let d = ms(duration_ms);
                    let body =
                        if binary { scenario::Body::Attachment } else { scenario::Body::Number };
                    scenario::broadcast(addr, conns, inflight, d, &trigger, parser, body)?
                }
                Scenario::Echo { conns, rate, duration_ms } => {
                    scenario::echo_rate(addr, conns, rate, ms(duration_ms), parser)?
                }
                Scenario::EchoMax { conns, window, duration_ms } => {
                    scenario::echo_max(addr, conns, window, ms(duration_ms), parser)?
                }
                Scenario::StormDefault { conns, inflight, source_offset } => {
                    if parser != switchboard_bench::wire::Wire::Json {
                        anyhow::bail!("storm-default speaks the JSON parser only");
                    }
                    switchboard_bench::upgrade::storm(addr, conns, inflight, source_offset)?
                }
                Scenario::Polling { clients, duration_ms, rate } => {
                    polling::polling(addr, clients, ms(duration_ms), rate, parser)?
                }
            };
            println!("{}", serde_json::to_string(&outcome)?);
            Ok(())
        }
        Command::RawServer { port, batched } => {
            raw::serve(SocketAddr::from(([127, 0, 0, 1], port)), batched)
        }
        Command::StallProbe { duration_ms, min_us } => {
            let stalls =
                stall::probe(Duration::from_millis(duration_ms), Duration::from_micros(min_us));
            println!("{}", serde_json::to_string(&stalls)?);
            Ok(())
        }
        Command::Soak { addr, server_pid, seconds, clients, max_rss_growth } => {
            let soak = switchboard_bench::soak::soak(
                addr,
                server_pid,
                Duration::from_secs(seconds),
                clients,
            )?;
            println!("{}", serde_json::to_string(&soak)?);
            let growth = soak.rss_growth();
            if growth > max_rss_growth {
                anyhow::bail!(
                    "the server's RSS grew {:.1} % ({} KiB after the first round, {} KiB at the end)",
                    growth * 100.0,
                    soak.baseline_rss_kib,
                    soak.end_rss_kib
                );
            }
            if soak.end_fds > soak.baseline_fds {
                anyhow::bail!(
                    "the server kept files open: {} after the first round, {} at the end",
                    soak.baseline_fds,
                    soak.end_fds
                );
            }
            Ok(())
        }
        Command::Run(opts) => runner::run(&opts),
        Command::Chat(opts) => runner::chat::run(&opts),
        Command::Nosticky(opts) => runner::nosticky::run(&opts),
        Command::Arena(opts) => switchboard_bench::arena::run(&opts),
        Command::ChatGen {
            nodes,
            server_pid,
            helper_pid,
            clients,
            window,
            warmup_ms,
            duration_ms,
            tag,
        } => {
            switchboard_bench::cpu::watch(&server_pid);
            let all: Vec<u32> = server_pid.iter().chain(&helper_pid).copied().collect();
            let ms = Duration::from_millis;
            let outcome = switchboard_bench::chat::chat(
                &nodes,
                &all,
                clients,
                window,
                ms(warmup_ms),
                ms(duration_ms),
                &tag,
            )?;
            println!("{}", serde_json::to_string(&outcome)?);
            Ok(())
        }
    }
}
