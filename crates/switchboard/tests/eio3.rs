//! The Socket.IO protocol v4 rules for Engine.IO v3 clients (`allow_eio3`), over a raw
//! WebSocket on 127.0.0.1: the main namespace joined without a CONNECT, bare CONNECT answers,
//! Engine.IO-based socket ids, the namespace query as auth, plain refusal payloads, and the
//! client-driven heartbeat.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use switchboard::prelude::*;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as Ws;

const WAIT: Duration = Duration::from_secs(10);

async fn server() -> SocketAddr {
    let mut config = SocketIoConfig::default();
    config.engine.allow_eio3 = true;
    let io = SocketIo::new(config);
    let hello = |socket: Socket| async move {
        socket.emit("hello", &(socket.id().as_str(), &socket.handshake().auth))
    };
    io.on_connection(|socket: Socket| async move {
        socket.on("echo", |Data(v): Data<Value>| async move { Ok::<_, HandlerError>(v) })?;
        socket.emit("hello", &(socket.id().as_str(), &socket.handshake().auth))
    });
    io.of("/q").on_connection(hello);
    io.of("/plain").use_middleware(|| async { Err::<(), _>(HandlerError::new("not you")) });
    io.of("/data").use_middleware(|| async {
        Err::<(), _>(HandlerError::new("not you").with_data(json!({"code": 7})))
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Serves until the test's runtime ends.
    tokio::spawn(async move { io.serve(listener).await });
    addr
}

async fn text(ws: &mut WebSocketStream<TcpStream>) -> String {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.expect("a frame in time") {
            Some(Ok(Ws::Text(t))) => return t.to_string(),
            Some(Ok(Ws::Ping(_) | Ws::Pong(_))) => {}
            other => panic!("expected text, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_v3_client_gets_the_protocol_v4_rules() {
    let addr = server().await;
    let tcp = TcpStream::connect(addr).await.unwrap();
    let url = format!("ws://{addr}/socket.io/?EIO=3&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();

    let open = text(&mut ws).await;
    let handshake: Value = serde_json::from_str(open.strip_prefix('0').unwrap()).unwrap();
    let sid = handshake["sid"].as_str().unwrap().to_owned();
    // Joined to `/` without asking; the socket id is the Engine.IO id.
    assert_eq!(text(&mut ws).await, "40");
    assert_eq!(text(&mut ws).await, format!(r#"42["hello","{sid}",{{}}]"#));

    // A namespace's query is its auth; the answer has no sid; the id is `/q#<sid>`.
    ws.send(Ws::text("40/q?a=1&b=x%20y,")).await.unwrap();
    assert_eq!(text(&mut ws).await, "40/q,");
    assert_eq!(text(&mut ws).await, format!(r#"42/q,["hello","/q#{sid}",{{"a":"1","b":"x y"}}]"#));

    // A refusal carries the error's data, or else its message.
    ws.send(Ws::text("40/plain,")).await.unwrap();
    assert_eq!(text(&mut ws).await, r#"44/plain,"not you""#);
    ws.send(Ws::text("40/data,")).await.unwrap();
    assert_eq!(text(&mut ws).await, r#"44/data,{"code":7}"#);

    // The client pings, the server answers.
    ws.send(Ws::text("2")).await.unwrap();
    assert_eq!(text(&mut ws).await, "3");

    // Binary data is framed behind its packet type byte, both ways.
    ws.send(Ws::text(r#"451-1["echo",{"_placeholder":true,"num":0}]"#)).await.unwrap();
    ws.send(Ws::binary(vec![4u8, 1, 2, 3])).await.unwrap();
    assert_eq!(text(&mut ws).await, r#"461-1[{"_placeholder":true,"num":0}]"#);
    match tokio::time::timeout(WAIT, ws.next()).await.expect("a frame in time") {
        Some(Ok(Ws::Binary(b))) => assert_eq!(b.as_ref(), [4u8, 1, 2, 3]),
        other => panic!("expected the attachment, got {other:?}"),
    }

    // A pong goes the wrong way for v3: the session closes (Node: "invalid heartbeat
    // direction").
    ws.send(Ws::text("3")).await.unwrap();
    match tokio::time::timeout(WAIT, ws.next()).await.expect("the close in time") {
        Some(Ok(Ws::Close(_))) | None | Some(Err(_)) => {}
        Some(Ok(other)) => panic!("expected the close, got {other:?}"),
    }
}
