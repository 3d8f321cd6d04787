//! The node directory of clusters without sticky sessions on a real redis-server: a node
//! announced before its driver is connected is found once Redis answers; unknown tags are not.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use switchboard_redis::{NodeDirectory, RedisConfig, RedisDriver};

use common::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_announced_at_start_is_found_by_the_others() {
    let redis = RedisServer::start().await;
    // Announced at once: the driver connects in the background, the first tries fail.
    let a = NodeDirectory::new(RedisDriver::open(&redis.url(), RedisConfig::default()).unwrap());
    let heartbeat = a.announce("AbC_", "10.1.2.3:4000");
    tokio::time::timeout(Duration::from_secs(10), a.announced()).await.expect("announced");
    let b = NodeDirectory::new(RedisDriver::open(&redis.url(), RedisConfig::default()).unwrap());
    // b announcing itself shows that its own driver is connected.
    let b_heartbeat = b.announce("dEf-", "10.1.2.4:4000");
    tokio::time::timeout(Duration::from_secs(10), b.announced()).await.expect("announced");
    let found = b.lookup("AbC_").await.expect("a found");
    assert_eq!(found, "10.1.2.3:4000");
    assert_eq!(b.lookup("ZZZZ").await, None);
    assert_eq!(a.lookup("dEf-").await.as_deref(), Some("10.1.2.4:4000"));
    heartbeat.abort();
    b_heartbeat.abort();
}
