//! The engine inside an axum 0.8 application: layer and route, both transports and the upgrade.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use common::*;
use switchboard_engine::Engine;

async fn app(
    router: impl FnOnce(Engine<Recorder>) -> Router,
) -> (std::net::SocketAddr, Engine<Recorder>) {
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let engine = Engine::new(Arc::new(Recorder { echo: true, seen: tx }), config());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = router(engine.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (addr, engine)
}

async fn exercise(addr: std::net::SocketAddr) {
    // Polling and the upgrade to WebSocket.
    let sid = handshake(addr).await;
    let mut probe = ws(addr, Some(&sid)).await;
    send(&mut probe, "2probe").await;
    assert_eq!(text(&mut probe).await, "3probe");
    send(&mut probe, "5").await;
    send(&mut probe, "4upgraded").await;
    assert_eq!(text(&mut probe).await, "4upgraded");
    // WebSocket only.
    let mut ws = ws(addr, None).await;
    assert!(text(&mut ws).await.starts_with('0'));
    send(&mut ws, "4hi").await;
    assert_eq!(text(&mut ws).await, "4hi");
}

#[tokio::test]
async fn works_as_a_layer_around_a_router() {
    let (addr, engine) = app(|engine| {
        Router::new().route("/hello", get(|| async { "hello" })).layer(engine.layer())
    })
    .await;
    exercise(addr).await;
    let reply = http(addr, "GET", "/hello", b"").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "hello"));
    assert_eq!(engine.config().path, "/engine.io/");
}

#[tokio::test]
async fn works_as_a_route_service() {
    let (addr, _engine) = app(|engine| {
        Router::new()
            .route("/hello", get(|| async { "hello" }))
            .route_service("/engine.io/", engine.service())
    })
    .await;
    exercise(addr).await;
    assert_eq!(http(addr, "GET", "/hello", b"").await.body, "hello");
}
