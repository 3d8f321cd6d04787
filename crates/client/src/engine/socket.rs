//! The public handle of an Engine.IO client connection.

use std::sync::Arc;

use switchboard_proto::engine::{Handshake, Message, Packet};
use tokio::sync::{mpsc, oneshot};

use super::driver::{self, Command, Driver};
use super::url::Endpoint;
use super::{CloseReason, EngineOptions, Error, TransportKind};

/// How many commands may wait for the driver before `send` waits.
const COMMAND_CAPACITY: usize = 256;
/// How many events may wait for the application before the driver stops reading.
const EVENT_CAPACITY: usize = 1024;

/// Something that happened on the connection.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// The server sent a message.
    Message(Message),
    /// The connection now runs on this transport (after a successful upgrade).
    Upgrade(TransportKind),
    /// The upgrade failed; the connection goes on with polling.
    UpgradeError(Arc<Error>),
    /// The connection closed; this is the last event.
    Close(CloseReason),
}

/// An open Engine.IO client connection.
///
/// A task owns the connection; this handle sends it commands and receives its [`Event`]s,
/// which must be read (with [`Socket::recv`]) for the connection to make progress.
///
/// ```no_run
/// use switchboard_client::engine::{EngineOptions, Event, Message, Socket};
///
/// # async fn run() -> Result<(), switchboard_client::engine::Error> {
/// let mut socket = Socket::connect("http://127.0.0.1:3000", EngineOptions::default()).await?;
/// socket.send(Message::Text("hello".into())).await?;
/// while let Some(event) = socket.recv().await {
///     match event {
///         Event::Message(m) => println!("got {m:?}"),
///         Event::Close(reason) => println!("closed: {reason}"),
///         _ => {}
///     }
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Socket {
    handle: Handle,
    events: mpsc::Receiver<Event>,
    handshake: Handshake,
    transport: TransportKind,
}

/// A cloneable sender to an Engine.IO connection.
#[derive(Debug, Clone)]
pub struct Handle {
    commands: mpsc::Sender<Command>,
}

impl Socket {
    /// Connects to the Engine.IO server at `url` (`http://host:port`; the path comes from
    /// [`EngineOptions::path`]) and completes the handshake, within
    /// [`EngineOptions::connect_timeout`]. The upgrade, if any, goes on in the background.
    pub async fn connect(url: &str, options: EngineOptions) -> Result<Socket, Error> {
        let endpoint = Endpoint::new(url, &options)?;
        Self::connect_to(endpoint, options).await
    }

    /// Connects to a parsed endpoint.
    pub(crate) async fn connect_to(
        endpoint: Endpoint,
        options: EngineOptions,
    ) -> Result<Socket, Error> {
        let opened =
            tokio::time::timeout(options.connect_timeout, driver::open(&endpoint, &options))
                .await
                .map_err(|_| Error::Timeout)??;
        let handshake = opened.handshake.clone();
        let transport = opened.transport_kind;
        // Commands from every handle to the driver; closed when all handles are dropped, which
        // closes the connection.
        let (commands, command_rx) = mpsc::channel(COMMAND_CAPACITY);
        // Events from the driver to this socket; the driver closes it when the connection ends.
        let (event_tx, events) = mpsc::channel(EVENT_CAPACITY);
        let (driver, rest) = Driver::new(endpoint, options, opened, command_rx, event_tx);
        // The driver task owns the connection state until the connection closes.
        tokio::spawn(driver.run(rest));
        Ok(Socket { handle: Handle { commands }, events, handshake, transport })
    }

    /// The handshake the server sent.
    pub fn handshake(&self) -> &Handshake {
        &self.handshake
    }

    /// The session id.
    pub fn sid(&self) -> &str {
        &self.handshake.sid
    }

    /// The transport in use, as of the last event received.
    pub fn transport(&self) -> TransportKind {
        self.transport
    }

    /// A cloneable handle to send on this connection from elsewhere.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Queues a message; it is written in order with the others.
    pub async fn send(&self, message: Message) -> Result<(), Error> {
        self.handle.send(message).await
    }

    /// The next event, or `None` once the [`Event::Close`] has been received.
    pub async fn recv(&mut self) -> Option<Event> {
        let event = self.events.recv().await;
        if let Some(Event::Upgrade(t)) = &event {
            self.transport = *t;
        }
        event
    }

    /// Flushes the queued messages and closes the connection.
    pub async fn close(&self) {
        self.handle.close().await;
    }
}

impl Handle {
    /// Queues a message; fails with [`Error::Closed`] once the connection is closed.
    pub async fn send(&self, message: Message) -> Result<(), Error> {
        self.commands.send(Command::Send(Packet::Message(message))).await.map_err(|_| Error::Closed)
    }

    /// Flushes the queued messages and closes the connection; returns once it is closed.
    pub async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Close(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// True once the connection is closed.
    pub fn is_closed(&self) -> bool {
        self.commands.is_closed()
    }
}
