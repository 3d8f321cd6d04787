//! A raw WebSocket echo endpoint on the engine's own WebSocket stack and limits: what the
//! WebSocket conformance suite (Autobahn|Testsuite) drives. No Engine.IO session: every text
//! or binary message comes back as it came.

use std::future::poll_fn;
use std::task::Poll;

use http::{Request, Response};
use switchboard_proto::engine::websocket::{Frame, Opcode, close_code};

use crate::EngineConfig;
use crate::service::ResponseBody;
use crate::websocket::{self, WsConn, close_ws};

/// Answers a WebSocket upgrade with `101` and echoes every message of the connection, with
/// the limits of `config`: messages up to `max_payload` (a larger one is refused with close
/// code 1009), at most `max_websocket_write_buffer` unsent; text that is not UTF-8 closes the
/// connection with 1007, protocol errors with 1002. A request that is no valid upgrade gets
/// the engine's error answer (`400`, or `426` for a WebSocket version other than 13). With
/// [`EngineConfig::per_message_deflate`] set, a client that offers compression gets it.
///
/// It serves conformance testing (`cargo run -p switchboard-engine --example ws_echo`), not
/// applications: a Socket.IO server has no use for it.
///
/// ```
/// use switchboard_engine::{EngineConfig, websocket_echo};
///
/// // Not an upgrade: refused with the engine's 400.
/// let req = http::Request::get("/ws-echo").body(()).unwrap_or_default();
/// assert_eq!(websocket_echo(req, &EngineConfig::default()).status(), 400);
/// ```
pub fn websocket_echo<B>(mut req: Request<B>, config: &EngineConfig) -> Response<ResponseBody> {
    let (res, accepted) = match websocket::accept(&mut req, config.per_message_deflate.as_ref()) {
        Ok(accepted) => accepted,
        Err(e) => return e.response(),
    };
    let (max_message, max_write) = (config.max_payload, config.max_websocket_write_buffer);
    // Owns the echoed connection until the peer closes it or it fails.
    tokio::spawn(async move {
        if let Some(ws) = websocket::upgraded(accepted).await {
            echo(ws, max_message, max_write).await;
        }
    });
    res
}

async fn echo(mut ws: WsConn, max_message: usize, max_write: usize) {
    // `serve` holds the `101` back to send it with the first frame; an echo has none to send
    // before the client speaks, so the answer goes out now.
    if poll_fn(|cx| ws.poll_write_out(cx)).await.is_err() {
        return;
    }
    loop {
        let (opcode, payload) = match poll_fn(|cx| ws.poll_next(cx, max_message)).await {
            Some(Ok(Frame::Text(text))) => {
                if std::str::from_utf8(&text).is_err() {
                    ws.queue_close_code(close_code::INVALID_DATA);
                    break;
                }
                (Opcode::Text, text)
            }
            Some(Ok(Frame::Binary(data))) => (Opcode::Binary, data),
            Some(Ok(Frame::Ping(data))) => (Opcode::Pong, data),
            Some(Ok(Frame::Pong(_))) => continue,
            // A close frame (answered already: `close_ws` writes the answer and closes the
            // connection), the end of the stream, or an error (its close frame queued already).
            Some(Ok(Frame::Close(_))) | Some(Err(_)) | None => break,
        };
        let queued = poll_fn(|cx| Poll::Ready(ws.queue(cx, opcode, &payload, max_write))).await;
        if queued.is_err() || poll_fn(|cx| ws.poll_write_out(cx)).await.is_err() {
            break;
        }
    }
    close_ws(ws);
}
