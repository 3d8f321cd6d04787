//! The server of the connection state recovery end-to-end tests (tests/e2e/recovery*.test.mjs).
//!
//! Namespace `/` with recovery on (`--max-disconnection-ms`, default 120 000). A socket that is
//! not recovered joins `room1` and gets `data` `{ "n": <connection number> }`; every socket is
//! greeted with `hello` `{ id, recovered, data, rooms }`.
//!
//! - `fanout` `{ to, ... }` (ack: true) emits `m` with the same object to: `"all"` everyone, `"room1"` the
//!   room, `"sid:<id>"` the room of a socket id, `"self:<id>"` the last socket with that id
//!   (even disconnected, as Node logs it), `"volatile"` everyone, volatile.
//! - `store` `{ client, seq, text }` stores the text once per `(client, seq)` with
//!   [`switchboard::Dedupe`] and acks `{ stored }`; the first delivery of every third `seq` is
//!   not acked (a lost ack), so the client's `retries` sends it again.
//! - `stored` (ack) answers the stored `[{client, seq, text}]` and the number of deliveries.
//!
//! ```text
//! cargo run -p switchboard --example recovery_e2e -- --port 3000 --max-disconnection-ms 1000
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard::prelude::*;
use switchboard::{ConnectionStateRecovery, Dedupe};

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "Socket.IO recovery test server")]
struct Args {
    /// Port to bind on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// maxDisconnectionDuration in milliseconds.
    #[arg(long, default_value_t = 120_000)]
    max_disconnection_ms: u64,
}

#[derive(Debug, Deserialize)]
struct Store {
    client: String,
    seq: u64,
    text: String,
}

/// Stored messages, and the deliveries per (client, seq).
#[derive(Default)]
struct Stored {
    messages: Vec<Value>,
    deliveries: HashMap<(String, u64), u64>,
}

/// The application state shared by every handler.
#[derive(Default)]
struct App {
    connections: AtomicU64,
    // Last socket handle per id, for `self:` targets; written on connection, read by fanout.
    sockets: Mutex<HashMap<String, Socket>>,
    dedupe: Dedupe,
    // Stored messages and the deliveries per (client, seq); short critical sections only.
    store: Mutex<Stored>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn fanout(s: Socket, State(app): State<Arc<App>>, Data(msg): Data<Value>) -> Answer {
    let to = msg.get("to").and_then(Value::as_str).unwrap_or("all").to_owned();
    let ns = s.namespace();
    if to == "all" {
        ns.emit("m", &msg).await?;
    } else if to == "volatile" {
        ns.volatile().emit("m", &msg).await?;
    } else if let Some(id) = to.strip_prefix("sid:") {
        ns.to(id).emit("m", &msg).await?;
    } else if let Some(id) = to.strip_prefix("self:") {
        let target = lock(&app.sockets).get(id).cloned();
        if let Some(t) = target {
            t.emit("m", &msg)?;
        }
    } else {
        ns.to(to.as_str()).emit("m", &msg).await?;
    }
    Ok(json!(true))
}

/// A handler's answer: the ack's argument, or an error for the client.
type Answer = Result<Value, HandlerError>;

async fn store(State(app): State<Arc<App>>, Data(msg): Data<Store>, ack: Option<Ack>) {
    let Store { client, seq, text } = msg;
    let first = app.dedupe.first_time(&client, seq);
    let deliveries = {
        let mut store = lock(&app.store);
        if first {
            store.messages.push(json!({ "client": client, "seq": seq, "text": text }));
        }
        let count = store.deliveries.entry((client, seq)).or_default();
        *count += 1;
        *count
    };
    // Every third message loses its first ack.
    if seq % 3 == 0 && deliveries == 1 {
        return;
    }
    if let Some(ack) = ack {
        let _ = ack.send(&json!({ "stored": first }));
    }
}

async fn stored(State(app): State<Arc<App>>) -> Answer {
    let store = lock(&app.store);
    Ok(json!({ "stored": store.messages, "deliveries": store.deliveries.values().sum::<u64>() }))
}

async fn connected(socket: Socket, State(app): State<Arc<App>>) -> Result<(), HandlerError> {
    if !socket.recovered() {
        let n = app.connections.fetch_add(1, Ordering::SeqCst) + 1;
        socket.join("room1");
        socket.set_data(&json!({ "n": n }))?;
    }
    lock(&app.sockets).insert(socket.id().to_string(), socket.clone());
    let mut rooms: Vec<String> = socket.rooms().iter().map(|r| r.to_string()).collect();
    rooms.sort();
    let hello = json!({
        "id": socket.id().as_str(),
        "recovered": socket.recovered(),
        "data": socket.data::<Value>()?,
        "rooms": rooms,
    });
    socket.emit("hello", &hello)?;
    socket.on("fanout", fanout)?;
    socket.on("store", store)?;
    socket.on("stored", stored)?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut recovery = ConnectionStateRecovery::default();
    recovery.max_disconnection_duration = Duration::from_millis(args.max_disconnection_ms);
    let mut config = SocketIoConfig::default();
    config.connection_state_recovery = Some(recovery);
    let io = SocketIo::builder().config(config).with_state(Arc::new(App::default())).build();
    io.on_connection(connected);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{}", args.port))?;
    println!("listening on http://{}", listener.local_addr()?);
    io.serve(listener).await?;
    Ok(())
}
