//! Broadcast operators: `to`, `in`, `except`, `local`, `volatile`, `compress`, `timeout`.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use switchboard_adapter::{AckEvent, BroadcastOptions, Room};
use switchboard_proto::socket::{EventName, Packet, Payload};
use tokio::sync::mpsc;

use crate::namespace::NamespaceInner;
use crate::{AckError, AckResponse, EmitError, RemoteSocket, SocketAck};

/// A set of target sockets and flags; `emit` sends to them through the adapter, encoding the
/// packet once for all recipients.
///
/// ```
/// use std::time::Duration;
/// use switchboard::prelude::*;
/// use switchboard::testing::TestClient;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let io = SocketIo::new(Default::default());
/// io.on_connection(|socket: Socket, Data(auth): Data<serde_json::Value>| async move {
///     socket.join(auth["room"].as_str().unwrap_or("none").to_owned())
/// });
/// let mut a = TestClient::connect_to(&io, "/", serde_json::json!({"room": "room1"})).await?;
/// let mut b = TestClient::connect_to(&io, "/", serde_json::json!({"room": "room2"})).await?;
/// io.to("room1").except("room2").emit("news", "hello").await?;
/// assert_eq!(a.recv().await?.data::<String>()?, "hello");
///
/// // One answer per socket reached.
/// let answers = tokio::spawn(io.timeout(Duration::from_secs(5)).emit_with_ack("ping", &1));
/// for client in [&mut a, &mut b] {
///     let ping = client.recv().await?;
///     client.ack(&ping, "pong")?;
/// }
/// assert_eq!(answers.await??.len(), 2);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct BroadcastOperator {
    ns: Arc<NamespaceInner>,
    opts: BroadcastOptions,
}

impl std::fmt::Debug for BroadcastOperator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BroadcastOperator").field("opts", &self.opts).finish()
    }
}

impl BroadcastOperator {
    pub(crate) fn new(ns: Arc<NamespaceInner>, opts: BroadcastOptions) -> Self {
        BroadcastOperator { ns, opts }
    }

    /// The options this operator will use.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::Room;
    ///
    /// let io = SocketIo::new(Default::default());
    /// let news = io.to("news").except("banned").volatile();
    /// assert!(news.options().rooms.contains(&Room::from("news")));
    /// assert!(news.options().except.contains(&Room::from("banned")));
    /// assert!(news.options().flags.volatile && !news.options().flags.local);
    /// ```
    pub fn options(&self) -> &BroadcastOptions {
        &self.opts
    }

    /// Adds a target room.
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard::prelude::*;
    /// use switchboard::testing::{TestClient, TestError};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket, Data(auth): Data<serde_json::Value>| async move {
    ///     socket.join(auth["room"].as_str().unwrap_or("lobby").to_owned())
    /// });
    /// let mut eu = TestClient::connect_to(&io, "/", serde_json::json!({"room": "eu"})).await?;
    /// let mut us = TestClient::connect_to(&io, "/", serde_json::json!({"room": "us"})).await?;
    /// let mut asia = TestClient::connect_to(&io, "/", serde_json::json!({"room": "asia"})).await?;
    /// io.to("eu").to("us").emit("news", "hello").await?; // sockets in either room
    /// assert_eq!(eu.recv().await?.data::<String>()?, "hello");
    /// assert_eq!(us.recv().await?.data::<String>()?, "hello");
    /// asia.set_timeout(Duration::from_secs(1));
    /// assert!(matches!(asia.recv().await, Err(TestError::Timeout(_))));
    /// # Ok(()) }
    /// ```
    pub fn to(mut self, room: impl Into<Room>) -> Self {
        self.opts.rooms.insert(room.into());
        self
    }

    /// Same as [`BroadcastOperator::to`].
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move { socket.join("us") });
    /// let mut client = TestClient::connect(&io).await?;
    /// io.in_("eu").in_("us").emit("news", "hello").await?;
    /// assert_eq!(client.recv().await?.data::<String>()?, "hello");
    /// # Ok(()) }
    /// ```
    pub fn in_(self, room: impl Into<Room>) -> Self {
        self.to(room)
    }

    /// Adds target rooms.
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard::prelude::*;
    /// use switchboard::testing::{TestClient, TestError};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket, Data(rooms): Data<serde_json::Value>| async move {
    ///     let rooms = rooms["rooms"].as_array().into_iter().flatten();
    ///     socket.join_all(rooms.filter_map(|r| r.as_str()));
    ///     // To everyone who shares a room with the sender (the sender excepted).
    ///     socket.on("say", |s: Socket, Data(text): Data<String>| async move {
    ///         s.broadcast().to_all(s.rooms()).emit("said", &text).await
    ///     })
    /// });
    /// let connect =
    ///     |rooms: &[&str]| TestClient::connect_to(&io, "/", serde_json::json!({"rooms": rooms}));
    /// let ana = connect(&["eu", "us"]).await?;
    /// let mut bob = connect(&["us"]).await?;
    /// let mut eve = connect(&["asia"]).await?;
    /// ana.emit("say", "hi")?;
    /// assert_eq!(bob.recv().await?.data::<String>()?, "hi");
    /// eve.set_timeout(Duration::from_secs(1));
    /// assert!(matches!(eve.recv().await, Err(TestError::Timeout(_))));
    /// # Ok(()) }
    /// ```
    pub fn to_all<R: Into<Room>>(mut self, rooms: impl IntoIterator<Item = R>) -> Self {
        self.opts.rooms.extend(rooms.into_iter().map(Into::into));
        self
    }

    /// Excludes the sockets of a room.
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard::prelude::*;
    /// use switchboard::testing::{TestClient, TestError};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket, Data(auth): Data<serde_json::Value>| async move {
    ///     socket.join("players");
    ///     if auth["banned"] == true {
    ///         socket.join("banned");
    ///     }
    /// });
    /// let mut ana = TestClient::connect(&io).await?;
    /// let mut eve = TestClient::connect_to(&io, "/", serde_json::json!({"banned": true})).await?;
    /// io.to("players").except("banned").emit("prize", &100).await?;
    /// assert_eq!(ana.recv().await?.data::<u32>()?, 100);
    /// eve.set_timeout(Duration::from_secs(1));
    /// assert!(matches!(eve.recv().await, Err(TestError::Timeout(_))));
    /// # Ok(()) }
    /// ```
    pub fn except(mut self, room: impl Into<Room>) -> Self {
        self.opts.except.insert(room.into());
        self
    }

    /// Only this server's sockets.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let mut client = TestClient::connect(&io).await?;
    /// // Not sent to the other servers of a cluster adapter: this server's sockets only.
    /// let local = io.to(client.id().to_owned()).local();
    /// assert!(local.options().flags.local);
    /// local.emit("hello", "from this server").await?;
    /// assert_eq!(client.recv().await?.data::<String>()?, "from this server");
    /// # Ok(()) }
    /// ```
    pub fn local(mut self) -> Self {
        self.opts.flags.local = true;
        self
    }

    /// Drop the packet for clients that cannot take it now.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let mut client = TestClient::connect(&io).await?;
    /// // A clock tick: useless when late, so dropped for a client that cannot take it now.
    /// io.volatile().emit("tick", &1).await?;
    /// assert_eq!(client.recv().await?.data::<u32>()?, 1);
    /// # Ok(()) }
    /// ```
    pub fn volatile(mut self) -> Self {
        self.opts.flags.volatile = true;
        self
    }

    /// Compression flag (passed to the adapter; the engine decides compression).
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let mut client = TestClient::connect(&io).await?;
    /// let uncompressed = io.to(client.id().to_owned()).compress(false);
    /// assert!(!uncompressed.options().flags.compress); // cluster adapters pass it on
    /// uncompressed.emit("hello", "world").await?;
    /// assert_eq!(client.recv().await?.data::<String>()?, "world");
    /// # Ok(()) }
    /// ```
    pub fn compress(mut self, compress: bool) -> Self {
        self.opts.flags.compress = compress;
        self
    }

    /// How long [`BroadcastOperator::emit_with_ack`] waits.
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard::AckError;
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let mut ana = TestClient::connect(&io).await?;
    /// let mut bob = TestClient::connect(&io).await?;
    /// let answers = tokio::spawn(io.timeout(Duration::from_secs(5)).emit_with_ack("ready?", &()));
    /// let question = ana.recv().await?;
    /// ana.ack(&question, &true)?;
    /// let _unanswered = bob.recv().await?;
    /// // After 5 s (of paused time: at once), the answers that came.
    /// let outcome = answers.await?;
    /// let Err(AckError::Incomplete { received, expected }) = outcome else { panic!("complete") };
    /// assert_eq!((received.len(), expected), (1, 2));
    /// # Ok(()) }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.opts.flags.timeout = Some(timeout);
        self
    }

    /// Emits `data` (see [`crate::Socket::emit`] for the argument forms).
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move { socket.join("scores") });
    /// let mut client = TestClient::connect(&io).await?;
    /// io.to("scores").emit("score", &("ana", 3)).await?; // two arguments
    /// assert_eq!(client.recv().await?.data::<(String, u32)>()?, ("ana".to_owned(), 3));
    /// # Ok(()) }
    /// ```
    pub async fn emit<T: Serialize + ?Sized>(self, event: &str, data: &T) -> Result<(), EmitError> {
        let payload = crate::args::to_payload(data)?;
        self.emit_payload(event, payload).await
    }

    /// Emits these arguments (several, none, or binary).
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move { socket.join("viewers") });
    /// let mut client = TestClient::connect(&io).await?;
    /// let mut frame = Payload::new();
    /// frame.push(serde_json::json!(1)).push_binary(vec![0u8; 8]); // frame number, then the bytes
    /// io.to("viewers").emit_payload("frame", frame).await?;
    /// let received = client.recv().await?;
    /// assert_eq!(received.payload.args()[0], 1);
    /// assert_eq!(received.payload.attachments()[0].len(), 8);
    /// # Ok(()) }
    /// ```
    pub async fn emit_payload(self, event: &str, payload: Payload) -> Result<(), EmitError> {
        let packet = Packet::event(self.ns.name_str(), EventName::new(event)?, payload);
        crate::metrics::broadcast();
        self.ns.adapter().broadcast(packet, self.opts).await?;
        Ok(())
    }

    /// Emits `data` (see [`crate::Socket::emit`] for the argument forms) and collects one answer
    /// per reached socket (Node's `io.timeout(ms).emit(ev, data, cb)`). Without a timeout it
    /// waits until every reached socket answered or left; if one left, the result is
    /// [`AckError::Incomplete`] with the answers received.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move { socket.join("voters") });
    /// let mut ana = TestClient::connect(&io).await?;
    /// let mut bob = TestClient::connect(&io).await?;
    /// let poll = tokio::spawn(io.to("voters").emit_with_ack("vote", "tea or coffee?"));
    /// for (client, vote) in [(&mut ana, "tea"), (&mut bob, "coffee")] {
    ///     let question = client.recv().await?;
    ///     client.ack(&question, vote)?;
    /// }
    /// let mut votes = poll.await?? // no timeout: ends when every socket reached has answered
    ///     .iter()
    ///     .map(|answer| answer.response.data::<String>())
    ///     .collect::<Result<Vec<_>, _>>()?;
    /// votes.sort();
    /// assert_eq!(votes, ["coffee", "tea"]);
    /// # Ok(()) }
    /// ```
    pub async fn emit_with_ack<T: Serialize + ?Sized>(
        self,
        event: &str,
        data: &T,
    ) -> Result<Vec<SocketAck>, AckError> {
        let payload = crate::args::to_payload(data)?;
        self.emit_payload_with_ack(event, payload).await
    }

    /// Emits these arguments and collects one answer per reached socket.
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let mut client = TestClient::connect(&io).await?;
    /// let mut update = Payload::new();
    /// update.push(serde_json::json!("v2")).push_binary(vec![0u8; 32]);
    /// let operator = io.timeout(Duration::from_secs(5));
    /// let install = tokio::spawn(operator.emit_payload_with_ack("update", update));
    /// let received = client.recv().await?;
    /// client.ack(&received, &received.payload.attachments()[0].len())?;
    /// let answers = install.await??;
    /// assert_eq!(answers[0].response.data::<usize>()?, 32);
    /// # Ok(()) }
    /// ```
    pub async fn emit_payload_with_ack(
        self,
        event: &str,
        payload: Payload,
    ) -> Result<Vec<SocketAck>, AckError> {
        let event = EventName::new(event).map_err(EmitError::from)?;
        let packet = Packet::event(self.ns.name_str(), event, payload);
        let timeout = self.opts.flags.timeout;
        // Unbounded: at most one answer per recipient plus one count per server; the
        // receiver is dropped when this function returns, which releases every sender.
        let (tx, rx) = mpsc::unbounded_channel();
        self.ns
            .adapter()
            .broadcast_with_ack(packet, self.opts, tx)
            .await
            .map_err(EmitError::from)?;
        let collect = collect(rx);
        let mut received = Vec::new();
        let mut expected = 0;
        let outcome = match timeout {
            Some(t) => {
                tokio::time::timeout(t, collect.run(&mut received, &mut expected)).await.ok()
            }
            None => Some(collect.run(&mut received, &mut expected).await),
        };
        match outcome {
            Some(true) => Ok(received),
            _ => Err(AckError::Incomplete { received, expected }),
        }
    }

    /// Snapshots of the target sockets, usable as handles.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::Room;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket, Data(auth): Data<serde_json::Value>| async move {
    ///     if auth["admin"] == true {
    ///         socket.join("admins");
    ///     }
    /// });
    /// let admin = TestClient::connect_to(&io, "/", serde_json::json!({"admin": true})).await?;
    /// let _user = TestClient::connect(&io).await?;
    /// let admins = io.in_("admins").fetch_sockets().await?;
    /// assert_eq!(admins.len(), 1);
    /// assert_eq!(admins[0].id().as_str(), admin.id());
    /// assert!(admins[0].rooms().contains(&Room::from("admins")));
    /// # Ok(()) }
    /// ```
    pub async fn fetch_sockets(self) -> Result<Vec<RemoteSocket>, EmitError> {
        let infos = self.ns.adapter().fetch_sockets(self.opts).await?;
        Ok(infos.into_iter().map(|i| RemoteSocket::new(self.ns.clone(), i)).collect())
    }

    /// Makes the target sockets join `room`.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move { socket.join("eu") });
    /// let mut client = TestClient::connect(&io).await?;
    /// io.in_("eu").sockets_join("maintenance").await?;
    /// io.to("maintenance").emit("notice", "down at noon").await?;
    /// assert_eq!(client.recv().await?.data::<String>()?, "down at noon");
    /// # Ok(()) }
    /// ```
    pub async fn sockets_join(self, room: impl Into<Room>) -> Result<(), EmitError> {
        Ok(self.ns.adapter().add_sockets(self.opts, vec![room.into()]).await?)
    }

    /// Makes the target sockets leave `room`.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move { socket.join_all(["eu", "beta"]) });
    /// let _client = TestClient::connect(&io).await?;
    /// io.in_("eu").sockets_leave("beta").await?;
    /// assert!(io.in_("beta").fetch_sockets().await?.is_empty());
    /// assert_eq!(io.in_("eu").fetch_sockets().await?.len(), 1);
    /// # Ok(()) }
    /// ```
    pub async fn sockets_leave(self, room: impl Into<Room>) -> Result<(), EmitError> {
        Ok(self.ns.adapter().del_sockets(self.opts, vec![room.into()]).await?)
    }

    /// Disconnects the target sockets (`close`: close their connections too).
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::{TestClient, TestError};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move { socket.join("guests") });
    /// let mut ana = TestClient::connect(&io).await?;
    /// io.in_("guests").disconnect_sockets(false).await?; // leave the namespace
    /// assert!(matches!(ana.recv().await, Err(TestError::Disconnected)));
    /// let mut bob = TestClient::connect(&io).await?;
    /// io.in_("guests").disconnect_sockets(true).await?; // and close the connection
    /// assert!(matches!(bob.recv().await, Err(TestError::Disconnected))); // told first,
    /// assert!(matches!(bob.recv().await, Err(TestError::Closed))); // then cut
    /// # Ok(()) }
    /// ```
    pub async fn disconnect_sockets(self, close: bool) -> Result<(), EmitError> {
        Ok(self.ns.adapter().disconnect_sockets(self.opts, close).await?)
    }
}

struct Collector {
    rx: mpsc::UnboundedReceiver<AckEvent>,
}

fn collect(rx: mpsc::UnboundedReceiver<AckEvent>) -> Collector {
    Collector { rx }
}

impl Collector {
    /// Reads answers until all expected ones arrived (true) or every sender is gone (false).
    async fn run(mut self, received: &mut Vec<SocketAck>, expected: &mut usize) -> bool {
        let mut counted = false;
        loop {
            if counted && received.len() >= *expected {
                return true;
            }
            match self.rx.recv().await {
                Some(AckEvent::Expected(n)) => {
                    *expected += n;
                    counted = true;
                }
                Some(AckEvent::Response { socket, payload }) => {
                    received.push(SocketAck { socket, response: AckResponse { payload } });
                }
                Some(_) => {}
                None => return counted && received.len() >= *expected,
            }
        }
    }
}
