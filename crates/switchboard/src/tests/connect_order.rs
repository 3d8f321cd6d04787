//! Nothing reaches a socket before its CONNECT answer, even a broadcast racing the connect
//! (the Admin UI drops what comes before it: see docs/COMPATIBILITY.md).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::harness::Peer;
use crate::SocketIo;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_racing_broadcast_never_comes_before_the_connect_answer() {
    let io = SocketIo::new(Default::default());
    io.of("/x");
    let stop = Arc::new(AtomicBool::new(false));
    // Broadcasts without pause on another worker until the connections are done; ended by
    // `stop`.
    let broadcaster = tokio::spawn({
        let (io, stop) = (io.clone(), stop.clone());
        async move {
            while !stop.load(Ordering::Relaxed) {
                let _ = io.of("/x").emit("tick", &1).await;
                tokio::task::yield_now().await;
            }
        }
    });
    for _ in 0..20000 {
        let mut peer = Peer::connect(&io);
        peer.send("0/x,");
        let first = peer.recv_text().await;
        assert!(first.starts_with("0/x,{"), "first packet: {first}");
    }
    stop.store(true, Ordering::Relaxed);
    broadcaster.await.unwrap();
}
