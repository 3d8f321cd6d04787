//! The client with the msgpack parser against this workspace's server using it too, and against
//! the official Node server with `socket.io-msgpack-parser`: events, acks, binary values in
//! place, namespaces with auth and refusals, on every transport.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::ours::{build, build_msgpack, serve_on};
use common::sio::{connect, events, options, recv};
use common::start;
use serde_json::{Value, json};
use switchboard_client::engine::TransportKind;
use switchboard_client::{
    Auth, ClientOptions, ConnectError, DisconnectReason, Manager, ManagerEvent, MsgpackParser,
    Payload,
};
use tokio::sync::mpsc;

fn msgpack(transports: &[TransportKind]) -> ClientOptions {
    let mut o = options(transports);
    o.parser = Arc::new(MsgpackParser::default());
    o
}

#[tokio::test]
async fn events_acks_and_binary_with_msgpack_on_every_transport() {
    let server = serve_on(build_msgpack(), 0);
    for transports in [
        vec![TransportKind::Polling],
        vec![TransportKind::WebSocket],
        vec![TransportKind::Polling, TransportKind::WebSocket],
    ] {
        let manager = Manager::new(&server.url(), msgpack(&transports)).unwrap();
        let socket = manager.socket("/");
        connect(&socket).await;
        let mut echoes = events(&socket, "echo");

        let args = ("hi", -2, 1.5, json!({"k": [1, null, {"deep": true}], "s": "ünï"}));
        socket.emit("echo", &args).unwrap();
        let (a, b, c, d): (String, i32, f64, Value) = recv(&mut echoes).await.args().unwrap();
        assert_eq!((a.as_str(), b, c, d), ("hi", -2, 1.5, args.3.clone()));

        let answer: (String, u64) =
            socket.emit_with_ack("echo", &("acked", u64::from(u32::MAX) + 1)).await.unwrap();
        assert_eq!(answer, ("acked".to_owned(), u64::from(u32::MAX) + 1));

        // Binary values: one at the top, one inside an object; they come back in place.
        let mut payload = Payload::new();
        payload.push(json!("bin"));
        payload.push_binary(Bytes::from_static(&[1, 2, 3, 0, 255]));
        let thumb = payload.attach(Bytes::from(vec![7u8; 70_000]));
        payload.push(json!({"name": "cat.jpg", "thumb": thumb}));
        socket.emit_payload("echo", payload.clone()).unwrap();
        let e = recv(&mut echoes).await;
        assert_eq!(e.binary(1).map(|b| b.as_ref()), Some(&[1u8, 2, 3, 0, 255][..]));
        let answer = socket.emit_with_ack_payload("echo", payload).await.unwrap();
        let args = answer.args();
        assert_eq!(args[2]["name"], "cat.jpg");
        assert_eq!(answer.binary(&args[2]["thumb"]).map(|b| b.len()), Some(70_000));

        // The server asks, the client answers.
        socket.on("question", |e| {
            let q: String = e.data().unwrap();
            e.ack(&(format!("re: {q}"),)).unwrap();
        });
        let mut answers = events(&socket, "answer");
        socket.emit("ask-me", &("why",)).unwrap();
        assert_eq!(recv(&mut answers).await.data::<String>().unwrap(), "re: why");
        socket.disconnect();
    }
}

#[tokio::test]
async fn namespaces_auth_and_refusals_with_msgpack() {
    let server = serve_on(build_msgpack(), 0);
    let manager = Manager::new(&server.url(), msgpack(&[TransportKind::WebSocket])).unwrap();
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

    let mut o = msgpack(&[TransportKind::WebSocket]);
    o.auth = Auth::fixed(json!({"token": "secret"}));
    let manager = Manager::new(&server.url(), o).unwrap();
    let admin = manager.socket("/admin");
    connect(&admin).await;
    let (info,): (Value,) = admin.emit_with_ack("whoami", &()).await.unwrap();
    assert_eq!(info["ns"], "/admin");
    assert_eq!(info["auth"], json!({"token": "secret"}));
}

/// Both sides must use the same parser: a JSON client's text packets are a parse error for a
/// msgpack server, which closes the connection.
#[tokio::test]
async fn a_json_client_is_refused_by_a_msgpack_server() {
    let server = serve_on(build_msgpack(), 0);
    let mut o = options(&[TransportKind::WebSocket]);
    o.reconnection = false;
    let manager = Manager::new(&server.url(), o).unwrap();
    let (tx, mut closes) = mpsc::unbounded_channel();
    manager.on(move |e| {
        if let ManagerEvent::Close(reason) = e {
            let _ = tx.send(*reason);
        }
    });
    let socket = manager.socket("/");
    socket.connect();
    assert_eq!(recv(&mut closes).await, DisconnectReason::TransportClose);
    assert!(!socket.connected());
    // The JSON server next to it still takes the same client.
    let json_server = serve_on(build(), 0);
    let socket = switchboard_client::io(&json_server.url(), ClientOptions::default()).unwrap();
    connect(&socket).await;
}

#[tokio::test]
async fn against_the_official_node_server_with_msgpack() {
    let server = start("node-socketio.mjs", &["--parser", "msgpack"]).await;
    for transports in [
        vec![TransportKind::Polling],
        vec![TransportKind::WebSocket],
        vec![TransportKind::Polling, TransportKind::WebSocket],
    ] {
        let manager = Manager::new(&server.url(), msgpack(&transports)).unwrap();
        let socket = manager.socket("/");
        connect(&socket).await;
        let mut echoes = events(&socket, "echo");

        // Node gives the arguments back as it decoded them: JSON values and Buffers.
        let mut payload = Payload::new();
        payload.push(json!({"k": [1, -2, 2.5, null, "ünï"], "big": 1u64 << 40}));
        payload.push_binary(Bytes::from_static(&[0, 1, 255]));
        let thumb = payload.attach(Bytes::from(vec![9u8; 300]));
        payload.push(json!({"thumb": thumb}));
        socket.emit_payload("echo", payload).unwrap();
        let e = recv(&mut echoes).await;
        let args = e.payload().args();
        assert_eq!(args[0], json!({"k": [1, -2, 2.5, null, "ünï"], "big": 1u64 << 40}));
        assert_eq!(e.binary(1).map(|b| b.as_ref()), Some(&[0u8, 1, 255][..]));
        let answer = e.payload();
        assert_eq!(answer.binary(&args[2]["thumb"]).map(|b| b.len()), Some(300));

        let acked: (String, u32) = socket.emit_with_ack("ack", &("a", 7)).await.unwrap();
        assert_eq!(acked, ("a".to_owned(), 7));

        socket.on("question", |e| {
            let q: String = e.data().unwrap();
            e.ack(&(format!("re: {q}"),)).unwrap();
        });
        let mut answers = events(&socket, "answer");
        socket.emit("ask-me", &("why",)).unwrap();
        assert_eq!(recv(&mut answers).await.data::<String>().unwrap(), "re: why");

        let private = manager.socket("/private");
        let (tx, mut errors) = mpsc::unbounded_channel();
        private.on_connect_error(move |e| {
            let _ = tx.send(e.clone());
        });
        private.connect();
        match recv(&mut errors).await {
            ConnectError::Server { message, data } => {
                assert_eq!(message, "unauthorized");
                assert_eq!(data, Some(json!({"reason": "no token"})));
            }
            other => panic!("unexpected {other:?}"),
        }
        socket.disconnect();
    }
}
