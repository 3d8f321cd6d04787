//! The streams adapter on a real redis-server started by the test (the `redis-server` binary,
//! or `SWITCHBOARD_REDIS_SERVER`): the adapter testkit, the three-node checks, a session
//! recovered on another node, and an outage (SIGKILL, restart).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde_json::{Value, json};
use switchboard_adapter::{
    Adapter, AdapterFactory, BroadcastOptions, LocalNamespace, RecoveryOptions, Session, SocketId,
};
use switchboard_redis::{
    Driver, LinkState, RedisConfig, RedisDriver, StreamsAdapterFactory, StreamsAdapterOptions,
};

use common::{Node, RedisServer, event};

fn config() -> RedisConfig {
    let mut config = RedisConfig::default();
    config.min_backoff = Duration::from_millis(20);
    config.max_backoff = Duration::from_millis(200);
    config
}

fn factory(redis: &RedisServer) -> (StreamsAdapterFactory, Arc<RedisDriver>) {
    let driver = RedisDriver::open(&redis.url(), config()).unwrap();
    (StreamsAdapterFactory::new(driver.clone(), StreamsAdapterOptions::default()), driver)
}

/// Waits (at most 10 s) until `adapter` counts `n` servers.
async fn until_count(adapter: &Arc<dyn Adapter>, n: usize) {
    let wait = async {
        while adapter.server_count().await.ok() != Some(n) {
            // Polling the count: heartbeats announce nothing else.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait).await.expect("server count");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_streams_adapter_passes_the_testkit_and_the_cluster_checks_on_real_redis() {
    let redis = RedisServer::start().await;
    // The testkit's adapters are single nodes: each gets its own stream, so that a broadcast
    // of one check never reaches the adapter of the next one.
    let driver = RedisDriver::open(&redis.url(), config()).unwrap();
    let next = AtomicUsize::new(0);
    let isolated = move |ns: Weak<dyn LocalNamespace>| -> Arc<dyn Adapter> {
        let mut options = StreamsAdapterOptions::default();
        options.stream_name = format!("testkit-{}", next.fetch_add(1, Ordering::SeqCst));
        StreamsAdapterFactory::new(driver.clone(), options).create(ns)
    };
    switchboard_adapter::testkit::run(&isolated).await;
    let nodes = [factory(&redis).0, factory(&redis).0, factory(&redis).0];
    common::scenario::run(nodes.clone(), false).await;
    for node in &nodes {
        assert_eq!(node.status().ignored, 0);
        assert_eq!(node.status().link.state, LinkState::Connected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_saved_by_one_node_is_restored_by_another_from_redis() {
    let redis = RedisServer::start().await;
    let ((fa, _), (fb, _)) = (factory(&redis), factory(&redis));
    let on = Some(RecoveryOptions::default());
    let (a, aa) = Node::start_with("A", &fa, &[("a1", &["r1"])], on);
    let (_b, ab) = Node::start_with("B", &fb, &[], on);
    until_count(&aa, 2).await;
    until_count(&ab, 2).await;
    ab.broadcast(event("m", json!(0)), BroadcastOptions::new().to("r1")).await.unwrap();
    let seen = a.until("m 0", |s| s.delivered.len() == 1).await;
    let first = seen.offsets[0].clone().unwrap();

    let a1 = SocketId::from("a1");
    let rooms = aa.socket_rooms(&a1).unwrap();
    aa.del_all(&a1);
    let session = Session::new(a1, "pid-a1", rooms.clone(), json!({"user": "ann"}));
    aa.persist_session(session.clone()).await.unwrap();
    // Stored as Node stores it: base64 text, expiring after maxDisconnectionDuration.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 =
        redis::cmd("PTTL").arg("sio:session:pid-a1").query_async(&mut conn).await.unwrap();
    assert!(ttl > 110_000 && ttl <= 120_000, "PX 120000, got {ttl}");

    for i in 1..=3 {
        ab.broadcast(event("m", json!(i)), BroadcastOptions::new()).await.unwrap();
    }
    assert_eq!(ab.take_session("pid-a1").await.unwrap(), Some(session));
    assert_eq!(ab.take_session("pid-a1").await.unwrap(), None);
    let missed = ab.missed_packets(&first, &rooms).await.unwrap().unwrap();
    let got: Vec<Value> =
        missed.iter().map(|(_, p)| p.payload().unwrap().args()[0].clone()).collect();
    assert_eq!(got, [json!(1), json!(2), json!(3)]);
    assert!(missed.windows(2).all(|w| w[0].0 < w[1].0) && missed[0].0 > first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_crashes_no_node_and_later_broadcasts_arrive() {
    let mut redis = RedisServer::start().await;
    let ((fa, da), (fb, _)) = (factory(&redis), factory(&redis));
    let (a, aa) = Node::start("A", &fa, &[("a1", &[])]);
    let (b, ab) = Node::start("B", &fb, &[("b1", &[])]);
    until_count(&aa, 2).await;
    until_count(&ab, 2).await;
    ab.broadcast(event("m", json!(0)), BroadcastOptions::new()).await.unwrap();
    a.until("m 0", |s| s.delivered.len() == 1).await;

    redis.kill().await;
    // While Redis is gone: a broadcast still reaches the local sockets and reports the error.
    let down = aa.broadcast(event("down", json!(1)), BroadcastOptions::new()).await;
    assert!(down.is_err(), "the cluster did not get it");
    assert!(a.seen().delivered.iter().any(|d| d.1 == "down"));
    assert!(aa.fetch_sockets(BroadcastOptions::new()).await.is_err(), "no answer, no hang");

    redis.restart().await;
    // Both nodes write again and read again (from the last entry they read).
    let sent = async {
        let mut i = 1;
        loop {
            if ab.broadcast(event("m", json!(i)), BroadcastOptions::new()).await.is_ok() {
                return i;
            }
            i += 1;
            // Polling until B's driver is back: it announces nothing else.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let i = tokio::time::timeout(Duration::from_secs(10), sent).await.unwrap();
    a.until("a broadcast after the restart", |s| {
        s.delivered.iter().any(|d| d.1 == "m" && d.2[0] == json!(i))
    })
    .await;
    assert_eq!(b.seen().delivered.iter().filter(|d| d.1 == "down").count(), 0);
    until_count(&aa, 2).await;
    assert_eq!(da.status().state, LinkState::Connected);
    assert_eq!(fa.status().ignored, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_whose_connection_is_killed_go_on_from_the_last_entry_they_read() {
    let redis = RedisServer::start().await;
    let ((fa, _), (fb, _)) = (factory(&redis), factory(&redis));
    let (a, aa) = Node::start("A", &fa, &[("a1", &[])]);
    let (_b, ab) = Node::start("B", &fb, &[]);
    until_count(&aa, 2).await;
    until_count(&ab, 2).await;
    ab.broadcast(event("m", json!(0)), BroadcastOptions::new()).await.unwrap();
    a.until("m 0", |s| s.delivered.len() == 1).await;
    // Kill the blocked readers' connections (the command connections stay), then write at
    // once: the entries land while the readers wait to reconnect, and must still be read.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let list: String = redis::cmd("CLIENT").arg("LIST").query_async(&mut conn).await.unwrap();
    let readers: Vec<&str> = list
        .lines()
        .filter(|l| l.contains("cmd=xread"))
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
        .collect();
    assert_eq!(readers.len(), 2, "one blocked reader per node: {list}");
    for id in readers {
        let _: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(id)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    for i in 1..=5 {
        ab.broadcast(event("m", json!(i)), BroadcastOptions::new()).await.unwrap();
    }
    let seen = a.until("m 1..5", |s| s.delivered.len() == 6).await;
    let got: Vec<Value> = seen.delivered.iter().map(|d| d.2[0].clone()).collect();
    assert_eq!(got, (0..=5).map(|i| json!(i)).collect::<Vec<_>>(), "once each, in order");
    ab.broadcast(event("m", json!(6)), BroadcastOptions::new()).await.unwrap();
    a.until("m 6", |s| s.delivered.len() == 7).await;
    assert_eq!(fa.status().ignored, 0);
}
