//! The real driver: redis-rs connections, with reconnection, resubscription and a bounded
//! queue of publishes that waits out an outage.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use redis::aio::{PubSubSink, PubSubStream};
use switchboard_adapter::BoxFuture;
use tokio::sync::{Notify, mpsc, watch};

use crate::config::RedisConfig;
use crate::conn::Conn;
use crate::driver::{
    Driver, DriverError, Incoming, LinkState, LinkStatus, StreamEntry, Subscription,
    SubscriptionHandle,
};
use crate::shard::{Frame, ShardConn};
use crate::stream_cmd;

struct Sub {
    sub: Subscription,
    sink: mpsc::UnboundedSender<Incoming>,
    active: watch::Sender<bool>,
}

#[derive(Default)]
struct State {
    subs: HashMap<u64, Sub>,
    next_id: u64,
    /// Channel, payload, sharded (`SPUBLISH`) or not.
    queue: VecDeque<(String, Bytes, bool)>,
    overflowed: u64,
    connections: u64,
    conn: Option<Conn>,
    /// The last subscriber count seen for each channel, with when it was taken.
    peers: HashMap<Peer, peers::Counted>,
    /// Sharded channels published to lately, with the poll round of the last publish: their
    /// subscribers are counted too, so that after an outage the queue also waits for the
    /// nodes that only receive on them (room channels of the dynamic modes).
    published: HashMap<String, u64>,
    /// Subscriber polls done, the clock of `published`.
    polls: u64,
}

/// What the driver connects to.
enum Target {
    /// One server.
    Single(redis::Client),
    /// The seed nodes of a Redis Cluster.
    #[cfg(feature = "cluster")]
    Cluster(Vec<redis::ConnectionInfo>),
}

struct Shared {
    target: Target,
    config: RedisConfig,
    // Subscriptions, queue and connection: touched by callers and the link task, held only
    // for map and queue operations, never across an await.
    state: Mutex<State>,
    // Wakes the link task: a publish was queued, a subscription changed, or the driver closed.
    wake: Notify,
    // Wakes `flushed` callers when the queue becomes empty.
    drained: Notify,
    closed: AtomicBool,
    // Idle connections for blocking stream reads (`XREAD BLOCK`), one per concurrent reader:
    // a reader takes one out for its command and puts it back after a good reply. Held for a
    // pop or a push.
    readers: Mutex<Vec<redis::aio::MultiplexedConnection>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every operation leaves the state consistent, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A [`Driver`] on a real Redis (or Valkey) server, through redis-rs.
///
/// It keeps two connections: one for publishes and commands, one for subscriptions. When
/// the link breaks it reconnects with exponential backoff, subscribes again, and only then
/// sends the publishes queued meanwhile, in order. It logs once per change of state.
///
/// ```no_run
/// use switchboard_redis::{Driver, RedisConfig, RedisDriver};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let driver = RedisDriver::open("redis://127.0.0.1:6379", RedisConfig::default())?;
/// println!("{:?}", driver.status());
/// # Ok(())
/// # }
/// ```
pub struct RedisDriver {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RedisDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisDriver").field("status", &self.status()).finish()
    }
}

impl RedisDriver {
    /// A driver for the server at `url` (`redis://host:port/db`). It connects in the
    /// background, on the current tokio runtime ([`DriverError::NoRuntime`] outside one);
    /// until then publishes are queued.
    pub fn open(url: &str, config: RedisConfig) -> Result<Arc<RedisDriver>, DriverError> {
        let client = redis::Client::open(url).map_err(|e| DriverError::Redis(Box::new(e)))?;
        RedisDriver::start(Target::Single(client), config)
    }

    /// A driver for the Redis Cluster reached through `nodes` (`redis://host:port` of one or
    /// more of its nodes; the others are discovered). It speaks RESP3 (Redis 6 or newer): the
    /// subscriptions arrive as push messages, each sharded channel on the node that owns its
    /// slot. Publishes are queued while the cluster is unreachable, as with [`RedisDriver::open`].
    ///
    /// ```no_run
    /// use switchboard_redis::{RedisConfig, RedisDriver};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let nodes = ["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"];
    /// let driver = RedisDriver::open_cluster(&nodes, RedisConfig::default())?;
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "cluster")]
    pub fn open_cluster(
        nodes: &[&str],
        config: RedisConfig,
    ) -> Result<Arc<RedisDriver>, DriverError> {
        use redis::IntoConnectionInfo as _;
        let nodes = nodes
            .iter()
            .map(|url| url.into_connection_info())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DriverError::Redis(Box::new(e)))?;
        RedisDriver::start(Target::Cluster(nodes), config)
    }

    fn start(target: Target, config: RedisConfig) -> Result<Arc<RedisDriver>, DriverError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| DriverError::NoRuntime)?;
        let shared = Arc::new(Shared {
            target,
            config,
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            drained: Notify::new(),
            closed: AtomicBool::new(false),
            readers: Mutex::new(Vec::new()),
        });
        // The link task: owns the connections for the driver's lifetime; it ends when the
        // driver is dropped (`closed`).
        runtime.spawn(link(shared.clone()));
        Ok(Arc::new(RedisDriver { shared }))
    }
}

impl Drop for RedisDriver {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
    }
}

impl RedisDriver {
    fn enqueue(&self, channel: String, payload: Bytes, sharded: bool) -> Result<(), DriverError> {
        let cap = self.shared.config.queue_cap;
        let mut state = self.shared.lock();
        if state.queue.len() >= cap {
            state.overflowed += 1;
            let n = state.overflowed;
            drop(state);
            if n.is_power_of_two() {
                tracing::warn!(dropped = n, cap, "redis publish queue full: messages dropped");
            }
            return Err(DriverError::QueueFull { cap });
        }
        if sharded {
            state.note_published(&channel);
        }
        state.queue.push_back((channel, payload, sharded));
        drop(state);
        self.shared.wake.notify_one();
        Ok(())
    }

    fn count(
        &self,
        channel: String,
        sharded: bool,
    ) -> BoxFuture<'static, Result<usize, DriverError>> {
        let (conn, patterns) = {
            let state = self.shared.lock();
            let patterns = !sharded && state.subs.values().any(|s| !s.sub.patterns.is_empty());
            (state.conn.clone(), patterns)
        };
        let shared = self.shared.clone();
        Box::pin(async move {
            let mut conn = conn.ok_or(DriverError::Disconnected)?;
            let taken = tokio::time::Instant::now();
            // The pattern subscribers too (see `Peer::Patterns`), alongside: a request's
            // count is the freshest picture of the other nodes before an outage.
            let mut other = conn.clone();
            let patterns =
                async move { if patterns { other.pattern_subscribers().await.ok() } else { None } };
            let (counts, patterns) = futures_util::future::join(
                conn.num_sub(std::slice::from_ref(&channel), sharded),
                patterns,
            )
            .await;
            let counts = counts.map_err(|e| DriverError::Redis(Box::new(e)))?;
            let n = counts.first().map_or(0, |(_, n)| *n);
            let mut state = shared.lock();
            let counts = counts.into_iter().map(|(c, n)| (Peer::of(sharded, c), n));
            state.note_counts(counts.chain(patterns.map(|n| (Peer::Patterns, n))), taken);
            Ok(n)
        })
    }
}

impl Driver for RedisDriver {
    fn publish(&self, channel: String, payload: Bytes) -> Result<(), DriverError> {
        self.enqueue(channel, payload, false)
    }

    fn spublish(&self, channel: String, payload: Bytes) -> Result<(), DriverError> {
        self.enqueue(channel, payload, true)
    }

    fn shard_num_sub(&self, channel: String) -> BoxFuture<'static, Result<usize, DriverError>> {
        self.count(channel, true)
    }

    fn num_sub(&self, channel: String) -> BoxFuture<'static, Result<usize, DriverError>> {
        self.count(channel, false)
    }

    fn subscribe(
        &self,
        sub: Subscription,
        sink: mpsc::UnboundedSender<Incoming>,
    ) -> SubscriptionHandle {
        // A watch: the subscriber only needs the latest state (active or not).
        let (active, rx) = watch::channel(false);
        let mut state = self.shared.lock();
        state.next_id += 1;
        let id = state.next_id;
        state.subs.insert(id, Sub { sub, sink, active });
        drop(state);
        self.shared.wake.notify_one();
        SubscriptionHandle { id, active: rx }
    }

    fn unsubscribe(&self, id: u64) {
        self.shared.lock().subs.remove(&id);
        self.shared.wake.notify_one();
    }

    fn flushed(&self) -> BoxFuture<'static, ()> {
        let shared = self.shared.clone();
        Box::pin(async move {
            loop {
                let drained = shared.drained.notified();
                tokio::pin!(drained);
                drained.as_mut().enable();
                if shared.lock().queue.is_empty() {
                    return;
                }
                drained.await;
            }
        })
    }

    fn xadd(
        &self,
        stream: String,
        max_len: usize,
        entries: Vec<Vec<(String, Bytes)>>,
    ) -> BoxFuture<'static, Result<Vec<String>, DriverError>> {
        let conn = self.shared.lock().conn.clone();
        Box::pin(async move { stream_cmd::xadd(conn, &stream, max_len, &entries).await })
    }

    fn xread(
        &self,
        stream: String,
        after: String,
        count: usize,
        block: Duration,
    ) -> BoxFuture<'static, Result<Vec<StreamEntry>, DriverError>> {
        let shared = self.shared.clone();
        Box::pin(async move {
            let pool = &shared.readers;
            match &shared.target {
                Target::Single(client) => {
                    stream_cmd::xread(client, pool, &stream, &after, count, block).await
                }
                #[cfg(feature = "cluster")]
                Target::Cluster(_) => {
                    Err(DriverError::Unsupported("stream commands on a Redis Cluster"))
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
        let conn = self.shared.lock().conn.clone();
        Box::pin(async move { stream_cmd::xrange(conn, &stream, &start, &end, count).await })
    }

    fn xlast(&self, stream: String) -> BoxFuture<'static, Result<Option<String>, DriverError>> {
        let conn = self.shared.lock().conn.clone();
        Box::pin(async move { stream_cmd::xlast(conn, &stream).await })
    }

    fn set_px(
        &self,
        key: String,
        value: Bytes,
        ttl: Duration,
    ) -> BoxFuture<'static, Result<(), DriverError>> {
        let conn = self.shared.lock().conn.clone();
        Box::pin(async move { stream_cmd::set_px(conn, &key, &value, ttl).await })
    }

    fn get(&self, key: String) -> BoxFuture<'static, Result<Option<Bytes>, DriverError>> {
        let conn = self.shared.lock().conn.clone();
        Box::pin(async move { stream_cmd::get(conn, &key).await })
    }

    fn get_del(&self, key: String) -> BoxFuture<'static, Result<Option<Bytes>, DriverError>> {
        let conn = self.shared.lock().conn.clone();
        Box::pin(async move { stream_cmd::get_del(conn, &key).await })
    }

    fn status(&self) -> LinkStatus {
        let state = self.shared.lock();
        LinkStatus {
            state: if state.conn.is_some() {
                LinkState::Connected
            } else {
                LinkState::Reconnecting
            },
            queued: state.queue.len(),
            overflowed: state.overflowed,
            connections: state.connections,
        }
    }
}

/// Connects, serves, and reconnects with backoff until the driver is dropped.
async fn link(shared: Arc<Shared>) {
    let mut backoff = shared.config.min_backoff;
    let mut was_up = None::<bool>;
    while !shared.closed.load(Ordering::SeqCst) {
        let mut session = Session::default();
        let result = session.run(&shared, &mut was_up).await;
        let up_before = session.established;
        {
            let mut state = shared.lock();
            state.conn = None;
            for s in state.subs.values() {
                s.active.send_replace(false);
            }
        }
        match result {
            Ok(()) => return,
            Err(e) => {
                if was_up != Some(false) {
                    tracing::warn!(error = %e, "redis link down; reconnecting with backoff");
                    was_up = Some(false);
                } else {
                    tracing::debug!(error = %e, "redis reconnection failed");
                }
            }
        }
        if up_before {
            backoff = shared.config.min_backoff;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(shared.config.max_backoff);
    }
}

/// One connection's worth of link.
#[derive(Default)]
struct Session {
    channels: HashSet<String>,
    patterns: HashSet<String>,
    sharded: HashSet<String>,
    /// The subscriptions the last sync covered.
    synced: HashSet<u64>,
    shard: Option<ShardConn>,
    established: bool,
}

#[path = "peers.rs"]
mod peers;
#[path = "subs.rs"]
mod subs;
use subs::{closed, mark_active, route, route_sharded, wanted};
#[cfg(feature = "cluster")]
#[path = "real_cluster.rs"]
mod real_cluster;
use peers::Peer;

impl Session {
    async fn run(
        &mut self,
        shared: &Shared,
        was_up: &mut Option<bool>,
    ) -> Result<(), redis::RedisError> {
        match &shared.target {
            Target::Single(client) => self.run_single(shared, was_up, client).await,
            #[cfg(feature = "cluster")]
            Target::Cluster(nodes) => self.run_cluster(shared, was_up, nodes).await,
        }
    }

    async fn run_single(
        &mut self,
        shared: &Shared,
        was_up: &mut Option<bool>,
        client: &redis::Client,
    ) -> Result<(), redis::RedisError> {
        // redis-rs 1.x times commands out after 500 ms by default: under load that took a
        // live Redis for a dead one, and the reconnection dropped this node's subscriptions
        // while the other nodes kept publishing.
        let config = redis::AsyncConnectionConfig::new()
            .set_response_timeout(shared.config.response_timeout);
        let mut conn =
            Conn::Single(client.get_multiplexed_async_connection_with_config(&config).await?);
        let (mut sink, mut stream) = client.get_async_pubsub().await?.split();
        let info = client.get_connection_info();
        let result = self.serve(shared, was_up, &mut conn, (info, &mut sink), &mut stream).await;
        // What the subscriber connections received before the session ended is still
        // delivered, whichever step failed: one connection may end while the other still
        // holds messages, or both may still be open (the error came from a command).
        if result.is_err() {
            let pubsub = async {
                while let Some(msg) = stream.next().await {
                    route(shared, &msg);
                }
            };
            let sharded = async {
                if let Some(shard) = self.shard.as_mut() {
                    while let Some(frame) = shard.frames.recv().await {
                        route_sharded(shared, &frame);
                    }
                }
            };
            // Bounded: a connection that is still open is not waited for long.
            let drain = futures_util::future::join(pubsub, sharded);
            let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
        }
        result
    }

    /// Subscribes, waits for the other nodes, then publishes and routes until a connection
    /// fails or the driver closes.
    async fn serve(
        &mut self,
        shared: &Shared,
        was_up: &mut Option<bool>,
        conn: &mut Conn,
        (info, sink): (&redis::ConnectionInfo, &mut PubSubSink),
        stream: &mut PubSubStream,
    ) -> Result<(), redis::RedisError> {
        self.sync(shared, info, sink).await?;
        {
            let mut state = shared.lock();
            state.conn = Some(conn.clone());
            state.connections += 1;
        }
        // Marks the subscriptions active, now that commands can be sent.
        self.sync(shared, info, sink).await?;
        self.established = true;
        if *was_up != Some(true) {
            tracing::info!("redis link up");
            *was_up = Some(true);
        }
        // Everything published from now on waits in the queue too, so that a node that
        // reconnects later than this one gets the live publishes as well as the queued ones.
        self.wait_for_peers(shared, conn).await?;
        let mut poll = tokio::time::interval(shared.config.peers_interval);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.flush(shared, conn).await?;
            self.sync(shared, info, sink).await?;
            if shared.closed.load(Ordering::SeqCst) {
                return Ok(());
            }
            tokio::select! {
                msg = stream.next() => match msg {
                    Some(msg) => route(shared, &msg),
                    None => return Err(closed("subscription connection closed")),
                },
                () = shared.wake.notified() => {}
                frame = crate::shard::next_frame(&mut self.shard) => match frame {
                    Some(frame) => route_sharded(shared, &frame),
                    None => return Err(closed("sharded subscription connection closed")),
                },
                _ = poll.tick() => {
                    let taken = tokio::time::Instant::now();
                    let counts = self.counts(shared, conn).await?;
                    shared.lock().note_picture(counts, taken);
                }
            }
        }
    }

    /// Subscribes what is wanted and not yet subscribed, unsubscribes the rest, and marks
    /// every subscription active.
    async fn sync(
        &mut self,
        shared: &Shared,
        info: &redis::ConnectionInfo,
        sink: &mut PubSubSink,
    ) -> redis::RedisResult<()> {
        let (channels, patterns, sharded, ids) = wanted(shared);
        self.sync_sharded(shared, info, sharded).await?;
        // Patterns first: a node counted by NUMSUB (which counts channels only) then
        // already gets broadcasts.
        let add: Vec<&String> = patterns.difference(&self.patterns).collect();
        if !add.is_empty() {
            sink.psubscribe(add).await?;
        }
        let add: Vec<&String> = channels.difference(&self.channels).collect();
        if !add.is_empty() {
            sink.subscribe(add).await?;
        }
        let gone: Vec<&String> = self.channels.difference(&channels).collect();
        if !gone.is_empty() {
            sink.unsubscribe(gone).await?;
        }
        let gone: Vec<&String> = self.patterns.difference(&patterns).collect();
        if !gone.is_empty() {
            sink.punsubscribe(gone).await?;
        }
        self.channels = channels;
        self.patterns = patterns;
        self.synced = ids;
        mark_active(shared, &self.synced);
        Ok(())
    }

    /// Sharded subscriptions, on their own connection (opened when first needed): subscribes
    /// and unsubscribes, then waits for a `PING` answer so that they are in effect.
    async fn sync_sharded(
        &mut self,
        shared: &Shared,
        info: &redis::ConnectionInfo,
        wanted: HashSet<String>,
    ) -> redis::RedisResult<()> {
        if wanted == self.sharded {
            return Ok(());
        }
        if self.shard.is_none() {
            self.shard = Some(ShardConn::connect(info).await?);
        }
        let Some(shard) = self.shard.as_mut() else { return Ok(()) };
        let add: Vec<&[u8]> = wanted.difference(&self.sharded).map(|c| c.as_bytes()).collect();
        if !add.is_empty() {
            shard.command(&[&[b"SSUBSCRIBE".as_slice()][..], &add].concat()).await?;
        }
        let gone: Vec<&[u8]> = self.sharded.difference(&wanted).map(|c| c.as_bytes()).collect();
        if !gone.is_empty() {
            shard.command(&[&[b"SUNSUBSCRIBE".as_slice()][..], &gone].concat()).await?;
        }
        shard.command(&[b"PING"]).await?;
        loop {
            match shard.frames.recv().await {
                Some(frame) if frame.is_pong() => break,
                Some(Frame::Error(e)) => {
                    tracing::warn!(error = e, "sharded subscription refused by redis");
                }
                Some(frame) => route_sharded(shared, &frame),
                None => {
                    return Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset).into());
                }
            }
        }
        self.sharded = wanted;
        Ok(())
    }

    /// Sends the queued publishes, oldest first, in pipelines; a publish leaves the queue only
    /// once Redis took it.
    async fn flush(&self, shared: &Shared, conn: &mut Conn) -> redis::RedisResult<()> {
        loop {
            let batch: Vec<(String, Bytes, bool)> =
                shared.lock().queue.iter().take(conn.batch()).cloned().collect();
            if batch.is_empty() {
                shared.drained.notify_waiters();
                return Ok(());
            }
            conn.publish(&batch).await?;
            let mut state = shared.lock();
            let n = batch.len().min(state.queue.len());
            state.queue.drain(..n);
        }
    }
}
