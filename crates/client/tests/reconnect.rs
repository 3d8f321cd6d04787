//! Reconnection: backoff timing with paused time, server restarts, auth refresh.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::sio::{manager_events, recv};
use common::{WAIT, start, start_on};
use serde_json::{Value, json};
use switchboard_client::{Auth, Backoff, ClientOptions, DisconnectReason, Manager};
use tokio::sync::mpsc;

#[tokio::test(start_paused = true)]
async fn backoff_delays_and_give_up_with_paused_time() {
    // A port that is bound but never listened on: every attempt is refused, and no other test
    // can take the port while this socket holds it.
    let reserved = tokio::net::TcpSocket::new_v4().unwrap();
    reserved.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = reserved.local_addr().unwrap().port();
    let mut o = ClientOptions::default();
    o.reconnection_attempts = 4;
    o.backoff_seed = Some(42);
    let manager = Manager::new(&format!("http://127.0.0.1:{port}"), o.clone()).unwrap();
    let mut events = manager_events(&manager);
    let socket = manager.socket("/");
    let (tx, mut connect_errors) = mpsc::unbounded_channel();
    socket.on_connect_error(move |_| {
        let _ = tx.send(());
    });
    socket.connect();

    let mut expected = Backoff::with_seed(o.reconnection_delay, o.reconnection_delay_max, 0.5, 42);
    let (mut last, first) = recv(&mut events).await;
    assert_eq!(first, "error");
    recv(&mut connect_errors).await;
    for n in 1..=4 {
        let (at, e) = recv(&mut events).await;
        assert_eq!(e, format!("reconnect_attempt {n}"));
        assert_eq!(at - last, expected.duration(), "delay before attempt {n}");
        assert_eq!(recv(&mut events).await.1, "error");
        if n == 4 {
            assert_eq!(recv(&mut events).await.1, "reconnect_failed");
        }
        let (at, e) = recv(&mut events).await;
        assert_eq!(e, "reconnect_error");
        last = at;
    }
    assert!(socket.active(), "the socket still wants to connect: connect() again would retry");
}

#[tokio::test]
async fn reconnects_after_a_server_restart_with_fresh_auth() {
    let server = start("node-socketio.mjs", &[]).await;
    let port = server.port;
    let url = server.url();
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
    let (tx, mut lifecycle) = mpsc::unbounded_channel();
    let t = tx.clone();
    socket.on_connect(move || {
        let _ = t.send("connect".to_owned());
    });
    socket.on_disconnect(move |r| {
        let _ = tx.send(format!("disconnect {r}"));
    });
    socket.connect();
    assert_eq!(recv(&mut lifecycle).await, "connect");
    assert_eq!(recv(&mut events).await.1, "open");
    let first_id = socket.id().unwrap();
    let (me,): (Value,) = socket.timeout(WAIT).emit_with_ack("whoami", &()).await.unwrap();
    assert_eq!(me["auth"], json!({"token": "t1"}));

    server.kill().await;
    let reason = recv(&mut lifecycle).await;
    assert!(
        reason == "disconnect transport close" || reason == "disconnect transport error",
        "{reason}"
    );
    assert!(recv(&mut events).await.1.starts_with("close transport"));
    assert_eq!(recv(&mut events).await.1, "reconnect_attempt 1");

    let _server = start_on("node-socketio.mjs", &[], port).await;
    assert_eq!(recv(&mut lifecycle).await, "connect");
    let mut rest = Vec::new();
    loop {
        let e = recv(&mut events).await.1;
        let done = e.starts_with("reconnect ");
        rest.push(e);
        if done {
            break;
        }
    }
    assert_eq!(rest.iter().filter(|e| *e == "open").count(), 1, "{rest:?}");
    assert_ne!(socket.id().unwrap(), first_id, "a new server, a new session");
    assert!(!socket.recovered());
    let (me,): (Value,) = socket.timeout(WAIT).emit_with_ack("whoami", &()).await.unwrap();
    let token = me["auth"]["token"].as_str().unwrap().to_owned();
    let n = tries.load(Ordering::SeqCst);
    assert!(n >= 2);
    assert_eq!(token, format!("t{n}"), "the auth was computed again for the last attempt");
    assert_eq!(DisconnectReason::TransportClose.as_str(), "transport close");
}
