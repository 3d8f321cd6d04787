//! The command connection of the real driver: one server (a multiplexed connection) or, with
//! the `cluster` feature, a Redis Cluster (redis-rs's cluster connection). Publishes and
//! subscriber counts go through it.

use bytes::Bytes;
use redis::aio::MultiplexedConnection;

/// Publishes sent in one pipeline (one server).
const BATCH: usize = 256;

/// A connection for commands.
#[derive(Clone)]
pub(crate) enum Conn {
    /// One server.
    Single(MultiplexedConnection),
    /// A Redis Cluster: counts are summed over its nodes.
    #[cfg(feature = "cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
}

impl Conn {
    /// The most publishes [`Conn::publish`] takes at once.
    pub(crate) fn batch(&self) -> usize {
        match self {
            Conn::Single(_) => BATCH,
            // One at a time: they may go to different nodes, in order.
            #[cfg(feature = "cluster")]
            Conn::Cluster(_) => 32,
        }
    }

    /// Sends `batch` (channel, payload, sharded or not), in order; all were taken once it
    /// returns `Ok`.
    pub(crate) async fn publish(
        &mut self,
        batch: &[(String, Bytes, bool)],
    ) -> redis::RedisResult<()> {
        let command = |channel: &str, payload: &Bytes, sharded: bool| {
            let mut cmd = redis::cmd(if sharded { "SPUBLISH" } else { "PUBLISH" });
            cmd.arg(channel).arg(payload.as_ref());
            cmd
        };
        match self {
            Conn::Single(conn) => {
                let mut pipe = redis::pipe();
                for (channel, payload, sharded) in batch {
                    pipe.add_command(command(channel, payload, *sharded)).ignore();
                }
                pipe.query_async::<()>(conn).await
            }
            #[cfg(feature = "cluster")]
            Conn::Cluster(conn) => {
                for (channel, payload, sharded) in batch {
                    let command = command(channel, payload, *sharded);
                    if *sharded {
                        // To the master of the channel's slot.
                        command.query_async::<()>(conn).await?;
                    } else {
                        cluster::publish(conn, command).await?;
                    }
                }
                Ok(())
            }
        }
    }

    /// `PUBSUB NUMSUB` (or `SHARDNUMSUB`) of `channels`; in a cluster, the sum over its
    /// nodes (a classic subscription counts on the node it was made on only).
    pub(crate) async fn num_sub(
        &mut self,
        channels: &[String],
        sharded: bool,
    ) -> redis::RedisResult<Vec<(String, usize)>> {
        if channels.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("PUBSUB");
        cmd.arg(if sharded { "SHARDNUMSUB" } else { "NUMSUB" }).arg(channels);
        match self {
            Conn::Single(conn) => cmd.query_async(conn).await,
            #[cfg(feature = "cluster")]
            Conn::Cluster(conn) => {
                let mut sums: Vec<(String, usize)> =
                    channels.iter().map(|c| (c.clone(), 0)).collect();
                for answer in cluster::on_all_nodes(conn, cmd).await? {
                    let counts: Vec<(String, usize)> = redis::from_redis_value(answer)?;
                    for ((_, sum), (_, n)) in sums.iter_mut().zip(counts) {
                        *sum += n;
                    }
                }
                Ok(sums)
            }
        }
    }

    /// How many connections have at least one pattern subscription (summed over the nodes of
    /// a cluster).
    pub(crate) async fn pattern_subscribers(&mut self) -> redis::RedisResult<usize> {
        let mut cmd = redis::cmd("CLIENT");
        cmd.arg("LIST").arg("TYPE").arg("pubsub");
        match self {
            Conn::Single(conn) => {
                let list: String = cmd.query_async(conn).await?;
                Ok(count_pattern_subscribers(&list))
            }
            #[cfg(feature = "cluster")]
            Conn::Cluster(conn) => {
                let mut n = 0;
                for answer in cluster::on_all_nodes(conn, cmd).await? {
                    let list: String = redis::from_redis_value(answer)?;
                    n += count_pattern_subscribers(&list);
                }
                Ok(n)
            }
        }
    }
}

#[cfg(feature = "cluster")]
mod cluster {
    use redis::cluster_routing::{
        MultipleNodeRoutingInfo, Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr,
    };

    /// Sends a classic `PUBLISH` to one node always (the master of slot 0): the cluster
    /// relays it to every node, and publishes relayed by one node arrive in order, where
    /// publishes spread over nodes (by channel) would not.
    pub(super) async fn publish(
        conn: &mut redis::cluster_async::ClusterConnection,
        cmd: redis::Cmd,
    ) -> redis::RedisResult<()> {
        let route = SingleNodeRoutingInfo::SpecificNode(Route::new(0, SlotAddr::Master));
        conn.route_command(cmd, RoutingInfo::SingleNode(route)).await?;
        Ok(())
    }

    /// The answers of every node of the cluster to `cmd`.
    pub(super) async fn on_all_nodes(
        conn: &mut redis::cluster_async::ClusterConnection,
        cmd: redis::Cmd,
    ) -> redis::RedisResult<Vec<redis::Value>> {
        let route = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllNodes, None));
        match conn.route_command(cmd, route).await? {
            // Without a response policy, redis-rs answers with a map of node -> answer.
            redis::Value::Map(answers) => {
                answers.into_iter().map(|(_, answer)| answer.extract_error()).collect()
            }
            other => Ok(vec![other]),
        }
    }
}

/// The lines of a `CLIENT LIST` answer whose `psub` field is not 0.
pub(crate) fn count_pattern_subscribers(list: &str) -> usize {
    list.lines()
        .filter(|line| {
            line.split(' ')
                .find_map(|field| field.strip_prefix("psub="))
                .is_some_and(|n| n.parse::<u64>().is_ok_and(|n| n > 0))
        })
        .count()
}

#[cfg(test)]
mod tests {
    #[test]
    fn pattern_subscribers_are_counted_from_client_list() {
        let list = "id=3 addr=127.0.0.1:1 fd=8 name= db=0 sub=3 psub=1 ssub=0 cmd=psubscribe\n\
                    id=4 addr=127.0.0.1:2 fd=9 name= db=0 sub=3 psub=0 ssub=0 cmd=subscribe\n\
                    id=5 addr=127.0.0.1:3 fd=10 name= db=0 sub=0 psub=12 ssub=0 cmd=psubscribe\n";
        assert_eq!(super::count_pattern_subscribers(list), 2);
        assert_eq!(super::count_pattern_subscribers(""), 0);
        assert_eq!(super::count_pattern_subscribers("id=1 psub=x"), 0);
    }
}
