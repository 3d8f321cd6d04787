//! The real driver on a Redis Cluster: one redis-rs cluster connection for commands and
//! subscriptions (RESP3: messages arrive as push messages), the same queue, resubscription
//! and wait for the other nodes as on one server.

use std::collections::HashSet;

use redis::cluster_async::ClusterConnection;
use tokio::sync::mpsc;

use super::subs::deliver_sharded;
use super::{Session, Shared, closed, mark_active, route, wanted};
use crate::conn::Conn;
use crate::driver::Incoming;

impl Session {
    pub(super) async fn run_cluster(
        &mut self,
        shared: &Shared,
        was_up: &mut Option<bool>,
        nodes: &[redis::ConnectionInfo],
    ) -> redis::RedisResult<()> {
        // Unbounded: redis-rs hands over every message of the subscriptions at once; the link
        // task drains it. Dropped with the connection at the end of the session.
        let (tx, mut pushes) = mpsc::unbounded_channel::<redis::PushInfo>();
        let mut builder = redis::cluster::ClusterClientBuilder::new(nodes.to_vec())
            .use_protocol(redis::ProtocolVersion::RESP3)
            .push_sender(tx);
        if let Some(timeout) = shared.config.response_timeout {
            builder = builder.response_timeout(timeout);
        }
        let mut conn = builder.build()?.get_async_connection().await?;
        let result = self.serve_cluster(shared, was_up, &mut conn, &mut pushes).await;
        if result.is_err() {
            // What arrived before the session ended is still delivered.
            while let Ok(push) = pushes.try_recv() {
                deliver(shared, push);
            }
        }
        result
    }

    async fn serve_cluster(
        &mut self,
        shared: &Shared,
        was_up: &mut Option<bool>,
        cluster: &mut ClusterConnection,
        pushes: &mut mpsc::UnboundedReceiver<redis::PushInfo>,
    ) -> redis::RedisResult<()> {
        self.sync_cluster(shared, cluster).await?;
        let mut conn = Conn::Cluster(cluster.clone());
        {
            let mut state = shared.lock();
            state.conn = Some(conn.clone());
            state.connections += 1;
        }
        mark_active(shared, &self.synced);
        self.established = true;
        if *was_up != Some(true) {
            tracing::info!("redis cluster link up");
            *was_up = Some(true);
        }
        self.wait_for_peers(shared, &mut conn).await?;
        let mut poll = tokio::time::interval(shared.config.peers_interval);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.flush(shared, &mut conn).await?;
            self.sync_cluster(shared, cluster).await?;
            if shared.closed.load(std::sync::atomic::Ordering::SeqCst) {
                return Ok(());
            }
            tokio::select! {
                push = pushes.recv() => match push {
                    // A node's connection broke: redis-rs repairs it and subscribes again,
                    // but what was published meanwhile would be lost without a new session
                    // (which waits for the other nodes before publishing).
                    Some(push) if push.kind == redis::PushKind::Disconnection => {
                        return Err(closed("a cluster node's connection closed"));
                    }
                    Some(push) => deliver(shared, push),
                    None => return Err(closed("cluster connection closed")),
                },
                () = shared.wake.notified() => {}
                _ = poll.tick() => {
                    let taken = tokio::time::Instant::now();
                    let counts = self.counts(shared, &mut conn).await?;
                    shared.lock().note_picture(counts, taken);
                }
            }
        }
    }

    /// Subscribes what is wanted and not yet subscribed and unsubscribes the rest: patterns
    /// first (see `sync`), one sharded channel per command (each may live on another node).
    async fn sync_cluster(
        &mut self,
        shared: &Shared,
        conn: &mut ClusterConnection,
    ) -> redis::RedisResult<()> {
        let (channels, patterns, sharded, ids) = wanted(shared);
        let added = |want: &HashSet<String>, have: &HashSet<String>| -> Vec<String> {
            want.difference(have).cloned().collect()
        };
        for pattern in added(&patterns, &self.patterns) {
            conn.psubscribe(pattern).await?;
        }
        for channel in added(&channels, &self.channels) {
            conn.subscribe(channel).await?;
        }
        for channel in added(&sharded, &self.sharded) {
            conn.ssubscribe(channel).await?;
        }
        for channel in added(&self.channels, &channels) {
            conn.unsubscribe(channel).await?;
        }
        for pattern in added(&self.patterns, &patterns) {
            conn.punsubscribe(pattern).await?;
        }
        for channel in added(&self.sharded, &sharded) {
            conn.sunsubscribe(channel).await?;
        }
        self.channels = channels;
        self.patterns = patterns;
        self.sharded = sharded;
        self.synced = ids;
        mark_active(shared, &self.synced);
        Ok(())
    }
}

/// Hands a push message to the subscriptions it matches.
fn deliver(shared: &Shared, push: redis::PushInfo) {
    let sharded = push.kind == redis::PushKind::SMessage;
    let Some(msg) = redis::Msg::from_push_info(push) else { return };
    if sharded {
        let channel = msg.get_channel_name().to_owned();
        let payload = bytes::Bytes::copy_from_slice(msg.get_payload_bytes());
        deliver_sharded(shared, Incoming { channel, payload });
    } else {
        route(shared, &msg);
    }
}
