//! Socket.IO client options (the `Manager` and `Socket` options of `socket.io-client`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use switchboard_proto::socket::{JsonParser, Parser};

use crate::engine::EngineOptions;

/// The client accepts more binary attachments per packet than the server does by default; the
/// JS client has no limit at all.
const MAX_ATTACHMENTS: usize = 10_000;

/// Options of a [`Manager`](crate::Manager) and of its sockets.
///
/// The defaults are those of `socket.io-client` v4: path `/socket.io/`, reconnection on,
/// infinite attempts, delay 1 s growing to 5 s with a 0.5 randomization factor, a 20 s
/// connection timeout, no ack timeout and no retries.
///
/// ```
/// use std::time::Duration;
/// use switchboard_client::{Auth, ClientOptions};
///
/// let mut options = ClientOptions::default();
/// options.reconnection_attempts = 5;
/// options.auth = Auth::fixed(serde_json::json!({ "token": "abc" }));
/// assert_eq!(options.reconnection_delay, Duration::from_secs(1));
/// assert_eq!(options.engine.path, "/socket.io/");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientOptions {
    /// The Engine.IO options (transports, upgrade, path, query, headers); its
    /// `connect_timeout` is replaced by [`ClientOptions::timeout`].
    pub engine: EngineOptions,
    /// Whether to reconnect after the connection is lost (`reconnection`).
    pub reconnection: bool,
    /// How many reconnection attempts before giving up (`reconnectionAttempts`);
    /// `u32::MAX` stands for the JS `Infinity`.
    pub reconnection_attempts: u32,
    /// The first reconnection delay (`reconnectionDelay`).
    pub reconnection_delay: Duration,
    /// The largest reconnection delay (`reconnectionDelayMax`).
    pub reconnection_delay_max: Duration,
    /// The jitter of the delays, in `[0, 1]` (`randomizationFactor`).
    pub randomization_factor: f64,
    /// How long opening the connection may take (`timeout`).
    pub timeout: Duration,
    /// The payload of every namespace `CONNECT` (`auth`).
    pub auth: Auth,
    /// The default timeout of acknowledgements (`ackTimeout`); `None` waits forever.
    pub ack_timeout: Option<Duration>,
    /// How many times an unacknowledged emit is retried (`retries`). When above 0, every
    /// emit asks for an ack and emits of a socket are sent one at a time, in order.
    pub retries: u32,
    /// Seeds the reconnection jitter, for reproducible delays (tests); `None` seeds from the OS.
    pub backoff_seed: Option<u64>,
    /// The packet format (`parser`): JSON by default; the server must use the same one.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use switchboard_client::{ClientOptions, MsgpackParser, Parser};
    ///
    /// let mut options = ClientOptions::default();
    /// assert!(options.parser.is_json());
    /// // The format of the npm `socket.io-msgpack-parser`.
    /// options.parser = Arc::new(MsgpackParser::default());
    /// ```
    pub parser: Arc<dyn Parser>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        let engine = EngineOptions { path: "/socket.io/".into(), ..EngineOptions::default() };
        ClientOptions {
            engine,
            reconnection: true,
            reconnection_attempts: u32::MAX,
            reconnection_delay: Duration::from_millis(1000),
            reconnection_delay_max: Duration::from_millis(5000),
            randomization_factor: 0.5,
            timeout: Duration::from_millis(20_000),
            auth: Auth::None,
            ack_timeout: None,
            retries: 0,
            backoff_seed: None,
            parser: Arc::new(JsonParser { max_attachments: MAX_ATTACHMENTS }),
        }
    }
}

type AuthFuture = Pin<Box<dyn Future<Output = Value> + Send>>;

/// The payload sent with each namespace `CONNECT`.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Auth {
    /// No payload.
    #[default]
    None,
    /// The same object on every connection.
    Fixed(Value),
    /// Computed anew before every connection attempt (to refresh a token, say).
    Computed(Arc<dyn Fn() -> AuthFuture + Send + Sync>),
}

impl Auth {
    /// The same object on every connection.
    pub fn fixed(value: Value) -> Self {
        Auth::Fixed(value)
    }

    /// An object computed before every connection attempt.
    ///
    /// ```
    /// use switchboard_client::Auth;
    ///
    /// let auth = Auth::computed(|| async { serde_json::json!({ "token": "fresh" }) });
    /// # let _ = auth;
    /// ```
    pub fn computed<F, Fut>(f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Value> + Send + 'static,
    {
        Auth::Computed(Arc::new(move || Box::pin(f())))
    }

    /// The payload for the next attempt.
    pub(crate) async fn get(&self) -> Option<Value> {
        match self {
            Auth::None => None,
            Auth::Fixed(v) => Some(v.clone()),
            Auth::Computed(f) => Some(f().await),
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Fixed(v) => f.debug_tuple("Fixed").field(v).finish(),
            Auth::Computed(_) => f.write_str("Computed(..)"),
        }
    }
}
