//! HTTP long-polling: the handshake GET, data GETs and POSTs.

use std::pin::pin;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, header};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use switchboard_proto::engine::payload::{Decoder, PayloadError};
use switchboard_proto::engine::session::{CloseReason, SessionError};
use switchboard_proto::engine::{Packet, Protocol, v3};
use tokio::sync::oneshot;

use crate::admission::Ticket;
use crate::error::RequestError;
use crate::service::{BoxError, ResponseBody};
use crate::session_task::{self, Command, PollReply, SessionHandle, Wire};
use crate::socket::RequestInfo;
use crate::{Engine, EngineConfig, Handler};

/// A new polling session: the handshake GET is its first poll (made by the caller with
/// [`get`]), answered with the open packet.
pub(crate) fn handshake<H: Handler>(
    engine: &Engine<H>,
    info: RequestInfo,
    wire: Wire,
    ticket: Ticket,
) -> SessionHandle {
    session_task::spawn(engine, info, wire, None, ticket)
}

/// A GET: waits for the session to have something to send.
pub(crate) async fn get(handle: &SessionHandle) -> Result<Response<ResponseBody>, RequestError> {
    let (reply, answer) = oneshot::channel();
    if handle.command(Command::Poll(reply)).await.is_err() {
        return Err(RequestError::UnknownSid);
    }
    match answer.await {
        Ok(PollReply::Payload { body, binary: false }) => Ok(text(body)),
        Ok(PollReply::Payload { body, binary: true }) => Ok(octets(body)),
        Ok(PollReply::Refused(SessionError::Closed)) | Err(_) => Err(RequestError::UnknownSid),
        Ok(PollReply::Refused(_)) => Err(RequestError::BadRequest),
    }
}

/// A POST: decodes the body as it arrives, refusing it as soon as it passes `max_payload`.
pub(crate) async fn post<B>(
    config: &EngineConfig,
    handle: &SessionHandle,
    req: Request<B>,
) -> Result<Response<ResponseBody>, RequestError>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    // One POST at a time, as in Node: a second one while the first is being read is a
    // client error that ends the session ("data request overlap").
    let Some(_posting) = Posting::begin(handle) else {
        abort(handle, CloseReason::TransportError).await;
        return Err(RequestError::BadRequest);
    };
    let limit = config.max_payload;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX)) {
        return Err(RequestError::PayloadTooLarge);
    }
    // A v3 client that can send binary (XHR2) posts a binary payload when it has binary data.
    let mut decoder = match handle.socket.protocol() {
        Protocol::V3 => {
            let binary = req.headers().get(header::CONTENT_TYPE).map(HeaderValue::as_bytes)
                == Some(b"application/octet-stream");
            BodyDecoder::V3(v3::BodyDecoder::new(limit, binary))
        }
        _ => BodyDecoder::V4(Decoder::new(limit)),
    };
    let mut body = pin!(req.into_body());
    loop {
        // The body's error type need not be Send: drop it before awaiting anything else.
        let frame = match body.frame().await {
            None => break,
            Some(frame) => frame.ok(),
        };
        let Some(frame) = frame else {
            abort(handle, CloseReason::TransportError).await;
            return Err(RequestError::BadRequest);
        };
        if let Ok(data) = frame.into_data() {
            if let Err(e) = decoder.feed(&data) {
                return refuse(handle, e).await;
            }
        }
    }
    match decoder.finish() {
        Ok(packets) => {
            if handle.command(Command::Post(packets)).await.is_err() {
                return Err(RequestError::UnknownSid);
            }
            Ok(text(Bytes::from_static(b"ok")))
        }
        Err(e) => refuse(handle, e).await,
    }
}

/// The decoder of a POST body, by protocol revision.
enum BodyDecoder {
    V4(Decoder),
    V3(v3::BodyDecoder),
}

impl BodyDecoder {
    fn feed(&mut self, chunk: &[u8]) -> Result<(), PayloadError> {
        match self {
            BodyDecoder::V4(d) => d.feed(chunk),
            BodyDecoder::V3(d) => d.feed(chunk),
        }
    }

    fn finish(self) -> Result<Vec<Packet>, PayloadError> {
        match self {
            BodyDecoder::V4(d) => d.finish(),
            BodyDecoder::V3(d) => d.finish(),
        }
    }
}

/// A POST being read; the mark is cleared when it is dropped, however the POST ends.
struct Posting<'a>(&'a SessionHandle);

impl<'a> Posting<'a> {
    fn begin(handle: &'a SessionHandle) -> Option<Self> {
        handle.socket.begin_post().then_some(Posting(handle))
    }
}

impl Drop for Posting<'_> {
    fn drop(&mut self) {
        self.0.socket.end_post();
    }
}

async fn refuse(
    handle: &SessionHandle,
    e: PayloadError,
) -> Result<Response<ResponseBody>, RequestError> {
    match e {
        PayloadError::TooLarge { .. } => Err(RequestError::PayloadTooLarge),
        _ => {
            abort(handle, CloseReason::ParseError).await;
            Err(RequestError::BadRequest)
        }
    }
}

async fn abort(handle: &SessionHandle, reason: CloseReason) {
    let _ = handle.command(Command::Abort(reason)).await;
}

fn octets(body: Bytes) -> Response<ResponseBody> {
    let mut res = Response::new(Full::new(body));
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    res
}

fn text(body: Bytes) -> Response<ResponseBody> {
    let mut res = Response::new(Full::new(body));
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=UTF-8"));
    res
}
