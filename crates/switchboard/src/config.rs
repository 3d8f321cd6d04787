//! Server options. `Default` equals the Node `socket.io` v4 defaults.

use std::path::PathBuf;
use std::time::Duration;

use switchboard_engine::EngineConfig;

/// Socket.IO server options, with the Engine.IO options nested.
///
/// Defaults (Node `socket.io` v4): path `/socket.io/`, `connectTimeout` 45 s, and the engine's
/// defaults (pingInterval 25 s, pingTimeout 20 s, upgradeTimeout 10 s, maxHttpBufferSize 1e6).
/// `max_attachments` (10) has no Node equivalent: Node accepts any number.
///
/// ```
/// use std::time::Duration;
/// use switchboard::SocketIoConfig;
///
/// let mut config = SocketIoConfig::default();
/// assert_eq!(config.engine.path, "/socket.io/");
/// assert_eq!(config.connect_timeout, Duration::from_secs(45));
/// config.engine.ping_interval = Duration::from_millis(300);
/// ```
///
/// Socket.IO v2 clients (Engine.IO v3, Socket.IO protocol v4) are accepted with
/// `engine.allow_eio3` (Node's `allowEIO3`, off by default); such a client is joined to the main
/// namespace without asking:
///
/// ```
/// use http_body_util::BodyExt;
/// use switchboard::{SocketIo, SocketIoConfig};
/// use tower_service::Service;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut config = SocketIoConfig::default();
/// config.engine.allow_eio3 = true;
/// let io = SocketIo::new(config);
/// let handshake = http::Request::get("/socket.io/?EIO=3&transport=polling&b64=1")
///     .body(String::new())?;
/// let res = io.service().call(handshake).await?;
/// let body = String::from_utf8(res.into_body().collect().await?.to_bytes().to_vec())?;
/// // The open packet, then the CONNECT of `/`, each behind its length.
/// assert!(body.contains(r#":0{"sid":"#) && body.ends_with("2:40"), "{body}");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SocketIoConfig {
    /// The Engine.IO options; `engine.path` is where the server answers.
    pub engine: EngineConfig,
    /// How long a new connection has to join a namespace before it is closed.
    pub connect_timeout: Duration,
    /// The most binary attachments one packet may carry.
    pub max_attachments: usize,
    /// The most decoded packets of one connection waiting for their handlers; past it the
    /// connection is closed (a client sending faster than its handlers run).
    pub max_pending_packets: usize,
    /// Serve the official browser client at `<path>socket.io.js` (and `.min.js`, `.map`,
    /// `.esm.min.js`), as Node's `serveClient`.
    pub serve_client: bool,
    /// The `dist` directory of the npm `socket.io-client` package to serve the client from
    /// (the files are never committed; the build tooling fetches them). Defaults to the
    /// `SWITCHBOARD_CLIENT_DIST` environment variable; without it the client paths are not
    /// served: they reach the engine, which answers 400 `Transport unknown` (as Node with
    /// `serveClient: false`).
    pub client_dist: Option<PathBuf>,
    /// Connection state recovery (Node's `connectionStateRecovery`); `None` (off) as in Node.
    /// See [`crate::ConnectionStateRecovery`].
    pub connection_state_recovery: Option<crate::ConnectionStateRecovery>,
    /// The packet format: JSON (Node's default parser) or msgpack (the npm
    /// `socket.io-msgpack-parser`, which the clients must use too). A parser given to
    /// [`crate::SocketIoBuilder::parser`] takes precedence.
    pub parser: ParserKind,
}

/// The built-in packet formats, chosen with [`SocketIoConfig::parser`] (or `--parser json|msgpack`
/// on the command lines).
///
/// ```
/// use switchboard::testing::TestClient;
/// use switchboard::{ParserKind, SocketIo, SocketIoConfig};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut config = SocketIoConfig::default();
/// config.parser = "msgpack".parse()?;
/// assert_eq!(config.parser, ParserKind::Msgpack);
/// let io = SocketIo::new(config);
/// io.on_connection(|socket: switchboard::Socket| async move { socket.emit("hi", &(1, "two")) });
/// // The test client speaks the server's format.
/// let mut client = TestClient::connect(&io).await?;
/// assert_eq!(client.recv().await?.data::<(u32, String)>()?, (1, "two".to_owned()));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParserKind {
    /// JSON text plus binary attachments (`socket.io-parser`, the default).
    #[default]
    Json,
    /// msgpack, binary inline (`socket.io-msgpack-parser`), with the default limits of
    /// [`crate::MsgpackParser`] and [`SocketIoConfig::max_attachments`].
    Msgpack,
}

impl ParserKind {
    /// The name on the command line: `json` or `msgpack`.
    pub fn as_str(self) -> &'static str {
        match self {
            ParserKind::Json => "json",
            ParserKind::Msgpack => "msgpack",
        }
    }

    /// The parser, taking at most `max_attachments` binary values per packet.
    pub fn parser(self, max_attachments: usize) -> std::sync::Arc<dyn crate::Parser> {
        match self {
            ParserKind::Json => std::sync::Arc::new(crate::JsonParser { max_attachments }),
            ParserKind::Msgpack => std::sync::Arc::new(crate::MsgpackParser {
                max_attachments,
                ..crate::MsgpackParser::default()
            }),
        }
    }
}

impl std::fmt::Display for ParserKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parser name other than `json` and `msgpack`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown parser {0:?} (expected json or msgpack)")]
pub struct UnknownParser(pub String);

impl std::str::FromStr for ParserKind {
    type Err = UnknownParser;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "json" => Ok(ParserKind::Json),
            "msgpack" => Ok(ParserKind::Msgpack),
            other => Err(UnknownParser(other.to_owned())),
        }
    }
}

impl Default for SocketIoConfig {
    fn default() -> Self {
        let mut engine = EngineConfig::default();
        engine.path = "/socket.io/".to_owned();
        SocketIoConfig {
            engine,
            connect_timeout: Duration::from_secs(45),
            max_attachments: switchboard_proto::socket::DEFAULT_MAX_ATTACHMENTS,
            max_pending_packets: 1024,
            serve_client: true,
            client_dist: std::env::var_os("SWITCHBOARD_CLIENT_DIST").map(PathBuf::from),
            connection_state_recovery: None,
            parser: ParserKind::Json,
        }
    }
}
