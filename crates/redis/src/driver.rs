//! The driver seam: the few Redis operations the adapters need, so that they run against a
//! real Redis ([`crate::RedisDriver`]) or an in-process fake ([`crate::FakeRedis`]).

use std::sync::Arc;

use bytes::Bytes;
use switchboard_adapter::BoxFuture;
use tokio::sync::{mpsc, watch};

/// Why a driver operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// There is no connection to Redis right now (it is being re-established).
    #[error("not connected to redis")]
    Disconnected,
    /// The queue of publishes waiting for the connection is full; this one was dropped.
    #[error("publish queue full ({cap} messages): message dropped")]
    QueueFull {
        /// The configured cap.
        cap: usize,
    },
    /// Redis answered with an error or the connection broke during the command.
    #[error("redis command failed")]
    Redis(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The driver needs a tokio runtime to run its connection task.
    #[error("no tokio runtime to run the redis connection")]
    NoRuntime,
    /// This driver does not implement the command (e.g. streams on a cluster driver).
    #[error("{0} is not supported by this driver")]
    Unsupported(&'static str),
    /// Redis answered with a reply of an unexpected shape.
    #[error("unexpected reply to {0}")]
    BadReply(&'static str),
}

/// One entry of a Redis stream: its id (`<ms>-<seq>`) and its field-value pairs, in order.
///
/// ```
/// use std::time::Duration;
/// use switchboard_redis::{Driver, FakeRedis};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let redis = FakeRedis::new();
/// let driver = redis.driver();
/// let fields = vec![("uid".to_owned(), "a1".into()), ("type".to_owned(), "2".into())];
/// let ids = driver.xadd("s".into(), 1000, vec![fields]).await.unwrap();
/// assert_eq!(redis.stream_len("s"), 1);
/// let read = driver.xread("s".into(), "0-0".into(), 10, Duration::from_millis(10)).await.unwrap();
/// assert_eq!(read[0].id, ids[0]);
/// assert_eq!(read[0].field("type").map(|v| v.as_ref()), Some(b"2".as_slice()));
/// // Nothing after the last entry: the read blocks for its time, then returns nothing.
/// let more = driver.xread("s".into(), ids[0].clone(), 10, Duration::from_millis(10)).await;
/// assert!(more.unwrap().is_empty());
/// // A reader cut off (an outage seen by readers only).
/// redis.fail_reads(true);
/// assert!(driver.xread("s".into(), "0-0".into(), 10, Duration::ZERO).await.is_err());
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    /// The entry id.
    pub id: String,
    /// The fields and their values.
    pub fields: Vec<(String, Bytes)>,
}

impl StreamEntry {
    /// The value of `field`, if present.
    pub fn field(&self, field: &str) -> Option<&Bytes> {
        self.fields.iter().find(|(k, _)| k == field).map(|(_, v)| v)
    }
}

/// A message received on a subscribed channel or pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// The channel it was published on.
    pub channel: String,
    /// Its body.
    pub payload: Bytes,
}

/// What a subscriber listens to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscription {
    /// Exact channels (`SUBSCRIBE`).
    pub channels: Vec<String>,
    /// Glob patterns (`PSUBSCRIBE`).
    pub patterns: Vec<String>,
    /// Sharded channels (`SSUBSCRIBE`, Redis 7).
    pub sharded: Vec<String>,
}

/// A registered subscription: dropping it does not unsubscribe, [`Driver::unsubscribe`] does.
#[derive(Debug)]
pub struct SubscriptionHandle {
    /// The id to unsubscribe with.
    pub id: u64,
    /// True while the subscription is active on Redis, false while (re)connecting.
    pub active: watch::Receiver<bool>,
}

/// Whether the link to Redis is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkState {
    /// Connected and subscribed.
    Connected,
    /// Connecting or reconnecting (with backoff); publishes are queued.
    Reconnecting,
}

/// A snapshot of a driver's link: its state and its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkStatus {
    /// Up or not.
    pub state: LinkState,
    /// Publishes waiting to be sent.
    pub queued: usize,
    /// Publishes dropped because the queue was full, since the start.
    pub overflowed: u64,
    /// Times the link was (re)established, since the start.
    pub connections: u64,
}

/// The Redis operations of the adapters.
///
/// Publishes are queued synchronously, in call order, and sent in that order; a driver keeps
/// them while the connection is down (up to its cap) and sends them once its subscriptions
/// are back.
pub trait Driver: Send + Sync + 'static {
    /// Queues `payload` for `PUBLISH channel`.
    fn publish(&self, channel: String, payload: Bytes) -> Result<(), DriverError>;
    /// Queues `payload` for `SPUBLISH channel` (sharded pub/sub), in the same queue.
    fn spublish(&self, channel: String, payload: Bytes) -> Result<(), DriverError>;
    /// `PUBSUB NUMSUB channel`: how many connections subscribe to `channel`.
    fn num_sub(&self, channel: String) -> BoxFuture<'static, Result<usize, DriverError>>;
    /// `PUBSUB SHARDNUMSUB channel`: the same for a sharded channel.
    fn shard_num_sub(&self, channel: String) -> BoxFuture<'static, Result<usize, DriverError>>;
    /// Subscribes; every matching message goes to `sink`, until [`Driver::unsubscribe`].
    fn subscribe(
        &self,
        sub: Subscription,
        sink: mpsc::UnboundedSender<Incoming>,
    ) -> SubscriptionHandle;
    /// Ends the subscription `id`.
    fn unsubscribe(&self, id: u64);
    /// The link's state and queue.
    fn status(&self) -> LinkStatus;
    /// Resolves once every publish queued so far was sent (for short-lived publishers such
    /// as an emitter run from a script). Waits for the connection when Redis is down.
    fn flushed(&self) -> BoxFuture<'static, ()>;

    /// `XADD stream MAXLEN ~ max_len * field value ...` for each of `entries`, in order, in one
    /// pipeline: resolves to the new entries' ids. Not queued: fails with
    /// [`DriverError::Disconnected`] while Redis is unreachable.
    fn xadd(
        &self,
        stream: String,
        max_len: usize,
        entries: Vec<Vec<(String, Bytes)>>,
    ) -> BoxFuture<'static, Result<Vec<String>, DriverError>> {
        let _ = (stream, max_len, entries);
        Box::pin(async { Err(DriverError::Unsupported("XADD")) })
    }

    /// `XREAD COUNT count BLOCK block STREAMS stream after`, on a connection of its own so that
    /// it blocks nothing else: the entries after `after` (at most `count`), or none once `block`
    /// passed without any.
    fn xread(
        &self,
        stream: String,
        after: String,
        count: usize,
        block: std::time::Duration,
    ) -> BoxFuture<'static, Result<Vec<StreamEntry>, DriverError>> {
        let _ = (stream, after, count, block);
        Box::pin(async { Err(DriverError::Unsupported("XREAD")) })
    }

    /// `XRANGE stream start end COUNT count`: entries from `start` to `end`, both included
    /// (`-`/`+` for the ends of the stream).
    fn xrange(
        &self,
        stream: String,
        start: String,
        end: String,
        count: usize,
    ) -> BoxFuture<'static, Result<Vec<StreamEntry>, DriverError>> {
        let _ = (stream, start, end, count);
        Box::pin(async { Err(DriverError::Unsupported("XRANGE")) })
    }

    /// The id of the stream's last entry (`XREVRANGE stream + - COUNT 1`), `None` when the
    /// stream is empty or missing.
    fn xlast(&self, stream: String) -> BoxFuture<'static, Result<Option<String>, DriverError>> {
        let _ = stream;
        Box::pin(async { Err(DriverError::Unsupported("XREVRANGE")) })
    }

    /// `SET key value PX ttl`.
    fn set_px(
        &self,
        key: String,
        value: Bytes,
        ttl: std::time::Duration,
    ) -> BoxFuture<'static, Result<(), DriverError>> {
        let _ = (key, value, ttl);
        Box::pin(async { Err(DriverError::Unsupported("SET")) })
    }

    /// `GET key`: its value, `None` if missing or expired.
    fn get(&self, key: String) -> BoxFuture<'static, Result<Option<Bytes>, DriverError>> {
        let _ = key;
        Box::pin(async { Err(DriverError::Unsupported("GET")) })
    }

    /// Reads and deletes `key` atomically (`MULTI; GET; DEL; EXEC`, which Redis before 6.2
    /// also has): its value, `None` if missing or expired.
    fn get_del(&self, key: String) -> BoxFuture<'static, Result<Option<Bytes>, DriverError>> {
        let _ = key;
        Box::pin(async { Err(DriverError::Unsupported("GETDEL")) })
    }
}

/// A shared driver.
pub type SharedDriver = Arc<dyn Driver>;

/// Whether `channel` matches the Redis glob `pattern` (`*`, `?`, `[...]`, `\` escapes).
pub(crate) fn glob_match(pattern: &[u8], channel: &[u8]) -> bool {
    match pattern.split_first() {
        None => channel.is_empty(),
        Some((b'*', rest)) => {
            (0..=channel.len()).any(|i| glob_match(rest, channel.get(i..).unwrap_or_default()))
        }
        Some((b'?', rest)) => channel.split_first().is_some_and(|(_, c)| glob_match(rest, c)),
        Some((b'[', rest)) => {
            let Some(end) = rest.iter().position(|b| *b == b']') else { return false };
            let (set, after) = rest.split_at(end);
            channel.split_first().is_some_and(|(c, tail)| {
                set.contains(c) && glob_match(after.get(1..).unwrap_or_default(), tail)
            })
        }
        Some((b'\\', rest)) => match rest.split_first() {
            Some((p, prest)) => {
                channel.split_first().is_some_and(|(c, tail)| c == p && glob_match(prest, tail))
            }
            None => false,
        },
        Some((p, rest)) => {
            channel.split_first().is_some_and(|(c, tail)| c == p && glob_match(rest, tail))
        }
    }
}

/// `text` with Redis glob characters escaped, so that it matches only itself in a pattern.
pub(crate) fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_redis_does() {
        assert!(glob_match(b"socket.io#/#*", b"socket.io#/#room1#"));
        assert!(glob_match(b"socket.io#/#*", b"socket.io#/#"));
        assert!(!glob_match(b"socket.io#/#*", b"socket.io#/chat#"));
        assert!(glob_match(b"a?c", b"abc") && !glob_match(b"a?c", b"ac"));
        assert!(glob_match(b"a[bx]c", b"axc") && !glob_match(b"a[bx]c", b"ayc"));
        let escaped = format!("{}*", glob_escape("/a*b#"));
        assert!(glob_match(escaped.as_bytes(), b"/a*b#room"));
        assert!(!glob_match(escaped.as_bytes(), b"/aXXb#room"));
    }
}
