//! Acknowledgements, both ways.

use std::sync::OnceLock;
use std::sync::atomic::Ordering;

// The flags of `SentFlag`, loom's under `cfg(switchboard_loom)` (see ack/loom_tests.rs).
#[cfg(switchboard_loom)]
use loom::sync::{
    Arc,
    atomic::{AtomicBool, AtomicU8},
};
#[cfg(not(switchboard_loom))]
use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicU8},
};

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use switchboard_adapter::{AckSender, SocketId};
use switchboard_proto::socket::{Packet, Payload};
use tokio::sync::oneshot;

use crate::{EmitError, Socket};

/// Why an acknowledgement did not arrive.
///
/// ```
/// use switchboard::prelude::*;
/// use switchboard::testing::TestClient;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use switchboard::AckError;
/// let io = SocketIo::new(Default::default());
/// io.on_connection(|socket: Socket| async move {
///     // The client never answers: the wait ends with `Timeout`.
///     let answer = socket.timeout(Duration::from_millis(10)).emit_with_ack("ping", &()).await;
///     socket.emit("result", &matches!(answer, Err(AckError::Timeout)))
/// });
/// let mut client = TestClient::connect(&io).await?;
/// let _ping = client.recv().await?; // not answered
/// assert!(client.recv().await?.data::<bool>()?);
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AckError {
    /// No answer within the timeout.
    #[error("ack timed out")]
    Timeout,
    /// The socket disconnected before answering.
    #[error("socket disconnected before acknowledging")]
    Disconnected,
    /// The event could not be sent.
    #[error("emit failed")]
    Emit(#[from] EmitError),
    /// A broadcast with ack did not get every answer in time (or some recipients left):
    /// the answers that did arrive are here.
    #[error("{} of {expected} acks received", received.len())]
    Incomplete {
        /// The answers received.
        received: Vec<SocketAck>,
        /// How many were expected.
        expected: usize,
    },
}

/// The answer of one socket to a broadcast with ack.
///
/// ```
/// use std::time::Duration;
/// use switchboard::prelude::*;
/// use switchboard::testing::TestClient;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let io = SocketIo::new(Default::default());
/// let mut client = TestClient::connect(&io).await?;
/// let votes = tokio::spawn(io.timeout(Duration::from_secs(5)).emit_with_ack("vote?", &()));
/// let question = client.recv().await?;
/// client.ack(&question, "yes")?;
/// let votes = votes.await??;
/// assert_eq!(votes[0].socket.as_str(), client.id());
/// assert_eq!(votes[0].response.data::<String>()?, "yes");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SocketAck {
    /// Who answered.
    pub socket: SocketId,
    /// The answer.
    pub response: AckResponse,
}

/// The arguments of an acknowledgement.
///
/// ```
/// use switchboard::prelude::*;
/// use switchboard::testing::TestClient;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let io = SocketIo::new(Default::default());
/// io.on_connection(|socket: Socket| async move {
///     socket.on("where", || async { Ok::<_, HandlerError>((3, 4)) }) // a tuple: two arguments
/// });
/// let mut client = TestClient::connect(&io).await?;
/// let answer = client.emit_with_ack("where", &()).await?;
/// assert_eq!(answer.payload.args(), [serde_json::json!(3), serde_json::json!(4)]);
/// assert_eq!(answer.data::<(i32, i32)>()?, (3, 4));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AckResponse {
    /// The raw arguments (binary ones as placeholders) and attachments.
    pub payload: Payload,
}

impl AckResponse {
    /// Deserializes the arguments (see [`crate::Event`] for how arguments map to `T`).
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on("name", || async { Ok::<_, HandlerError>("ana") })?;
    ///     socket.on("pair", || async { Ok::<_, HandlerError>(("ana", 7)) })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// let name = client.emit_with_ack("name", &()).await?;
    /// assert_eq!(name.data::<String>()?, "ana"); // one argument: `T` is that argument
    /// assert!(name.data::<u32>().is_err());
    /// let pair = client.emit_with_ack("pair", &()).await?;
    /// assert_eq!(pair.data::<(String, u32)>()?, ("ana".to_owned(), 7)); // several: a tuple
    /// # Ok(()) }
    /// ```
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        crate::event::from_payload(&self.payload)
    }
}

/// Where the answer to an emit with ack goes, kept in the socket until the answer arrives.
#[derive(Debug)]
pub(crate) enum AckWaiter {
    /// `socket.emit_with_ack`.
    Single(oneshot::Sender<Payload>),
    /// A broadcast with ack: answers go to the collector.
    Broadcast(SocketId, AckSender),
}

impl AckWaiter {
    pub(crate) fn resolve(self, payload: Payload) {
        match self {
            // The emitter may have timed out and dropped the receiver: nothing to do.
            AckWaiter::Single(tx) => {
                let _ = tx.send(payload);
            }
            AckWaiter::Broadcast(socket, tx) => {
                let _ = tx.send(switchboard_adapter::AckEvent::Response { socket, payload });
            }
        }
    }

    /// Whether nobody waits anymore (the emitter gave up).
    pub(crate) fn is_abandoned(&self) -> bool {
        match self {
            AckWaiter::Single(tx) => tx.is_closed(),
            AckWaiter::Broadcast(_, tx) => tx.is_closed(),
        }
    }
}

/// The acknowledgement callback of a received event: call [`Ack::send`] once.
///
/// Clones share the same callback; only the first answer is sent, as in Node.
///
/// ```
/// use switchboard::prelude::*;
/// use switchboard::testing::TestClient;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let io = SocketIo::new(Default::default());
/// io.on_connection(|socket: Socket| async move {
///     socket.on("echo", |ack: Ack, Data(text): Data<String>| async move {
///         let _ = ack.send(&text);
///         assert!(ack.is_sent());
///         assert!(matches!(ack.send("twice"), Err(EmitError::AlreadyAcknowledged)));
///     })
/// });
/// let mut client = TestClient::connect(&io).await?;
/// assert_eq!(client.emit_with_ack("echo", "hi").await?.data::<String>()?, "hi");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Ack {
    socket: Socket,
    id: u64,
    sent: SentFlag,
    /// The binary of the event this answers, for the placeholders of an answer made of the
    /// event's data (empty, so unallocated, for the usual event without binary).
    incoming: Vec<Bytes>,
}

impl Clone for Ack {
    fn clone(&self) -> Self {
        Ack {
            socket: self.socket.clone(),
            id: self.id,
            sent: self.sent.share(),
            incoming: self.incoming.clone(),
        }
    }
}

/// Whether an ack was answered, for the ack and all its clones. An ack that is never cloned
/// (the usual case) keeps the flag inline; the first clone moves it to a shared allocation.
#[derive(Debug, Default)]
struct SentFlag {
    /// [`UNSENT`], [`SENT`] (inline), or [`SHARED`]: the answer is in `shared`.
    local: AtomicU8,
    /// Set before `local` turns [`SHARED`], and never changed afterwards.
    shared: OnceLock<Arc<AtomicBool>>,
}

const UNSENT: u8 = 0;
const SENT: u8 = 1;
const SHARED: u8 = 2;

impl SentFlag {
    /// Marks the ack answered; `true` for the first call of the ack and its clones.
    fn take(&self) -> bool {
        match self.local.compare_exchange(UNSENT, SENT, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => true,
            Err(SHARED) => self.shared.get().is_some_and(|s| !s.swap(true, Ordering::SeqCst)),
            Err(_) => false,
        }
    }

    fn is_sent(&self) -> bool {
        match self.local.load(Ordering::SeqCst) {
            SENT => true,
            SHARED => self.shared.get().is_some_and(|s| s.load(Ordering::SeqCst)),
            _ => false,
        }
    }

    /// The flag of a clone: both now read and write the shared one.
    fn share(&self) -> SentFlag {
        let shared = self.shared.get_or_init(|| Arc::new(AtomicBool::new(false))).clone();
        // An answer sent before the sharing (inline) is carried over; one sent after it
        // finds the flag shared.
        let moved = self.local.compare_exchange(UNSENT, SHARED, Ordering::SeqCst, Ordering::SeqCst);
        if moved == Err(SENT) {
            shared.store(true, Ordering::SeqCst);
        }
        SentFlag { local: AtomicU8::new(SHARED), shared: OnceLock::from(shared) }
    }
}

impl Ack {
    pub(crate) fn new(socket: Socket, id: u64, incoming: Vec<Bytes>) -> Self {
        Ack { socket, id, sent: SentFlag::default(), incoming }
    }

    /// The ack id.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on("which", |ack: Ack| async move { ack.send(&ack.id()) })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// let first = client.emit_with_ack("which", &()).await?.data::<u64>()?;
    /// let second = client.emit_with_ack("which", &()).await?.data::<u64>()?;
    /// assert_eq!(second, first + 1); // the client numbers the acks it asks for
    /// # Ok(()) }
    /// ```
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether an answer was already sent.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on("job", |s: Socket, ack: Ack| async move {
    ///         let before = ack.is_sent();
    ///         ack.send("accepted")?; // answer at once, then do the slow part
    ///         s.emit("done", &(before, ack.is_sent()))
    ///     })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// assert_eq!(client.emit_with_ack("job", &()).await?.data::<String>()?, "accepted");
    /// assert_eq!(client.recv().await?.data::<(bool, bool)>()?, (false, true));
    /// # Ok(()) }
    /// ```
    pub fn is_sent(&self) -> bool {
        self.sent.is_sent()
    }

    /// Answers with `data`: a tuple spreads into arguments, `()` is none, anything else is one
    /// argument (as every emit). Binary placeholders in `data` (the event's data read as JSON)
    /// are sent with the event's attachments.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on("where", |ack: Ack| async move { ack.send(&(3, 4)) })?; // two arguments
    ///     // The event's own binary, read as JSON and sent back: the bytes go with it.
    ///     socket.on("echo", |ack: Ack, Data(file): Data<serde_json::Value>| async move {
    ///         ack.send(&file)
    ///     })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// assert_eq!(client.emit_with_ack("where", &()).await?.data::<(i32, i32)>()?, (3, 4));
    /// let mut file = Payload::new();
    /// file.push_binary(vec![1u8, 2, 3]);
    /// let echoed = client.emit_payload_with_ack("echo", file).await?;
    /// assert_eq!(&echoed.payload.attachments()[0][..], [1, 2, 3]);
    /// # Ok(()) }
    /// ```
    pub fn send<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), EmitError> {
        if !self.incoming.is_empty() || !self.socket.is_json() || crate::args::spreads(data) {
            return self.send_payload(crate::args::to_payload_with(data, Some(&self.incoming))?);
        }
        // The default parser: written straight, as `send_payload` would write it (an ack is
        // never shown to outgoing listeners), without a JSON value tree or a packet.
        let ns = self.socket.ns();
        let message = switchboard_proto::socket::JsonParser::encode_ack_wire(ns, self.id, data)
            .map_err(EmitError::Serialize)?;
        if message.wire_text().is_some_and(|t| crate::args::may_hold_placeholder(t.as_str())) {
            // A placeholder: resolved (inside a binary event's handler) or refused.
            return self.send_payload(crate::args::to_payload(data)?);
        }
        if !self.sent.take() {
            return Err(EmitError::AlreadyAcknowledged);
        }
        self.socket.send_wire(message)
    }

    /// Answers with these arguments and attachments.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on("thumbnail", |ack: Ack| async move {
    ///         let mut answer = Payload::new();
    ///         answer.push(serde_json::json!("image/jpeg")).push_binary(vec![0xff_u8, 0xd8]);
    ///         ack.send_payload(answer)
    ///     })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// let answer = client.emit_with_ack("thumbnail", &()).await?;
    /// let (kind, image): (String, serde_json::Value) = answer.data()?;
    /// assert_eq!(kind, "image/jpeg");
    /// assert_eq!(answer.payload.binary(&image).map(|b| b.to_vec()), Some(vec![0xff, 0xd8]));
    /// # Ok(()) }
    /// ```
    pub fn send_payload(&self, payload: Payload) -> Result<(), EmitError> {
        if !self.sent.take() {
            return Err(EmitError::AlreadyAcknowledged);
        }
        let packet = Packet::ack(self.socket.ns_str(), payload, self.id);
        self.socket.send_packet(&packet, false)
    }

    /// Answers with an error object `{"message": message}` plus `"data"` when given: how the
    /// server reports a payload its handler could not use, or a rejecting middleware.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.on("buy", |ack: Ack, Data(quantity): Data<u32>| async move {
    ///         if quantity == 0 {
    ///             return ack.send_error("empty order", Some(serde_json::json!({"min": 1})));
    ///         }
    ///         ack.send(&quantity)
    ///     })
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// let answer = client.emit_with_ack("buy", &0).await?.data::<serde_json::Value>()?;
    /// assert_eq!(answer, serde_json::json!({"message": "empty order", "data": {"min": 1}}));
    /// # Ok(()) }
    /// ```
    pub fn send_error(&self, message: &str, data: Option<Value>) -> Result<(), EmitError> {
        self.send(&error_object(message, data))
    }
}

/// `{"message": message, "data": data}`.
pub(crate) fn error_object(message: &str, data: Option<Value>) -> Value {
    let mut map = serde_json::Map::new();
    map.insert("message".to_owned(), Value::String(message.to_owned()));
    if let Some(data) = data {
        map.insert("data".to_owned(), data);
    }
    Value::Object(map)
}

#[cfg(all(test, switchboard_loom))]
mod loom_tests;

#[cfg(test)]
mod tests {
    use super::SentFlag;

    #[test]
    fn an_unshared_flag_is_taken_once() {
        let flag = SentFlag::default();
        assert!(!flag.is_sent());
        assert!(flag.take());
        assert!(flag.is_sent());
        assert!(!flag.take());
    }

    #[test]
    fn clones_share_the_answer_either_way() {
        // Cloned before the answer: whichever answers first wins, the others see it.
        let flag = SentFlag::default();
        let clone = flag.share();
        let clone_of_clone = clone.share();
        assert!(!flag.is_sent() && !clone.is_sent());
        assert!(clone.take());
        assert!(flag.is_sent() && clone_of_clone.is_sent());
        assert!(!flag.take());
        assert!(!clone_of_clone.take());

        // Cloned after the answer: the clone sees it.
        let flag = SentFlag::default();
        assert!(flag.take());
        let clone = flag.share();
        assert!(clone.is_sent());
        assert!(!clone.take());
    }
}
