//! `remember_upgrade` uses a process-wide flag, so it has a test binary of its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{WAIT, start};
use switchboard_client::engine::{EngineOptions, Event, Socket, TransportKind};

#[tokio::test]
async fn remembers_a_successful_upgrade() {
    let server = start("node-engine.mjs", &[]).await;
    let mut o = EngineOptions::default();
    o.remember_upgrade = true;

    let mut first = Socket::connect(&server.url(), o.clone()).await.unwrap();
    assert_eq!(first.transport(), TransportKind::Polling);
    let upgraded = tokio::time::timeout(WAIT, first.recv()).await.unwrap();
    assert!(matches!(upgraded, Some(Event::Upgrade(TransportKind::WebSocket))), "{upgraded:?}");
    first.close().await;

    let second = Socket::connect(&server.url(), o.clone()).await.unwrap();
    assert_eq!(second.transport(), TransportKind::WebSocket, "opens directly on websocket");
    assert!(second.handshake().upgrades.is_empty());
    second.close().await;

    o.remember_upgrade = false;
    let third = Socket::connect(&server.url(), o).await.unwrap();
    assert_eq!(third.transport(), TransportKind::Polling, "the option is off");
    third.close().await;
}
