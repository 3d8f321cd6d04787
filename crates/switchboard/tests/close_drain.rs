//! `close()` drains: every packet emitted before the call reaches every client, then the
//! connection closes; handlers running at the call answer their acks; acks the server waits
//! for fail at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use switchboard::prelude::*;
use switchboard::{AckError, SocketIo};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message as Ws;

type Client = tokio_tungstenite::WebSocketStream<TcpStream>;

const CLIENTS: usize = 40;
const PACKETS: usize = 250;
const LIMIT: Duration = Duration::from_secs(20);

/// A WebSocket client joined to the main namespace.
async fn join(addr: SocketAddr) -> Client {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
    ws.next().await.unwrap().unwrap(); // open
    ws.send(Ws::text("40")).await.unwrap();
    let answer = ws.next().await.unwrap().unwrap();
    assert!(answer.to_text().unwrap().starts_with("40"), "{answer:?}");
    ws
}

/// Every event packet until the connection ends, and how it ended (a close frame or not).
async fn read_to_end(mut ws: Client) -> (Vec<String>, bool) {
    let mut events = Vec::new();
    loop {
        match ws.next().await {
            Some(Ok(Ws::Text(t))) if t.starts_with("42") => events.push(t.to_string()),
            Some(Ok(Ws::Close(_))) => return (events, true),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return (events, false),
        }
    }
}

/// The server runs on a runtime of its own, dropped right after `close()` returned (as a
/// process exits after its shutdown): what `close()` did not write by then is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_packet_emitted_before_close_arrives_then_the_connection_closes() {
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    // The server's thread: it owns the server's runtime and drops it at its end.
    let server = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let io = SocketIo::new(Default::default());
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            // The server's accept loop, ended by close().
            tokio::spawn({
                let io = io.clone();
                async move { io.serve(listener).await }
            });
            go_rx.await.unwrap();
            for i in 0..PACKETS {
                io.emit("n", &i).await.unwrap();
            }
            let report = io.close_within(LIMIT).await;
            done_tx.send(report).unwrap();
        });
        drop(runtime);
    });
    let addr = addr_rx.await.unwrap();
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(join(addr).await);
    }
    // The readers: one task per client, each ends with its connection.
    let readers: Vec<_> = clients.into_iter().map(|ws| tokio::spawn(read_to_end(ws))).collect();
    go_tx.send(()).unwrap();
    let report = tokio::time::timeout(LIMIT, done_rx).await.unwrap().unwrap();
    assert!(report.is_complete(), "{report:?}");
    tokio::task::spawn_blocking(move || server.join().unwrap()).await.unwrap();
    let expected: Vec<String> = (0..PACKETS).map(|i| format!(r#"42["n",{i}]"#)).collect();
    for reader in readers {
        let (events, clean) = tokio::time::timeout(LIMIT, reader).await.unwrap().unwrap();
        assert_eq!(events, expected);
        assert!(clean, "the server's close frame ends the connection");
    }
}

/// A handler still running when the close begins answers its ack before the connection
/// closes; an ack the server waits for from a client fails at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_handlers_answer_their_acks_and_awaited_acks_fail() {
    let io = SocketIo::new(Default::default());
    let (ack_tx, mut ack_rx) = tokio::sync::mpsc::unbounded_channel();
    let server = io.clone();
    io.on_connection(move |socket: Socket| {
        let io = server.clone();
        let ack_tx = ack_tx.clone();
        async move {
            socket.on("slow", move || {
                let io = io.clone();
                async move {
                    // The close begins while this handler still works. Its settling waits
                    // for `ask-me` too (half of 2 s), whose ack only the close ends.
                    tokio::spawn(async move { io.close_within(Duration::from_secs(2)).await });
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Ok::<_, HandlerError>("done")
                }
            })?;
            socket.on("ask-me", move |s: Socket| {
                let ack_tx = ack_tx.clone();
                async move {
                    // The client never answers; the close must end the wait, not the timeout.
                    let answer = s.timeout(Duration::from_secs(60)).emit_with_ack("q", &()).await;
                    ack_tx.send(answer.map(|_| ())).unwrap();
                }
            })?;
            Ok::<_, HandlerError>(())
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // The accept loop, ended by close().
    tokio::spawn({
        let io = io.clone();
        async move { io.serve(listener).await }
    });
    let mut asked = join(addr).await;
    asked.send(Ws::text(r#"42["ask-me"]"#)).await.unwrap();
    loop {
        let m = asked.next().await.unwrap().unwrap();
        if m.to_text().unwrap().starts_with(r#"420["q""#) {
            break;
        }
    }
    let mut slow = join(addr).await;
    slow.send(Ws::text(r#"421["slow"]"#)).await.unwrap();
    let (events, clean) = tokio::time::timeout(LIMIT, async {
        let mut acks = Vec::new();
        loop {
            match slow.next().await {
                Some(Ok(Ws::Text(t))) if t.starts_with("43") => acks.push(t.to_string()),
                Some(Ok(Ws::Close(_))) => return (acks, true),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return (acks, false),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(events, [r#"431["done"]"#]);
    assert!(clean);
    let answer =
        tokio::time::timeout(Duration::from_secs(5), ack_rx.recv()).await.unwrap().unwrap();
    assert!(matches!(answer, Err(AckError::Disconnected)), "{answer:?}");
}
