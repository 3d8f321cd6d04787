//! The Socket.IO client against this workspace's own Socket.IO server, in process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use serde::de::IgnoredAny;
use serde_json::{Value, json};
use switchboard as server;
use switchboard_client::engine::TransportKind;
use switchboard_client::{
    AckError, Auth, ClientOptions, ConnectError, DisconnectReason, Event, Manager, Payload, Socket,
};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);

/// A server with an echo, an acking echo, a question to the client, `whoami`, a refusing
/// namespace and a server-side disconnect.
async fn serve() -> String {
    let io = server::SocketIo::new(server::SocketIoConfig::default());
    io.on_connection(|socket: server::Socket| async move { handlers(&socket) });
    let admin = io.of("/admin");
    admin.use_middleware(|socket: server::Socket| async move {
        if socket.handshake().auth.get("token").and_then(Value::as_str) == Some("secret") {
            Ok(())
        } else {
            Err(server::MiddlewareError::new("unauthorized").with_data(json!({ "code": 403 })))
        }
    });
    admin.on_connection(|socket: server::Socket| async move { handlers(&socket) });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // The server runs until the test's runtime ends.
    tokio::spawn(async move { io.serve(listener).await });
    url
}

fn handlers(socket: &server::Socket) {
    socket.on("echo", |s: server::Socket, ev: server::Event<IgnoredAny>| async move {
        let _ = match ev.ack {
            Some(ack) => ack.send_payload(ev.payload),
            None => s.emit_payload("echo", ev.payload),
        };
    });
    socket.on("ask-me", |s: server::Socket, ev: server::Event<String>| async move {
        let reply = s.timeout(Duration::from_secs(5)).emit_with_ack("question", &ev.data).await;
        let answer = match reply {
            Ok(r) => r.payload.args().first().cloned().unwrap_or(Value::Null),
            Err(e) => json!(e.to_string()),
        };
        let _ = s.emit("answer", &answer);
    });
    socket.on("whoami", |s: server::Socket, ev: server::Event<IgnoredAny>| async move {
        if let Some(ack) = ev.ack {
            let info = json!({
                "id": s.id().as_str(),
                "ns": s.ns(),
                "transport": s.transport().as_str(),
                "engine": s.conn_id(),
                "auth": s.handshake().auth,
            });
            let _ = ack.send(&info);
        }
    });
    socket.on("disconnect-me", |s: server::Socket, _ev: server::Event<IgnoredAny>| async move {
        s.disconnect(false).await;
    });
}

fn options(transports: &[TransportKind]) -> ClientOptions {
    let mut o = ClientOptions::default();
    o.engine.transports = transports.to_vec();
    o
}

fn events(socket: &Socket, name: &str) -> mpsc::UnboundedReceiver<Event> {
    let (tx, rx) = mpsc::unbounded_channel();
    socket.on(name, move |e| {
        let _ = tx.send(e);
    });
    rx
}

async fn recv<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(WAIT, rx.recv()).await.expect("nothing in time").expect("closed")
}

async fn connect(socket: &Socket) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let id = socket.on_connect(move || {
        let _ = tx.send(());
    });
    socket.connect();
    recv(&mut rx).await;
    socket.remove_listener(id);
}

async fn whoami(socket: &Socket) -> Value {
    let (info,): (Value,) = socket.timeout(WAIT).emit_with_ack("whoami", &()).await.unwrap();
    info
}

async fn exercise(socket: &Socket) {
    let mut echoes = events(socket, "echo");
    socket.emit("echo", &("hi", 2, json!({"k": [1, 2]}))).unwrap();
    let (a, b, c): (String, u32, Value) = recv(&mut echoes).await.args().unwrap();
    assert_eq!((a.as_str(), b, c), ("hi", 2, json!({"k": [1, 2]})));

    let answer: (String, u32) = socket.emit_with_ack("echo", &("acked", 3)).await.unwrap();
    assert_eq!(answer, ("acked".to_owned(), 3));

    let mut payload = Payload::new();
    payload.push(json!("bin"));
    payload.push_binary(Bytes::from_static(&[1, 2, 3, 0, 255]));
    socket.emit_payload("echo", payload.clone()).unwrap();
    let e = recv(&mut echoes).await;
    assert_eq!(e.binary(1).map(|b| b.as_ref()), Some(&[1u8, 2, 3, 0, 255][..]));
    let answer = socket.emit_with_ack_payload("echo", payload).await.unwrap();
    assert_eq!(
        answer.binary(&answer.args()[1]).map(|b| b.as_ref()),
        Some(&[1u8, 2, 3, 0, 255][..])
    );

    socket.on("question", |e| {
        let q: String = e.data().unwrap();
        e.ack(&(format!("re: {q}"),)).unwrap();
    });
    let mut answers = events(socket, "answer");
    socket.emit("ask-me", &("why",)).unwrap();
    assert_eq!(recv(&mut answers).await.data::<String>().unwrap(), "re: why");
    socket.off("question");
    socket.off("answer");
    socket.off("echo");

    let r =
        socket.timeout(Duration::from_millis(100)).emit_with_ack::<_, Value>("nobody", &()).await;
    assert!(matches!(r, Err(AckError::Timeout)), "{r:?}");
}

#[tokio::test]
async fn every_transport_against_our_server() {
    let url = serve().await;
    for transports in [
        vec![TransportKind::Polling],
        vec![TransportKind::WebSocket],
        vec![TransportKind::Polling, TransportKind::WebSocket],
    ] {
        let upgrade = transports.len() == 2;
        let manager = Manager::new(&url, options(&transports)).unwrap();
        let socket = manager.socket("/");
        connect(&socket).await;
        exercise(&socket).await;
        let me = whoami(&socket).await;
        assert_eq!(me["id"].as_str(), socket.id().as_deref());
        if upgrade {
            tokio::time::timeout(WAIT, async {
                while whoami(&socket).await["transport"] != "websocket" {}
            })
            .await
            .expect("no upgrade");
            exercise(&socket).await;
        } else {
            assert_eq!(me["transport"], transports[0].name());
        }
        socket.disconnect();
    }
}

#[tokio::test]
async fn namespaces_auth_and_disconnects_against_our_server() {
    let url = serve().await;
    let manager = Manager::new(&url, ClientOptions::default()).unwrap();
    let main = manager.socket("/");
    connect(&main).await;

    let admin = manager.socket("/admin");
    let (tx, mut errors) = mpsc::unbounded_channel();
    admin.on_connect_error(move |e| {
        let _ = tx.send(e.clone());
    });
    admin.connect();
    match recv(&mut errors).await {
        ConnectError::Server { message, data } => {
            assert_eq!(message, "unauthorized");
            assert_eq!(data, Some(json!({"code": 403})));
        }
        other => panic!("unexpected {other:?}"),
    }

    let mut o = ClientOptions::default();
    o.auth = Auth::fixed(json!({"token": "secret"}));
    let manager = Manager::new(&url, o).unwrap();
    let (main, admin) = (manager.socket("/"), manager.socket("/admin"));
    connect(&main).await;
    connect(&admin).await;
    let (m, a) = (whoami(&main).await, whoami(&admin).await);
    assert_eq!(m["engine"], a["engine"], "one connection for both namespaces");
    assert_eq!(a["auth"], json!({"token": "secret"}));

    let (tx, mut reasons) = mpsc::unbounded_channel();
    main.on_disconnect(move |r| {
        let _ = tx.send(r);
    });
    main.emit("disconnect-me", &()).unwrap();
    assert_eq!(recv(&mut reasons).await, DisconnectReason::IoServerDisconnect);
    assert!(admin.connected(), "the other namespace stays");
    assert_eq!(whoami(&admin).await["engine"], a["engine"]);
}
