//! `close()`: the disconnect handlers have run when it returns, and `serve` stops accepting.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use switchboard::{DisconnectReason, Socket, SocketIo};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message as Ws;

#[tokio::test]
async fn close_waits_for_disconnect_handlers_and_stops_serving() {
    let io = SocketIo::new(Default::default());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (connected_tx, mut connected) = tokio::sync::mpsc::unbounded_channel();
    let s = seen.clone();
    io.on_connection(move |socket: Socket| {
        let seen = s.clone();
        let connected_tx = connected_tx.clone();
        async move {
            socket.on_disconnect(move |_s: Socket, r: DisconnectReason| {
                let seen = seen.clone();
                async move {
                    // A handler that takes a while: close() must still wait for it.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    seen.lock().unwrap().push(r.to_string());
                }
            });
            connected_tx.send(()).unwrap();
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn({
        let io = io.clone();
        async move { io.serve(listener).await }
    });

    let mut clients = Vec::new();
    for _ in 0..2 {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let (mut ws, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
        ws.next().await.unwrap().unwrap(); // open
        futures_util::SinkExt::send(&mut ws, Ws::text("40")).await.unwrap();
        ws.next().await.unwrap().unwrap(); // connect answer
        clients.push(ws);
    }
    for _ in 0..2 {
        tokio::time::timeout(Duration::from_secs(5), connected.recv()).await.unwrap();
    }

    tokio::time::timeout(Duration::from_secs(5), io.close()).await.expect("close in time");
    assert_eq!(*seen.lock().unwrap(), ["server shutting down", "server shutting down"]);
    assert!(io.of("/").sockets().is_empty());
    // serve() returned and dropped the listener: new connections are refused.
    let served = tokio::time::timeout(Duration::from_secs(5), server).await.unwrap().unwrap();
    assert!(served.is_ok());
    assert!(TcpStream::connect(addr).await.is_err(), "nothing listens anymore");
}
