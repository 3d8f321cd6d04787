//! Handlers: async functions of extractors, and what their results do.

use std::future::Future;

use serde::Serialize;
use serde_json::Value;
use switchboard_proto::socket::EventName;

use crate::event::BoxFuture;
use crate::extract::{Context, FromContext};
use crate::{Ack, MiddlewareError, Socket};

/// An error a handler, an extractor or a middleware answers the client with: the object
/// `{"message": message, "data": data}` (Node's convention for `connect_error` and for errors
/// passed to an ack), as the ack's argument when the client asked for one, else as an
/// `error` event (or, from a connect middleware, as the `connect_error`).
///
/// Any `std::error::Error` converts into it (its `Display` is the message), so `?` works in
/// handlers; a [`MiddlewareError`] keeps its data.
///
/// ```
/// use switchboard::HandlerError;
/// use serde_json::json;
///
/// let e = HandlerError::new("room is full").with_data(json!({"max": 10}));
/// assert_eq!(e.to_json(), json!({"message": "room is full", "data": {"max": 10}}));
/// let parsed: Result<u32, HandlerError> = "x".parse::<u32>().map_err(HandlerError::from);
/// assert_eq!(parsed.unwrap_err().message, "invalid digit found in string");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HandlerError {
    /// The message (`err.message` on the client).
    pub message: String,
    /// Extra data (`err.data` on the client).
    pub data: Option<Value>,
}

impl HandlerError {
    /// An error with a message only.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on("withdraw", |Data(amount): Data<u32>| async move {
    ///         if amount > 100 { Err(HandlerError::new("over the limit")) } else { Ok(amount) }
    ///     })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// let refused = client.emit_with_ack("withdraw", &500).await?;
    /// assert_eq!(refused.data::<serde_json::Value>()?["message"], "over the limit");
    /// # Ok(()) }
    /// ```
    pub fn new(message: impl Into<String>) -> Self {
        HandlerError { message: message.into(), data: None }
    }

    /// Adds data for the client.
    ///
    /// ```
    /// use serde_json::json;
    /// use switchboard::prelude::*;
    /// use switchboard::testing::{TestClient, TestError};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.use_middleware(|| async {
    ///     Err::<(), _>(HandlerError::new("maintenance").with_data(json!({"retry_in": 60})))
    /// });
    /// // The client's `connect_error` gets `err.message` and `err.data`.
    /// let Err(TestError::Refused { message, data }) = TestClient::connect(&io).await else {
    ///     panic!("not refused")
    /// };
    /// assert_eq!((message.as_str(), data), ("maintenance", Some(json!({"retry_in": 60}))));
    /// # Ok(()) }
    /// ```
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// `{"message": message}`, with `"data"` when set.
    ///
    /// ```
    /// use serde_json::json;
    /// use switchboard::HandlerError;
    ///
    /// assert_eq!(HandlerError::new("nope").to_json(), json!({"message": "nope"}));
    /// let full = HandlerError::new("nope").with_data(json!([1, 2]));
    /// assert_eq!(full.to_json(), json!({"message": "nope", "data": [1, 2]}));
    /// ```
    pub fn to_json(&self) -> Value {
        crate::ack::error_object(&self.message, self.data.clone())
    }
}

impl std::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for HandlerError {
    fn from(error: E) -> Self {
        let any: &dyn std::any::Any = &error;
        match any.downcast_ref::<MiddlewareError>() {
            Some(m) => HandlerError { message: m.message.clone(), data: m.data.clone() },
            None => HandlerError::new(error.to_string()),
        }
    }
}

/// Where a handler's result goes: the ack of the event, or the socket (an `error` event).
/// [`ReportError`] implementations answer through it (see the example there).
///
/// ```
/// use switchboard::prelude::*;
/// use switchboard::testing::TestClient;
/// use switchboard::{Reply, ReportError};
///
/// /// Errors answered as `{"error": code}`, with or without an ack.
/// struct Code(u16);
///
/// impl ReportError for Code {
///     fn report(self, reply: &Reply) {
///         let body = serde_json::json!({ "error": self.0 });
///         match reply.ack() {
///             Some(_) => reply.ok(&body),
///             None => { let _ = reply.socket().emit("failed", &body); }
///         }
///     }
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let io = SocketIo::new(Default::default());
/// io.on_connection(|socket: Socket| async move {
///     socket.on("find", |Data(id): Data<u32>| async move {
///         if id == 1 { Ok("ana") } else { Err(Code(404)) }
///     })
/// });
/// let mut client = TestClient::connect(&io).await?;
/// let answer = client.emit_with_ack("find", &2).await?;
/// assert_eq!(answer.data::<serde_json::Value>()?, serde_json::json!({"error": 404}));
/// client.emit("find", &2)?; // no ack: an event
/// assert_eq!(client.recv().await?.name, "failed");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Reply {
    socket: Socket,
    event: Option<EventName>,
    ack: Option<Ack>,
}

impl Reply {
    /// The socket the event came from.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::{TestClient, TestError};
    /// use switchboard::{Reply, ReportError};
    ///
    /// /// A fatal error: the client is disconnected.
    /// struct Banned;
    ///
    /// impl ReportError for Banned {
    ///     fn report(self, reply: &Reply) {
    ///         let socket = reply.socket().clone();
    ///         tokio::spawn(async move { socket.disconnect(false).await });
    ///     }
    /// }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on("say", |Data(text): Data<String>| async move {
    ///         if text.contains("spam") { Err(Banned) } else { Ok(()) }
    ///     })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// client.emit("say", "spam spam")?;
    /// assert!(matches!(client.recv().await, Err(TestError::Disconnected)));
    /// # Ok(()) }
    /// ```
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// The acknowledgement callback, if the client asked for one.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// use switchboard::{Reply, ReportError};
    ///
    /// /// Answered when the client waits for an answer, else dropped silently.
    /// struct Quiet(&'static str);
    ///
    /// impl ReportError for Quiet {
    ///     fn report(self, reply: &Reply) {
    ///         if let Some(ack) = reply.ack() {
    ///             let _ = ack.send_error(self.0, None);
    ///         }
    ///     }
    /// }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on("undo", || async { Err::<(), _>(Quiet("nothing to undo")) })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// let answer = client.emit_with_ack("undo", &()).await?;
    /// assert_eq!(answer.data::<serde_json::Value>()?["message"], "nothing to undo");
    /// # Ok(()) }
    /// ```
    pub fn ack(&self) -> Option<&Ack> {
        self.ack.as_ref()
    }

    /// The event handled (`None` for a connection handler).
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// use switchboard::{Reply, ReportError};
    ///
    /// /// Tells the client which event failed.
    /// struct Failed;
    ///
    /// impl ReportError for Failed {
    ///     fn report(self, reply: &Reply) {
    ///         let event = reply.event_name().map_or("connection", |e| e.as_str());
    ///         let _ = reply.socket().emit("failed", event);
    ///     }
    /// }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on("save", || async { Err::<(), _>(Failed) })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// client.emit("save", &())?;
    /// assert_eq!(client.recv().await?.data::<String>()?, "save");
    /// # Ok(()) }
    /// ```
    pub fn event_name(&self) -> Option<&EventName> {
        self.event.as_ref()
    }

    /// Answers the ack with `value` (when there is an ack not answered yet).
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// use switchboard::{Reply, ReportError};
    ///
    /// /// Answers `[false, reason]`, as a Node callback `cb(false, reason)`.
    /// struct No(&'static str);
    ///
    /// impl ReportError for No {
    ///     fn report(self, reply: &Reply) {
    ///         reply.ok(&(false, self.0)); // a tuple: two arguments
    ///     }
    /// }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on("reserve", |Data(seat): Data<u32>| async move {
    ///         if seat < 10 { Ok((true, "reserved")) } else { Err(No("no such seat")) }
    ///     })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// let answer = client.emit_with_ack("reserve", &42).await?;
    /// assert_eq!(answer.data::<(bool, String)>()?, (false, "no such seat".to_owned()));
    /// # Ok(()) }
    /// ```
    pub fn ok<T: Serialize + ?Sized>(&self, value: &T) {
        if let Some(ack) = self.ack.as_ref().filter(|a| !a.is_sent()) {
            if let Err(e) = ack.send(value) {
                tracing::warn!(socket = %self.socket.id(), event = self.event.as_ref().map_or("", EventName::as_str), error = %e, "handler result not sent");
            }
        }
    }

    /// Reports `error`: logged once, then sent as the ack's argument, or as an `error` event.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// use switchboard::{Reply, ReportError};
    ///
    /// /// A database error: the details are logged here, the client gets a generic message.
    /// struct DbError(String);
    ///
    /// impl ReportError for DbError {
    ///     fn report(self, reply: &Reply) {
    ///         tracing::error!(error = %self.0, "database");
    ///         reply.error(&HandlerError::new("internal error"));
    ///     }
    /// }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on("load", || async { Err::<(), _>(DbError("connection refused".into())) })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// let answer = client.emit_with_ack("load", &()).await?;
    /// assert_eq!(answer.data::<serde_json::Value>()?["message"], "internal error");
    /// client.emit("load", &())?; // no ack: an `error` event
    /// assert_eq!(client.recv().await?.name, "error");
    /// # Ok(()) }
    /// ```
    pub fn error(&self, error: &HandlerError) {
        tracing::warn!(socket = %self.socket.id(), event = self.event.as_ref().map_or("", EventName::as_str), error = %error.message, "handler failed");
        report(&self.socket, self.ack.as_ref(), error);
    }
}

/// Sends `error` to the client: the ack's argument, or an `error` event.
pub(crate) fn report(socket: &Socket, ack: Option<&Ack>, error: &HandlerError) {
    let sent = match ack.filter(|a| !a.is_sent()) {
        Some(ack) => ack.send(&error.to_json()),
        None if ack.is_some() => return,
        None => socket.emit("error", &error.to_json()),
    };
    if let Err(e) = sent {
        tracing::debug!(socket = %socket.id(), error = %e, "error not reported to the client");
    }
}

/// What a handler may return: `()`, or a `Result` whose `Ok` answers the ack (when the client
/// asked for one; a tuple spreads into arguments) and whose `Err` is reported (see
/// [`HandlerError`]).
///
/// ```
/// use switchboard::prelude::*;
/// # fn demo(socket: Socket) -> Result<(), ReservedEventName> {
/// socket.on("add", |Data((a, b)): Data<(i64, i64)>| async move {
///     a.checked_add(b).ok_or_else(|| HandlerError::new("overflow"))
/// })?;
/// # Ok(()) }
/// ```
pub trait HandlerOutput: Send + 'static {
    /// Whether [`HandlerOutput::answer`] uses the ack: then extractors get a clone of it.
    const ANSWERS: bool;

    /// Answers the client.
    fn answer(self, reply: Reply);
}

impl HandlerOutput for () {
    const ANSWERS: bool = false;

    fn answer(self, _reply: Reply) {}
}

impl<T, E> HandlerOutput for Result<T, E>
where
    T: Serialize + Send + 'static,
    E: ReportError,
{
    const ANSWERS: bool = true;

    fn answer(self, reply: Reply) {
        match self {
            Ok(value) => reply.ok(&value),
            Err(e) => e.report(&reply),
        }
    }
}

/// How the `Err` of a handler's `Result` reaches the client. [`HandlerError`] and every
/// `std::error::Error` are reported with [`Reply::error`] (`{"message","data"}`); implement it
/// for an error type of your own to answer in your application's format.
///
/// ```
/// use switchboard::prelude::*;
/// use switchboard::{Reply, ReportError};
///
/// /// This application answers `{ "ok": false, "code": .. }`.
/// struct AppError(&'static str);
///
/// impl ReportError for AppError {
///     fn report(self, reply: &Reply) {
///         let body = serde_json::json!({ "ok": false, "code": self.0 });
///         match reply.ack() {
///             Some(_) => reply.ok(&body),
///             None => { let _ = reply.socket().emit("app:error", &body); }
///         }
///     }
/// }
/// # fn demo(socket: Socket) -> Result<(), ReservedEventName> {
/// socket.on("buy", |Data(n): Data<u32>| async move {
///     if n == 0 { Err(AppError("empty")) } else { Ok(n) }
/// })?;
/// # Ok(()) }
/// ```
pub trait ReportError: Send + 'static {
    /// Reports this error to the client.
    fn report(self, reply: &Reply);
}

impl ReportError for HandlerError {
    fn report(self, reply: &Reply) {
        reply.error(&self);
    }
}

impl<E: std::error::Error + Send + Sync + 'static> ReportError for E {
    fn report(self, reply: &Reply) {
        reply.error(&HandlerError::from(self));
    }
}

/// An event or connection handler: an async function whose arguments implement
/// [`FromContext`] (up to 8) and whose output implements [`HandlerOutput`].
///
/// Implemented for every such function and closure; the `Args` parameter only tells the
/// implementations apart. A named `async fn` works as well as a closure:
///
/// ```
/// use switchboard::prelude::*;
/// use switchboard::testing::TestClient;
///
/// async fn greet(socket: Socket, Data(name): Data<String>) -> Result<String, HandlerError> {
///     Ok(format!("hello {name}, you are {}", socket.id()))
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let io = SocketIo::new(Default::default());
/// io.on_connection(|socket: Socket| async move { socket.on("greet", greet) });
/// let mut c = TestClient::connect(&io).await?;
/// let answer = c.emit_with_ack("greet", "ana").await?.data::<String>()?;
/// assert_eq!(answer, format!("hello ana, you are {}", c.id()));
/// # Ok(()) }
/// ```
pub trait Handler<Args>: Send + Sync + 'static {
    /// Extracts the arguments and starts the handler; `None` if an extractor refused (the
    /// client was answered).
    fn call(&self, cx: Context) -> Option<BoxFuture<()>>;
}

/// A connect middleware (Node's `io.use`): an async function of extractors returning
/// `Result<(), E>`; an `Err` refuses the connection (the client gets `connect_error` with
/// the error's message and data).
///
/// ```
/// use switchboard::prelude::*;
/// use switchboard::testing::{TestClient, TestError};
///
/// async fn only_ana(Data(auth): Data<serde_json::Value>) -> Result<(), HandlerError> {
///     match auth["name"].as_str() {
///         Some("ana") => Ok(()),
///         _ => Err(HandlerError::new("who are you?")),
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let io = SocketIo::new(Default::default());
/// io.use_middleware(only_ana);
/// let bob = TestClient::connect_to(&io, "/", serde_json::json!({"name": "bob"})).await;
/// assert!(matches!(bob, Err(TestError::Refused { .. })));
/// assert!(TestClient::connect_to(&io, "/", serde_json::json!({"name": "ana"})).await.is_ok());
/// # Ok(()) }
/// ```
pub trait Middleware<Args>: Send + Sync + 'static {
    /// Extracts the arguments and runs the middleware.
    fn call(&self, cx: Context) -> BoxFuture<Result<(), HandlerError>>;
}

/// Reports an extractor's refusal: logged, then sent to the client (on the ack, even when an
/// earlier extractor took it: the handler never runs, so that copy is never used).
fn reject(cx: &Context, error: &HandlerError) {
    tracing::warn!(socket = %cx.socket.id(), event = cx.event.as_ref().map_or("", EventName::as_str), error = %error.message, "event rejected before its handler");
    let taken = match (&cx.ack, cx.taken_ack) {
        (None, Some(id)) => Some(Ack::new(cx.socket.clone(), id, Vec::new())),
        _ => None,
    };
    report(&cx.socket, cx.ack.as_ref().or(taken.as_ref()), error);
}

macro_rules! impl_handler {
    ($($ty:ident),*) => {
        impl<F, Fut, R, $($ty,)*> Handler<($($ty,)*)> for F
        where
            F: Fn($($ty),*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: HandlerOutput,
            $($ty: FromContext + Send + 'static,)*
        {
            #[allow(non_snake_case, unused_mut)]
            fn call(&self, mut cx: Context) -> Option<BoxFuture<()>> {
                cx.keep_ack = R::ANSWERS;
                $(
                    let $ty = match $ty::from_context(&mut cx) {
                        Ok(v) => v,
                        Err(e) => {
                            reject(&cx, &e);
                            return None;
                        }
                    };
                )*
                let fut = self($($ty),*);
                let reply = R::ANSWERS.then(|| Reply {
                    socket: cx.socket.clone(),
                    event: cx.event.clone(),
                    ack: cx.ack.take(),
                });
                let run = async move {
                    let out = fut.await;
                    if let Some(reply) = reply {
                        out.answer(reply);
                    }
                };
                if cx.payload.is_binary() {
                    // Emits and broadcasts inside the handler find the event's binary.
                    let (_, attachments) = std::mem::take(&mut cx.payload).into_parts();
                    return Some(Box::pin(crate::args::with_incoming(attachments, run)));
                }
                Some(Box::pin(run))
            }
        }

        impl<F, Fut, E, $($ty,)*> Middleware<($($ty,)*)> for F
        where
            F: Fn($($ty),*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = Result<(), E>> + Send + 'static,
            E: Into<HandlerError> + Send + 'static,
            $($ty: FromContext + Send + 'static,)*
        {
            #[allow(non_snake_case, unused_mut, unused_variables)]
            fn call(&self, mut cx: Context) -> BoxFuture<Result<(), HandlerError>> {
                $(
                    let $ty = match $ty::from_context(&mut cx) {
                        Ok(v) => v,
                        Err(e) => return Box::pin(std::future::ready(Err(e))),
                    };
                )*
                let fut = self($($ty),*);
                Box::pin(async move { fut.await.map_err(Into::into) })
            }
        }
    };
}

impl_handler!();
impl_handler!(T1);
impl_handler!(T1, T2);
impl_handler!(T1, T2, T3);
impl_handler!(T1, T2, T3, T4);
impl_handler!(T1, T2, T3, T4, T5);
impl_handler!(T1, T2, T3, T4, T5, T6);
impl_handler!(T1, T2, T3, T4, T5, T6, T7);
impl_handler!(T1, T2, T3, T4, T5, T6, T7, T8);
