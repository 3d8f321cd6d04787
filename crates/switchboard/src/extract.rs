//! Extractors: what a handler's arguments can be.
//!
//! A handler is an async function whose every argument implements [`FromContext`]: the
//! [`Socket`], the event's data as [`Data<T>`] or [`TryData<T>`], its binary attachments
//! ([`Bin`]), the [`Ack`] callback, the server-wide [`State<S>`], a per-socket
//! [`Extension<T>`], the [`Handshake`], the event's name ([`EventName`]), its raw
//! [`Payload`] or all of it as an [`Event<T>`]. Arguments are extracted in order; the first
//! that fails answers the client with its error (see [`crate::HandlerError`]) and the handler
//! is not called.
//!
//! ```
//! use switchboard::prelude::*;
//!
//! #[derive(Clone)]
//! struct Db;
//! #[derive(serde::Deserialize)]
//! struct Msg { room: String, text: String }
//!
//! let io = SocketIo::builder().with_state(Db).build();
//! io.on_connection(|socket: Socket| async move {
//!     socket.on("msg", |socket: Socket, State(_db): State<Db>, Data(msg): Data<Msg>| async move {
//!         socket.to(msg.room).emit("msg", &msg.text).await
//!     })?;
//!     Ok::<_, HandlerError>(())
//! });
//! ```

use std::any::{Any, TypeId};
use std::collections::HashMap;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use switchboard_proto::socket::{EventName, Payload};

use crate::event::from_payload;
use crate::{Ack, DisconnectReason, Event, HandlerError, Handshake, Socket};

/// What a handler is called with: the socket, and the event (none for a connection handler
/// or a connect middleware). Extractors read it (see [`FromContext`] for one of your own).
///
/// ```
/// use switchboard::prelude::*;
/// use switchboard::extract::Context;
///
/// /// The number of arguments of the event.
/// struct Arity(usize);
///
/// impl FromContext for Arity {
///     fn from_context(cx: &mut Context) -> Result<Self, HandlerError> {
///         Ok(Arity(cx.payload().args().len()))
///     }
/// }
/// ```
#[derive(Debug)]
pub struct Context {
    pub(crate) socket: Socket,
    pub(crate) event: Option<EventName>,
    pub(crate) payload: Payload,
    pub(crate) ack: Option<Ack>,
    /// The handler answers the ack itself with its result: extractors get clones of it.
    pub(crate) keep_ack: bool,
    /// The id of an ack moved out to an extractor: a later extractor's refusal answers it.
    pub(crate) taken_ack: Option<u64>,
    /// Why the socket is leaving (disconnect and disconnecting handlers only).
    pub(crate) reason: Option<DisconnectReason>,
}

impl Context {
    pub(crate) fn event(
        socket: Socket,
        event: EventName,
        payload: Payload,
        ack: Option<Ack>,
    ) -> Self {
        Context {
            socket,
            event: Some(event),
            payload,
            ack,
            keep_ack: false,
            taken_ack: None,
            reason: None,
        }
    }

    /// A per-packet middleware's context: the ack stays for the handlers (extractors get
    /// clones of it).
    pub(crate) fn middleware(
        socket: Socket,
        event: EventName,
        payload: Payload,
        ack: Option<Ack>,
    ) -> Self {
        Context { keep_ack: true, ..Context::event(socket, event, payload, ack) }
    }

    /// A disconnect (or disconnecting) handler's context.
    pub(crate) fn disconnect(socket: Socket, reason: DisconnectReason) -> Self {
        Context { reason: Some(reason), ..Context::connect(socket) }
    }

    pub(crate) fn connect(socket: Socket) -> Self {
        Context {
            socket,
            event: None,
            payload: Payload::new(),
            ack: None,
            keep_ack: false,
            taken_ack: None,
            reason: None,
        }
    }

    /// The socket.
    ///
    /// ```
    /// use switchboard::extract::Context;
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    ///
    /// /// The nickname saved in the socket's data at connection.
    /// struct Nick(String);
    ///
    /// impl FromContext for Nick {
    ///     fn from_context(cx: &mut Context) -> Result<Self, HandlerError> {
    ///         let nick = cx.socket().data::<String>()?;
    ///         nick.map(Nick).ok_or_else(|| HandlerError::new("no nickname"))
    ///     }
    /// }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.set_data("ana")?;
    ///     socket.on("hello", |Nick(nick): Nick| async move { Ok::<_, HandlerError>(nick) })?;
    ///     Ok::<_, HandlerError>(())
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// assert_eq!(client.emit_with_ack("hello", &()).await?.data::<String>()?, "ana");
    /// # Ok(()) }
    /// ```
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// The event name (`None` in a connection handler or a connect middleware).
    ///
    /// ```
    /// use switchboard::extract::Context;
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    ///
    /// /// The event's name, or `"connect"` in a connection handler.
    /// struct Called(String);
    ///
    /// impl FromContext for Called {
    ///     fn from_context(cx: &mut Context) -> Result<Self, HandlerError> {
    ///         Ok(Called(cx.event_name().map_or("connect", |e| e.as_str()).to_owned()))
    ///     }
    /// }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket, Called(name): Called| async move {
    ///     socket.emit("seen", &name)?;
    ///     socket.on("ping", |Called(name): Called| async move { Ok::<_, HandlerError>(name) })?;
    ///     Ok::<_, HandlerError>(())
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// assert_eq!(client.recv().await?.data::<String>()?, "connect");
    /// assert_eq!(client.emit_with_ack("ping", &()).await?.data::<String>()?, "ping");
    /// # Ok(()) }
    /// ```
    pub fn event_name(&self) -> Option<&EventName> {
        self.event.as_ref()
    }

    /// The event's arguments and attachments (empty at connection).
    ///
    /// ```
    /// use switchboard::extract::Context;
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    ///
    /// /// The total size of the event's binary attachments.
    /// struct Bytes(usize);
    ///
    /// impl FromContext for Bytes {
    ///     fn from_context(cx: &mut Context) -> Result<Self, HandlerError> {
    ///         Ok(Bytes(cx.payload().attachments().iter().map(|a| a.len()).sum()))
    ///     }
    /// }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on("upload", |Bytes(n): Bytes| async move { Ok::<_, HandlerError>(n) })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// let mut files = Payload::new();
    /// files.push_binary(vec![0u8; 3]).push_binary(vec![0u8; 4]);
    /// assert_eq!(client.emit_payload_with_ack("upload", files).await?.data::<usize>()?, 7);
    /// # Ok(()) }
    /// ```
    pub fn payload(&self) -> &Payload {
        &self.payload
    }

    /// The acknowledgement callback, if the client asked for one.
    ///
    /// ```
    /// use switchboard::extract::Context;
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    ///
    /// /// Whether the client waits for an answer (the ack itself stays for other extractors).
    /// struct Waits(bool);
    ///
    /// impl FromContext for Waits {
    ///     fn from_context(cx: &mut Context) -> Result<Self, HandlerError> {
    ///         Ok(Waits(cx.ack().is_some()))
    ///     }
    /// }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on("sync", |s: Socket, Waits(waits): Waits| async move {
    ///         if !waits {
    ///             s.emit("synced", "fire and forget")?;
    ///         }
    ///         Ok::<_, HandlerError>("synced")
    ///     })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// assert_eq!(client.emit_with_ack("sync", &()).await?.data::<String>()?, "synced");
    /// client.emit("sync", &())?;
    /// assert_eq!(client.recv().await?.data::<String>()?, "fire and forget");
    /// # Ok(()) }
    /// ```
    pub fn ack(&self) -> Option<&Ack> {
        self.ack.as_ref()
    }

    /// The acknowledgement callback for an extractor: moved out, or a clone when the handler
    /// answers it with its result.
    ///
    /// ```
    /// use switchboard::extract::Context;
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    ///
    /// /// Answers in this application's envelope, `{"ok": true, "result": ..}`; does nothing when
    /// /// the client did not ask for an answer.
    /// struct Respond(Option<Ack>);
    ///
    /// impl Respond {
    ///     fn result<T: serde::Serialize>(self, result: T) -> Result<(), EmitError> {
    ///         match self.0 {
    ///             Some(ack) => ack.send(&serde_json::json!({ "ok": true, "result": result })),
    ///             None => Ok(()),
    ///         }
    ///     }
    /// }
    ///
    /// impl FromContext for Respond {
    ///     fn from_context(cx: &mut Context) -> Result<Self, HandlerError> {
    ///         Ok(Respond(cx.take_ack()))
    ///     }
    /// }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on("double", |Data(n): Data<i32>, respond: Respond| async move {
    ///         let _ = respond.result(n * 2);
    ///     })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// let answer = client.emit_with_ack("double", &21).await?;
    /// assert_eq!(answer.data::<serde_json::Value>()?["result"], 42);
    /// # Ok(()) }
    /// ```
    pub fn take_ack(&mut self) -> Option<Ack> {
        if self.keep_ack {
            return self.ack.clone();
        }
        let ack = self.ack.take();
        self.taken_ack = ack.as_ref().map(Ack::id).or(self.taken_ack);
        ack
    }
}

/// An argument of a handler, taken from the [`Context`] before the handler runs.
///
/// Implement it for your own types (a user read from the socket's extensions, say):
///
/// ```
/// use switchboard::prelude::*;
/// use switchboard::extract::Context;
///
/// #[derive(Clone)]
/// struct User(String);
///
/// impl FromContext for User {
///     fn from_context(cx: &mut Context) -> Result<Self, HandlerError> {
///         cx.socket().extension::<User>().ok_or_else(|| HandlerError::new("not signed in"))
///     }
/// }
/// ```
pub trait FromContext: Sized {
    /// Extracts the value, or says why not (the client gets the error).
    fn from_context(cx: &mut Context) -> Result<Self, HandlerError>;
}

impl FromContext for Socket {
    fn from_context(cx: &mut Context) -> Result<Self, HandlerError> {
        Ok(cx.socket.clone())
    }
}

/// The event's arguments deserialized into `T` (with one argument, `T` is read from it,
/// else from the array of arguments: a tuple takes several). At connection, the client's
/// `auth` object. A payload that does not fit answers the ack with an error, or sends the
/// client an `error` event when there is no ack; the handler is not called.
///
/// ```
/// use switchboard::prelude::*;
/// # fn demo(socket: Socket) -> Result<(), ReservedEventName> {
/// socket.on("move", |Data((x, y)): Data<(i32, i32)>| async move {
///     println!("{x},{y}");
/// })?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Data<T>(pub T);

impl<T: DeserializeOwned> FromContext for Data<T> {
    fn from_context(cx: &mut Context) -> Result<Self, HandlerError> {
        read(cx).map(Data).map_err(|e| invalid(cx, &e))
    }
}

/// Like [`Data<T>`], but a payload that does not fit reaches the handler as the error
/// instead of being answered for it.
///
/// ```
/// use switchboard::prelude::*;
/// # fn demo(socket: Socket) -> Result<(), ReservedEventName> {
/// socket.on("count", |TryData(n): TryData<u32>| async move {
///     match n {
///         Ok(n) => println!("{n}"),
///         Err(e) => println!("not a count: {e}"),
///     }
/// })?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TryData<T>(pub Result<T, serde_json::Error>);

impl<T: DeserializeOwned> FromContext for TryData<T> {
    fn from_context(cx: &mut Context) -> Result<Self, HandlerError> {
        Ok(TryData(read(cx)))
    }
}

fn read<T: DeserializeOwned>(cx: &Context) -> Result<T, serde_json::Error> {
    match cx.event {
        Some(_) => from_payload(&cx.payload),
        None => T::deserialize(&*cx.socket.handshake().auth),
    }
}

fn invalid(cx: &Context, e: &serde_json::Error) -> HandlerError {
    match &cx.event {
        Some(name) => {
            HandlerError::new(format!("invalid payload for event {:?}: {e}", name.as_str()))
        }
        None => HandlerError::new(format!("invalid auth: {e}")),
    }
}

/// The binary attachments of the event, in placeholder order (empty if it had none).
///
/// ```
/// use switchboard::prelude::*;
/// # fn demo(socket: Socket) -> Result<(), ReservedEventName> {
/// socket.on("upload", |Bin(files): Bin| async move {
///     println!("{} files", files.len());
/// })?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Bin(pub Vec<Bytes>);

impl FromContext for Bin {
    fn from_context(cx: &mut Context) -> Result<Self, HandlerError> {
        Ok(Bin(cx.payload.attachments().to_vec()))
    }
}

/// The acknowledgement callback. As an argument, the client must have asked for an answer
/// (else it gets an error); take `Option<Ack>` when the answer is optional.
impl FromContext for Ack {
    fn from_context(cx: &mut Context) -> Result<Self, HandlerError> {
        cx.take_ack().ok_or_else(|| match &cx.event {
            Some(name) => HandlerError::new(format!(
                "event {:?} needs an acknowledgement callback",
                name.as_str()
            )),
            None => HandlerError::new("no acknowledgement at connection"),
        })
    }
}

impl FromContext for Option<Ack> {
    fn from_context(cx: &mut Context) -> Result<Self, HandlerError> {
        Ok(cx.take_ack())
    }
}

/// Why the socket is leaving: in a disconnect or disconnecting handler (fails elsewhere).
///
/// ```
/// use switchboard::prelude::*;
/// # fn demo(socket: Socket) {
/// socket.on_disconnect(|socket: Socket, reason: DisconnectReason| async move {
///     println!("{} left: {reason}", socket.id());
/// });
/// # }
/// ```
impl FromContext for DisconnectReason {
    fn from_context(cx: &mut Context) -> Result<Self, HandlerError> {
        cx.reason
            .ok_or_else(|| HandlerError::new("no disconnect reason outside a disconnect handler"))
    }
}

/// The name of the event being handled (fails at connection).
impl FromContext for EventName {
    fn from_context(cx: &mut Context) -> Result<Self, HandlerError> {
        cx.event.clone().ok_or_else(|| HandlerError::new("no event at connection"))
    }
}

/// The raw arguments and attachments (a copy).
impl FromContext for Payload {
    fn from_context(cx: &mut Context) -> Result<Self, HandlerError> {
        Ok(cx.payload.clone())
    }
}

/// The handshake of the socket's connection (a copy).
impl FromContext for Handshake {
    fn from_context(cx: &mut Context) -> Result<Self, HandlerError> {
        Ok(cx.socket.handshake().clone())
    }
}

impl<T: DeserializeOwned> FromContext for Event<T> {
    fn from_context(cx: &mut Context) -> Result<Self, HandlerError> {
        let name = EventName::from_context(cx)?;
        let data = from_payload(&cx.payload).map_err(|e| invalid(cx, &e))?;
        let payload = cx.payload.clone();
        Ok(Event { name, data, payload, ack: cx.take_ack() })
    }
}

/// The application state given once to [`crate::SocketIoBuilder::with_state`] (a clone of
/// it: make `S` cheap to clone, an `Arc` or a handle).
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use switchboard::prelude::*;
///
/// let io = SocketIo::builder().with_state(Arc::new(AtomicU64::new(0))).build();
/// io.on_connection(|State(count): State<Arc<AtomicU64>>| async move {
///     count.fetch_add(1, Ordering::Relaxed);
/// });
/// ```
#[derive(Debug, Clone)]
pub struct State<S>(pub S);

impl<S: Clone + Send + Sync + 'static> FromContext for State<S> {
    fn from_context(cx: &mut Context) -> Result<Self, HandlerError> {
        match cx.socket.namespace_inner().states().get::<S>() {
            Some(s) => Ok(State(s.clone())),
            None => {
                tracing::error!(
                    state = std::any::type_name::<S>(),
                    "a handler takes a state the server was not built with (SocketIoBuilder::with_state)"
                );
                Err(HandlerError::new("server misconfigured"))
            }
        }
    }
}

/// A per-socket value set with [`Socket::insert_extension`] (typically by a connect
/// middleware); the client gets an error when it is missing.
///
/// ```
/// use switchboard::prelude::*;
///
/// #[derive(Clone)]
/// struct UserId(u64);
///
/// let io = SocketIo::new(Default::default());
/// io.use_middleware(|socket: Socket| async move {
///     socket.insert_extension(UserId(7));
///     Ok::<_, HandlerError>(())
/// });
/// io.on_connection(|socket: Socket| async move {
///     socket.on("whoami", |Extension(UserId(id)): Extension<UserId>| async move {
///         Ok::<_, HandlerError>(id)
///     })?;
///     Ok::<_, HandlerError>(())
/// });
/// ```
#[derive(Debug, Clone)]
pub struct Extension<T>(pub T);

impl<T: Clone + Send + Sync + 'static> FromContext for Extension<T> {
    fn from_context(cx: &mut Context) -> Result<Self, HandlerError> {
        cx.socket.extension::<T>().map(Extension).ok_or_else(|| {
            HandlerError::new(format!("missing extension {}", std::any::type_name::<T>()))
        })
    }
}

/// The states of a server, one per type, set when it is built.
#[derive(Default)]
pub(crate) struct States(HashMap<TypeId, Box<dyn Any + Send + Sync>, foldhash::fast::RandomState>);

impl States {
    pub(crate) fn insert<S: Send + Sync + 'static>(&mut self, state: S) {
        self.0.insert(TypeId::of::<S>(), Box::new(state));
    }

    pub(crate) fn get<S: 'static>(&self) -> Option<&S> {
        self.0.get(&TypeId::of::<S>()).and_then(|s| s.downcast_ref::<S>())
    }
}

impl std::fmt::Debug for States {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("States").field("count", &self.0.len()).finish()
    }
}
