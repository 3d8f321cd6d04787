//! Connection state recovery against this workspace's own server, in process: the client's
//! connection goes through a TCP relay of the test that is cut (both sides closed) and held
//! shut while the server emits to the client, then let through again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::ours::{OurServer, serve_on};
use common::sio::recv;
use switchboard::{ConnectionStateRecovery, ParserKind, SocketIo, SocketIoConfig};
use switchboard_client::engine::TransportKind;
use switchboard_client::{ClientOptions, DisconnectReason, MsgpackParser, Socket, io};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;

/// A TCP relay to the server that can cut its connections and hold new ones shut.
struct Relay {
    port: u16,
    // The pipes of the current connections; `cut` aborts them (their streams close). Locked
    // by the accept task and by `cut`, for one push or one drain.
    pipes: Arc<Mutex<Vec<AbortHandle>>>,
    // Whether new connections are forwarded (true) or held until it is true again.
    open: watch::Sender<bool>,
}

impl Relay {
    async fn start(target: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let pipes: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (open, _) = watch::channel(true);
        let (list, gate) = (pipes.clone(), open.clone());
        // Accepts until the test's runtime ends; each connection is piped in its own task.
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut gate = gate.subscribe();
                // One pipe: waits for the gate, then copies both ways until a side closes or
                // `cut` aborts it.
                let pipe = tokio::spawn(async move {
                    if gate.wait_for(|open| *open).await.is_err() {
                        return;
                    }
                    let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", target)).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                });
                list.lock().unwrap().push(pipe.abort_handle());
            }
        });
        Relay { port, pipes, open }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Closes every current connection (both sides see it at once) and holds new ones.
    fn cut(&self) {
        self.open.send_replace(false);
        for pipe in self.pipes.lock().unwrap().drain(..) {
            pipe.abort();
        }
    }

    /// Lets the held and the new connections through.
    fn resume(&self) {
        self.open.send_replace(true);
    }
}

/// A server with recovery on (`window`): every socket joins `room`; its connections and
/// disconnections are reported as text.
fn server(window: Duration) -> (OurServer, mpsc::UnboundedReceiver<String>) {
    server_with(window, ParserKind::Json)
}

/// [`server`], speaking `parser`.
fn server_with(
    window: Duration,
    parser: ParserKind,
) -> (OurServer, mpsc::UnboundedReceiver<String>) {
    let mut recovery = ConnectionStateRecovery::default();
    recovery.max_disconnection_duration = window;
    let mut config = SocketIoConfig::default();
    config.connection_state_recovery = Some(recovery);
    config.parser = parser;
    let io = SocketIo::new(config);
    let (tx, rx) = mpsc::unbounded_channel();
    io.on_connection(move |socket: switchboard::Socket| {
        let tx = tx.clone();
        async move {
            if !socket.recovered() {
                socket.join("room");
            }
            let rooms = socket.rooms().iter().any(|r| r.as_str() == "room");
            let _ = tx.send(format!("connect {} {} {rooms}", socket.id(), socket.recovered()));
            socket.on_disconnect(move |reason: switchboard::DisconnectReason| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(format!("disconnect {}", reason.as_str()));
                }
            });
        }
    });
    (serve_on(io, 0), rx)
}

/// A side saw the cut: `transport close`, or `transport error` when the connection ended
/// without a WebSocket close frame or in the middle of a poll (both recoverable).
fn assert_cut(event: &str) {
    assert!(
        ["disconnect transport close", "disconnect transport error"].contains(&event),
        "{event}"
    );
}

/// A client through `relay` that retries quickly, with the `tick` numbers it receives and its
/// `connect` / `disconnect` events.
struct Client {
    socket: Socket,
    ticks: mpsc::UnboundedReceiver<u32>,
    lifecycle: mpsc::UnboundedReceiver<String>,
}

fn client(relay: &Relay, transports: &[TransportKind]) -> Client {
    client_with(relay, transports, ClientOptions::default())
}

/// [`client`], with `o` as the base options.
fn client_with(relay: &Relay, transports: &[TransportKind], mut o: ClientOptions) -> Client {
    o.engine.transports = transports.to_vec();
    o.reconnection_delay = Duration::from_millis(20);
    o.reconnection_delay_max = Duration::from_millis(50);
    let socket = io(&relay.url(), o).unwrap();
    let (tx, ticks) = mpsc::unbounded_channel();
    socket.on("tick", move |e| {
        let _ = tx.send(e.data::<u32>().unwrap());
    });
    let (tx, lifecycle) = mpsc::unbounded_channel();
    let t = tx.clone();
    socket.on_connect(move || {
        let _ = t.send("connect".to_owned());
    });
    socket.on_disconnect(move |r: DisconnectReason| {
        let _ = tx.send(format!("disconnect {r}"));
    });
    socket.connect();
    Client { socket, ticks, lifecycle }
}

/// Emits `tick` `n` to the room, or to the socket by id when `n` is even.
async fn tick(io: &SocketIo, sid: &str, n: u32) {
    let target = if n % 2 == 0 { sid.to_owned() } else { "room".to_owned() };
    io.of("/").to(target).emit("tick", &n).await.unwrap();
}

/// Connects through a relay, cuts it, emits 1..=6 while the client is away, lets it back.
async fn cut_and_recover(transports: &[TransportKind]) {
    cut_and_recover_with(transports, ParserKind::Json).await;
}

/// [`cut_and_recover`], with both sides speaking `parser`.
async fn cut_and_recover_with(transports: &[TransportKind], parser: ParserKind) {
    let (server, mut seen) = server_with(Duration::from_secs(120), parser);
    let relay = Relay::start(server.port).await;
    let mut options = ClientOptions::default();
    if parser == ParserKind::Msgpack {
        options.parser = Arc::new(MsgpackParser::default());
    }
    let mut c = client_with(&relay, transports, options);
    assert_eq!(recv(&mut c.lifecycle).await, "connect");
    assert!(!c.socket.recovered());
    let sid = c.socket.id().unwrap();
    assert_eq!(recv(&mut seen).await, format!("connect {sid} false true"));
    // A first packet gives the client an offset to resume from.
    tick(&server.io, &sid, 0).await;
    assert_eq!(recv(&mut c.ticks).await, 0);

    relay.cut();
    assert_cut(&recv(&mut c.lifecycle).await);
    // A WebSocket cut is seen by the server at once. A polling one may not be (no request
    // was held at that moment): the server still holds a half-open socket, which the
    // reconnecting client takes over, with the packets sent to it meanwhile.
    let websocket = transports == [TransportKind::WebSocket];
    if websocket {
        assert_cut(&recv(&mut seen).await);
    }
    for n in 1..=6 {
        tick(&server.io, &sid, n).await;
    }
    relay.resume();
    if !websocket {
        let left = recv(&mut seen).await;
        assert!(
            left == "disconnect session taken over" || left.starts_with("disconnect transport"),
            "{left}"
        );
    }
    assert_eq!(recv(&mut c.lifecycle).await, "connect");
    assert!(c.socket.recovered(), "recovered");
    assert_eq!(c.socket.id().as_deref(), Some(sid.as_str()), "same id");
    assert_eq!(recv(&mut seen).await, format!("connect {sid} true true"));
    tick(&server.io, &sid, 7).await;
    let mut got = Vec::new();
    while got.last() != Some(&7) {
        got.push(recv(&mut c.ticks).await);
    }
    assert_eq!(got, (1..=7).collect::<Vec<_>>(), "every missed tick once, in order");
    assert!(c.ticks.try_recv().is_err(), "nothing more");
    c.socket.disconnect();
}

#[tokio::test]
async fn a_cut_websocket_client_is_recovered_with_every_missed_event_once_in_order() {
    cut_and_recover(&[TransportKind::WebSocket]).await;
}

#[tokio::test]
async fn a_cut_polling_client_is_recovered_with_every_missed_event_once_in_order() {
    cut_and_recover(&[TransportKind::Polling]).await;
}

#[tokio::test]
async fn recovery_works_the_same_with_the_msgpack_parser() {
    cut_and_recover_with(&[TransportKind::WebSocket], ParserKind::Msgpack).await;
    cut_and_recover_with(&[TransportKind::Polling], ParserKind::Msgpack).await;
}

#[tokio::test]
async fn past_the_window_the_client_gets_a_new_session() {
    let window = Duration::from_secs(2);
    let (server, mut seen) = server(window);
    let relay = Relay::start(server.port).await;
    let mut c = client(&relay, &[TransportKind::WebSocket]);
    assert_eq!(recv(&mut c.lifecycle).await, "connect");
    let sid = c.socket.id().unwrap();
    assert_eq!(recv(&mut seen).await, format!("connect {sid} false true"));
    tick(&server.io, &sid, 0).await;
    assert_eq!(recv(&mut c.ticks).await, 0);

    relay.cut();
    assert_cut(&recv(&mut c.lifecycle).await);
    assert_cut(&recv(&mut seen).await);
    tick(&server.io, &sid, 1).await;
    // The client stays away past the window: paused time jumps over it (the session and the
    // log expire on the server's clock, tokio's).
    tokio::time::pause();
    tokio::time::advance(window + Duration::from_millis(100)).await;
    tokio::time::resume();
    relay.resume();
    assert_eq!(recv(&mut c.lifecycle).await, "connect");
    assert!(!c.socket.recovered(), "a new session");
    let new = c.socket.id().unwrap();
    assert_ne!(new, sid);
    assert_eq!(recv(&mut seen).await, format!("connect {new} false true"));
    tick(&server.io, &new, 3).await;
    assert_eq!(recv(&mut c.ticks).await, 3, "the missed tick is not replayed");
    c.socket.disconnect();
}
