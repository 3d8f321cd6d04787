//! The API the Socket.IO layer uses: handler order, sends, closes, service and layer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::*;
use switchboard_engine::{DisconnectReason, EncodedMessage, Engine, Message, SendError};
use tower::Layer;

const PATH: &str = "/engine.io/";

#[tokio::test]
async fn handler_sees_connect_messages_in_order_then_one_disconnect() {
    let mut server = start_with(config(), false).await;
    let mut ws = ws(server.addr, None).await;
    let sid = sid_of(&text(&mut ws).await);
    for i in 0..50 {
        send(&mut ws, &format!("4m{i}")).await;
    }
    send(&mut ws, "1").await;
    assert_eq!(server.next().await, Seen::Connect(sid.clone()));
    for i in 0..50 {
        let want = Seen::Message(sid.clone(), Message::Text(format!("m{i}").into()));
        assert_eq!(server.next().await, want);
    }
    assert_eq!(server.next().await, Seen::Disconnect(sid, DisconnectReason::TransportClose));
    assert!(server.seen.try_recv().is_err(), "nothing after the disconnect");
}

#[tokio::test]
async fn send_never_blocks_and_reports_full_then_closed() {
    let mut cfg = config();
    cfg.max_buffered_messages = 4;
    let server = start_with(cfg, false).await;
    let sid = handshake(server.addr).await;
    let socket = server.engine.socket(&sid).unwrap();
    // Nobody polls: the queue fills up and `send` says so instead of blocking or growing.
    let mut results = Vec::new();
    for i in 0..64 {
        results.push(socket.send(Message::Text(format!("{i}").into())));
        tokio::task::yield_now().await;
    }
    assert!(results.contains(&Err(SendError::Full)), "{results:?}");
    socket.close(DisconnectReason::ForcedClose);
    // The next GET gets what was queued, the one after the close packet alone (the official
    // client would drop messages that share a payload with it).
    let get = http(server.addr, "GET", &polling(PATH, Some(&sid)), b"").await;
    assert!(get.body.starts_with("40\x1e41\x1e42"), "{}", get.body);
    assert!(!get.body.ends_with("\x1e1"), "{}", get.body);
    let last = http(server.addr, "GET", &polling(PATH, Some(&sid)), b"").await;
    assert_eq!(last.body, "1");
    assert!(!socket.is_connected());
    assert_eq!(socket.send(Message::Text("late".into())), Err(SendError::Closed));
    assert_eq!(server.engine.session_count(), 0);
}

#[tokio::test]
async fn send_many_keeps_frames_together_and_in_order() {
    let server = start_with(config(), false).await;
    let mut ws = ws(server.addr, None).await;
    let sid = sid_of(&text(&mut ws).await);
    let socket = server.engine.socket(&sid).unwrap();
    let batch = vec![
        Message::Text("header".into()),
        Message::Binary(vec![1u8].into()),
        Message::Binary(vec![2u8].into()),
    ];
    socket.send_many(batch).unwrap();
    assert_eq!(text(&mut ws).await, "4header");
    assert_eq!(frame(&mut ws).await.unwrap().into_data().as_ref(), [1u8]);
    assert_eq!(frame(&mut ws).await.unwrap().into_data().as_ref(), [2u8]);
}

#[tokio::test]
async fn encoded_messages_are_shared_by_websocket_and_polling_sessions() {
    let server = start_with(config(), false).await;
    let mut ws = ws(server.addr, None).await;
    let ws_socket = server.engine.socket(&sid_of(&text(&mut ws).await)).unwrap();
    let sid = handshake(server.addr).await;
    let polling_socket = server.engine.socket(&sid).unwrap();
    // Encoded once, sent to both: the text keeps its type digit, binary stays binary.
    let packet = [
        EncodedMessage::from_wire("4é header".into()).unwrap(),
        EncodedMessage::binary(vec![7u8, 8]),
    ];
    ws_socket.send_encoded(&packet).unwrap();
    polling_socket.send_encoded(&packet).unwrap();
    ws_socket.send(Message::Text("after".into())).unwrap();
    ws_socket.send_encoded_owned(vec![EncodedMessage::text("owned")]).unwrap();
    assert_eq!(text(&mut ws).await, "4é header");
    assert_eq!(frame(&mut ws).await.unwrap().into_data().as_ref(), [7u8, 8]);
    assert_eq!(text(&mut ws).await, "4after");
    assert_eq!(text(&mut ws).await, "4owned");
    let get = http(server.addr, "GET", &polling(PATH, Some(&sid)), b"").await;
    assert_eq!(get.body, "4é header\x1ebBwg=");
    // Volatile: dropped while the polling transport cannot write (no GET is waiting).
    assert_eq!(polling_socket.send_encoded_volatile(&packet), Ok(false));
    polling_socket.close(DisconnectReason::ForcedClose);
    let _ = http(server.addr, "GET", &polling(PATH, Some(&sid)), b"").await;
    assert_eq!(polling_socket.send_encoded(&packet), Err(SendError::Closed));
    assert_eq!(polling_socket.send_encoded_volatile(&packet), Err(SendError::Closed));
    assert_eq!(polling_socket.send_encoded_owned(packet.to_vec()), Err(SendError::Closed));
}

#[tokio::test]
async fn socket_close_flushes_websocket_then_closes() {
    let mut server = start_with(config(), false).await;
    let mut ws = ws(server.addr, None).await;
    let sid = sid_of(&text(&mut ws).await);
    let socket = server.engine.socket(&sid).unwrap();
    socket.send(Message::Text("bye".into())).unwrap();
    socket.close(DisconnectReason::ForcedClose);
    assert_eq!(text(&mut ws).await, "4bye");
    assert_eq!(frame(&mut ws).await, None);
    assert_eq!(server.next().await, Seen::Connect(sid.clone()));
    assert_eq!(server.next().await, Seen::Disconnect(sid, DisconnectReason::ForcedClose));
}

#[tokio::test]
async fn engine_close_ends_every_session_and_refuses_new_ones() {
    let mut server = start_with(config(), false).await;
    let mut a = ws(server.addr, None).await;
    let mut b = ws(server.addr, None).await;
    text(&mut a).await;
    text(&mut b).await;
    server.engine.close();
    assert!(server.engine.is_closed());
    assert_eq!(frame(&mut a).await, None);
    assert_eq!(frame(&mut b).await, None);
    let mut reasons = Vec::new();
    while reasons.len() < 2 {
        if let Seen::Disconnect(_, r) = server.next().await {
            reasons.push(r);
        }
    }
    assert_eq!(reasons, [DisconnectReason::ServerShuttingDown; 2]);
    assert_eq!(server.engine.session_count(), 0);
    let reply = http(server.addr, "GET", &polling(PATH, None), b"").await;
    assert_eq!(reply.status, 400);
}

#[tokio::test]
async fn two_engines_share_one_server_through_the_layer() {
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let handler = Arc::new(Recorder { echo: true, seen: tx });
    let mut second = config();
    second.path = "/socket.io/".to_owned();
    let first = Engine::new(handler.clone(), config());
    let second = Engine::new(handler, second);
    let service = first.layer().layer(second.service());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(switchboard_engine::serve(listener, service));

    let a = http(addr, "GET", &polling("/engine.io/", None), b"").await;
    let b = http(addr, "GET", &polling("/socket.io/", None), b"").await;
    assert_eq!((a.status, b.status), (200, 200));
    assert_eq!((first.session_count(), second.session_count()), (1, 1));
    let sid = sid_of(&b.body);
    // A session belongs to its engine only.
    let other = http(addr, "GET", &polling("/engine.io/", Some(&sid)), b"").await;
    assert_eq!(other.status, 400);
    assert_eq!(http(addr, "GET", "/elsewhere", b"").await.status, 404);
}

/// Waits until the session task says the transport is writable.
async fn writable(socket: &switchboard_engine::Socket) {
    tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while !socket.is_writable() {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("writable in time");
}

#[tokio::test]
async fn volatile_is_dropped_unless_the_transport_is_writable() {
    let server = start_with(config(), false).await;
    let sid = handshake(server.addr).await;
    let socket = server.engine.socket(&sid).unwrap();
    let text = |s: &str| vec![Message::Text(s.to_owned().into())];
    // Polling with no GET waiting: dropped, as in Node.
    assert!(!socket.is_writable());
    assert_eq!(socket.send_volatile(text("dropped")), Ok(false));
    // A GET waits: the first volatile goes; a second one before it is written is dropped.
    let addr = server.addr;
    let target = polling(PATH, Some(&sid));
    let get = tokio::spawn(async move { http(addr, "GET", &target, b"").await });
    writable(&socket).await;
    assert_eq!(socket.send_volatile(text("kept")), Ok(true));
    assert_eq!(socket.send_volatile(text("dropped too")), Ok(false));
    assert_eq!(get.await.unwrap().body, "4kept");
    // A normal send goes first: a volatile right behind it is dropped.
    let target = polling(PATH, Some(&sid));
    let get = tokio::spawn(async move { http(addr, "GET", &target, b"").await });
    writable(&socket).await;
    socket.send(Message::Text("normal".into())).unwrap();
    assert_eq!(socket.send_volatile(text("behind")), Ok(false));
    assert_eq!(get.await.unwrap().body, "4normal");

    // Over WebSocket, an idle transport is writable.
    let mut ws = ws(server.addr, None).await;
    let sid = sid_of(&common::text(&mut ws).await);
    let socket = server.engine.socket(&sid).unwrap();
    writable(&socket).await;
    assert_eq!(socket.send_volatile(text("ws")), Ok(true));
    assert_eq!(common::text(&mut ws).await, "4ws");
}

#[tokio::test]
async fn a_long_conversation_never_stalls() {
    // Thousands of round trips: every wake-up of the session task must leave every input
    // registered for the next one, however many times it ran before.
    let server = start_with(config(), true).await;
    let mut ws = ws(server.addr, None).await;
    let _open = text(&mut ws).await;
    for i in 0..2000 {
        send(&mut ws, &format!("4m{i}")).await;
        assert_eq!(text(&mut ws).await, format!("4m{i}"));
    }
}
