//! A chat server with rooms, mounted in axum (the README example).
//!
//! ```text
//! cargo run -p switchboard --example chat
//! ```
use axum::{Router, routing::get};
use serde::Deserialize;
use switchboard::prelude::*;

#[derive(Deserialize)]
struct Chat {
    room: String,
    text: String,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let io = SocketIo::new(Default::default());
    io.on_connection(|socket: Socket| async move {
        socket.on("join", |s: Socket, Data(room): Data<String>| async move { s.join(room) })?;
        socket.on("chat", |s: Socket, Data(chat): Data<Chat>| async move {
            s.to(chat.room).emit("chat", &chat.text).await
        })
    });
    let app = Router::new().route("/", get(|| async { "chat" })).layer(io.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
