//! Engine.IO client options.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;

/// A transport the client can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportKind {
    /// HTTP long-polling (`transport=polling`).
    Polling,
    /// WebSocket (`transport=websocket`).
    WebSocket,
}

impl TransportKind {
    /// The name used on the wire and in the handshake's `upgrades` list.
    pub fn name(self) -> &'static str {
        match self {
            TransportKind::Polling => "polling",
            TransportKind::WebSocket => "websocket",
        }
    }

    /// The transport with this wire name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "polling" => Some(TransportKind::Polling),
            "websocket" => Some(TransportKind::WebSocket),
            _ => None,
        }
    }
}

/// Options of an Engine.IO client connection.
///
/// The defaults are those of the official `engine.io-client` (v6): transports
/// `["polling", "websocket"]`, `upgrade: true`, `rememberUpgrade: false`, path `/engine.io/`,
/// no request timeout; the connect timeout is the 20 s `timeout` of `socket.io-client`'s Manager.
///
/// ```
/// use switchboard_client::engine::{EngineOptions, TransportKind};
///
/// let mut options = EngineOptions::default();
/// options.transports = vec![TransportKind::WebSocket];
/// options.query.push(("token".into(), "abc".into()));
/// assert_eq!(options.path, "/engine.io/");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EngineOptions {
    /// The transports to use, in order of preference: the connection opens with the first one
    /// and may upgrade to a later one.
    pub transports: Vec<TransportKind>,
    /// Whether to try to upgrade from polling to WebSocket after the handshake.
    pub upgrade: bool,
    /// Whether, once a WebSocket connection has succeeded in this process, the next connections
    /// open directly with WebSocket (skipping polling), as the JS client does.
    pub remember_upgrade: bool,
    /// The server path of the Engine.IO endpoint. A trailing slash is added if missing.
    pub path: String,
    /// Extra query parameters sent with every request.
    pub query: Vec<(String, String)>,
    /// Extra headers sent with every HTTP request and with the WebSocket handshake.
    pub extra_headers: HeaderMap,
    /// How long the handshake may take.
    pub connect_timeout: Duration,
    /// How long one polling write (`POST`) may take; `None` waits forever, like the JS default.
    pub request_timeout: Option<Duration>,
    /// The TLS configuration of `https://` and `wss://` URLs; `None` trusts the platform's root
    /// certificates ([`super::platform_tls_config`]). [`super::tls_config_with_ca`] trusts a
    /// private CA or a self-signed server certificate.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            transports: vec![TransportKind::Polling, TransportKind::WebSocket],
            upgrade: true,
            remember_upgrade: false,
            path: "/engine.io/".into(),
            query: Vec::new(),
            extra_headers: HeaderMap::new(),
            connect_timeout: Duration::from_secs(20),
            request_timeout: None,
            tls: None,
        }
    }
}
