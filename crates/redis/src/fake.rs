//! An in-process stand-in for Redis pub/sub, so that adapters and their tests run without a
//! server: every driver made by one [`FakeRedis`] sees the others' publishes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use switchboard_adapter::BoxFuture;
use tokio::sync::{mpsc, watch};

use crate::driver::{
    Driver, DriverError, Incoming, LinkState, LinkStatus, Subscription, SubscriptionHandle,
    glob_match,
};

/// One subscriber of the fake server.
struct Subscriber {
    sub: Subscription,
    sink: mpsc::UnboundedSender<Incoming>,
    // Kept so that the handle's receiver always reads `true`.
    _active: watch::Sender<bool>,
}

#[derive(Default)]
struct Hub {
    next_id: u64,
    subscribers: HashMap<u64, Subscriber>,
    published: u64,
}

/// An in-process pub/sub server. Publishes are delivered at once, in order, to every
/// matching subscriber of every driver made from it.
///
/// ```
/// use switchboard_redis::{Driver, FakeRedis, Subscription};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let redis = FakeRedis::new();
/// let (a, b) = (redis.driver(), redis.driver());
/// // Unbounded: the example reads everything it publishes.
/// let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
/// let sub = Subscription { channels: vec!["news".into()], ..Default::default() };
/// let _handle = b.subscribe(sub, tx);
/// a.publish("news".into(), "hello".into()).unwrap();
/// assert_eq!(rx.recv().await.unwrap().payload, "hello");
/// assert_eq!(a.num_sub("news".into()).await.unwrap(), 1);
/// # }
/// ```
#[derive(Clone, Default)]
pub struct FakeRedis {
    // Shared by every driver of this fake; held only for map operations and sends into
    // unbounded channels, never across an await.
    hub: Arc<Mutex<Hub>>,
}

impl std::fmt::Debug for FakeRedis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeRedis").field("published", &self.lock().published).finish()
    }
}

impl FakeRedis {
    /// An empty server.
    pub fn new() -> Self {
        FakeRedis::default()
    }

    /// A driver connected to this server.
    pub fn driver(&self) -> Arc<dyn Driver> {
        Arc::new(FakeDriver { hub: self.clone(), mine: Mutex::new(Vec::new()) })
    }

    /// Publishes as an outside process would (e.g. a foreign client), without a driver.
    pub fn publish(&self, channel: &str, payload: Bytes) {
        self.send(channel, payload, false);
    }

    /// Publishes on a sharded channel (`SPUBLISH`), without a driver.
    pub fn spublish(&self, channel: &str, payload: Bytes) {
        self.send(channel, payload, true);
    }

    fn send(&self, channel: &str, payload: Bytes, sharded: bool) {
        let hub = &mut *self.lock();
        hub.published += 1;
        for s in hub.subscribers.values() {
            let matches = if sharded {
                s.sub.sharded.iter().any(|c| c == channel)
            } else {
                s.sub.channels.iter().any(|c| c == channel)
                    || s.sub.patterns.iter().any(|p| glob_match(p.as_bytes(), channel.as_bytes()))
            };
            if matches {
                // A subscriber that went away just misses the message, as on Redis.
                let _ =
                    s.sink.send(Incoming { channel: channel.to_owned(), payload: payload.clone() });
            }
        }
    }

    /// How many subscribers a sharded channel has (as `SHARDNUMSUB`).
    pub fn shard_subscribers(&self, channel: &str) -> usize {
        self.lock()
            .subscribers
            .values()
            .filter(|s| s.sub.sharded.iter().any(|c| c == channel))
            .count()
    }

    /// How many messages were published so far.
    pub fn published(&self) -> u64 {
        self.lock().published
    }

    fn lock(&self) -> MutexGuard<'_, Hub> {
        // Every operation leaves the maps consistent, so a poisoned lock is still usable.
        self.hub.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A driver of a [`FakeRedis`].
struct FakeDriver {
    hub: FakeRedis,
    // The ids this driver subscribed, to count it once per channel as Redis counts one
    // connection; held only for a push or a scan.
    mine: Mutex<Vec<u64>>,
}

impl Drop for FakeDriver {
    fn drop(&mut self) {
        let ids = std::mem::take(&mut *self.mine.lock().unwrap_or_else(|e| e.into_inner()));
        let mut hub = self.hub.lock();
        for id in ids {
            hub.subscribers.remove(&id);
        }
    }
}

impl Driver for FakeDriver {
    fn publish(&self, channel: String, payload: Bytes) -> Result<(), DriverError> {
        self.hub.publish(&channel, payload);
        Ok(())
    }

    fn spublish(&self, channel: String, payload: Bytes) -> Result<(), DriverError> {
        self.hub.spublish(&channel, payload);
        Ok(())
    }

    fn num_sub(&self, channel: String) -> BoxFuture<'static, Result<usize, DriverError>> {
        let hub = self.hub.clone();
        Box::pin(async move {
            let hub = hub.lock();
            Ok(hub.subscribers.values().filter(|s| s.sub.channels.contains(&channel)).count())
        })
    }

    fn shard_num_sub(&self, channel: String) -> BoxFuture<'static, Result<usize, DriverError>> {
        let hub = self.hub.clone();
        Box::pin(async move {
            let hub = hub.lock();
            Ok(hub.subscribers.values().filter(|s| s.sub.sharded.contains(&channel)).count())
        })
    }

    fn subscribe(
        &self,
        sub: Subscription,
        sink: mpsc::UnboundedSender<Incoming>,
    ) -> SubscriptionHandle {
        // A watch: the subscriber reads the latest state; here it is always active.
        let (tx, rx) = watch::channel(true);
        let mut hub = self.hub.lock();
        hub.next_id += 1;
        let id = hub.next_id;
        hub.subscribers.insert(id, Subscriber { sub, sink, _active: tx });
        self.mine.lock().unwrap_or_else(|e| e.into_inner()).push(id);
        SubscriptionHandle { id, active: rx }
    }

    fn unsubscribe(&self, id: u64) {
        self.hub.lock().subscribers.remove(&id);
        self.mine.lock().unwrap_or_else(|e| e.into_inner()).retain(|x| *x != id);
    }

    fn flushed(&self) -> BoxFuture<'static, ()> {
        // Publishes are delivered when made.
        Box::pin(async {})
    }

    fn status(&self) -> LinkStatus {
        LinkStatus { state: LinkState::Connected, queued: 0, overflowed: 0, connections: 1 }
    }
}
