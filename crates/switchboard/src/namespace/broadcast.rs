//! A [`Namespace`]'s operators: broadcasts, remote socket operations and server-side emits.

use serde::Serialize;
use switchboard_adapter::{BroadcastOptions, Room};
use switchboard_proto::socket::{EventName, Payload};

use super::Namespace;
use crate::{BroadcastOperator, EmitError};

impl Namespace {
    fn op(&self) -> BroadcastOperator {
        BroadcastOperator::new(self.0.clone(), BroadcastOptions::new())
    }

    /// Targets a room.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let chat = io.of("/chat");
    /// chat.on_connection(|socket: Socket| async move { socket.join("general") });
    /// let mut client = TestClient::connect_to(&io, "/chat", serde_json::Value::Null).await?;
    /// chat.to("general").emit("said", "hello").await?;
    /// assert_eq!(client.recv().await?.data::<String>()?, "hello");
    /// # Ok(()) }
    /// ```
    pub fn to(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.op().to(room)
    }

    /// Same as [`Namespace::to`].
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let chat = io.of("/chat");
    /// chat.on_connection(|socket: Socket| async move { socket.join("general") });
    /// let _client = TestClient::connect_to(&io, "/chat", serde_json::Value::Null).await?;
    /// assert_eq!(chat.in_("general").fetch_sockets().await?.len(), 1);
    /// assert!(io.in_("general").fetch_sockets().await?.is_empty()); // another namespace
    /// # Ok(()) }
    /// ```
    pub fn in_(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.op().to(room)
    }

    /// Excludes a room.
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard::prelude::*;
    /// use switchboard::testing::{TestClient, TestError};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let chat = io.of("/chat");
    /// chat.on_connection(|socket: Socket, Data(auth): Data<serde_json::Value>| async move {
    ///     if auth["away"] == true {
    ///         socket.join("away");
    ///     }
    /// });
    /// let mut ana = TestClient::connect_to(&io, "/chat", serde_json::Value::Null).await?;
    /// let away = serde_json::json!({"away": true});
    /// let mut bob = TestClient::connect_to(&io, "/chat", away).await?;
    /// chat.except("away").emit("ping", &()).await?;
    /// assert_eq!(ana.recv().await?.name, "ping");
    /// bob.set_timeout(Duration::from_secs(1));
    /// assert!(matches!(bob.recv().await, Err(TestError::Timeout(_))));
    /// # Ok(()) }
    /// ```
    pub fn except(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.op().except(room)
    }

    /// This server only.
    ///
    /// ```
    /// use switchboard::SocketIo;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let chat = io.of("/chat");
    /// let _client = TestClient::connect_to(&io, "/chat", serde_json::Value::Null).await?;
    /// // This server's sockets only, even with a cluster adapter.
    /// assert_eq!(chat.local().fetch_sockets().await?.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn local(&self) -> BroadcastOperator {
        self.op().local()
    }

    /// May drop the packet for clients that cannot take it now.
    ///
    /// ```
    /// use switchboard::SocketIo;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let game = io.of("/game");
    /// let mut client = TestClient::connect_to(&io, "/game", serde_json::Value::Null).await?;
    /// // Not kept for recovery, and dropped for a client that cannot take it now.
    /// game.volatile().emit("frame", &42).await?;
    /// assert_eq!(client.recv().await?.data::<u32>()?, 42);
    /// # Ok(()) }
    /// ```
    pub fn volatile(&self) -> BroadcastOperator {
        self.op().volatile()
    }

    /// Compression flag.
    ///
    /// ```
    /// use switchboard::SocketIo;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let files = io.of("/files");
    /// let mut client = TestClient::connect_to(&io, "/files", serde_json::Value::Null).await?;
    /// files.compress(false).emit("chunk", "already compressed").await?;
    /// assert_eq!(client.recv().await?.name, "chunk");
    /// # Ok(()) }
    /// ```
    pub fn compress(&self, compress: bool) -> BroadcastOperator {
        self.op().compress(compress)
    }

    /// Ack timeout for [`BroadcastOperator::emit_with_ack`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard::{AckError, SocketIo};
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let poll = io.of("/poll");
    /// let mut client = TestClient::connect_to(&io, "/poll", serde_json::Value::Null).await?;
    /// let vote = tokio::spawn(poll.timeout(Duration::from_secs(10)).emit_with_ack("vote?", &()));
    /// let _question = client.recv().await?; // not answered: the wait ends after 10 s
    /// let Err(AckError::Incomplete { expected, received }) = vote.await? else { panic!() };
    /// assert_eq!((expected, received.len()), (1, 0));
    /// # Ok(()) }
    /// ```
    pub fn timeout(&self, timeout: std::time::Duration) -> BroadcastOperator {
        self.op().timeout(timeout)
    }

    /// Emits to every socket of the namespace.
    ///
    /// ```
    /// use switchboard::SocketIo;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let admin = io.of("/admin");
    /// let mut client = TestClient::connect_to(&io, "/admin", serde_json::Value::Null).await?;
    /// admin.emit("alert", &("disk", 93)).await?; // a tuple: two arguments
    /// assert_eq!(client.recv().await?.data::<(String, u32)>()?, ("disk".to_owned(), 93));
    /// # Ok(()) }
    /// ```
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        self.op().emit(event, data).await
    }

    /// Emits these arguments to every socket of the namespace.
    ///
    /// ```
    /// use switchboard::testing::TestClient;
    /// use switchboard::{Payload, SocketIo};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let files = io.of("/files");
    /// let mut client = TestClient::connect_to(&io, "/files", serde_json::Value::Null).await?;
    /// let mut payload = Payload::new();
    /// payload.push(serde_json::json!("a.bin")).push_binary(vec![1, 2, 3]);
    /// files.emit_payload("file", payload).await?;
    /// let file = client.recv().await?;
    /// assert_eq!(file.payload.args()[0], "a.bin");
    /// assert_eq!(&file.payload.attachments()[0][..], [1, 2, 3]);
    /// # Ok(()) }
    /// ```
    pub async fn emit_payload(&self, event: &str, payload: Payload) -> Result<(), EmitError> {
        self.op().emit_payload(event, payload).await
    }

    /// Snapshots of every socket (cluster-wide with a cluster adapter).
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let chat = io.of("/chat");
    /// chat.on_connection(|socket: Socket| async move { socket.join("general") });
    /// let client = TestClient::connect_to(&io, "/chat", serde_json::Value::Null).await?;
    /// let sockets = chat.fetch_sockets().await?;
    /// assert_eq!(sockets.len(), 1);
    /// assert_eq!(sockets[0].id().as_str(), client.id());
    /// assert!(sockets[0].rooms().contains(&"general".into()));
    /// # Ok(()) }
    /// ```
    pub async fn fetch_sockets(&self) -> Result<Vec<crate::RemoteSocket>, EmitError> {
        self.op().fetch_sockets().await
    }

    /// Makes every socket join `room`.
    ///
    /// ```
    /// use switchboard::SocketIo;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let chat = io.of("/chat");
    /// let mut client = TestClient::connect_to(&io, "/chat", serde_json::Value::Null).await?;
    /// chat.sockets_join("announcements").await?;
    /// chat.to("announcements").emit("news", "v2 is out").await?;
    /// assert_eq!(client.recv().await?.data::<String>()?, "v2 is out");
    /// # Ok(()) }
    /// ```
    pub async fn sockets_join(&self, room: impl Into<Room>) -> Result<(), EmitError> {
        self.op().sockets_join(room).await
    }

    /// Makes every socket leave `room`.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let chat = io.of("/chat");
    /// chat.on_connection(|socket: Socket| async move { socket.join("general") });
    /// let _client = TestClient::connect_to(&io, "/chat", serde_json::Value::Null).await?;
    /// chat.sockets_leave("general").await?;
    /// assert!(chat.in_("general").fetch_sockets().await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub async fn sockets_leave(&self, room: impl Into<Room>) -> Result<(), EmitError> {
        self.op().sockets_leave(room).await
    }

    /// Disconnects every socket.
    ///
    /// ```
    /// use switchboard::SocketIo;
    /// use switchboard::testing::{TestClient, TestError};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let admin = io.of("/admin");
    /// let mut main = TestClient::connect(&io).await?;
    /// let mut boss = TestClient::connect_to(&io, "/admin", serde_json::Value::Null).await?;
    /// admin.disconnect_sockets(false).await?;
    /// assert!(matches!(boss.recv().await, Err(TestError::Disconnected)));
    /// // Other namespaces keep their sockets (`true` would close the whole connections).
    /// io.emit("still", "here").await?;
    /// assert_eq!(main.recv().await?.name, "still");
    /// # Ok(()) }
    /// ```
    pub async fn disconnect_sockets(&self, close: bool) -> Result<(), EmitError> {
        self.op().disconnect_sockets(close).await
    }

    /// Emits to the other servers of the cluster (none with the in-memory adapter).
    ///
    /// ```
    /// use switchboard::SocketIo;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// // The other servers hear it with `on_server_side_emit`; alone, nobody does.
    /// io.of("/chat").server_side_emit("purge", &("general", 100)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn server_side_emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        let payload = crate::args::to_payload(data)?;
        self.0.adapter.server_side_emit(EventName::new(event)?, payload, None).await?;
        Ok(())
    }

    /// Emits to the other servers and collects one answer per server within `timeout`
    /// (Node's `io.timeout(ms).serverSideEmit(ev, data, cb)`); with one server, no answers.
    /// On timeout, [`crate::AckError::Incomplete`] holds the answers that did arrive.
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard::SocketIo;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let timeout = Duration::from_secs(5);
    /// // One answer per other server (each answers in its `on_server_side_emit` listener).
    /// let answers = io.of("/").server_side_emit_with_ack("load?", &(), timeout).await?;
    /// assert!(answers.is_empty()); // the in-memory adapter: no other server
    /// # Ok(()) }
    /// ```
    pub async fn server_side_emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
        timeout: std::time::Duration,
    ) -> Result<Vec<Payload>, crate::AckError> {
        let payload = crate::args::to_payload(data)?;
        let event = EventName::new(event).map_err(EmitError::from)?;
        // Unbounded: one answer per server plus one count; dropped when this returns.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        self.0.adapter.server_side_emit(event, payload, Some(tx)).await.map_err(EmitError::from)?;
        let mut answers = Vec::new();
        let mut expected: Option<usize> = None;
        let collect = async {
            while expected.is_none_or(|n| answers.len() < n) {
                match rx.recv().await {
                    Some(switchboard_adapter::AckEvent::Expected(n)) => {
                        expected = Some(expected.unwrap_or(0) + n)
                    }
                    Some(switchboard_adapter::AckEvent::Response { socket, payload }) => answers
                        .push(crate::SocketAck {
                            socket,
                            response: crate::AckResponse { payload },
                        }),
                    Some(_) => {}
                    None => break,
                }
            }
        };
        let in_time = tokio::time::timeout(timeout, collect).await.is_ok();
        match expected {
            Some(n) if in_time && answers.len() >= n => {
                Ok(answers.into_iter().map(|a| a.response.payload).collect())
            }
            _ => Err(crate::AckError::Incomplete {
                expected: expected.unwrap_or(0),
                received: answers,
            }),
        }
    }

    /// The rooms with at least one socket.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let chat = io.of("/chat");
    /// chat.on_connection(|socket: Socket| async move { socket.join("general") });
    /// let client = TestClient::connect_to(&io, "/chat", serde_json::Value::Null).await?;
    /// let mut rooms: Vec<String> = chat.rooms().await?.iter().map(|r| r.to_string()).collect();
    /// rooms.sort();
    /// let mut expected = vec!["general".to_owned(), client.id().to_owned()];
    /// expected.sort();
    /// assert_eq!(rooms, expected); // each socket's own room included
    /// # Ok(()) }
    /// ```
    pub async fn rooms(&self) -> Result<Vec<Room>, EmitError> {
        Ok(self.0.adapter.rooms().await?)
    }
}
