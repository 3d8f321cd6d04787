//! The Socket.IO client against the official Node `socket.io` v4 server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::sio::{connect, events, options, recv};
use common::{WAIT, start};
use serde_json::{Value, json};
use switchboard_client::engine::TransportKind;
use switchboard_client::{
    AckError, Auth, ClientOptions, ConnectError, DisconnectReason, Manager, Payload, Socket, io,
};
use tokio::sync::mpsc;

async fn whoami(socket: &Socket) -> Value {
    let (info,): (Value,) =
        socket.timeout(WAIT).emit_with_ack("whoami", &()).await.expect("whoami answered");
    info
}

async fn echo_and_acks(socket: &Socket) {
    let mut echoes = events(socket, "echo");
    socket.emit("echo", &("hi", 1, json!({"b": 1, "a": [true, null]}))).unwrap();
    let e = recv(&mut echoes).await;
    // Connection state recovery is on: the server appends the offset as a last argument.
    let (a, b, c, offset): (String, u32, Value, String) = e.args().unwrap();
    assert_eq!((a.as_str(), b, c), ("hi", 1, json!({"b": 1, "a": [true, null]})));
    assert!(!offset.is_empty());

    let answer: (u32, String) = socket.emit_with_ack("ack", &(7, "seven")).await.unwrap();
    assert_eq!(answer, (7, "seven".to_owned()));

    // Binary both ways, in an event and in an ack.
    let mut payload = Payload::new();
    payload.push(json!("file"));
    payload.push_binary(Bytes::from_static(&[0, 1, 2, 255]));
    socket.emit_payload("echo", payload.clone()).unwrap();
    let e = recv(&mut echoes).await;
    assert_eq!(e.data::<String>().unwrap(), "file");
    assert_eq!(e.binary(1).map(|b| b.as_ref()), Some(&[0u8, 1, 2, 255][..]));
    let answer = socket.emit_with_ack_payload("ack", payload).await.unwrap();
    assert_eq!(answer.binary(&answer.args()[1]).map(|b| b.as_ref()), Some(&[0u8, 1, 2, 255][..]));

    // The server asks the client for an ack.
    socket.on("question", |e| {
        let q: String = e.data().unwrap();
        e.ack(&(format!("answer to {q}"),)).unwrap();
    });
    let mut answers = events(socket, "answer");
    socket.emit("ask-me", &("life",)).unwrap();
    assert_eq!(recv(&mut answers).await.data::<String>().unwrap(), "answer to life");
    socket.off("question");
}

#[tokio::test]
async fn polling_only() {
    let server = start("node-socketio.mjs", &[]).await;
    let socket = io(&server.url(), options(&[TransportKind::Polling])).unwrap();
    connect(&socket).await;
    echo_and_acks(&socket).await;
    assert_eq!(whoami(&socket).await["transport"], "polling");
}

#[tokio::test]
async fn websocket_only() {
    let server = start("node-socketio.mjs", &[]).await;
    let mut o = options(&[TransportKind::WebSocket]);
    o.engine.query.push(("room".into(), "blue".into()));
    o.engine.extra_headers.insert("x-test", http::HeaderValue::from_static("yes"));
    let socket = io(&server.url(), o).unwrap();
    connect(&socket).await;
    echo_and_acks(&socket).await;
    let me = whoami(&socket).await;
    assert_eq!(me["transport"], "websocket");
    assert_eq!(me["id"].as_str(), socket.id().as_deref());
    assert_eq!(me["query"]["room"], "blue");
    assert_eq!(me["header"], "yes");
}

#[tokio::test]
async fn ping_timeout_disconnects_then_reconnects() {
    let server =
        start("node-socketio.mjs", &["--ping-interval", "100", "--ping-timeout", "100"]).await;
    let mut o = options(&[TransportKind::WebSocket]);
    o.reconnection_delay = Duration::from_millis(50);
    let socket = io(&server.url(), o).unwrap();
    let (tx, mut lifecycle) = mpsc::unbounded_channel();
    let t = tx.clone();
    socket.on_connect(move || {
        let _ = t.send("connect".to_owned());
    });
    socket.on_disconnect(move |r| {
        let _ = tx.send(format!("disconnect {r}"));
    });
    socket.connect();
    assert_eq!(recv(&mut lifecycle).await, "connect");
    socket.emit("stop-pinging", &()).unwrap();
    assert_eq!(recv(&mut lifecycle).await, "disconnect ping timeout");
    assert_eq!(recv(&mut lifecycle).await, "connect");
    assert_eq!(whoami(&socket).await["id"].as_str(), socket.id().as_deref());
}

#[tokio::test]
async fn without_reconnection_a_cut_is_final_until_connect() {
    let server = start("node-socketio.mjs", &[]).await;
    let mut o = ClientOptions::default();
    o.reconnection = false;
    let manager = Manager::new(&server.url(), o).unwrap();
    let (tx, mut manager_events) = mpsc::unbounded_channel();
    manager.on(move |e| {
        let _ = tx.send(format!("{e:?}"));
    });
    let socket = manager.socket("/");
    connect(&socket).await;
    assert_eq!(recv(&mut manager_events).await, "Open");
    socket.emit("cut", &("nowhere", "bye")).unwrap();
    assert_eq!(recv(&mut manager_events).await, "Close(TransportClose)");
    assert!(!socket.connected());
    // No reconnection attempt: the next manager event is the open that `connect` causes.
    connect(&socket).await;
    assert_eq!(recv(&mut manager_events).await, "Open");
}

#[tokio::test]
async fn upgrades_to_websocket() {
    let server = start("node-socketio.mjs", &[]).await;
    let socket = io(&server.url(), ClientOptions::default()).unwrap();
    connect(&socket).await;
    echo_and_acks(&socket).await;
    // The upgrade runs in the background; ask until the server sees it.
    tokio::time::timeout(WAIT, async {
        while whoami(&socket).await["transport"] != "websocket" {}
    })
    .await
    .expect("no upgrade");
    echo_and_acks(&socket).await;
}

#[tokio::test]
async fn namespaces_share_one_connection() {
    let server = start("node-socketio.mjs", &[]).await;
    let manager = Manager::new(&server.url(), ClientOptions::default()).unwrap();
    let main = manager.socket("/");
    let admin = manager.socket("admin");
    assert_eq!(admin.namespace(), "/admin");
    connect(&main).await;
    connect(&admin).await;
    let (m, a) = (whoami(&main).await, whoami(&admin).await);
    assert_eq!((m["ns"].as_str(), a["ns"].as_str()), (Some("/"), Some("/admin")));
    assert_eq!(m["engine"], a["engine"], "one engine connection");
    assert_ne!(m["id"], a["id"]);

    // Leaving one namespace keeps the other.
    let (tx, mut rx) = mpsc::unbounded_channel();
    admin.on_disconnect(move |r| {
        let _ = tx.send(r);
    });
    admin.disconnect();
    assert_eq!(recv(&mut rx).await, DisconnectReason::IoClientDisconnect);
    assert!(!admin.connected() && !admin.active());
    assert_eq!(whoami(&main).await["engine"], m["engine"]);
    // And it can come back.
    connect(&admin).await;
    assert_eq!(whoami(&admin).await["engine"], m["engine"]);
    // `io` with a namespace in the URL.
    let private = io(&format!("{}/admin", server.url()), ClientOptions::default()).unwrap();
    assert_eq!(private.namespace(), "/admin");
}

#[tokio::test]
async fn connect_error_carries_the_server_data_and_auth_fixes_it() {
    let server = start("node-socketio.mjs", &[]).await;
    let socket = io(&format!("{}/private", server.url()), ClientOptions::default()).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    socket.on_connect_error(move |e| {
        let _ = tx.send(e.clone());
    });
    socket.connect();
    match recv(&mut rx).await {
        ConnectError::Server { message, data } => {
            assert_eq!(message, "unauthorized");
            assert_eq!(data, Some(json!({"reason": "no token"})));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!socket.active(), "a refused socket does not retry by itself");

    let mut o = ClientOptions::default();
    o.auth = Auth::fixed(json!({"token": "secret"}));
    let socket = io(&format!("{}/private", server.url()), o).unwrap();
    connect(&socket).await;
    assert_eq!(whoami(&socket).await["auth"], json!({"token": "secret"}));
}

#[tokio::test]
async fn disconnect_reasons() {
    let mut server = start("node-socketio.mjs", &[]).await;
    let socket = io(&server.url(), ClientOptions::default()).unwrap();
    let (tx, mut reasons) = mpsc::unbounded_channel();
    socket.on_disconnect(move |r| {
        let _ = tx.send(r);
    });
    connect(&socket).await;
    let id = socket.id().unwrap();
    socket.emit("disconnect-me", &()).unwrap();
    assert_eq!(recv(&mut reasons).await, DisconnectReason::IoServerDisconnect);
    assert!(!socket.active() && socket.id().is_none());
    assert_eq!(
        server.line_starting_with("disconnect").await,
        format!("disconnect / {id} server namespace disconnect")
    );

    connect(&socket).await;
    let id = socket.id().unwrap();
    socket.disconnect();
    assert_eq!(recv(&mut reasons).await, DisconnectReason::IoClientDisconnect);
    assert_eq!(
        server.line_starting_with("disconnect").await,
        format!("disconnect / {id} client namespace disconnect")
    );
}

/// A `disconnect` while polling is paused for an upgrade: the `DISCONNECT` packet must reach the
/// server before the engine's close packet (they used to share one `POST`, and the Node server
/// handled the close first, reporting `transport close`).
#[tokio::test]
async fn disconnect_mid_upgrade_reaches_the_server() {
    let mut server = start("node-socketio.mjs", &["--stall-upgrade"]).await;
    for _ in 0..3 {
        let socket = io(&server.url(), ClientOptions::default()).unwrap();
        connect(&socket).await;
        let id = socket.id().unwrap();
        // The server answered the probe: the client pauses polling, and the pending `GET` is
        // never ended by the server, so the upgrade cannot complete.
        assert!(server.line_starting_with("upgrading ").await.len() > "upgrading ".len());
        socket.disconnect();
        assert_eq!(
            server.line_starting_with("disconnect").await,
            format!("disconnect / {id} client namespace disconnect")
        );
    }
}

#[tokio::test]
async fn listeners_on_once_off_any() {
    let server = start("node-socketio.mjs", &[]).await;
    let socket = io(&server.url(), ClientOptions::default()).unwrap();
    let (tx, mut seen) = mpsc::unbounded_channel::<String>();
    let t = tx.clone();
    socket.once("echo", move |e| {
        let _ = t.send(format!("once {}", e.data::<String>().unwrap()));
    });
    let t = tx.clone();
    let on = socket.on("echo", move |e| {
        let _ = t.send(format!("on {}", e.data::<String>().unwrap()));
    });
    let t = tx.clone();
    socket.on_any(move |e| {
        let _ = t.send(format!("any {} {}", e.name(), e.data::<String>().unwrap()));
    });
    connect(&socket).await;
    for word in ["a", "b"] {
        socket.emit("echo", &(word,)).unwrap();
    }
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(recv(&mut seen).await);
    }
    assert_eq!(got, ["any echo a", "once a", "on a", "any echo b", "on b"]);
    socket.remove_listener(on);
    socket.off_any();
    let mut last = events(&socket, "echo");
    socket.emit("echo", &("c",)).unwrap();
    assert_eq!(recv(&mut last).await.data::<String>().unwrap(), "c");
    assert!(seen.try_recv().is_err(), "removed listeners stay quiet");
}

#[tokio::test]
async fn offline_buffer_and_volatile() {
    let server = start("node-socketio.mjs", &[]).await;
    let socket = io(&server.url(), ClientOptions::default()).unwrap();
    let mut echoes = events(&socket, "echo");
    socket.emit("echo", &("buffered 1",)).unwrap();
    socket.volatile().emit("echo", &("volatile",)).unwrap();
    socket.emit("echo", &("buffered 2",)).unwrap();
    let dropped = socket.volatile().emit_with_ack::<_, Value>("ack", &(1,)).await;
    assert!(matches!(dropped, Err(AckError::Dropped)), "{dropped:?}");
    connect(&socket).await;
    socket.volatile().emit("echo", &("volatile connected",)).unwrap();
    for expected in ["buffered 1", "buffered 2", "volatile connected"] {
        assert_eq!(recv(&mut echoes).await.data::<String>().unwrap(), expected);
    }
}

#[tokio::test]
async fn ack_timeout_and_retries() {
    let server = start("node-socketio.mjs", &[]).await;
    let socket = io(&server.url(), ClientOptions::default()).unwrap();
    connect(&socket).await;
    let r =
        socket.timeout(Duration::from_millis(100)).emit_with_ack::<_, Value>("nobody", &()).await;
    assert!(matches!(r, Err(AckError::Timeout)), "{r:?}");

    let mut o = ClientOptions::default();
    o.retries = 2;
    o.ack_timeout = Some(Duration::from_millis(200));
    let socket = io(&server.url(), o).unwrap();
    connect(&socket).await;
    // The server ignores the first try of each key: the retry gets the answer.
    let (seen,): (u32,) = socket.emit_with_ack("flaky", &("k1",)).await.unwrap();
    assert_eq!(seen, 2);
    // Plain emits go through the same queue, in order.
    let mut echoes = events(&socket, "echo");
    socket.emit("echo", &("queued",)).unwrap();
    assert_eq!(recv(&mut echoes).await.data::<String>().unwrap(), "queued");
    // Without any answer, the error comes after 1 + retries tries.
    let r = socket.emit_with_ack::<_, Value>("nobody", &()).await;
    assert!(matches!(r, Err(AckError::Timeout)), "{r:?}");
}

#[tokio::test]
async fn recovers_the_session_after_a_cut() {
    let server = start("node-socketio.mjs", &[]).await;
    let mut o = ClientOptions::default();
    o.reconnection_delay = Duration::from_millis(50);
    let socket = io(&server.url(), o).unwrap();
    let mut news = events(&socket, "news");
    let (tx, mut reasons) = mpsc::unbounded_channel();
    socket.on_disconnect(move |r| {
        let _ = tx.send(r);
    });
    connect(&socket).await;
    assert!(!socket.recovered());
    let id = socket.id().unwrap();
    let mut joined = events(&socket, "joined");
    socket.emit("join", &("room",)).unwrap();
    recv(&mut joined).await;
    socket.emit("broadcast", &("room", "first")).unwrap();
    assert_eq!(recv(&mut news).await.data::<String>().unwrap(), "first");

    let (tx, mut connects) = mpsc::unbounded_channel();
    socket.on_connect(move || {
        let _ = tx.send(());
    });
    socket.emit("cut", &("room", "missed")).unwrap();
    assert_eq!(recv(&mut reasons).await, DisconnectReason::TransportClose);
    recv(&mut connects).await;
    assert!(socket.recovered(), "the session was recovered");
    assert_eq!(socket.id().as_deref(), Some(id.as_str()));
    assert_eq!(recv(&mut news).await.data::<String>().unwrap(), "missed");
}
