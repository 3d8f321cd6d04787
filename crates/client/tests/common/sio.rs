//! Helpers shared by the Socket.IO client tests: options, event channels, bounded waits.

use switchboard_client::engine::TransportKind;
use switchboard_client::{ClientOptions, Event, Manager, ManagerEvent, Socket};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::WAIT;

/// Default options restricted to `transports`.
pub fn options(transports: &[TransportKind]) -> ClientOptions {
    let mut o = ClientOptions::default();
    o.engine.transports = transports.to_vec();
    o
}

/// Forwards the events named `name` to a channel.
pub fn events(socket: &Socket, name: &str) -> mpsc::UnboundedReceiver<Event> {
    let (tx, rx) = mpsc::unbounded_channel();
    socket.on(name, move |e| {
        let _ = tx.send(e);
    });
    rx
}

/// The next item of `rx`, failing the test after [`WAIT`].
pub async fn recv<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(WAIT, rx.recv()).await.expect("nothing in time").expect("channel closed")
}

/// Connects and waits for the `connect` event.
pub async fn connect(socket: &Socket) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let id = socket.on_connect(move || {
        let _ = tx.send(());
    });
    socket.connect();
    recv(&mut rx).await;
    socket.remove_listener(id);
    assert!(socket.connected());
}

/// A short name for each manager event, for comparisons.
pub fn name(e: &ManagerEvent) -> String {
    match e {
        ManagerEvent::Open => "open".into(),
        ManagerEvent::Close(r) => format!("close {r}"),
        ManagerEvent::Error(_) => "error".into(),
        ManagerEvent::ReconnectAttempt(n) => format!("reconnect_attempt {n}"),
        ManagerEvent::Reconnect(n) => format!("reconnect {n}"),
        ManagerEvent::ReconnectError(_) => "reconnect_error".into(),
        ManagerEvent::ReconnectFailed => "reconnect_failed".into(),
        _ => "other".into(),
    }
}

/// Forwards every manager event, with the time it was seen, to a channel.
pub fn manager_events(manager: &Manager) -> mpsc::UnboundedReceiver<(Instant, String)> {
    let (tx, rx) = mpsc::unbounded_channel();
    manager.on(move |e| {
        let _ = tx.send((Instant::now(), name(e)));
    });
    rx
}
