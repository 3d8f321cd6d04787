//! WebSocket over 127.0.0.1: WebSocket-only sessions, the upgrade, limits, bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use futures_util::SinkExt;
use switchboard_engine::{DisconnectReason, Message, TransportKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;

const PATH: &str = "/engine.io/";

#[tokio::test]
async fn websocket_only_session_echoes_text_and_binary() {
    let mut server = start(config()).await;
    let mut ws = ws(server.addr, None).await;
    let open = text(&mut ws).await;
    assert!(open.contains(r#""upgrades":[]"#), "{open}");
    let sid = sid_of(&open);
    assert_eq!(server.engine.socket(&sid).unwrap().transport(), TransportKind::WebSocket);
    send(&mut ws, "4hello").await;
    assert_eq!(text(&mut ws).await, "4hello");
    ws.send(WsMessage::binary(vec![1u8, 2, 3, 4])).await.unwrap();
    assert_eq!(frame(&mut ws).await, Some(WsMessage::binary(vec![1u8, 2, 3, 4])));
    assert_eq!(server.next().await, Seen::Connect(sid.clone()));
    assert_eq!(server.next().await, Seen::Message(sid.clone(), Message::Text("hello".into())));
    assert_eq!(
        server.next().await,
        Seen::Message(sid.clone(), Message::Binary(vec![1u8, 2, 3, 4].into()))
    );
    send(&mut ws, "1").await;
    assert_eq!(frame(&mut ws).await, None, "closed after a close packet");
    assert_eq!(server.next().await, Seen::Disconnect(sid, DisconnectReason::TransportClose));
    assert_eq!(server.engine.session_count(), 0);
}

#[tokio::test]
async fn upgrade_from_polling() {
    let mut server = start_with(config(), false).await;
    let addr = server.addr;
    let sid = handshake(addr).await;
    let target = polling(PATH, Some(&sid));
    let socket = server.engine.socket(&sid).unwrap();
    let mut probe = ws(addr, Some(&sid)).await;
    send(&mut probe, "2probe").await;
    assert_eq!(text(&mut probe).await, "3probe");
    // Upgrading: a GET is answered with a noop at once; messages wait for the WebSocket.
    socket.send(Message::Text("queued".into())).unwrap();
    assert_eq!(http(addr, "GET", &target, b"").await.body, "6");
    // A second WebSocket while upgrading is accepted, then closed.
    let mut other = ws(addr, Some(&sid)).await;
    assert_eq!(frame(&mut other).await, None);
    send(&mut probe, "5").await;
    assert_eq!(text(&mut probe).await, "4queued");
    assert_eq!(socket.transport(), TransportKind::WebSocket);
    assert_eq!(http(addr, "GET", &target, b"").await.status, 400);
    assert_eq!(http(addr, "POST", &target, b"4x").await.status, 400);
    send(&mut probe, "4over ws").await;
    assert_eq!(server.next().await, Seen::Connect(sid.clone()));
    assert_eq!(server.next().await, Seen::Upgrade(sid.clone()));
    assert_eq!(server.next().await, Seen::Message(sid.clone(), Message::Text("over ws".into())));
    // After the upgrade a second WebSocket completes its handshake and is closed; the first
    // stays usable.
    let mut late = ws(addr, Some(&sid)).await;
    assert_eq!(frame(&mut late).await, None);
    socket.send(Message::Text("still".into())).unwrap();
    assert_eq!(text(&mut probe).await, "4still");
}

#[tokio::test]
async fn probe_and_upgrade_back_to_back() {
    let server = start(config()).await;
    let sid = handshake(server.addr).await;
    let mut probe = ws(server.addr, Some(&sid)).await;
    probe.feed(WsMessage::text("2probe")).await.unwrap();
    probe.feed(WsMessage::text("5")).await.unwrap();
    probe.feed(WsMessage::text("4echo")).await.unwrap();
    probe.flush().await.unwrap();
    assert_eq!(text(&mut probe).await, "3probe");
    assert_eq!(text(&mut probe).await, "4echo");
}

#[tokio::test]
async fn a_failed_probe_leaves_the_polling_session_alone() {
    let server = start(config()).await;
    let sid = handshake(server.addr).await;
    let target = polling(PATH, Some(&sid));
    let mut probe = ws(server.addr, Some(&sid)).await;
    send(&mut probe, "4not a probe").await;
    assert_eq!(frame(&mut probe).await, None);
    assert_eq!(http(server.addr, "POST", &target, b"4poll").await.body, "ok");
    assert_eq!(http(server.addr, "GET", &target, b"").await.body, "4poll");
}

#[tokio::test(start_paused = true)]
async fn upgrade_timeout_closes_the_probe() {
    let server = start(config()).await;
    let sid = handshake(server.addr).await;
    let mut probe = ws(server.addr, Some(&sid)).await;
    send(&mut probe, "2probe").await;
    assert_eq!(text(&mut probe).await, "3probe");
    let start = tokio::time::Instant::now();
    assert_eq!(frame(&mut probe).await, None);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(9_990) && waited < Duration::from_millis(10_020),
        "{waited:?}"
    );
    assert_eq!(server.engine.socket(&sid).unwrap().transport(), TransportKind::Polling);
}

#[tokio::test]
async fn bad_frames_close_the_session() {
    let mut server = start(config()).await;
    let mut ws = ws(server.addr, None).await;
    let sid = sid_of(&text(&mut ws).await);
    send(&mut ws, "abc").await;
    assert_eq!(frame(&mut ws).await, None);
    assert_eq!(server.next().await, Seen::Connect(sid.clone()));
    assert_eq!(server.next().await, Seen::Disconnect(sid, DisconnectReason::ParseError));
}

#[tokio::test]
async fn messages_over_max_payload_close_the_session() {
    let mut cfg = config();
    cfg.max_payload = 100;
    let mut server = start(cfg).await;
    let mut ws = ws(server.addr, None).await;
    let sid = sid_of(&text(&mut ws).await);
    send(&mut ws, &format!("4{}", "x".repeat(99))).await;
    assert_eq!(text(&mut ws).await.len(), 100);
    send(&mut ws, &format!("4{}", "x".repeat(100))).await;
    assert_eq!(frame(&mut ws).await, None);
    assert_eq!(server.next().await, Seen::Connect(sid.clone()));
    assert!(matches!(server.next().await, Seen::Message(..)));
    assert_eq!(server.next().await, Seen::Disconnect(sid, DisconnectReason::TransportError));
}

#[tokio::test(start_paused = true)]
async fn silent_client_is_closed_exactly_at_ping_plus_timeout() {
    let mut server = start(config()).await;
    let start = tokio::time::Instant::now();
    let mut ws = ws(server.addr, None).await;
    let sid = sid_of(&text(&mut ws).await);
    assert_eq!(text(&mut ws).await, "2");
    assert_eq!(frame(&mut ws).await, None);
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_secs(45) && elapsed < Duration::from_millis(45_010),
        "{elapsed:?}"
    );
    assert_eq!(server.next().await, Seen::Connect(sid.clone()));
    assert_eq!(server.next().await, Seen::Disconnect(sid, DisconnectReason::PingTimeout));
    assert_eq!(server.engine.session_count(), 0);
}

#[tokio::test]
async fn junk_after_the_upgrade_request_ends_only_that_session() {
    let mut server = start(config()).await;
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let req = format!(
        "GET {PATH}?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    tcp.write_all(b"\x00\xffjunk that is no websocket frame\r\n\r\n").await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the server closes the connection");
    assert!(String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 101"));
    assert!(matches!(server.next().await, Seen::Connect(_)));
    assert!(matches!(server.next().await, Seen::Disconnect(_, DisconnectReason::TransportError)));
    // Others are served as before.
    let mut ws = ws(server.addr, None).await;
    assert!(text(&mut ws).await.starts_with('0'));
}

#[tokio::test]
async fn websocket_handshake_errors() {
    let server = start(config()).await;
    let cases: &[(&str, u16)] = &[
        ("?EIO=4&transport=websocket&sid=unknown", 400),
        ("?EIO=5&transport=websocket", 400),
        ("?transport=websocket", 400),
    ];
    for (query, status) in cases {
        let url = format!("ws://{}{PATH}{query}", server.addr);
        let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let err = tokio_tungstenite::client_async(url, tcp).await.unwrap_err();
        match err {
            tokio_tungstenite::tungstenite::Error::Http(res) => {
                assert_eq!(res.status().as_u16(), *status, "{query}");
            }
            other => panic!("{query}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn outgoing_frames_are_bounded_by_the_write_buffer_only() {
    let mut cfg = config();
    cfg.max_payload = 100;
    cfg.max_websocket_write_buffer = 200;
    let server = start(cfg).await;
    let mut client = ws(server.addr, None).await;
    let sid = sid_of(&text(&mut client).await);
    // Frames over the write buffer end the session instead of growing memory.
    let socket = server.engine.socket(&sid).unwrap();
    socket.send(Message::Text("x".repeat(1000).into())).unwrap();
    assert_eq!(frame(&mut client).await, None);

    // A zero buffer is clamped rather than panicking; the open packet then cannot be sent.
    let mut cfg = config();
    cfg.max_websocket_write_buffer = 0;
    let server = start(cfg).await;
    let mut client = ws(server.addr, None).await;
    assert_eq!(frame(&mut client).await, None);
    assert!(http(server.addr, "GET", &polling(PATH, None), b"").await.body.starts_with('0'));

    let mut cfg = config();
    cfg.max_payload = 100;
    let server = start(cfg).await;
    let mut client = ws(server.addr, None).await;
    let sid = sid_of(&text(&mut client).await);
    // maxPayload limits what clients send, not what the server sends.
    let big = "y".repeat(10_000);
    server.engine.socket(&sid).unwrap().send(Message::Text(big.clone().into())).unwrap();
    assert_eq!(text(&mut client).await, format!("4{big}"));
}

#[tokio::test]
async fn a_stream_ended_without_a_close_frame_is_a_transport_close() {
    let mut server = start(config()).await;
    // The open packet is read, so nothing unread makes the kernel send a reset.
    let mut tcp = raw_session(server.addr).await;
    // A FIN, no close frame.
    tcp.shutdown().await.unwrap();
    let sid = match server.next().await {
        Seen::Connect(sid) => sid,
        other => panic!("expected a connect, got {other:?}"),
    };
    assert_eq!(server.next().await, Seen::Disconnect(sid, DisconnectReason::TransportClose));
}

/// The next frame of any kind, within 60 s.
async fn raw_frame(ws: &mut Client) -> Option<WsMessage> {
    tokio::time::timeout(Duration::from_secs(60), futures_util::StreamExt::next(ws))
        .await
        .expect("frame in time")
        .and_then(Result::ok)
}

#[tokio::test]
async fn websocket_framing_pings_fragments_and_the_closing_handshake() {
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};

    let mut server = start(config()).await;
    let mut ws = ws(server.addr, None).await;
    let sid = sid_of(&text(&mut ws).await);
    assert_eq!(server.next().await, Seen::Connect(sid.clone()));
    // A WebSocket ping is answered with a pong carrying its payload.
    ws.send(WsMessage::Ping(vec![7u8, 8].into())).await.unwrap();
    assert_eq!(raw_frame(&mut ws).await, Some(WsMessage::Pong(vec![7u8, 8].into())));
    // A message in three fragments, a ping between them, is one message.
    let part =
        |data: &'static str, opcode, fin| WsMessage::Frame(Frame::message(data, opcode, fin));
    ws.send(part("4he", OpCode::Data(Data::Text), false)).await.unwrap();
    ws.send(WsMessage::Ping(vec![1u8].into())).await.unwrap();
    ws.send(part("ll", OpCode::Data(Data::Continue), false)).await.unwrap();
    ws.send(part("o", OpCode::Data(Data::Continue), true)).await.unwrap();
    assert_eq!(raw_frame(&mut ws).await, Some(WsMessage::Pong(vec![1u8].into())));
    assert_eq!(text(&mut ws).await, "4hello");
    // A large message (16-bit, then 64-bit length) arrives whole.
    for len in [1000, 70_000] {
        let big = format!("4{}", "x".repeat(len));
        send(&mut ws, &big).await;
        assert_eq!(text(&mut ws).await, big);
    }
    // The client's close frame is answered with its code, and the session ends.
    let close = CloseFrame { code: CloseCode::Away, reason: "bye".into() };
    ws.send(WsMessage::Close(Some(close))).await.unwrap();
    match raw_frame(&mut ws).await {
        Some(WsMessage::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected the close answer, got {other:?}"),
    }
    assert_eq!(server.next().await, Seen::Message(sid.clone(), Message::Text("hello".into())));
    let big = |len| Seen::Message(sid.clone(), Message::Text("x".repeat(len).into()));
    assert_eq!(server.next().await, big(1000));
    assert_eq!(server.next().await, big(70_000));
    assert_eq!(server.next().await, Seen::Disconnect(sid, DisconnectReason::TransportClose));
}

#[tokio::test]
async fn a_text_frame_that_is_not_utf8_is_a_transport_error() {
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

    let mut server = start(config()).await;
    let mut ws = ws(server.addr, None).await;
    let sid = sid_of(&text(&mut ws).await);
    assert_eq!(server.next().await, Seen::Connect(sid.clone()));
    let bad = Frame::message(vec![b'4', 0xff, 0xfe], OpCode::Data(Data::Text), true);
    ws.send(WsMessage::Frame(bad)).await.unwrap();
    assert_eq!(server.next().await, Seen::Disconnect(sid, DisconnectReason::TransportError));
}

/// A WebSocket opened by hand over TCP, its open packet read: for frames no well-behaved
/// client library would send.
async fn raw_session(addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET {PATH}?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains("maxPayload") {
        let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf))
            .await
            .expect("the open packet in time")
            .unwrap();
        assert!(n > 0, "connection closed before the open packet");
        seen.extend_from_slice(&buf[..n]);
    }
    tcp
}

/// A client frame: `b0` (fin, opcode), masked payload.
fn masked(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut out = vec![b0];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    out
}

/// Sends `bytes`, then reads the server's frames until its close frame (its payload) or the
/// end of the connection (`None`: no close frame).
async fn close_payload_after(addr: std::net::SocketAddr, bytes: &[u8]) -> Option<Vec<u8>> {
    let mut tcp = raw_session(addr).await;
    // The peer may reset once it has closed; what was sent before that is read all the same.
    let _ = tcp.write_all(bytes).await;
    let mut wire = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(payload) = close_frame(&wire) {
            return Some(payload);
        }
        let read = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf))
            .await
            .expect("the server closes in time");
        match read {
            Ok(0) | Err(_) => return None,
            Ok(n) => wire.extend_from_slice(&buf[..n]),
        }
    }
}

/// The payload of the first close frame among the server's (unmasked, short) frames in `wire`.
fn close_frame(wire: &[u8]) -> Option<Vec<u8>> {
    let mut at = 0;
    while at + 2 <= wire.len() {
        let (opcode, len7) = (wire[at] & 0x0f, usize::from(wire[at + 1] & 0x7f));
        let (len, head) = match len7 {
            126 => (usize::from(u16::from_be_bytes([*wire.get(at + 2)?, *wire.get(at + 3)?])), 4),
            n => (n, 2),
        };
        let payload = wire.get(at + head..at + head + len)?.to_vec();
        if opcode == 0x8 {
            return Some(payload);
        }
        at += head + len;
    }
    None
}

#[tokio::test]
async fn failures_send_a_close_frame_that_says_why() {
    let mut cfg = config();
    cfg.max_payload = 1000;
    let server = start(cfg).await;
    let code = |payload: Option<Vec<u8>>| payload.map(|p| u16::from_be_bytes([p[0], p[1]]));
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        // Close codes a peer may not send are a protocol error, not echoed.
        ("close 1005", masked(0x88, &1005u16.to_be_bytes()), 1002),
        ("close 1006", masked(0x88, &1006u16.to_be_bytes()), 1002),
        ("close 999", masked(0x88, &999u16.to_be_bytes()), 1002),
        ("close 5000", masked(0x88, &5000u16.to_be_bytes()), 1002),
        ("one-byte close", masked(0x88, &[3]), 1002),
        ("close reason not utf-8", masked(0x88, &[0x03, 0xe8, 0xff, 0xfe]), 1007),
        ("text not utf-8", masked(0x81, &[b'4', 0xc3, 0x28]), 1007),
        ("unmasked", vec![0x81, 0x02, b'4', b'x'], 1002),
        ("reserved bit", masked(0xc1, b"4x"), 1002),
        ("reserved opcode", masked(0x83, b"4x"), 1002),
        ("stray continuation", masked(0x80, b"4x"), 1002),
        ("fragmented ping", masked(0x09, b"x"), 1002),
        ("too big", masked(0x81, &[b'x'; 1001]), 1009),
    ];
    for (name, bytes, expected) in cases {
        assert_eq!(code(close_payload_after(server.addr, &bytes).await), Some(expected), "{name}");
    }
    // Valid codes are echoed, with no reason.
    for valid in [1000u16, 1001, 1003, 1011, 3000, 4999] {
        let mut frame = valid.to_be_bytes().to_vec();
        frame.extend_from_slice("bye ✓".as_bytes());
        let echoed = close_payload_after(server.addr, &masked(0x88, &frame)).await;
        assert_eq!(echoed, Some(valid.to_be_bytes().to_vec()), "{valid}");
    }
    // An empty close gets an empty close.
    assert_eq!(close_payload_after(server.addr, &masked(0x88, &[])).await, Some(Vec::new()));
}

#[tokio::test]
async fn a_wrong_websocket_version_gets_426_with_the_supported_version() {
    let server = start(config()).await;
    for version in ["8", "12", "14"] {
        let headers = [
            ("Connection", "Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Version", version),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ];
        let target = format!("{PATH}?EIO=4&transport=websocket");
        let reply = http_raw(server.addr, "GET", &target, &headers, b"").await;
        assert_eq!(reply.status, 426, "{version}");
        assert_eq!(reply.header("sec-websocket-version").as_deref(), Some("13"), "{version}");
    }
}

#[tokio::test]
async fn an_upgrade_from_an_origin_outside_the_list_is_refused() {
    let mut cfg = config();
    let mut cors = switchboard_engine::Cors::default();
    cors.origins = Some(vec!["https://good.example".to_owned()]);
    cfg.cors = Some(cors);
    let server = start(cfg).await;
    let target = format!("{PATH}?EIO=4&transport=websocket");
    let upgrade = |origin: &'static str| {
        [
            ("Connection", "Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Origin", origin),
        ]
    };
    let reply = http_raw(server.addr, "GET", &target, &upgrade("https://evil.example"), b"").await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.body, r#"{"code":4,"message":"Origin not allowed"}"#);
    assert_eq!(server.engine.session_count(), 0);
    // A listed origin is upgraded (the head of the answer is enough: the session stays open).
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut req = format!("GET {target} HTTP/1.1\r\nHost: x\r\n");
    for (name, value) in upgrade("https://good.example") {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    tcp.write_all(format!("{req}\r\n").as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf))
            .await
            .expect("an answer in time")
            .unwrap();
        assert!(n > 0, "closed before the answer");
        head.extend_from_slice(&buf[..n]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    // A client that is no browser page sends no Origin, and is served.
    let mut ws = ws(server.addr, None).await;
    assert!(text(&mut ws).await.starts_with('0'));
}

/// What the server sends in bursts reaches the client whole and in order, whichever way the
/// session queues it: messages before the session streams, then frames written by the senders,
/// with large messages (over the copy limit) left to the session task between them.
#[tokio::test]
async fn bursts_of_small_and_large_messages_arrive_whole_and_in_order() {
    use switchboard_engine::EncodedMessage;
    let server = start(config()).await;
    let mut client = ws(server.addr, None).await;
    let sid = sid_of(&text(&mut client).await);
    let socket = server.engine.socket(&sid).unwrap();
    let large = vec![9u8; 4096];
    let mut want = Vec::new();
    for burst in 0..20 {
        for i in 0..8 {
            let t = format!("b{burst}m{i}");
            // Shared (as a broadcast sends), owned, and as a message, in turn.
            match i % 3 {
                0 => socket.send_encoded(&[EncodedMessage::text(&t)]).unwrap(),
                1 => socket.send_encoded_one(EncodedMessage::text(&t)).unwrap(),
                _ => socket.send(Message::Text(t.clone().into())).unwrap(),
            }
            want.push(WsMessage::text(format!("4{t}")));
            if i == 3 {
                // A packet and its large attachment, which must go out together.
                let head = format!("b{burst}head");
                let pair = [EncodedMessage::text(&head), EncodedMessage::binary(large.clone())];
                socket.send_encoded(&pair).unwrap();
                want.push(WsMessage::text(format!("4{head}")));
                want.push(WsMessage::binary(large.clone()));
            }
        }
        if burst % 4 == 0 {
            // Let the session write what it has before the next burst.
            for w in want.drain(..) {
                assert_eq!(frame(&mut client).await, Some(w));
            }
        }
    }
    for w in want.drain(..) {
        assert_eq!(frame(&mut client).await, Some(w));
    }
}

#[tokio::test]
async fn frames_queued_by_the_senders_are_bounded_by_the_write_buffer_too() {
    let mut cfg = config();
    cfg.max_websocket_write_buffer = 200;
    let mut server = start(cfg).await;
    let mut client = ws(server.addr, None).await;
    let sid = sid_of(&text(&mut client).await);
    let socket = server.engine.socket(&sid).unwrap();
    // The first message makes the session stream; those after it are queued as frames.
    socket.send(Message::Text("first".into())).unwrap();
    assert_eq!(text(&mut client).await, "4first");
    socket.send(Message::Text("second".into())).unwrap();
    assert_eq!(text(&mut client).await, "4second");
    // Together, over the write buffer: the session ends rather than hold them.
    let many = (0..40).map(|i| Message::Text(format!("m{i:03}").into())).collect();
    socket.send_many(many).unwrap();
    loop {
        match frame(&mut client).await {
            None => break,
            Some(WsMessage::Text(t)) => assert!(t.as_str().starts_with("4m"), "{t}"),
            Some(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(server.next().await, Seen::Connect(sid.clone()));
    assert_eq!(server.next().await, Seen::Disconnect(sid, DisconnectReason::TransportError));
}
