//! WebSocket: the HTTP upgrade, WebSocket-only sessions and upgrade probes.

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::error::RequestError;
use crate::service::ResponseBody;
use crate::session_task::{self, Command, SessionHandle, Ws};
use crate::socket::RequestInfo;
use crate::{Engine, EngineConfig, Handler};

/// Whether `req` asks for a WebSocket upgrade.
pub(crate) fn is_upgrade<B>(req: &Request<B>) -> bool {
    let connection_upgrade = req.headers().get_all(header::CONNECTION).iter().any(|v| {
        v.to_str().is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade")))
    });
    let upgrade_websocket = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    connection_upgrade && upgrade_websocket
}

/// How many bytes of frames the session task queues in tungstenite before it writes them: the
/// frames of one wake-up go out in one `write` (a flush ends every wake-up), which is what
/// makes a burst of broadcasts cheap. The buffer only grows as far as a batch needs.
const WRITE_BATCH: usize = 64 * 1024;

/// How many bytes tungstenite reads at a time, allocated up front for every connection: Engine.IO
/// frames are small, and a larger message just takes several reads.
const READ_CHUNK: usize = 1024;

/// The WebSocket settings: limits from the engine config, small buffers for idle connections.
pub(crate) fn config(config: &EngineConfig) -> WebSocketConfig {
    let max = config.max_payload;
    let max_write = config.max_websocket_write_buffer.max(2);
    WebSocketConfig::default()
        .read_buffer_size(READ_CHUNK)
        // Must stay below max_write_buffer_size, or tungstenite panics.
        .write_buffer_size(WRITE_BATCH.min(max_write - 1))
        .max_write_buffer_size(max_write)
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

/// Validates the upgrade request and builds the `101` answer.
fn accept<B>(req: &mut Request<B>) -> Result<(Response<ResponseBody>, OnUpgrade), RequestError> {
    if req.method() != Method::GET || !is_upgrade(req) {
        return Err(RequestError::BadRequest);
    }
    if req.headers().get(header::SEC_WEBSOCKET_VERSION).map(HeaderValue::as_bytes) != Some(b"13") {
        return Err(RequestError::BadRequest);
    }
    let key = req.headers().get(header::SEC_WEBSOCKET_KEY).ok_or(RequestError::BadRequest)?;
    let accept = derive_accept_key(key.as_bytes());
    let accept = HeaderValue::from_str(&accept).map_err(|_| RequestError::BadRequest)?;
    let on_upgrade = hyper::upgrade::on(req);
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = res.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    Ok((res, on_upgrade))
}

async fn upgraded(on_upgrade: OnUpgrade, config: WebSocketConfig) -> Option<Ws> {
    match on_upgrade.await {
        Ok(io) => Some(
            WebSocketStream::from_raw_socket(TokioIo::new(io), Role::Server, Some(config)).await,
        ),
        Err(e) => {
            tracing::debug!(error = %e, "websocket upgrade failed");
            None
        }
    }
}

/// A WebSocket-only session: answers `101`, then starts the session on the connection.
pub(crate) fn handshake<H: Handler, B>(
    engine: &Engine<H>,
    info: RequestInfo,
    mut req: Request<B>,
) -> Result<Response<ResponseBody>, RequestError> {
    let (res, on_upgrade) = accept(&mut req)?;
    let engine = engine.clone();
    // Waits for hyper to hand over the connection once the 101 is written; ends when the
    // session task is spawned (or the upgrade fails).
    tokio::spawn(async move {
        if let Some(ws) = upgraded(on_upgrade, config(engine.config())).await {
            session_task::spawn(&engine, info, Some(ws));
        }
    });
    Ok(res)
}

/// A WebSocket for an existing session: answers `101`, then hands the connection to the
/// session task, which probes it for an upgrade or closes it if the session cannot upgrade.
pub(crate) fn probe<H: Handler, B>(
    engine: &Engine<H>,
    handle: SessionHandle,
    mut req: Request<B>,
) -> Result<Response<ResponseBody>, RequestError> {
    let (res, on_upgrade) = accept(&mut req)?;
    let ws_config = config(engine.config());
    // Waits for the upgraded connection, then gives it to the session task; ends at once.
    tokio::spawn(async move {
        if let Some(ws) = upgraded(on_upgrade, ws_config).await {
            if let Err(Command::Probe(ws)) = handle.command(Command::Probe(Box::new(ws))).await {
                session_task::close_ws(*ws);
            }
        }
    });
    Ok(res)
}
