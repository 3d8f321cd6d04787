//! A terminal client for the demo chat of the `switchboard` server (namespace `/chat`).
//!
//! ```text
//! cargo run -p switchboard-client --example chat_client -- --url http://127.0.0.1:3000 --room lobby --name alice
//! ```
//!
//! Joins the room with the dev-mode auth `{ username }`, prints its history, then prints every
//! new message, one per line (`name: text`), and status lines starting with `* `. Each line typed
//! on stdin is sent as a message with a fresh `clientId`, once the room is joined; the client
//! retries unacknowledged sends (the server deduplicates them by `clientId`), reconnects by
//! itself and joins the room again on every connection (lines typed meanwhile wait for it).
//! End with Ctrl-D (end of input). A refused connection or join ends the program with an error.
//!
//! The chat logic is [`run`], which reads lines from any [`AsyncBufRead`] and writes the lines
//! to print to a channel, so that a test drives it without a terminal.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_client::{Auth, ClientOptions, ConnectError, ManagerEvent, Socket, io};
use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use tokio::sync::{mpsc, watch};

/// How long the server has to acknowledge a send, per try.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// How many times an unacknowledged send is retried (safe: the server deduplicates `clientId`).
const RETRIES: u32 = 3;

/// The command line.
#[derive(Parser, Debug, Clone)]
#[command(about = "Chat in a room of the switchboard demo chat from the terminal")]
pub(crate) struct Args {
    /// The server's base URL (the client connects to its `/chat` namespace).
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    pub(crate) url: String,
    /// The room to join.
    #[arg(long, default_value = "lobby")]
    pub(crate) room: String,
    /// Your user name (dev-mode auth).
    #[arg(long)]
    pub(crate) name: String,
}

/// A chat message as the server sends it (`message:new` and the join history).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChatMessage {
    id: Value,
    room_id: String,
    user_id: String,
    username: Option<String>,
    text: String,
}

/// A `presence:update`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Presence {
    room_id: String,
    user_id: String,
    username: Option<String>,
    status: String,
}

/// What the listeners and the input loop share.
struct Shared {
    room: String,
    me: String,
    /// The ids of the messages printed: a message can come both live and in the history of a
    /// rejoin, and is printed once.
    seen: Mutex<HashSet<String>>,
    out: mpsc::UnboundedSender<String>,
    /// Whether this connection has joined the room: sends wait for it.
    joined: watch::Sender<bool>,
    /// Errors that end the chat (a refused connection or join).
    fatal: mpsc::UnboundedSender<String>,
}

impl Shared {
    fn message(&self, m: &ChatMessage) {
        // A poisoned lock only means a listener panicked; the set is still usable.
        if !self.seen.lock().unwrap_or_else(|e| e.into_inner()).insert(m.id.to_string()) {
            return;
        }
        let who = m.username.as_deref().unwrap_or(&m.user_id);
        let line = if m.room_id == self.room {
            format!("{who}: {}", m.text)
        } else {
            format!("[{}] {who}: {}", m.room_id, m.text)
        };
        let _ = self.out.send(line);
    }

    fn status(&self, line: impl std::fmt::Display) {
        let _ = self.out.send(format!("* {line}"));
    }
}

/// The payload of a `{ ok, ... }` ack, or its error as a message.
fn check_ack(ack: Value) -> Result<Value, String> {
    if ack.get("ok").and_then(Value::as_bool) == Some(true) {
        return Ok(ack);
    }
    let error = ack.get("error");
    let field = |k: &str| error.and_then(|e| e.get(k)).and_then(Value::as_str).unwrap_or("?");
    Err(format!("{} ({})", field("message"), field("code")))
}

/// An error with its causes, `outer: inner: ...`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

/// A fresh `clientId` for a send.
fn client_id() -> String {
    format!("{:016x}{:016x}", rand::random::<u64>(), rand::random::<u64>())
}

/// Joins the room and prints what of its history is new.
async fn join(socket: &Socket, shared: &Shared) {
    let room = shared.room.clone();
    let request = (json!({ "roomId": room }),);
    match socket.timeout(ACK_TIMEOUT).emit_with_ack::<_, (Value,)>("room:join", &request).await {
        Ok((ack,)) => match check_ack(ack) {
            Ok(ack) => {
                let members = ack.get("members").and_then(Value::as_array).map_or(0, Vec::len);
                shared.status(format_args!("joined {room} ({members} members)"));
                let history =
                    ack.get("history").and_then(Value::as_array).cloned().unwrap_or_default();
                for m in history {
                    if let Ok(m) = serde_json::from_value::<ChatMessage>(m) {
                        shared.message(&m);
                    }
                }
                shared.joined.send_replace(true);
            }
            // The server said no: trying again would not help.
            Err(e) => {
                let _ = shared.fatal.send(format!("cannot join {room}: {e}"));
            }
        },
        // The connection went away: the next one joins again.
        Err(e) => shared.status(format_args!("cannot join {room}: {}", chain(&e))),
    }
}

/// Runs the chat: sends each line of `input`, sends what there is to print to `out`, and
/// returns at the end of `input`, once every line has been acknowledged (or given up on).
pub(crate) async fn run<R>(
    args: &Args,
    input: R,
    out: mpsc::UnboundedSender<String>,
) -> anyhow::Result<()>
where
    R: AsyncBufRead + Unpin,
{
    let mut options = ClientOptions::default();
    options.auth = Auth::fixed(json!({ "username": args.name }));
    options.ack_timeout = Some(ACK_TIMEOUT);
    options.retries = RETRIES;
    let socket = io(&format!("{}/chat", args.url.trim_end_matches('/')), options)?;
    let (fatal, mut fatal_rx) = mpsc::unbounded_channel();
    let printer = Arc::new(Shared {
        room: args.room.clone(),
        me: args.name.clone(),
        seen: Mutex::default(),
        out: out.clone(),
        joined: watch::Sender::new(false),
        fatal,
    });

    let p = printer.clone();
    socket.on("message:new", move |e| match e.data::<ChatMessage>() {
        Ok(m) => p.message(&m),
        Err(err) => p.status(format_args!("invalid message: {err}")),
    });
    let p = printer.clone();
    socket.on("presence:update", move |e| {
        if let Ok(u) = e.data::<Presence>() {
            if u.room_id == p.room && u.user_id != p.me {
                let who = u.username.as_deref().unwrap_or(&u.user_id);
                p.status(format_args!("{who} is {}", u.status));
            }
        }
    });
    // Typing indicators have no place in a line-based terminal: ignored.
    socket.on("typing:update", |_| {});
    let (p, s) = (printer.clone(), socket.clone());
    socket.on_connect(move || {
        p.status("connected");
        let (p, s) = (p.clone(), s.clone());
        // Joining waits for an ack, and listeners must not block the manager task.
        tokio::spawn(async move { join(&s, &p).await });
    });
    let p = printer.clone();
    socket.on_connect_error(move |e| match e {
        // A refusal by the server (bad name, say) is final: the client does not retry it.
        ConnectError::Server { message, .. } => {
            let _ = p.fatal.send(format!("the server refused the connection: {message}"));
        }
        e => p.status(format_args!("cannot connect: {}", chain(e))),
    });
    let p = printer.clone();
    socket.on_disconnect(move |reason| {
        p.joined.send_replace(false);
        p.status(format_args!("disconnected: {reason}"));
    });
    let p = printer.clone();
    socket.manager().on(move |event| match event {
        ManagerEvent::ReconnectAttempt(n) => p.status(format_args!("reconnecting (attempt {n})")),
        ManagerEvent::ReconnectFailed => p.status("gave up reconnecting"),
        _ => {}
    });
    socket.connect();

    let mut lines = input.lines();
    let mut joined = printer.joined.subscribe();
    loop {
        // Reading a line is cancel-safe: an error meanwhile loses nothing typed.
        let line = tokio::select! {
            line = lines.next_line() => line?,
            Some(error) = fatal_rx.recv() => {
                socket.disconnect();
                anyhow::bail!(error);
            }
        };
        let Some(line) = line else { break };
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        // Only members may send: lines typed before the room is joined (again) wait for it.
        tokio::select! {
            _ = joined.wait_for(|j| *j) => {}
            Some(error) = fatal_rx.recv() => {
                socket.disconnect();
                anyhow::bail!(error);
            }
        }
        let message = json!({ "roomId": args.room, "text": text, "clientId": client_id() });
        // One send at a time keeps the order; a send cut by a disconnection is retried.
        match socket.emit_with_ack("message:send", &(message,)).await {
            Ok((ack,)) => {
                if let Err(e) = check_ack(ack) {
                    printer.status(format_args!("not sent: {e}"));
                }
            }
            Err(e) => printer.status(format_args!("not sent: {}", chain(&e))),
        }
    }
    socket.disconnect();
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (out, mut lines) = mpsc::unbounded_channel();
    // Prints the chat's lines in order; ends when the chat and its listeners drop their senders.
    let printer = tokio::spawn(async move {
        while let Some(line) = lines.recv().await {
            println!("{line}");
        }
    });
    let stdin = tokio::io::BufReader::new(tokio::io::stdin());
    let result = run(&args, stdin, out).await;
    // The listeners hold senders until the manager task ends: give the last lines a moment.
    let _ = tokio::time::timeout(Duration::from_millis(200), printer).await;
    if let Err(e) = &result {
        eprintln!("error: {e:#}");
    }
    // Exit now: a pending read of stdin would keep the runtime from shutting down.
    std::process::exit(i32::from(result.is_err()));
}
