//! Two `SocketIo` nodes on one Redis adapter (the fake driver) with `EngineConfig::cluster`:
//! a polling client's requests alternate between the nodes as a round-robin balancer sends
//! them; events with acks and broadcasts from the other node reach it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use switchboard::engine::{Cluster, NodeTag};
use switchboard::prelude::*;
use switchboard_redis::{FakeRedis, NodeDirectory, RedisAdapterFactory, RedisAdapterOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "library-test-cluster-token";

/// A node on `redis`, announced in its directory; gives its address.
async fn node(redis: &FakeRedis) -> (SocketIo, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let directory = NodeDirectory::new(redis.driver());
    let tag = NodeTag::random();
    // The heartbeat lives as long as the test's runtime.
    let _heartbeat = directory.announce(tag.as_str(), &addr.to_string());
    directory.announced().await;
    let mut config = SocketIoConfig::default();
    config.engine.cluster = Some(Cluster::new(tag, TOKEN, directory.owner_lookup()));
    let adapter = RedisAdapterFactory::new(redis.driver(), RedisAdapterOptions::default());
    let io = SocketIo::builder().config(config).adapter(adapter.into_factory()).build();
    io.on_connection(|socket: Socket| async move {
        socket.on("echo", |Data(t): Data<Value>| async move { Ok::<_, HandlerError>(t) })
    });
    let server = io.clone();
    // Serves until the test's runtime ends.
    tokio::spawn(async move { server.serve(listener).await });
    (io, addr)
}

/// One HTTP/1.1 request on a fresh connection; the status and the body.
async fn http(addr: SocketAddr, method: &str, target: &str, body: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
        .await
        .expect("an answer in time")
        .unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, body.to_owned())
}

fn target(sid: &str) -> String {
    format!("/socket.io/?EIO=4&transport=polling&sid={sid}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polling_client_talks_through_either_node() {
    let redis = FakeRedis::new();
    let (_io_a, a) = node(&redis).await;
    let (io_b, b) = node(&redis).await;
    let (status, open) = http(a, "GET", "/socket.io/?EIO=4&transport=polling", "").await;
    assert_eq!(status, 200);
    let open: Value = serde_json::from_str(open.strip_prefix('0').unwrap()).unwrap();
    let sid = open["sid"].as_str().unwrap().to_owned();
    // The Socket.IO connect through B, its answer through B.
    assert_eq!(http(b, "POST", &target(&sid), "40").await, (200, "ok".to_owned()));
    let (status, connected) = http(b, "GET", &target(&sid), "").await;
    assert_eq!(status, 200);
    assert!(connected.starts_with("40{\"sid\":"), "{connected}");
    // An event with an ack through A, the ack through B.
    assert_eq!(http(a, "POST", &target(&sid), r#"421["echo","hi"]"#).await.0, 200);
    assert_eq!(http(b, "GET", &target(&sid), "").await, (200, r#"431["hi"]"#.to_owned()));
    // A broadcast from B, where the socket is not, reaches it through the adapter; read
    // through B again.
    io_b.emit("news", "from b").await.unwrap();
    assert_eq!(http(b, "GET", &target(&sid), "").await, (200, r#"42["news","from b"]"#.to_owned()));
}
