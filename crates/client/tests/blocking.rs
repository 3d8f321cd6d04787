//! The blocking wrapper, from a plain thread, against the official Node server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::mpsc;
use std::time::Duration;

use switchboard_client::blocking::BlockingClient;
use switchboard_client::{ClientOptions, ConnectError, Error};

#[test]
fn connects_emits_and_waits_for_acks_without_a_runtime() {
    // A runtime only to run the Node server and read its output.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(common::start("node-socketio.mjs", &[]));

    let client = BlockingClient::connect(&server.url(), ClientOptions::default()).unwrap();
    assert!(client.socket().connected());
    let (tx, rx) = mpsc::channel();
    client.socket().on("echo", move |e| {
        let _ = tx.send(e.data::<String>().unwrap());
    });
    client.socket().emit("echo", &("sync",)).unwrap();
    assert_eq!(rx.recv_timeout(common::WAIT).unwrap(), "sync");
    let answer: (u32, String) =
        client.emit_with_ack("ack", &(3, "three"), Duration::from_secs(5)).unwrap();
    assert_eq!(answer, (3, "three".to_owned()));

    let refused =
        BlockingClient::connect(&format!("{}/private", server.url()), ClientOptions::default());
    match refused {
        Err(Error::Connect(ConnectError::Server { message, .. })) => {
            assert_eq!(message, "unauthorized")
        }
        other => panic!("unexpected {other:?}"),
    }
    drop(client);
    rt.block_on(server.kill());
}
