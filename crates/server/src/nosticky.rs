//! A cluster that needs no sticky sessions (`--cluster-advertise`, `--cluster-token`): this
//! node announces where the others reach it in Redis, and its engine forwards requests for
//! the other nodes' sessions to them.

use anyhow::bail;
use switchboard_engine::{Cluster, NodeTag};
use switchboard_redis::{NodeDirectory, SharedDriver};
use tokio::task::JoinHandle;

/// How long the start waits for this node's first announcement in Redis.
const ANNOUNCE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The shortest token accepted: a guessable token lets anyone act as a node.
const MIN_TOKEN_LEN: usize = 16;

/// `--cluster-advertise` and `--cluster-token`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Forwarding {
    /// `host:port` the other nodes connect to.
    pub(crate) advertise: String,
    pub(crate) token: String,
}

impl std::fmt::Debug for Forwarding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "advertised at {} (token hidden)", self.advertise)
    }
}

impl Forwarding {
    /// Reads the two options: both or neither, only in cluster mode and without TLS (the
    /// nodes talk plain HTTP to each other).
    pub(crate) fn resolve(
        advertise: Option<String>,
        token: Option<String>,
        cluster: bool,
        tls: bool,
    ) -> anyhow::Result<Option<Forwarding>> {
        let (advertise, token) = match (advertise, token) {
            (None, None) => return Ok(None),
            (Some(advertise), Some(token)) => (advertise, token),
            _ => {
                bail!("--cluster-advertise and --cluster-token go together: give both, or neither")
            }
        };
        if !cluster {
            bail!("--cluster-advertise needs --redis: the nodes find each other through Redis");
        }
        if tls {
            bail!(
                "--cluster-advertise with --tls-cert: the nodes forward to each other over plain \
                 HTTP; terminate TLS in front of the nodes instead"
            );
        }
        if advertise.parse::<axum::http::uri::Authority>().is_err() || !advertise.contains(':') {
            bail!("--cluster-advertise takes HOST:PORT, not {advertise:?}");
        }
        if token.len() < MIN_TOKEN_LEN {
            bail!("--cluster-token must have at least {MIN_TOKEN_LEN} characters");
        }
        Ok(Some(Forwarding { advertise, token }))
    }

    /// Announces this node under a new random tag and returns the engine's cluster config
    /// and the heartbeat task (abort it at shutdown).
    pub(crate) async fn start(
        &self,
        driver: SharedDriver,
    ) -> anyhow::Result<(Cluster, JoinHandle<()>)> {
        let tag = NodeTag::random();
        let directory = NodeDirectory::new(driver);
        let heartbeat = directory.announce(tag.as_str(), &self.advertise);
        // Found by the other nodes before this one serves.
        if tokio::time::timeout(ANNOUNCE_WAIT, directory.announced()).await.is_err() {
            heartbeat.abort();
            bail!("cannot announce this node in Redis within {} s", ANNOUNCE_WAIT.as_secs());
        }
        tracing::info!(tag = %tag, advertise = %self.advertise, "forwarding to session owners");
        Ok((Cluster::new(tag, &self.token, directory.owner_lookup()), heartbeat))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef";

    #[test]
    fn options_go_together_in_cluster_mode_only() {
        let ok = |a: &str, t: &str, c, tls| {
            Forwarding::resolve(Some(a.into()), Some(t.into()), c, tls).map_err(|e| e.to_string())
        };
        assert_eq!(Forwarding::resolve(None, None, true, false).unwrap(), None);
        let f = ok("10.0.0.1:3000", TOKEN, true, false).unwrap().unwrap();
        assert_eq!(f.advertise, "10.0.0.1:3000");
        assert!(!format!("{f:?}").contains(TOKEN));
        assert!(ok("10.0.0.1:3000", TOKEN, false, false).unwrap_err().contains("--redis"));
        assert!(ok("10.0.0.1:3000", TOKEN, true, true).unwrap_err().contains("TLS"));
        assert!(ok("10.0.0.1", TOKEN, true, false).unwrap_err().contains("HOST:PORT"));
        assert!(ok("10.0.0.1:3000", "short", true, false).unwrap_err().contains("16"));
        let half = Forwarding::resolve(Some("h:1".into()), None, true, false);
        assert!(half.unwrap_err().to_string().contains("go together"));
    }
}
