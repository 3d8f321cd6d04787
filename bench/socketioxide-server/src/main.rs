//! The bench behaviour on socketioxide: namespace `/`, every socket joins `room1`; `bc` t emits
//! `m` t to room1; `bcbin` t emits `mb` t and a 4 KiB attachment to room1; `echo` t with an
//! ack answers t. pingInterval 25 s (the default).
//! Prints `listening on http://127.0.0.1:PORT` once bound.

use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Data, SocketRef};

/// The attachment of `bcbin` broadcasts: 4 KiB, allocated once.
static BLOB: std::sync::LazyLock<bytes::Bytes> =
    std::sync::LazyLock::new(|| bytes::Bytes::from(vec![7u8; 4096]));

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut port: u16 = 3000;
    while let Some(arg) = args.next() {
        if arg == "--port" {
            port = args.next().and_then(|p| p.parse().ok()).unwrap_or(3000);
        }
    }
    let (layer, io) = SocketIo::new_layer();
    io.ns("/", async |socket: SocketRef| {
        socket.join("room1");
        socket.on("bc", async |io: SocketIo, Data::<Value>(t): Data<Value>| {
            let _ = io.to("room1").emit("m", &t).await;
        });
        socket.on("bcbin", async |io: SocketIo, Data::<Value>(t): Data<Value>| {
            let _ = io.to("room1").emit("mb", &(t, BLOB.clone())).await;
        });
        socket.on("echo", async |Data::<Value>(t): Data<Value>, ack: AckSender| {
            let _ = ack.send(&t);
        });
    });
    let app = axum::Router::new().layer(layer);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
