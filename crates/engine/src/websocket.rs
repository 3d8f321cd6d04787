//! WebSocket: the HTTP upgrade, WebSocket-only sessions and upgrade probes.

mod conn;
mod deflate;
#[cfg(test)]
mod tests;

use std::future::poll_fn;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::admission::Ticket;
use crate::drain::DrainGuard;
use crate::error::RequestError;
use crate::http1::{self, OnUpgrade};
use crate::service::ResponseBody;
use crate::session_task::{self, Command, SessionHandle, Wire, Ws};
use crate::socket::RequestInfo;
use crate::{Engine, Handler, PerMessageDeflate};

pub(crate) use conn::{WsConn, WsError, give_back, spare_buffer};
pub(crate) use deflate::Agreed;

/// Whether `req` asks for a WebSocket upgrade: `Connection` lists the `upgrade` token and
/// `Upgrade` lists `websocket` (both are comma-separated token lists, in any case, possibly
/// over several header lines; RFC 7230 §6.1 and §6.7).
pub(crate) fn is_upgrade<B>(req: &Request<B>) -> bool {
    has_token(req, header::CONNECTION, "upgrade") && has_token(req, header::UPGRADE, "websocket")
}

/// Whether one of the `name` header lines lists `token` (compared without case; a protocol's
/// version, as in `websocket/13`, does not match).
fn has_token<B>(req: &Request<B>, name: header::HeaderName, token: &str) -> bool {
    req.headers().get_all(name).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// What an accepted upgrade hands on: the connection to come and what the handshake agreed
/// on for compression.
pub(crate) struct Accepted {
    pub(crate) on_upgrade: OnUpgrade,
    pub(crate) deflate: Option<Agreed>,
}

/// Validates the upgrade request and builds the `101` answer, agreeing on permessage-deflate
/// when `deflate` is set and the client offers it.
pub(crate) fn accept<B>(
    req: &mut Request<B>,
    deflate: Option<&PerMessageDeflate>,
) -> Result<(Response<ResponseBody>, Accepted), RequestError> {
    if req.method() != Method::GET || !is_upgrade(req) {
        return Err(RequestError::BadRequest);
    }
    if req.headers().get(header::SEC_WEBSOCKET_VERSION).map(HeaderValue::as_bytes) != Some(b"13") {
        return Err(RequestError::UnsupportedWebSocketVersion);
    }
    let key = req.headers().get(header::SEC_WEBSOCKET_KEY).ok_or(RequestError::BadRequest)?;
    let accept = derive_accept_key(key.as_bytes());
    let accept = HeaderValue::from_str(&accept).map_err(|_| RequestError::BadRequest)?;
    let agreed = deflate.and_then(|config| {
        deflate::negotiate(config, req.headers().get_all(header::SEC_WEBSOCKET_EXTENSIONS).iter())
    });
    let on_upgrade = http1::on_upgrade(req);
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = res.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    let deflate = agreed.map(|(agreed, answer)| {
        headers.insert(header::SEC_WEBSOCKET_EXTENSIONS, answer);
        agreed
    });
    Ok((res, Accepted { on_upgrade, deflate }))
}

pub(crate) async fn upgraded(accepted: Accepted) -> Option<Ws> {
    let upgraded = accepted.on_upgrade.upgraded().await?;
    Some(WsConn::new(upgraded, accepted.deflate))
}

/// A WebSocket-only session: answers `101`, then starts the session on the connection.
pub(crate) fn handshake<H: Handler, B>(
    engine: &Engine<H>,
    info: RequestInfo,
    wire: Wire,
    ticket: Ticket,
    mut req: Request<B>,
) -> Result<Response<ResponseBody>, RequestError> {
    let (res, accepted) = accept(&mut req, engine.config().per_message_deflate.as_ref())?;
    let engine = engine.clone();
    // Waits for the server to hand over the connection once the 101 is written; ends when the
    // session task is spawned (or the upgrade fails).
    tokio::spawn(async move {
        if let Some(ws) = upgraded(accepted).await {
            session_task::spawn(&engine, info, wire, Some(ws), ticket);
        }
    });
    Ok(res)
}

/// A WebSocket for an existing session: answers `101`, then hands the connection to the
/// session task, which probes it for an upgrade or closes it if the session cannot upgrade.
pub(crate) fn probe<B>(
    handle: SessionHandle,
    b64: bool,
    mut req: Request<B>,
    deflate: Option<&PerMessageDeflate>,
) -> Result<Response<ResponseBody>, RequestError> {
    let (res, accepted) = accept(&mut req, deflate)?;
    // Waits for the upgraded connection, then gives it to the session task; ends at once.
    tokio::spawn(async move {
        if let Some(mut ws) = upgraded(accepted).await {
            // The `101` answer goes out now: the client probes only once it has it.
            if poll_fn(|cx| ws.poll_write_out(cx)).await.is_err() {
                return;
            }
            let probe = Command::Probe(Box::new(ws), b64);
            if let Err(Command::Probe(ws, _)) = handle.command(probe).await {
                close_ws(*ws);
            }
        }
    });
    Ok(res)
}

/// Drops a failed WebSocket. A `101` answer still held back for its first frame is written
/// first, so that the client sees the upgrade, then the end of the stream.
pub(crate) fn drop_ws(mut ws: Ws) {
    if ws.keep_head_only() {
        // Writing the answer must not hold up the session task; bounded by 1 s.
        tokio::spawn(async move {
            let _ =
                tokio::time::timeout(Duration::from_secs(1), poll_fn(|cx| ws.poll_write_out(cx)))
                    .await;
        });
    }
}

/// The largest message read (and dropped) while waiting for the peer's close frame.
const LINGER_MAX: usize = 64 * 1024;

/// How long closing a WebSocket may take: writing what is queued, the close frame, and
/// waiting for the peer's.
pub(crate) const LINGER: Duration = Duration::from_secs(1);

/// Sends a close frame and waits briefly for the peer's, so the client sees a clean close.
/// When the peer closed first (its close frame answered) or the connection failed, the close
/// frame is written and the TCP connection closed at once (RFC 6455 §7.1.1, §7.1.7).
pub(crate) fn close_ws(ws: Ws) {
    // Writing the close frame takes little: the same bound as the linger.
    close_ws_within(ws, LINGER, None);
}

/// [`close_ws`] whose writes (what is queued, then the close frame) may take `write_limit`,
/// counted by `guard` (a session's drain) until it ends: the peer's close frame is awaited
/// only after the writes, for at most [`LINGER`], so that closing the TCP connection does not
/// reset it under data the peer has not read.
pub(crate) fn close_ws_within(mut ws: Ws, write_limit: Duration, guard: Option<DrainGuard>) {
    // Writing and lingering must not hold up the session task. The task owns the WebSocket
    // and ends with it, bounded by `write_limit` + `LINGER`.
    tokio::spawn(async move {
        let _guard = guard;
        ws.queue_close(&[]);
        let written = tokio::time::timeout(write_limit, poll_fn(|cx| ws.poll_write_out(cx))).await;
        if !matches!(written, Ok(Ok(()))) || ws.finished() {
            return;
        }
        let _ = tokio::time::timeout(LINGER, async {
            while let Some(Ok(_)) = poll_fn(|cx| ws.poll_next(cx, LINGER_MAX)).await {
                if ws.finished() {
                    // The peer's reply to our close: the handshake is complete.
                    break;
                }
            }
        })
        .await;
    });
}
