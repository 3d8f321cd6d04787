//! Clusters without sticky sessions.
//!
//! A session id starts with the [`NodeTag`] of the node that owns the session. A node that
//! gets a request naming a session it does not hold asks the [`OwnerLookup`] for the owner's
//! address and forwards the request there (see `forward`), adding [`FORWARDED_HEADER`] and
//! the shared [`TOKEN_HEADER`]. The owner accepts a request that carries the marker only with
//! the right token, and never forwards it again: a request crosses at most one extra hop.

mod forward;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::HeaderMap;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::error::RequestError;

pub(crate) use forward::forward;

/// The header that marks a request forwarded by another node of the cluster.
pub const FORWARDED_HEADER: &str = "x-switchboard-forwarded";

/// The header that carries the cluster's shared token on a forwarded request.
pub const TOKEN_HEADER: &str = "x-switchboard-cluster-token";

/// How many characters of a session id name its node.
pub(crate) const TAG_LEN: usize = 4;

/// Finds the address (`host:port`) of the node whose [`NodeTag`] is given; `None` when no
/// such node is alive (the session is then answered as gone, `400 Session ID unknown`).
///
/// ```
/// use std::sync::Arc;
/// use switchboard_engine::OwnerLookup;
///
/// // A fixed map; a real cluster asks its shared store (e.g. `switchboard_redis::NodeDirectory`).
/// let lookup: OwnerLookup = Arc::new(|tag: &str| {
///     let found = (tag == "AAAA").then(|| "10.0.0.2:3000".to_owned());
///     Box::pin(async move { found })
/// });
/// # let _ = lookup;
/// ```
pub type OwnerLookup = Arc<dyn Fn(&str) -> BoxFuture<'static, Option<String>> + Send + Sync>;

/// The tag of a node: 4 URL-safe base64 characters that start the ids of its sessions.
///
/// ```
/// use switchboard_engine::NodeTag;
///
/// let tag = NodeTag::random();
/// assert_eq!(tag.as_str().len(), 4);
/// assert_eq!(NodeTag::parse(tag.as_str()), Some(tag));
/// assert_eq!(NodeTag::parse("a/b="), None);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeTag([u8; TAG_LEN]);

impl NodeTag {
    /// A random tag (24 bits: two nodes of a cluster share one with odds of about n²/2²⁵).
    pub fn random() -> NodeTag {
        let bytes: [u8; 3] = rand::random();
        let mut text = [b'A'; TAG_LEN];
        // 3 bytes are exactly 4 base64 characters.
        let _ = URL_SAFE_NO_PAD.encode_slice(bytes, &mut text);
        NodeTag(text)
    }

    /// Reads a tag: exactly 4 characters of the URL-safe base64 alphabet.
    pub fn parse(text: &str) -> Option<NodeTag> {
        let bytes: [u8; TAG_LEN] = text.as_bytes().try_into().ok()?;
        bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
            .then_some(NodeTag(bytes))
    }

    /// The tag as text.
    pub fn as_str(&self) -> &str {
        // Always ASCII: checked by `parse` or made from the base64 alphabet.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    pub(crate) fn bytes(&self) -> &[u8; TAG_LEN] {
        &self.0
    }

    /// The tag a session id starts with (ids of 20 characters only, as this engine makes).
    pub(crate) fn of_sid(sid: &str) -> Option<NodeTag> {
        if sid.len() != 20 {
            return None;
        }
        NodeTag::parse(sid.get(..TAG_LEN)?)
    }
}

impl fmt::Debug for NodeTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("NodeTag").field(&self.as_str()).finish()
    }
}

impl fmt::Display for NodeTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// This node's place in a cluster that needs no sticky sessions
/// ([`EngineConfig::cluster`](crate::EngineConfig::cluster)).
///
/// Every node of the cluster has its own [`NodeTag`] and the same token. A polling request
/// or WebSocket upgrade for a session of another node is forwarded to that node over a pooled
/// HTTP/1.1 connection; a WebSocket is proxied byte for byte for its whole life. A request
/// that carries [`FORWARDED_HEADER`] is answered only with the right [`TOKEN_HEADER`]
/// (`403` otherwise) and is never forwarded again.
///
/// ```
/// use std::sync::Arc;
/// use switchboard_engine::{Cluster, EngineConfig, NodeTag, OwnerLookup};
///
/// let peers: OwnerLookup = Arc::new(|_tag: &str| Box::pin(async { None }));
/// let mut config = EngineConfig::default();
/// config.cluster = Some(Cluster::new(NodeTag::random(), "a long shared secret", peers));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct Cluster {
    /// This node's tag, the start of its session ids.
    pub tag: NodeTag,
    /// How long connecting to an owner may take before the session is answered as gone
    /// (default 2 s).
    pub connect_timeout: Duration,
    /// How long asking the [`OwnerLookup`] may take (default 2 s).
    pub lookup_timeout: Duration,
    token: Arc<str>,
    lookup: OwnerLookup,
    /// The pooled connections to the other nodes, shared by every clone.
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Cluster {
    /// This node, tagged `tag`, in a cluster whose nodes share `token` and are found by
    /// `lookup`.
    pub fn new(tag: NodeTag, token: &str, lookup: OwnerLookup) -> Cluster {
        let connect_timeout = Duration::from_secs(2);
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(connect_timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Cluster {
            tag,
            connect_timeout,
            lookup_timeout: Duration::from_secs(2),
            token: Arc::from(token),
            lookup,
            client,
        }
    }

    /// Whether `headers` carry the cluster's token (compared in constant time for a given
    /// length).
    fn token_matches(&self, headers: &HeaderMap) -> bool {
        let Some(given) = headers.get(TOKEN_HEADER) else { return false };
        constant_time_eq(given.as_bytes(), self.token.as_bytes())
    }
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("tag", &self.tag)
            .field("connect_timeout", &self.connect_timeout)
            .field("lookup_timeout", &self.lookup_timeout)
            .finish_non_exhaustive()
    }
}

/// Whether a request was forwarded by a node of the cluster: `Ok(false)` without the marker,
/// `Ok(true)` with the marker and the right token, `403` with the marker and no or a wrong
/// token, or with the marker when this node is in no cluster.
pub(crate) fn check_forwarded(
    cluster: Option<&Cluster>,
    headers: &HeaderMap,
) -> Result<bool, RequestError> {
    if !headers.contains_key(FORWARDED_HEADER) {
        return Ok(false);
    }
    match cluster {
        Some(cluster) if cluster.token_matches(headers) => Ok(true),
        Some(_) => Err(RequestError::Forbidden("Bad cluster token".to_owned())),
        None => Err(RequestError::Forbidden("Not a cluster node".to_owned())),
    }
}

/// Compares two byte strings in a time that depends on their lengths only.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret!"));
        assert!(!constant_time_eq(b"", b"x"));
    }

    #[test]
    fn tags_are_read_from_ids_of_20_characters_only() {
        assert_eq!(
            NodeTag::of_sid("abcd0123456789abcdef").map(|t| t.to_string()),
            Some("abcd".into())
        );
        assert_eq!(NodeTag::of_sid("abcd"), None);
        assert_eq!(NodeTag::of_sid("ab/d0123456789abcdef"), None);
        assert_eq!(NodeTag::of_sid("abcé0123456789abcde"), None);
    }
}
