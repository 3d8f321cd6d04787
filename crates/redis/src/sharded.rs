//! The sharded pub/sub adapter (Redis 7 `SPUBLISH`/`SSUBSCRIBE`), compatible with Node's
//! `createShardedAdapter` of `@socket.io/redis-adapter` 8.3: the `ClusterAdapter` protocol of
//! socket.io-adapter (envelopes `{type, data, uid, nsp}`), one channel per namespace, one
//! per node for answers, and (by default) one per public room.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use rand::Rng as _;
use rmpv::Value as Mp;
use switchboard_adapter::{
    Adapter, AdapterError, AdapterFactory, BroadcastOptions, LocalNamespace, MemoryAdapter, Room,
    SocketId,
};
use tokio::sync::{mpsc, watch};

use crate::adapter::{AdapterStatus, RedisAdapterError, Stats};
use crate::driver::{DriverError, Incoming, SharedDriver, Subscription};
use crate::value::{Binary, encode_msgpack, map, mp_to_json};

/// Which channels a sharded adapter subscribes (Node's `subscriptionMode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscriptionMode {
    /// Two channels per namespace; every broadcast goes to the namespace's channel.
    Static,
    /// Plus one channel per public room (not a socket id); a broadcast to one such room goes
    /// to its channel, so only the nodes that have the room get it. Node's default.
    #[default]
    Dynamic,
    /// Plus one channel per room, socket ids included.
    DynamicPrivate,
}

/// Settings of the sharded adapter (Node's `createShardedAdapter` options).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShardedAdapterOptions {
    /// The channel prefix (`channelPrefix`, default `socket.io`).
    pub channel_prefix: String,
    /// The subscription mode (default [`SubscriptionMode::Dynamic`]).
    pub subscription_mode: SubscriptionMode,
    /// How long cluster requests wait for the other nodes (default 5 s, Node's constant).
    pub requests_timeout: Duration,
}

impl Default for ShardedAdapterOptions {
    fn default() -> Self {
        ShardedAdapterOptions {
            channel_prefix: "socket.io".to_owned(),
            subscription_mode: SubscriptionMode::Dynamic,
            requests_timeout: Duration::from_secs(5),
        }
    }
}

/// The `MessageType` enum of socket.io-adapter's `ClusterAdapter`.
pub(crate) mod mt {
    pub(crate) const BROADCAST: u64 = 3;
    pub(crate) const SOCKETS_JOIN: u64 = 4;
    pub(crate) const SOCKETS_LEAVE: u64 = 5;
    pub(crate) const DISCONNECT_SOCKETS: u64 = 6;
    pub(crate) const FETCH_SOCKETS: u64 = 7;
    pub(crate) const FETCH_SOCKETS_RESPONSE: u64 = 8;
    pub(crate) const SERVER_SIDE_EMIT: u64 = 9;
    pub(crate) const SERVER_SIDE_EMIT_RESPONSE: u64 = 10;
    pub(crate) const BROADCAST_CLIENT_COUNT: u64 = 11;
    pub(crate) const BROADCAST_ACK: u64 = 12;
}

/// 8 random bytes as 16 lowercase hex characters (`ClusterAdapter`'s `randomId`).
pub(crate) fn random_id() -> String {
    let bytes: [u8; 8] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn has_binary(value: &Mp) -> bool {
    match value {
        Mp::Binary(_) => true,
        Mp::Array(items) => items.iter().any(has_binary),
        Mp::Map(entries) => entries.iter().any(|(k, v)| has_binary(k) || has_binary(v)),
        _ => false,
    }
}

/// Creates a [`ShardedAdapter`] per namespace, all on one driver.
///
/// ```
/// use switchboard_redis::{FakeRedis, ShardedAdapterFactory, ShardedAdapterOptions};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let factory = ShardedAdapterFactory::new(FakeRedis::new().driver(), ShardedAdapterOptions::default());
/// switchboard_adapter::testkit::run(&factory).await;
/// # }
/// ```
#[derive(Clone)]
pub struct ShardedAdapterFactory {
    driver: SharedDriver,
    options: Arc<ShardedAdapterOptions>,
    stats: Arc<Stats>,
}

impl std::fmt::Debug for ShardedAdapterFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardedAdapterFactory").field("options", &self.options).finish()
    }
}

impl ShardedAdapterFactory {
    /// A factory on `driver`.
    pub fn new(driver: SharedDriver, options: ShardedAdapterOptions) -> Self {
        ShardedAdapterFactory { driver, options: Arc::new(options), stats: Arc::default() }
    }

    /// The link's state and the count of ignored messages.
    pub fn status(&self) -> AdapterStatus {
        AdapterStatus { link: self.driver.status(), ignored: self.stats.ignored() }
    }

    /// As a shared [`AdapterFactory`].
    pub fn into_factory(self) -> Arc<dyn AdapterFactory> {
        Arc::new(self)
    }
}

impl AdapterFactory for ShardedAdapterFactory {
    fn create(&self, namespace: Weak<dyn LocalNamespace>) -> Arc<dyn Adapter> {
        let inner = Arc::new(Sharded {
            local: MemoryAdapter::new(namespace.clone()),
            ns: namespace,
            uid: random_id(),
            options: self.options.clone(),
            driver: self.driver.clone(),
            stats: self.stats.clone(),
            setup: OnceLock::new(),
            pending: Mutex::new(HashMap::new()),
            rooms: Mutex::new(HashMap::new()),
        });
        // As the pub/sub adapter: subscribe as soon as the namespace can be read.
        crate::adapter::spawn_setup(Arc::downgrade(&inner), |inner| inner.setup().is_some());
        Arc::new(ShardedAdapter { inner })
    }
}

pub(crate) struct SSetup {
    pub(crate) nsp: String,
    /// `<prefix>#<nsp>#`.
    pub(crate) channel: String,
    /// `<prefix>#<nsp>#<uid>#`.
    pub(crate) response: String,
    sub_id: u64,
    active: watch::Receiver<bool>,
    sink: mpsc::UnboundedSender<Incoming>,
}

pub(crate) struct Sharded {
    pub(crate) local: MemoryAdapter,
    pub(crate) ns: Weak<dyn LocalNamespace>,
    pub(crate) uid: String,
    pub(crate) options: Arc<ShardedAdapterOptions>,
    pub(crate) driver: SharedDriver,
    pub(crate) stats: Arc<Stats>,
    setup: OnceLock<SSetup>,
    // Requests of this node waiting for answers; held for an insert, a remove or a send.
    pending: Mutex<HashMap<String, mpsc::UnboundedSender<Mp>>>,
    // The room channels subscribed (dynamic modes), by room; held for lookups and
    // (un)subscribe calls, which only touch the driver's own state.
    rooms: Mutex<HashMap<Room, u64>>,
}

/// The sharded pub/sub adapter of one namespace. Build it through a
/// [`ShardedAdapterFactory`].
pub struct ShardedAdapter {
    pub(crate) inner: Arc<Sharded>,
}

impl std::fmt::Debug for ShardedAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardedAdapter").field("uid", &self.inner.uid).finish()
    }
}

impl Drop for Sharded {
    fn drop(&mut self) {
        if let Some(setup) = self.setup.get() {
            self.driver.unsubscribe(setup.sub_id);
        }
        for id in self.rooms().values() {
            self.driver.unsubscribe(*id);
        }
    }
}

impl Sharded {
    pub(crate) fn setup(self: &Arc<Self>) -> Option<&SSetup> {
        if let Some(setup) = self.setup.get() {
            return Some(setup);
        }
        let nsp = self.ns.upgrade()?.name().to_owned();
        tokio::runtime::Handle::try_current().ok()?;
        Some(self.setup.get_or_init(|| {
            let channel = format!("{}#{nsp}#", self.options.channel_prefix);
            let response = format!("{channel}{}#", self.uid);
            let sub = Subscription {
                sharded: vec![channel.clone(), response.clone()],
                ..Default::default()
            };
            // Unbounded: the driver must never block on a slow namespace.
            let (tx, mut rx) = mpsc::unbounded_channel();
            let handle = self.driver.subscribe(sub, tx.clone());
            let weak = Arc::downgrade(self);
            // The namespace's receiving loop; ends when the adapter is dropped.
            tokio::spawn(async move {
                while let Some(message) = rx.recv().await {
                    let Some(inner) = weak.upgrade() else { return };
                    inner.on_message(&message);
                }
            });
            SSetup { nsp, channel, response, sub_id: handle.id, active: handle.active, sink: tx }
        }))
    }

    pub(crate) fn ready(self: &Arc<Self>) -> Result<&SSetup, AdapterError> {
        self.setup().ok_or(AdapterError::NamespaceClosed)
    }

    fn rooms(&self) -> MutexGuard<'_, HashMap<Room, u64>> {
        // Inserts and removes leave the map consistent, so a poisoned lock is still usable.
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn pending(&self) -> MutexGuard<'_, HashMap<String, mpsc::UnboundedSender<Mp>>> {
        // Inserts and removes leave the map consistent, so a poisoned lock is still usable.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn expect(&self, id: &str) -> mpsc::UnboundedReceiver<Mp> {
        // Unbounded: one answer per node (or per reached socket), removed with the request.
        let (tx, rx) = mpsc::unbounded_channel();
        self.pending().insert(id.to_owned(), tx);
        rx
    }

    pub(crate) fn forget(&self, id: &str) {
        self.pending().remove(id);
    }

    /// Publishes an envelope: msgpack when its data holds binary, JSON otherwise (as Node).
    pub(crate) fn publish(
        &self,
        channel: String,
        setup: &SSetup,
        kind: u64,
        data: Mp,
    ) -> Result<(), DriverError> {
        let binary = has_binary(&data);
        let envelope = map(vec![
            ("type", Mp::from(kind)),
            ("data", data),
            ("uid", Mp::from(self.uid.as_str())),
            ("nsp", Mp::from(setup.nsp.as_str())),
        ]);
        let bytes = if binary {
            encode_msgpack(&envelope)
        } else {
            let json = mp_to_json(&envelope, Binary::BufferJson, &mut Vec::new());
            Bytes::from(serde_json::to_vec(&json).unwrap_or_default())
        };
        self.driver.spublish(channel, bytes)
    }

    /// The number of nodes on this namespace's channel (at least 1), once subscribed.
    pub(crate) async fn count(&self, setup: &SSetup) -> Result<usize, RedisAdapterError> {
        let mut active = setup.active.clone();
        let wait = active.wait_for(|a| *a);
        match tokio::time::timeout(self.options.requests_timeout, wait).await {
            Ok(Ok(_)) => {}
            _ => return Err(RedisAdapterError::NotSubscribed),
        }
        Ok(self.driver.shard_num_sub(setup.channel.clone()).await?.max(1))
    }

    /// Whether `room` has its own channel in this mode.
    fn own_channel(&self, room: &Room) -> bool {
        match self.options.subscription_mode {
            SubscriptionMode::Static => false,
            SubscriptionMode::DynamicPrivate => true,
            SubscriptionMode::Dynamic => {
                self.local.socket_rooms(&SocketId::from(room.as_str())).is_none()
            }
        }
    }

    /// Subscribes the channels of rooms that now have local sockets.
    pub(crate) fn rooms_created(self: &Arc<Self>, rooms: &[Room]) {
        let Some(setup) = self.setup() else { return };
        for room in rooms.iter().filter(|r| self.own_channel(r)) {
            let mut subscribed = self.rooms();
            if subscribed.contains_key(room) {
                continue;
            }
            let sub = Subscription {
                sharded: vec![format!("{}{room}#", setup.channel)],
                ..Default::default()
            };
            let handle = self.driver.subscribe(sub, setup.sink.clone());
            subscribed.insert(room.clone(), handle.id);
        }
    }

    /// Unsubscribes the channels of rooms left without local sockets.
    pub(crate) fn rooms_maybe_deleted(&self, rooms: &[Room]) {
        for room in rooms {
            if !self.local.local_sockets(&BroadcastOptions::new().to(room.clone())).is_empty() {
                continue;
            }
            if let Some(id) = self.rooms().remove(room) {
                self.driver.unsubscribe(id);
            }
        }
    }

    /// Where a broadcast goes: its room's channel for one room with its own channel,
    /// without acks.
    pub(crate) fn broadcast_channel(
        &self,
        setup: &SSetup,
        opts: &BroadcastOptions,
        with_ack: bool,
    ) -> String {
        match (with_ack, opts.rooms.len(), opts.rooms.iter().next()) {
            (false, 1, Some(room)) => {
                let dynamic = match self.options.subscription_mode {
                    SubscriptionMode::Static => false,
                    SubscriptionMode::Dynamic => room.as_str().len() != 20,
                    SubscriptionMode::DynamicPrivate => true,
                };
                if dynamic { format!("{}{room}#", setup.channel) } else { setup.channel.clone() }
            }
            _ => setup.channel.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_sharded_adapter_passes_the_testkit_on_the_fake_driver() {
        let factory = super::ShardedAdapterFactory::new(
            crate::FakeRedis::new().driver(),
            super::ShardedAdapterOptions::default(),
        );
        switchboard_adapter::testkit::run(&factory).await;
        assert_eq!(factory.status().ignored, 0);
    }
}
