//! Disconnection while handlers still run.

use std::time::Duration;

use serde_json::Value;
use switchboard_engine::{DisconnectReason as EngineReason, TransportKind};
use tokio::sync::mpsc;

use super::harness::Peer;
use crate::conn::Conn;
use crate::{AckError, DisconnectReason, Event, Socket, SocketIo};

/// What the server saw, in order.
#[derive(Debug, PartialEq)]
enum Seen {
    Ack(String),
    Disconnect(String, usize),
}

/// A server whose `wait` handler waits for an ack from the client (no timeout) and whose
/// `forever` handler never ends.
fn server(tx: mpsc::UnboundedSender<Seen>) -> SocketIo {
    let io = SocketIo::new(Default::default());
    io.on_connection(move |socket: Socket| {
        let tx = tx.clone();
        async move {
            socket.join("room");
            let t = tx.clone();
            socket
                .on("wait", move |s: Socket, _ev: Event<Value>| {
                    let t = t.clone();
                    async move {
                        let answer = s.emit_with_ack("question", &1).await;
                        let seen = match answer {
                            Ok(_) => "answered".to_owned(),
                            Err(AckError::Disconnected) => "disconnected".to_owned(),
                            Err(e) => e.to_string(),
                        };
                        t.send(Seen::Ack(seen)).unwrap();
                    }
                })
                .unwrap();
            socket
                .on("forever", |_s: Socket, _ev: Event<Value>| std::future::pending::<()>())
                .unwrap();
            socket.on_disconnect(move |s: Socket, r: DisconnectReason| {
                let t = tx.clone();
                async move {
                    let left = s.namespace().sockets().len();
                    t.send(Seen::Disconnect(r.to_string(), left)).unwrap();
                }
            });
        }
    });
    io
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap()
}

#[tokio::test]
async fn a_pending_ack_does_not_keep_a_closed_socket() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let io = server(tx);
    let mut peer = Peer::connect(&io);
    peer.join("/").await;
    peer.send(r#"2["wait"]"#);
    assert_eq!(peer.recv_text().await, r#"20["question",1]"#);
    peer.conn.close(EngineReason::TransportClose);
    let mut seen = vec![next(&mut rx).await, next(&mut rx).await];
    seen.sort_by_key(|s| matches!(s, Seen::Disconnect(..)));
    assert_eq!(
        seen,
        [Seen::Ack("disconnected".into()), Seen::Disconnect("transport close".into(), 0)]
    );
    assert!(io.of("/").sockets().is_empty());
    assert!(io.of("/").rooms().await.unwrap().is_empty());
    assert!(io.fetch_sockets().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_namespace_disconnect_is_not_held_back_by_a_pending_ack() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let io = server(tx);
    let mut peer = Peer::connect(&io);
    peer.join("/").await;
    peer.send(r#"2["wait"]"#);
    assert_eq!(peer.recv_text().await, r#"20["question",1]"#);
    peer.send("1");
    assert_eq!(next(&mut rx).await, Seen::Ack("disconnected".into()));
    assert_eq!(next(&mut rx).await, Seen::Disconnect("client namespace disconnect".into(), 0));
    assert_eq!(peer.closed(), None, "the connection stays open");
}

#[tokio::test]
async fn a_handler_that_never_ends_does_not_keep_a_closed_socket() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let io = server(tx);
    let mut peer = Peer::connect(&io);
    peer.join("/").await;
    peer.send(r#"2["forever"]"#);
    peer.conn.close(EngineReason::PingTimeout);
    assert_eq!(next(&mut rx).await, Seen::Disconnect("ping timeout".into(), 0));
    assert!(io.fetch_sockets().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_disconnect_queued_behind_a_waiting_handler_keeps_its_reason_at_the_close() {
    disconnect_queued_behind_a_waiting_handler(TransportKind::WebSocket).await;
    disconnect_queued_behind_a_waiting_handler(TransportKind::Polling).await;
}

async fn disconnect_queued_behind_a_waiting_handler(transport: TransportKind) {
    // The official client's `socket.close()` right after an event: the event's handler
    // waits, the DISCONNECT queues behind it, and the transport closes. The client left on
    // purpose, as Node (which reads every packet on arrival) would report.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let io = server(tx);
    let mut peer = Peer::connect_over(&io, "/socket.io/?EIO=4", transport);
    peer.join("/").await;
    peer.send(r#"2["forever"]"#);
    peer.send(r#"2["forever"]"#);
    peer.send("1");
    peer.conn.close(EngineReason::TransportClose);
    assert_eq!(next(&mut rx).await, Seen::Disconnect("client namespace disconnect".into(), 0));
    assert!(io.fetch_sockets().await.unwrap().is_empty());
}

#[tokio::test]
async fn close_is_not_held_back_by_a_pending_ack() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let io = server(tx);
    let mut peer = Peer::connect(&io);
    peer.join("/").await;
    peer.send(r#"2["wait"]"#);
    assert_eq!(peer.recv_text().await, r#"20["question",1]"#);
    io.close().await;
    let mut seen = vec![next(&mut rx).await, next(&mut rx).await];
    seen.sort_by_key(|s| matches!(s, Seen::Disconnect(..)));
    assert_eq!(
        seen,
        [Seen::Ack("disconnected".into()), Seen::Disconnect("server shutting down".into(), 0)]
    );
}

#[tokio::test(start_paused = true)]
async fn close_waits_for_disconnect_handlers_and_not_for_clients_given_up() {
    let io = SocketIo::new(Default::default());
    let (release_tx, release_rx) = tokio::sync::watch::channel(false);
    io.on_connection(move |socket: Socket| {
        let release = release_rx.clone();
        async move {
            socket.on_disconnect(move |_s: Socket, _r: DisconnectReason| {
                let mut release = release.clone();
                async move {
                    let _ = release.wait_for(|r| *r).await;
                }
            });
        }
    });
    let mut peer = Peer::connect(&io);
    peer.join("/").await;
    // A connection that never joined and was given up: it holds nothing back.
    drop(Peer::connect(&io));
    let closing = tokio::spawn({
        let io = io.clone();
        async move { io.close().await }
    });
    // Well within the grace period: the disconnect handler still waits, so close does too.
    tokio::time::sleep(SocketIo::CLOSE_GRACE / 2).await;
    assert!(!closing.is_finished());
    release_tx.send_replace(true);
    tokio::time::timeout(SocketIo::CLOSE_GRACE / 4, closing).await.unwrap().unwrap();
}
