//! The Redis Streams adapter, compatible with Node's `@socket.io/redis-streams-adapter` 0.2:
//! one stream for every namespace, written with `XADD ... MAXLEN ~`, read by one blocking
//! `XREAD` loop per factory; the `ClusterAdapterWithHeartbeat` protocol of socket.io-adapter
//! (envelopes `uid, nsp, type, data` as stream fields, requests and responses on the stream,
//! the cluster's size known from heartbeats); and connection state recovery across nodes
//! (offsets are stream ids, sessions are Redis keys).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use rmpv::Value as Mp;
use switchboard_adapter::{Adapter, AdapterFactory, LocalNamespace, MemoryAdapter};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::adapter::{AdapterStatus, RedisAdapterError, Stats};
use crate::driver::{DriverError, SharedDriver, StreamEntry};
use crate::sharded::random_id;
use crate::streams_wire::{decode_data, encode_data};

/// `INITIAL_HEARTBEAT`, `HEARTBEAT` and `ADAPTER_CLOSE` of `ClusterAdapterWithHeartbeat`.
pub(crate) const INITIAL_HEARTBEAT: u64 = 1;
pub(crate) const HEARTBEAT: u64 = 2;
pub(crate) const ADAPTER_CLOSE: u64 = 13;

/// The uid of the Node emitters, never counted as a node.
const EMITTER_UID: &str = "emitter";

/// Entries added in one pipeline.
pub(crate) const WRITE_BATCH: usize = 256;

/// Settings of the streams adapter (Node's `createAdapter` options of
/// `@socket.io/redis-streams-adapter` 0.2, plus the heartbeat options of `ClusterAdapterWithHeartbeat`).
///
/// ```
/// use std::time::Duration;
/// use switchboard_redis::StreamsAdapterOptions;
///
/// let opts = StreamsAdapterOptions::default();
/// assert_eq!(opts.stream_name, "socket.io");
/// assert_eq!(opts.max_len, 10_000);
/// assert_eq!(opts.heartbeat_timeout, Duration::from_secs(10));
/// assert_eq!(opts.queue_cap, 10_000);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamsAdapterOptions {
    /// The stream every namespace writes to and reads from (`streamName`, `socket.io`).
    pub stream_name: String,
    /// The stream is trimmed to about this many entries (`maxLen`, 10 000, `MAXLEN ~`). A client
    /// whose offset was trimmed away is not recovered.
    pub max_len: usize,
    /// Entries read per `XREAD` (`readCount`, 100).
    pub read_count: usize,
    /// How long one `XREAD` blocks waiting for entries (5 s, as Node with the `redis` client).
    pub block_time: Duration,
    /// The prefix of the keys holding the sessions of disconnected sockets
    /// (`sessionKeyPrefix`, `sio:session:`).
    pub session_key_prefix: String,
    /// A node with nothing to write sends a heartbeat this often (`heartbeatInterval`, 5 s).
    pub heartbeat_interval: Duration,
    /// A node not heard from for this long is no longer counted (`heartbeatTimeout`, 10 s).
    pub heartbeat_timeout: Duration,
    /// How long `fetch_sockets` and server-side emits wait for the other nodes (5 s).
    pub requests_timeout: Duration,
    /// How many entries may wait to be added (10 000): while Redis is unreachable (or not yet
    /// connected at start) the writer keeps them in order and adds them once Redis answers
    /// again. Past the cap, new entries are dropped, counted
    /// ([`crate::LinkStatus::overflowed`]) and logged, and `broadcast` returns the error (the
    /// local sockets still get the packet).
    pub queue_cap: usize,
}

impl Default for StreamsAdapterOptions {
    fn default() -> Self {
        StreamsAdapterOptions {
            stream_name: "socket.io".to_owned(),
            max_len: 10_000,
            read_count: 100,
            block_time: Duration::from_secs(5),
            session_key_prefix: "sio:session:".to_owned(),
            heartbeat_interval: Duration::from_secs(5),
            heartbeat_timeout: Duration::from_secs(10),
            requests_timeout: Duration::from_secs(5),
            queue_cap: 10_000,
        }
    }
}

/// What the writer does once an entry was added (`Ok(Some(id))`), once it waits for Redis to
/// come back (`Ok(None)`: it will be added later), or when it was dropped (the error).
pub(crate) type Written = Box<dyn FnOnce(Result<Option<&str>, &DriverError>) + Send>;

/// An entry to add, and what to do after.
pub(crate) struct Write {
    pub(crate) fields: Vec<(String, Bytes)>,
    pub(crate) then: Option<Written>,
}

/// What the adapters of one factory share: the driver, the reader and writer tasks, and the
/// adapters by namespace.
pub(crate) struct Hub {
    pub(crate) driver: SharedDriver,
    pub(crate) options: StreamsAdapterOptions,
    pub(crate) stats: Stats,
    // The adapters by namespace name, for the reader; held for an insert, a remove or a
    // lookup.
    namespaces: Mutex<HashMap<String, Weak<Streams>>>,
    /// True once the reader knows where to start (the stream's last id then).
    pub(crate) reading: watch::Sender<bool>,
    // Entries to add, in call order; the writer task owns the receiver and ends when the hub
    // (holding this sender) is gone. Unbounded here, bounded by `queued` against `queue_cap`.
    writes: mpsc::UnboundedSender<Write>,
    /// Entries handed to the writer and not yet added (in the channel or the writer's queue).
    pub(crate) queued: Arc<AtomicUsize>,
    /// Entries dropped because `queue_cap` entries were waiting, since the start.
    overflowed: AtomicU64,
    // The receiver, until the tasks start (on the first namespace, inside a runtime).
    start: Mutex<Option<mpsc::UnboundedReceiver<Write>>>,
}

impl Hub {
    fn namespaces(&self) -> MutexGuard<'_, HashMap<String, Weak<Streams>>> {
        // Inserts and removes leave the map consistent, so a poisoned lock is still usable.
        self.namespaces.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the reader and the writer, once, from inside a runtime.
    fn start(self: &Arc<Self>) {
        let Some(rx) = self.start.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        // The writer: adds entries in call order; ends when every sender is dropped.
        let (driver, options, queued) =
            (self.driver.clone(), self.options.clone(), self.queued.clone());
        tokio::spawn(crate::streams_io::write_loop(driver, options, queued, rx));
        // The reader: ends when the hub is dropped.
        tokio::spawn(crate::streams_io::read_loop(Arc::downgrade(self)));
    }

    /// Queues an entry; `then` runs on the writer task, in call order. Past `queue_cap`
    /// waiting entries the entry is dropped, counted and logged.
    pub(crate) fn write(&self, fields: Vec<(String, Bytes)>, then: Option<Written>) {
        let cap = self.options.queue_cap;
        if self.queued.fetch_add(1, Ordering::SeqCst) >= cap {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            let n = self.overflowed.fetch_add(1, Ordering::SeqCst) + 1;
            if n.is_power_of_two() {
                tracing::warn!(dropped = n, cap, "redis stream write queue full: entries dropped");
            }
            if let Some(then) = then {
                then(Err(&DriverError::QueueFull { cap }));
            }
            return;
        }
        // Fails only once the writer is gone (the runtime shuts down): then nothing is sent.
        if let Err(mpsc::error::SendError(Write { then, .. })) =
            self.writes.send(Write { fields, then })
        {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            if let Some(then) = then {
                then(Err(&DriverError::Disconnected));
            }
        }
    }

    /// Hands an entry to the adapter of its namespace.
    pub(crate) fn dispatch(&self, entry: &StreamEntry) {
        let field = |k| entry.field(k).and_then(|v| std::str::from_utf8(v).ok());
        let (Some(uid), Some(nsp), Some(kind)) = (field("uid"), field("nsp"), field("type")) else {
            return self.stats.ignore("stream entry without uid, nsp or type", &entry.id);
        };
        let Ok(kind) = kind.parse::<u64>() else {
            return self.stats.ignore("stream entry with a bad type", &entry.id);
        };
        let Some(adapter) = self.namespaces().get(nsp).and_then(Weak::upgrade) else { return };
        let data = match entry.field("data") {
            None => Mp::Nil,
            Some(raw) => match decode_data(raw) {
                Some(data) => data,
                None => return self.stats.ignore("undecodable stream entry data", &entry.id),
            },
        };
        adapter.on_message(uid, kind, &data, &entry.id);
    }
}

/// Creates a [`StreamsAdapter`] per namespace; they share one stream, one reader and one
/// writer.
///
/// ```
/// use switchboard_redis::{FakeRedis, StreamsAdapterFactory, StreamsAdapterOptions};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // With a real server: `RedisDriver::open("redis://127.0.0.1:6379", RedisConfig::default())?`.
/// let factory =
///     StreamsAdapterFactory::new(FakeRedis::new().driver(), StreamsAdapterOptions::default());
/// // `SocketIo::builder().adapter(factory.into_factory()).build()` in the server crate.
/// switchboard_adapter::testkit::run(&factory).await;
/// assert_eq!(factory.status().ignored, 0);
/// # }
/// ```
#[derive(Clone)]
pub struct StreamsAdapterFactory {
    hub: Arc<Hub>,
}

impl std::fmt::Debug for StreamsAdapterFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamsAdapterFactory").field("options", &self.hub.options).finish()
    }
}

impl StreamsAdapterFactory {
    /// A factory on `driver`.
    pub fn new(driver: SharedDriver, options: StreamsAdapterOptions) -> Self {
        // See `Hub::writes`.
        let (writes, rx) = mpsc::unbounded_channel();
        let hub = Hub {
            driver,
            options,
            stats: Stats::default(),
            namespaces: Mutex::new(HashMap::new()),
            reading: watch::Sender::new(false),
            writes,
            queued: Arc::new(AtomicUsize::new(0)),
            overflowed: AtomicU64::new(0),
            start: Mutex::new(Some(rx)),
        };
        StreamsAdapterFactory { hub: Arc::new(hub) }
    }

    /// The link's state, the entries waiting to be added (`link.queued`) and those dropped
    /// because the queue was full (`link.overflowed`), each added to the driver's own
    /// publish counters, and the count of ignored entries.
    ///
    /// ```
    /// use switchboard_redis::{FakeRedis, StreamsAdapterFactory, StreamsAdapterOptions};
    ///
    /// let factory =
    ///     StreamsAdapterFactory::new(FakeRedis::new().driver(), StreamsAdapterOptions::default());
    /// let status = factory.status();
    /// assert_eq!((status.link.queued, status.link.overflowed, status.ignored), (0, 0, 0));
    /// ```
    pub fn status(&self) -> AdapterStatus {
        let mut link = self.hub.driver.status();
        link.queued = link.queued.saturating_add(self.hub.queued.load(Ordering::SeqCst));
        link.overflowed =
            link.overflowed.saturating_add(self.hub.overflowed.load(Ordering::SeqCst));
        AdapterStatus { link, ignored: self.hub.stats.ignored() }
    }

    /// As a shared [`AdapterFactory`], for `SocketIo::builder().adapter(..)`.
    pub fn into_factory(self) -> Arc<dyn AdapterFactory> {
        Arc::new(self)
    }
}

impl AdapterFactory for StreamsAdapterFactory {
    fn create(&self, namespace: Weak<dyn LocalNamespace>) -> Arc<dyn Adapter> {
        let inner = Arc::new(Streams {
            local: MemoryAdapter::new(namespace.clone()),
            ns: namespace,
            uid: random_id(),
            hub: self.hub.clone(),
            nsp: OnceLock::new(),
            nodes: Mutex::new(HashMap::new()),
            last_write: Mutex::new(Instant::now()),
            pending: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
        });
        // As the other adapters: set up as soon as the namespace's name can be read.
        crate::adapter::spawn_setup(Arc::downgrade(&inner), |inner| inner.setup().is_some());
        Arc::new(StreamsAdapter { inner })
    }
}

/// The state of one namespace's streams adapter.
pub(crate) struct Streams {
    pub(crate) local: MemoryAdapter,
    pub(crate) ns: Weak<dyn LocalNamespace>,
    pub(crate) uid: String,
    pub(crate) hub: Arc<Hub>,
    nsp: OnceLock<String>,
    // The other nodes heard from, with when; held for an insert, a sweep or a count.
    nodes: Mutex<HashMap<String, Instant>>,
    // When this node last wrote, to know when a heartbeat is due; held for a read or a store.
    last_write: Mutex<Instant>,
    // Requests of this node waiting for answers (envelopes `{type, data, uid}`), by request
    // id; held for an insert, a remove or a send into an unbounded channel.
    pending: Mutex<HashMap<String, mpsc::UnboundedSender<Mp>>>,
    /// Set by `close`: no more heartbeats, no more entries read.
    pub(crate) closed: AtomicBool,
}

/// The Redis Streams adapter of one namespace, compatible with
/// `@socket.io/redis-streams-adapter` 0.2. Build it through a [`StreamsAdapterFactory`].
pub struct StreamsAdapter {
    pub(crate) inner: Arc<Streams>,
}

impl std::fmt::Debug for StreamsAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamsAdapter").field("uid", &self.inner.uid).finish()
    }
}

impl StreamsAdapter {
    /// This node's id on the wire (16 hex characters, one per namespace).
    pub fn uid(&self) -> &str {
        &self.inner.uid
    }
}

impl Drop for Streams {
    fn drop(&mut self) {
        if let Some(nsp) = self.nsp.get() {
            let mut namespaces = self.hub.namespaces();
            if namespaces.get(nsp).is_some_and(|w| w.strong_count() == 0) {
                namespaces.remove(nsp);
            }
        }
    }
}

impl Streams {
    /// Says goodbye (`ADAPTER_CLOSE`), stops the heartbeats and stops reading for this
    /// namespace.
    pub(crate) fn close(self: &Arc<Self>) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Some(nsp) = self.nsp.get() {
            self.write(nsp, ADAPTER_CLOSE, None, None);
            let mut namespaces = self.hub.namespaces();
            if namespaces.get(nsp).is_some_and(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(self))) {
                namespaces.remove(nsp);
            }
        }
    }
}

impl Streams {
    /// The namespace's name, registered with the reader on first use (`None` while the
    /// namespace is being built or once it is gone).
    pub(crate) fn setup(self: &Arc<Self>) -> Option<&str> {
        if let Some(nsp) = self.nsp.get() {
            return Some(nsp);
        }
        let nsp = self.ns.upgrade()?.name().to_owned();
        tokio::runtime::Handle::try_current().ok()?;
        Some(self.nsp.get_or_init(|| {
            self.hub.start();
            self.hub.namespaces().insert(nsp.clone(), Arc::downgrade(self));
            // Announces this node once reading, then heartbeats and forgets silent nodes;
            // ends when the adapter is dropped.
            tokio::spawn(heartbeat_loop(Arc::downgrade(self), self.hub.reading.subscribe()));
            nsp
        }))
    }

    pub(crate) fn ready(self: &Arc<Self>) -> Result<&str, switchboard_adapter::AdapterError> {
        self.setup().ok_or(switchboard_adapter::AdapterError::NamespaceClosed)
    }

    /// Waits (up to the requests timeout) until the reader reads the stream.
    pub(crate) async fn reading(&self) -> Result<(), RedisAdapterError> {
        let mut reading = self.hub.reading.subscribe();
        let wait = reading.wait_for(|r| *r);
        match tokio::time::timeout(self.hub.options.requests_timeout, wait).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(RedisAdapterError::NotSubscribed),
        }
    }

    /// The stream fields of an envelope.
    fn fields(&self, nsp: &str, kind: u64, data: Option<&Mp>) -> Vec<(String, Bytes)> {
        let mut fields = vec![
            ("uid".to_owned(), Bytes::copy_from_slice(self.uid.as_bytes())),
            ("nsp".to_owned(), Bytes::copy_from_slice(nsp.as_bytes())),
            ("type".to_owned(), Bytes::from(kind.to_string())),
        ];
        if let Some(data) = data {
            fields.push(("data".to_owned(), encode_data(kind, data)));
        }
        fields
    }

    /// Adds an envelope to the stream; `then` runs once it was added (or could not be), on the
    /// writer, after every earlier write's.
    pub(crate) fn write(&self, nsp: &str, kind: u64, data: Option<&Mp>, then: Option<Written>) {
        *self.last_write.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.hub.write(self.fields(nsp, kind, data), then);
    }

    /// The other nodes currently known.
    pub(crate) fn nodes(&self) -> Vec<String> {
        self.nodes.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect()
    }

    /// Notes that `uid` is alive.
    pub(crate) fn seen(&self, uid: &str) {
        if uid != EMITTER_UID && uid != self.uid {
            self.nodes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(uid.to_owned(), Instant::now());
        }
    }

    /// Forgets `uid` and tells the requests waiting for it.
    pub(crate) fn remove_node(&self, uid: &str) {
        self.nodes.lock().unwrap_or_else(|e| e.into_inner()).remove(uid);
        let gone =
            crate::value::map(vec![("type", Mp::from(ADAPTER_CLOSE)), ("uid", Mp::from(uid))]);
        for tx in self.pending().values() {
            let _ = tx.send(gone.clone());
        }
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
}

/// `INITIAL_HEARTBEAT` once the stream is read, then a `HEARTBEAT` whenever the node wrote
/// nothing for an interval; forgets nodes silent for longer than the timeout.
async fn heartbeat_loop(weak: Weak<Streams>, mut reading: watch::Receiver<bool>) {
    if reading.wait_for(|r| *r).await.is_err() {
        return;
    }
    let Some(inner) = weak.upgrade() else { return };
    let (interval, timeout) =
        (inner.hub.options.heartbeat_interval, inner.hub.options.heartbeat_timeout);
    if let Some(nsp) = inner.nsp.get() {
        inner.write(nsp, INITIAL_HEARTBEAT, None, None);
    }
    drop(inner);
    let mut tick = tokio::time::interval(interval.min(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = weak.upgrade() else { return };
        if inner.closed.load(Ordering::SeqCst) {
            return;
        }
        let now = Instant::now();
        let silent: Vec<String> = inner
            .nodes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, seen)| now.duration_since(**seen) > timeout)
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in silent {
            tracing::debug!(uid, "node seems down");
            inner.remove_node(&uid);
        }
        let last = *inner.last_write.lock().unwrap_or_else(|e| e.into_inner());
        // Entries still waiting (Redis is away) say that this node is alive once added: no
        // heartbeat piles up behind them.
        let waiting = inner.hub.queued.load(Ordering::SeqCst) > 0;
        if let Some(nsp) =
            inner.nsp.get().filter(|_| !waiting && now.duration_since(last) >= interval)
        {
            inner.write(nsp, HEARTBEAT, None, None);
        }
    }
}
