//! The benchmark server: namespace `/`, every socket joins `room1`; `bc` with one argument `t`
//! emits `m` with `t` to `room1`; `echo` with `t` and an ack answers `t` (binary `t` included).
//! pingInterval 25 s. `--per-message-deflate` turns on WebSocket compression with Node's
//! settings (off by default, as in Node).
//!
//! With `--redis URL` it is a node of a cluster on the Redis adapter of `--adapter` (the
//! cross-node broadcast benchmark runs two of them).
//!
//! ```text
//! cargo run --release -p switchboard --example bench -- --port 3000
//! cargo run --release -p switchboard --example bench -- --port 0 --redis redis://127.0.0.1:6379
//! cargo run --release -p switchboard --example bench -- --port 3000 --parser msgpack
//! ```
//!
//! With `--cluster-advertise HOST:PORT` and `--cluster-token TOKEN` (or
//! `SWITCHBOARD_CLUSTER_TOKEN`) beside `--redis`, the nodes forward requests for each other's
//! sessions, so that a round-robin load balancer needs no sticky sessions; port 0 in the
//! advertised address stands for the port bound.
//!
//! With `--metrics` (built with `--features metrics`) it records every metric of
//! `switchboard::metrics` into a Prometheus recorder, to measure what they cost; nothing serves
//! them.
//!
//! ```text
//! cargo run --release -p switchboard --features metrics --example bench -- --port 3000 --metrics
//! ```

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use serde_json::Value;
use switchboard::prelude::*;

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "Socket.IO benchmark server")]
struct Args {
    /// Port to bind on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Join a cluster through this Redis server (`redis://HOST:PORT`).
    #[arg(long)]
    redis: Option<String>,
    /// The cluster adapter, with `--redis`.
    #[arg(long, value_enum, default_value_t = Kind::Redis, requires = "redis")]
    adapter: Kind,
    /// With `--redis`: `HOST:PORT` the other nodes reach this one at (port 0: the port
    /// bound); they forward the requests of this node's sessions here.
    #[arg(long, requires_all = ["redis", "cluster_token"])]
    cluster_advertise: Option<String>,
    /// The token the nodes share to forward requests to each other.
    #[arg(long, env = "SWITCHBOARD_CLUSTER_TOKEN", hide_env_values = true)]
    cluster_token: Option<String>,
    /// Also accept Socket.IO v2 clients (Engine.IO v3), as Node's `allowEIO3`.
    #[arg(long = "allow-eio3")]
    allow_eio3: bool,
    /// The Socket.IO packet format: `json` or `msgpack` (the npm `socket.io-msgpack-parser`).
    #[arg(long, default_value_t = switchboard::ParserKind::Json)]
    parser: switchboard::ParserKind,
    /// Accept WebSocket compression (permessage-deflate) with Node's settings.
    #[arg(long)]
    per_message_deflate: bool,
    /// Record the metrics (needs the `metrics` feature).
    #[arg(long)]
    metrics: bool,
}

/// Which Redis adapter.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kind {
    /// Classic pub/sub, as `@socket.io/redis-adapter`.
    Redis,
    /// Sharded pub/sub (Redis 7), as its `createShardedAdapter`.
    Sharded,
    /// Redis Streams, as `@socket.io/redis-streams-adapter`.
    Streams,
}

/// The adapter factory of `--redis` and `--adapter`; the in-memory one without `--redis`.
fn adapter(args: &Args) -> anyhow::Result<Option<std::sync::Arc<dyn switchboard::AdapterFactory>>> {
    use switchboard_redis::{
        RedisAdapterFactory, RedisAdapterOptions, RedisConfig, RedisDriver, ShardedAdapterFactory,
        ShardedAdapterOptions, StreamsAdapterFactory, StreamsAdapterOptions,
    };
    let Some(url) = &args.redis else { return Ok(None) };
    let driver =
        || RedisDriver::open(url, RedisConfig::default()).with_context(|| format!("--redis {url}"));
    match args.adapter {
        Kind::Redis => {
            let factory = RedisAdapterFactory::new(driver()?, RedisAdapterOptions::default());
            Ok(Some(factory.into_factory()))
        }
        Kind::Sharded => {
            let factory = ShardedAdapterFactory::new(driver()?, ShardedAdapterOptions::default());
            Ok(Some(factory.into_factory()))
        }
        Kind::Streams => {
            let factory = StreamsAdapterFactory::new(driver()?, StreamsAdapterOptions::default());
            Ok(Some(factory.into_factory()))
        }
    }
}

/// The attachment of `bcbin` broadcasts: 4 KiB, allocated once.
static BLOB: std::sync::LazyLock<bytes::Bytes> =
    std::sync::LazyLock::new(|| bytes::Bytes::from(vec![7u8; 4096]));

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if args.metrics {
        install_metrics()?;
    }
    // The defaults are Node's: pingInterval 25 s, pingTimeout 20 s.
    let mut config = SocketIoConfig::default();
    config.engine.allow_eio3 = args.allow_eio3;
    config.parser = args.parser;
    if args.per_message_deflate {
        config.engine.per_message_deflate = Some(switchboard::engine::PerMessageDeflate::default());
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{}", args.port))?;
    let bound = listener.local_addr()?;
    // The heartbeat announcing this node: runs as long as the process.
    let _heartbeat = match (&args.redis, &args.cluster_advertise, &args.cluster_token) {
        (Some(url), Some(advertise), Some(token)) => {
            use switchboard::engine::{Cluster, NodeTag};
            use switchboard_redis::{NodeDirectory, RedisConfig, RedisDriver};
            let advertise = match advertise.strip_suffix(":0") {
                Some(host) => format!("{host}:{}", bound.port()),
                None => advertise.clone(),
            };
            let driver = RedisDriver::open(url, RedisConfig::default())
                .with_context(|| format!("--redis {url}"))?;
            let directory = NodeDirectory::new(driver);
            let tag = NodeTag::random();
            let heartbeat = directory.announce(tag.as_str(), &advertise);
            // Found by the other nodes before serving (Redis connects in the background).
            tokio::time::timeout(std::time::Duration::from_secs(5), directory.announced())
                .await
                .context("announcing this node in Redis")?;
            config.engine.cluster = Some(Cluster::new(tag, token, directory.owner_lookup()));
            Some(heartbeat)
        }
        _ => None,
    };
    let io = match adapter(&args)? {
        Some(factory) => SocketIo::builder().config(config).adapter(factory).build(),
        None => SocketIo::new(config),
    };
    io.on_connection(|socket: Socket| async move {
        socket.join("room1");
        // Binary arguments are relayed and answered with their attachments.
        socket.on("bc", |s: Socket, Data(t): Data<Value>| async move {
            s.namespace().to("room1").emit("m", &t).await
        })?;
        // `bcbin` t -> `mb` t and a 4 KiB attachment to room1 (the bytes shared, not copied).
        socket.on("bcbin", |s: Socket, Data(t): Data<Value>| async move {
            let mut payload = switchboard::Payload::new();
            payload.push(t).push_binary(BLOB.clone());
            s.namespace().to("room1").emit_payload("mb", payload).await
        })?;
        socket.on("echo", |Data(t): Data<Value>| async move { Ok::<_, HandlerError>(t) })
    });
    println!("listening on http://{bound}");
    io.serve(listener).await?;
    Ok(())
}

/// Installs the Prometheus recorder before the server records anything; the handle is dropped
/// (nothing renders the metrics: they are recorded to measure their cost).
#[cfg(feature = "metrics")]
fn install_metrics() -> anyhow::Result<()> {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    switchboard::metrics::describe();
    // Folds histogram samples in, as a server that is scraped would; runs until the process
    // exits.
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            handle.run_upkeep();
        }
    });
    Ok(())
}

#[cfg(not(feature = "metrics"))]
fn install_metrics() -> anyhow::Result<()> {
    anyhow::bail!("--metrics needs the example built with `--features metrics`")
}
