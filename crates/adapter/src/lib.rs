//! The adapter seam of Switchboard: where room membership lives and how a packet reaches many
//! sockets, on one server or (with a cluster adapter) on many.
//!
//! This crate sits between the Socket.IO server (`switchboard`) and the cluster adapters (such
//! as `switchboard-redis`). It does not depend on the server: the server implements
//! [`LocalNamespace`] (hand out a [`LocalSocket`] per local socket, through which pre-encoded
//! messages are delivered; snapshot a socket, disconnect it) and each namespace owns one
//! [`Adapter`].
//!
//! - The [`Adapter`] trait: add/del/broadcast/broadcast-with-ack/fetch/join/leave/disconnect/
//!   server-side-emit/rooms, Node's `Adapter` API.
//! - The [`BroadcastOptions`]: rooms, except, and flags (local, volatile, compress, broadcast,
//!   timeout).
//! - The [`MemoryAdapter`], the default, for a single process; it supports connection state
//!   recovery (a packet log with [`Offset`]s and saved [`Session`]s, bounded in time and size).
//! - The [`testkit`], the checks every adapter must pass.
//!
//! ```
//! use switchboard_adapter::{BroadcastOptions, MemoryAdapter};
//!
//! let factory = MemoryAdapter::factory();
//! let opts = BroadcastOptions::new().to("room1").except("banned");
//! # let _ = (factory, opts);
//! ```

mod adapter;
mod local;
mod log;
mod members;
mod memory;
mod options;
mod recovery;
mod small_set;
pub mod testkit;

pub use adapter::{Adapter, AdapterError, AdapterFactory, BoxFuture};
pub use local::{
    AckEvent, AckSender, LocalNamespace, LocalSocket, ServerAckSender, SocketHandle, SocketId,
    SocketInfo,
};
pub use memory::MemoryAdapter;
pub use options::{BroadcastFlags, BroadcastOptions};
pub use recovery::{
    MissedPackets, Offset, RecoveryOptions, Session, append_offset, is_recoverable,
};

/// A room name. Every socket is in the room named after its own id.
///
/// ```
/// use switchboard_adapter::{Room, SocketId};
///
/// let room = Room::from("lobby");
/// assert_eq!(room, "lobby");
/// assert_eq!(SocketId::from("abc").room(), Room::from(String::from("abc")));
/// ```
pub type Room = switchboard_proto::Str;

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn memory_adapter_passes_the_testkit() {
        crate::testkit::run(&*crate::MemoryAdapter::factory()).await;
    }
}
