//! The Engine.IO client against this workspace's own Engine.IO server, in process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use switchboard_client::engine::{
    CloseReason, EngineOptions, Event, Message, Socket, TransportKind,
};
use switchboard_engine as server;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);

/// Echoes messages; answers "transport?"; closes on "close-me"; reports disconnections.
struct Echo {
    gone: mpsc::UnboundedSender<&'static str>,
}

impl server::Handler for Echo {
    type Session = ();

    fn on_connect(&self, _socket: Arc<server::Socket>) {}

    fn on_message(&self, _: &mut (), socket: &Arc<server::Socket>, message: Message) {
        match &message {
            Message::Text(t) if t == "transport?" => {
                let reply = format!("transport {}", socket.transport().as_str());
                let _ = socket.send(Message::Text(reply.into()));
            }
            Message::Text(t) if t == "close-me" => {
                socket.close(server::DisconnectReason::ForcedClose)
            }
            _ => {
                let _ = socket.send(message);
            }
        }
    }

    fn on_disconnect(
        &self,
        _: (),
        _socket: &Arc<server::Socket>,
        reason: server::DisconnectReason,
    ) {
        let _ = self.gone.send(reason.as_str());
    }
}

async fn serve(config: server::EngineConfig) -> (String, mpsc::UnboundedReceiver<&'static str>) {
    let (gone, rx) = mpsc::unbounded_channel();
    let engine = server::Engine::new(Arc::new(Echo { gone }), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // The server runs until the test's runtime ends.
    tokio::spawn(engine.serve(listener));
    (url, rx)
}

async fn next(socket: &mut Socket) -> Event {
    tokio::time::timeout(WAIT, async {
        loop {
            match socket.recv().await.expect("events ended") {
                Event::Upgrade(_) => {}
                other => return other,
            }
        }
    })
    .await
    .expect("no event in time")
}

async fn ask(socket: &mut Socket, text: &str) -> String {
    socket.send(Message::Text(text.into())).await.unwrap();
    match next(socket).await {
        Event::Message(Message::Text(t)) => t.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

fn options(transports: &[TransportKind]) -> EngineOptions {
    let mut o = EngineOptions::default();
    o.transports = transports.to_vec();
    o
}

#[tokio::test]
async fn both_transports_text_binary_and_close() {
    let (url, mut gone) = serve(server::EngineConfig::default()).await;
    for transport in [TransportKind::Polling, TransportKind::WebSocket] {
        let mut socket = Socket::connect(&url, options(&[transport])).await.unwrap();
        assert_eq!(ask(&mut socket, "héllo").await, "héllo");
        assert_eq!(ask(&mut socket, "transport?").await, format!("transport {}", transport.name()));
        let bytes = Bytes::from_static(&[9, 8, 0, 255]);
        socket.send(Message::Binary(bytes.clone())).await.unwrap();
        assert!(
            matches!(next(&mut socket).await, Event::Message(Message::Binary(b)) if b == bytes)
        );
        socket.close().await;
        let reason = tokio::time::timeout(WAIT, gone.recv()).await.unwrap().unwrap();
        assert_eq!(reason, "transport close", "{transport:?}");
    }
}

#[tokio::test]
async fn upgrades_and_server_close() {
    let (url, _gone) = serve(server::EngineConfig::default()).await;
    let mut socket = Socket::connect(&url, EngineOptions::default()).await.unwrap();
    let upgraded = tokio::time::timeout(WAIT, socket.recv()).await.unwrap();
    assert!(matches!(upgraded, Some(Event::Upgrade(TransportKind::WebSocket))), "{upgraded:?}");
    assert_eq!(ask(&mut socket, "transport?").await, "transport websocket");
    socket.send(Message::Text("close-me".into())).await.unwrap();
    assert!(matches!(next(&mut socket).await, Event::Close(CloseReason::TransportClose)));
}

#[tokio::test]
async fn stays_alive_across_heartbeats() {
    let mut config = server::EngineConfig::default();
    config.ping_interval = Duration::from_millis(50);
    config.ping_timeout = Duration::from_millis(100);
    let (url, mut gone) = serve(config).await;
    let mut socket = Socket::connect(&url, options(&[TransportKind::Polling])).await.unwrap();
    assert_eq!(socket.handshake().ping_interval, 50);
    // An observation window of several heartbeat periods.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ask(&mut socket, "still there?").await, "still there?");
    assert!(gone.try_recv().is_err(), "the server did not drop the session");
    socket.close().await;
}
