//! Rooms, broadcast operators and broadcasts with acks over the fake connection.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::api::io;
use super::harness::{Peer, connected};
use crate::{AckError, DisconnectReason, Event, Socket, SocketIo};

#[tokio::test]
async fn rooms_and_operators() {
    let io = io();
    io.on_connection(|socket: Socket| async move {
        socket
            .on("join", |s: Socket, ev: Event<String>| async move {
                s.join(ev.data.as_str());
                s.emit("joined", &s.rooms().len()).unwrap();
            })
            .unwrap();
        socket
            .on("leave", |s: Socket, ev: Event<String>| async move { s.leave(ev.data.as_str()) })
            .unwrap();
        socket
            .on("say", |s: Socket, ev: Event<(String, String)>| async move {
                s.to(ev.data.0.as_str()).emit("said", &ev.data.1).await.unwrap();
            })
            .unwrap();
        socket
            .on("shout", |s: Socket, ev: Event<String>| async move {
                s.broadcast().emit("shout", &ev.data).await.unwrap();
            })
            .unwrap();
    });
    let mut a = Peer::connect(&io);
    let mut b = Peer::connect(&io);
    let mut c = Peer::connect(&io);
    let a_id = a.join("/").await;
    let b_id = b.join("/").await;
    c.join("/").await;
    for p in [&mut a, &mut b] {
        p.send(r#"2["join","r"]"#);
        assert_eq!(p.recv_text().await, r#"2["joined",2]"#);
    }
    // socket.to(room) excludes the sender.
    a.send(r#"2["say",["r","hi"]]"#);
    assert_eq!(b.recv_text().await, r#"2["said","hi"]"#);
    a.assert_silent().await;
    c.assert_silent().await;
    c.send(r#"2["shout","x"]"#);
    assert_eq!(a.recv_text().await, r#"2["shout","x"]"#);
    assert_eq!(b.recv_text().await, r#"2["shout","x"]"#);
    c.assert_silent().await;

    // Server-wide operators; a socket's own id is a room.
    io.to("r").except(a_id.as_str()).emit("m", &1).await.unwrap();
    assert_eq!(b.recv_text().await, r#"2["m",1]"#);
    a.assert_silent().await;
    io.to(b_id.as_str()).emit("direct", &2).await.unwrap();
    assert_eq!(b.recv_text().await, r#"2["direct",2]"#);
    io.local().volatile().compress(false).emit("all", &3).await.unwrap();
    for p in [&mut a, &mut b, &mut c] {
        assert_eq!(p.recv_text().await, r#"2["all",3]"#);
    }
    b.send(r#"2["leave","r"]"#);
    b.assert_silent().await;
    io.in_("r").emit("m", &4).await.unwrap();
    assert_eq!(a.recv_text().await, r#"2["m",4]"#);
    b.assert_silent().await;
    let mut rooms = io.of("/").rooms().await.unwrap();
    rooms.sort();
    assert!(rooms.iter().any(|r| r == "r"));
}

#[tokio::test]
async fn a_broadcast_is_encoded_once() {
    let io = io();
    let mut a = Peer::connect(&io);
    let mut b = Peer::connect(&io);
    a.join("/").await;
    b.join("/").await;
    io.emit("big", &"x".repeat(1000)).await.unwrap();
    let (ma, mb) = (a.recv().await, b.recv().await);
    match (ma, mb) {
        (switchboard_engine::Message::Text(x), switchboard_engine::Message::Text(y)) => {
            assert_eq!(x.as_bytes().as_ptr(), y.as_bytes().as_ptr(), "the frame is shared");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn server_to_client_acks_with_timeout() {
    let io = io();
    let (mut peer, socket, _) = connected(&io).await;

    let pending = socket.emit_with_ack("q", &1);
    assert_eq!(peer.recv_text().await, r#"20["q",1]"#);
    peer.send(r#"30["a",2]"#);
    let answer = pending.await.unwrap();
    assert_eq!(answer.data::<(String, u8)>().unwrap(), ("a".to_owned(), 2));

    let pending = socket.timeout(Duration::from_millis(100)).emit_with_ack("q", &2);
    assert_eq!(peer.recv_text().await, r#"21["q",2]"#);
    assert!(matches!(pending.await, Err(AckError::Timeout)));
    // A late answer is ignored.
    peer.send("31[]");

    // Binary answers.
    let pending = socket.emit_with_ack("q", &3);
    assert_eq!(peer.recv_text().await, r#"22["q",3]"#);
    peer.send(r#"61-2[{"_placeholder":true,"num":0}]"#);
    peer.send_bin(&[9, 9]);
    let answer = pending.await.unwrap();
    let arg = &answer.payload.args()[0];
    assert_eq!(answer.payload.binary(arg).map(|b| b.to_vec()), Some(vec![9, 9]));

    // Disconnection fails pending acks.
    let (left_tx, left) = tokio::sync::oneshot::channel();
    let left_tx = Arc::new(Mutex::new(Some(left_tx)));
    socket.on_disconnect(move |_s: Socket, _r: DisconnectReason| {
        let tx = left_tx.lock().unwrap().take();
        async move { tx.unwrap().send(()).unwrap() }
    });
    let pending = socket.emit_with_ack("q", &4);
    peer.recv_text().await;
    peer.send("1");
    assert!(matches!(pending.await, Err(AckError::Disconnected)));
    left.await.unwrap();
    assert!(matches!(socket.emit_with_ack("q", &5).await, Err(AckError::Emit(_))));
    // The connection is still open, but this namespace is left: nothing more goes out for it.
    assert!(matches!(socket.emit("late", &1), Err(crate::EmitError::Closed)));
    peer.assert_silent().await;
}

#[tokio::test(start_paused = true)]
async fn broadcast_with_ack_collects_every_answer() {
    let io = io();
    let mut a = Peer::connect(&io);
    let mut b = Peer::connect(&io);
    let a_id = a.join("/").await;
    b.join("/").await;
    let op = io.timeout(Duration::from_millis(500));
    let task = tokio::spawn(async move { op.emit_with_ack("ping", &1).await });
    let ta = a.recv_text().await;
    let tb = b.recv_text().await;
    assert_eq!(ta, r#"20["ping",1]"#);
    assert_eq!(ta, tb, "one packet, one ack id, for every recipient");
    a.send(r#"30["pong-a"]"#);
    b.send(r#"30["pong-b"]"#);
    let mut answers: Vec<String> =
        task.await.unwrap().unwrap().iter().map(|r| r.response.data::<String>().unwrap()).collect();
    answers.sort();
    assert_eq!(answers, ["pong-a", "pong-b"]);

    // Only one answers in time.
    let op = io.timeout(Duration::from_millis(500));
    let task = tokio::spawn(async move { op.emit_with_ack("ping", &2).await });
    assert_eq!(a.recv_text().await, r#"21["ping",2]"#);
    b.recv_text().await;
    a.send(r#"31["late?"]"#);
    match task.await.unwrap() {
        Err(AckError::Incomplete { received, expected }) => {
            assert_eq!(expected, 2);
            assert_eq!(received.len(), 1);
            assert_eq!(received[0].socket.as_str(), a_id);
        }
        other => panic!("{other:?}"),
    }
}

/// A parser that counts encodes, to show the seam and that a broadcast is encoded once.
#[derive(Debug, Default)]
struct Counting(std::sync::atomic::AtomicUsize);

impl switchboard_proto::socket::Parser for Counting {
    fn encode(
        &self,
        packet: &switchboard_proto::socket::Packet,
    ) -> Vec<switchboard_engine::Message> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        packet.encode()
    }

    fn decoder(&self) -> Box<dyn switchboard_proto::socket::Decode> {
        switchboard_proto::socket::JsonParser::default().decoder()
    }
}

#[tokio::test]
async fn a_custom_parser_encodes_each_broadcast_once() {
    let parser = Arc::new(Counting::default());
    let io = SocketIo::builder().parser(parser.clone()).build();
    let mut peers = Vec::new();
    for _ in 0..5 {
        let mut p = Peer::connect(&io);
        p.join("/").await;
        peers.push(p);
    }
    let before = parser.0.load(std::sync::atomic::Ordering::SeqCst);
    io.emit("e", &1).await.unwrap();
    for p in &mut peers {
        assert_eq!(p.recv_text().await, r#"2["e",1]"#);
    }
    assert_eq!(parser.0.load(std::sync::atomic::Ordering::SeqCst) - before, 1);
}
