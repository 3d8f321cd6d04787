//! The protocol test server table (§1.3) over a real WebSocket on 127.0.0.1, and the server
//! mounted in axum.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use switchboard::{Event, Socket, SocketIo};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as Ws;

struct Client {
    ws: WebSocketStream<TcpStream>,
}

impl Client {
    async fn open(addr: SocketAddr) -> Client {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let (ws, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
        let mut c = Client { ws };
        let open = c.next().await.expect("open packet");
        assert!(matches!(&open, Ws::Text(t) if t.starts_with("0{")), "{open:?}");
        c
    }

    /// The next data frame (pings answered), `None` once closed.
    async fn next(&mut self) -> Option<Ws> {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(5), self.ws.next())
                .await
                .expect("no frame in time");
            match frame {
                Some(Ok(Ws::Text(t))) if t.as_str() == "2" => {
                    self.ws.send(Ws::text("3")).await.unwrap();
                }
                Some(Ok(Ws::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(m)) => return Some(m),
            }
        }
    }

    async fn text(&mut self) -> String {
        match self.next().await {
            Some(Ws::Text(t)) => t.to_string(),
            other => panic!("expected text, got {other:?}"),
        }
    }

    async fn bin(&mut self) -> Vec<u8> {
        match self.next().await {
            Some(Ws::Binary(b)) => b.to_vec(),
            other => panic!("expected binary, got {other:?}"),
        }
    }

    async fn send(&mut self, text: &str) {
        self.ws.send(Ws::text(text)).await.unwrap();
    }

    async fn send_bin(&mut self, b: &[u8]) {
        self.ws.send(Ws::binary(b.to_vec())).await.unwrap();
    }

    async fn assert_closed(&mut self) {
        assert_eq!(self.next().await, None);
    }
}

async fn serve(io: &SocketIo) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let io = io.clone();
    tokio::spawn(async move { io.serve(listener).await });
    addr
}

fn sid(text: &str, prefix: &str) {
    let v: Value = serde_json::from_str(text.strip_prefix(prefix).unwrap()).unwrap();
    assert_eq!(v.as_object().unwrap().len(), 1);
    assert!(v["sid"].is_string());
}

#[tokio::test]
async fn protocol_test_server_table() {
    let io = switchboard::conformance::app();
    let addr = serve(&io).await;

    for (send, prefix, auth) in [
        ("40", "40", r#"42["auth",{}]"#),
        (r#"40{"token":"123"}"#, "40", r#"42["auth",{"token":"123"}]"#),
        ("40/custom,", "40/custom,", r#"42/custom,["auth",{}]"#),
        (r#"40/custom,{"token":"abc"}"#, "40/custom,", r#"42/custom,["auth",{"token":"abc"}]"#),
        ("40/custom", "40/custom,", r#"42/custom,["auth",{}]"#),
    ] {
        let mut c = Client::open(addr).await;
        c.send(send).await;
        sid(&c.text().await, prefix);
        assert_eq!(c.text().await, auth);
    }

    let mut c = Client::open(addr).await;
    c.send("40/random").await;
    assert_eq!(c.text().await, r#"44/random,{"message":"Invalid namespace"}"#);

    for bad in [
        "4abc",
        "42{}",
        r#"42abc["message-with-ack",1]"#,
        r#"42222222222222222222["message"]"#,
        r#"42["disconnect"]"#,
    ] {
        let mut c = Client::open(addr).await;
        c.send("40").await;
        c.text().await;
        c.text().await;
        c.send(bad).await;
        c.assert_closed().await;
    }

    let mut c = Client::open(addr).await;
    c.send("40").await;
    c.text().await;
    c.text().await;
    c.send("40/custom,").await;
    c.text().await;
    c.text().await;
    c.send("41/custom").await;
    c.send(r#"42["message","message to main namespace"]"#).await;
    assert_eq!(c.text().await, r#"42["message-back","message to main namespace"]"#);
    c.send(r#"42["message",1,"2",{"3":[true]}]"#).await;
    assert_eq!(c.text().await, r#"42["message-back",1,"2",{"3":[true]}]"#);
    c.send(r#"452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#).await;
    c.send_bin(&[1, 2, 3]).await;
    c.send_bin(&[4, 5, 6]).await;
    assert_eq!(
        c.text().await,
        r#"452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
    );
    assert_eq!(c.bin().await, [1, 2, 3]);
    assert_eq!(c.bin().await, [4, 5, 6]);
    c.send(r#"42456["message-with-ack",1,"2",{"3":[false]}]"#).await;
    assert_eq!(c.text().await, r#"43456[1,"2",{"3":[false]}]"#);
    c.send(r#"452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#).await;
    c.send_bin(&[1]).await;
    c.send_bin(&[2]).await;
    assert_eq!(
        c.text().await,
        r#"462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
    );
    assert_eq!(c.bin().await, [1]);
    assert_eq!(c.bin().await, [2]);

    // Leaving the last namespace keeps the connection: the next frame is a ping.
    c.send("41").await;
    let next = tokio::time::timeout(Duration::from_secs(2), c.ws.next()).await.unwrap();
    assert!(matches!(next, Some(Ok(Ws::Text(ref t))) if t.as_str() == "2"), "{next:?}");
}

#[tokio::test]
async fn no_connect_is_closed_after_connect_timeout() {
    let io = switchboard::conformance::app();
    let addr = serve(&io).await;
    let mut c = Client::open(addr).await;
    let started = tokio::time::Instant::now();
    c.assert_closed().await;
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(900), "closed after {waited:?}");
}

#[tokio::test]
async fn mounted_in_axum_next_to_routes() {
    let io = SocketIo::new(Default::default());
    io.on_connection(|socket: Socket| async move {
        socket
            .on("echo", |_s: Socket, ev: Event<Value>| async move {
                if let Some(ack) = ev.ack {
                    ack.send(&ev.data).unwrap();
                }
            })
            .unwrap();
    });
    let app = axum::Router::new()
        .route("/hello", axum::routing::get(|| async { "hi" }))
        .layer(io.layer());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut c = Client::open(addr).await;
    c.send("40").await;
    sid(&c.text().await, "40");
    c.send(r#"421["echo",{"b":1,"a":2}]"#).await;
    assert_eq!(c.text().await, r#"431[{"b":1,"a":2}]"#);

    let mut tcp = TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tcp.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut body = String::new();
    tcp.read_to_string(&mut body).await.unwrap();
    assert!(body.ends_with("hi"), "{body}");
}
