//! Emitting to one socket, and the broadcast operators that start from it.

use std::time::Duration;

use serde::Serialize;
use switchboard_adapter::{BroadcastOptions, Room};
use switchboard_proto::socket::Payload;

use super::{AckFuture, Socket};
use crate::emitter::SocketEmitter;
use crate::{BroadcastOperator, EmitError};

impl Socket {
    /// Emits `event` with `data` to this client.
    ///
    /// The argument forms, the same for every emit, broadcast and ack: a tuple spreads into
    /// arguments (`&("a", 1)` is the client's `(a, b) => ..`), `&()` is no argument, anything
    /// else is one argument (a `Vec` is one array). Binary placeholders in `data` (the data
    /// of a binary event, read as JSON) are sent with their attachments when this runs in
    /// that event's handler, else refused ([`EmitError::UnresolvedPlaceholder`]). For binary
    /// of your own, build a [`Payload`] and use [`Socket::emit_payload`].
    ///
    /// Reserved names (`connect`, `disconnect`, ...) are refused.
    ///
    /// ```
    /// use serde_json::json;
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.emit("hello", "world")?; // socket.on("hello", (s) => ..)
    ///     socket.emit("move", &(3, 4))?; // socket.on("move", (x, y) => ..)
    ///     socket.emit("list", &vec![1, 2])?; // socket.on("list", (arr) => ..)
    ///     socket.emit("ping", &()) // socket.on("ping", () => ..)
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// assert_eq!(client.recv().await?.payload.args(), [json!("world")]);
    /// assert_eq!(client.recv().await?.payload.args(), [json!(3), json!(4)]);
    /// assert_eq!(client.recv().await?.payload.args(), [json!([1, 2])]);
    /// assert!(client.recv().await?.payload.args().is_empty());
    /// # Ok(()) }
    /// ```
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        self.emitter().emit(event, data)
    }

    /// Emits `event` with these arguments (several, none, or binary) to this client.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     let mut file = Payload::new();
    ///     file.push(serde_json::json!("avatar.png")).push_binary(vec![1u8, 2, 3]);
    ///     socket.emit_payload("file", file) // socket.on("file", (name, bytes) => ..)
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// let file = client.recv().await?;
    /// // The bytes are a placeholder in the arguments.
    /// let (name, bytes): (String, serde_json::Value) = file.data()?;
    /// assert_eq!(name, "avatar.png");
    /// assert_eq!(file.payload.binary(&bytes).map(|b| b.to_vec()), Some(vec![1, 2, 3]));
    /// # Ok(()) }
    /// ```
    pub fn emit_payload(&self, event: &str, payload: Payload) -> Result<(), EmitError> {
        self.emitter().emit_payload(event, payload)
    }

    /// Emits `data` (at once; argument forms as [`Socket::emit`]) and returns a future of the
    /// client's answer (no timeout; see [`Socket::timeout`]).
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     // Client: socket.on("add", (a, b, callback) => callback(a + b))
    ///     let sum = socket.emit_with_ack("add", &(2, 3)).await?.data::<i32>()?;
    ///     socket.emit("sum", &sum)?;
    ///     Ok::<_, HandlerError>(())
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// let add = client.recv().await?;
    /// let (a, b) = add.data::<(i32, i32)>()?;
    /// client.ack(&add, &(a + b))?;
    /// assert_eq!(client.recv().await?.data::<i32>()?, 5);
    /// # Ok(()) }
    /// ```
    pub fn emit_with_ack<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> AckFuture {
        self.emitter().emit_with_ack(event, data)
    }

    /// Emits these arguments and waits for the client's answer (sent at once).
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     let mut chunk = Payload::new();
    ///     chunk.push(serde_json::json!(0)).push_binary(vec![0u8; 16]);
    ///     let answer = socket.emit_payload_with_ack("chunk", chunk).await?;
    ///     socket.emit("stored", &answer.data::<usize>()?)?;
    ///     Ok::<_, HandlerError>(())
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// let chunk = client.recv().await?;
    /// client.ack(&chunk, &chunk.payload.attachments()[0].len())?;
    /// assert_eq!(client.recv().await?.data::<usize>()?, 16);
    /// # Ok(()) }
    /// ```
    pub fn emit_payload_with_ack(&self, event: &str, payload: Payload) -> AckFuture {
        self.emitter().emit_payload_with_ack(event, payload)
    }

    fn emitter(&self) -> SocketEmitter {
        SocketEmitter { socket: self.clone(), volatile: false, timeout: None }
    }

    /// Emits to this socket with a timeout on the ack.
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard::AckError;
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     let answer = socket.timeout(Duration::from_secs(10)).emit_with_ack("there?", &()).await;
    ///     socket.emit("timed out", &matches!(answer, Err(AckError::Timeout)))
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// client.set_timeout(Duration::from_secs(60));
    /// let _unanswered = client.recv().await?;
    /// assert!(client.recv().await?.data::<bool>()?); // after 10 s of paused time: at once
    /// # Ok(()) }
    /// ```
    pub fn timeout(&self, timeout: Duration) -> SocketEmitter {
        self.emitter().timeout(timeout)
    }

    /// Emits to this socket, dropping the packet if the connection cannot take it now.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on("where", |s: Socket| async move {
    ///         // A position is stale when late: not queued behind a busy connection.
    ///         s.volatile().emit("position", &(3, 4))
    ///     })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// client.emit("where", &())?;
    /// assert_eq!(client.recv().await?.data::<(i32, i32)>()?, (3, 4));
    /// # Ok(()) }
    /// ```
    pub fn volatile(&self) -> SocketEmitter {
        self.emitter().volatile()
    }

    /// Emits to this socket; compression is left to the engine.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.compress(false).emit("hello", "world")
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// assert_eq!(client.recv().await?.data::<String>()?, "world");
    /// # Ok(()) }
    /// ```
    pub fn compress(&self, compress: bool) -> SocketEmitter {
        self.emitter().compress(compress)
    }

    /// Broadcasts to `room`, except this socket.
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard::prelude::*;
    /// use switchboard::testing::{TestClient, TestError};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.join("tea");
    ///     socket.on("say", |s: Socket, Data(text): Data<String>| async move {
    ///         s.to("tea").emit("said", &text).await
    ///     })
    /// });
    /// let mut ana = TestClient::connect(&io).await?;
    /// let mut bob = TestClient::connect(&io).await?;
    /// ana.emit("say", "hi")?;
    /// assert_eq!(bob.recv().await?.data::<String>()?, "hi");
    /// ana.set_timeout(Duration::from_secs(1));
    /// assert!(matches!(ana.recv().await, Err(TestError::Timeout(_)))); // not to the sender
    /// # Ok(()) }
    /// ```
    pub fn to(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.broadcast().to(room)
    }

    /// Same as [`Socket::to`].
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.join("tea");
    ///     socket.on("say", |s: Socket, Data(text): Data<String>| async move {
    ///         s.in_("tea").emit("said", &text).await
    ///     })
    /// });
    /// let ana = TestClient::connect(&io).await?;
    /// let mut bob = TestClient::connect(&io).await?;
    /// ana.emit("say", "hi")?;
    /// assert_eq!(bob.recv().await?.data::<String>()?, "hi");
    /// # Ok(()) }
    /// ```
    pub fn in_(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.to(room)
    }

    /// Broadcasts to everyone but this socket and sockets in `room`.
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
    ///     socket.on("say", |s: Socket, Data(text): Data<String>| async move {
    ///         s.except("muted").emit("said", &text).await
    ///     })
    /// });
    /// let ana = TestClient::connect(&io).await?;
    /// let mut bob = TestClient::connect(&io).await?;
    /// let mut eve = TestClient::connect_to(&io, "/", serde_json::json!({"muted": true})).await?;
    /// ana.emit("say", "hi")?;
    /// assert_eq!(bob.recv().await?.data::<String>()?, "hi");
    /// eve.set_timeout(Duration::from_secs(1));
    /// assert!(matches!(eve.recv().await, Err(TestError::Timeout(_))));
    /// # Ok(()) }
    /// ```
    pub fn except(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.broadcast().except(room)
    }

    /// Broadcasts to everyone in the namespace but this socket.
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard::prelude::*;
    /// use switchboard::testing::{TestClient, TestError};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.broadcast().emit("joined", socket.id().as_str()).await
    /// });
    /// let mut ana = TestClient::connect(&io).await?;
    /// let bob = TestClient::connect(&io).await?;
    /// assert_eq!(ana.recv().await?.data::<String>()?, bob.id());
    /// ana.set_timeout(Duration::from_secs(1));
    /// assert!(matches!(ana.recv().await, Err(TestError::Timeout(_)))); // not of its own arrival
    /// # Ok(()) }
    /// ```
    pub fn broadcast(&self) -> BroadcastOperator {
        let mut opts = BroadcastOptions::new().except(self.id().room());
        opts.flags.broadcast = true;
        BroadcastOperator::new(self.0.ns.clone(), opts)
    }

    /// Broadcast operators on this server only, except this socket.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on("typing", |s: Socket| async move {
    ///         // Not worth a trip through the cluster adapter: this server's sockets only.
    ///         s.local().emit("typing", s.id().as_str()).await
    ///     })
    /// });
    /// let ana = TestClient::connect(&io).await?;
    /// let mut bob = TestClient::connect(&io).await?;
    /// ana.emit("typing", &())?;
    /// assert_eq!(bob.recv().await?.data::<String>()?, ana.id());
    /// # Ok(()) }
    /// ```
    pub fn local(&self) -> BroadcastOperator {
        self.broadcast().local()
    }
}
