//! Scale-out on Redis for Switchboard, wire-compatible with Node's
//! `@socket.io/redis-adapter` 8.x: Switchboard nodes and Node socket.io nodes share one
//! cluster.
//!
//! - [`RedisAdapterFactory`]: the pub/sub adapter (one [`RedisAdapter`] per namespace):
//!   broadcasts with rooms, except and flags, broadcasts with acks across nodes,
//!   `fetch_sockets`, `sockets_join/leave`, `disconnect_sockets`, server-side emits with
//!   acks, all rooms, server count; same channels, key prefix, msgpack encoding and request
//!   types as Node.
//! - [`ShardedAdapterFactory`]: the sharded pub/sub adapter (Redis 7 `SPUBLISH`/`SSUBSCRIBE`),
//!   compatible with Node's `createShardedAdapter` (socket.io-adapter's `ClusterAdapter`
//!   protocol), in its static, dynamic and dynamic-private modes.
//! - [`StreamsAdapterFactory`]: the Redis Streams adapter, compatible with
//!   `@socket.io/redis-streams-adapter` 0.2 (one stream, `XADD`/`XREAD BLOCK`, heartbeats), with
//!   connection state recovery across nodes: a client cut from one node is recovered on any
//!   other, Node nodes included.
//! - [`Emitter`]: reach the sockets of the cluster from any process, in the format of
//!   `@socket.io/redis-emitter` 5.x (`to/in/except/emit`, `sockets_join/leave`,
//!   `disconnect_sockets`, `server_side_emit`); Switchboard nodes also accept what the Node
//!   emitter publishes.
//! - The driver seam ([`Driver`]): [`RedisDriver`] on a real server (reconnection with
//!   backoff, resubscription, a bounded queue of publishes during an outage, its state in
//!   [`LinkStatus`]), and [`FakeRedis`] in process for tests. With the `cluster` feature,
//!   `RedisDriver::open_cluster` runs all of the above on a Redis Cluster.
//!
//! ```
//! use switchboard_redis::{FakeRedis, RedisAdapterFactory, RedisAdapterOptions};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // With a real server: `RedisDriver::open("redis://127.0.0.1:6379", RedisConfig::default())?`.
//! let driver = FakeRedis::new().driver();
//! let factory = RedisAdapterFactory::new(driver, RedisAdapterOptions::default());
//! // `SocketIo::builder().adapter(factory.into_factory()).build()` in the server crate.
//! switchboard_adapter::testkit::run(&factory).await;
//! # }
//! ```
//!
//! The Streams adapter: one factory per server, all on the same stream (here two servers on
//! one fake Redis).
//!
//! ```
//! use switchboard_redis::{FakeRedis, StreamsAdapterFactory, StreamsAdapterOptions};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let redis = FakeRedis::new();
//! let node_a = StreamsAdapterFactory::new(redis.driver(), StreamsAdapterOptions::default());
//! let node_b = StreamsAdapterFactory::new(redis.driver(), StreamsAdapterOptions::default());
//! // `SocketIo::builder().adapter(node_a.into_factory())` on one server, `node_b` on the other;
//! // with `connection_state_recovery` on, offsets are the stream's entry ids.
//! switchboard_adapter::testkit::run(&node_a).await;
//! assert_eq!((node_a.status().ignored, node_b.status().ignored), (0, 0));
//! # }
//! ```

mod acks;
mod adapter;
mod cluster;
mod config;
mod conn;
mod driver;
mod emitter;
mod fake;
mod incoming;
#[cfg(feature = "metrics")]
pub mod metrics;
mod nodes;
mod protocol;
mod real;
mod shard;
mod sharded;
mod sharded_in;
mod sharded_ops;
mod stream_cmd;
mod streams;
mod streams_in;
mod streams_io;
mod streams_ops;
mod streams_wire;
mod value;

pub use adapter::{
    AdapterStatus, RedisAdapter, RedisAdapterError, RedisAdapterFactory, RedisAdapterOptions,
};
pub use config::RedisConfig;
pub use driver::{
    Driver, DriverError, Incoming, LinkState, LinkStatus, SharedDriver, StreamEntry, Subscription,
    SubscriptionHandle,
};
pub use emitter::{Emitter, EmitterError};
pub use fake::FakeRedis;
pub use nodes::{NodeDirectory, OwnerLookup};
pub use real::RedisDriver;
pub use sharded::{ShardedAdapter, ShardedAdapterFactory, ShardedAdapterOptions, SubscriptionMode};
pub use streams::{StreamsAdapter, StreamsAdapterFactory, StreamsAdapterOptions};

#[cfg(test)]
mod tests {
    use crate::{FakeRedis, RedisAdapterFactory, RedisAdapterOptions};

    #[tokio::test]
    async fn the_pubsub_adapter_passes_the_testkit_on_the_fake_driver() {
        let factory =
            RedisAdapterFactory::new(FakeRedis::new().driver(), RedisAdapterOptions::default());
        switchboard_adapter::testkit::run(&factory).await;
        assert_eq!(factory.status().ignored, 0);
    }

    #[tokio::test]
    async fn the_streams_adapter_passes_the_testkit_on_the_fake_driver() {
        let factory = crate::StreamsAdapterFactory::new(
            FakeRedis::new().driver(),
            crate::StreamsAdapterOptions::default(),
        );
        switchboard_adapter::testkit::run(&factory).await;
        assert_eq!(factory.status().ignored, 0);
    }
}
