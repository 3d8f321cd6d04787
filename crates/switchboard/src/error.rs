//! Why an emit failed.

use switchboard_adapter::AdapterError;
use switchboard_engine::SendError;
use switchboard_proto::socket::ReservedEventName;

/// Why an event, an ack or a broadcast could not be sent.
///
/// ```
/// use switchboard::prelude::*;
/// use switchboard::testing::TestClient;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let io = SocketIo::new(Default::default());
/// let _client = TestClient::connect(&io).await?;
/// let socket = io.of("/").sockets().remove(0);
/// assert!(matches!(socket.emit("disconnect", &()), Err(EmitError::ReservedEvent(_))));
/// socket.disconnect(false).await;
/// assert!(matches!(socket.emit("hello", &()), Err(EmitError::Closed)));
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The event name is reserved (`connect`, `disconnect`, ...).
    #[error(transparent)]
    ReservedEvent(#[from] ReservedEventName),
    /// The data could not be serialized to JSON.
    #[error("could not serialize the payload")]
    Serialize(#[source] serde_json::Error),
    /// The connection refused the packet.
    #[error("could not queue the packet")]
    Send(#[from] SendError),
    /// The socket is not connected.
    #[error("socket not connected")]
    Closed,
    /// This ack was already answered.
    #[error("ack already sent")]
    AlreadyAcknowledged,
    /// A binary placeholder (`{"_placeholder":true,"num":N}`) has no attachment to stand
    /// for: it is only sent with the binary of the event it was read from.
    #[error("binary placeholder without its attachment")]
    UnresolvedPlaceholder,
    /// The adapter failed.
    #[error("adapter failed")]
    Adapter(#[from] AdapterError),
}
