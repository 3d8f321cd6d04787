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
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let client = TestClient::connect(&io).await?;
    /// let sockets = io.fetch_sockets().await?;
    /// assert_eq!(sockets[0].id().as_str(), client.id());
    /// // On this server: a full `Socket` too.
    /// assert!(io.of("/").get_socket(sockets[0].id()).is_some());
    /// # Ok(()) }
    /// ```
    pub fn id(&self) -> &SocketId {
        &self.id
    }

    /// The handshake.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let _ana = TestClient::connect_to(&io, "/", serde_json::json!({"name": "ana"})).await?;
    /// let sockets = io.fetch_sockets().await?;
    /// assert_eq!(sockets[0].handshake().auth["name"], "ana");
    /// assert_eq!(sockets[0].handshake().query.get("EIO").map(String::as_str), Some("4"));
    /// # Ok(()) }
    /// ```
    pub fn handshake(&self) -> &Handshake {
        &self.handshake
    }

    /// The rooms when fetched.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::Room;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move { socket.join("eu") });
    /// let client = TestClient::connect(&io).await?;
    /// let sockets = io.fetch_sockets().await?;
    /// assert!(sockets[0].rooms().contains(&Room::from("eu")));
    /// assert!(sockets[0].rooms().contains(&Room::from(client.id()))); // its own room
    /// sockets[0].join("beta").await?;
    /// assert!(!sockets[0].rooms().contains(&Room::from("beta"))); // a snapshot: fetch again
    /// # Ok(()) }
    /// ```
    pub fn rooms(&self) -> &[Room] {
        &self.rooms
    }

    /// The user data when fetched, as [`crate::Socket::data`] reads it: `Ok(None)` if unset,
    /// an error if it does not fit `T`.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    ///
    /// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    /// struct Player {
    ///     name: String,
    ///     score: u32,
    /// }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.of("/game").on_connection(|socket: Socket| async move {
    ///     socket.set_data(&Player { name: "ana".into(), score: 0 })
    /// });
    /// let _player = TestClient::connect_to(&io, "/game", serde_json::Value::Null).await?;
    /// let _visitor = TestClient::connect(&io).await?; // on `/`: no data set
    /// let players = io.of("/game").fetch_sockets().await?;
    /// assert_eq!(players[0].data::<Player>()?, Some(Player { name: "ana".into(), score: 0 }));
    /// assert!(players[0].data::<u32>().is_err()); // does not fit
    /// assert_eq!(io.fetch_sockets().await?[0].data::<Player>()?, None);
    /// # Ok(()) }
    /// ```
    pub fn data<T: DeserializeOwned>(&self) -> Result<Option<T>, serde_json::Error> {
        if self.data.is_null() { Ok(None) } else { T::deserialize(&self.data).map(Some) }
    }

    fn target(&self) -> BroadcastOptions {
        BroadcastOptions::new().to(self.id.room())
    }

    /// Emits one argument to this socket.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move { socket.join("admins") });
    /// let mut admin = TestClient::connect(&io).await?;
    /// for socket in io.in_("admins").fetch_sockets().await? {
    ///     socket.emit("report", &("ready", 3)).await?; // argument forms as `Socket::emit`
    /// }
    /// assert_eq!(admin.recv().await?.data::<(String, u32)>()?, ("ready".to_owned(), 3));
    /// # Ok(()) }
    /// ```
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        BroadcastOperator::new(self.ns.clone(), self.target()).emit(event, data).await
    }

    /// Emits these arguments to this socket.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let mut client = TestClient::connect(&io).await?;
    /// let mut key = Payload::new();
    /// key.push_binary(vec![9u8; 16]);
    /// io.fetch_sockets().await?[0].emit_payload("key", key).await?;
    /// assert_eq!(&client.recv().await?.payload.attachments()[0][..], [9; 16]);
    /// # Ok(()) }
    /// ```
    pub async fn emit_payload(&self, event: &str, payload: Payload) -> Result<(), EmitError> {
        BroadcastOperator::new(self.ns.clone(), self.target()).emit_payload(event, payload).await
    }

    /// Makes the socket join a room.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let mut client = TestClient::connect(&io).await?;
    /// let socket = &io.fetch_sockets().await?[0];
    /// socket.join("vip").await?;
    /// io.to("vip").emit("offer", "free tea").await?;
    /// assert_eq!(client.recv().await?.data::<String>()?, "free tea");
    /// # Ok(()) }
    /// ```
    pub async fn join(&self, room: impl Into<Room>) -> Result<(), EmitError> {
        Ok(self.ns.adapter().add_sockets(self.target(), vec![room.into()]).await?)
    }

    /// Makes the socket leave a room.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move { socket.join("trial") });
    /// let _client = TestClient::connect(&io).await?;
    /// for socket in io.in_("trial").fetch_sockets().await? {
    ///     socket.leave("trial").await?;
    /// }
    /// assert!(io.in_("trial").fetch_sockets().await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub async fn leave(&self, room: impl Into<Room>) -> Result<(), EmitError> {
        Ok(self.ns.adapter().del_sockets(self.target(), vec![room.into()]).await?)
    }

    /// Disconnects the socket (`close`: its whole connection).
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::{TestClient, TestError};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let mut client = TestClient::connect(&io).await?;
    /// io.fetch_sockets().await?[0].disconnect(false).await?; // leaves `/`, the connection stays
    /// assert!(matches!(client.recv().await, Err(TestError::Disconnected)));
    /// # Ok(()) }
    /// ```
    pub async fn disconnect(&self, close: bool) -> Result<(), EmitError> {
        Ok(self.ns.adapter().disconnect_sockets(self.target(), close).await?)
    }
}
