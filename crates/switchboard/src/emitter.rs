//! `socket.emit` with flags: volatile, compress, timeout.

use std::time::Duration;

use serde::Serialize;
use switchboard_proto::socket::{EventName, Packet, Payload};
use tokio::sync::oneshot;

use crate::ack::AckWaiter;
use crate::{AckError, AckFuture, AckResponse, EmitError, Socket};

/// `socket.emit` with flags (`socket.volatile()`, `socket.timeout(..)`).
///
/// ```
/// use switchboard::prelude::*;
/// use switchboard::testing::TestClient;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// let io = SocketIo::new(Default::default());
/// io.on_connection(|socket: Socket| async move {
///     let answer = socket.timeout(Duration::from_secs(5)).emit_with_ack("name?", &()).await?;
///     socket.volatile().emit("hello", &answer.data::<String>()?)?; // dropped if not writable now
///     Ok::<_, HandlerError>(())
/// });
/// let mut client = TestClient::connect(&io).await?;
/// let question = client.recv().await?;
/// client.ack(&question, "ana")?;
/// assert_eq!(client.recv().await?.data::<String>()?, "ana");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SocketEmitter {
    pub(crate) socket: Socket,
    pub(crate) volatile: bool,
    pub(crate) timeout: Option<Duration>,
}

impl SocketEmitter {
    /// Drop the packet rather than queue it when the connection is not ready.
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     // Flags combine in any order.
    ///     let answer =
    ///         socket.timeout(Duration::from_secs(5)).volatile().emit_with_ack("ping", &()).await?;
    ///     socket.emit("pong", &answer.data::<String>()?)?;
    ///     Ok::<_, HandlerError>(())
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// let ping = client.recv().await?; // the connection could take it: delivered
    /// client.ack(&ping, "here")?;
    /// assert_eq!(client.recv().await?.data::<String>()?, "here");
    /// # Ok(()) }
    /// ```
    pub fn volatile(mut self) -> Self {
        self.volatile = true;
        self
    }

    /// Accepted for API parity; the engine decides compression.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.volatile().compress(false).emit("tick", &1)
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// assert_eq!(client.recv().await?.data::<u32>()?, 1);
    /// # Ok(()) }
    /// ```
    pub fn compress(self, _compress: bool) -> Self {
        self
    }

    /// Fail [`SocketEmitter::emit_with_ack`] after `timeout`.
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
    ///     let patient = socket.volatile().timeout(Duration::from_secs(10));
    ///     let answer = patient.emit_with_ack("there?", &()).await;
    ///     socket.emit("gave up", &matches!(answer, Err(AckError::Timeout)))
    /// });
    /// let started = tokio::time::Instant::now();
    /// let mut client = TestClient::connect(&io).await?;
    /// client.set_timeout(Duration::from_secs(60));
    /// let _unanswered = client.recv().await?;
    /// assert!(client.recv().await?.data::<bool>()?);
    /// assert_eq!(started.elapsed(), Duration::from_secs(10)); // paused time: at once in real time
    /// # Ok(()) }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
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
    /// io.on_connection(|socket: Socket| async move {
    ///     socket.volatile().emit("position", &(3, 4))
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// assert_eq!(client.recv().await?.data::<(i32, i32)>()?, (3, 4));
    /// # Ok(()) }
    /// ```
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        self.emit_payload(event, crate::args::to_payload(data)?)
    }

    /// Emits these arguments.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     let mut frame = Payload::new();
    ///     frame.push_binary(vec![7u8; 4]); // a video frame: no use late, so volatile
    ///     socket.volatile().emit_payload("frame", frame)
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// assert_eq!(&client.recv().await?.payload.attachments()[0][..], [7; 4]);
    /// # Ok(()) }
    /// ```
    pub fn emit_payload(&self, event: &str, payload: Payload) -> Result<(), EmitError> {
        let packet = Packet::event(self.socket.ns_str(), EventName::new(event)?, payload);
        if self.socket.logs_own_packets() {
            // As Node with recovery on: through the adapter to the socket's own room, so the
            // packet is logged and replayed if the client misses it.
            return self.socket.emit_logged(packet, self.volatile);
        }
        self.socket.send_packet(&packet, self.volatile)
    }

    /// Emits `data` (see [`crate::Socket::emit`] for the argument forms) and returns the
    /// client's answer. The packet is sent at once; the
    /// returned future only waits.
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     let sum = socket.timeout(Duration::from_secs(5)).emit_with_ack("add", &(2, 3));
    ///     let answer = sum.await?;
    ///     socket.emit("sum", &answer.data::<i32>()?)?;
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
        match crate::args::to_payload(data) {
            Ok(payload) => self.emit_payload_with_ack(event, payload),
            Err(e) => Box::pin(std::future::ready(Err(e.into()))),
        }
    }

    /// Emits these arguments and returns the client's answer. The packet is sent at once.
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// io.on_connection(|socket: Socket| async move {
    ///     let mut file = Payload::new();
    ///     file.push(serde_json::json!("notes.txt")).push_binary(b"hello".to_vec());
    ///     let save = socket.timeout(Duration::from_secs(5)).emit_payload_with_ack("save", file);
    ///     let answer = save.await?;
    ///     socket.emit("saved", &answer.data::<bool>()?)?;
    ///     Ok::<_, HandlerError>(())
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// let save = client.recv().await?;
    /// assert_eq!(&save.payload.attachments()[0][..], b"hello");
    /// client.ack(&save, &true)?;
    /// assert!(client.recv().await?.data::<bool>()?);
    /// # Ok(()) }
    /// ```
    pub fn emit_payload_with_ack(&self, event: &str, payload: Payload) -> AckFuture {
        let started = self.start_with_ack(event, payload);
        let socket = self.socket.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            let (id, rx) = started?;
            // Counted while this future waits (dropped with it).
            let _pending = crate::metrics::AckPending::start();
            let answer = match timeout {
                Some(t) => match tokio::time::timeout(t, rx).await {
                    Ok(answer) => answer,
                    Err(_) => {
                        socket.forget_ack(id);
                        crate::metrics::ack_timed_out();
                        return Err(AckError::Timeout);
                    }
                },
                None => rx.await,
            };
            answer.map(|payload| AckResponse { payload }).map_err(|_| AckError::Disconnected)
        })
    }

    fn start_with_ack(
        &self,
        event: &str,
        payload: Payload,
    ) -> Result<(u64, oneshot::Receiver<Payload>), AckError> {
        let event = EventName::new(event).map_err(EmitError::from)?;
        let id = self.socket.next_ack_id();
        // One answer, from the engine callback that decodes the client's ACK.
        let (tx, rx) = oneshot::channel();
        self.socket.register_ack(id, AckWaiter::Single(tx))?;
        let packet = Packet::event_with_ack(self.socket.ns_str(), event, payload, id);
        if let Err(e) = self.socket.send_packet(&packet, self.volatile) {
            self.socket.forget_ack(id);
            return Err(e.into());
        }
        Ok((id, rx))
    }
}
