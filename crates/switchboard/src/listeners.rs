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
    /// # fn demo(socket: Socket) -> Result<(), ReservedEventName> {
    /// socket.on("echo", |Data(text): Data<String>| async move { Ok::<_, HandlerError>(text) })?;
    /// assert!(socket.on("disconnect", || async {}).is_err());
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
    pub fn off(&self, event: &str) {
        self.state().handlers.remove_event(event);
    }

    /// Removes one handler.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// # fn demo(socket: Socket) -> Result<(), ReservedEventName> {
    /// let id = socket.on("tick", || async {})?;
    /// socket.off_handler(id);
    /// # Ok(()) }
    /// ```
    pub fn off_handler(&self, id: HandlerId) {
        self.state().handlers.remove(id);
    }

    /// Adds a listener called for every incoming event, before its handlers.
    pub fn on_any(&self, listener: impl Fn(&Socket, &EventName, &Payload) + Send + Sync + 'static) {
        self.state().extras().any.push(Arc::new(listener));
    }

    /// Like [`Socket::on_any`], but called before the listeners already added.
    pub fn prepend_any(
        &self,
        listener: impl Fn(&Socket, &EventName, &Payload) + Send + Sync + 'static,
    ) {
        self.state().extras().any.insert(0, Arc::new(listener));
    }

    /// Removes every catch-all listener.
    pub fn off_any(&self) {
        self.state().extras().any.clear();
    }

    /// Adds a listener called for every event sent to this socket (emits and broadcasts).
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
    /// assert_eq!(answer.data::<serde_json::Value>()?, serde_json::json!({"message": "forbidden"}));
    /// # Ok(()) }
    /// ```
    pub fn use_middleware<M: Middleware<A>, A: 'static>(&self, middleware: M) {
        self.state().extras().middleware.push(Arc::new(move |cx| middleware.call(cx)));
    }

    /// Called when the underlying connection upgrades its transport (Node's
    /// `socket.conn.on("upgrade")`), with the new transport.
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
