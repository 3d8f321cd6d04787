//! Cluster mode (`--redis`): the Redis adapter of the Socket.IO server, and presence across
//! nodes.
//!
//! Presence travels on one Redis pub/sub channel, [`PRESENCE_CHANNEL`], as JSON
//! `{ node, kind, ... }` (see [`Update`]): each node says when a user gets a first or loses a
//! last connection there, and sends its whole list every third of the presence TTL. A node not
//! heard from for the TTL is forgotten with its users; while this node's own link to Redis is
//! down it forgets no one (it cannot hear anyone), and when the link is back it asks every node
//! for its list (`hello`) and restarts their TTLs.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use switchboard::AdapterFactory;
use switchboard_redis::{
    Incoming, RedisAdapterFactory, RedisAdapterOptions, RedisConfig, RedisDriver,
    ShardedAdapterFactory, ShardedAdapterOptions, SharedDriver, StreamsAdapterFactory,
    StreamsAdapterOptions, Subscription, SubscriptionHandle,
};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::apps::chat::presence::{Online, Presence, Status, Update};

/// The channel of presence updates (apart from the adapters' `socket.io#...` channels).
pub(crate) const PRESENCE_CHANNEL: &str = "switchboard#presence";

/// How long the start waits for Redis.
const START_WAIT: Duration = Duration::from_secs(5);

/// How long the shutdown waits for the last presence updates to reach Redis.
const FLUSH_WAIT: Duration = Duration::from_secs(1);

/// The Redis adapter of `--adapter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AdapterKind {
    /// `@socket.io/redis-adapter`'s pub/sub protocol.
    Redis,
    /// Redis 7 sharded pub/sub (`createShardedAdapter`).
    Sharded,
    /// Redis Streams.
    Streams,
}

impl AdapterKind {
    /// Reads `redis`, `sharded` or `streams`.
    pub(crate) fn parse(name: &str) -> anyhow::Result<AdapterKind> {
        match name {
            "redis" => Ok(AdapterKind::Redis),
            "sharded" => Ok(AdapterKind::Sharded),
            "streams" => Ok(AdapterKind::Streams),
            _ => bail!("--adapter takes redis, sharded or streams, not {name:?}"),
        }
    }
}

/// A driver for the Redis at `url` (it connects in the background).
fn open_driver(url: &str) -> anyhow::Result<SharedDriver> {
    let driver = RedisDriver::open(url, RedisConfig::default())
        .with_context(|| format!("invalid --redis URL {}", describe_url(url)))?;
    Ok(driver)
}

/// The adapter of `kind` on `driver`: the one place where `--adapter` becomes an adapter.
pub(crate) fn adapter_factory(kind: AdapterKind, driver: &SharedDriver) -> Arc<dyn AdapterFactory> {
    let driver = driver.clone();
    match kind {
        AdapterKind::Redis => {
            RedisAdapterFactory::new(driver, RedisAdapterOptions::default()).into_factory()
        }
        AdapterKind::Sharded => {
            ShardedAdapterFactory::new(driver, ShardedAdapterOptions::default()).into_factory()
        }
        AdapterKind::Streams => {
            StreamsAdapterFactory::new(driver, StreamsAdapterOptions::default()).into_factory()
        }
    }
}

/// A Redis URL for logs and errors, without its password.
pub(crate) fn describe_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    format!("{scheme}://{host}{path}")
}

/// This node's side of the presence channel. Cloning is cheap.
#[derive(Clone)]
pub(crate) struct Link {
    /// This node's id (random, new on every start).
    node: Arc<str>,
    driver: SharedDriver,
}

/// The subscription to the presence channel, read by [`run`].
pub(crate) struct Inbox {
    handle: SubscriptionHandle,
    // Filled by the driver for as long as the subscription lasts; read by `run` only.
    rx: mpsc::UnboundedReceiver<Incoming>,
}

/// One message of the presence channel.
#[derive(Debug, Serialize, Deserialize)]
struct Wire {
    node: String,
    #[serde(flatten)]
    update: Update,
}

impl Link {
    /// Subscribes a new node to the presence channel on `driver`.
    pub(crate) fn subscribe(driver: SharedDriver) -> (Link, Inbox) {
        // Unbounded: the driver must never wait on a slow reader; `run` drains it.
        let (tx, rx) = mpsc::unbounded_channel();
        let sub =
            Subscription { channels: vec![PRESENCE_CHANNEL.to_owned()], ..Default::default() };
        let handle = driver.subscribe(sub, tx);
        let node: Arc<str> = crate::store::new_id().into();
        (Link { node, driver }, Inbox { handle, rx })
    }

    /// This node's id.
    pub(crate) fn node(&self) -> &str {
        &self.node
    }

    /// Tells the other nodes `update` (queued by the driver while Redis is away).
    pub(crate) fn send(&self, update: &Update) {
        let wire = Wire { node: self.node.to_string(), update: update.clone() };
        let payload = match serde_json::to_vec(&wire) {
            Ok(bytes) => Bytes::from(bytes),
            Err(error) => {
                tracing::error!(%error, "presence update not encoded");
                return;
            }
        };
        if let Err(error) = self.driver.publish(PRESENCE_CHANNEL.to_owned(), payload) {
            tracing::warn!(%error, "presence update not sent");
        }
    }

    /// Tells the other nodes this one stops, and waits (a little) for it to leave.
    pub(crate) async fn bye(&self) {
        self.send(&Update::Bye);
        if tokio::time::timeout(FLUSH_WAIT, self.driver.flushed()).await.is_err() {
            tracing::warn!("the last presence updates did not reach Redis");
        }
    }
}

impl Inbox {
    /// Resolves once the subscription is active on Redis; an error after `wait`.
    pub(crate) async fn ready(
        &mut self,
        wait: Duration,
    ) -> Result<(), tokio::time::error::Elapsed> {
        let active = &mut self.handle.active;
        tokio::time::timeout(wait, async {
            while !*active.borrow_and_update() {
                if active.changed().await.is_err() {
                    // The driver is gone: never ready.
                    std::future::pending::<()>().await;
                }
            }
        })
        .await
    }
}

/// Everything cluster mode needs at start.
pub(crate) struct Cluster {
    /// The Socket.IO server's adapter.
    pub(crate) adapter: Arc<dyn AdapterFactory>,
    /// This node on the presence channel.
    pub(crate) link: Link,
    /// The presence channel's messages, for [`run`].
    pub(crate) inbox: Inbox,
    /// The link to Redis and its outage queue, for `/metrics`.
    pub(crate) status: LinkStatusFn,
}

/// A snapshot of the link to Redis, taken at each scrape.
pub(crate) type LinkStatusFn = Arc<dyn Fn() -> switchboard_redis::LinkStatus + Send + Sync>;

/// Opens Redis at `url` with the adapter `kind`; an error if Redis does not answer within
/// [`START_WAIT`].
pub(crate) async fn open(url: &str, kind: AdapterKind) -> anyhow::Result<Cluster> {
    let shown = describe_url(url);
    let driver = open_driver(url)?;
    let (link, mut inbox) = Link::subscribe(driver.clone());
    if inbox.ready(START_WAIT).await.is_err() {
        bail!("cannot reach Redis at {shown} within {} s", START_WAIT.as_secs());
    }
    // Only once Redis answers: an adapter starts talking to Redis as soon as it exists.
    let (adapter, status): (Arc<dyn AdapterFactory>, LinkStatusFn) = match kind {
        AdapterKind::Streams => {
            // The streams adapter queues its entries apart from the driver's publishes.
            let factory = Arc::new(StreamsAdapterFactory::new(
                driver.clone(),
                StreamsAdapterOptions::default(),
            ));
            let status = factory.clone();
            (factory, Arc::new(move || status.status().link))
        }
        _ => (adapter_factory(kind, &driver), Arc::new(move || driver.status())),
    };
    tracing::info!(redis = %shown, adapter = ?kind, node = link.node(), "cluster mode");
    Ok(Cluster { adapter, link, inbox, status })
}

/// How often a node sends its list: three times per TTL, so one lost heartbeat does not
/// expire it.
pub(crate) fn heartbeat(ttl: Duration) -> Duration {
    (ttl / 3).max(Duration::from_millis(10))
}

/// Keeps `presence` up to date with the other nodes and them with this one, until the
/// subscription ends; every change of a user's presence goes to `changes`.
pub(crate) async fn run(
    link: Link,
    mut inbox: Inbox,
    presence: Arc<Presence>,
    ttl: Duration,
    changes: mpsc::UnboundedSender<Vec<(Online, Status)>>,
) {
    let report = |list: Vec<(Online, Status)>| {
        if !list.is_empty() {
            let _ = changes.send(list);
        }
    };
    let mut ticks = tokio::time::interval(heartbeat(ttl));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut active = inbox.handle.active.clone();
    // Back on Redis (or just started): whatever the others said meanwhile was missed; they
    // get this node's list and send theirs.
    let on_active = || {
        presence.refresh(Instant::now());
        link.send(&Update::Hello);
        link.send(&presence.snapshot());
    };
    let mut was_active = *active.borrow_and_update();
    if was_active {
        on_active();
    }
    let mut watching = true;
    loop {
        tokio::select! {
            incoming = inbox.rx.recv() => {
                let Some(incoming) = incoming else { break };
                let wire: Wire = match serde_json::from_slice(&incoming.payload) {
                    Ok(wire) => wire,
                    Err(error) => {
                        tracing::debug!(%error, "presence message ignored");
                        continue;
                    }
                };
                if wire.node == link.node() {
                    continue;
                }
                if wire.update == Update::Hello {
                    link.send(&presence.snapshot());
                }
                report(presence.apply(&wire.node, wire.update, Instant::now()));
            }
            _ = ticks.tick() => {
                if was_active {
                    link.send(&presence.snapshot());
                    report(presence.expire(Instant::now(), ttl));
                }
            }
            changed = active.changed(), if watching => {
                if changed.is_err() {
                    watching = false;
                    continue;
                }
                let now_active = *active.borrow_and_update();
                if now_active && !was_active {
                    on_active();
                } else if !now_active && was_active {
                    tracing::warn!("presence link to Redis lost: other nodes' users are kept until it is back");
                }
                was_active = now_active;
            }
        }
    }
    link.driver.unsubscribe(inbox.handle.id);
}

#[cfg(test)]
mod tests {
    use switchboard_redis::FakeRedis;

    use super::*;
    use crate::auth::User;

    struct Node {
        presence: Arc<Presence>,
        link: Link,
        changes: mpsc::UnboundedReceiver<Vec<(Online, Status)>>,
        task: tokio::task::JoinHandle<()>,
    }

    const TTL: Duration = Duration::from_secs(3);

    fn start(redis: &FakeRedis) -> Node {
        let (link, inbox) = Link::subscribe(redis.driver());
        let presence = Arc::new(Presence::default());
        let (tx, changes) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(link.clone(), inbox, presence.clone(), TTL, tx));
        Node { presence, link, changes, task }
    }

    fn ann() -> User {
        User { id: "ann".into(), username: "Ann".into() }
    }

    /// The next reported change, within `limit` of (paused) time.
    async fn next(node: &mut Node, limit: Duration) -> Vec<(Online, Status)> {
        tokio::time::timeout(limit, node.changes.recv()).await.unwrap().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_user_online_on_one_node_is_online_on_the_other_until_that_node_goes_silent() {
        let redis = FakeRedis::new();
        let mut a = start(&redis);
        let mut b = start(&redis);
        let change = a.presence.connect(&ann());
        a.link.send(&change.update.unwrap());
        let got = next(&mut b, Duration::from_millis(100)).await;
        assert_eq!(
            got,
            [(Online { user_id: "ann".into(), username: "Ann".into() }, Status::Online)]
        );
        assert!(b.presence.is_online("ann"));
        assert_eq!(b.presence.list().len(), 1);
        // Node a dies: no more heartbeats. Ann stays online on b for the TTL, not longer
        // than the TTL plus one heartbeat.
        let died = Instant::now();
        a.task.abort();
        drop(a.link);
        let got = next(&mut b, TTL * 2).await;
        assert_eq!(got[0].1, Status::Offline);
        let after = died.elapsed();
        assert!(after >= TTL - heartbeat(TTL) && after <= TTL + heartbeat(TTL), "{after:?}");
        assert!(!b.presence.is_online("ann"));
        assert!(a.changes.try_recv().is_err(), "a local change is not reported by the link");
    }

    #[tokio::test(start_paused = true)]
    async fn a_node_that_starts_later_learns_the_others_users() {
        let redis = FakeRedis::new();
        let a = start(&redis);
        // A connection before the other node exists, so no update reaches it.
        let _ = a.presence.connect(&ann());
        let mut b = start(&redis);
        // b's hello makes a send its list at once, well before a heartbeat.
        let got = next(&mut b, Duration::from_millis(50)).await;
        assert_eq!(got[0].1, Status::Online);
        assert!(b.presence.is_online("ann"));
        // A heartbeat later nothing changed; a goodbye takes her offline at once.
        tokio::time::sleep(TTL).await;
        assert!(b.changes.try_recv().is_err());
        a.link.bye().await;
        let got = next(&mut b, Duration::from_millis(50)).await;
        assert_eq!(got[0].1, Status::Offline);
    }

    #[tokio::test(start_paused = true)]
    async fn while_its_link_is_down_a_node_forgets_no_one_and_the_ttl_restarts_when_it_is_back() {
        let redis = FakeRedis::new();
        let a = start(&redis);
        // Node b with a link state of the test's choosing.
        let (link, mut inbox) = Link::subscribe(redis.driver());
        let (link_up, active) = tokio::sync::watch::channel(true);
        inbox.handle.active = active;
        let presence = Arc::new(Presence::default());
        let (tx, changes) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(link.clone(), inbox, presence.clone(), TTL, tx));
        let mut b = Node { presence, link, changes, task };
        let change = a.presence.connect(&ann());
        a.link.send(&change.update.unwrap());
        assert_eq!(next(&mut b, Duration::from_millis(100)).await[0].1, Status::Online);
        // b loses Redis, and a dies meanwhile: b cannot tell, and keeps ann.
        link_up.send_replace(false);
        a.task.abort();
        tokio::time::sleep(TTL * 3).await;
        assert!(b.changes.try_recv().is_err(), "nothing forgotten while the link is down");
        assert!(b.presence.is_online("ann"));
        // Back: the TTL starts again from now, and a, silent, expires after it.
        let back = Instant::now();
        link_up.send_replace(true);
        let got = next(&mut b, TTL * 2).await;
        assert_eq!(got[0].1, Status::Offline);
        let after = back.elapsed();
        assert!(after >= TTL - heartbeat(TTL) && after <= TTL + heartbeat(TTL), "{after:?}");
        b.task.abort();
    }

    #[test]
    fn adapters_by_name_and_urls_without_passwords() {
        assert_eq!(AdapterKind::parse("sharded").unwrap(), AdapterKind::Sharded);
        assert!(AdapterKind::parse("kafka").is_err());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _entered = runtime.enter();
        assert_eq!(AdapterKind::parse("streams").unwrap(), AdapterKind::Streams);
        assert!(open_driver("mysql://x").is_err());
        assert_eq!(describe_url("redis://:s3cret@cache:6380/2"), "redis://cache:6380/2");
        assert_eq!(describe_url("redis://127.0.0.1:1"), "redis://127.0.0.1:1");
    }
}
