//! The server-wide operators of [`SocketIo`]: broadcasts and remote socket operations on the
//! main namespace.

use std::time::Duration;

use serde::Serialize;
use switchboard_adapter::Room;
use switchboard_proto::socket::Payload;

use super::SocketIo;
use crate::{BroadcastOperator, EmitError, RemoteSocket};

impl SocketIo {
    /// Targets a room of the main namespace.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move { socket.join("news") });
    /// let mut client = TestClient::connect(&io).await?;
    /// io.to("news").emit("headline", "hello").await?;
    /// assert_eq!(client.recv().await?.data::<String>()?, "hello");
    /// # Ok(()) }
    /// ```
    pub fn to(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.main().to(room)
    }

    /// Same as [`SocketIo::to`].
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move { socket.join("news") });
    /// let _client = TestClient::connect(&io).await?;
    /// assert_eq!(io.in_("news").fetch_sockets().await?.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn in_(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.main().to(room)
    }

    /// Excludes a room of the main namespace.
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard::prelude::*;
    /// use switchboard::testing::{TestClient, TestError};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket, Data(auth): Data<serde_json::Value>| async move {
    ///     if auth["muted"] == true {
    ///         socket.join("muted");
    ///     }
    /// });
    /// let mut ana = TestClient::connect(&io).await?;
    /// let mut eve = TestClient::connect_to(&io, "/", serde_json::json!({"muted": true})).await?;
    /// io.except("muted").emit("news", "hello").await?;
    /// assert_eq!(ana.recv().await?.data::<String>()?, "hello");
    /// eve.set_timeout(Duration::from_secs(1));
    /// assert!(matches!(eve.recv().await, Err(TestError::Timeout(_))));
    /// # Ok(()) }
    /// ```
    pub fn except(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.main().except(room)
    }

    /// This server only.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let mut client = TestClient::connect(&io).await?;
    /// // With a cluster adapter, the other servers' sockets do not get it.
    /// io.local().emit("hello", "from this server").await?;
    /// assert_eq!(client.recv().await?.data::<String>()?, "from this server");
    /// # Ok(()) }
    /// ```
    pub fn local(&self) -> BroadcastOperator {
        self.main().local()
    }

    /// May drop the packet for clients that cannot take it now.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let mut client = TestClient::connect(&io).await?;
    /// // A position update: a client that cannot take it now misses it, the next one follows.
    /// io.volatile().emit("position", &(10, 20)).await?;
    /// assert_eq!(client.recv().await?.data::<(i32, i32)>()?, (10, 20));
    /// # Ok(()) }
    /// ```
    pub fn volatile(&self) -> BroadcastOperator {
        self.main().volatile()
    }

    /// Compression flag.
    ///
    /// ```
    /// use switchboard::SocketIo;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let uncompressed = io.compress(false);
    /// assert!(!uncompressed.options().flags.compress);
    /// uncompressed.emit("tick", &1).await?;
    /// # Ok(()) }
    /// ```
    pub fn compress(&self, compress: bool) -> BroadcastOperator {
        self.main().compress(compress)
    }

    /// Ack timeout for broadcasts with ack.
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let mut client = TestClient::connect(&io).await?;
    /// let answers = tokio::spawn(io.timeout(Duration::from_secs(5)).emit_with_ack("ready?", &()));
    /// let question = client.recv().await?;
    /// client.ack(&question, "yes")?;
    /// let answers = answers.await??;
    /// assert_eq!(answers[0].response.data::<String>()?, "yes");
    /// # Ok(()) }
    /// ```
    pub fn timeout(&self, timeout: Duration) -> BroadcastOperator {
        self.main().timeout(timeout)
    }

    /// Emits to every socket of the main namespace.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let (mut a, mut b) = (TestClient::connect(&io).await?, TestClient::connect(&io).await?);
    /// io.emit("news", "hello").await?;
    /// assert_eq!(a.recv().await?.data::<String>()?, "hello");
    /// assert_eq!(b.recv().await?.data::<String>()?, "hello");
    /// # Ok(()) }
    /// ```
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        self.main().emit(event, data).await
    }

    /// Emits these arguments to every socket of the main namespace.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let mut client = TestClient::connect(&io).await?;
    /// let mut payload = Payload::new();
    /// payload.push(serde_json::json!("logo.png")).push_binary(vec![0x89, 0x50]);
    /// io.emit_payload("file", payload).await?;
    /// let file = client.recv().await?;
    /// assert_eq!(&file.payload.attachments()[0][..], [0x89, 0x50]);
    /// # Ok(()) }
    /// ```
    pub async fn emit_payload(&self, event: &str, payload: Payload) -> Result<(), EmitError> {
        self.main().emit_payload(event, payload).await
    }

    /// Every socket of the main namespace.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move { socket.set_data(&"ana") });
    /// let client = TestClient::connect(&io).await?;
    /// let sockets = io.fetch_sockets().await?;
    /// assert_eq!(sockets[0].id().as_str(), client.id());
    /// assert_eq!(sockets[0].data::<String>()?.as_deref(), Some("ana"));
    /// # Ok(()) }
    /// ```
    pub async fn fetch_sockets(&self) -> Result<Vec<RemoteSocket>, EmitError> {
        self.main().fetch_sockets().await
    }

    /// Makes every socket of the main namespace join `room`.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let mut client = TestClient::connect(&io).await?;
    /// io.sockets_join("everyone").await?;
    /// io.to("everyone").emit("hello", "all").await?;
    /// assert_eq!(client.recv().await?.data::<String>()?, "all");
    /// # Ok(()) }
    /// ```
    pub async fn sockets_join(&self, room: impl Into<Room>) -> Result<(), EmitError> {
        self.main().sockets_join(room).await
    }

    /// Makes every socket of the main namespace leave `room`.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move { socket.join("lobby") });
    /// let _client = TestClient::connect(&io).await?;
    /// io.sockets_leave("lobby").await?;
    /// assert!(io.in_("lobby").fetch_sockets().await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub async fn sockets_leave(&self, room: impl Into<Room>) -> Result<(), EmitError> {
        self.main().sockets_leave(room).await
    }

    /// Disconnects every socket of the main namespace.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::{TestClient, TestError};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let mut client = TestClient::connect(&io).await?;
    /// io.disconnect_sockets(false).await?; // `true` closes the connections too
    /// assert!(matches!(client.recv().await, Err(TestError::Disconnected)));
    /// assert!(io.fetch_sockets().await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub async fn disconnect_sockets(&self, close: bool) -> Result<(), EmitError> {
        self.main().disconnect_sockets(close).await
    }

    /// Emits to the other servers of the cluster.
    ///
    /// ```
    /// use switchboard::SocketIo;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// // Another server of the cluster listens with `io.of("/").on_server_side_emit(..)`; with
    /// // the in-memory adapter there is no other server, and nothing is sent.
    /// io.server_side_emit("cache-invalidate", "users").await?;
    /// # Ok(()) }
    /// ```
    pub async fn server_side_emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        self.main().server_side_emit(event, data).await
    }
}
