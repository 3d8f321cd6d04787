//! Connection state recovery over the fake connection.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use switchboard_engine::DisconnectReason as EngineReason;

use super::harness::Peer;
use crate::{ConnectionStateRecovery, DisconnectReason, Socket, SocketIo, SocketIoConfig};

fn io() -> SocketIo {
    let config = SocketIoConfig {
        connection_state_recovery: Some(ConnectionStateRecovery::default()),
        ..Default::default()
    };
    let io = SocketIo::new(config);
    io.on_connection(|socket: Socket| async move {
        if !socket.recovered() {
            socket.join("room1");
            socket.set_data(&json!({"user": "ana"})).unwrap();
        }
    });
    io
}

/// Joins `/` and returns (sid, pid).
async fn join(peer: &mut Peer, auth: Option<Value>) -> (String, String) {
    match auth {
        Some(a) => peer.send(&format!("0{a}")),
        None => peer.send("0"),
    }
    let text = peer.recv_text().await;
    let v: Value = serde_json::from_str(text.strip_prefix('0').unwrap()).unwrap();
    (v["sid"].as_str().unwrap().to_owned(), v["pid"].as_str().unwrap().to_owned())
}

/// Waits until no socket is left in `/` (the client task handled the close).
async fn gone(io: &SocketIo) {
    for _ in 0..1000 {
        if io.of("/").sockets().is_empty() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the socket did not leave");
}

/// The event name and last argument of `2["name",...,last]`.
fn event(text: &str) -> (String, Value) {
    let v: Vec<Value> = serde_json::from_str(text.strip_prefix('2').unwrap()).unwrap();
    (v[0].as_str().unwrap().to_owned(), v.last().cloned().unwrap())
}

#[tokio::test]
async fn offsets_on_recoverable_packets_only() {
    let io = io();
    let mut peer = Peer::connect(&io);
    let (sid, pid) = join(&mut peer, None).await;
    assert_ne!(sid, pid);
    io.emit("all", &1).await.unwrap();
    let (name, first) = event(&peer.recv_text().await);
    assert_eq!(name, "all");
    let first: u64 = first.as_str().unwrap().parse().unwrap();
    let socket = io.of("/").sockets().pop().unwrap();
    socket.emit("own", &2).unwrap();
    assert_eq!(event(&peer.recv_text().await), ("own".into(), json!((first + 1).to_string())));
    io.volatile().emit("vol", &3).await.unwrap();
    assert_eq!(peer.recv_text().await, r#"2["vol",3]"#);
    socket.volatile().emit("vol", &4).unwrap();
    assert_eq!(peer.recv_text().await, r#"2["vol",4]"#);
    let _ack = socket.emit_with_ack("ask", &5);
    assert_eq!(peer.recv_text().await, r#"20["ask",5]"#);
}

#[tokio::test]
async fn a_dropped_socket_recovers_id_rooms_data_and_missed_packets_in_order() {
    let io = io();
    type Seen = (bool, Vec<String>, Option<Value>);
    let recovered: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let seen = recovered.clone();
    io.on_connection(move |socket: Socket| {
        let seen = seen.clone();
        async move {
            let mut rooms: Vec<String> = socket.rooms().iter().map(|r| r.to_string()).collect();
            rooms.sort();
            seen.lock().unwrap().push((socket.recovered(), rooms, socket.data::<Value>().unwrap()));
        }
    });
    let mut peer = Peer::connect(&io);
    let (sid, pid) = join(&mut peer, None).await;
    io.emit("n", &0).await.unwrap();
    let (_, offset) = event(&peer.recv_text().await);
    peer.conn.close_from_client();
    gone(&io).await;
    // While it is away: to its room, to everyone, to it alone, volatile (lost), and to a room
    // it is not in (not for it).
    io.to("room1").emit("n", &1).await.unwrap();
    io.emit("n", &2).await.unwrap();
    io.to(sid.as_str()).emit("n", &3).await.unwrap();
    io.volatile().emit("n", &-1).await.unwrap();
    io.to("other").emit("n", &-2).await.unwrap();
    io.emit("n", &4).await.unwrap();

    let mut again = Peer::connect(&io);
    again.send(&format!("0{}", json!({"pid": pid, "offset": offset})));
    for n in 1..=4 {
        let text = again.recv_text().await;
        let v: Vec<Value> = serde_json::from_str(text.strip_prefix('2').unwrap()).unwrap();
        assert_eq!(v[1], json!(n), "replayed in order: {text}");
    }
    let text = again.recv_text().await;
    let v: Value = serde_json::from_str(text.strip_prefix('0').unwrap()).unwrap();
    assert_eq!((v["sid"].as_str(), v["pid"].as_str()), (Some(sid.as_str()), Some(pid.as_str())));
    io.emit("n", &5).await.unwrap();
    let (_, last) = event(&again.recv_text().await);
    assert!(last.is_string());
    again.assert_silent().await;
    let log = recovered.lock().unwrap().clone();
    let mut rooms = vec!["room1".to_owned(), sid.clone()];
    rooms.sort();
    assert_eq!(log.len(), 2);
    assert_eq!(log[1], (true, rooms, Some(json!({"user": "ana"}))));
}

#[tokio::test]
async fn an_unknown_offset_or_a_namespace_disconnect_gives_a_new_session() {
    let io = io();
    let mut peer = Peer::connect(&io);
    let (sid, pid) = join(&mut peer, None).await;
    peer.conn.close_from_client();
    gone(&io).await;
    let mut again = Peer::connect(&io);
    let (sid2, pid2) = join(&mut again, Some(json!({"pid": pid, "offset": "999"}))).await;
    assert_ne!(sid, sid2);
    assert_ne!(pid, pid2);
    // Leaving on purpose saves nothing.
    io.emit("n", &0).await.unwrap();
    let (_, offset) = event(&again.recv_text().await);
    again.send("1");
    gone(&io).await;
    let mut third = Peer::connect(&io);
    let (sid3, _) = join(&mut third, Some(json!({"pid": pid2, "offset": offset}))).await;
    assert_ne!(sid3, sid2);
}

#[tokio::test(start_paused = true)]
async fn the_session_expires_after_max_disconnection_duration() {
    let io = io();
    let mut peer = Peer::connect(&io);
    let (sid, pid) = join(&mut peer, None).await;
    io.emit("n", &0).await.unwrap();
    let (_, offset) = event(&peer.recv_text().await);
    peer.conn.close_from_client();
    gone(&io).await;
    tokio::time::advance(Duration::from_secs(119)).await;
    let mut within = Peer::connect(&io);
    let (sid2, _) = join(&mut within, Some(json!({"pid": pid, "offset": offset}))).await;
    assert_eq!(sid2, sid, "recovered within the window");
    within.conn.close_from_client();
    gone(&io).await;
    tokio::time::advance(Duration::from_secs(121)).await;
    let mut late = Peer::connect(&io);
    let (sid3, _) = join(&mut late, Some(json!({"pid": pid, "offset": offset}))).await;
    assert_ne!(sid3, sid, "expired");
}

#[tokio::test]
async fn a_half_open_connection_is_taken_over() {
    let io = io();
    let reasons: Arc<Mutex<Vec<DisconnectReason>>> = Arc::default();
    let r = reasons.clone();
    io.on_connection(move |socket: Socket| {
        let r = r.clone();
        async move {
            socket.on_disconnect(move |_s: Socket, reason: DisconnectReason| {
                let r = r.clone();
                async move { r.lock().unwrap().push(reason) }
            });
        }
    });
    let mut peer = Peer::connect(&io);
    let (sid, pid) = join(&mut peer, None).await;
    io.emit("n", &0).await.unwrap();
    let (_, offset) = event(&peer.recv_text().await);
    // The old connection still looks open; these reach it but the client never sees them.
    io.emit("n", &1).await.unwrap();
    io.to("room1").emit("n", &2).await.unwrap();
    let mut again = Peer::connect(&io);
    again.send(&format!("0{}", json!({"pid": pid, "offset": offset})));
    for n in 1..=2 {
        let text = again.recv_text().await;
        let v: Vec<Value> = serde_json::from_str(text.strip_prefix('2').unwrap()).unwrap();
        assert_eq!(v[1], json!(n));
    }
    let text = again.recv_text().await;
    assert!(text.starts_with(&format!(r#"0{{"sid":"{sid}""#)), "{text}");
    assert_eq!(peer.wait_closed().await, EngineReason::ForcedClose, "the stale one is closed");
    assert_eq!(reasons.lock().unwrap().clone(), vec![DisconnectReason::SessionTakenOver]);
    assert_eq!(io.of("/").sockets().len(), 1);
    io.emit("n", &3).await.unwrap();
    assert_eq!(event(&again.recv_text().await).0, "n");
}

#[tokio::test]
async fn an_outgoing_listener_may_emit_while_a_logged_broadcast_is_delivered() {
    let io = io();
    io.on_connection(|socket: Socket| async move {
        socket.on_any_outgoing(|s, event, _payload| {
            if event.as_str() == "n" {
                s.emit("echo", &1).unwrap();
            }
        });
    });
    let mut peer = Peer::connect(&io);
    join(&mut peer, None).await;
    io.emit("n", &0).await.unwrap();
    let (first, o1) = event(&peer.recv_text().await);
    let (second, o2) = event(&peer.recv_text().await);
    assert_eq!((first.as_str(), second.as_str()), ("n", "echo"));
    let (o1, o2): (u64, u64) =
        (o1.as_str().unwrap().parse().unwrap(), o2.as_str().unwrap().parse().unwrap());
    assert_eq!(o2, o1 + 1, "the listener's packet is logged right after");
}

#[tokio::test]
async fn without_skip_middlewares_they_run_and_a_refusal_keeps_the_session() {
    let config = SocketIoConfig {
        connection_state_recovery: Some(ConnectionStateRecovery {
            skip_middlewares: false,
            ..Default::default()
        }),
        ..Default::default()
    };
    let io = SocketIo::new(config);
    let seen: Arc<Mutex<Vec<bool>>> = Arc::default();
    let s = seen.clone();
    io.use_middleware(move |socket: Socket| {
        let s = s.clone();
        async move {
            s.lock().unwrap().push(socket.recovered());
            if socket.handshake().auth.get("refuse").is_some() {
                Err(crate::MiddlewareError::new("refused"))
            } else {
                Ok(())
            }
        }
    });
    let mut peer = Peer::connect(&io);
    let (sid, pid) = join(&mut peer, None).await;
    io.emit("n", &0).await.unwrap();
    let (_, offset) = event(&peer.recv_text().await);
    peer.conn.close_from_client();
    gone(&io).await;
    let mut refused = Peer::connect(&io);
    refused.send(&format!("0{}", json!({"pid": pid, "offset": offset, "refuse": true})));
    let text = refused.recv_text().await;
    assert!(text.starts_with(r#"4{"message":"refused""#), "{text}");
    let mut again = Peer::connect(&io);
    let (sid2, _) = join(&mut again, Some(json!({"pid": pid, "offset": offset}))).await;
    assert_eq!(sid2, sid, "the refused attempt kept the session");
    assert_eq!(seen.lock().unwrap().clone(), vec![false, true, true]);
}
