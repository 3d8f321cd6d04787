//! The WebSocket transport: one Engine.IO packet per frame.

use std::sync::Arc;

use http::HeaderMap;
use switchboard_proto::engine::{Message, Packet};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Utf8Bytes};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use super::Error;

/// A client WebSocket connection.
pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a WebSocket to `url` with the extra `headers`, over TLS with `tls` (a `wss` URL).
pub(crate) async fn connect(
    url: &str,
    headers: &HeaderMap,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> Result<Ws, Error> {
    let mut req = url.into_client_request()?;
    req.headers_mut().extend(headers.clone());
    let connector = tls.map(|config| Connector::Rustls(config.clone()));
    let (ws, _response) =
        tokio_tungstenite::connect_async_tls_with_config(req, None, false, connector).await?;
    Ok(ws)
}

/// The frame carrying `packet`.
pub(crate) fn encode(packet: &Packet) -> tungstenite::Message {
    match packet {
        Packet::Message(Message::Binary(b)) => tungstenite::Message::Binary(b.clone()),
        other => tungstenite::Message::Text(Utf8Bytes::from(
            other.encode_text().map(|s| s.to_string()).unwrap_or_default(),
        )),
    }
}

/// What a received frame means.
#[derive(Debug)]
pub(crate) enum Frame {
    /// An Engine.IO packet.
    Packet(Packet),
    /// A WebSocket control frame, handled by the library.
    Control,
    /// The peer closed the WebSocket.
    Closed,
}

/// Decodes a received frame.
pub(crate) fn decode(msg: tungstenite::Message) -> Result<Frame, Error> {
    Ok(match msg {
        tungstenite::Message::Text(t) => {
            Frame::Packet(Packet::decode_text_bytes(t.into()).map_err(Error::Packet)?)
        }
        tungstenite::Message::Binary(b) => Frame::Packet(Packet::binary(b)),
        tungstenite::Message::Close(_) => Frame::Closed,
        tungstenite::Message::Ping(_)
        | tungstenite::Message::Pong(_)
        | tungstenite::Message::Frame(_) => Frame::Control,
    })
}
