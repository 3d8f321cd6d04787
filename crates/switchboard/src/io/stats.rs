//! A snapshot of what a server holds: [`SocketIo::stats`].

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use serde::Serialize;

use super::SocketIo;
use crate::EmitError;

/// What a server holds at one moment ([`SocketIo::stats`]), for dashboards and status pages.
/// Serializes to JSON with camelCase names.
///
/// ```
/// use switchboard::prelude::*;
/// use switchboard::testing::TestClient;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let io = SocketIo::new(Default::default());
/// io.of("/chat").on_connection(|socket: Socket| async move { socket.join("lobby") });
/// let _a = TestClient::connect_to(&io, "/chat", serde_json::Value::Null).await?;
/// let _b = TestClient::connect_to(&io, "/chat", serde_json::Value::Null).await?;
/// let stats = io.stats().await?;
/// assert_eq!(stats.clients, 2);
/// assert_eq!(stats.sockets(), 2);
/// assert_eq!(stats.rooms(), 1); // "lobby"; each socket's own room is not counted
/// let json = serde_json::to_value(&stats)?; // "/" first, then "/chat"
/// assert_eq!(json["namespaces"][1], serde_json::json!({ "name": "/chat", "sockets": 2, "rooms": 1 }));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ServerStats {
    /// Open connections (Engine.IO sessions, and the in-process ones of `testing`).
    pub clients: usize,
    /// Every namespace created so far, by name.
    pub namespaces: Vec<NamespaceStats>,
}

/// One namespace in [`ServerStats`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct NamespaceStats {
    /// The namespace's name (`/chat`).
    pub name: String,
    /// Sockets connected to it on this server.
    pub sockets: usize,
    /// Rooms with at least one socket, as its adapter lists them, without each socket's own
    /// room (named after its id).
    pub rooms: usize,
}

impl ServerStats {
    /// Sockets over every namespace.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = switchboard::SocketIo::new(Default::default());
    /// assert_eq!(io.stats().await?.sockets(), 0);
    /// # Ok(()) }
    /// ```
    pub fn sockets(&self) -> usize {
        self.namespaces.iter().map(|n| n.sockets).sum()
    }

    /// Rooms over every namespace (a name in two namespaces counts twice).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = switchboard::SocketIo::new(Default::default());
    /// assert_eq!(io.stats().await?.rooms(), 0);
    /// # Ok(()) }
    /// ```
    pub fn rooms(&self) -> usize {
        self.namespaces.iter().map(|n| n.rooms).sum()
    }
}

impl SocketIo {
    /// What this server holds now: connections, and each namespace's sockets and rooms.
    /// Asks each namespace's adapter for its rooms (which fails only if the adapter does).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = switchboard::SocketIo::new(Default::default());
    /// io.of("/news");
    /// let stats = io.stats().await?;
    /// assert_eq!(stats.clients, 0);
    /// let names: Vec<&str> = stats.namespaces.iter().map(|n| n.name.as_str()).collect();
    /// assert_eq!(names, ["/", "/news"]);
    /// # Ok(()) }
    /// ```
    pub async fn stats(&self) -> Result<ServerStats, EmitError> {
        let mut namespaces = self.namespaces();
        namespaces.sort_by(|a, b| a.name().cmp(b.name()));
        let mut out = Vec::with_capacity(namespaces.len());
        for ns in namespaces {
            let sockets = ns.sockets();
            let own: HashSet<&str> = sockets.iter().map(|s| s.id().as_str()).collect();
            let rooms = ns.rooms().await?;
            let rooms = rooms.iter().filter(|r| !own.contains(r.as_ref())).count();
            out.push(NamespaceStats { name: ns.name().to_owned(), sockets: sockets.len(), rooms });
        }
        Ok(ServerStats { clients: self.inner.live.load(Ordering::SeqCst), namespaces: out })
    }
}
