//! The Socket.IO application the end-to-end tests (`tests/e2e/socketio*.test.mjs`) drive with
//! the official client: one handler per server feature.
//!
//! ```text
//! cargo run -p switchboard --example socketio_e2e -- --port 3000
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};
use switchboard::{AckError, Event, MiddlewareError, Payload, Socket, SocketIo, SocketIoConfig};

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "Socket.IO end-to-end test application")]
struct Args {
    /// Port to bind on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Serve the protocol test server's Socket.IO application (`switchboard::conformance`)
    /// instead.
    #[arg(long)]
    conformance: bool,
    /// Run every task on one thread, as Node runs everything on its event loop: a test that
    /// needs nothing to run between two statements of a handler (the volatile burst) uses it.
    #[arg(long)]
    single_thread: bool,
}

/// A targeted emit asked for by a test.
#[derive(Debug, Deserialize)]
struct Target {
    #[serde(default)]
    rooms: Vec<String>,
    #[serde(default)]
    except: Vec<String>,
    event: String,
    data: Value,
}

/// The `typed` event's payload.
#[derive(Debug, Deserialize)]
struct Typed {
    a: u32,
}

/// Disconnect reasons seen so far, for tests to query.
type Reasons = Arc<Mutex<Vec<Value>>>;

fn reply(ack: Option<switchboard::Ack>, v: &Value) {
    if let Some(ack) = ack {
        if let Err(e) = ack.send(v) {
            tracing::warn!(error = %e, "ack not sent");
        }
    }
}

fn main_namespace(io: &SocketIo, reasons: Reasons) {
    io.use_middleware(|socket: Socket| async move {
        match socket.handshake().auth.get("reject") {
            Some(why) => Err(MiddlewareError::new("rejected").with_data(json!({ "reason": why }))),
            None => Ok(()),
        }
    });
    let io2 = io.clone();
    io.on_connection(move |socket: Socket| {
        let io = io2.clone();
        let reasons = reasons.clone();
        async move {
            let transport = socket.transport().as_str();
            let hello = json!({"id": socket.id().as_str(), "auth": socket.handshake().auth, "transport": transport, "query": socket.handshake().query});
            let _ = socket.emit("hello", &hello);
            socket.on_upgrade(|s: &Socket, transport| {
                let _ = s.emit("upgraded", transport.as_str());
            });
            let log = reasons.clone();
            socket.on_disconnecting(move |s: Socket, reason: switchboard::DisconnectReason| {
                let log = log.clone();
                async move {
                    let entry = json!({"id": s.id().as_str(), "disconnecting": reason.as_str(), "rooms": rooms_of(&s)});
                    log.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
                }
            });
            socket.on_disconnect(move |s: Socket, reason: switchboard::DisconnectReason| {
                let reasons = reasons.clone();
                async move {
                    let entry = json!({"id": s.id().as_str(), "reason": reason.as_str()});
                    reasons.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
                    // For the close test, which reads it after the process exits.
                    println!("disconnect {} {}", s.id(), reason.as_str());
                }
            });
            register(&socket, &io);
            register_api(&socket, &io);
        }
    });
}

fn register(socket: &Socket, io: &SocketIo) {
    socket.on("echo", |s: Socket, ev: Event<IgnoredAny>| async move {
        let result = match ev.ack {
            Some(ack) => ack.send_payload(ev.payload),
            None => s.emit_payload("echo", ev.payload),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "echo not sent");
        }
    });
    socket.on("typed", |_s: Socket, ev: Event<Typed>| async move {
        reply(ev.ack, &json!({ "doubled": ev.data.a * 2 }));
    });
    socket.on("join", |s: Socket, ev: Event<Value>| async move {
        match &ev.data {
            Value::Array(rooms) => s.join_all(rooms.iter().filter_map(Value::as_str)),
            Value::String(room) => s.join(room.as_str()),
            _ => {}
        }
        reply(ev.ack, &rooms_of(&s));
    });
    socket.on("leave", |s: Socket, ev: Event<String>| async move {
        s.leave(ev.data.as_str());
        reply(ev.ack, &rooms_of(&s));
    });
    socket.on("to", |s: Socket, ev: Event<Target>| async move {
        let mut op = s.broadcast();
        for r in &ev.data.rooms {
            op = op.to(r.as_str());
        }
        for r in &ev.data.except {
            op = op.except(r.as_str());
        }
        let done = op.emit(&ev.data.event, &ev.data.data).await.is_ok();
        reply(ev.ack, &json!(done));
    });
    let server = io.clone();
    socket.on("io-to", move |_s: Socket, ev: Event<Target>| {
        let io = server.clone();
        async move {
            let mut op = io.of("/").local();
            for r in &ev.data.rooms {
                op = op.to(r.as_str());
            }
            for r in &ev.data.except {
                op = op.except(r.as_str());
            }
            let done = op.compress(true).emit(&ev.data.event, &ev.data.data).await.is_ok();
            reply(ev.ack, &json!(done));
        }
    });
    socket.on("binary", |s: Socket, ev: Event<IgnoredAny>| async move {
        let mut payload = Payload::new();
        payload.push(json!("from-server"));
        payload.push_binary(vec![1u8, 2, 3]);
        let inner = payload.attach(vec![4u8, 5]);
        payload.push(json!({ "nested": inner }));
        let _ = s.emit_payload("binary", payload);
        reply(ev.ack, &json!(ev.payload.attachments().len()));
    });
    socket.on("ask", |s: Socket, ev: Event<u64>| async move {
        let answer = s.timeout(Duration::from_millis(ev.data)).emit_with_ack("question", &42).await;
        let v = match answer {
            Ok(a) => json!({ "answer": a.payload.args() }),
            Err(AckError::Timeout) => json!({ "error": "timeout" }),
            Err(e) => json!({ "error": e.to_string() }),
        };
        reply(ev.ack, &v);
    });
    let server = io.clone();
    socket.on("ask-all", move |_s: Socket, ev: Event<u64>| {
        let io = server.clone();
        async move {
            // Spawned: the other clients' answers must not wait for this client's next packet.
            tokio::spawn(async move {
                let answers = io.timeout(Duration::from_millis(ev.data)).emit_with_ack("question-all", &1).await;
                let v = match answers {
                    Ok(list) => json!({ "answers": list.iter().map(|a| a.response.payload.args().to_vec()).collect::<Vec<_>>() }),
                    Err(AckError::Incomplete { received, expected }) => json!({ "error": "timeout", "received": received.len(), "expected": expected }),
                    Err(e) => json!({ "error": e.to_string() }),
                };
                reply(ev.ack, &v);
            });
        }
    });
    let server = io.clone();
    socket.on("fetch", move |_s: Socket, ev: Event<IgnoredAny>| {
        let io = server.clone();
        async move {
            let sockets = io.fetch_sockets().await.unwrap_or_default();
            let list: Vec<Value> = sockets
                .iter()
                .map(|r| json!({ "id": r.id().as_str(), "rooms": r.rooms().iter().map(|x| x.as_str()).collect::<Vec<_>>(), "auth": r.handshake().auth }))
                .collect();
            reply(ev.ack, &json!(list));
        }
    });
    let server = io.clone();
    socket.on("sockets-join", move |_s: Socket, ev: Event<String>| {
        let io = server.clone();
        async move {
            let ok = io.sockets_join(ev.data.as_str()).await.is_ok();
            reply(ev.ack, &json!(ok));
        }
    });
    let server = io.clone();
    socket.on("sockets-leave", move |_s: Socket, ev: Event<String>| {
        let io = server.clone();
        async move {
            let ok = io.sockets_leave(ev.data.as_str()).await.is_ok();
            reply(ev.ack, &json!(ok));
        }
    });
    socket.on(
        "rooms",
        |s: Socket, ev: Event<IgnoredAny>| async move { reply(ev.ack, &rooms_of(&s)) },
    );
    socket.on(
        "disconnect-me",
        |s: Socket, ev: Event<bool>| async move { s.disconnect(ev.data).await },
    );
    let server = io.clone();
    socket.on("disconnect-all", move |_s: Socket, ev: Event<bool>| {
        let io = server.clone();
        async move {
            let _ = io.disconnect_sockets(ev.data).await;
        }
    });
}

/// The catch-all listeners' log of a socket (`any-log`), at most 100 entries.
#[derive(Clone, Default)]
struct AnyLog(Arc<Mutex<Vec<String>>>);

impl AnyLog {
    fn push(&self, entry: String) {
        let mut log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if log.len() < 100 {
            log.push(entry);
        }
    }
}

/// A RemoteSocket action asked for by a test.
#[derive(Debug, Deserialize)]
struct Remote {
    id: String,
    action: String,
    #[serde(default)]
    room: String,
}

/// Listeners, per-packet middleware, volatile packets, remote handles and shutdown.
fn register_api(socket: &Socket, io: &SocketIo) {
    socket.use_middleware(|_s: Socket, event, _payload| async move {
        if event.as_str() == "forbidden" {
            Err(MiddlewareError::new("forbidden event").with_data(json!({ "event": "forbidden" })))
        } else {
            Ok(())
        }
    });
    let log = AnyLog::default();
    socket.insert_extension(log.clone());
    let l = log.clone();
    socket.on_any(move |_s, ev, _p| l.push(format!("any:{ev}")));
    let l = log.clone();
    socket.prepend_any(move |_s, ev, _p| l.push(format!("first:{ev}")));
    let l = log;
    socket.on_any_outgoing(move |_s, ev, _p| l.push(format!("out:{ev}")));
    socket.on("any-log", |s: Socket, ev: Event<IgnoredAny>| async move {
        let _ = s.emit("out-test", &1);
        let log = s.extension::<AnyLog>().unwrap_or_default();
        let entries = std::mem::take(&mut *log.0.lock().unwrap_or_else(|e| e.into_inner()));
        reply(ev.ack, &json!(entries));
    });
    socket.once("once", |_s: Socket, ev: Event<IgnoredAny>| async move {
        reply(ev.ack, &json!("once"));
    });
    socket.on("off-me", |_s: Socket, ev: Event<IgnoredAny>| async move {
        reply(ev.ack, &json!("on"));
    });
    socket.on("do-off", |s: Socket, ev: Event<IgnoredAny>| async move {
        s.off("off-me");
        reply(ev.ack, &json!(true));
    });
    let server = io.clone();
    socket.on("volatile-burst", move |s: Socket, ev: Event<IgnoredAny>| {
        let io = server.clone();
        async move {
            // The first packet makes the transport busy: the volatile ones right behind it
            // are dropped, as Node does; the last one is not volatile.
            let _ = s.emit("v-first", &1);
            let _ = s.volatile().emit("v-drop", &2);
            let _ = io.of("/").to(s.id().room()).volatile().emit("v-drop", &3).await;
            let _ = s.emit("v-end", &4);
            reply(ev.ack, &json!(true));
        }
    });
    let server = io.clone();
    socket.on("remote", move |_s: Socket, ev: Event<Remote>| {
        let io = server.clone();
        async move {
            let sockets = io.fetch_sockets().await.unwrap_or_default();
            let Some(target) = sockets.iter().find(|r| r.id().as_str() == ev.data.id) else {
                return reply(ev.ack, &json!(false));
            };
            let done = match ev.data.action.as_str() {
                "emit" => target.emit("remote-hello", &ev.data.room).await.is_ok(),
                "join" => target.join(ev.data.room.as_str()).await.is_ok(),
                "disconnect" => target.disconnect(false).await.is_ok(),
                _ => false,
            };
            reply(ev.ack, &json!(done));
        }
    });
    let server = io.clone();
    socket.on("shutdown", move |_s: Socket, _ev: Event<IgnoredAny>| {
        let io = server.clone();
        async move {
            // On its own task: close() disconnects this very socket, whose client task
            // runs this handler.
            tokio::spawn(async move {
                io.close().await;
                // The close test waits for this line: the disconnect handlers ran before it.
                println!("closed");
            });
        }
    });
}

fn rooms_of(s: &Socket) -> Value {
    let mut rooms: Vec<String> = s.rooms().iter().map(|r| r.to_string()).collect();
    rooms.sort();
    json!(rooms)
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let runtime = if args.single_thread {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    }
    .enable_all()
    .build()
    .context("starting the runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    if args.conformance {
        return serve(switchboard::conformance::app(), args.port).await;
    }
    let mut config = SocketIoConfig::default();
    config.engine.ping_interval = Duration::from_millis(500);
    config.engine.ping_timeout = Duration::from_millis(400);
    config.connect_timeout = Duration::from_millis(2000);
    let io = SocketIo::new(config);
    let reasons: Reasons = Arc::new(Mutex::new(Vec::new()));
    main_namespace(&io, reasons.clone());

    let log = reasons.clone();
    io.of("/reasons").on_connection(move |socket: Socket| {
        let log = log.clone();
        async move {
            socket.on("get", move |_s: Socket, ev: Event<IgnoredAny>| {
                let log = log.clone();
                async move {
                    let list = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    reply(ev.ack, &json!(list));
                }
            });
        }
    });

    let admin = io.of("/admin");
    admin.use_middleware(|socket: Socket| async move {
        if socket.handshake().auth.get("token").and_then(Value::as_str) == Some("secret") {
            Ok(())
        } else {
            Err(MiddlewareError::new("unauthorized").with_data(json!({ "code": 403 })))
        }
    });
    admin.on_connection(|socket: Socket| async move {
        let _ = socket.emit("ns", socket.ns());
    });

    let dynamic = io.of_regex(regex::Regex::new(r"^/dynamic-\w+$")?);
    dynamic.on_connection(|socket: Socket| async move {
        let _ = socket.emit("ns", socket.ns());
        socket.on("echo", |s: Socket, ev: Event<IgnoredAny>| async move {
            let _ = s.emit_payload("echo", ev.payload);
        });
    });

    let by_fn = io.of_fn(|name, auth| {
        name.starts_with("/fn-") && auth.get("ok").and_then(Value::as_bool) == Some(true)
    });
    by_fn.on_connection(|socket: Socket| async move {
        let _ = socket.emit("ns", socket.ns());
    });

    serve(io, args.port).await
}

async fn serve(io: SocketIo, port: u16) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{port}"))?;
    println!("listening on http://{}", listener.local_addr()?);
    io.serve(listener).await?;
    // serve() returns once close() started. The process stays up so that responses under
    // way (a polling client's close packet) are written; the test stops it.
    std::future::pending::<()>().await;
    Ok(())
}
