//! The Engine.IO client against the official Node `engine.io` server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::{NodeServer, WAIT, start};
use http::HeaderValue;
use switchboard_client::engine::{
    CloseReason, EngineOptions, Error, Event, Message, Socket, TransportKind,
};

fn options(transports: &[TransportKind]) -> EngineOptions {
    let mut o = EngineOptions::default();
    o.transports = transports.to_vec();
    o
}

/// The next event that is not an upgrade notice.
async fn next(socket: &mut Socket) -> Event {
    tokio::time::timeout(WAIT, async {
        loop {
            match socket.recv().await.expect("event stream ended") {
                Event::Upgrade(_) | Event::UpgradeError(_) => {}
                other => return other,
            }
        }
    })
    .await
    .expect("no event in time")
}

async fn next_text(socket: &mut Socket) -> String {
    match next(socket).await {
        Event::Message(Message::Text(t)) => t.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

async fn ask(socket: &mut Socket, text: &str) -> String {
    socket.send(Message::Text(text.into())).await.unwrap();
    next_text(socket).await
}

async fn echo_text_and_binary(server: &mut NodeServer, transport: TransportKind) {
    let mut socket = Socket::connect(&server.url(), options(&[transport])).await.unwrap();
    assert_eq!(socket.transport(), transport);
    assert_eq!(ask(&mut socket, "hello é").await, "hello é");
    assert_eq!(ask(&mut socket, "transport?").await, format!("transport {}", transport.name()));

    let bytes = Bytes::from_static(&[0, 1, 2, 0xfe, 0xff]);
    socket.send(Message::Binary(bytes.clone())).await.unwrap();
    match next(&mut socket).await {
        Event::Message(Message::Binary(b)) => assert_eq!(b, bytes),
        other => panic!("expected binary, got {other:?}"),
    }

    // Many messages in a row stay in order (one POST at a time on polling).
    for i in 0..20 {
        socket.send(Message::Text(format!("m{i}").into())).await.unwrap();
    }
    for i in 0..20 {
        assert_eq!(next_text(&mut socket).await, format!("m{i}"));
    }

    let sid = socket.sid().to_owned();
    socket.close().await;
    assert!(matches!(next(&mut socket).await, Event::Close(CloseReason::ForcedClose)));
    assert!(socket.recv().await.is_none());
    assert_eq!(server.line_starting_with("close").await, format!("close {sid} transport close"));
    assert!(matches!(socket.send(Message::Text("late".into())).await, Err(Error::Closed)));
}

#[tokio::test]
async fn polling_only() {
    let mut server = start("node-engine.mjs", &[]).await;
    echo_text_and_binary(&mut server, TransportKind::Polling).await;
}

#[tokio::test]
async fn websocket_only() {
    let mut server = start("node-engine.mjs", &[]).await;
    echo_text_and_binary(&mut server, TransportKind::WebSocket).await;
}

#[tokio::test]
async fn upgrades_from_polling_to_websocket() {
    let server = start("node-engine.mjs", &[]).await;
    let mut socket = Socket::connect(&server.url(), EngineOptions::default()).await.unwrap();
    assert_eq!(socket.transport(), TransportKind::Polling);
    assert_eq!(socket.handshake().upgrades, vec!["websocket".to_owned()]);
    // Sent while the upgrade may be in progress: buffered, never lost nor reordered.
    for i in 0..5 {
        socket.send(Message::Text(format!("early {i}").into())).await.unwrap();
    }
    let mut echoed = 0;
    let upgraded = tokio::time::timeout(WAIT, async {
        loop {
            match socket.recv().await.expect("closed") {
                Event::Upgrade(t) => return t,
                Event::Message(Message::Text(t)) => {
                    assert_eq!(t, format!("early {echoed}").as_str());
                    echoed += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await
    .expect("no upgrade");
    assert_eq!(upgraded, TransportKind::WebSocket);
    assert_eq!(socket.transport(), TransportKind::WebSocket);
    while echoed < 5 {
        assert_eq!(next_text(&mut socket).await, format!("early {echoed}"));
        echoed += 1;
    }
    assert_eq!(ask(&mut socket, "transport?").await, "transport websocket");
    socket.close().await;
}

#[tokio::test]
async fn no_upgrade_when_disabled() {
    let server = start("node-engine.mjs", &[]).await;
    let mut o = EngineOptions::default();
    o.upgrade = false;
    let mut socket = Socket::connect(&server.url(), o).await.unwrap();
    assert_eq!(ask(&mut socket, "transport?").await, "transport polling");
    assert_eq!(ask(&mut socket, "ping?").await, "ping?");
    assert_eq!(ask(&mut socket, "transport?").await, "transport polling");
    socket.close().await;
}

#[tokio::test]
async fn answers_heartbeats_on_polling() {
    let server =
        start("node-engine.mjs", &["--ping-interval", "150", "--ping-timeout", "300"]).await;
    let mut socket =
        Socket::connect(&server.url(), options(&[TransportKind::Polling])).await.unwrap();
    assert_eq!(socket.handshake().ping_interval, 150);
    socket.send(Message::Text("report-pongs".into())).await.unwrap();
    for n in 1..=3 {
        assert_eq!(next_text(&mut socket).await, format!("pong {n}"));
    }
    socket.close().await;
}

#[tokio::test]
async fn closes_on_ping_timeout() {
    let server =
        start("node-engine.mjs", &["--ping-interval", "150", "--ping-timeout", "150"]).await;
    let mut socket =
        Socket::connect(&server.url(), options(&[TransportKind::WebSocket])).await.unwrap();
    socket.send(Message::Text("report-pongs".into())).await.unwrap();
    assert_eq!(next_text(&mut socket).await, "pong 1");
    assert_eq!(ask(&mut socket, "stop-pinging").await, "stopped");
    match next(&mut socket).await {
        Event::Close(CloseReason::PingTimeout) => {}
        other => panic!("expected a ping timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn server_close_on_both_transports() {
    let server = start("node-engine.mjs", &[]).await;
    for transport in [TransportKind::Polling, TransportKind::WebSocket] {
        let mut socket = Socket::connect(&server.url(), options(&[transport])).await.unwrap();
        socket.send(Message::Text("close-me".into())).await.unwrap();
        match next(&mut socket).await {
            Event::Close(CloseReason::TransportClose) => {}
            other => panic!("{transport:?}: expected transport close, got {other:?}"),
        }
        assert!(socket.recv().await.is_none());
    }
}

#[tokio::test]
async fn sends_query_and_extra_headers() {
    let server = start("node-engine.mjs", &[]).await;
    for transport in [TransportKind::Polling, TransportKind::WebSocket] {
        let mut o = options(&[transport]);
        o.query.push(("token".into(), "a b".into()));
        o.extra_headers.insert("x-test", HeaderValue::from_static("yes"));
        let url = format!("{}?from=url", server.url());
        let mut socket = Socket::connect(&url, o).await.unwrap();
        let reply = ask(&mut socket, "request?").await;
        let json: serde_json::Value =
            serde_json::from_str(reply.strip_prefix("request ").unwrap()).unwrap();
        assert_eq!(json["query"]["token"], "a b", "{transport:?}");
        assert_eq!(json["query"]["from"], "url", "{transport:?}");
        assert_eq!(json["header"], "yes", "{transport:?}");
        socket.close().await;
    }
}

#[tokio::test]
async fn connection_errors_are_typed() {
    let server = start("node-engine.mjs", &[]).await;
    let url = server.url();
    server.kill().await;
    for transport in [TransportKind::Polling, TransportKind::WebSocket] {
        let err = Socket::connect(&url, options(&[transport])).await.unwrap_err();
        assert!(matches!(err, Error::Http(_) | Error::WebSocket(_)), "{err:?}");
    }
    // TLS is tried (nothing listens there): a connection error, not a refusal of the scheme.
    let mut ws = options(&[TransportKind::WebSocket]);
    let ca = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap().cert.pem();
    ws.tls = Some(switchboard_client::engine::tls_config_with_ca(ca.as_bytes()).unwrap());
    let err = Socket::connect("wss://127.0.0.1:1", ws).await.unwrap_err();
    assert!(matches!(err, Error::WebSocket(_)), "{err:?}");
    let err = Socket::connect("http://127.0.0.1:1", options(&[])).await.unwrap_err();
    assert!(matches!(err, Error::NoTransport));
}

#[tokio::test]
async fn handshake_times_out_on_a_silent_server() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // Holds the accepted connections open until the test ends.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    for transport in [TransportKind::Polling, TransportKind::WebSocket] {
        let mut o = options(&[transport]);
        o.connect_timeout = std::time::Duration::from_millis(200);
        let err = Socket::connect(&url, o).await.unwrap_err();
        assert!(matches!(err, Error::Timeout), "{transport:?}: {err:?}");
    }
}
