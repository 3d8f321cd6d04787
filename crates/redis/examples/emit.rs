//! Runs emitter commands against a Redis server, then waits until they are sent and exits.
//!
//! ```text
//! cargo run -p switchboard-redis --example emit -- --redis redis://127.0.0.1:6379 \
//!   '[{"op":"emit","to":["room1"],"event":"news","data":"hello"}]'
//! ```
//!
//! Each command: `{"op": "emit" | "join" | "leave" | "disconnect" | "sse", "nsp"?, "to"?: [..],
//! "except"?: [..], "event"?, "data"?, "rooms"?: [..], "close"?: bool}`.

use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use serde_json::Value;
use switchboard_redis::{Emitter, RedisConfig, RedisDriver};

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "Emit to a Socket.IO cluster through Redis")]
struct Args {
    /// The Redis server.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis: String,
    /// The commands, as a JSON array.
    commands: String,
}

fn strings(command: &Value, key: &str) -> Vec<String> {
    command.get(key).and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let commands: Vec<Value> =
        serde_json::from_str(&args.commands).context("commands: a JSON array")?;
    let driver = RedisDriver::open(&args.redis, RedisConfig::default())?;
    let root = Emitter::new(driver);
    for command in &commands {
        let mut emitter = root.of(command.get("nsp").and_then(Value::as_str).unwrap_or("/"));
        for room in strings(command, "to") {
            emitter = emitter.to(room.as_str());
        }
        for room in strings(command, "except") {
            emitter = emitter.except(room.as_str());
        }
        let event = command.get("event").and_then(Value::as_str).unwrap_or("message");
        let data = command.get("data").cloned().unwrap_or(Value::Null);
        let rooms = strings(command, "rooms");
        let rooms: Vec<&str> = rooms.iter().map(String::as_str).collect();
        match command.get("op").and_then(Value::as_str) {
            Some("emit") => emitter.emit(event, &data)?,
            Some("join") => emitter.sockets_join(&rooms)?,
            Some("leave") => emitter.sockets_leave(&rooms)?,
            Some("disconnect") => emitter.disconnect_sockets(
                command.get("close").and_then(Value::as_bool).unwrap_or(false),
            )?,
            Some("sse") => emitter.server_side_emit(event, &data)?,
            other => anyhow::bail!("unknown op {other:?}"),
        }
    }
    tokio::time::timeout(Duration::from_secs(10), root.flushed())
        .await
        .context("redis unreachable")?;
    println!("sent {}", commands.len());
    Ok(())
}
