//! Received events and how handlers get typed payloads.

use std::any::TypeId;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use serde::de::DeserializeOwned;
use serde_json::Value;
use switchboard_proto::socket::{EventName, Payload};

use crate::extract::Context;
use crate::handler::Handler;
use crate::{Ack, Socket};

/// A boxed `Send` future.
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A received event as one extractor: its name, its arguments deserialized into `T`, the raw
/// payload and the ack. Handy for a handler shared by several events; otherwise prefer the
/// finer extractors ([`crate::Data`], [`crate::Ack`], ...).
///
/// How the arguments map to `T`: with exactly one argument, `T` is deserialized from it (and,
/// if that fails, from the array of arguments); otherwise from the array of arguments (so a
/// tuple takes several arguments). The raw arguments are in [`Event::payload`]; binary
/// arguments are placeholders there, resolved with [`Payload::binary`].
///
/// ```
/// use switchboard::Event;
/// # use switchboard_proto::socket::Payload;
/// let p = Payload::spread(&("a", 1)).unwrap();
/// assert_eq!(switchboard::event::from_payload::<(String, u8)>(&p).unwrap(), ("a".to_owned(), 1));
/// let one = Payload::spread(&("a",)).unwrap();
/// assert_eq!(switchboard::event::from_payload::<String>(&one).unwrap(), "a");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Event<T> {
    /// The event name.
    pub name: EventName,
    /// The arguments as `T`.
    pub data: T,
    /// The raw arguments and binary attachments.
    pub payload: Payload,
    /// The acknowledgement callback, if the client asked for one.
    pub ack: Option<Ack>,
}

/// Deserializes the arguments of a payload into `T` (see [`Event`]).
///
/// ```
/// use switchboard::Payload;
/// use switchboard::event::from_payload;
/// # fn main() -> Result<(), serde_json::Error> {
/// let two = Payload::spread(&("a", 1))?; // two arguments
/// assert_eq!(from_payload::<(String, u8)>(&two)?, ("a".to_owned(), 1));
/// let one = Payload::single("a")?; // one argument: read as itself ...
/// assert_eq!(from_payload::<String>(&one)?, "a");
/// assert_eq!(from_payload::<(String,)>(&one)?, ("a".to_owned(),)); // ... or as the list
/// assert!(from_payload::<u32>(&one).is_err());
/// # Ok(()) }
/// ```
pub fn from_payload<T: DeserializeOwned>(payload: &Payload) -> Result<T, serde_json::Error> {
    let args = payload.args();
    let array = || Value::Array(args.to_vec());
    match args {
        // Report the error of the single-argument reading: it is the one users expect.
        [one] => T::deserialize(one).or_else(|e| T::deserialize(&array()).map_err(|_| e)),
        _ => T::deserialize(&array()),
    }
}

/// Identifies a registered handler, to remove it with [`Socket::off_handler`].
///
/// It serializes as its number, so a connection handler may end with the `Result` of
/// [`Socket::on`] (a connection handler's `Ok` value goes nowhere).
///
/// ```
/// use std::time::Duration;
/// use switchboard::prelude::*;
/// use switchboard::testing::{TestClient, TestError};
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let io = SocketIo::new(Default::default());
/// io.on_connection(|socket: Socket| async move {
///     let tick = socket.on("tick", |s: Socket| async move { s.emit("tock", &()) })?;
///     socket.on("stop", move |s: Socket| async move {
///         s.off_handler(tick); // the other handlers of "tick", if any, stay
///         Ok::<_, HandlerError>(())
///     })
/// });
/// let mut client = TestClient::connect(&io).await?;
/// client.emit("tick", &())?;
/// assert_eq!(client.recv().await?.name, "tock");
/// client.emit_with_ack("stop", &()).await?;
/// client.emit("tick", &())?;
/// client.set_timeout(Duration::from_secs(1));
/// assert!(matches!(client.recv().await, Err(TestError::Timeout(_))));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct HandlerId(pub(crate) u64);

/// A type-erased event handler: `None` when an extractor refused the event (and reported).
pub(crate) type ErasedHandler =
    Arc<dyn Fn(Socket, EventName, Payload, Option<Ack>) -> Option<BoxFuture<()>> + Send + Sync>;

/// Wraps a handler: its extractors run first, and one that refuses the event reports it (the
/// handler is not called then, so a `once` handler stays for the next event).
pub(crate) fn erase<H, A>(handler: H) -> ErasedHandler
where
    H: Handler<A>,
    A: 'static,
{
    let erased = move |socket: Socket, name: EventName, payload: Payload, ack: Option<Ack>| {
        handler.call(Context::event(socket, name, payload, ack))
    };
    if std::mem::size_of_val(&erased) == 0 && !std::mem::needs_drop::<H>() {
        shared(erased)
    } else {
        Arc::new(erased)
    }
}

/// The one copy of a handler that captures nothing: every instance of its type behaves the
/// same, so the sockets registering it share it instead of each allocating its own.
fn shared<W>(handler: W) -> ErasedHandler
where
    W: Fn(Socket, EventName, Payload, Option<Ack>) -> Option<BoxFuture<()>> + Send + Sync + 'static,
{
    // One entry per handler type of the program (a fixed, small number); locked for a lookup
    // or an insert when a handler is registered.
    static SHARED: OnceLock<Mutex<HashMap<TypeId, ErasedHandler>>> = OnceLock::new();
    let mut map = SHARED.get_or_init(Mutex::default).lock().unwrap_or_else(|e| e.into_inner());
    map.entry(TypeId::of::<W>()).or_insert_with(|| Arc::new(handler)).clone()
}

/// A registered event handler.
#[derive(Clone)]
pub(crate) struct HandlerEntry {
    pub(crate) id: HandlerId,
    pub(crate) once: bool,
    pub(crate) f: ErasedHandler,
}

/// A socket's event handlers, in registration order. A socket has a few: one short list
/// costs each connection far less than a hash table of lists.
///
/// The list is immutable and shared: registering or removing a handler makes a new one.
/// Sockets that register the same handlers (handlers that capture nothing are one shared
/// value per type, and each socket numbers its handlers from 0) end up with the same list,
/// found in [`RECENT`]: a connection then holds a pointer instead of a list of its own.
#[derive(Default)]
pub(crate) struct Handlers(Option<HandlerList>);

/// One handler with the event it listens to.
type Named = (EventName, HandlerEntry);

/// One immutable list of handlers.
type HandlerList = Arc<[Named]>;

/// How many recently made lists [`RECENT`] remembers.
const RECENT_LISTS: usize = 8;

/// Lists made recently, looked up before a new one is allocated. Weak: a list whose sockets
/// are all gone drops its handlers (and what they capture) as before; only its memory waits
/// here until the slot is reused. Locked for a lookup when a handler is registered or
/// removed, never on an event.
static RECENT: Mutex<[Option<Weak<[Named]>>; RECENT_LISTS]> =
    Mutex::new([const { None }; RECENT_LISTS]);

/// Where [`RECENT`] puts the next list it remembers (turns round).
static RECENT_NEXT: AtomicUsize = AtomicUsize::new(0);

fn same_entry(a: &Named, b: &Named) -> bool {
    a.0 == b.0 && a.1.id == b.1.id && a.1.once == b.1.once && Arc::ptr_eq(&a.1.f, &b.1.f)
}

/// The list of `entries`: one remembered in [`RECENT`] if an equal one is, else a new one
/// (then remembered). `None` for no entries.
fn intern<'a, I>(entries: I, len: usize) -> Option<HandlerList>
where
    I: Iterator<Item = &'a Named> + Clone,
{
    if len == 0 {
        return None;
    }
    // The lists looked at, dropped after the lock is given back: the last strong reference to
    // one may be here (its sockets went meanwhile), and its handlers' drops run no user code
    // under the lock.
    let mut seen: [Option<HandlerList>; RECENT_LISTS] = [const { None }; RECENT_LISTS];
    let mut recent = RECENT.lock().unwrap_or_else(|e| e.into_inner());
    for (slot, keep) in recent.iter().zip(seen.iter_mut()) {
        let Some(list) = slot.as_ref().and_then(Weak::upgrade) else { continue };
        if list.len() == len && list.iter().zip(entries.clone()).all(|(a, b)| same_entry(a, b)) {
            return Some(list);
        }
        *keep = Some(list);
    }
    let list: HandlerList = entries.cloned().collect();
    // A slot whose list is gone first (the lists a socket goes through while it registers
    // its handlers one by one go soon): the list every socket ends with stays found.
    let free = recent.iter().position(|slot| slot.as_ref().is_none_or(|w| w.strong_count() == 0));
    let next = free.unwrap_or_else(|| RECENT_NEXT.fetch_add(1, Ordering::Relaxed) % RECENT_LISTS);
    if let Some(slot) = recent.get_mut(next) {
        *slot = Some(Arc::downgrade(&list));
    }
    drop(recent);
    drop(seen);
    Some(list)
}

impl Handlers {
    fn entries(&self) -> &[Named] {
        self.0.as_deref().unwrap_or_default()
    }

    /// Adds a handler for `name`, after the others.
    pub(crate) fn push(&mut self, name: EventName, entry: HandlerEntry) {
        let added = (name, entry);
        let entries = self.entries();
        self.0 = intern(entries.iter().chain(std::iter::once(&added)), entries.len() + 1);
    }

    /// Keeps the handlers `keep` says yes to.
    fn retain(&mut self, keep: impl Fn(&Named) -> bool) {
        let entries = self.entries();
        let kept = entries.iter().filter(|e| keep(e)).count();
        if kept != entries.len() {
            self.0 = intern(entries.iter().filter(|e| keep(e)), kept);
        }
    }

    /// Removes every handler of `event`.
    pub(crate) fn remove_event(&mut self, event: &str) {
        self.retain(|(name, _)| name.as_str() != event);
    }

    /// Removes one handler.
    pub(crate) fn remove(&mut self, id: HandlerId) {
        self.retain(|(_, h)| h.id != id);
    }

    /// The handlers of `event`, in order: all but the last, and the last (`None`: no
    /// handler). No list is allocated for a single handler, the common case.
    pub(crate) fn of(&self, event: &EventName) -> (Vec<HandlerEntry>, Option<HandlerEntry>) {
        let mut others = Vec::new();
        let mut last: Option<HandlerEntry> = None;
        for (_, h) in self.entries().iter().filter(|(name, _)| name == event) {
            if let Some(previous) = last.replace(h.clone()) {
                others.push(previous);
            }
        }
        (others, last)
    }
}

/// A listener for every incoming (or outgoing) event: sync, called before the handlers.
pub(crate) type AnyListener = Arc<dyn Fn(&Socket, &EventName, &Payload) + Send + Sync>;

/// Why a middleware refused a connection or a packet: sent to the client as
/// `{"message": message, "data": data}`.
///
/// It converts into a [`crate::HandlerError`] with its data, so a middleware may return
/// either.
///
/// ```
/// use switchboard::{HandlerError, MiddlewareError};
/// let e = MiddlewareError::new("banned").with_data(serde_json::json!({"until": 7}));
/// assert_eq!(HandlerError::from(e.clone()).data, e.data);
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct MiddlewareError {
    /// The message (`err.message` on the client).
    pub message: String,
    /// Extra data (`err.data` on the client).
    pub data: Option<Value>,
}

impl MiddlewareError {
    /// An error with a message only.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::{TestClient, TestError};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.use_middleware(|Data(auth): Data<serde_json::Value>| async move {
    ///     match auth["token"].as_str() {
    ///         Some(_) => Ok(()),
    ///         None => Err(MiddlewareError::new("no token")),
    ///     }
    /// });
    /// let refused = TestClient::connect(&io).await;
    /// let Err(TestError::Refused { message, data }) = refused else { panic!("not refused") };
    /// assert_eq!((message.as_str(), data), ("no token", None));
    /// # Ok(()) }
    /// ```
    pub fn new(message: impl Into<String>) -> Self {
        MiddlewareError { message: message.into(), data: None }
    }

    /// Adds data for the client.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::{TestClient, TestError};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.use_middleware(|| async {
    ///     let retry = serde_json::json!({"retry_in": 30});
    ///     Err::<(), _>(MiddlewareError::new("full").with_data(retry))
    /// });
    /// let refused = TestClient::connect(&io).await;
    /// let Err(TestError::Refused { data, .. }) = refused else { panic!("not refused") };
    /// assert_eq!(data, Some(serde_json::json!({"retry_in": 30}))); // `err.data` on the client
    /// # Ok(()) }
    /// ```
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }
}

/// A per-packet middleware (`socket.use`), its extractors reading the event's context.
pub(crate) type PacketMiddleware = Arc<
    dyn Fn(crate::extract::Context) -> BoxFuture<Result<(), crate::HandlerError>> + Send + Sync,
>;

/// A disconnect or disconnecting handler, its extractors reading the socket and the reason
/// (`None`: an extractor refused, the handler does not run).
pub(crate) type DisconnectHandler =
    Arc<dyn Fn(Socket, crate::DisconnectReason) -> Option<BoxFuture<()>> + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    fn capture_less() -> ErasedHandler {
        erase(|_s: Socket, _e: crate::Data<u32>| async {})
    }

    #[test]
    fn handlers_that_capture_nothing_are_shared() {
        assert!(Arc::ptr_eq(&capture_less(), &capture_less()));
        let counter = Arc::new(0u32);
        let capturing = || {
            let counter = counter.clone();
            erase(move |_s: Socket, _e: crate::Data<u32>| {
                let counter = counter.clone();
                async move { drop(counter) }
            })
        };
        assert!(!Arc::ptr_eq(&capturing(), &capturing()));
    }
}
