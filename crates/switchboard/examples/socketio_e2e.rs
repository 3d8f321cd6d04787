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
use serde_json::{Value, json};
use switchboard::prelude::*;
use switchboard::{AckError, BroadcastOperator};

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
    /// The heartbeat's ping interval in milliseconds (the ping timeout is 4/5 of it): short,
    /// so that the `ping timeout` test is quick; the drain test, which loads the machine,
    /// gives its clients more.
    #[arg(long, default_value_t = 500)]
    heartbeat_ms: u64,
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

/// Disconnect reasons seen so far, for tests to query (the server's state).
#[derive(Clone, Default)]
struct Reasons(Arc<Mutex<Vec<Value>>>);

impl Reasons {
    fn push(&self, entry: Value) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
    }
}

/// A handler's result: the ack's answer, or an error for the client.
type Answer = Result<Value, HandlerError>;

fn main_namespace(io: &SocketIo) {
    io.use_middleware(|Data(auth): Data<Value>| async move {
        match auth.get("reject") {
            Some(why) => Err(HandlerError::new("rejected").with_data(json!({ "reason": why }))),
            None => Ok(()),
        }
    });
    let server = io.clone();
    io.on_connection(move |socket: Socket, State(reasons): State<Reasons>| {
        let io = server.clone();
        async move {
            let transport = socket.transport().as_str();
            let hello = json!({"id": socket.id().as_str(), "auth": socket.handshake().auth, "transport": transport, "query": socket.handshake().query});
            socket.emit("hello", &hello)?;
            socket.on_upgrade(|s: &Socket, transport| {
                let _ = s.emit("upgraded", transport.as_str());
            });
            let log = reasons.clone();
            socket.on_disconnecting(move |s: Socket, reason: DisconnectReason| {
                let log = log.clone();
                async move {
                    log.push(json!({"id": s.id().as_str(), "disconnecting": reason.as_str(), "rooms": rooms_of(&s)}));
                }
            });
            socket.on_disconnect(move |s: Socket, reason: DisconnectReason| {
                let reasons = reasons.clone();
                async move {
                    reasons.push(json!({"id": s.id().as_str(), "reason": reason.as_str()}));
                    // For the close test, which reads it after the process exits.
                    println!("disconnect {} {}", s.id(), reason.as_str());
                }
            });
            register(&socket)?;
            register_api(&socket, io)?;
            Ok::<_, HandlerError>(())
        }
    });
}

/// Emits `target.event` to its rooms but not to its `except` rooms, through `op`.
async fn emit_to(mut op: BroadcastOperator, target: Target) -> Answer {
    for r in &target.rooms {
        op = op.to(r.as_str());
    }
    for r in &target.except {
        op = op.except(r.as_str());
    }
    Ok(json!(op.emit(&target.event, &target.data).await.is_ok()))
}

fn register(socket: &Socket) -> Result<(), ReservedEventName> {
    socket.on("echo", |s: Socket, ack: Option<Ack>, args: Payload| async move {
        match ack {
            Some(ack) => ack.send_payload(args),
            None => s.emit_payload("echo", args),
        }
    })?;
    socket.on("typed", |Data(t): Data<Typed>| async move {
        Ok::<_, HandlerError>(json!({ "doubled": t.a * 2 }))
    })?;
    socket.on("join", |s: Socket, Data(rooms): Data<Value>| async move {
        match &rooms {
            Value::Array(rooms) => s.join_all(rooms.iter().filter_map(Value::as_str)),
            Value::String(room) => s.join(room.as_str()),
            _ => {}
        }
        Ok::<_, HandlerError>(rooms_of(&s))
    })?;
    socket.on("leave", |s: Socket, Data(room): Data<String>| async move {
        s.leave(room);
        Ok::<_, HandlerError>(rooms_of(&s))
    })?;
    socket.on("to", |s: Socket, Data(target): Data<Target>| emit_to(s.broadcast(), target))?;
    socket.on("io-to", |s: Socket, Data(target): Data<Target>| {
        emit_to(s.namespace().local().compress(true), target)
    })?;
    socket.on("binary", |s: Socket, Bin(received): Bin| async move {
        let mut payload = Payload::new();
        payload.push(json!("from-server"));
        payload.push_binary(vec![1u8, 2, 3]);
        let inner = payload.attach(vec![4u8, 5]);
        payload.push(json!({ "nested": inner }));
        s.emit_payload("binary", payload)?;
        Ok::<_, HandlerError>(received.len())
    })?;
    socket.on("ask", |s: Socket, Data(ms): Data<u64>| async move {
        let answer = s.timeout(Duration::from_millis(ms)).emit_with_ack("question", &42).await;
        Ok::<_, HandlerError>(match answer {
            Ok(a) => json!({ "answer": a.payload.args() }),
            Err(AckError::Timeout) => json!({ "error": "timeout" }),
            Err(e) => json!({ "error": e.to_string() }),
        })
    })?;
    socket.on("ask-all", |s: Socket, Data(ms): Data<u64>, ack: Option<Ack>| async move {
        // Spawned: the other clients' answers must not wait for this client's next packet.
        tokio::spawn(async move {
            let answers = s.namespace().timeout(Duration::from_millis(ms)).emit_with_ack("question-all", &1).await;
            let v = match answers {
                Ok(list) => json!({ "answers": list.iter().map(|a| a.response.payload.args().to_vec()).collect::<Vec<_>>() }),
                Err(AckError::Incomplete { received, expected }) => json!({ "error": "timeout", "received": received.len(), "expected": expected }),
                Err(e) => json!({ "error": e.to_string() }),
            };
            if let Some(ack) = ack {
                let _ = ack.send(&v);
            }
        });
    })?;
    socket.on("fetch", |s: Socket| async move {
        let sockets = s.namespace().fetch_sockets().await?;
        let list: Vec<Value> = sockets
            .iter()
            .map(|r| json!({ "id": r.id().as_str(), "rooms": r.rooms().iter().map(|x| x.as_str()).collect::<Vec<_>>(), "auth": r.handshake().auth }))
            .collect();
        Ok::<_, HandlerError>(json!(list))
    })?;
    socket.on("sockets-join", |s: Socket, Data(room): Data<String>| async move {
        Ok::<_, HandlerError>(s.namespace().sockets_join(room).await.is_ok())
    })?;
    socket.on("sockets-leave", |s: Socket, Data(room): Data<String>| async move {
        Ok::<_, HandlerError>(s.namespace().sockets_leave(room).await.is_ok())
    })?;
    socket.on("rooms", |s: Socket| async move { Ok::<_, HandlerError>(rooms_of(&s)) })?;
    socket.on("disconnect-me", |s: Socket, Data(close): Data<bool>| async move {
        s.disconnect(close).await
    })?;
    socket.on("disconnect-all", |s: Socket, Data(close): Data<bool>| async move {
        s.namespace().disconnect_sockets(close).await
    })?;
    Ok(())
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
fn register_api(socket: &Socket, io: SocketIo) -> Result<(), ReservedEventName> {
    socket.use_middleware(|event: EventName| async move {
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
    socket.on("any-log", |s: Socket, Extension(log): Extension<AnyLog>| async move {
        s.emit("out-test", &1)?;
        let entries = std::mem::take(&mut *log.0.lock().unwrap_or_else(|e| e.into_inner()));
        Ok::<_, HandlerError>(json!(entries))
    })?;
    socket.once("once", || async { Ok::<_, HandlerError>("once") })?;
    socket.on("off-me", || async { Ok::<_, HandlerError>("on") })?;
    socket.on("do-off", |s: Socket| async move {
        s.off("off-me");
        Ok::<_, HandlerError>(true)
    })?;
    socket.on("volatile-burst", |s: Socket| async move {
        // The first packet makes the transport busy: the volatile ones right behind it
        // are dropped, as Node does; the last one is not volatile.
        s.emit("v-first", &1)?;
        s.volatile().emit("v-drop", &2)?;
        s.namespace().to(s.id().room()).volatile().emit("v-drop", &3).await?;
        s.emit("v-end", &4)?;
        Ok::<_, HandlerError>(true)
    })?;
    socket.on("remote", |s: Socket, Data(remote): Data<Remote>| async move {
        let sockets = s.namespace().fetch_sockets().await?;
        let Some(target) = sockets.iter().find(|r| r.id().as_str() == remote.id) else {
            return Ok::<_, HandlerError>(false);
        };
        Ok(match remote.action.as_str() {
            "emit" => target.emit("remote-hello", &remote.room).await.is_ok(),
            "join" => target.join(remote.room.as_str()).await.is_ok(),
            "disconnect" => target.disconnect(false).await.is_ok(),
            _ => false,
        })
    })?;
    let flood_io = io.clone();
    socket.on("flood-then-close", move |Data(count): Data<u32>| {
        let io = flood_io.clone();
        async move {
            // On its own task, as `shutdown` below: every `flood` is queued for every client,
            // then close() runs at once; each client must get them all before the close.
            tokio::spawn(async move {
                for i in 0..count {
                    if let Err(e) = io.emit("flood", &i).await {
                        eprintln!("flood {i} not sent: {e}");
                    }
                }
                let report = io.close_within(Duration::from_secs(10)).await;
                println!("closed complete={}", report.is_complete());
            });
        }
    })?;
    socket.on("shutdown", move || {
        let io = io.clone();
        async move {
            // On its own task: close() disconnects this very socket, whose client task
            // runs this handler.
            tokio::spawn(async move {
                io.close().await;
                // The close test waits for this line: the disconnect handlers ran before it.
                println!("closed");
            });
        }
    })?;
    Ok(())
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
    config.engine.ping_interval = Duration::from_millis(args.heartbeat_ms);
    config.engine.ping_timeout = Duration::from_millis(args.heartbeat_ms * 4 / 5);
    config.connect_timeout = Duration::from_millis(2000);
    let io = SocketIo::builder().config(config).with_state(Reasons::default()).build();
    main_namespace(&io);

    io.of("/reasons").on_connection(|socket: Socket| async move {
        socket.on("get", |State(log): State<Reasons>| async move {
            Ok::<_, HandlerError>(json!(*log.0.lock().unwrap_or_else(|e| e.into_inner())))
        })?;
        Ok::<_, HandlerError>(())
    });

    let admin = io.of("/admin");
    admin.use_middleware(|Data(auth): Data<Value>| async move {
        match auth.get("token").and_then(Value::as_str) {
            Some("secret") => Ok(()),
            _ => Err(HandlerError::new("unauthorized").with_data(json!({ "code": 403 }))),
        }
    });
    admin.on_connection(|socket: Socket| async move { socket.emit("ns", socket.ns()) });

    let dynamic = io.of_regex(regex::Regex::new(r"^/dynamic-\w+$")?);
    dynamic.on_connection(|socket: Socket| async move {
        socket.emit("ns", socket.ns())?;
        socket
            .on("echo", |s: Socket, args: Payload| async move { s.emit_payload("echo", args) })?;
        Ok::<_, HandlerError>(())
    });

    let by_fn = io.of_fn(|name, auth| {
        name.starts_with("/fn-") && auth.get("ok").and_then(Value::as_bool) == Some(true)
    });
    by_fn.on_connection(|socket: Socket| async move { socket.emit("ns", socket.ns()) });

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
