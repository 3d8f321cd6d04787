//! A chat server with rooms, mounted in axum (the README example).
//!
//! ```text
//! cargo run -p switchboard --example chat
//! ```
use axum::{Router, routing::get};
use serde::Deserialize;
use switchboard::{Event, Socket, SocketIo};

#[derive(Deserialize)]
struct Chat {
    room: String,
    text: String,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let io = SocketIo::new(Default::default());
    io.on_connection(|socket: Socket| async move {
        socket.on("join", |s: Socket, ev: Event<String>| async move { s.join(ev.data) });
        socket.on("chat", |s: Socket, ev: Event<Chat>| async move {
            let _ = s.to(ev.data.room).emit("chat", &ev.data.text).await;
        });
    });
    let app = Router::new().route("/", get(|| async { "chat" })).layer(io.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app).await
}
