//! The `Adapter` trait: room membership and everything that reaches several sockets.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};

use switchboard_proto::socket::{EventName, Packet, Payload};

use crate::{
    AckSender, BroadcastOptions, LocalNamespace, MissedPackets, Offset, Room, ServerAckSender,
    Session, SocketId, SocketInfo,
};

/// A boxed future, so that adapters can be used as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why an adapter operation failed.
///
/// ```
/// use std::error::Error;
/// use switchboard_adapter::AdapterError;
///
/// let err = AdapterError::Backend(Box::new(std::io::Error::other("connection reset")));
/// assert_eq!(err.to_string(), "adapter backend failed");
/// assert_eq!(err.source().map(|e| e.to_string()).as_deref(), Some("connection reset"));
/// assert_eq!(AdapterError::NamespaceClosed.to_string(), "namespace closed");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdapterError {
    /// The namespace this adapter serves is gone.
    #[error("namespace closed")]
    NamespaceClosed,
    /// The backend (e.g. a Redis connection) failed.
    #[error("adapter backend failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Room membership and fan-out for one namespace (Node's `Adapter`).
///
/// Room operations on local sockets are synchronous (membership is always kept in this
/// process, as in Node); operations that may span a cluster are asynchronous. A cluster adapter
/// applies them locally and forwards them to the other nodes unless `flags.local` is set.
///
/// Every adapter must pass [`crate::testkit::run`].
///
/// With connection state recovery on ([`LocalNamespace::recovery`] is `Some`), `broadcast`
/// logs every recoverable packet ([`crate::is_recoverable`]), appends its [`Offset`] as the
/// last argument, and delivers it with that offset, in offset order for each socket.
///
/// The server creates one adapter per namespace through an [`AdapterFactory`]; an
/// implementation proves itself against the testkit:
///
/// ```
/// use std::sync::{Arc, Weak};
/// use switchboard_adapter::{Adapter, LocalNamespace, MemoryAdapter, testkit};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let factory =
///     |ns: Weak<dyn LocalNamespace>| -> Arc<dyn Adapter> { Arc::new(MemoryAdapter::new(ns)) };
/// testkit::run(&factory).await;
/// # }
/// ```
pub trait Adapter: Send + Sync + 'static {
    /// Adds a local socket to rooms.
    fn add_all(&self, socket: &SocketId, rooms: &[Room]);
    /// Removes a local socket from one room.
    fn del(&self, socket: &SocketId, room: &Room);
    /// Removes a local socket from every room (it is leaving the namespace).
    fn del_all(&self, socket: &SocketId);
    /// The rooms of a local socket, `None` if the socket is unknown.
    fn socket_rooms(&self, socket: &SocketId) -> Option<Vec<Room>>;
    /// The local sockets matching `opts` (ignoring flags).
    fn local_sockets(&self, opts: &BroadcastOptions) -> Vec<SocketId>;

    /// Every room with at least one socket (including the rooms named after socket ids).
    fn rooms(&self) -> BoxFuture<'_, Result<Vec<Room>, AdapterError>>;
    /// Sends `packet` to every socket matching `opts`, encoding it once.
    fn broadcast(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<(), AdapterError>>;
    /// Sends `packet` with an ack id to every socket matching `opts`. Sends
    /// [`crate::AckEvent::Expected`] with the number of sockets reached (once per node), then
    /// one [`crate::AckEvent::Response`] per answer, to `responses`.
    fn broadcast_with_ack(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
        responses: AckSender,
    ) -> BoxFuture<'_, Result<(), AdapterError>>;
    /// Snapshots of the sockets matching `opts`.
    fn fetch_sockets(
        &self,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<Vec<SocketInfo>, AdapterError>>;
    /// Makes the sockets matching `opts` join `rooms`.
    fn add_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<Room>,
    ) -> BoxFuture<'_, Result<(), AdapterError>>;
    /// Makes the sockets matching `opts` leave `rooms`.
    fn del_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<Room>,
    ) -> BoxFuture<'_, Result<(), AdapterError>>;
    /// Disconnects the sockets matching `opts` (`close`: close their connections too).
    fn disconnect_sockets(
        &self,
        opts: BroadcastOptions,
        close: bool,
    ) -> BoxFuture<'_, Result<(), AdapterError>>;
    /// Emits an event to the *other* servers of the cluster. With `ack`, each other server's
    /// answer arrives there, after an [`crate::AckEvent::Expected`] with the number of servers.
    fn server_side_emit(
        &self,
        event: EventName,
        payload: Payload,
        ack: Option<ServerAckSender>,
    ) -> BoxFuture<'_, Result<(), AdapterError>>;
    /// The number of servers in the cluster (1 for a single process).
    fn server_count(&self) -> BoxFuture<'_, Result<usize, AdapterError>>;
    /// Whether this adapter implements connection state recovery (the three methods below).
    /// The default is false, and the defaults of those methods keep nothing.
    fn supports_recovery(&self) -> bool {
        false
    }
    /// Saves the session of a socket that dropped, for
    /// [`crate::RecoveryOptions::max_disconnection_duration`] (Node's `persistSession`).
    fn persist_session(&self, session: Session) -> BoxFuture<'_, Result<(), AdapterError>> {
        let _ = session;
        Box::pin(async { Ok(()) })
    }
    /// Takes the saved session `pid` out of the store: `None` if unknown or expired. A
    /// session is restored once; the restored socket saves it again when it drops.
    fn take_session(&self, pid: &str) -> BoxFuture<'_, Result<Option<Session>, AdapterError>> {
        let _ = pid;
        Box::pin(async { Ok(None) })
    }
    /// The logged packets after `after` that a socket in `rooms` would have received, in
    /// order, each with its offset (already appended as the packet's last argument). `None`
    /// when recovery is impossible: `after` is unknown, or packets after it were dropped (too
    /// old or past the cap). With `restore_session`, this is Node's `restoreSession`.
    fn missed_packets(
        &self,
        after: &Offset,
        rooms: &[Room],
    ) -> BoxFuture<'_, Result<Option<MissedPackets>, AdapterError>> {
        let _ = (after, rooms);
        Box::pin(async { Ok(None) })
    }
    /// Releases resources (subscriptions, connections). The default does nothing.
    fn close(&self) -> BoxFuture<'_, Result<(), AdapterError>> {
        Box::pin(async { Ok(()) })
    }
}

/// Creates the adapter of each namespace (Node's `adapter` option).
///
/// Any `Fn(Weak<dyn LocalNamespace>) -> Arc<dyn Adapter>` is a factory.
///
/// ```
/// use std::sync::{Arc, Weak};
/// use switchboard_adapter::{Adapter, AdapterFactory, LocalNamespace, MemoryAdapter, testkit};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let factory: Arc<dyn AdapterFactory> =
///     Arc::new(|ns: Weak<dyn LocalNamespace>| -> Arc<dyn Adapter> {
///         Arc::new(MemoryAdapter::new(ns))
///     });
/// testkit::membership(&*factory).await;
/// # }
/// ```
pub trait AdapterFactory: Send + Sync + 'static {
    /// The adapter of a new namespace. It must hold the namespace weakly.
    fn create(&self, namespace: Weak<dyn LocalNamespace>) -> Arc<dyn Adapter>;
}

impl<F> AdapterFactory for F
where
    F: Fn(Weak<dyn LocalNamespace>) -> Arc<dyn Adapter> + Send + Sync + 'static,
{
    fn create(&self, namespace: Weak<dyn LocalNamespace>) -> Arc<dyn Adapter> {
        self(namespace)
    }
}
