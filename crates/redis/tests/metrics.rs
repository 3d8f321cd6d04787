//! The link to Redis as metrics (feature `metrics`): the outage queue and its drops move by
//! exactly the publishes made while a real redis-server is down.
#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use metrics_exporter_prometheus::PrometheusBuilder;
use switchboard_redis::{Driver, RedisConfig, RedisDriver, Subscription};
use tokio::sync::watch;
use tokio::time::timeout;

use common::RedisServer;

const WAIT: Duration = Duration::from_secs(20);

/// `name value` of each sample that `record_link` sets, after recording `driver`'s status.
fn scrape(driver: &RedisDriver) -> HashMap<String, f64> {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        switchboard_redis::metrics::record_link(&driver.status());
    });
    handle
        .render()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' ').map(|(k, v)| (k.to_owned(), v.parse().unwrap())))
        .collect()
}

fn expect(samples: &HashMap<String, f64>, want: [(&str, f64); 4]) {
    for (name, value) in want {
        assert_eq!(samples.get(name), Some(&value), "{name} in {samples:?}");
    }
}

/// Until the subscription's state is `up`.
async fn until_active(active: &mut watch::Receiver<bool>, up: bool) {
    timeout(WAIT, active.wait_for(|a| *a == up)).await.unwrap().unwrap();
}

#[tokio::test]
async fn the_outage_queue_and_its_drops_move_by_exactly_what_was_published() {
    let mut redis = RedisServer::start().await;
    let mut config = RedisConfig::default();
    config.queue_cap = 3;
    config.min_backoff = Duration::from_millis(20);
    config.max_backoff = Duration::from_millis(200);
    let driver = RedisDriver::open(&redis.url(), config).unwrap();
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let sub = Subscription { channels: vec!["metrics-test".into()], ..Default::default() };
    let mut handle = driver.subscribe(sub, tx);
    until_active(&mut handle.active, true).await;
    driver.publish("metrics-test".into(), Bytes::from_static(b"up")).unwrap();
    timeout(WAIT, driver.flushed()).await.unwrap();
    expect(
        &scrape(&driver),
        [
            ("switchboard_redis_connected", 1.0),
            ("switchboard_redis_connections_total", 1.0),
            ("switchboard_redis_queue", 0.0),
            ("switchboard_redis_queue_dropped_total", 0.0),
        ],
    );

    // Redis goes away: five publishes, three held (the cap), two dropped.
    redis.kill().await;
    until_active(&mut handle.active, false).await;
    let results: Vec<bool> = (0..5)
        .map(|i| driver.publish("metrics-test".into(), Bytes::from(format!("m{i}"))).is_ok())
        .collect();
    assert_eq!(results, [true, true, true, false, false]);
    expect(
        &scrape(&driver),
        [
            ("switchboard_redis_connected", 0.0),
            ("switchboard_redis_connections_total", 1.0),
            ("switchboard_redis_queue", 3.0),
            ("switchboard_redis_queue_dropped_total", 2.0),
        ],
    );

    // Back: the queue is sent and empties; the drops stay counted.
    redis.restart().await;
    until_active(&mut handle.active, true).await;
    timeout(WAIT, driver.flushed()).await.unwrap();
    expect(
        &scrape(&driver),
        [
            ("switchboard_redis_connected", 1.0),
            ("switchboard_redis_connections_total", 2.0),
            ("switchboard_redis_queue", 0.0),
            ("switchboard_redis_queue_dropped_total", 2.0),
        ],
    );
}
