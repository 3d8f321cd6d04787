//! The Socket.IO client against this workspace's own Socket.IO server, in process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::WAIT;
use common::ours::serve;
use common::sio::{connect, events, options, recv};
use serde_json::{Value, json};
use switchboard_client::engine::TransportKind;
use switchboard_client::{
    AckError, Auth, ClientOptions, ConnectError, DisconnectReason, Manager, Payload, Socket,
};
use tokio::sync::mpsc;

async fn whoami(socket: &Socket) -> Value {
    let (info,): (Value,) = socket.timeout(WAIT).emit_with_ack("whoami", &()).await.unwrap();
    info
}

async fn exercise(socket: &Socket) {
    let mut echoes = events(socket, "echo");
    socket.emit("echo", &("hi", 2, json!({"k": [1, 2]}))).unwrap();
    let (a, b, c): (String, u32, Value) = recv(&mut echoes).await.args().unwrap();
    assert_eq!((a.as_str(), b, c), ("hi", 2, json!({"k": [1, 2]})));

    let answer: (String, u32) = socket.emit_with_ack("echo", &("acked", 3)).await.unwrap();
    assert_eq!(answer, ("acked".to_owned(), 3));

    let mut payload = Payload::new();
    payload.push(json!("bin"));
    payload.push_binary(Bytes::from_static(&[1, 2, 3, 0, 255]));
    socket.emit_payload("echo", payload.clone()).unwrap();
    let e = recv(&mut echoes).await;
    assert_eq!(e.binary(1).map(|b| b.as_ref()), Some(&[1u8, 2, 3, 0, 255][..]));
    let answer = socket.emit_with_ack_payload("echo", payload).await.unwrap();
    assert_eq!(
        answer.binary(&answer.args()[1]).map(|b| b.as_ref()),
        Some(&[1u8, 2, 3, 0, 255][..])
    );

    socket.on("question", |e| {
        let q: String = e.data().unwrap();
        e.ack(&(format!("re: {q}"),)).unwrap();
    });
    let mut answers = events(socket, "answer");
    socket.emit("ask-me", &("why",)).unwrap();
    assert_eq!(recv(&mut answers).await.data::<String>().unwrap(), "re: why");
    socket.off("question");
    socket.off("answer");
    socket.off("echo");

    let r =
        socket.timeout(Duration::from_millis(100)).emit_with_ack::<_, Value>("nobody", &()).await;
    assert!(matches!(r, Err(AckError::Timeout)), "{r:?}");
}

#[tokio::test]
async fn every_transport_against_our_server() {
    let server = serve();
    let url = server.url();
    for transports in [
        vec![TransportKind::Polling],
        vec![TransportKind::WebSocket],
        vec![TransportKind::Polling, TransportKind::WebSocket],
    ] {
        let upgrade = transports.len() == 2;
        let manager = Manager::new(&url, options(&transports)).unwrap();
        let socket = manager.socket("/");
        connect(&socket).await;
        exercise(&socket).await;
        let me = whoami(&socket).await;
        assert_eq!(me["id"].as_str(), socket.id().as_deref());
        if upgrade {
            tokio::time::timeout(WAIT, async {
                while whoami(&socket).await["transport"] != "websocket" {}
            })
            .await
            .expect("no upgrade");
            exercise(&socket).await;
        } else {
            assert_eq!(me["transport"], transports[0].name());
        }
        socket.disconnect();
    }
}

#[tokio::test]
async fn namespaces_auth_and_disconnects_against_our_server() {
    let server = serve();
    let url = server.url();
    let manager = Manager::new(&url, ClientOptions::default()).unwrap();
    let main = manager.socket("/");
    connect(&main).await;

    let admin = manager.socket("/admin");
    let (tx, mut errors) = mpsc::unbounded_channel();
    admin.on_connect_error(move |e| {
        let _ = tx.send(e.clone());
    });
    admin.connect();
    match recv(&mut errors).await {
        ConnectError::Server { message, data } => {
            assert_eq!(message, "unauthorized");
            assert_eq!(data, Some(json!({"code": 403})));
        }
        other => panic!("unexpected {other:?}"),
    }

    let mut o = ClientOptions::default();
    o.auth = Auth::fixed(json!({"token": "secret"}));
    let manager = Manager::new(&url, o).unwrap();
    let (main, admin) = (manager.socket("/"), manager.socket("/admin"));
    connect(&main).await;
    connect(&admin).await;
    let (m, a) = (whoami(&main).await, whoami(&admin).await);
    assert_eq!(m["engine"], a["engine"], "one connection for both namespaces");
    assert_eq!(a["auth"], json!({"token": "secret"}));

    let (tx, mut reasons) = mpsc::unbounded_channel();
    main.on_disconnect(move |r| {
        let _ = tx.send(r);
    });
    main.emit("disconnect-me", &()).unwrap();
    assert_eq!(recv(&mut reasons).await, DisconnectReason::IoServerDisconnect);
    assert!(admin.connected(), "the other namespace stays");
    assert_eq!(whoami(&admin).await["engine"], a["engine"]);
}

#[tokio::test]
async fn listeners_on_once_off_any_against_our_server() {
    let server = serve();
    let socket = switchboard_client::io(&server.url(), ClientOptions::default()).unwrap();
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
    let t = tx.clone();
    socket.on("other", move |e| {
        let _ = t.send(format!("other {}", e.data::<String>().unwrap()));
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
    socket.off("other");
    let mut last = events(&socket, "echo");
    socket.emit("echo", &("c",)).unwrap();
    assert_eq!(recv(&mut last).await.data::<String>().unwrap(), "c");
    assert!(seen.try_recv().is_err(), "removed listeners stay quiet");
}

#[tokio::test]
async fn offline_buffer_and_volatile_against_our_server() {
    let server = serve();
    let socket = switchboard_client::io(&server.url(), ClientOptions::default()).unwrap();
    let mut echoes = events(&socket, "echo");
    // Before connecting: plain emits wait in the buffer, volatile ones are dropped.
    socket.emit("echo", &("buffered 1",)).unwrap();
    socket.volatile().emit("echo", &("volatile",)).unwrap();
    socket.emit("echo", &("buffered 2",)).unwrap();
    let dropped = socket.volatile().emit_with_ack::<_, Value>("echo", &(1,)).await;
    assert!(matches!(dropped, Err(AckError::Dropped)), "{dropped:?}");
    let acked = socket.emit_with_ack::<_, (String,)>("echo", &("buffered ack",));
    let (acked, ()) = tokio::join!(acked, connect(&socket));
    assert_eq!(acked.unwrap(), ("buffered ack".to_owned(),), "flushed on connect");
    socket.volatile().emit("echo", &("volatile connected",)).unwrap();
    for expected in ["buffered 1", "buffered 2", "volatile connected"] {
        assert_eq!(recv(&mut echoes).await.data::<String>().unwrap(), expected);
    }
}

#[tokio::test]
async fn ack_timeout_and_retries_against_our_server() {
    let server = serve();
    let socket = switchboard_client::io(&server.url(), ClientOptions::default()).unwrap();
    connect(&socket).await;
    let r =
        socket.timeout(Duration::from_millis(100)).emit_with_ack::<_, Value>("nobody", &()).await;
    assert!(matches!(r, Err(AckError::Timeout)), "{r:?}");

    let mut o = ClientOptions::default();
    o.retries = 2;
    o.ack_timeout = Some(Duration::from_millis(200));
    let socket = switchboard_client::io(&server.url(), o).unwrap();
    connect(&socket).await;
    // The server ignores the first try of each key: the retry gets the answer.
    let (seen,): (u32,) = socket.emit_with_ack("flaky", &("k1",)).await.unwrap();
    assert_eq!(seen, 2);
    // Plain emits go through the same queue, with an ack id, retried and in order: the
    // first try of this one is ignored, its retry is the second sight, the next emit the third.
    socket.emit("flaky", &("k3",)).unwrap();
    let (seen,): (u32,) = socket.emit_with_ack("flaky", &("k3",)).await.unwrap();
    assert_eq!(seen, 3);
    // Without any answer, the error comes after 1 + retries tries, each `ack_timeout` long.
    let started = tokio::time::Instant::now();
    let r = socket.emit_with_ack::<_, Value>("nobody", &()).await;
    assert!(matches!(r, Err(AckError::Timeout)), "{r:?}");
    assert!(started.elapsed() >= Duration::from_millis(600), "{:?}", started.elapsed());
    // The queue goes on after a failure.
    let (seen,): (u32,) = socket.emit_with_ack("flaky", &("k2",)).await.unwrap();
    assert_eq!(seen, 2);
}
