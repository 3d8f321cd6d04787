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

/// Connects to `url` with the client's WebSocket layer (the connection, configuration and
/// framing its WebSocket transport uses) and sends every text and binary message back as it
/// came, until the peer closes. Returns how many messages it echoed.
///
/// For WebSocket conformance suites, which judge a client by how it echoes (`cargo xtask
/// autobahn` runs Autobahn|Testsuite's fuzzing server against it through the
/// `autobahn_client` example). Engine.IO plays no part: the frames are not read as packets.
///
/// ```
/// use futures_util::{SinkExt, StreamExt};
/// use tokio_tungstenite::tungstenite::Message;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let url = format!("ws://{}/", listener.local_addr()?);
/// // A server that sends one message, reads the echo and closes.
/// let server = tokio::spawn(async move {
///     let (tcp, _) = listener.accept().await?;
///     let mut ws = tokio_tungstenite::accept_async(tcp).await?;
///     ws.send(Message::text("hello")).await?;
///     let echo = ws.next().await;
///     ws.close(None).await?;
///     while ws.next().await.is_some() {}
///     Ok::<_, tokio_tungstenite::tungstenite::Error>(echo)
/// });
/// let echoed = switchboard_client::engine::websocket_echo(&url).await?;
/// assert_eq!(echoed, 1);
/// let echo = server.await??;
/// assert_eq!(echo.transpose()?, Some(Message::text("hello")));
/// # Ok(())
/// # }
/// ```
pub async fn websocket_echo(url: &str) -> Result<u64, Error> {
    use futures_util::{SinkExt, StreamExt};

    let mut ws = connect(url, &HeaderMap::new(), None).await?;
    let mut echoed = 0;
    while let Some(msg) = ws.next().await {
        // Pings are answered and closes completed by the library, as in the transport.
        if let msg @ (tungstenite::Message::Text(_) | tungstenite::Message::Binary(_)) = msg? {
            ws.send(msg).await?;
            echoed += 1;
        }
    }
    Ok(echoed)
}
