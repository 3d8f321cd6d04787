//! A cluster node: the benchmark server's behaviour on a Redis adapter, plus the handlers the
//! cluster tests drive. Namespace `/`; every socket joins `room1`.
//!
//! ```text
//! cargo run -p switchboard-redis --example node -- --redis redis://127.0.0.1:6379 --name a
//! ```
//!
//! With `--recovery`, connection state recovery is on. Prints
//! `listening on http://127.0.0.1:PORT` once bound. Events:
//! - `bc` t: `to("room1").emit("m", t)`; `echo` t, ack: answers t.
//! - `set-data` data, ack: sets the socket's data; `whoami` ack: answers
//!   `{id, rooms, data, recovered}`.
//! - `join` room, ack: joins room. `emit` {rooms, except, event, data}, ack: broadcasts.
//! - `ask` data, ack: `timeout(3 s).emit("q", data)` with acks; answers `{answers}` or `{err}`.
//! - `fetch` room|null, ack: `fetch_sockets`, answers `[{id, rooms}]` or `{err}`.
//! - `sse` data, ack: server-side emit `hello`; `sse-ack` data, ack: server-side emit `ping`
//!   with acks, answers `{answers}` or `{err}`.
//! - `status` ack: the Redis link `{state, queued, overflowed, connections, ignored}`.
//! - From other servers: `hello` data → local emit `sse-got` {from, data}; `ping` → answers
//!   `pong from <name>`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use serde_json::{Value, json};
use switchboard::{AckError, ConnectionStateRecovery, Event, Socket, SocketIo, SocketIoConfig};
use switchboard_adapter::{AckEvent, AdapterFactory, SocketId};
use switchboard_proto::socket::Payload;
use switchboard_redis::{
    AdapterStatus, LinkState, RedisAdapterFactory, RedisAdapterOptions, RedisConfig, RedisDriver,
    ShardedAdapterFactory, ShardedAdapterOptions, StreamsAdapterFactory, StreamsAdapterOptions,
};

/// The adapter's status, for the `status` event.
type Status = Arc<dyn Fn() -> AdapterStatus + Send + Sync>;

/// Which Redis adapter.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kind {
    /// Classic pub/sub (`@socket.io/redis-adapter`).
    Redis,
    /// Sharded pub/sub (`createShardedAdapter`, dynamic mode).
    Sharded,
    /// Redis Streams (`@socket.io/redis-streams-adapter` 0.2).
    Streams,
}

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "Switchboard cluster node on Redis")]
struct Args {
    /// Port to bind on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The Redis server.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis: String,
    /// The adapter.
    #[arg(long, value_enum, default_value_t = Kind::Redis)]
    adapter: Kind,
    /// This node's name, in server-side answers.
    #[arg(long, default_value = "switchboard")]
    name: String,
    /// Turn connection state recovery on (Node's defaults).
    #[arg(long)]
    recovery: bool,
}

fn answers_json(result: Result<Vec<Payload>, AckError>) -> Value {
    match result {
        Ok(answers) => {
            json!({"answers": answers.iter().map(|p| p.args().first().cloned().unwrap_or(Value::Null)).collect::<Vec<_>>()})
        }
        Err(e) => json!({"err": e.to_string()}),
    }
}

// `namespace().compress(true)` is the operator that targets every socket with default flags.
fn on_socket(socket: &Socket, status: Status) -> Result<(), switchboard::ReservedEventName> {
    socket.join("room1");
    socket.on("bc", |s: Socket, ev: Event<Value>| async move {
        if let Err(e) = s.namespace().to("room1").emit("m", &ev.data).await {
            tracing::warn!(error = %e, "broadcast failed");
        }
    })?;
    socket.on("echo", |_s: Socket, ev: Event<Value>| async move {
        if let Some(ack) = ev.ack {
            let _ = ack.send(&ev.data);
        }
    })?;
    socket.on("set-data", |s: Socket, ev: Event<Value>| async move {
        let done = s.set_data(&ev.data).is_ok();
        if let Some(ack) = ev.ack {
            let _ = ack.send(&done);
        }
    })?;
    socket.on("whoami", |s: Socket, ev: Event<Value>| async move {
        let mut rooms: Vec<String> = s.rooms().iter().map(|r| r.to_string()).collect();
        rooms.sort();
        let data: Value = s.data().ok().flatten().unwrap_or(Value::Null);
        let answer =
            json!({"id": s.id().as_str(), "rooms": rooms, "data": data, "recovered": s.recovered()});
        if let Some(ack) = ev.ack {
            let _ = ack.send(&answer);
        }
    })?;
    socket.on("join", |s: Socket, ev: Event<String>| async move {
        s.join(ev.data.as_str());
        if let Some(ack) = ev.ack {
            let _ = ack.send(&true);
        }
    })?;
    socket.on("emit", |s: Socket, ev: Event<Value>| async move {
        let mut op = s.namespace().compress(true);
        let list = |key: &str| -> Vec<String> {
            ev.data
                .get(key)
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default()
        };
        for room in list("rooms") {
            op = op.to(room.as_str());
        }
        for room in list("except") {
            op = op.except(room.as_str());
        }
        let event = ev.data.get("event").and_then(Value::as_str).unwrap_or("m").to_owned();
        let data = ev.data.get("data").cloned().unwrap_or(Value::Null);
        let result = op.emit(&event, &data).await;
        if let Some(ack) = ev.ack {
            let _ = ack.send(&result.is_ok());
        }
    })?;
    socket.on("ask", |s: Socket, ev: Event<Value>| async move {
        let result = s
            .namespace()
            .compress(true)
            .timeout(Duration::from_secs(3))
            .emit_with_ack("q", &ev.data)
            .await;
        let answer = match result {
            Ok(acks) => {
                let list: Vec<Value> = acks
                    .iter()
                    .map(|a| a.response.payload.args().first().cloned().unwrap_or(Value::Null))
                    .collect();
                json!({"answers": list})
            }
            Err(e) => json!({"err": e.to_string()}),
        };
        if let Some(ack) = ev.ack {
            let _ = ack.send(&answer);
        }
    })?;
    socket.on("fetch", |s: Socket, ev: Event<Value>| async move {
        let op = match ev.data.as_str() {
            Some(room) => s.namespace().compress(true).to(room),
            None => s.namespace().compress(true),
        };
        let answer = match op.fetch_sockets().await {
            Ok(sockets) => Value::Array(
                sockets.iter().map(|r| json!({"id": r.id().as_str(), "rooms": r.rooms().iter().map(|x| x.as_str()).collect::<Vec<_>>()})).collect(),
            ),
            Err(e) => json!({"err": e.to_string()}),
        };
        if let Some(ack) = ev.ack {
            let _ = ack.send(&answer);
        }
    })?;
    socket.on("status", move |_s: Socket, ev: Event<Value>| {
        let status = status();
        async move {
            let state = match status.link.state {
                LinkState::Connected => "connected",
                _ => "reconnecting",
            };
            let answer = json!({
                "state": state,
                "queued": status.link.queued,
                "overflowed": status.link.overflowed,
                "connections": status.link.connections,
                "ignored": status.ignored,
            });
            if let Some(ack) = ev.ack {
                let _ = ack.send(&answer);
            }
        }
    })?;
    socket.on("sse", |s: Socket, ev: Event<Value>| async move {
        let result = s.namespace().server_side_emit("hello", &ev.data).await;
        if let Some(ack) = ev.ack {
            let _ = ack.send(&result.is_ok());
        }
    })?;
    socket.on("sse-ack", |s: Socket, ev: Event<Value>| async move {
        let result =
            s.namespace().server_side_emit_with_ack("ping", &ev.data, Duration::from_secs(3)).await;
        if let Some(ack) = ev.ack {
            let _ = ack.send(&answers_json(result));
        }
    })?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let driver = RedisDriver::open(&args.redis, RedisConfig::default())
        .with_context(|| format!("redis url {}", args.redis))?;
    let (factory, status): (Arc<dyn AdapterFactory>, Status) = match args.adapter {
        Kind::Redis => {
            let f = RedisAdapterFactory::new(driver, RedisAdapterOptions::default());
            (f.clone().into_factory(), Arc::new(move || f.status()))
        }
        Kind::Sharded => {
            let f = ShardedAdapterFactory::new(driver, ShardedAdapterOptions::default());
            (f.clone().into_factory(), Arc::new(move || f.status()))
        }
        Kind::Streams => {
            let f = StreamsAdapterFactory::new(driver, StreamsAdapterOptions::default());
            (f.clone().into_factory(), Arc::new(move || f.status()))
        }
    };
    let mut config = SocketIoConfig::default();
    if args.recovery {
        config.connection_state_recovery = Some(ConnectionStateRecovery::default());
    }
    let io = SocketIo::builder().config(config).adapter(factory).build();
    let name = args.name.clone();
    let local = io.clone();
    io.of("/").on_server_side_emit(move |event, payload, ack| {
        let data = payload.args().first().cloned().unwrap_or(Value::Null);
        match (event.as_str(), ack) {
            ("hello", _) => {
                let io = local.clone();
                let from = name.clone();
                // The listener is synchronous; the emit is not.
                tokio::spawn(async move {
                    let _ = io.local().emit("sse-got", &json!({"from": from, "data": data})).await;
                });
            }
            ("ping", Some(ack)) => {
                if let Ok(payload) = Payload::single(&format!("pong from {name}")) {
                    let _ = ack
                        .send(AckEvent::Response { socket: SocketId::new(name.clone()), payload });
                }
            }
            _ => {}
        }
    });
    io.on_connection(move |socket: Socket| {
        let registered = on_socket(&socket, status.clone());
        async move { registered }
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{}", args.port))?;
    println!("listening on http://{}", listener.local_addr()?);
    io.serve(listener).await?;
    Ok(())
}
