//! HTTP long-polling over 127.0.0.1: handshake, data path, errors, limits, reaping.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use switchboard_engine::{Cors, DisconnectReason, Message, Transports};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PATH: &str = "/engine.io/";

#[tokio::test]
async fn handshake_has_exactly_the_five_keys() {
    let server = start(config()).await;
    let reply = http(server.addr, "GET", &polling(PATH, None), b"").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type").as_deref(), Some("text/plain; charset=UTF-8"));
    let json: serde_json::Value = serde_json::from_str(&reply.body[1..]).unwrap();
    let obj = json.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"]);
    assert_eq!(json["upgrades"], serde_json::json!(["websocket"]));
    assert_eq!(json["pingInterval"], 25000);
    assert_eq!(json["pingTimeout"], 20000);
    assert_eq!(json["maxPayload"], 1_000_000);
    assert_eq!(json["sid"].as_str().unwrap().len(), 20);
    assert_eq!(server.engine.session_count(), 1);

    let mut no_ws = config();
    no_ws.transports = Transports { polling: true, websocket: false };
    let server = start(no_ws).await;
    let reply = http(server.addr, "GET", &polling(PATH, None), b"").await;
    assert!(reply.body.contains(r#""upgrades":[]"#), "{}", reply.body);
}

#[tokio::test]
async fn errors_match_node() {
    let server = start(config()).await;
    let sid = handshake(server.addr).await;
    let cases: &[(&str, String, u16, &str)] = &[
        ("GET", format!("{PATH}?EIO=4"), 400, r#"{"code":0,"message":"Transport unknown"}"#),
        (
            "GET",
            format!("{PATH}?EIO=4&transport=abc"),
            400,
            r#"{"code":0,"message":"Transport unknown"}"#,
        ),
        (
            "GET",
            polling(PATH, Some("unknown")),
            400,
            r#"{"code":1,"message":"Session ID unknown"}"#,
        ),
        (
            "POST",
            polling(PATH, Some("unknown")),
            400,
            r#"{"code":1,"message":"Session ID unknown"}"#,
        ),
        ("POST", polling(PATH, None), 400, r#"{"code":2,"message":"Bad handshake method"}"#),
        ("PUT", polling(PATH, None), 400, r#"{"code":2,"message":"Bad handshake method"}"#),
        ("PUT", polling(PATH, Some(&sid)), 400, r#"{"code":3,"message":"Bad request"}"#),
        (
            "GET",
            format!("{PATH}?EIO=4&transport=websocket"),
            400,
            r#"{"code":3,"message":"Bad request"}"#,
        ),
        (
            "GET",
            format!("{PATH}?transport=polling"),
            400,
            r#"{"code":5,"message":"Unsupported protocol version"}"#,
        ),
        (
            "GET",
            format!("{PATH}?EIO=3&transport=polling"),
            400,
            r#"{"code":5,"message":"Unsupported protocol version"}"#,
        ),
        ("GET", "/other/?EIO=4&transport=polling".to_owned(), 404, ""),
    ];
    for (method, target, status, body) in cases {
        let reply = http(server.addr, method, target, b"").await;
        assert_eq!(reply.status, *status, "{method} {target}");
        assert_eq!(reply.body, *body, "{method} {target}");
        if *status == 400 {
            assert_eq!(reply.header("content-type").as_deref(), Some("application/json"));
        }
    }
}

#[tokio::test]
async fn post_then_get_echoes_text_and_binary_in_order() {
    let mut server = start(config()).await;
    let sid = handshake(server.addr).await;
    assert_eq!(server.next().await, Seen::Connect(sid.clone()));
    let post = http(server.addr, "POST", &polling(PATH, Some(&sid)), b"4hello\x1ebAQIDBA==").await;
    assert_eq!((post.status, post.body.as_str()), (200, "ok"));
    assert_eq!(post.header("content-type").as_deref(), Some("text/plain; charset=UTF-8"));
    let get = http(server.addr, "GET", &polling(PATH, Some(&sid)), b"").await;
    assert_eq!(get.body, "4hello\x1ebAQIDBA==");
    assert_eq!(server.next().await, Seen::Message(sid.clone(), Message::Text("hello".into())));
    assert_eq!(
        server.next().await,
        Seen::Message(sid.clone(), Message::Binary(vec![1u8, 2, 3, 4].into()))
    );
    let many = b"4test1\x1e4test2\x1e4test3";
    http(server.addr, "POST", &polling(PATH, Some(&sid)), many).await;
    let get = http(server.addr, "GET", &polling(PATH, Some(&sid)), b"").await;
    assert_eq!(get.body.as_bytes(), many);
}

#[tokio::test]
async fn overlapping_get_closes_the_session() {
    let mut server = start(config()).await;
    let sid = handshake(server.addr).await;
    let addr = server.addr;
    let target = polling(PATH, Some(&sid));
    let socket = server.engine.socket(&sid).unwrap();
    let get = |target: String| tokio::spawn(async move { http(addr, "GET", &target, b"").await });
    let (a, b) = (get(target.clone()), get(target.clone()));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let mut answers = [(a.status, a.body), (b.status, b.body)];
    answers.sort();
    assert_eq!(answers[0], (200, "1".to_owned()), "the pending GET gets a close packet");
    assert_eq!(answers[1].0, 400, "the second GET is refused");
    assert_eq!(http(addr, "GET", &target, b"").await.status, 400);
    assert!(!socket.is_connected());
    assert_eq!(server.next().await, Seen::Connect(sid.clone()));
    assert_eq!(server.next().await, Seen::Disconnect(sid, DisconnectReason::TransportError));
    assert_eq!(server.engine.session_count(), 0);
}

#[tokio::test]
async fn overlapping_post_closes_the_session() {
    let mut server = start(config()).await;
    // The second POST must reach the server while the first one's body is being read. Nothing
    // outside shows when the server has read the first head, so a try whose second POST came
    // first (and was accepted, as it should be) starts over on a fresh session.
    for _ in 0..20 {
        let sid = handshake(server.addr).await;
        assert_eq!(server.next().await, Seen::Connect(sid.clone()));
        let target = polling(PATH, Some(&sid));
        // A first POST whose body is still coming (10 of 100 bytes sent).
        let mut first = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let head = format!(
            "POST {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 100\r\n\r\n4hello wor"
        );
        first.write_all(head.as_bytes()).await.unwrap();
        let reply = http(server.addr, "POST", &target, b"4second").await;
        if reply.status == 200 {
            assert_eq!(
                server.next().await,
                Seen::Message(sid.clone(), Message::Text("second".into()))
            );
            continue;
        }
        assert_eq!(reply.status, 400, "{reply:?}");
        assert_eq!(server.next().await, Seen::Disconnect(sid, DisconnectReason::TransportError));
        assert_eq!(http(server.addr, "GET", &target, b"").await.status, 400);
        // The first POST ends with the session: its answer is an error, never `ok`.
        let _ = first.write_all(&[b'x'; 90]).await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), first.read_to_end(&mut answer)).await;
        assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 400"), "{answer:?}");
        return;
    }
    panic!("a second POST was accepted every time while the first was being read");
}

#[tokio::test]
async fn bad_payloads_close_the_session() {
    for bad in [&b"abc"[..], b"b@@", b"4a\x1e", b"4\xff", b""] {
        let mut server = start(config()).await;
        let sid = handshake(server.addr).await;
        let reply = http(server.addr, "POST", &polling(PATH, Some(&sid)), bad).await;
        assert_eq!(reply.status, 400, "{bad:?}");
        assert_eq!(http(server.addr, "GET", &polling(PATH, Some(&sid)), b"").await.status, 400);
        assert_eq!(server.next().await, Seen::Connect(sid.clone()));
        assert_eq!(server.next().await, Seen::Disconnect(sid, DisconnectReason::ParseError));
    }
}

#[tokio::test]
async fn oversize_bodies_get_413_without_being_read_whole() {
    let mut cfg = config();
    cfg.max_payload = 10;
    let server = start(cfg).await;
    let sid = handshake(server.addr).await;
    let target = polling(PATH, Some(&sid));
    let reply = http(server.addr, "POST", &target, b"4hello world").await;
    assert_eq!(reply.status, 413);
    // Chunked, no Content-Length: refused once the chunks pass the limit.
    let chunked = b"6\r\n4hello\r\n6\r\n world\r\n0\r\n\r\n";
    let headers = [("Transfer-Encoding", "chunked")];
    let reply = http_raw(server.addr, "POST", &target, &headers, chunked).await;
    assert_eq!(reply.status, 413);
    // At the limit is fine.
    let reply = http(server.addr, "POST", &target, b"4123456789").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok"));
}

#[tokio::test]
async fn allow_request_and_cors() {
    let mut cfg = config();
    cfg.allow_request = Some(Arc::new(|parts: &http::request::Parts| {
        if parts.headers.contains_key("x-token") { Ok(()) } else { Err("no token".to_owned()) }
    }));
    let mut cors = Cors::default();
    cors.origins = Some(vec!["https://good.example".to_owned()]);
    cors.credentials = true;
    cfg.cors = Some(cors);
    let server = start(cfg).await;
    let target = polling(PATH, None);
    let reply = http(server.addr, "GET", &target, b"").await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.body, r#"{"code":4,"message":"no token"}"#);
    let headers = [("x-token", "1"), ("Origin", "https://good.example")];
    let reply = http_raw(server.addr, "GET", &target, &headers, b"").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("access-control-allow-origin").as_deref(),
        Some("https://good.example")
    );
    assert_eq!(reply.header("access-control-allow-credentials").as_deref(), Some("true"));
    let headers = [("x-token", "1"), ("Origin", "https://evil.example")];
    let reply = http_raw(server.addr, "GET", &target, &headers, b"").await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.body, r#"{"code":4,"message":"Origin not allowed"}"#);
    assert_eq!(reply.header("access-control-allow-origin"), None);
    // A page served by the server itself (its origin is the request's host) passes.
    let same = format!("http://{}", server.addr);
    let headers = [("x-token", "1"), ("Origin", same.as_str())];
    assert_eq!(http_raw(server.addr, "GET", &target, &headers, b"").await.status, 200);
    let headers =
        [("Origin", "https://good.example"), ("Access-Control-Request-Headers", "x-token")];
    let reply = http_raw(server.addr, "OPTIONS", &target, &headers, b"").await;
    assert_eq!(reply.status, 204);
    assert_eq!(reply.header("access-control-allow-headers").as_deref(), Some("x-token"));
    assert_eq!(
        reply.header("access-control-allow-origin").as_deref(),
        Some("https://good.example")
    );
}

#[tokio::test(start_paused = true)]
async fn abandoned_sessions_are_reaped_exactly_at_ping_plus_timeout() {
    let mut server = start(config()).await;
    let start = tokio::time::Instant::now();
    let sid = handshake(server.addr).await;
    assert_eq!(server.next().await, Seen::Connect(sid.clone()));
    assert_eq!(server.next().await, Seen::Disconnect(sid, DisconnectReason::PingTimeout));
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_secs(45), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(45_010), "{elapsed:?}");
    assert_eq!(server.engine.session_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn pending_get_gets_the_ping_and_pongs_keep_the_session() {
    let mut server = start(config()).await;
    let sid = handshake(server.addr).await;
    let target = polling(PATH, Some(&sid));
    for _ in 0..3 {
        let start = tokio::time::Instant::now();
        let get = http(server.addr, "GET", &target, b"").await;
        assert_eq!(get.body, "2");
        assert!(start.elapsed() <= Duration::from_millis(25_010));
        assert_eq!(http(server.addr, "POST", &target, b"3").await.body, "ok");
    }
    assert_eq!(server.engine.session_count(), 1);
    assert_eq!(http(server.addr, "POST", &target, b"1").await.body, "ok");
    assert_eq!(http(server.addr, "GET", &target, b"").await.status, 400);
    assert_eq!(server.next().await, Seen::Connect(sid.clone()));
    assert_eq!(server.next().await, Seen::Disconnect(sid, DisconnectReason::TransportClose));
}

#[tokio::test]
async fn session_caps_refuse_floods_and_free_places_as_sessions_end() {
    let mut cfg = config();
    cfg.limits.max_sessions = Some(2);
    let mut server = start(cfg).await;
    let target = polling(PATH, None);
    let first = handshake(server.addr).await;
    let _second = handshake(server.addr).await;
    let full = http(server.addr, "GET", &target, b"").await;
    assert_eq!(full.status, 503);
    assert_eq!(full.header("retry-after").as_deref(), Some("1"));
    // A WebSocket handshake is held to the same cap.
    let upgrade = [
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    let ws_target = format!("{PATH}?EIO=4&transport=websocket");
    assert_eq!(http_raw(server.addr, "GET", &ws_target, &upgrade, b"").await.status, 503);
    assert_eq!(server.engine.session_count(), 2);
    // The client of the first session leaves: its place is free.
    let close = http(server.addr, "POST", &polling(PATH, Some(&first)), b"1").await;
    assert_eq!(close.status, 200);
    assert_eq!(server.next().await, Seen::Connect(first.clone()));
    assert!(matches!(server.next().await, Seen::Connect(_)));
    assert_eq!(server.next().await, Seen::Disconnect(first, DisconnectReason::TransportClose));
    assert!(http(server.addr, "GET", &target, b"").await.body.starts_with('0'));
}

#[tokio::test]
async fn per_address_caps_and_handshake_rate_answer_429() {
    let mut cfg = config();
    cfg.limits.max_sessions_per_ip = Some(1);
    let server = start(cfg).await;
    let target = polling(PATH, None);
    let _only = handshake(server.addr).await;
    let refused = http(server.addr, "GET", &target, b"").await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.header("retry-after").as_deref(), Some("1"));

    let mut cfg = config();
    let rate = switchboard_engine::HandshakeRate {
        per_second: std::num::NonZeroU32::MIN,
        burst: std::num::NonZeroU32::new(3).unwrap(),
    };
    cfg.limits.handshakes_per_ip = Some(rate);
    let server = start(cfg).await;
    for _ in 0..3 {
        handshake(server.addr).await;
    }
    assert_eq!(http(server.addr, "GET", &target, b"").await.status, 429);
    // Requests of open sessions are not handshakes: they are never limited.
    assert_eq!(server.engine.session_count(), 3);
}
