//! [`SocketIoBuilder`]: a server with an adapter, a parser and state of your choice.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};

use switchboard_adapter::{AdapterFactory, MemoryAdapter};
use switchboard_engine::Engine;
use switchboard_proto::socket::Parser;

use super::{IoHandler, IoInner, SocketIo};
use crate::SocketIoConfig;
use crate::bundle::ClientBundle;
use crate::extract::States;

/// Builds a [`SocketIo`] with a custom adapter or parser.
///
/// ```
/// use switchboard::{SocketIo, SocketIoConfig};
/// use switchboard_adapter::MemoryAdapter;
///
/// let io = SocketIo::builder()
///     .config(SocketIoConfig::default())
///     .adapter(MemoryAdapter::factory())
///     .build();
/// assert_eq!(io.config().engine.path, "/socket.io/");
/// ```
pub struct SocketIoBuilder {
    config: SocketIoConfig,
    factory: Arc<dyn AdapterFactory>,
    parser: Option<Arc<dyn Parser>>,
    states: States,
}

impl std::fmt::Debug for SocketIoBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketIoBuilder").field("config", &self.config).finish()
    }
}

impl SocketIoBuilder {
    /// The defaults: [`SocketIoConfig::default`], the in-memory adapter, the JSON parser, no
    /// state.
    pub(super) fn new() -> Self {
        SocketIoBuilder {
            config: SocketIoConfig::default(),
            factory: MemoryAdapter::factory(),
            parser: None,
            states: States::default(),
        }
    }

    /// The options.
    ///
    /// ```
    /// use switchboard::{SocketIo, SocketIoConfig};
    ///
    /// let mut config = SocketIoConfig::default();
    /// config.engine.path = "/live/".to_owned();
    /// let io = SocketIo::builder().config(config).build();
    /// assert_eq!(io.config().engine.path, "/live/");
    /// ```
    pub fn config(mut self, config: SocketIoConfig) -> Self {
        self.config = config;
        self
    }

    /// The adapter factory (default: in-memory).
    ///
    /// ```
    /// use switchboard::testing::TestClient;
    /// use switchboard::{MemoryAdapter, Room, SocketIo};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // A cluster adapter (`switchboard-redis`) is given the same way.
    /// let io = SocketIo::builder().adapter(MemoryAdapter::factory()).build();
    /// let client = TestClient::connect(&io).await?;
    /// // Every socket is in the room named after its id, kept by the adapter.
    /// assert_eq!(io.of("/").rooms().await?, [Room::from(client.id())]);
    /// # Ok(()) }
    /// ```
    pub fn adapter(mut self, factory: Arc<dyn AdapterFactory>) -> Self {
        self.factory = factory;
        self
    }

    /// The packet parser (default: the one named by `config.parser`, JSON unless set, with
    /// `config.max_attachments`).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use switchboard::testing::{TestClient, TestError};
    /// use switchboard::{JsonParser, Payload, SocketIo};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // The JSON parser, taking at most 2 binary attachments per packet.
    /// let io = SocketIo::builder().parser(Arc::new(JsonParser { max_attachments: 2 })).build();
    /// let mut client = TestClient::connect(&io).await?;
    /// let mut files = Payload::new();
    /// files.push_binary(vec![1]).push_binary(vec![2]).push_binary(vec![3]);
    /// client.emit_payload("upload", files)?;
    /// // A packet the parser refuses closes the connection.
    /// assert!(matches!(client.recv().await, Err(TestError::Closed)));
    /// # Ok(()) }
    /// ```
    pub fn parser(mut self, parser: Arc<dyn Parser>) -> Self {
        self.parser = Some(parser);
        self
    }

    /// Adds application state, which handlers take as [`crate::State<S>`] (one value per
    /// type; each handler gets a clone, so make it cheap: an `Arc`, a pool handle).
    ///
    /// ```
    /// use switchboard::prelude::*;
    ///
    /// #[derive(Clone)]
    /// struct Config { motd: &'static str }
    ///
    /// let io = SocketIo::builder().with_state(Config { motd: "hi" }).build();
    /// io.on_connection(|socket: Socket, State(config): State<Config>| async move {
    ///     socket.emit("motd", config.motd)
    /// });
    /// ```
    pub fn with_state<S: Clone + Send + Sync + 'static>(mut self, state: S) -> Self {
        self.states.insert(state);
        self
    }

    /// The server.
    ///
    /// ```
    /// use switchboard::SocketIo;
    ///
    /// let io = SocketIo::builder().build();
    /// assert_eq!(io.of("/").name(), "/"); // the main namespace always exists
    /// ```
    pub fn build(self) -> SocketIo {
        let parser =
            self.parser.unwrap_or_else(|| self.config.parser.parser(self.config.max_attachments));
        // With the metrics on, every namespace's adapter is counted and timed.
        #[cfg(feature = "metrics")]
        let factory: Arc<dyn AdapterFactory> =
            Arc::new(crate::metered::MeteredFactory(self.factory));
        #[cfg(not(feature = "metrics"))]
        let factory = self.factory;
        let observer = crate::observe::Slot::default();
        // With the admin feature on, room changes are reported to an attached admin.
        #[cfg(feature = "admin")]
        let factory: Arc<dyn AdapterFactory> = Arc::new(crate::admin::observed::ObservedFactory {
            inner: factory,
            slot: observer.clone(),
        });
        let inner = Arc::new(IoInner {
            config: self.config.clone(),
            parser,
            factory,
            states: Arc::new(self.states),
            namespaces: Mutex::new(HashMap::new()),
            parents: Mutex::new(Vec::new()),
            live: AtomicUsize::new(0),
            all_finished: tokio::sync::Notify::new(),
            closing: AtomicBool::new(false),
            shutdown: tokio::sync::watch::Sender::new(false),
            serving: tokio::sync::watch::Sender::new(0),
            observer,
        });
        inner.of("/");
        let bundle = match &self.config.client_dist {
            Some(dir) if self.config.serve_client => {
                let bundle = ClientBundle::load(dir).map(Arc::new);
                if bundle.is_none() {
                    tracing::warn!(dir = %dir.display(), "no socket.io-client files found: the client paths will answer 404");
                }
                bundle
            }
            _ => None,
        };
        let engine = Engine::new(Arc::new(IoHandler::new(inner.clone())), self.config.engine);
        SocketIo { inner, engine, bundle }
    }
}
