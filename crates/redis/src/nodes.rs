//! The node directory of a cluster without sticky sessions: each node announces the address
//! the others reach it at under its tag, in a Redis key with a TTL refreshed by a heartbeat;
//! a node that stops (or dies) drops out when its key expires.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use switchboard_adapter::BoxFuture;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::SharedDriver;

/// A function from a node's tag to its address: the engine's `OwnerLookup` (same type).
pub type OwnerLookup = Arc<dyn Fn(&str) -> BoxFuture<'static, Option<String>> + Send + Sync>;

/// How long a node's key lives without a heartbeat.
const TTL: Duration = Duration::from_secs(6);

/// How soon a failed announcement is tried again.
const RETRY: Duration = Duration::from_millis(100);

/// How long a found address is reused before Redis is asked again.
const CACHE: Duration = Duration::from_secs(1);

/// Where the nodes of a cluster are: `tag → host:port`, in Redis keys
/// `switchboard#node#TAG` that expire 6 s after a node's last heartbeat (every 2 s).
///
/// ```
/// use switchboard_redis::{FakeRedis, NodeDirectory};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let redis = FakeRedis::new();
/// let node_a = NodeDirectory::new(redis.driver());
/// let heartbeat = node_a.announce("AAAA", "10.0.0.1:3000");
/// let node_b = NodeDirectory::new(redis.driver());
/// node_a.announced().await;
/// assert_eq!(node_b.lookup("AAAA").await.as_deref(), Some("10.0.0.1:3000"));
/// assert_eq!(node_b.lookup("BBBB").await, None);
/// // `switchboard_engine::Cluster::new(tag, token, node_b.owner_lookup())` on the engine.
/// heartbeat.abort();
/// # }
/// ```
pub struct NodeDirectory {
    driver: SharedDriver,
    /// Addresses found lately, with when they were found. Held only for map operations.
    cache: Mutex<HashMap<String, (String, Instant)>>,
    /// Set once this node's first announcement reached Redis; owned by the heartbeat task.
    announced: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for NodeDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeDirectory").finish_non_exhaustive()
    }
}

fn key(tag: &str) -> String {
    format!("switchboard#node#{tag}")
}

impl NodeDirectory {
    /// The directory on `driver`.
    pub fn new(driver: SharedDriver) -> Arc<NodeDirectory> {
        Arc::new(NodeDirectory {
            driver,
            cache: Mutex::new(HashMap::new()),
            announced: tokio::sync::watch::channel(false).0,
        })
    }

    /// Announces this node as `tag` at `addr` now and every 2 s until the returned task is
    /// aborted (then its key expires within 6 s).
    pub fn announce(self: &Arc<Self>, tag: &str, addr: &str) -> JoinHandle<()> {
        let (dir, key, value) = (self.clone(), key(tag), Bytes::from(addr.to_owned()));
        // The heartbeat: owned by the caller through the handle, ended by aborting it.
        tokio::spawn(async move {
            loop {
                // Every third of the TTL; soon again after a failure (Redis not connected
                // yet, or away), so that the node is found as soon as Redis answers.
                let wait = match dir.driver.set_px(key.clone(), value.clone(), TTL).await {
                    Ok(()) => {
                        dir.announced.send_replace(true);
                        TTL / 3
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "announcing this node failed");
                        RETRY
                    }
                };
                tokio::time::sleep(wait).await;
            }
        })
    }

    /// Resolves once an announcement of this node reached Redis.
    pub async fn announced(&self) {
        let mut rx = self.announced.subscribe();
        let _ = rx.wait_for(|done| *done).await;
    }

    /// The address of the node tagged `tag`; `None` when it is not (or no longer) announced
    /// or Redis cannot be asked.
    pub async fn lookup(&self, tag: &str) -> Option<String> {
        if let Some((addr, at)) = self.lock().get(tag)
            && at.elapsed() < CACHE
        {
            return Some(addr.clone());
        }
        let found = match self.driver.get(key(tag)).await {
            Ok(found) => found,
            Err(e) => {
                tracing::debug!(error = %e, "looking a node up failed");
                None
            }
        };
        let addr = found.and_then(|b| String::from_utf8(b.to_vec()).ok());
        let mut cache = self.lock();
        match &addr {
            Some(addr) => {
                cache.insert(tag.to_owned(), (addr.clone(), Instant::now()));
            }
            None => {
                cache.remove(tag);
            }
        }
        addr
    }

    /// [`NodeDirectory::lookup`] as the engine's owner lookup
    /// (`switchboard_engine::OwnerLookup`, which this function's type coerces to).
    pub fn owner_lookup(self: &Arc<Self>) -> OwnerLookup {
        let dir = self.clone();
        Arc::new(move |tag: &str| {
            let (dir, tag) = (dir.clone(), tag.to_owned());
            Box::pin(async move { dir.lookup(&tag).await })
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Instant)>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FakeRedis;

    #[tokio::test(start_paused = true)]
    async fn a_node_drops_out_once_its_heartbeat_stops() {
        let redis = FakeRedis::new();
        let a = NodeDirectory::new(redis.driver());
        let b = NodeDirectory::new(redis.driver());
        let heartbeat = a.announce("AAAA", "127.0.0.1:1");
        a.announced().await;
        assert_eq!(b.lookup("AAAA").await.as_deref(), Some("127.0.0.1:1"));
        // Heartbeats keep it for longer than the TTL.
        tokio::time::sleep(TTL * 2).await;
        assert_eq!(b.lookup("AAAA").await.as_deref(), Some("127.0.0.1:1"));
        heartbeat.abort();
        tokio::time::sleep(TTL + CACHE).await;
        assert_eq!(b.lookup("AAAA").await, None);
    }
}
