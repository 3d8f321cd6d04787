//! The generator against the raw ceiling server in-process: handshakes, broadcasts and their
//! accounting work end to end over real loopback sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use switchboard_bench::results::Outcome;
use switchboard_bench::scenario::Body;
use switchboard_bench::wire::Wire;
use switchboard_bench::{raw, scenario};

fn start_raw(batched: bool) -> SocketAddr {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let addr = std_listener.local_addr().unwrap();
    let listener = mio::net::TcpListener::from_std(std_listener);
    // The server loops until the test process exits; nothing joins it.
    std::thread::spawn(move || raw::serve_on(listener, batched));
    addr
}

#[test]
fn storm_completes_every_handshake() {
    let addr = start_raw(false);
    match scenario::storm(addr, 200, 16, 0, Wire::Json).unwrap() {
        Outcome::Storm { ready, failed, handshake, .. } => {
            assert_eq!(ready, 200);
            assert_eq!(failed, 0);
            assert_eq!(handshake.count, 200);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn broadcasts_reach_every_connection() {
    for batched in [false, true] {
        let addr = start_raw(batched);
        let trigger = scenario::Trigger::Receiver;
        match scenario::broadcast(
            addr,
            50,
            4,
            Duration::from_millis(100),
            &trigger,
            Wire::Json,
            Body::Number,
        )
        .unwrap()
        {
            Outcome::Broadcast { conns, inflight, completed, completion, cluster, .. } => {
                assert_eq!(conns, 50);
                assert_eq!(inflight, 4);
                assert!(completed >= 4, "{completed}");
                assert_eq!(completion.count, completed);
                assert_eq!(cluster, None);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn a_sender_on_another_node_is_no_receiver() {
    // The raw server stands for both nodes: the sender's own copy must not be counted.
    let addr = start_raw(false);
    let trigger = scenario::Trigger::Node { addr, adapter: "raw".to_owned() };
    match scenario::broadcast(
        addr,
        50,
        4,
        Duration::from_millis(100),
        &trigger,
        Wire::Json,
        Body::Number,
    )
    .unwrap()
    {
        Outcome::Broadcast { conns, completed, completion, cluster, .. } => {
            assert_eq!(conns, 50, "the sender is not counted as a receiver");
            assert!(completed >= 4, "{completed}");
            assert_eq!(completion.count, completed);
            assert_eq!(cluster.as_deref(), Some("raw"));
        }
        other => panic!("unexpected {other:?}"),
    }
}
