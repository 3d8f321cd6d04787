//! An in-process stand-in for Redis pub/sub, so that adapters and their tests run without a
//! server: every driver made by one [`FakeRedis`] sees the others' publishes.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use switchboard_adapter::BoxFuture;
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;

use crate::driver::{
    Driver, DriverError, Incoming, LinkState, LinkStatus, StreamEntry, Subscription,
    SubscriptionHandle, glob_match,
};

/// A stream of the fake server.
#[derive(Default)]
struct Stream {
    entries: VecDeque<((u64, u64), StreamEntry)>,
    last: (u64, u64),
}

/// A stream id (`ms-seq`, or `ms` for `ms-<missing>`), `None` when malformed.
fn parse_id(text: &str, missing: u64) -> Option<(u64, u64)> {
    match text.split_once('-') {
        Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
        None => Some((text.parse().ok()?, missing)),
    }
}

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
    streams: HashMap<String, Stream>,
    /// Keys, values and expiry times.
    keys: HashMap<String, (Bytes, Option<Instant>)>,
    /// Stream reads fail while set (an outage seen by readers only).
    unreadable: bool,
    /// `XADD` fails while set; with `lose_replies` it adds the entries and then fails.
    unwritable: bool,
    lose_replies: bool,
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
    // Wakes blocked stream readers when an entry is added; shared by every driver.
    appended: Arc<Notify>,
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

    /// Adds an entry to `stream` as any client would (`XADD stream MAXLEN ~ max_len * ...`),
    /// and returns its id.
    pub fn xadd(&self, stream: &str, max_len: usize, fields: Vec<(String, Bytes)>) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let mut hub = self.lock();
        let s = hub.streams.entry(stream.to_owned()).or_default();
        let key = if now > s.last.0 { (now, 0) } else { (s.last.0, s.last.1 + 1) };
        s.last = key;
        let id = format!("{}-{}", key.0, key.1);
        s.entries.push_back((key, StreamEntry { id: id.clone(), fields }));
        while s.entries.len() > max_len {
            s.entries.pop_front();
        }
        drop(hub);
        self.appended.notify_waiters();
        id
    }

    /// While `on`, every stream read (`XREAD`, `XRANGE`, `XREVRANGE`) fails with
    /// [`DriverError::Disconnected`] and blocked reads end with it: the readers are cut off
    /// while writers go on.
    pub fn fail_reads(&self, on: bool) {
        self.lock().unreadable = on;
        self.appended.notify_waiters();
    }

    /// While `on`, every `XADD` of a driver fails with [`DriverError::Disconnected`]; with
    /// `applied`, the entries are added all the same (a reply lost on the way back).
    /// `fail_writes(true, false)` and [`FakeRedis::fail_reads`] together make an outage.
    ///
    /// ```
    /// use switchboard_redis::{Driver, FakeRedis};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let redis = FakeRedis::new();
    /// let driver = redis.driver();
    /// let entry = || vec![vec![("uid".to_owned(), "a1".into())]];
    /// redis.fail_writes(true, false);
    /// assert!(driver.xadd("s".into(), 100, entry()).await.is_err());
    /// assert_eq!(redis.stream_len("s"), 0);
    /// redis.fail_writes(true, true);
    /// assert!(driver.xadd("s".into(), 100, entry()).await.is_err());
    /// assert_eq!(redis.stream_len("s"), 1, "added, though the reply says otherwise");
    /// redis.fail_writes(false, false);
    /// assert!(driver.xadd("s".into(), 100, entry()).await.is_ok());
    /// # }
    /// ```
    pub fn fail_writes(&self, on: bool, applied: bool) {
        let mut hub = self.lock();
        (hub.unwritable, hub.lose_replies) = (on, on && applied);
    }

    /// How many entries `stream` holds.
    pub fn stream_len(&self, stream: &str) -> usize {
        self.lock().streams.get(stream).map_or(0, |s| s.entries.len())
    }

    /// The entries of `stream` from `start` to `end` included, at most `count`.
    fn range(
        &self,
        stream: &str,
        start: &str,
        end: &str,
        count: usize,
    ) -> Option<Vec<StreamEntry>> {
        let start = if start == "-" { (0, 0) } else { parse_id(start, 0)? };
        let end = if end == "+" { (u64::MAX, u64::MAX) } else { parse_id(end, u64::MAX)? };
        let hub = self.lock();
        let Some(s) = hub.streams.get(stream) else { return Some(Vec::new()) };
        Some(
            s.entries
                .iter()
                .filter(|(k, _)| *k >= start && *k <= end)
                .take(count)
                .map(|(_, e)| e.clone())
                .collect(),
        )
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

    fn xadd(
        &self,
        stream: String,
        max_len: usize,
        entries: Vec<Vec<(String, Bytes)>>,
    ) -> BoxFuture<'static, Result<Vec<String>, DriverError>> {
        let (unwritable, lose_replies) = {
            let hub = self.hub.lock();
            (hub.unwritable, hub.lose_replies)
        };
        if unwritable && !lose_replies {
            return Box::pin(async { Err(DriverError::Disconnected) });
        }
        let ids: Vec<String> =
            entries.into_iter().map(|f| self.hub.xadd(&stream, max_len, f)).collect();
        Box::pin(async move { if unwritable { Err(DriverError::Disconnected) } else { Ok(ids) } })
    }

    fn xread(
        &self,
        stream: String,
        after: String,
        count: usize,
        block: Duration,
    ) -> BoxFuture<'static, Result<Vec<StreamEntry>, DriverError>> {
        let hub = self.hub.clone();
        Box::pin(async move {
            let after = if after == "$" {
                hub.lock().streams.get(&stream).map_or((0, 0), |s| s.last)
            } else {
                parse_id(&after, 0).ok_or(DriverError::BadReply("XREAD"))?
            };
            let next = if after.1 == u64::MAX { (after.0 + 1, 0) } else { (after.0, after.1 + 1) };
            let start = format!("{}-{}", next.0, next.1);
            let deadline = Instant::now() + block;
            loop {
                let appended = hub.appended.notified();
                tokio::pin!(appended);
                appended.as_mut().enable();
                if hub.lock().unreadable {
                    return Err(DriverError::Disconnected);
                }
                let found = hub.range(&stream, &start, "+", count).unwrap_or_default();
                if !found.is_empty() {
                    return Ok(found);
                }
                if tokio::time::timeout_at(deadline, appended).await.is_err() {
                    return Ok(Vec::new());
                }
            }
        })
    }

    fn xrange(
        &self,
        stream: String,
        start: String,
        end: String,
        count: usize,
    ) -> BoxFuture<'static, Result<Vec<StreamEntry>, DriverError>> {
        if self.hub.lock().unreadable {
            return Box::pin(async { Err(DriverError::Disconnected) });
        }
        let found = self.hub.range(&stream, &start, &end, count);
        Box::pin(async move { found.ok_or(DriverError::BadReply("XRANGE")) })
    }

    fn xlast(&self, stream: String) -> BoxFuture<'static, Result<Option<String>, DriverError>> {
        let hub = self.hub.lock();
        if hub.unreadable {
            return Box::pin(async { Err(DriverError::Disconnected) });
        }
        let last =
            hub.streams.get(&stream).and_then(|s| s.entries.back()).map(|(_, e)| e.id.clone());
        Box::pin(async move { Ok(last) })
    }

    fn set_px(
        &self,
        key: String,
        value: Bytes,
        ttl: Duration,
    ) -> BoxFuture<'static, Result<(), DriverError>> {
        self.hub.lock().keys.insert(key, (value, Some(Instant::now() + ttl)));
        Box::pin(async { Ok(()) })
    }

    fn get(&self, key: String) -> BoxFuture<'static, Result<Option<Bytes>, DriverError>> {
        let value =
            self.hub.lock().keys.get(&key).and_then(|(v, expiry)| {
                expiry.is_none_or(|t| Instant::now() < t).then(|| v.clone())
            });
        Box::pin(async move { Ok(value) })
    }

    fn get_del(&self, key: String) -> BoxFuture<'static, Result<Option<Bytes>, DriverError>> {
        let taken = self.hub.lock().keys.remove(&key);
        let value =
            taken.and_then(|(v, expiry)| expiry.is_none_or(|t| Instant::now() < t).then_some(v));
        Box::pin(async move { Ok(value) })
    }
}
