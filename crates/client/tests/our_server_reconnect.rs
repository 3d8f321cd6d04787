//! Reconnection against this workspace's own server, in process: restarts on the same port,
//! auth refresh, the manager events, and the backoff delays with paused time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::WAIT;
use common::ours::{build, serve, serve_on};
use common::sio::{manager_events, recv};
use serde_json::{Value, json};
use switchboard_client::{Auth, Backoff, ClientOptions, Manager, Socket};
use tokio::sync::mpsc;

/// The socket's `connect` and `disconnect` events, as text.
fn lifecycle(socket: &Socket) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    let t = tx.clone();
    socket.on_connect(move || {
        let _ = t.send("connect".to_owned());
    });
    socket.on_disconnect(move |r| {
        let _ = tx.send(format!("disconnect {r}"));
    });
    rx
}

/// A cut is `transport close`, or `transport error` on polling when the server went away
/// between two `GET`s (the next one finds no session: HTTP 400), as with the JS client.
fn cut(event: &str) -> String {
    event.replace("transport error", "transport close")
}

async fn whoami(socket: &Socket) -> Value {
    let (info,): (Value,) = socket.timeout(WAIT).emit_with_ack("whoami", &()).await.unwrap();
    info
}

#[tokio::test]
async fn restarts_and_reconnects_with_fresh_auth_against_our_server() {
    let server = serve();
    let (url, port) = (server.url(), server.port);
    let tries = Arc::new(AtomicU32::new(0));
    let mut o = ClientOptions::default();
    o.reconnection_delay = Duration::from_millis(100);
    o.reconnection_delay_max = Duration::from_millis(200);
    let counter = tries.clone();
    o.auth = Auth::computed(move || {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        async move { json!({ "token": format!("t{n}") }) }
    });
    let manager = Manager::new(&url, o).unwrap();
    let mut events = manager_events(&manager);
    let socket = manager.socket("/");
    let mut lifecycle = lifecycle(&socket);
    socket.connect();
    assert_eq!(recv(&mut lifecycle).await, "connect");
    assert_eq!(recv(&mut events).await.1, "open");
    let first = whoami(&socket).await;
    assert_eq!(first["auth"], json!({"token": "t1"}));

    server.stop().await;
    assert_eq!(cut(&recv(&mut lifecycle).await), "disconnect transport close");
    assert_eq!(cut(&recv(&mut events).await.1), "close transport close");
    assert_eq!(recv(&mut events).await.1, "reconnect_attempt 1");
    // Nothing listens until the restart: the attempts fail, and the socket buffers.
    assert_eq!(recv(&mut events).await.1, "error");
    assert_eq!(recv(&mut events).await.1, "reconnect_error");
    assert!(!socket.connected() && socket.active());
    let buffered = socket.emit_with_ack::<_, (String,)>("echo", &("sent once back",));

    let _server = serve_on(build(), port);
    let (answer, ()) = tokio::join!(buffered, async {
        assert_eq!(recv(&mut lifecycle).await, "connect");
    });
    assert_eq!(answer.unwrap(), ("sent once back".to_owned(),), "the buffer is flushed");
    let mut rest = Vec::new();
    let attempts = loop {
        let e = recv(&mut events).await.1;
        if let Some(n) = e.strip_prefix("reconnect ") {
            break n.parse::<u32>().unwrap();
        }
        rest.push(e);
    };
    assert!(attempts >= 2, "the first attempt failed");
    assert_eq!(rest.iter().filter(|e| *e == "open").count(), 1, "{rest:?}");
    assert_eq!(rest.last().map(String::as_str), Some("open"), "{rest:?}");

    let me = whoami(&socket).await;
    assert_ne!(me["id"], first["id"], "a new server, a new session");
    assert!(!socket.recovered());
    let n = tries.load(Ordering::SeqCst);
    assert_eq!(n, 2, "auth is computed per namespace CONNECT, not per failed attempt");
    assert_eq!(me["auth"], json!({ "token": format!("t{n}") }), "the auth was computed again");
}

#[tokio::test(start_paused = true)]
async fn backoff_delays_across_a_restart_with_paused_time_against_our_server() {
    let server = serve();
    let (url, port) = (server.url(), server.port);
    let mut o = ClientOptions::default();
    o.backoff_seed = Some(7);
    let manager = Manager::new(&url, o.clone()).unwrap();
    let mut events = manager_events(&manager);
    let socket = manager.socket("/");
    let mut lifecycle = lifecycle(&socket);
    socket.connect();
    assert_eq!(recv(&mut lifecycle).await, "connect");
    assert_eq!(recv(&mut events).await.1, "open");

    server.stop().await;
    let (mut last, closed) = recv(&mut events).await;
    assert_eq!(cut(&closed), "close transport close");
    let mut expected = Backoff::with_seed(o.reconnection_delay, o.reconnection_delay_max, 0.5, 7);
    // Three failed attempts while the server is down, each after its backoff delay.
    for n in 1..=3 {
        let (at, e) = recv(&mut events).await;
        assert_eq!(e, format!("reconnect_attempt {n}"));
        assert_eq!(at - last, expected.duration(), "delay before attempt {n}");
        assert_eq!(recv(&mut events).await.1, "error");
        let (at, e) = recv(&mut events).await;
        assert_eq!(e, "reconnect_error");
        last = at;
    }
    // The server is back (no time passes while it starts): attempt 4 succeeds.
    let _server = serve_on(build(), port);
    let (at, e) = recv(&mut events).await;
    assert_eq!(e, "reconnect_attempt 4");
    assert_eq!(at - last, expected.duration(), "delay before attempt 4");
    assert_eq!(recv(&mut events).await.1, "open");
    assert_eq!(recv(&mut events).await.1, "reconnect 4");
    assert_eq!(cut(&recv(&mut lifecycle).await), "disconnect transport close");
    assert_eq!(recv(&mut lifecycle).await, "connect");

    // The backoff starts over after a success: a second restart waits the first delay again.
    _server.stop().await;
    let (last, closed) = recv(&mut events).await;
    assert_eq!(cut(&closed), "close transport close");
    expected.reset();
    let (at, e) = recv(&mut events).await;
    assert_eq!(e, "reconnect_attempt 1");
    let delay = expected.duration();
    assert_eq!(at - last, delay, "delay before attempt 1 after a reset");
    assert!(delay >= Duration::from_millis(500) && delay <= Duration::from_millis(1500));
}

#[tokio::test(start_paused = true)]
async fn reconnect_failed_after_the_last_attempt_against_our_server() {
    let server = serve();
    let mut o = ClientOptions::default();
    o.reconnection_attempts = 2;
    let manager = Manager::new(&server.url(), o).unwrap();
    let mut events = manager_events(&manager);
    let socket = manager.socket("/");
    let mut lifecycle = lifecycle(&socket);
    socket.connect();
    assert_eq!(recv(&mut lifecycle).await, "connect");

    server.stop().await;
    let mut got = Vec::new();
    loop {
        let e = cut(&recv(&mut events).await.1);
        let done = e == "reconnect_error" && got.contains(&"reconnect_failed".to_owned());
        got.push(e);
        if done {
            break;
        }
    }
    assert_eq!(
        got,
        [
            "open",
            "close transport close",
            "reconnect_attempt 1",
            "error",
            "reconnect_error",
            "reconnect_attempt 2",
            "error",
            "reconnect_failed",
            "reconnect_error",
        ]
    );
    assert_eq!(cut(&recv(&mut lifecycle).await), "disconnect transport close");
    // Given up: no further attempt, however long one waits.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(events.try_recv().is_err(), "no attempt after reconnect_failed");
    assert!(!socket.connected());
}
