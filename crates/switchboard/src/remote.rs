//! Handles on sockets returned by `fetch_sockets`, possibly on another server.

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use switchboard_adapter::{BroadcastOptions, Room, SocketId, SocketInfo};
use switchboard_proto::socket::Payload;

use crate::namespace::NamespaceInner;
use crate::{BroadcastOperator, EmitError, Handshake};

/// A socket found by `fetch_sockets` (Node's `RemoteSocket`): a snapshot of its id,
/// handshake, rooms and data, and operations that go through the adapter, so they work
/// wherever the socket is.
///
/// ```
/// use switchboard::prelude::*;
/// use switchboard::testing::TestClient;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let io = SocketIo::new(Default::default());
/// io.on_connection(|socket: Socket| async move { socket.set_data(&"ana") });
/// let mut client = TestClient::connect(&io).await?;
/// let sockets = io.fetch_sockets().await?;
/// assert_eq!(sockets[0].id().as_str(), client.id());
/// assert_eq!(sockets[0].data::<String>()?, Some("ana".to_owned()));
/// sockets[0].join("vip").await?;
/// io.to("vip").emit("hello", "vip").await?;
/// assert_eq!(client.recv().await?.data::<String>()?, "vip");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RemoteSocket {
    ns: Arc<NamespaceInner>,
    id: SocketId,
    handshake: Handshake,
    rooms: Vec<Room>,
    data: serde_json::Value,
}

impl std::fmt::Debug for RemoteSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSocket").field("id", &self.id).field("rooms", &self.rooms).finish()
    }
}

impl RemoteSocket {
    pub(crate) fn new(ns: Arc<NamespaceInner>, info: SocketInfo) -> Self {
        let handshake = Handshake::from_json(&info.handshake);
        RemoteSocket { ns, id: info.id, handshake, rooms: info.rooms, data: info.data }
    }

    /// The socket id.
    pub fn id(&self) -> &SocketId {
        &self.id
    }

    /// The handshake.
    pub fn handshake(&self) -> &Handshake {
        &self.handshake
    }

    /// The rooms when fetched.
    pub fn rooms(&self) -> &[Room] {
        &self.rooms
    }

    /// The user data when fetched, as [`crate::Socket::data`] reads it: `Ok(None)` if unset,
    /// an error if it does not fit `T`.
    pub fn data<T: DeserializeOwned>(&self) -> Result<Option<T>, serde_json::Error> {
        if self.data.is_null() { Ok(None) } else { T::deserialize(&self.data).map(Some) }
    }

    fn target(&self) -> BroadcastOptions {
        BroadcastOptions::new().to(self.id.room())
    }

    /// Emits one argument to this socket.
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        BroadcastOperator::new(self.ns.clone(), self.target()).emit(event, data).await
    }

    /// Emits these arguments to this socket.
    pub async fn emit_payload(&self, event: &str, payload: Payload) -> Result<(), EmitError> {
        BroadcastOperator::new(self.ns.clone(), self.target()).emit_payload(event, payload).await
    }

    /// Makes the socket join a room.
    pub async fn join(&self, room: impl Into<Room>) -> Result<(), EmitError> {
        Ok(self.ns.adapter().add_sockets(self.target(), vec![room.into()]).await?)
    }

    /// Makes the socket leave a room.
    pub async fn leave(&self, room: impl Into<Room>) -> Result<(), EmitError> {
        Ok(self.ns.adapter().del_sockets(self.target(), vec![room.into()]).await?)
    }

    /// Disconnects the socket (`close`: its whole connection).
    pub async fn disconnect(&self, close: bool) -> Result<(), EmitError> {
        Ok(self.ns.adapter().disconnect_sockets(self.target(), close).await?)
    }
}
