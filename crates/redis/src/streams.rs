//! The Redis Streams adapter, compatible with Node's `@socket.io/redis-streams-adapter` 0.2:
//! one stream for every namespace, written with `XADD ... MAXLEN ~`, read by one blocking
//! `XREAD` loop per factory; the `ClusterAdapterWithHeartbeat` protocol of socket.io-adapter
//! (envelopes `uid, nsp, type, data` as stream fields, requests and responses on the stream,
//! the cluster's size known from heartbeats); and connection state recovery across nodes
//! (offsets are stream ids, sessions are Redis keys).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use rmpv::Value as Mp;
use switchboard_adapter::{Adapter, AdapterFactory, LocalNamespace, MemoryAdapter};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::adapter::{AdapterStatus, RedisAdapterError, Stats};
use crate::driver::{DriverError, SharedDriver, StreamEntry};
use crate::sharded::{mt, random_id};
use crate::value::{self, Binary, encode_msgpack, json_to_mp, mp_to_json};

/// `INITIAL_HEARTBEAT`, `HEARTBEAT` and `ADAPTER_CLOSE` of `ClusterAdapterWithHeartbeat`.
pub(crate) const INITIAL_HEARTBEAT: u64 = 1;
pub(crate) const HEARTBEAT: u64 = 2;
pub(crate) const ADAPTER_CLOSE: u64 = 13;

/// The uid of the Node emitters, never counted as a node.
const EMITTER_UID: &str = "emitter";

/// Entries added in one pipeline.
const WRITE_BATCH: usize = 256;

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
    /// When an entry cannot be added (Redis unreachable, or not yet connected at start), how
    /// long the writer retries before giving up (2 s): the entries waiting meanwhile then reach
    /// the local sockets only and their broadcasts report an error; later ones fail at once
    /// until Redis is back. Node's clients queue commands until the reconnection instead.
    pub outage_wait: Duration,
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
            outage_wait: Duration::from_secs(2),
        }
    }
}

/// What the writer does once an entry was added (or could not be): the id, or the error.
pub(crate) type Written = Box<dyn FnOnce(Result<&str, &DriverError>) + Send>;

/// An entry to add, and what to do after.
struct Write {
    fields: Vec<(String, Bytes)>,
    then: Option<Written>,
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
    // (holding this sender) is gone. Unbounded: it holds what arrives during one pipeline round
    // trip, or during `outage_wait` at most while Redis is unreachable (later writes fail fast).
    writes: mpsc::UnboundedSender<Write>,
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
        tokio::spawn(write_loop(self.driver.clone(), self.options.clone(), rx));
        // The reader: ends when the hub is dropped.
        tokio::spawn(read_loop(Arc::downgrade(self)));
    }

    /// Queues an entry; `then` runs on the writer task, in call order.
    pub(crate) fn write(&self, fields: Vec<(String, Bytes)>, then: Option<Written>) {
        // Fails only once the writer is gone (the runtime shuts down): then nothing is sent.
        if let Err(mpsc::error::SendError(Write { then: Some(then), .. })) =
            self.writes.send(Write { fields, then })
        {
            then(Err(&DriverError::Disconnected));
        }
    }

    /// Hands an entry to the adapter of its namespace.
    fn dispatch(&self, entry: &StreamEntry) {
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

/// Decodes an entry's `data` as Node does: JSON when it starts with `{`, else base64 of msgpack.
pub(crate) fn decode_data(raw: &[u8]) -> Option<Mp> {
    if raw.first() == Some(&b'{') {
        let json: serde_json::Value = serde_json::from_slice(raw).ok()?;
        return Some(json_to_mp(&json, &[]));
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
    value::decode_msgpack(&bytes)
}

fn has_binary(value: &Mp) -> bool {
    match value {
        Mp::Binary(_) => true,
        Mp::Array(items) => items.iter().any(has_binary),
        Mp::Map(entries) => entries.iter().any(|(k, v)| has_binary(k) || has_binary(v)),
        _ => false,
    }
}

/// Encodes an entry's `data` as Node does: base64 of msgpack when a type that may carry
/// binary carries some, JSON otherwise.
pub(crate) fn encode_data(kind: u64, data: &Mp) -> Bytes {
    let may_have_binary = matches!(
        kind,
        mt::BROADCAST
            | mt::FETCH_SOCKETS_RESPONSE
            | mt::SERVER_SIDE_EMIT
            | mt::SERVER_SIDE_EMIT_RESPONSE
            | mt::BROADCAST_ACK
    );
    if may_have_binary && has_binary(data) {
        let text = base64::engine::general_purpose::STANDARD.encode(encode_msgpack(data));
        Bytes::from(text)
    } else {
        let json = mp_to_json(data, Binary::BufferJson, &mut Vec::new());
        Bytes::from(serde_json::to_vec(&json).unwrap_or_default())
    }
}

/// Adds the queued entries, in order, a pipeline at a time. A failed pipeline is retried
/// (10 ms doubling up to 200 ms) for `outage_wait`, unless the previous one failed too.
async fn write_loop(
    driver: SharedDriver,
    options: StreamsAdapterOptions,
    mut rx: mpsc::UnboundedReceiver<Write>,
) {
    let mut failing = false;
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while rx.recv_many(&mut batch, WRITE_BATCH).await > 0 {
        let (entries, thens): (Vec<_>, Vec<_>) =
            batch.drain(..).map(|w| (w.fields, w.then)).unzip();
        let stream = options.stream_name.clone();
        let mut result = driver.xadd(stream.clone(), options.max_len, entries.clone()).await;
        if result.is_err() && !failing {
            let deadline = Instant::now() + options.outage_wait;
            let mut pause = Duration::from_millis(10);
            while result.is_err() && Instant::now() < deadline {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(200));
                result = driver.xadd(stream.clone(), options.max_len, entries.clone()).await;
            }
        }
        match &result {
            Ok(_) if failing => {
                tracing::info!("redis stream writable again");
                failing = false;
            }
            Err(e) if !failing => {
                tracing::warn!(error = %e, "redis stream not writable: entries reach local sockets only");
                failing = true;
            }
            _ => {}
        }
        for (i, then) in thens.into_iter().enumerate() {
            let Some(then) = then else { continue };
            match &result {
                Ok(ids) => match ids.get(i) {
                    Some(id) => then(Ok(id)),
                    None => then(Err(&DriverError::BadReply("XADD"))),
                },
                Err(e) => then(Err(e)),
            }
        }
    }
}

/// Reads the stream from its end at start, then from the last entry seen, forever; after an
/// error it waits (100 ms doubling up to 2 s) and goes on from the same entry, so that what
/// was added meanwhile and is still in the stream is read.
async fn read_loop(hub: Weak<Hub>) {
    let Some((driver, options)) = hub.upgrade().map(|h| (h.driver.clone(), h.options.clone()))
    else {
        return;
    };
    let (mut last, mut failing) = (None::<String>, false);
    let mut backoff = Duration::from_millis(100);
    loop {
        let step = match &last {
            None => driver.xlast(options.stream_name.clone()).await.map(|id| {
                last = Some(id.unwrap_or_else(|| "0-0".to_owned()));
                Vec::new()
            }),
            Some(after) => {
                let stream = options.stream_name.clone();
                driver.xread(stream, after.clone(), options.read_count, options.block_time).await
            }
        };
        let Some(hub) = hub.upgrade() else { return };
        match step {
            Ok(entries) => {
                if failing {
                    tracing::info!(after = ?last, "reading the redis stream again");
                    failing = false;
                }
                backoff = Duration::from_millis(100);
                hub.reading.send_if_modified(|r| !std::mem::replace(r, true));
                for entry in &entries {
                    hub.dispatch(entry);
                    last = Some(entry.id.clone());
                }
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, after = ?last, "redis stream unreadable; retrying");
                    failing = true;
                }
                drop(hub);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
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
            start: Mutex::new(Some(rx)),
        };
        StreamsAdapterFactory { hub: Arc::new(hub) }
    }

    /// The link's state and the count of ignored entries.
    pub fn status(&self) -> AdapterStatus {
        AdapterStatus { link: self.hub.driver.status(), ignored: self.hub.stats.ignored() }
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
        if let Some(nsp) = inner.nsp.get().filter(|_| now.duration_since(last) >= interval) {
            inner.write(nsp, HEARTBEAT, None, None);
        }
    }
}

/// A session as Node's streams adapter stores it: base64 of msgpack `{sid, pid, rooms, data}`.
pub(crate) fn encode_session(session: &switchboard_adapter::Session) -> Bytes {
    let rooms = session.rooms.iter().map(|r| Mp::from(r.as_str())).collect();
    let data = if session.data.is_null() { serde_json::json!({}) } else { session.data.clone() };
    let value = crate::value::map(vec![
        ("sid", Mp::from(session.sid.as_str())),
        ("pid", Mp::from(session.pid.as_str())),
        ("rooms", Mp::Array(rooms)),
        ("data", json_to_mp(&data, &[])),
    ]);
    Bytes::from(base64::engine::general_purpose::STANDARD.encode(encode_msgpack(&value)))
}

/// A stored session, `None` when malformed.
pub(crate) fn decode_session(raw: &[u8]) -> Option<switchboard_adapter::Session> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
    let value = value::decode_msgpack(&bytes)?;
    let text = |k| value::get(&value, k).and_then(Mp::as_str);
    let rooms = crate::protocol::room_list(value::get(&value, "rooms"))?;
    let data = value::get(&value, "data")
        .map_or(serde_json::Value::Null, |d| mp_to_json(d, Binary::BufferJson, &mut Vec::new()));
    Some(switchboard_adapter::Session::new(
        switchboard_adapter::SocketId::from(text("sid")?),
        text("pid")?,
        rooms,
        data,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_sessions_encode_as_node_does() {
        // V6 of the wire-format notes: a binary broadcast to all.
        let packet = crate::value::map(vec![
            ("type", Mp::from(2)),
            ("data", Mp::Array(vec![Mp::from("file"), Mp::Binary(vec![1, 2, 3])])),
        ]);
        let opts = crate::value::map(vec![
            ("rooms", Mp::Array(vec![])),
            ("except", Mp::Array(vec![])),
            ("flags", Mp::Map(vec![])),
        ]);
        let data = crate::value::map(vec![("packet", packet), ("opts", opts)]);
        assert_eq!(
            encode_data(mt::BROADCAST, &data),
            "gqZwYWNrZXSCpHR5cGUCpGRhdGGSpGZpbGXEAwECA6RvcHRzg6Vyb29tc5CmZXhjZXB0kKVmbGFnc4A="
        );
        assert_eq!(decode_data(&encode_data(mt::BROADCAST, &data)), Some(data));
        let plain = crate::value::map(vec![("requestId", Mp::from("a1"))]);
        assert_eq!(encode_data(mt::FETCH_SOCKETS, &plain), r#"{"requestId":"a1"}"#);
        assert!(decode_data(b"{not json").is_none() && decode_data(b"!!").is_none());

        // V7: a session.
        let session = switchboard_adapter::Session::new(
            "Vd7yYs2Ow3Sp0tW0AAAB".into(),
            "kP3mZ8qR2tYw9xLc4vBn",
            vec!["Vd7yYs2Ow3Sp0tW0AAAB".into(), "room1".into()],
            serde_json::json!({}),
        );
        let encoded = encode_session(&session);
        assert_eq!(
            encoded,
            "hKNzaWS0VmQ3eVlzMk93M1NwMHRXMEFBQUKjcGlktGtQM21aOHFSMnRZdzl4TGM0dkJupXJvb21zkrRWZDd5WXMyT3czU3AwdFcwQUFBQqVyb29tMaRkYXRhgA=="
        );
        assert_eq!(decode_session(&encoded), Some(session));
        assert!(decode_session(b"AAAA").is_none());
    }
}
