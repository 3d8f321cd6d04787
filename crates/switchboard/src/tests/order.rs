//! A connection's packets are handled one at a time, in order, over either transport.

use std::time::Duration;

use serde_json::Value;
use switchboard_engine::TransportKind;
use tokio::sync::mpsc;

use super::harness::Peer;
use crate::{Event, Socket, SocketIo};

/// A server whose `wait` handler waits for the client's answer to a question, `boom` panics,
/// and `log` and `wait` report that they ran, in order, on the returned channel.
fn server() -> (SocketIo, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let io = SocketIo::new(Default::default());
    io.on_connection(move |socket: Socket| {
        let (wait_tx, log_tx) = (tx.clone(), tx.clone());
        async move {
            socket
                .on("wait", move |s: Socket, _ev: Event<Value>| {
                    let tx = wait_tx.clone();
                    async move {
                        let answer = s.timeout(Duration::from_secs(5)).emit_with_ack("q", &1).await;
                        let answer = answer.map(|a| a.data::<String>().unwrap_or_default());
                        tx.send(format!("wait: {answer:?}")).unwrap();
                    }
                })
                .unwrap();
            socket
                .on("log", move |_s: Socket, ev: Event<String>| {
                    let tx = log_tx.clone();
                    async move { tx.send(ev.data).unwrap() }
                })
                .unwrap();
            socket.on("boom", |_s: Socket, _ev: Event<Value>| async move { boom() }).unwrap();
        }
    });
    (io, rx)
}

async fn packets_wait_for_the_handler_before_them(transport: TransportKind) {
    let (io, mut ran) = server();
    let mut peer = Peer::connect_over(&io, "/socket.io/?EIO=4", transport);
    peer.join("/").await;

    // `wait` asks the client and waits; `a` arrives meanwhile and must wait behind it.
    peer.send(r#"2["wait",0]"#);
    let question = peer.recv_text().await;
    assert_eq!(question, r#"20["q",1]"#, "{transport:?}");
    peer.send(r#"2["log","a"]"#);
    tokio::task::yield_now().await;
    assert!(ran.try_recv().is_err(), "{transport:?}: `a` ran before `wait` ended");

    // The answer ends `wait`, then `a` runs. A panic ends its own handling only: `b` behind
    // it still runs.
    peer.send(r#"30["yes"]"#);
    peer.send(r#"2["boom",0]"#);
    peer.send(r#"2["log","b"]"#);
    for expected in [r#"wait: Ok("yes")"#, "a", "b"] {
        let next = tokio::time::timeout(Duration::from_secs(5), ran.recv()).await;
        assert_eq!(next.ok().flatten().as_deref(), Some(expected), "{transport:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn over_polling() {
    packets_wait_for_the_handler_before_them(TransportKind::Polling).await;
}

#[tokio::test(start_paused = true)]
async fn over_websocket() {
    packets_wait_for_the_handler_before_them(TransportKind::WebSocket).await;
}

/// A handler body that panics (a function: a panicking async block would have no output type).
fn boom() {
    panic!("a handler that panics");
}

/// Drainers end (no packet left to handle) and start again many times while packets arrive
/// from another thread: the order holds across drainers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_order_holds_across_drainers() {
    const N: u32 = 2000;
    let (tx, mut ran) = mpsc::unbounded_channel();
    let config =
        crate::SocketIoConfig { max_pending_packets: 2 * N as usize, ..Default::default() };
    let io = SocketIo::new(config);
    io.on_connection(move |socket: Socket| {
        let tx = tx.clone();
        async move {
            socket
                .on("n", move |crate::Data(n): crate::Data<u32>| {
                    let tx = tx.clone();
                    async move {
                        // Every third handler waits once: its drainer may find its inbox
                        // empty and end while packets arrive.
                        if n % 3 == 0 {
                            tokio::task::yield_now().await;
                        }
                        tx.send(n).unwrap();
                    }
                })
                .unwrap();
        }
    });
    let mut peer = Peer::connect(&io);
    peer.join("/").await;
    for n in 0..N {
        peer.send(&format!(r#"2["n",{n}]"#));
        if n % 7 == 0 {
            tokio::task::yield_now().await;
        }
    }
    for expected in 0..N {
        let next = tokio::time::timeout(Duration::from_secs(10), ran.recv()).await;
        assert_eq!(next.ok().flatten(), Some(expected));
    }
}

/// A client sending faster than its handlers run is closed once `max_pending_packets` wait;
/// the waiting handler's socket is disconnected (no drainer is left waiting for a packet).
#[tokio::test(start_paused = true)]
async fn too_many_waiting_packets_close_the_connection() {
    let (tx, mut left) = mpsc::unbounded_channel();
    let config = crate::SocketIoConfig { max_pending_packets: 2, ..Default::default() };
    let io = SocketIo::new(config);
    io.on_connection(move |socket: Socket| {
        let tx = tx.clone();
        async move {
            socket.on("stuck", std::future::pending::<()>).unwrap();
            socket.on_disconnect(move |reason: crate::DisconnectReason| {
                let tx = tx.clone();
                async move { tx.send(reason).unwrap() }
            });
        }
    });
    let mut peer = Peer::connect(&io);
    peer.join("/").await;
    for _ in 0..6 {
        peer.send(r#"2["stuck"]"#);
        tokio::task::yield_now().await;
    }
    assert_eq!(peer.wait_closed().await, switchboard_engine::DisconnectReason::TransportError);
    let reason = tokio::time::timeout(Duration::from_secs(5), left.recv()).await;
    assert_eq!(reason.ok().flatten(), Some(crate::DisconnectReason::TransportError));
}
