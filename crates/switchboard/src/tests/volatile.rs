//! Volatile packets: dropped when the transport cannot write them at once.

use std::sync::atomic::Ordering;

use super::harness::connected;
use crate::SocketIo;

#[tokio::test]
async fn volatile_packets_are_dropped_when_the_transport_is_busy() {
    let io = SocketIo::new(Default::default());
    let (mut peer, socket, _) = connected(&io).await;

    socket.volatile().emit("v", &1).unwrap();
    io.volatile().emit("bv", &1).await.unwrap();
    assert_eq!(peer.recv_text().await, r#"2["v",1]"#);
    assert_eq!(peer.recv_text().await, r#"2["bv",1]"#);

    peer.conn.writable.store(false, Ordering::SeqCst);
    socket.volatile().emit("v", &2).unwrap();
    io.volatile().emit("bv", &2).await.unwrap();
    // Not volatile: queued whatever the transport does.
    socket.emit("marker", &3).unwrap();
    assert_eq!(peer.recv_text().await, r#"2["marker",3]"#, "both volatile packets dropped");
}
