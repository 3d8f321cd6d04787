//! The link to Redis as metrics, through the [`metrics`](https://docs.rs/metrics) facade
//! (feature `metrics`).
//!
//! Nothing is recorded on the publish path: [`record_link`] reads a [`LinkStatus`] snapshot,
//! which the application takes when it is scraped (the `switchboard` binary: before each
//! `/metrics`). Without the feature this module is not compiled.
//!
//! | Name | Kind | What |
//! |---|---|---|
//! | `switchboard_redis_connected` | gauge | 1 while connected and subscribed, 0 while (re)connecting |
//! | `switchboard_redis_connections_total` | counter | times the link was (re)established |
//! | `switchboard_redis_queue` | gauge | publishes (and stream entries) waiting to be sent: the outage queue while Redis is unreachable |
//! | `switchboard_redis_queue_dropped_total` | counter | publishes dropped because that queue was full ([`crate::RedisConfig::queue_cap`]) |
//!
//! ```
//! use switchboard_redis::{Driver, FakeRedis};
//!
//! // Install a recorder first (for example `metrics_exporter_prometheus`), then, per scrape:
//! switchboard_redis::metrics::describe();
//! switchboard_redis::metrics::record_link(&FakeRedis::new().driver().status());
//! ```

use metrics::{counter, describe_counter, describe_gauge, gauge};

use crate::{LinkState, LinkStatus};

/// Registers a description of each metric with the installed recorder.
pub fn describe() {
    describe_gauge!("switchboard_redis_connected", "1 while the link to Redis is up.");
    describe_counter!(
        "switchboard_redis_connections_total",
        "Times the link to Redis was established."
    );
    describe_gauge!(
        "switchboard_redis_queue",
        "Publishes waiting to be sent to Redis (the outage queue)."
    );
    describe_counter!(
        "switchboard_redis_queue_dropped_total",
        "Publishes dropped because the outage queue was full."
    );
}

/// Sets the metrics from a snapshot of the link ([`crate::Driver::status`], or
/// [`crate::StreamsAdapterFactory::status`]'s `link`, which adds the stream entries waiting).
pub fn record_link(status: &LinkStatus) {
    let up = matches!(status.state, LinkState::Connected);
    gauge!("switchboard_redis_connected").set(if up { 1.0 } else { 0.0 });
    counter!("switchboard_redis_connections_total").absolute(status.connections);
    gauge!("switchboard_redis_queue").set(status.queued as f64);
    counter!("switchboard_redis_queue_dropped_total").absolute(status.overflowed);
}
