//! The pub/sub adapter: a [`MemoryAdapter`] for this node's sockets, plus the classic
//! `@socket.io/redis-adapter` protocol to reach the other nodes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rmpv::Value as Mp;
use serde_json::Value;
use switchboard_adapter::{Adapter, AdapterError, AdapterFactory, LocalNamespace, MemoryAdapter};
use tokio::sync::{mpsc, watch};

use crate::driver::{DriverError, LinkStatus, SharedDriver, Subscription};
use crate::protocol::{Channels, uid};
use crate::value::encode_msgpack;

/// Settings of the pub/sub adapter (Node's `createAdapter` options).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisAdapterOptions {
    /// The channel prefix (`key`, default `socket.io`); every node of a cluster must use the
    /// same.
    pub key: String,
    /// How long cluster requests (`fetch_sockets`, `rooms`, server-side emits with ack, and
    /// broadcasts with ack without a timeout) wait for the other nodes (default 5 s).
    pub requests_timeout: Duration,
    /// Answer requests on the requester's own response channel instead of the shared one
    /// (`publishOnSpecificResponseChannel`, default false). Every node listens on both.
    pub publish_on_specific_response_channel: bool,
}

impl Default for RedisAdapterOptions {
    fn default() -> Self {
        RedisAdapterOptions {
            key: "socket.io".to_owned(),
            requests_timeout: Duration::from_secs(5),
            publish_on_specific_response_channel: false,
        }
    }
}

/// Why a cluster operation of the Redis adapter failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisAdapterError {
    /// Not every node answered in time.
    #[error("timeout reached while waiting for {request} responses ({missing} missing)")]
    Timeout {
        /// The request (`fetch_sockets`, `rooms`).
        request: &'static str,
        /// How many nodes did not answer.
        missing: usize,
    },
    /// The adapter is not subscribed (Redis is unreachable).
    #[error("not subscribed to redis")]
    NotSubscribed,
    /// The driver failed.
    #[error(transparent)]
    Driver(#[from] DriverError),
}

impl From<RedisAdapterError> for AdapterError {
    fn from(e: RedisAdapterError) -> Self {
        AdapterError::Backend(Box::new(e))
    }
}

/// What went wrong with input from Redis, counted and logged at most every 10 s.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    ignored: AtomicU64,
    // When the last line was logged; held for a compare and a store.
    last_log: Mutex<Option<Instant>>,
}

impl Stats {
    /// Counts an ignored message and logs it unless a line was logged in the last 10 s.
    pub(crate) fn ignore(&self, why: &str, channel: &str) {
        let n = self.ignored.fetch_add(1, Ordering::Relaxed) + 1;
        let mut last = self.last_log.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if last.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(10)) {
            *last = Some(now);
            drop(last);
            tracing::warn!(ignored_total = n, why, channel, "ignored a message from redis");
        }
    }

    pub(crate) fn ignored(&self) -> u64 {
        self.ignored.load(Ordering::Relaxed)
    }
}

/// The state of a Redis adapter factory: its driver's link, and the messages it ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdapterStatus {
    /// The driver's link and queue.
    pub link: LinkStatus,
    /// Messages from Redis ignored as malformed or unknown, since the start.
    pub ignored: u64,
}

/// Creates a [`RedisAdapter`] per namespace, all on one driver (one pair of connections).
///
/// ```
/// use switchboard_redis::{FakeRedis, RedisAdapterFactory, RedisAdapterOptions};
///
/// let factory = RedisAdapterFactory::new(FakeRedis::new().driver(), RedisAdapterOptions::default());
/// assert_eq!(factory.status().ignored, 0);
/// let factory: std::sync::Arc<dyn switchboard_adapter::AdapterFactory> = factory.into_factory();
/// # let _ = factory;
/// ```
#[derive(Clone)]
pub struct RedisAdapterFactory {
    driver: SharedDriver,
    options: Arc<RedisAdapterOptions>,
    stats: Arc<Stats>,
}

impl std::fmt::Debug for RedisAdapterFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAdapterFactory").field("options", &self.options).finish()
    }
}

impl RedisAdapterFactory {
    /// A factory on `driver`.
    pub fn new(driver: SharedDriver, options: RedisAdapterOptions) -> Self {
        RedisAdapterFactory { driver, options: Arc::new(options), stats: Arc::default() }
    }

    /// The link's state and the count of ignored messages.
    pub fn status(&self) -> AdapterStatus {
        AdapterStatus { link: self.driver.status(), ignored: self.stats.ignored() }
    }

    /// As a shared [`AdapterFactory`], for `SocketIo::builder().adapter(..)`.
    pub fn into_factory(self) -> Arc<dyn AdapterFactory> {
        Arc::new(self)
    }
}

impl AdapterFactory for RedisAdapterFactory {
    fn create(&self, namespace: Weak<dyn LocalNamespace>) -> Arc<dyn Adapter> {
        Arc::new(RedisAdapter::new(
            namespace,
            self.driver.clone(),
            self.options.clone(),
            self.stats.clone(),
        ))
    }
}

/// What an adapter knows once its namespace exists: its name, channels and subscription.
pub(crate) struct Setup {
    pub(crate) nsp: String,
    pub(crate) channels: Channels,
    sub_id: u64,
    active: watch::Receiver<bool>,
}

pub(crate) struct Inner {
    pub(crate) local: MemoryAdapter,
    pub(crate) ns: Weak<dyn LocalNamespace>,
    pub(crate) uid: String,
    pub(crate) options: Arc<RedisAdapterOptions>,
    pub(crate) driver: SharedDriver,
    pub(crate) stats: Arc<Stats>,
    setup: OnceLock<Setup>,
    // Requests of this node waiting for answers, by request id; held for an insert, a
    // remove or a send into an unbounded channel.
    pending: Mutex<HashMap<String, mpsc::UnboundedSender<Mp>>>,
}

/// The Redis pub/sub adapter of one namespace, compatible with `@socket.io/redis-adapter`
/// 8.x. Build it through a [`RedisAdapterFactory`].
pub struct RedisAdapter {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAdapter").field("uid", &self.inner.uid).finish()
    }
}

impl RedisAdapter {
    fn new(
        ns: Weak<dyn LocalNamespace>,
        driver: SharedDriver,
        options: Arc<RedisAdapterOptions>,
        stats: Arc<Stats>,
    ) -> Self {
        let inner = Arc::new(Inner {
            local: MemoryAdapter::new(ns.clone()),
            ns,
            uid: uid(),
            options,
            driver,
            stats,
            setup: OnceLock::new(),
            pending: Mutex::new(HashMap::new()),
        });
        // The factory runs while the namespace is being built, when its name cannot be read
        // yet: subscribe as soon as it can. Every operation also sets up on demand.
        spawn_setup(Arc::downgrade(&inner), |inner| inner.setup().is_some());
        RedisAdapter { inner }
    }

    /// This node's id on the wire (6 characters, one per namespace).
    pub fn uid(&self) -> &str {
        &self.inner.uid
    }
}

/// Runs `setup` until it succeeds or the adapter is gone: at once and after a few yields
/// (the namespace is usually built by then), then with a growing pause (up to 50 ms), for a
/// namespace built on a busy thread. Nothing announces that the namespace is built.
pub(crate) fn spawn_setup<T: Send + Sync + 'static>(weak: Weak<T>, setup: fn(&Arc<T>) -> bool) {
    if tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    // Ends when set up, or when the adapter is dropped.
    tokio::spawn(async move {
        let mut pause = Duration::from_millis(1);
        for attempt in 0u32.. {
            let Some(inner) = weak.upgrade() else { return };
            if setup(&inner) {
                return;
            }
            drop(inner);
            if attempt < 100 {
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(50));
            }
        }
    });
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(setup) = self.setup.get() {
            self.driver.unsubscribe(setup.sub_id);
        }
    }
}

impl Inner {
    /// The namespace's name, channels and subscription, set up on first use (`None` while
    /// the namespace is being built or once it is gone).
    pub(crate) fn setup(self: &Arc<Self>) -> Option<&Setup> {
        if let Some(setup) = self.setup.get() {
            return Some(setup);
        }
        let nsp = self.ns.upgrade()?.name().to_owned();
        // The receiving loop below needs a runtime; without one, set up later.
        tokio::runtime::Handle::try_current().ok()?;
        Some(self.setup.get_or_init(|| {
            let channels = Channels::new(&self.options.key, &nsp, &self.uid);
            let sub = Subscription {
                channels: vec![
                    channels.request.clone(),
                    channels.response.clone(),
                    channels.specific.clone(),
                ],
                patterns: vec![channels.pattern.clone()],
                sharded: Vec::new(),
            };
            // Unbounded: the driver must never block on a slow namespace; the loop below
            // drains it as fast as the local deliveries allow.
            let (tx, mut rx) = mpsc::unbounded_channel();
            let handle = self.driver.subscribe(sub, tx);
            let weak = Arc::downgrade(self);
            // The namespace's receiving loop; it ends when the adapter is dropped (the
            // driver then drops the sender).
            tokio::spawn(async move {
                while let Some(message) = rx.recv().await {
                    let Some(inner) = weak.upgrade() else { return };
                    inner.on_message(&message);
                }
            });
            Setup { nsp, channels, sub_id: handle.id, active: handle.active }
        }))
    }

    pub(crate) fn ready(self: &Arc<Self>) -> Result<&Setup, AdapterError> {
        self.setup().ok_or(AdapterError::NamespaceClosed)
    }

    /// Waits (up to the requests timeout) until the subscription is active on Redis.
    pub(crate) async fn subscribed(&self, setup: &Setup) -> Result<(), RedisAdapterError> {
        let mut active = setup.active.clone();
        let wait = active.wait_for(|a| *a);
        match tokio::time::timeout(self.options.requests_timeout, wait).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(RedisAdapterError::NotSubscribed),
        }
    }

    pub(crate) fn pending(&self) -> MutexGuard<'_, HashMap<String, mpsc::UnboundedSender<Mp>>> {
        // Inserts and removes leave the map consistent, so a poisoned lock is still usable.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn publish_json(&self, channel: String, body: &Value) -> Result<(), DriverError> {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        self.driver.publish(channel, Bytes::from(bytes))
    }

    pub(crate) fn publish_mp(&self, channel: String, body: &Mp) -> Result<(), DriverError> {
        self.driver.publish(channel, encode_msgpack(body))
    }

    /// The number of nodes subscribed to this namespace's request channel (at least 1).
    pub(crate) async fn count(&self, setup: &Setup) -> Result<usize, RedisAdapterError> {
        self.subscribed(setup).await?;
        Ok(self.driver.num_sub(setup.channels.request.clone()).await?.max(1))
    }

    /// Registers request `id`; its answers arrive on the returned receiver until
    /// [`Inner::forget`].
    pub(crate) fn expect(&self, id: &str) -> mpsc::UnboundedReceiver<Mp> {
        // Unbounded: at most one answer per node (or per reached socket for acks), and the
        // entry is removed when the request ends.
        let (tx, rx) = mpsc::unbounded_channel();
        self.pending().insert(id.to_owned(), tx);
        rx
    }

    pub(crate) fn forget(&self, id: &str) {
        self.pending().remove(id);
    }
}
