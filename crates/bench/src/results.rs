//! What one generator run measured: printed by `gen` as one JSON line, read by the runner.

use serde::{Deserialize, Serialize};

use crate::hist::Summary;

/// Server RSS at one connection count.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdleLevel {
    /// Connected WebSocket clients.
    pub conns: usize,
    /// Server RSS in KiB.
    pub rss_kib: u64,
    /// (RSS - RSS before any client) / clients, in KiB.
    pub per_conn_kib: f64,
}

/// One scenario's result.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "scenario", rename_all = "snake_case")]
pub enum Outcome {
    /// Idle memory per connection.
    Idle {
        /// RSS before the first client, KiB.
        baseline_kib: u64,
        /// One entry per level.
        levels: Vec<IdleLevel>,
    },
    /// Idle memory per long-polling client (each holding a `GET`).
    IdlePolling {
        /// RSS before the first client, KiB.
        baseline_kib: u64,
        /// One entry per level (`conns`: polling clients).
        levels: Vec<IdleLevel>,
    },
    /// Connection storm.
    Storm {
        /// Clients that completed the handshake.
        ready: usize,
        /// Clients that failed.
        failed: usize,
        /// Full handshakes (TCP + upgrade + open + connect) per second.
        per_sec: f64,
        /// Handshake latency.
        handshake: Summary,
        /// The same events per second of server CPU time, when the server's pid was given.
        #[serde(default)]
        per_server_cpu_s: Option<f64>,
    },
    /// Broadcast fan-out.
    Broadcast {
        /// Receivers.
        conns: usize,
        /// Broadcasts in flight.
        inflight: usize,
        /// Broadcasts completed (delivered to every receiver).
        completed: u64,
        /// Deliveries per second.
        deliveries_per_sec: f64,
        /// Time from the `bc` send to the last delivery.
        completion: Summary,
        /// The same events per second of server CPU time, when the server's pid was given.
        #[serde(default)]
        per_server_cpu_s: Option<f64>,
        /// Across nodes: the cluster adapter (`redis`, `streams`) joining the node the
        /// broadcasts are sent to and the node of the receivers; `None` on one server.
        #[serde(default)]
        cluster: Option<String>,
        /// Across nodes: deliveries per CPU-second of the Redis server, when its pid was given.
        #[serde(default)]
        per_redis_cpu_s: Option<f64>,
        /// Each broadcast carried a 4 KiB binary attachment (`bcbin`).
        #[serde(default)]
        binary: bool,
    },
    /// Echo with ack (open loop at `rate`, or closed loop when `rate` is 0).
    Echo {
        /// Offered rate (requests/s); 0 for the closed-loop saturation run.
        rate: f64,
        /// Requests sent.
        sent: u64,
        /// Acks received inside the send window, per second.
        acks_per_sec: f64,
        /// Latency from the intended send time.
        latency: Summary,
        /// The same events per second of server CPU time, when the server's pid was given.
        #[serde(default)]
        per_server_cpu_s: Option<f64>,
    },
    /// Polling transport throughput (closed loop: one echo outstanding per client).
    Polling {
        /// Polling clients.
        clients: usize,
        /// The rate offered (paced), or none (closed loop).
        #[serde(default)]
        rate: Option<f64>,
        /// Acks per second.
        acks_per_sec: f64,
        /// Round trip of one echo.
        rtt: Summary,
        /// The same events per second of server CPU time, when the server's pid was given.
        #[serde(default)]
        per_server_cpu_s: Option<f64>,
        /// The share of that CPU time spent in the kernel, when the server's pid was given.
        #[serde(default)]
        kernel_share: Option<f64>,
    },
    /// Default-mode connection storm: polling handshake, `CONNECT` over polling, then the
    /// probe and the upgrade to WebSocket, as the official client's `io(url)` does.
    StormDefault {
        /// Clients that connected and upgraded.
        ready: usize,
        /// Clients that failed.
        failed: usize,
        /// Full connections (connected and upgraded) per second.
        per_sec: f64,
        /// Time from the first request to the `40` answer.
        connected: Summary,
        /// Time from the first request to the `5` (upgrade) sent.
        upgraded: Summary,
        /// The same connections per second of server CPU time, when the server's pid was given.
        #[serde(default)]
        per_server_cpu_s: Option<f64>,
        /// The share of that CPU time spent in the kernel, when the server's pid was given.
        #[serde(default)]
        kernel_share: Option<f64>,
    },
}
