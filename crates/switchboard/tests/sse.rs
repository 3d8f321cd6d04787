//! The SSE bridge: room broadcasts as `text/event-stream`, resumed from the recovery log.
#![cfg(feature = "sse")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use http_body_util::BodyExt;
use switchboard::sse::{Sse, SseBody, SseConfig};
use switchboard::{ConnectionStateRecovery, SocketIo, SocketIoConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

fn server(max_packets: usize) -> SocketIo {
    let mut config = SocketIoConfig::default();
    let mut recovery = ConnectionStateRecovery::default();
    recovery.max_buffered_packets = max_packets;
    config.connection_state_recovery = Some(recovery);
    let io = SocketIo::new(config);
    io.of("/chat");
    io
}

fn sse(io: &SocketIo, buffer: usize) -> Sse {
    let mut config = SseConfig::default();
    config.buffer = buffer;
    config.heartbeat = Duration::from_secs(10);
    Sse::new(io.clone()).config(config)
}

async fn open(sse: &Sse, uri: &str, last: Option<&str>) -> (u16, SseBody) {
    let mut request = http::Request::get(uri);
    if let Some(last) = last {
        request = request.header("last-event-id", last);
    }
    let (parts, ()) = request.body(()).unwrap().into_parts();
    let response = sse.respond(&parts).await;
    (response.status().as_u16(), response.into_body())
}

/// The next chunk of the body, as text.
async fn next(body: &mut SseBody) -> Option<String> {
    let frame = timeout(WAIT, body.frame()).await.expect("a chunk in time")?;
    Some(String::from_utf8(frame.unwrap().into_data().unwrap().to_vec()).unwrap())
}

/// Parses one event: (id, event, data).
fn event(text: &str) -> (Option<String>, String, String) {
    let mut id = None;
    let (mut name, mut data) = (String::new(), String::new());
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("id:") {
            id = Some(v.trim_start().to_owned());
        } else if let Some(v) = line.strip_prefix("event: ") {
            name = v.to_owned();
        } else if let Some(v) = line.strip_prefix("data: ") {
            data = v.to_owned();
        }
    }
    (id, name, data)
}

#[tokio::test]
async fn streams_room_broadcasts_in_order_with_offsets_as_ids() {
    let io = server(100);
    let sse = sse(&io, 64);
    let (status, mut body) = open(&sse, "/sse?namespace=/chat&rooms=a,b", None).await;
    assert_eq!(status, 200);
    assert_eq!(next(&mut body).await.unwrap(), ": subscribed\n\n");
    let chat = io.of("/chat");
    chat.to("a").emit("msg", &("one",)).await.unwrap();
    chat.to("c").emit("msg", &("not mine",)).await.unwrap();
    chat.to("b").emit("msg", &("two", 2)).await.unwrap();
    chat.to("a").to("b").emit("other", &serde_json::json!({"k": [1]})).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(event(&next(&mut body).await.unwrap()));
    }
    let ids: Vec<u64> = got.iter().map(|(id, ..)| id.as_ref().unwrap().parse().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids in order: {ids:?}");
    let rest: Vec<(String, String)> = got.into_iter().map(|(_, e, d)| (e, d)).collect();
    assert_eq!(
        rest,
        [
            ("msg".to_owned(), r#"["one"]"#.to_owned()),
            ("msg".to_owned(), r#"["two",2]"#.to_owned()),
            ("other".to_owned(), r#"[{"k":[1]}]"#.to_owned()),
        ]
    );
}

#[tokio::test]
async fn resumes_after_a_cut_with_nothing_lost_inside_the_log() {
    let io = server(100);
    let sse = sse(&io, 64);
    let chat = io.of("/chat");
    let (_, mut body) = open(&sse, "/sse?namespace=/chat&rooms=a", None).await;
    next(&mut body).await;
    for i in 0..3 {
        chat.to("a").emit("n", &(i,)).await.unwrap();
    }
    let mut last = None;
    for i in 0..3 {
        let (id, _, data) = event(&next(&mut body).await.unwrap());
        assert_eq!(data, format!("[{i}]"));
        last = id;
    }
    // The cut: the client is gone; broadcasts go on meanwhile.
    drop(body);
    for i in 3..6 {
        chat.to("a").emit("n", &(i,)).await.unwrap();
    }
    let (_, mut body) = open(&sse, "/sse?namespace=/chat&rooms=a", last.as_deref()).await;
    assert_eq!(next(&mut body).await.unwrap(), ": subscribed\n\n");
    chat.to("a").emit("n", &(6,)).await.unwrap();
    for i in 3..7 {
        let (id, name, data) = event(&next(&mut body).await.unwrap());
        assert_eq!((name.as_str(), data), ("n", format!("[{i}]")));
        assert!(id.is_some());
    }
    // The same through the query parameter, for clients that cannot set headers.
    let uri = format!("/sse?namespace=/chat&rooms=a&lastEventId={}", last.unwrap());
    let (_, mut body) = open(&sse, &uri, None).await;
    next(&mut body).await;
    for i in 3..7 {
        assert_eq!(event(&next(&mut body).await.unwrap()).2, format!("[{i}]"));
    }
}

#[tokio::test]
async fn an_id_older_than_the_log_gets_the_missed_event_then_live() {
    let io = server(2);
    let sse = sse(&io, 64);
    let chat = io.of("/chat");
    let (_, mut body) = open(&sse, "/sse?namespace=/chat&rooms=a", None).await;
    next(&mut body).await;
    chat.to("a").emit("n", &(0,)).await.unwrap();
    let (first, ..) = event(&next(&mut body).await.unwrap());
    drop(body);
    for i in 1..5 {
        chat.to("a").emit("n", &(i,)).await.unwrap();
    }
    let (_, mut body) = open(&sse, "/sse?namespace=/chat&rooms=a", first.as_deref()).await;
    next(&mut body).await;
    let missed = next(&mut body).await.unwrap();
    let (id, name, data) = event(&missed);
    assert_eq!((id.as_deref(), name.as_str()), (Some(""), "sse.missed"));
    assert_eq!(data, format!(r#"{{"lastEventId":"{}"}}"#, first.unwrap()));
    chat.to("a").emit("n", &(5,)).await.unwrap();
    assert_eq!(event(&next(&mut body).await.unwrap()).2, "[5]");
}

#[tokio::test]
async fn a_slow_reader_is_cut_with_a_final_event_once_its_buffer_is_full() {
    let io = server(100);
    let sse = sse(&io, 4);
    let chat = io.of("/chat");
    let (_, mut body) = open(&sse, "/sse?namespace=/chat&rooms=a", None).await;
    next(&mut body).await;
    assert_eq!(io.stats().await.unwrap().rooms(), 1, "the stream is in room a");
    for i in 0..10 {
        chat.to("a").emit("n", &(i,)).await.unwrap();
    }
    let (_, name, _) = event(&next(&mut body).await.unwrap());
    assert_eq!(name, "sse.overflow");
    assert!(next(&mut body).await.is_none(), "the stream ends");
    // The stream left its room once it ended, before its body is dropped.
    assert_eq!(io.stats().await.unwrap().rooms(), 0);
    drop(body);
    // A dropped stream (the client went away) leaves its rooms too.
    let (_, body) = open(&sse, "/sse?namespace=/chat&rooms=a,b", None).await;
    assert_eq!(io.stats().await.unwrap().rooms(), 2);
    drop(body);
    assert_eq!(io.stats().await.unwrap().rooms(), 0);
}

#[tokio::test(start_paused = true)]
async fn heartbeats_come_on_the_interval() {
    let io = server(100);
    let mut config = SseConfig::default();
    config.heartbeat = Duration::from_secs(2);
    let sse = Sse::new(io.clone()).config(config);
    let (_, mut body) = open(&sse, "/sse?namespace=/chat&rooms=a", None).await;
    next(&mut body).await;
    let start = tokio::time::Instant::now();
    assert_eq!(next(&mut body).await.unwrap(), ": ping\n\n");
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    // An event in between does not move the beat.
    io.of("/chat").to("a").emit("n", &(1,)).await.unwrap();
    assert_eq!(event(&next(&mut body).await.unwrap()).2, "[1]");
    assert_eq!(next(&mut body).await.unwrap(), ": ping\n\n");
    assert_eq!(start.elapsed(), Duration::from_secs(4));
}

#[tokio::test]
async fn the_server_close_ends_every_stream_after_what_it_holds() {
    let io = server(100);
    let sse = sse(&io, 16);
    let (_, mut body) = open(&sse, "/sse?namespace=/chat&rooms=a", None).await;
    next(&mut body).await;
    io.of("/chat").to("a").emit("last", &()).await.unwrap();
    io.close().await;
    assert_eq!(event(&next(&mut body).await.unwrap()).1, "last");
    assert_eq!(event(&next(&mut body).await.unwrap()).1, "sse.close");
    assert!(next(&mut body).await.is_none());
    let (status, _) = open(&sse, "/sse?namespace=/chat&rooms=a", None).await;
    assert_eq!(status, 503);
}

#[tokio::test]
async fn past_max_streams_a_request_gets_503_until_one_ends() {
    let io = server(100);
    let mut config = SseConfig::default();
    config.max_streams = 2;
    let sse = Sse::new(io.clone()).config(config);
    let (_, first) = open(&sse, "/sse?namespace=/chat&rooms=a", None).await;
    let (_, _second) = open(&sse.clone(), "/sse?namespace=/chat&rooms=a", None).await;
    let (status, body) = open(&sse, "/sse?namespace=/chat&rooms=a", None).await;
    let text = body.collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&text).unwrap();
    let want = serde_json::json!({"ok": false, "error": {"code": "too_many_streams", "message": "too many streams are open, retry later"}});
    assert_eq!((status, json), (503, want));
    drop(first);
    assert_eq!(open(&sse, "/sse?namespace=/chat&rooms=a", None).await.0, 200);
}

#[tokio::test]
async fn bad_requests_get_clear_errors() {
    let io = server(100);
    let sse = sse(&io, 4).authorize(|request| async move {
        match request.token.as_deref() {
            Some("good") => Ok(request),
            _ => Err(switchboard::sse::SseError::Unauthorized("token required".into())),
        }
    });
    let long = "x".repeat(300);
    let cases = [
        ("/sse?namespace=/nope&rooms=a&token=good", 404, "unknown_namespace"),
        ("/sse?namespace=/chat&rooms=a", 401, "unauthorized"),
        ("/sse?namespace=/chat&rooms=a&token=bad", 401, "unauthorized"),
        ("/sse?namespace=/chat&token=good", 400, "bad_request"),
        ("/sse?namespace=/chat&rooms=a,,b&token=good", 400, "bad_request"),
        (&format!("/sse?rooms={long}&token=good"), 400, "bad_request"),
    ];
    for (uri, status, code) in cases {
        let (got, body) = open(&sse, uri, None).await;
        let text = body.collect().await.unwrap().to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&text).unwrap();
        assert_eq!((got, json["error"]["code"].as_str()), (status, Some(code)), "{uri}");
    }
    let (status, _) = open(&sse, "/sse?namespace=/chat&rooms=a&token=good", None).await;
    assert_eq!(status, 200);
}

/// Reads from `tcp` into `seen` until it holds `want`.
async fn read_until(tcp: &mut tokio::net::TcpStream, seen: &mut String, want: &str) {
    let mut buf = [0u8; 4096];
    while !seen.contains(want) {
        let n = timeout(WAIT, tcp.read(&mut buf)).await.expect("data in time").unwrap();
        assert!(n > 0, "closed early: {seen}");
        seen.push_str(std::str::from_utf8(&buf[..n]).unwrap());
    }
}

/// Over TCP, read by a plain HTTP/1.1 client: the headers, then the events as written.
#[tokio::test]
async fn a_plain_http_client_reads_the_stream() {
    let io = server(100);
    let app = axum::Router::new().route_service("/sse", sse(&io, 64));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // The server task ends with the test's runtime.
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = "GET /sse?namespace=%2Fchat&rooms=a HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\n\r\n";
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut seen = String::new();
    read_until(&mut tcp, &mut seen, ": subscribed").await;
    assert!(seen.starts_with("HTTP/1.1 200 OK\r\n"), "{seen}");
    assert!(seen.contains("content-type: text/event-stream\r\n"), "{seen}");
    io.of("/chat").to("a").emit("hello", &("world",)).await.unwrap();
    read_until(&mut tcp, &mut seen, "data: [\"world\"]").await;
    assert!(seen.contains("\nevent: hello\ndata: [\"world\"]\n\n"), "{seen}");
}

/// Two nodes on the Redis Streams adapter (over the in-process fake Redis): a stream on one
/// node gets the other node's broadcasts, and resumes on the *other* node after a cut, since
/// the log (the Redis stream) is shared and its offsets are stream ids.
#[tokio::test]
async fn broadcasts_of_another_node_arrive_and_a_stream_resumes_on_another_node() {
    use switchboard_redis::{FakeRedis, StreamsAdapterFactory, StreamsAdapterOptions};
    let redis = FakeRedis::new();
    let node = || {
        let mut config = SocketIoConfig::default();
        config.connection_state_recovery = Some(ConnectionStateRecovery::default());
        let factory = StreamsAdapterFactory::new(redis.driver(), StreamsAdapterOptions::default());
        let io = SocketIo::builder().config(config).adapter(factory.into_factory()).build();
        io.of("/chat");
        io
    };
    let (a, b) = (node(), node());
    let (_, mut body) = open(&sse(&b, 64), "/sse?namespace=/chat&rooms=r", None).await;
    next(&mut body).await;
    // Node b reads the stream from where it was when its reader started, which it does on its
    // own task: warm-up events from a until one arrives, then up to the last one sent.
    let mut sent = 0;
    loop {
        sent += 1;
        a.of("/chat").to("r").emit("warm", &(sent,)).await.unwrap();
        let chunk = timeout(Duration::from_millis(100), body.frame()).await;
        if let Ok(Some(Ok(frame))) = chunk {
            let mut text = String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap();
            while event(&text).2 != format!("[{sent}]") {
                text = next(&mut body).await.unwrap();
            }
            break;
        }
        assert!(sent < 100, "node b never got node a's broadcasts");
    }
    a.of("/chat").to("r").emit("n", &(1,)).await.unwrap();
    let (last, name, data) = event(&next(&mut body).await.unwrap());
    assert_eq!((name.as_str(), data.as_str()), ("n", "[1]"));
    let last = last.expect("a stream id");
    assert!(last.contains('-'), "a Redis stream id: {last}");
    drop(body);
    a.of("/chat").to("r").emit("n", &(2,)).await.unwrap();
    b.of("/chat").to("r").emit("n", &(3,)).await.unwrap();
    // Resumed on node a, from the id node b handed out.
    let (_, mut body) = open(&sse(&a, 64), "/sse?namespace=/chat&rooms=r", Some(&last)).await;
    next(&mut body).await;
    let rest: Vec<String> = [next(&mut body).await, next(&mut body).await]
        .into_iter()
        .map(|t| event(&t.unwrap()).2)
        .collect();
    assert_eq!(rest, ["[2]", "[3]"]);
}

#[tokio::test]
async fn room_operations_on_its_rooms_move_a_stream_as_a_socket() {
    let io = server(100);
    let sse = sse(&io, 16);
    let (_, mut body) = open(&sse, "/sse?namespace=/chat&rooms=a", None).await;
    next(&mut body).await;
    let chat = io.of("/chat");
    chat.in_("a").sockets_join("b").await.unwrap();
    chat.to("b").emit("moved", &("in b",)).await.unwrap();
    assert_eq!(event(&next(&mut body).await.unwrap()).2, r#"["in b"]"#);
    chat.in_("a").sockets_leave("a").await.unwrap();
    chat.to("a").emit("gone", &()).await.unwrap();
    chat.to("b").emit("still", &()).await.unwrap();
    assert_eq!(event(&next(&mut body).await.unwrap()).1, "still");
}
