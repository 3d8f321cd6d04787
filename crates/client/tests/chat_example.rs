//! The `chat` example against a small in-process chat server that speaks the demo chat's
//! protocol: `room:join`, `message:send` and `message:new` on namespace `/chat`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../examples/chat_client.rs"]
#[allow(dead_code)]
mod chat;
mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::WAIT;
use common::ours::{OurServer, serve_on};
use serde_json::{Value, json};
use switchboard as server;
use tokio::io::{AsyncWriteExt, BufReader, DuplexStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The chat's state, kept across server restarts.
#[derive(Default)]
struct Chat {
    /// Messages per room, in `seq` order.
    rooms: HashMap<String, Vec<Value>>,
    /// The ack of each `(user, clientId)` already stored.
    sent: HashMap<(String, String), Value>,
}

fn lock(chat: &Mutex<Chat>) -> std::sync::MutexGuard<'_, Chat> {
    chat.lock().unwrap()
}

/// A chat server with dev-mode auth (`{ username }`).
fn chat_server(chat: Arc<Mutex<Chat>>, port: u16) -> OurServer {
    let io = server::SocketIo::new(server::SocketIoConfig::default());
    let ns = io.of("/chat");
    ns.use_middleware(|socket: server::Socket| async move {
        match socket.handshake().auth.get("username").and_then(Value::as_str) {
            Some(name) if !name.is_empty() => Ok(()),
            _ => Err(server::MiddlewareError::new("a username is required")),
        }
    });
    ns.on_connection(move |socket: server::Socket| {
        let chat = chat.clone();
        async move {
            let user = socket.handshake().auth["username"].as_str().unwrap().to_owned();
            socket.on("room:join", {
                let chat = chat.clone();
                move |s: server::Socket, ev: server::Event<Value>| {
                    let chat = chat.clone();
                    async move {
                        let room = ev.data["roomId"].as_str().unwrap().to_owned();
                        s.join(room.clone());
                        let history = lock(&chat).rooms.get(&room).cloned().unwrap_or_default();
                        let ack = json!({ "ok": true, "history": history, "members": [] });
                        let _ = ev.ack.unwrap().send(&ack);
                    }
                }
            })?;
            socket.on("message:send", move |s: server::Socket, ev: server::Event<Value>| {
                let (chat, user) = (chat.clone(), user.clone());
                async move {
                    let room = ev.data["roomId"].as_str().unwrap().to_owned();
                    if !s.rooms().iter().any(|r| r.as_ref() == room) {
                        let error = json!({ "code": "not_member", "message": "join first" });
                        let _ = ev.ack.unwrap().send(&json!({ "ok": false, "error": error }));
                        return;
                    }
                    let key = (user.clone(), ev.data["clientId"].as_str().unwrap().to_owned());
                    let (ack, new) = {
                        let mut chat = lock(&chat);
                        match chat.sent.get(&key) {
                            Some(ack) => (ack.clone(), None),
                            None => {
                                let messages = chat.rooms.entry(room.clone()).or_default();
                                let seq = messages.len() + 1;
                                let message = json!({
                                    "id": format!("{room}-{seq}"), "roomId": room, "seq": seq,
                                    "userId": user, "username": user, "text": ev.data["text"],
                                    "ts": 0, "clientId": key.1,
                                });
                                messages.push(message.clone());
                                let ack = json!({
                                    "ok": true, "id": message["id"], "seq": seq, "ts": 0
                                });
                                chat.sent.insert(key, ack.clone());
                                (ack, Some(message))
                            }
                        }
                    };
                    if let Some(message) = new {
                        let _ = s.namespace().to(room).emit("message:new", &message).await;
                    }
                    let _ = ev.ack.unwrap().send(&ack);
                }
            })?;
            Ok::<_, server::ReservedEventName>(())
        }
    });
    serve_on(io, port)
}

/// One running chat client: what it prints, and its stdin.
struct Client {
    lines: mpsc::UnboundedReceiver<String>,
    stdin: Option<DuplexStream>,
    task: JoinHandle<anyhow::Result<()>>,
}

fn start_client(url: &str, name: &str) -> Client {
    let args = chat::Args { url: url.to_owned(), room: "lobby".to_owned(), name: name.to_owned() };
    let (stdin, input) = tokio::io::duplex(1024);
    let (out, lines) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move { chat::run(&args, BufReader::new(input), out).await });
    Client { lines, stdin: Some(stdin), task }
}

impl Client {
    /// Waits for the printed line `expected`; returns the lines printed before it.
    async fn expect(&mut self, expected: &str) -> Vec<String> {
        let mut before = Vec::new();
        tokio::time::timeout(WAIT, async {
            loop {
                let line = self.lines.recv().await.expect("the chat ended");
                if line == expected {
                    return;
                }
                before.push(line);
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no line {expected:?}; got {before:?}"));
        before
    }

    async fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(format!("{line}\n").as_bytes()).await.unwrap();
    }

    /// Ends the input: the chat returns once every line is acknowledged.
    async fn finish(mut self) {
        drop(self.stdin.take());
        tokio::time::timeout(WAIT, self.task).await.expect("chat did not end").unwrap().unwrap();
    }
}

#[tokio::test]
async fn chat_example_sends_and_prints_messages() {
    let chat = Arc::new(Mutex::new(Chat::default()));
    let server = chat_server(chat.clone(), 0);
    let mut bob = start_client(&server.url(), "bob");
    bob.expect("* joined lobby (0 members)").await;
    // Typed at once: the line waits until the room is joined (only members may send).
    let mut alice = start_client(&server.url(), "alice");
    alice.type_line("hello bob").await;
    alice.expect("* joined lobby (0 members)").await;
    alice.type_line("   ").await; // blank lines are not sent
    alice.type_line("how are you?").await;
    bob.expect("alice: hello bob").await;
    assert!(bob.expect("alice: how are you?").await.is_empty(), "nothing in between");
    assert!(alice.expect("alice: hello bob").await.is_empty(), "sent after the join, not refused");
    bob.type_line("fine").await;
    alice.expect("bob: fine").await;

    // A newcomer gets the history, each message once.
    let mut carol = start_client(&server.url(), "carol");
    let before = carol.expect("alice: hello bob").await;
    assert_eq!(before, ["* connected", "* joined lobby (0 members)"]);
    carol.expect("alice: how are you?").await;
    carol.expect("bob: fine").await;
    alice.finish().await;
    bob.finish().await;
    carol.finish().await;
    let stored: Vec<Value> = lock(&chat).rooms["lobby"].iter().map(|m| m["text"].clone()).collect();
    assert_eq!(stored, ["hello bob", "how are you?", "fine"]);
}

#[tokio::test]
async fn chat_example_reconnects_after_a_server_restart() {
    let chat = Arc::new(Mutex::new(Chat::default()));
    let server = chat_server(chat.clone(), 0);
    let (url, port) = (server.url(), server.port);
    let mut alice = start_client(&url, "alice");
    let mut bob = start_client(&url, "bob");
    alice.expect("* joined lobby (0 members)").await;
    bob.expect("* joined lobby (0 members)").await;
    alice.type_line("before").await;
    bob.expect("alice: before").await;

    server.stop().await;
    alice.expect("* disconnected: transport close").await;
    bob.expect("* disconnected: transport close").await;
    // Typed while the server is down: buffered, sent once reconnected.
    alice.type_line("while down").await;
    alice.expect("* reconnecting (attempt 1)").await;

    let _server = chat_server(chat.clone(), port);
    alice.expect("* joined lobby (0 members)").await;
    bob.expect("* joined lobby (0 members)").await;
    // Bob gets it live or in the history of his rejoin, once either way.
    bob.expect("alice: while down").await;
    bob.type_line("after").await;
    alice.expect("bob: after").await;
    bob.finish().await;
    alice.finish().await;
    assert_eq!(lock(&chat).rooms["lobby"].len(), 3, "no message stored twice");
}

#[tokio::test]
async fn chat_example_stops_when_the_server_refuses_the_name() {
    let server = chat_server(Arc::new(Mutex::new(Chat::default())), 0);
    let mut nobody = start_client(&server.url(), "");
    let result = tokio::time::timeout(WAIT, &mut nobody.task).await.expect("chat did not stop");
    let error = result.unwrap().expect_err("a refusal is an error");
    assert_eq!(error.to_string(), "the server refused the connection: a username is required");
    drop(nobody.stdin.take());
}
