//! The pub/sub adapter on a real redis-server started by the test (the `redis-server`
//! binary, or `SWITCHBOARD_REDIS_SERVER`): the adapter testkit, the three-node checks, and
//! an outage (SIGKILL, restart) while broadcasts flow.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde_json::json;
use switchboard_adapter::{Adapter, AdapterFactory, BroadcastOptions, LocalNamespace};
use switchboard_redis::{
    Driver, LinkState, RedisAdapterFactory, RedisAdapterOptions, RedisConfig, RedisDriver,
    ShardedAdapterFactory, ShardedAdapterOptions, SubscriptionMode,
};

use common::{Node, RedisServer, event};

fn config() -> RedisConfig {
    let mut config = RedisConfig::default();
    config.min_backoff = Duration::from_millis(20);
    config.max_backoff = Duration::from_millis(200);
    config
}

fn factory(redis: &RedisServer) -> (RedisAdapterFactory, Arc<RedisDriver>) {
    let driver = RedisDriver::open(&redis.url(), config()).unwrap();
    (RedisAdapterFactory::new(driver.clone(), RedisAdapterOptions::default()), driver)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_adapter_passes_the_testkit_and_the_cluster_checks_on_real_redis() {
    let redis = RedisServer::start().await;
    // The testkit's adapters are single nodes: each gets its own key prefix, so that a
    // broadcast of one check never reaches the adapter of the next one.
    let (_, driver) = factory(&redis);
    let next = AtomicUsize::new(0);
    let isolated = move |ns: Weak<dyn LocalNamespace>| -> Arc<dyn Adapter> {
        let mut options = RedisAdapterOptions::default();
        options.key = format!("testkit-{}", next.fetch_add(1, Ordering::SeqCst));
        RedisAdapterFactory::new(driver.clone(), options).create(ns)
    };
    switchboard_adapter::testkit::run(&isolated).await;
    let nodes = [factory(&redis).0, factory(&redis).0, factory(&redis).0];
    common::scenario::run(nodes.clone(), true).await;
    for node in &nodes {
        assert_eq!(node.status().ignored, 0);
        assert_eq!(node.status().link.state, LinkState::Connected);
    }
}

/// Waits (at most 10 s) until the driver's state is `state`.
async fn until_state(driver: &RedisDriver, state: LinkState) {
    let wait = async {
        while driver.status().state != state {
            // Polling the exposed state: the driver announces nothing else.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait).await.expect("state change");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_sent_while_redis_is_down_reach_every_node_once_it_is_back() {
    outage(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_broadcasts_sent_while_redis_is_down_reach_every_node_once_it_is_back() {
    outage(true).await;
}

/// A node on its own driver, pub/sub or sharded.
fn node_factory(redis: &RedisServer, sharded: bool) -> (Arc<dyn AdapterFactory>, Arc<RedisDriver>) {
    let driver = RedisDriver::open(&redis.url(), config()).unwrap();
    let factory: Arc<dyn AdapterFactory> = if sharded {
        ShardedAdapterFactory::new(driver.clone(), ShardedAdapterOptions::default()).into_factory()
    } else {
        RedisAdapterFactory::new(driver.clone(), RedisAdapterOptions::default()).into_factory()
    };
    (factory, driver)
}

async fn outage(sharded: bool) {
    let mut redis = RedisServer::start().await;
    let (fa, da) = node_factory(&redis, sharded);
    let (fb, db) = node_factory(&redis, sharded);
    let (a, aa) = Node::start("A", &*fa, &[("a1", &[])]);
    let (b, ab) = Node::start("B", &*fb, &[("b1", &[])]);
    for adapter in [&aa, &ab] {
        adapter.server_count().await.unwrap();
    }
    assert_eq!(aa.server_count().await.unwrap(), 2, "A has seen B subscribed");
    aa.broadcast(event("m", json!(0)), BroadcastOptions::new()).await.unwrap();
    b.until("m 0", |s| s.delivered.len() == 1).await;

    redis.kill().await;
    until_state(&da, LinkState::Reconnecting).await;
    until_state(&db, LinkState::Reconnecting).await;
    for i in 1..=20 {
        aa.broadcast(event("m", json!(i)), BroadcastOptions::new()).await.unwrap();
    }
    // Local recipients get them at once; remote ones wait in A's queue.
    assert_eq!(a.seen().delivered.len(), 21);
    assert_eq!(da.status().queued, 20);
    assert!(aa.fetch_sockets(BroadcastOptions::new()).await.is_err(), "a request fails, no hang");

    redis.restart().await;
    for i in 21..=25 {
        aa.broadcast(event("m", json!(i)), BroadcastOptions::new()).await.unwrap();
    }
    let seen = b.until("every broadcast", |s| s.delivered.len() == 26).await;
    let got: Vec<i64> = seen.delivered.iter().map(|d| d.2[0].as_i64().unwrap()).collect();
    assert_eq!(got, (0..=25).collect::<Vec<_>>(), "all of them, once, in order");
    until_state(&db, LinkState::Connected).await;
    let status = da.status();
    assert_eq!((status.state, status.queued, status.overflowed), (LinkState::Connected, 0, 0));
    assert!(status.connections >= 2);
    // Nothing else arrives: a last broadcast is the next one B sees.
    aa.broadcast(event("m", json!(26)), BroadcastOptions::new()).await.unwrap();
    let seen = b.until("the last one", |s| s.delivered.len() >= 27).await;
    assert_eq!(seen.delivered.len(), 27);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outage_queue_is_bounded_and_counts_what_it_drops() {
    let mut redis = RedisServer::start().await;
    let mut small = config();
    small.queue_cap = 3;
    let driver = RedisDriver::open(&redis.url(), small).unwrap();
    let fa = RedisAdapterFactory::new(driver.clone(), RedisAdapterOptions::default());
    let (a, aa) = Node::start("A", &fa, &[("a1", &[])]);
    aa.server_count().await.unwrap();
    redis.kill().await;
    until_state(&driver, LinkState::Reconnecting).await;
    let mut failed = 0;
    for i in 0..5 {
        if aa.broadcast(event("m", json!(i)), BroadcastOptions::new()).await.is_err() {
            failed += 1;
        }
    }
    assert_eq!(failed, 2, "past the cap, the remote part fails");
    assert_eq!(a.seen().delivered.len(), 5, "local sockets still get all of them");
    let status = driver.status();
    assert_eq!((status.queued, status.overflowed), (3, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sharded_adapter_passes_the_testkit_and_the_cluster_checks_on_real_redis() {
    let redis = RedisServer::start().await;
    let (_, driver) = factory(&redis);
    let next = AtomicUsize::new(0);
    let isolated = move |ns: Weak<dyn LocalNamespace>| -> Arc<dyn Adapter> {
        let mut options = ShardedAdapterOptions::default();
        options.channel_prefix = format!("testkit-{}", next.fetch_add(1, Ordering::SeqCst));
        ShardedAdapterFactory::new(driver.clone(), options).create(ns)
    };
    switchboard_adapter::testkit::run(&isolated).await;
    // One channel per namespace (see the same check on the fake).
    let sharded = || {
        let driver = RedisDriver::open(&redis.url(), config()).unwrap();
        let mut options = ShardedAdapterOptions::default();
        options.subscription_mode = SubscriptionMode::Static;
        ShardedAdapterFactory::new(driver, options)
    };
    let nodes = [sharded(), sharded(), sharded()];
    common::scenario::run(nodes.clone(), false).await;
    for node in &nodes {
        assert_eq!(node.status().ignored, 0);
    }
}

/// A peer that subscribes sharded channels one command at a time, as ioredis does when it
/// resubscribes a Node node.
struct RawPeer {
    stream: tokio::net::TcpStream,
    read: Vec<u8>,
}

impl RawPeer {
    async fn connect(redis: &RedisServer) -> RawPeer {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", redis.port)).await.unwrap();
        RawPeer { stream, read: Vec::new() }
    }

    async fn ssubscribe(&mut self, channel: &str) {
        use tokio::io::AsyncWriteExt as _;
        let command = format!("*2\r\n$10\r\nSSUBSCRIBE\r\n${}\r\n{channel}\r\n", channel.len());
        self.stream.write_all(command.as_bytes()).await.unwrap();
        self.until(channel).await;
    }

    /// Reads (at most 10 s) until `text` was received.
    async fn until(&mut self, text: &str) {
        use tokio::io::AsyncReadExt as _;
        let wait = async {
            while !self.read.windows(text.len()).any(|w| w == text.as_bytes()) {
                let mut buf = [0; 4096];
                let n = self.stream.read(&mut buf).await.unwrap();
                assert!(n > 0, "redis closed the peer's connection");
                self.read.extend_from_slice(&buf[..n]);
            }
        };
        tokio::time::timeout(Duration::from_secs(10), wait).await.expect(text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_outage_room_broadcasts_wait_for_the_nodes_of_the_room() {
    let mut redis = RedisServer::start().await;
    let mut settings = config();
    settings.resume_wait = Duration::from_secs(20);
    let driver = RedisDriver::open(&redis.url(), settings).unwrap();
    let factory = ShardedAdapterFactory::new(driver.clone(), ShardedAdapterOptions::default());
    let (_a, aa) = Node::start("A", &factory, &[("a1", &[])]);
    // P stands for a Node node with a socket in `roomP`, a room A has no socket in.
    let mut peer = RawPeer::connect(&redis).await;
    peer.ssubscribe("socket.io#/#").await;
    peer.ssubscribe("socket.io#/#roomP#").await;
    assert_eq!(aa.server_count().await.unwrap(), 2, "A has seen P on the namespace");
    aa.broadcast(event("before", json!(0)), BroadcastOptions::new().to("roomP")).await.unwrap();
    peer.until("before").await;
    let room = "socket.io#/#roomP#".to_owned();
    assert_eq!(driver.shard_num_sub(room).await.unwrap(), 1, "A has seen P on the room");

    redis.kill().await;
    until_state(&driver, LinkState::Reconnecting).await;
    aa.broadcast(event("during", json!(1)), BroadcastOptions::new().to("roomP")).await.unwrap();
    redis.restart().await;
    until_state(&driver, LinkState::Connected).await;
    // P comes back and subscribes the namespace first: A's own channels are all counted again,
    // but P would not get the room's broadcast yet, so A still holds it.
    let mut peer = RawPeer::connect(&redis).await;
    peer.ssubscribe("socket.io#/#").await;
    let flushed = async {
        while driver.status().queued > 0 {
            // Polling the exposed state: the driver announces nothing else.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let early = tokio::time::timeout(Duration::from_millis(500), flushed).await;
    assert!(early.is_err(), "the queue went out before P was back on the room");
    peer.ssubscribe("socket.io#/#roomP#").await;
    peer.until("during").await;
}

impl RawPeer {
    async fn command(&mut self, args: &[&str], reply: &str) {
        use tokio::io::AsyncWriteExt as _;
        let mut command = format!("*{}\r\n", args.len());
        for arg in args {
            command.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        self.stream.write_all(command.as_bytes()).await.unwrap();
        self.until(reply).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_outage_broadcasts_wait_for_the_pattern_subscriptions_of_the_nodes() {
    let mut redis = RedisServer::start().await;
    let mut settings = config();
    settings.resume_wait = Duration::from_secs(20);
    let driver = RedisDriver::open(&redis.url(), settings).unwrap();
    let factory = RedisAdapterFactory::new(driver.clone(), RedisAdapterOptions::default());
    let (_a, aa) = Node::start("A", &factory, &[("a1", &[])]);
    // P stands for a Node node on the classic adapter: request channels and a pattern.
    let channels = ["SUBSCRIBE", "socket.io-request#/#", "socket.io-response#/#"];
    let mut peer = RawPeer::connect(&redis).await;
    peer.command(&channels, "socket.io-response#/#").await;
    peer.command(&["PSUBSCRIBE", "socket.io#/#*"], "psubscribe").await;
    assert_eq!(aa.server_count().await.unwrap(), 2, "A has seen P");
    aa.broadcast(event("before", json!(0)), BroadcastOptions::new()).await.unwrap();
    peer.until("before").await;

    redis.kill().await;
    until_state(&driver, LinkState::Reconnecting).await;
    aa.broadcast(event("during", json!(1)), BroadcastOptions::new()).await.unwrap();
    redis.restart().await;
    until_state(&driver, LinkState::Connected).await;
    // P comes back as ioredis resubscribes: channels first, so NUMSUB counts it again while
    // it would not get a broadcast yet; A still holds its queue.
    let mut peer = RawPeer::connect(&redis).await;
    peer.command(&channels, "socket.io-response#/#").await;
    let flushed = async {
        while driver.status().queued > 0 {
            // Polling the exposed state: the driver announces nothing else.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let early = tokio::time::timeout(Duration::from_millis(500), flushed).await;
    assert!(early.is_err(), "the queue went out before P had its pattern back");
    peer.command(&["PSUBSCRIBE", "socket.io#/#*"], "psubscribe").await;
    peer.until("during").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_outage_broadcasts_wait_for_nodes_the_last_count_did_not_see() {
    let mut redis = RedisServer::start().await;
    let mut settings = config();
    // The hold after a reconnection is at least `max_backoff` and a quarter (2.5 s here).
    settings.max_backoff = Duration::from_secs(2);
    settings.resume_wait = Duration::from_secs(20);
    let driver = RedisDriver::open(&redis.url(), settings).unwrap();
    let factory = RedisAdapterFactory::new(driver.clone(), RedisAdapterOptions::default());
    let (_a, aa) = Node::start("A", &factory, &[("a1", &[])]);
    assert_eq!(aa.server_count().await.unwrap(), 1, "A has seen no other node");

    redis.kill().await;
    until_state(&driver, LinkState::Reconnecting).await;
    aa.broadcast(event("during", json!(1)), BroadcastOptions::new()).await.unwrap();
    redis.restart().await;
    until_state(&driver, LinkState::Connected).await;
    // Every count A last took is back at once (only A itself), but P, a node that started
    // after that count (or subscribed just before the outage), comes back a moment later.
    let flushed = async {
        while driver.status().queued > 0 {
            // Polling the exposed state: the driver announces nothing else.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let early = tokio::time::timeout(Duration::from_millis(500), flushed).await;
    assert!(early.is_err(), "the queue went out as soon as A's own channels were counted");
    let channels = ["SUBSCRIBE", "socket.io-request#/#", "socket.io-response#/#"];
    let mut peer = RawPeer::connect(&redis).await;
    peer.command(&["PSUBSCRIBE", "socket.io#/#*"], "psubscribe").await;
    peer.command(&channels, "socket.io-response#/#").await;
    peer.until("during").await;
}
