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
    pub fn options(&self) -> &BroadcastOptions {
        &self.opts
    }

    /// Adds a target room.
    pub fn to(mut self, room: impl Into<Room>) -> Self {
        self.opts.rooms.insert(room.into());
        self
    }

    /// Same as [`BroadcastOperator::to`].
    pub fn in_(self, room: impl Into<Room>) -> Self {
        self.to(room)
    }

    /// Adds target rooms.
    pub fn to_all<R: Into<Room>>(mut self, rooms: impl IntoIterator<Item = R>) -> Self {
        self.opts.rooms.extend(rooms.into_iter().map(Into::into));
        self
    }

    /// Excludes the sockets of a room.
    pub fn except(mut self, room: impl Into<Room>) -> Self {
        self.opts.except.insert(room.into());
        self
    }

    /// Only this server's sockets.
    pub fn local(mut self) -> Self {
        self.opts.flags.local = true;
        self
    }

    /// Drop the packet for clients that cannot take it now.
    pub fn volatile(mut self) -> Self {
        self.opts.flags.volatile = true;
        self
    }

    /// Compression flag (passed to the adapter; the engine decides compression).
    pub fn compress(mut self, compress: bool) -> Self {
        self.opts.flags.compress = compress;
        self
    }

    /// How long [`BroadcastOperator::emit_with_ack`] waits.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.opts.flags.timeout = Some(timeout);
        self
    }

    /// Emits `data` (see [`crate::Socket::emit`] for the argument forms).
    pub async fn emit<T: Serialize + ?Sized>(self, event: &str, data: &T) -> Result<(), EmitError> {
        let payload = crate::args::to_payload(data)?;
        self.emit_payload(event, payload).await
    }

    /// Emits these arguments (several, none, or binary).
    pub async fn emit_payload(self, event: &str, payload: Payload) -> Result<(), EmitError> {
        let packet = Packet::event(self.ns.name_str(), EventName::new(event)?, payload);
        self.ns.adapter().broadcast(packet, self.opts).await?;
        Ok(())
    }

    /// Emits `data` (see [`crate::Socket::emit`] for the argument forms) and collects one answer per reached socket (Node's
    /// `io.timeout(ms).emit(ev, data, cb)`). Without a timeout it waits until every reached
    /// socket answered or left.
    pub async fn emit_with_ack<T: Serialize + ?Sized>(
        self,
        event: &str,
        data: &T,
    ) -> Result<Vec<SocketAck>, AckError> {
        let payload = crate::args::to_payload(data)?;
        self.emit_payload_with_ack(event, payload).await
    }

    /// Emits these arguments and collects one answer per reached socket.
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
    pub async fn fetch_sockets(self) -> Result<Vec<RemoteSocket>, EmitError> {
        let infos = self.ns.adapter().fetch_sockets(self.opts).await?;
        Ok(infos.into_iter().map(|i| RemoteSocket::new(self.ns.clone(), i)).collect())
    }

    /// Makes the target sockets join `room`.
    pub async fn sockets_join(self, room: impl Into<Room>) -> Result<(), EmitError> {
        Ok(self.ns.adapter().add_sockets(self.opts, vec![room.into()]).await?)
    }

    /// Makes the target sockets leave `room`.
    pub async fn sockets_leave(self, room: impl Into<Room>) -> Result<(), EmitError> {
        Ok(self.ns.adapter().del_sockets(self.opts, vec![room.into()]).await?)
    }

    /// Disconnects the target sockets (`close`: close their connections too).
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
