//! Registering event handlers, catch-all listeners, middleware and lifecycle callbacks.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use switchboard_engine::TransportKind;
use switchboard_proto::socket::{EventName, Payload, ReservedEventName};

use crate::event::{DisconnectHandler, HandlerEntry, HandlerId, erase};
use crate::extract::Context;
use crate::handler::{Handler, Middleware};
use crate::{DisconnectReason, Socket};

impl Socket {
    fn add_handler<H, A>(
        &self,
        event: &str,
        once: bool,
        handler: H,
    ) -> Result<HandlerId, ReservedEventName>
    where
        H: Handler<A>,
        A: 'static,
    {
        let name = self.namespace_inner().event_name(event)?;
        let id = HandlerId(self.0.next_handler.fetch_add(1, Ordering::Relaxed));
        let entry = HandlerEntry { id, once, f: erase(handler) };
        self.state().handlers.push(name, entry);
        Ok(id)
    }

    /// Adds a handler for `event`: an async function whose arguments are extractors (see
    /// [`crate::extract`]) and which returns `()` or a `Result` (see
    /// [`crate::HandlerOutput`]). Several handlers may listen to one event; they run in
    /// registration order, each awaited before the next, and the client's next event waits
    /// for them (a client's events are handled in arrival order).
    ///
    /// A reserved name (`connect`, `disconnect`, ...: see
    /// [`switchboard_proto::socket::RESERVED_EVENTS`]) is refused: use
    /// [`Socket::on_disconnect`] for the end of a socket.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     let reserved = socket.on("disconnect", || async {}).is_err(); // see `on_disconnect`
    ///     socket.on("echo", |Data(text): Data<String>| async move {
    ///         Ok::<_, HandlerError>(text)
    ///     })?;
    ///     socket.emit("refused", &reserved)
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// assert!(client.recv().await?.data::<bool>()?);
    /// assert_eq!(client.emit_with_ack("echo", "hi").await?.data::<String>()?, "hi");
    /// # Ok(()) }
    /// ```
    pub fn on<H, A>(&self, event: &str, handler: H) -> Result<HandlerId, ReservedEventName>
    where
        H: Handler<A>,
        A: 'static,
    {
        self.add_handler(event, false, handler)
    }

    /// Adds a handler removed after its first call.
    ///
    /// An event an extractor refuses (a payload that does not deserialize, say) does not
    /// count as a call: the handler stays for the next event. (In Node a listener always
    /// fires, JavaScript having no types to reject with.)
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.once("hi", |s: Socket| async move { s.emit("hi", "once") })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// client.emit("hi", &())?;
    /// client.emit("hi", &())?; // no handler anymore
    /// assert_eq!(client.recv().await?.data::<String>()?, "once");
    /// # Ok(()) }
    /// ```
    pub fn once<H, A>(&self, event: &str, handler: H) -> Result<HandlerId, ReservedEventName>
    where
        H: Handler<A>,
        A: 'static,
    {
        self.add_handler(event, true, handler)
    }

    /// Removes every handler of `event`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard::prelude::*;
    /// use switchboard::testing::{TestClient, TestError};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on("vote", |s: Socket, Data(choice): Data<String>| async move {
    ///         s.off("vote"); // one vote per socket
    ///         s.emit("voted", &choice)
    ///     })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// client.emit("vote", "tea")?;
    /// client.emit("vote", "coffee")?; // no handler anymore
    /// assert_eq!(client.recv().await?.data::<String>()?, "tea");
    /// client.set_timeout(Duration::from_secs(1));
    /// assert!(matches!(client.recv().await, Err(TestError::Timeout(_))));
    /// # Ok(()) }
    /// ```
    pub fn off(&self, event: &str) {
        self.state().handlers.remove_event(event);
    }

    /// Removes one handler.
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard::prelude::*;
    /// use switchboard::testing::{TestClient, TestError};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     let log = socket.on("chat", |s: Socket| async move { s.emit("logged", &()) })?;
    ///     socket.on("chat", |Data(text): Data<String>| async move {
    ///         Ok::<_, HandlerError>(text.len())
    ///     })?;
    ///     socket.off_handler(log); // the other "chat" handler stays
    ///     Ok::<_, HandlerError>(())
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// assert_eq!(client.emit_with_ack("chat", "hello").await?.data::<usize>()?, 5);
    /// client.set_timeout(Duration::from_secs(1));
    /// assert!(matches!(client.recv().await, Err(TestError::Timeout(_)))); // nothing logged
    /// # Ok(()) }
    /// ```
    pub fn off_handler(&self, id: HandlerId) {
        self.state().handlers.remove(id);
    }

    /// Adds a listener called for every incoming event, before its handlers.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let (tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    /// io.on_connection(move |socket: Socket| {
    ///     let tx = tx.clone();
    ///     async move {
    ///         socket.on_any(move |_socket, event, args| {
    ///             let count = args.args().len();
    ///             let _ = tx.send(format!("{} with {count} arguments", event.as_str()));
    ///         });
    ///     }
    /// });
    /// let client = TestClient::connect(&io).await?;
    /// client.emit("move", &(3, 4))?; // seen even with no handler for it
    /// assert_eq!(seen.recv().await.as_deref(), Some("move with 2 arguments"));
    /// # Ok(()) }
    /// ```
    pub fn on_any(&self, listener: impl Fn(&Socket, &EventName, &Payload) + Send + Sync + 'static) {
        self.state().extras().any.push(Arc::new(listener));
    }

    /// Like [`Socket::on_any`], but called before the listeners already added.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let (tx, mut calls) = tokio::sync::mpsc::unbounded_channel();
    /// io.on_connection(move |socket: Socket| {
    ///     let (log, audit) = (tx.clone(), tx.clone());
    ///     async move {
    ///         socket.on_any(move |_, _, _| drop(log.send("log")));
    ///         socket.prepend_any(move |_, _, _| drop(audit.send("audit")));
    ///     }
    /// });
    /// let client = TestClient::connect(&io).await?;
    /// client.emit("hello", &())?;
    /// assert_eq!((calls.recv().await, calls.recv().await), (Some("audit"), Some("log")));
    /// # Ok(()) }
    /// ```
    pub fn prepend_any(
        &self,
        listener: impl Fn(&Socket, &EventName, &Payload) + Send + Sync + 'static,
    ) {
        self.state().extras().any.insert(0, Arc::new(listener));
    }

    /// Removes every catch-all listener.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let (tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    /// io.on_connection(move |socket: Socket| {
    ///     let tx = tx.clone();
    ///     async move {
    ///         socket.on_any(move |_, event, _| drop(tx.send(event.as_str().to_owned())));
    ///         socket.on("quiet", |s: Socket| async move { s.off_any() })?;
    ///         socket.on("ping", || async { Ok::<_, HandlerError>("pong") })
    ///     }
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// client.emit("quiet", &())?;
    /// client.emit_with_ack("ping", &()).await?; // handled after "quiet": no listener anymore
    /// assert_eq!(seen.recv().await.as_deref(), Some("quiet"));
    /// assert!(seen.try_recv().is_err());
    /// # Ok(()) }
    /// ```
    pub fn off_any(&self) {
        self.state().extras().any.clear();
    }

    /// Adds a listener called for every event sent to this socket (emits and broadcasts).
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let (tx, mut sent) = tokio::sync::mpsc::unbounded_channel();
    /// io.on_connection(move |socket: Socket| {
    ///     let tx = tx.clone();
    ///     async move {
    ///         socket.on_any_outgoing(move |_, event, _| drop(tx.send(event.as_str().to_owned())));
    ///         socket.emit("welcome", &())
    ///     }
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// io.emit("news", "hello").await?; // broadcasts too
    /// assert_eq!(sent.recv().await.as_deref(), Some("welcome"));
    /// assert_eq!(sent.recv().await.as_deref(), Some("news"));
    /// assert_eq!(client.recv().await?.name, "welcome");
    /// # Ok(()) }
    /// ```
    pub fn on_any_outgoing(
        &self,
        listener: impl Fn(&Socket, &EventName, &Payload) + Send + Sync + 'static,
    ) {
        let mut state = self.state();
        state.extras().any_outgoing.push(Arc::new(listener));
        // Set under the lock: deliveries look at the listeners from now on.
        self.0.special.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Adds a per-packet middleware (Node's `socket.use`): an async function of extractors
    /// (see [`crate::extract`]: the event's [`EventName`], [`Payload`], `Data<T>`, `Ack`, ...)
    /// returning `Result<(), E>`. It runs before the handlers of every incoming event; an
    /// error (its own, or an extractor's refusal) stops the event and is sent to the client:
    /// as the ack's argument `{"message","data"}` when the client asked for an ack, else as
    /// an `error` event with that object. An [`crate::Ack`] it takes is a copy: the ack stays
    /// for the handlers.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.use_middleware(|_s: Socket, event: EventName, _args: Payload| async move {
    ///         match event.as_str() {
    ///             "admin" => Err(MiddlewareError::new("forbidden")),
    ///             _ => Ok(()),
    ///         }
    ///     });
    ///     socket.on("admin", || async { Ok::<_, HandlerError>("secret") })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// let answer = client.emit_with_ack("admin", &()).await?;
    /// let answer = answer.data::<serde_json::Value>()?;
    /// assert_eq!(answer, serde_json::json!({"message": "forbidden"}));
    /// # Ok(()) }
    /// ```
    pub fn use_middleware<M: Middleware<A>, A: 'static>(&self, middleware: M) {
        self.state().extras().middleware.push(Arc::new(move |cx| middleware.call(cx)));
    }

    /// Called when the underlying connection upgrades its transport (Node's
    /// `socket.conn.on("upgrade")`), with the new transport.
    ///
    /// A socket of the in-process [`crate::testing::TestClient`] starts on WebSocket and never
    /// upgrades, so this example only registers the listener:
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::TransportKind;
    /// # fn demo(socket: Socket) {
    /// socket.on_upgrade(|socket, transport| {
    ///     if transport == TransportKind::WebSocket {
    ///         println!("{} left long-polling", socket.id());
    ///     }
    /// });
    /// # }
    /// ```
    pub fn on_upgrade(&self, listener: impl Fn(&Socket, TransportKind) + Send + Sync + 'static) {
        self.state().extras().on_upgrade.push(Arc::new(listener));
    }

    pub(crate) fn notify_upgrade(&self, transport: TransportKind) {
        let listeners = self.state().extra(|e| &e.on_upgrade);
        for l in listeners {
            l(self, transport);
        }
    }

    /// Called when the socket starts leaving, while it is still in its rooms: an async
    /// function of extractors, as [`Socket::on_disconnect`].
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.join("game-7");
    ///     socket.on_disconnecting(|s: Socket, _reason: DisconnectReason| async move {
    ///         // Still in its rooms: tell them (`on_disconnect` would be too late for `rooms()`).
    ///         let _ = s.broadcast().to_all(s.rooms()).emit("left", s.id().as_str()).await;
    ///     });
    /// });
    /// let ana = TestClient::connect(&io).await?;
    /// let mut bob = TestClient::connect(&io).await?;
    /// ana.disconnect();
    /// assert_eq!(bob.recv().await?.data::<String>()?, ana.id());
    /// # Ok(()) }
    /// ```
    pub fn on_disconnecting<H: Handler<A>, A: 'static>(&self, handler: H) {
        self.state().extras().on_disconnecting.push(disconnect_handler(handler));
    }

    /// Called once the socket has left: an async function of extractors (see
    /// [`crate::extract`]), among them the [`DisconnectReason`], the [`Socket`], `State<S>`,
    /// `Extension<T>` and the [`crate::Handshake`]; an extractor that refuses (a missing
    /// extension, say) is logged and the handler does not run.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    /// io.on_connection(move |socket: Socket| {
    ///     let tx = tx.clone();
    ///     async move {
    ///         socket.on_disconnect(move |_s: Socket, reason: DisconnectReason| {
    ///             let _ = tx.send(reason);
    ///             async {}
    ///         });
    ///     }
    /// });
    /// let client = TestClient::connect(&io).await?;
    /// client.disconnect();
    /// assert_eq!(rx.recv().await, Some(DisconnectReason::ClientNamespaceDisconnect));
    /// # Ok(()) }
    /// ```
    pub fn on_disconnect<H: Handler<A>, A: 'static>(&self, handler: H) {
        self.state().on_disconnect.push(disconnect_handler(handler));
    }
}

/// A disconnect or disconnecting handler, type-erased.
fn disconnect_handler<H: Handler<A>, A: 'static>(handler: H) -> DisconnectHandler {
    Arc::new(move |socket: Socket, reason: DisconnectReason| {
        handler.call(Context::disconnect(socket, reason))
    })
}
