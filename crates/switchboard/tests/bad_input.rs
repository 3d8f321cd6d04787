//! A corpus of hostile input over real sockets on 127.0.0.1: each case must get a clear answer
//! (an HTTP error, a close, an ack with an error) while a healthy client on the same server
//! keeps being served.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use switchboard::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data as WsData, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};

const WAIT: Duration = Duration::from_secs(10);

/// A Socket.IO client over a raw WebSocket, joined to `/`.
struct Client {
    ws: WebSocketStream<TcpStream>,
}

impl Client {
    async fn open(addr: SocketAddr) -> Client {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let (ws, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
        let mut c = Client { ws };
        assert!(c.text().await.starts_with("0{"));
        c.send("40").await;
        assert!(c.text().await.starts_with("40{"));
        c
    }

    /// The next data frame (pings answered), `None` once closed.
    async fn next(&mut self) -> Option<Ws> {
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.next()).await.expect("a frame in time");
            match frame {
                Some(Ok(Ws::Text(t))) if t.as_str() == "2" => {
                    let _ = self.ws.send(Ws::text("3")).await;
                }
                Some(Ok(Ws::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(Ws::Ping(_) | Ws::Pong(_))) => {}
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

    async fn send(&mut self, text: &str) {
        // The server may already have closed: what it answers is read afterwards.
        let _ = self.ws.send(Ws::text(text)).await;
    }

    /// Sends a Socket.IO packet (in an Engine.IO message: `4` first).
    async fn sio(&mut self, packet: &str) {
        self.send(&format!("4{packet}")).await;
    }

    async fn send_bin(&mut self, b: &[u8]) {
        let _ = self.ws.send(Ws::binary(b.to_vec())).await;
    }

    /// Reads until the server closes, failing on anything but frames already in flight.
    async fn closed(&mut self) -> bool {
        for _ in 0..8 {
            if self.next().await.is_none() {
                return true;
            }
        }
        false
    }

    /// Echoes `n` with an ack: the server still answers this client.
    async fn healthy(&mut self, n: u64) {
        self.sio(&format!("2{n}[\"echo\",{n}]")).await;
        assert_eq!(self.text().await, format!("43{n}[{n}]"));
    }
}

async fn server(config: SocketIoConfig) -> SocketAddr {
    let io = SocketIo::new(config);
    io.on_connection(|socket: Socket| async move {
        socket.on("echo", |Data(v): Data<Value>| async move { Ok::<_, HandlerError>(v) })?;
        Ok::<_, HandlerError>(())
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Serves until the test's runtime ends.
    tokio::spawn(async move { io.serve(listener).await });
    addr
}

/// One raw HTTP exchange: the status of the answer (0 if the connection closed first).
async fn raw_http(addr: SocketAddr, request: &[u8]) -> u16 {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let _ = tcp.write_all(request).await;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout(WAIT, tcp.read(&mut buf)).await.expect("an answer in time") {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&answer);
    head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[tokio::test]
async fn malformed_socketio_packets_close_only_their_connection() {
    let addr = server(SocketIoConfig::default()).await;
    let mut healthy = Client::open(addr).await;
    let cases: &[&str] = &[
        // An ack id past u64.
        "2123456789012345678901234567890[\"echo\",1]",
        // A binary packet announcing 10^9 attachments.
        "51000000000-[\"echo\",{\"_placeholder\":true,\"num\":0}]",
        // Event names that are no event names.
        "2[{\"a\":1},\"x\"]",
        "2[null]",
        "2[true]",
        // A number (Node's parser lets it through; docs/COMPATIBILITY.md says why we do not).
        "2[42,\"x\"]",
        "2[]",
        "2{\"not\":\"an array\"}",
        // Reserved names, which a client may not send.
        "2[\"connect\"]",
        "2[\"disconnect\"]",
        "2[\"connect_error\"]",
        // Not JSON, a type that does not exist, a namespace never joined then garbage.
        "2[\"echo\",",
        "9",
        "",
        "2/nowhere,[\"echo\",1]x",
    ];
    for (i, bad) in cases.iter().enumerate() {
        let mut attacker = Client::open(addr).await;
        attacker.sio(bad).await;
        assert!(attacker.closed().await, "{bad:?} did not close its connection");
        healthy.healthy(i as u64).await;
    }
}

#[tokio::test]
async fn harmless_oddities_are_answered_or_ignored_without_harm() {
    let addr = server(SocketIoConfig::default()).await;
    let mut c = Client::open(addr).await;
    // `__proto__` and `constructor` are event names like any other: no handler, nothing happens.
    c.sio("2[\"__proto__\",{\"polluted\":true}]").await;
    c.healthy(4).await;
    c.sio("21[\"constructor\",1]").await;
    c.healthy(5).await;
    // An ack for an id the server never sent is ignored.
    c.sio("3999[\"late\"]").await;
    c.healthy(8).await;
}

#[tokio::test]
async fn placeholders_that_point_nowhere_are_refused() {
    let addr = server(SocketIoConfig::default()).await;
    let mut healthy = Client::open(addr).await;
    for num in ["\"toString\"", "-1", "1.5", "999", "null"] {
        let mut c = Client::open(addr).await;
        c.sio(&format!("51-1[\"echo\",{{\"_placeholder\":true,\"num\":{num}}}]")).await;
        c.send_bin(&[1, 2, 3]).await;
        // As Node's parser ("illegal attachments"): the packet is refused, the connection
        // closes; the handler never sees a placeholder that stands for nothing.
        assert!(c.closed().await, "num {num}: the connection stayed open");
        healthy.healthy(1).await;
    }
}

#[tokio::test]
async fn oversized_input_is_refused_before_it_is_read_whole() {
    let mut config = SocketIoConfig::default();
    config.engine.max_payload = 10_000;
    let addr = server(config).await;
    let mut healthy = Client::open(addr).await;

    // A WebSocket message announcing 100 MB: refused from its header alone, with 1009.
    let mut c = Client::open(addr).await;
    let header = FrameHeader {
        opcode: OpCode::Data(WsData::Binary),
        mask: Some([1, 2, 3, 4]),
        ..FrameHeader::default()
    };
    let mut head = Vec::new();
    header.format(100 << 20, &mut head).unwrap();
    let _ = c.ws.get_mut().write_all(&head).await;
    let close = tokio::time::timeout(WAIT, c.ws.next()).await.expect("an answer in time");
    match close {
        Some(Ok(Ws::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1009),
        other => panic!("expected a 1009 close, got {other:?}"),
    }
    healthy.healthy(1).await;

    // One-byte fragments past the limit: the message is refused once it passes it, however
    // it is cut.
    let mut c = Client::open(addr).await;
    let mut sent = 0;
    let mut refused = false;
    let part = |opcode, fin| Ws::Frame(Frame::message(vec![b'x'], opcode, fin));
    if c.ws.send(part(OpCode::Data(WsData::Text), false)).await.is_ok() {
        while sent < 20_000 {
            if c.ws.send(part(OpCode::Data(WsData::Continue), false)).await.is_err() {
                refused = true;
                break;
            }
            sent += 1;
        }
    }
    assert!(refused || c.closed().await, "20,000 fragments were taken for a 10 kB limit");
    healthy.healthy(2).await;

    // A polling body of 100 MB, declared or streamed: refused at once.
    let declared = "POST /socket.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\nHost: x\r\n\
                    Content-Length: 104857600\r\n\r\n";
    let status = raw_http(addr, declared.as_bytes()).await;
    assert!(matches!(status, 400 | 413), "{status}");
    healthy.healthy(3).await;
}

#[tokio::test]
async fn bad_http_handshakes_get_clear_errors() {
    let addr = server(SocketIoConfig::default()).await;
    let mut healthy = Client::open(addr).await;
    let get = |query: &str, extra: &str| {
        format!("GET /socket.io/?{query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n")
    };
    let upgrade = "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let cases: Vec<(String, &[u16])> = vec![
        (get("EIO=4&transport=__proto__", ""), &[400]),
        (get("EIO=4&transport=constructor", ""), &[400]),
        (get("EIO=999&transport=polling", ""), &[400]),
        (get("EIO=999&transport=websocket", upgrade), &[400]),
        (get("EIO=4&transport=polling&sid=__proto__", ""), &[400]),
        // 10,000 headers: hyper refuses the head (431), or closes the connection.
        (get("EIO=4&transport=polling", &"X-A: b\r\n".repeat(10_000)), &[431, 0]),
        // A 32,000-space subprotocol list: no subprotocol is chosen, the upgrade is answered.
        (
            get(
                "EIO=4&transport=websocket",
                &format!("{upgrade}Sec-WebSocket-Protocol: {}x\r\n", " ".repeat(32_000)),
            ),
            &[101, 431, 0],
        ),
    ];
    for (request, allowed) in cases {
        let status = raw_http(addr, request.as_bytes()).await;
        let line = request.lines().next().unwrap_or_default().to_owned();
        assert!(allowed.contains(&status), "{line}: {status}");
        healthy.healthy(u64::from(status)).await;
    }
}

#[tokio::test]
async fn a_post_on_a_websocket_session_is_refused() {
    let addr = server(SocketIoConfig::default()).await;
    let tcp = TcpStream::connect(addr).await.unwrap();
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
    let open = match ws.next().await {
        Some(Ok(Ws::Text(t))) => t.to_string(),
        other => panic!("{other:?}"),
    };
    let sid = open.split('"').nth(3).unwrap().to_owned();
    let post = format!(
        "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\
         Connection: close\r\nContent-Length: 2\r\n\r\n40"
    );
    assert_eq!(raw_http(addr, post.as_bytes()).await, 400);
}

#[tokio::test(start_paused = true)]
async fn a_head_sent_slowly_is_cut_off() {
    let addr = server(SocketIoConfig::default()).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // The rest never comes: the server closes the connection (paused time runs the timer).
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(120), tcp.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the connection was still open after 120 s");
}

#[tokio::test]
async fn a_client_that_never_reads_is_disconnected_and_the_others_are_not() {
    let (gone_tx, mut gone) = tokio::sync::mpsc::unbounded_channel();
    let io = SocketIo::new(SocketIoConfig::default());
    io.on_connection(move |socket: Socket| {
        let gone_tx = gone_tx.clone();
        async move {
            socket.on("echo", |Data(v): Data<Value>| async move { Ok::<_, HandlerError>(v) })?;
            // Sends up to 100 MB, a message of 1 kB at a time, to a client that asked for it.
            socket.on("flood", |s: Socket| async move {
                let chunk = "x".repeat(1024);
                for _ in 0..100_000 {
                    if s.emit("chunk", &chunk).is_err() {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
            })?;
            socket.on_disconnect(move |s: Socket, reason: DisconnectReason| {
                let _ = gone_tx.send((s.id().to_string(), reason));
                async {}
            });
            Ok::<_, HandlerError>(())
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { io.serve(listener).await });

    let mut healthy = Client::open(addr).await;
    let mut reader = Client::open(addr).await;
    reader.sio("2[\"flood\"]").await;
    // The reader reads nothing from now on: the server's queue for it fills (4096 messages),
    // and the server closes that connection instead of holding 100 MB for it.
    let (who, reason) = tokio::time::timeout(Duration::from_secs(60), gone.recv())
        .await
        .expect("the slow reader was disconnected in time")
        .expect("a disconnection");
    assert_eq!(reason, DisconnectReason::TransportError, "{who}");
    healthy.healthy(1).await;
    drop(reader);
}
