//! The adapters and the emitter on a real Redis Cluster started by the test: three masters
//! (`redis-server --cluster-enabled yes` on free ports, each in its own directory, joined by
//! `redis-cli --cluster create`), killed by PID at the end; and a Node socket.io node on the
//! official adapters with an ioredis `Cluster` (tests/e2e/servers/node-redis.mjs, its npm
//! packages installed by `cargo xtask test`) in the same cluster as ours. Needs the `cluster`
//! feature.
#![cfg(feature = "cluster")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde_json::json;
use switchboard_adapter::{AckEvent, Adapter, AdapterFactory, BroadcastOptions, LocalNamespace};
use switchboard_proto::socket::{EventName, Payload};
use switchboard_redis::{
    Driver as _, Emitter, LinkState, RedisAdapterFactory, RedisAdapterOptions, RedisConfig,
    RedisDriver, ShardedAdapterFactory, ShardedAdapterOptions, SubscriptionMode,
};
use tokio::io::AsyncBufReadExt as _;

use common::{Node, event};

/// A free TCP port of 127.0.0.1.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Three cluster masters; killed (and their directories removed) when dropped.
struct RedisCluster {
    ports: Vec<u16>,
    dirs: Vec<std::path::PathBuf>,
    children: Vec<tokio::process::Child>,
}

impl RedisCluster {
    /// Starts the three nodes, joins them, and waits (at most 30 s) for `cluster_state:ok`
    /// on each.
    async fn start() -> RedisCluster {
        let bin =
            std::env::var("SWITCHBOARD_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
        let mut cluster =
            RedisCluster { ports: Vec::new(), dirs: Vec::new(), children: Vec::new() };
        for _ in 0..3 {
            let (port, bus) = (free_port(), free_port());
            let dir =
                std::env::temp_dir().join(format!("sb-cluster-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let mut child = tokio::process::Command::new(&bin)
                .args(["--port", &port.to_string(), "--cluster-port", &bus.to_string()])
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .args(["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"])
                .arg("--dir")
                .arg(&dir)
                .stdout(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {bin} (install redis-server): {e}"));
            let stdout = child.stdout.take().unwrap();
            let mut lines = tokio::io::BufReader::new(stdout).lines();
            let ready = async {
                while let Ok(Some(line)) = lines.next_line().await {
                    if line.contains("Ready to accept connections") {
                        return true;
                    }
                }
                false
            };
            let ok = tokio::time::timeout(Duration::from_secs(20), ready).await;
            assert!(matches!(ok, Ok(true)), "redis-server did not become ready");
            // Keeps reading its output so that it never blocks on a full pipe; ends with it.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            cluster.ports.push(port);
            cluster.dirs.push(dir);
            cluster.children.push(child);
        }
        let nodes: Vec<String> = cluster.ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let created = tokio::process::Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output();
        let created = tokio::time::timeout(Duration::from_secs(30), created).await;
        let created = created.expect("redis-cli --cluster create in time").expect("redis-cli");
        assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stdout));
        let ok = async {
            for port in &cluster.ports {
                loop {
                    let info = tokio::process::Command::new("redis-cli")
                        .args(["-p", &port.to_string(), "cluster", "info"])
                        .output()
                        .await
                        .unwrap();
                    if String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok") {
                        break;
                    }
                    // Polling: a node announces its state to no one.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), ok).await.expect("cluster_state:ok");
        cluster
    }

    /// The seed URLs: every node.
    fn urls(&self) -> Vec<String> {
        self.ports.iter().map(|p| format!("redis://127.0.0.1:{p}")).collect()
    }

    fn driver(&self) -> Arc<RedisDriver> {
        let urls = self.urls();
        let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
        RedisDriver::open_cluster(&urls, RedisConfig::default()).unwrap()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.start_kill();
        }
        for dir in &self.dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Waits (at most 10 s) until the driver is connected.
async fn connected(driver: &RedisDriver) {
    let wait = async {
        while driver.status().state != LinkState::Connected {
            // Polling the exposed state: the driver announces nothing else.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait).await.expect("connected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_adapters_and_the_emitter_work_on_a_redis_cluster() {
    let cluster = RedisCluster::start().await;

    // The pub/sub adapter: the testkit (each check on its own key prefix), then three nodes
    // on three drivers: broadcasts, acks, fetch_sockets, joins, server-side emits, rooms.
    let driver = cluster.driver();
    connected(&driver).await;
    let next = AtomicUsize::new(0);
    let isolated = move |ns: Weak<dyn LocalNamespace>| -> Arc<dyn Adapter> {
        let mut options = RedisAdapterOptions::default();
        options.key = format!("testkit-{}", next.fetch_add(1, Ordering::SeqCst));
        RedisAdapterFactory::new(driver.clone(), options).create(ns)
    };
    switchboard_adapter::testkit::run(&isolated).await;
    let pubsub = || RedisAdapterFactory::new(cluster.driver(), RedisAdapterOptions::default());
    let nodes = [pubsub(), pubsub(), pubsub()];
    common::scenario::run(nodes.clone(), true).await;
    for node in &nodes {
        assert_eq!(node.status().ignored, 0);
        assert_eq!(node.status().link.state, LinkState::Connected);
    }

    // The emitter, on a driver of its own, reaches the sockets of the pub/sub nodes.
    let (x, xa) = Node::start("X", &nodes[0], &[("x1", &["news"])]);
    let (y, ya) = Node::start("Y", &nodes[1], &[("y1", &[])]);
    for adapter in [&xa, &ya] {
        adapter.server_count().await.unwrap();
    }
    let emitter = Emitter::new(cluster.driver());
    emitter.to("news").emit("headline", &json!("cluster")).unwrap();
    emitter.emit("everyone", &json!(1)).unwrap();
    emitter.flushed().await;
    let seen = x.until("x1 gets both", |s| s.delivered.len() == 2).await;
    let events: Vec<&str> = seen.delivered.iter().map(|d| d.1.as_str()).collect();
    assert_eq!(events, ["headline", "everyone"]);
    let seen = y.until("y1 gets the broadcast", |s| !s.delivered.is_empty()).await;
    let events: Vec<&str> = seen.delivered.iter().map(|d| d.1.as_str()).collect();
    assert_eq!(events, ["everyone"], "not the room emit");
    drop((xa, ya));

    // The sharded adapter: the testkit, then the three-node checks (static mode: one channel
    // per namespace, each channel on the master that owns its slot).
    let driver = cluster.driver();
    connected(&driver).await;
    let next = AtomicUsize::new(0);
    let isolated = move |ns: Weak<dyn LocalNamespace>| -> Arc<dyn Adapter> {
        let mut options = ShardedAdapterOptions::default();
        options.channel_prefix = format!("testkit-{}", next.fetch_add(1, Ordering::SeqCst));
        ShardedAdapterFactory::new(driver.clone(), options).create(ns)
    };
    switchboard_adapter::testkit::run(&isolated).await;
    let sharded = |mode| {
        let mut options = ShardedAdapterOptions::default();
        options.subscription_mode = mode;
        ShardedAdapterFactory::new(cluster.driver(), options)
    };
    let nodes = [0, 1, 2].map(|_| sharded(SubscriptionMode::Static));
    common::scenario::run(nodes.clone(), false).await;
    for node in &nodes {
        assert_eq!(node.status().ignored, 0);
    }

    // Dynamic mode: a broadcast to a room travels on the room's own channel, which lives on
    // another master than the namespace's; only the node with the room gets it.
    let nodes = [0, 1].map(|_| sharded(SubscriptionMode::Dynamic));
    let (a, aa) = Node::start("A", &nodes[0], &[("a1", &[])]);
    let (b, ab) = Node::start("B", &nodes[1], &[("b1", &["room-b"])]);
    for adapter in [&aa, &ab] {
        adapter.server_count().await.unwrap();
    }
    assert_eq!(aa.server_count().await.unwrap(), 2);
    // B subscribes the room's channel on its own: wait until the cluster counts it.
    let probe = cluster.driver();
    connected(&probe).await;
    let room = async {
        while probe.shard_num_sub("socket.io#/#room-b#".to_owned()).await.unwrap() != 1 {
            // Polling: Redis announces no subscription.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), room).await.expect("room channel subscribed");
    aa.broadcast(event("to-room", json!(1)), BroadcastOptions::new().to("room-b")).await.unwrap();
    aa.broadcast(event("all", json!(2)), BroadcastOptions::new()).await.unwrap();
    let seen = b.until("b1 gets both", |s| s.delivered.len() == 2).await;
    // Two channels on two masters, read on two connections: their order is not guaranteed
    // (nor is it by the Node adapter).
    let mut events: Vec<&str> = seen.delivered.iter().map(|d| d.1.as_str()).collect();
    events.sort_unstable();
    assert_eq!(events, ["all", "to-room"]);
    assert_eq!(a.seen().delivered.len(), 1, "a1 only got the broadcast to all");
    drop(cluster);
}

/// A Node node (servers/node-redis.mjs) with `adapter` on the cluster; killed when dropped.
async fn node_node(cluster: &RedisCluster, adapter: &str) -> tokio::process::Child {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e");
    assert!(
        dir.join("node_modules/@socket.io/redis-adapter").is_dir(),
        "the Node packages are missing in {}: run `cargo xtask test` (which installs them), \
         or `npm install` in tests/e2e",
        dir.display()
    );
    let nodes: Vec<String> = cluster.ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let mut child = tokio::process::Command::new("node")
        .arg("servers/node-redis.mjs")
        .args(["--port", "0", "--name", "node", "--adapter", adapter])
        .args(["--redis-cluster", &nodes.join(",")])
        .current_dir(&dir)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("cannot run node: is Node.js installed?");
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await;
    let first = first.expect("the Node node started in time").unwrap().expect("a first line");
    assert!(first.starts_with("listening on http://127.0.0.1:"), "{first}");
    // Keeps reading its output so that it never blocks on a full pipe; ends with it.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

/// Our two nodes and a Node node on `factories`' adapter: the server count includes the
/// Node node once it subscribed, a server-side emit with ack is answered by it (a request of
/// ours reaches it, its answer reaches us), and a `fetch_sockets` gets its (empty) answer.
async fn with_a_node_node<F: AdapterFactory>(
    cluster: &RedisCluster,
    adapter: &str,
    factories: [F; 2],
) {
    let [fa, fb] = factories;
    let (_a, aa) = Node::start("A", &fa, &[("a1", &["room1"])]);
    let (_b, ab) = Node::start("B", &fb, &[("b1", &[])]);
    let mut node = node_node(cluster, adapter).await;
    let counted = async {
        // Polling: the Node node subscribes on its own; only the count shows it.
        while aa.server_count().await.unwrap() != 3 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(15), counted).await.expect("the Node node counted");
    assert_eq!(ab.server_count().await.unwrap(), 3);
    // Unbounded: the test reads everything.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let name = EventName::new("ping".to_owned()).unwrap();
    aa.server_side_emit(name, Payload::from_args(vec![json!("hi")]), Some(tx)).await.unwrap();
    let (mut expected, mut answers) = (None, Vec::new());
    let collect = async {
        while let Some(event) = rx.recv().await {
            match event {
                AckEvent::Expected(n) => expected = Some(n),
                AckEvent::Response { payload, .. } => {
                    answers.push(payload.args()[0].as_str().unwrap().to_owned());
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), collect).await.expect("every answer");
    assert_eq!(expected, Some(2), "B and the Node node");
    answers.sort();
    assert_eq!(answers, ["pong from B", "pong from node"]);
    let sockets = aa.fetch_sockets(BroadcastOptions::new()).await.unwrap();
    let mut ids: Vec<String> = sockets.iter().map(|s| s.id.to_string()).collect();
    ids.sort();
    assert_eq!(ids, ["a1", "b1"], "the Node node answered, with no socket");
    let _ = node.start_kill();
    let _ = node.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_node_on_the_official_adapters_shares_the_redis_cluster() {
    let cluster = RedisCluster::start().await;
    let pubsub = || RedisAdapterFactory::new(cluster.driver(), RedisAdapterOptions::default());
    with_a_node_node(&cluster, "redis", [pubsub(), pubsub()]).await;
    let sharded = || ShardedAdapterFactory::new(cluster.driver(), ShardedAdapterOptions::default());
    with_a_node_node(&cluster, "sharded", [sharded(), sharded()]).await;
}
