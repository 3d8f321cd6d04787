//! The task that owns an Engine.IO client connection: transports, upgrade, heartbeat, writes.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use switchboard_proto::engine::{Handshake, Packet, payload};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite;

use super::polling::Polling;
use super::url::Endpoint;
use super::websocket::{self, Frame, Ws};
use super::{CloseReason, EngineOptions, Error, Event, TransportKind};

/// How long a graceful close may take to flush the last writes.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Set once a WebSocket connection succeeded, cleared when one fails or a connection opens on
/// polling: `remember_upgrade` reads it. Process-wide, like the JS client's
/// `Socket.priorWebsocketSuccess`, so an atomic flag rather than connection state.
static PRIOR_WEBSOCKET_SUCCESS: AtomicBool = AtomicBool::new(false);

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What the public handles ask of the driver.
#[derive(Debug)]
pub(crate) enum Command {
    /// Queue a packet for sending.
    Send(Packet),
    /// Flush, close, then answer.
    Close(oneshot::Sender<()>),
}

/// The transport in use.
enum Transport {
    Polling {
        http: Polling,
        /// The pending `GET`, if any.
        get: Option<BoxFut<Result<Vec<Packet>, Error>>>,
        /// The pending `POST`, if any (never more than one, to keep writes in order).
        post: Option<BoxFut<Result<(), Error>>>,
    },
    /// Boxed: with TLS a WebSocket stream is over a kilobyte.
    WebSocket(Box<Ws>),
}

/// Progress of the polling → WebSocket upgrade.
enum Upgrade {
    Idle,
    /// The WebSocket is opening and probing (`2probe` → `3probe`).
    Probing(BoxFut<Result<Box<Ws>, Error>>),
    /// The probe succeeded: polling is pausing (no new requests) until the pending ones end.
    Pausing(Box<Ws>),
}

/// The outcome of waiting on every source at once.
enum Io {
    Command(Option<Command>),
    Polled(Result<Vec<Packet>, Error>),
    Posted(Result<(), Error>),
    Frame(Option<Result<tungstenite::Message, tungstenite::Error>>),
    Probed(Result<Box<Ws>, Error>),
    PingTimeout,
}

/// A connection after its handshake, before its driver runs.
pub(crate) struct Opened {
    pub(crate) handshake: Handshake,
    pub(crate) transport_kind: TransportKind,
    transport: Transport,
    /// Packets that arrived with the handshake.
    rest: Vec<Packet>,
}

/// Chooses the first transport and performs the handshake on it.
pub(crate) async fn open(endpoint: &Endpoint, options: &EngineOptions) -> Result<Opened, Error> {
    let first = *options.transports.first().ok_or(Error::NoTransport)?;
    let kind = if options.remember_upgrade
        && options.transports.contains(&TransportKind::WebSocket)
        && PRIOR_WEBSOCKET_SUCCESS.load(Ordering::Relaxed)
    {
        TransportKind::WebSocket
    } else {
        first
    };
    let opened = match kind {
        TransportKind::Polling => {
            let http = Polling::new(
                endpoint.url(kind, None),
                options.extra_headers.clone(),
                options.request_timeout,
                endpoint.tls().cloned(),
            );
            let mut packets = http.get().await?.into_iter();
            let Some(Packet::Open(handshake)) = packets.next() else {
                return Err(Error::Handshake);
            };
            let http = http.with_url(endpoint.url(kind, Some(&handshake.sid)));
            let transport = Transport::Polling { http, get: None, post: None };
            Opened { handshake, transport_kind: kind, transport, rest: packets.collect() }
        }
        TransportKind::WebSocket => {
            let url = endpoint.url(kind, None);
            let mut ws = websocket::connect(&url, &options.extra_headers, endpoint.tls()).await?;
            let handshake = loop {
                let msg = ws.next().await.ok_or(Error::Closed)??;
                match websocket::decode(msg)? {
                    Frame::Packet(Packet::Open(h)) => break h,
                    Frame::Control => {}
                    Frame::Packet(_) | Frame::Closed => return Err(Error::Handshake),
                }
            };
            let transport = Transport::WebSocket(Box::new(ws));
            Opened { handshake, transport_kind: kind, transport, rest: Vec::new() }
        }
    };
    PRIOR_WEBSOCKET_SUCCESS.store(kind == TransportKind::WebSocket, Ordering::Relaxed);
    Ok(opened)
}

/// The owner of one connection's state. Runs in its own task until the connection closes.
pub(crate) struct Driver {
    endpoint: Endpoint,
    options: EngineOptions,
    handshake: Handshake,
    transport: Transport,
    upgrade: Upgrade,
    write_buf: VecDeque<Packet>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
    ping_deadline: Instant,
}

impl Driver {
    /// A driver for an opened connection.
    pub(crate) fn new(
        endpoint: Endpoint,
        options: EngineOptions,
        opened: Opened,
        commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<Event>,
    ) -> (Self, Vec<Packet>) {
        let h = &opened.handshake;
        let ping_deadline = Instant::now() + heartbeat_window(h);
        let driver = Driver {
            endpoint,
            options,
            handshake: opened.handshake,
            transport: opened.transport,
            upgrade: Upgrade::Idle,
            write_buf: VecDeque::new(),
            commands,
            events,
            ping_deadline,
        };
        (driver, opened.rest)
    }

    /// Runs the connection to its end, then reports the close reason.
    pub(crate) async fn run(mut self, rest: Vec<Packet>) {
        let (reason, ack) = self.run_inner(rest).await;
        tracing::debug!(sid = %self.handshake.sid, %reason, "engine.io connection closed");
        // Answer the closer first: it may be the one reading the events, so waiting for room in
        // a full event channel before answering it could deadlock.
        if let Some(ack) = ack {
            let _ = ack.send(());
        }
        // The user may have dropped the receiver: nobody to tell, which is fine.
        let _ = self.events.send(Event::Close(reason)).await;
    }

    async fn run_inner(&mut self, rest: Vec<Packet>) -> (CloseReason, Option<oneshot::Sender<()>>) {
        for packet in rest {
            if let Err(reason) = self.on_packet(packet).await {
                return (reason, None);
            }
        }
        self.start_probe();
        loop {
            if let Err(reason) = self.pump().await {
                return (reason, None);
            }
            let result = match self.next_io().await {
                Io::Command(Some(Command::Send(packet))) => {
                    self.write_buf.push_back(packet);
                    Ok(())
                }
                Io::Command(Some(Command::Close(ack))) => {
                    self.close_gracefully().await;
                    return (CloseReason::ForcedClose, Some(ack));
                }
                Io::Command(None) => {
                    self.close_gracefully().await;
                    return (CloseReason::ForcedClose, None);
                }
                Io::Polled(res) => {
                    if let Transport::Polling { get, .. } = &mut self.transport {
                        *get = None;
                    }
                    self.on_polled(res).await
                }
                Io::Posted(res) => {
                    if let Transport::Polling { post, .. } = &mut self.transport {
                        *post = None;
                    }
                    res.map_err(transport_error)
                }
                Io::Frame(frame) => self.on_frame(frame).await,
                Io::Probed(Ok(ws)) => {
                    self.upgrade = Upgrade::Pausing(ws);
                    Ok(())
                }
                Io::Probed(Err(e)) => {
                    tracing::debug!(error = %e, "upgrade probe failed");
                    self.upgrade = Upgrade::Idle;
                    PRIOR_WEBSOCKET_SUCCESS.store(false, Ordering::Relaxed);
                    let _ = self.events.send(Event::UpgradeError(Arc::new(e))).await;
                    Ok(())
                }
                Io::PingTimeout => Err(CloseReason::PingTimeout),
            };
            if let Err(reason) = result {
                return (reason, None);
            }
        }
    }

    /// Waits for the next thing to happen.
    async fn next_io(&mut self) -> Io {
        let (get, post, ws) = match &mut self.transport {
            Transport::Polling { get, post, .. } => (get.as_mut(), post.as_mut(), None),
            Transport::WebSocket(ws) => (None, None, Some(&mut **ws)),
        };
        let probe = match &mut self.upgrade {
            Upgrade::Probing(f) => Some(f),
            _ => None,
        };
        tokio::select! {
            c = self.commands.recv() => Io::Command(c),
            r = maybe(get) => Io::Polled(r),
            r = maybe(post) => Io::Posted(r),
            f = next_frame(ws) => Io::Frame(f),
            r = maybe(probe) => Io::Probed(r),
            () = tokio::time::sleep_until(self.ping_deadline) => Io::PingTimeout,
        }
    }

    /// Starts the requests the state calls for, finishes a paused upgrade, and writes.
    async fn pump(&mut self) -> Result<(), CloseReason> {
        let pausing = matches!(self.upgrade, Upgrade::Pausing(_));
        if let Transport::Polling { get: None, post: None, .. } = &self.transport {
            if pausing {
                self.finish_upgrade().await?;
            }
        }
        match &mut self.transport {
            Transport::Polling { http, get, post } => {
                if get.is_none() && !pausing {
                    *get = Some(Box::pin(http.get()));
                }
                if post.is_none() && !pausing && !self.write_buf.is_empty() {
                    let batch = take_batch(&mut self.write_buf, self.handshake.max_payload);
                    *post = Some(Box::pin(http.post(&batch)));
                }
            }
            Transport::WebSocket(ws) => {
                if !self.write_buf.is_empty() {
                    for packet in self.write_buf.drain(..) {
                        ws.feed(websocket::encode(&packet)).await.map_err(ws_error)?;
                    }
                    ws.flush().await.map_err(ws_error)?;
                }
            }
        }
        Ok(())
    }

    /// Polling is paused: switch to the probed WebSocket and send `5`.
    async fn finish_upgrade(&mut self) -> Result<(), CloseReason> {
        let Upgrade::Pausing(mut ws) = std::mem::replace(&mut self.upgrade, Upgrade::Idle) else {
            return Ok(());
        };
        ws.send(websocket::encode(&Packet::Upgrade)).await.map_err(ws_error)?;
        self.transport = Transport::WebSocket(ws);
        PRIOR_WEBSOCKET_SUCCESS.store(true, Ordering::Relaxed);
        let _ = self.events.send(Event::Upgrade(TransportKind::WebSocket)).await;
        Ok(())
    }

    /// Opens and probes a WebSocket if the server offers one and the options allow it.
    fn start_probe(&mut self) {
        let offered = self.handshake.upgrades.iter().any(|u| u == "websocket");
        let polling = matches!(self.transport, Transport::Polling { .. });
        if !(offered
            && polling
            && self.options.upgrade
            && self.options.transports.contains(&TransportKind::WebSocket))
        {
            return;
        }
        let url = self.endpoint.url(TransportKind::WebSocket, Some(&self.handshake.sid));
        let headers = self.options.extra_headers.clone();
        let timeout = self.options.connect_timeout;
        let tls = self.endpoint.tls().cloned();
        self.upgrade = Upgrade::Probing(Box::pin(async move {
            let probe = probe(url, headers, tls);
            tokio::time::timeout(timeout, probe).await.map_err(|_| Error::Timeout)?
        }));
    }

    async fn on_polled(&mut self, res: Result<Vec<Packet>, Error>) -> Result<(), CloseReason> {
        let packets = res.map_err(|e| match e {
            Error::Payload(_) => CloseReason::ParseError(Arc::new(e)),
            e => transport_error(e),
        })?;
        for packet in packets {
            self.on_packet(packet).await?;
        }
        Ok(())
    }

    async fn on_frame(
        &mut self,
        frame: Option<Result<tungstenite::Message, tungstenite::Error>>,
    ) -> Result<(), CloseReason> {
        let msg = match frame {
            None => return Err(CloseReason::TransportClose),
            Some(Err(e)) => return Err(ws_error(e)),
            Some(Ok(msg)) => msg,
        };
        match websocket::decode(msg) {
            Ok(Frame::Packet(packet)) => self.on_packet(packet).await,
            Ok(Frame::Control) => Ok(()),
            Ok(Frame::Closed) => Err(CloseReason::TransportClose),
            Err(e) => Err(CloseReason::ParseError(Arc::new(e))),
        }
    }

    async fn on_packet(&mut self, packet: Packet) -> Result<(), CloseReason> {
        match packet {
            Packet::Ping => {
                self.write_buf.push_back(Packet::Pong);
                self.ping_deadline = Instant::now() + heartbeat_window(&self.handshake);
            }
            Packet::Close => return Err(CloseReason::TransportClose),
            Packet::Message(m) => {
                // A full channel pauses reading: backpressure up to the server.
                let _ = self.events.send(Event::Message(m)).await;
            }
            Packet::Open(_)
            | Packet::Pong
            | Packet::PingProbe
            | Packet::PongProbe
            | Packet::Upgrade
            | Packet::Noop => {}
        }
        Ok(())
    }

    /// Flushes the write buffer and closes the transport, within [`CLOSE_TIMEOUT`].
    ///
    /// On polling, like the JS client (which waits for `drain` before closing), the buffered
    /// packets go in their own requests and the close packet in a last one: the Node server
    /// handles Socket.IO packets on the next tick, so a `DISCONNECT` sent in the same payload
    /// as the close would lose the race to it. The buffer is only non-empty here when polling
    /// was paused for an upgrade, or when a write was queued just before the close.
    async fn close_gracefully(&mut self) {
        let mut buf: VecDeque<Packet> = self.write_buf.drain(..).collect();
        let max_payload = self.handshake.max_payload;
        let transport = &mut self.transport;
        let flush = async move {
            match transport {
                Transport::Polling { http, post, .. } => {
                    if let Some(pending) = post.take() {
                        let _ = pending.await;
                    }
                    while !buf.is_empty() {
                        let batch = take_batch(&mut buf, max_payload);
                        if http.post(&batch).await.is_err() {
                            return;
                        }
                    }
                    let _ = http.post(&[Packet::Close]).await;
                }
                Transport::WebSocket(ws) => {
                    for packet in &buf {
                        let _ = ws.feed(websocket::encode(packet)).await;
                    }
                    let _ = (**ws).close(None).await;
                    // Wait for the server's close frame, ending the closing handshake.
                    while let Some(Ok(_)) = ws.next().await {}
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, flush).await;
    }
}

/// Opens a WebSocket for session `url` and exchanges the probe.
async fn probe(
    url: String,
    headers: http::HeaderMap,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
) -> Result<Box<Ws>, Error> {
    let mut ws = websocket::connect(&url, &headers, tls.as_ref()).await?;
    ws.send(websocket::encode(&Packet::PingProbe)).await?;
    loop {
        let msg = ws.next().await.ok_or(Error::Probe)??;
        match websocket::decode(msg)? {
            Frame::Packet(Packet::PongProbe) => return Ok(Box::new(ws)),
            Frame::Control => {}
            Frame::Packet(_) | Frame::Closed => return Err(Error::Probe),
        }
    }
}

/// How long the client waits for a ping: `pingInterval + pingTimeout`.
fn heartbeat_window(h: &Handshake) -> Duration {
    Duration::from_millis(h.ping_interval.saturating_add(h.ping_timeout))
}

/// Takes the packets of one `POST`: as many as fit in `max_payload` bytes, at least one.
fn take_batch(buf: &mut VecDeque<Packet>, max_payload: u64) -> Vec<Packet> {
    let limit = usize::try_from(max_payload).unwrap_or(usize::MAX);
    let mut batch = Vec::new();
    let mut size = 0usize;
    while let Some(packet) = buf.front() {
        // The encoded size: base64 grows binary by 4/3; one separator between packets.
        let len = match packet {
            Packet::Message(switchboard_proto::engine::Message::Binary(b)) => {
                b.len().div_ceil(3) * 4 + 1
            }
            _ => payload::encode([packet]).len(),
        } + 1;
        if !batch.is_empty() && size + len > limit {
            break;
        }
        size += len;
        if let Some(p) = buf.pop_front() {
            batch.push(p);
        }
    }
    batch
}

fn transport_error(e: Error) -> CloseReason {
    CloseReason::TransportError(Arc::new(e))
}

fn ws_error(e: tungstenite::Error) -> CloseReason {
    match e {
        // The server's TCP stream ended without a close frame: the JS client's `ws` reports a
        // close (1006), so this is a `transport close`, not a `transport error`.
        tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        ) => CloseReason::TransportClose,
        e => transport_error(e.into()),
    }
}

/// Awaits `f` if there is one, else never completes.
async fn maybe<F: Future + Unpin>(f: Option<&mut F>) -> F::Output {
    match f {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

async fn next_frame(
    ws: Option<&mut Ws>,
) -> Option<Result<tungstenite::Message, tungstenite::Error>> {
    match ws {
        Some(ws) => ws.next().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_stream_ended_without_a_close_frame_is_a_transport_close() {
        let reset = tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        );
        assert_eq!(ws_error(reset).as_str(), "transport close");
        let io = tungstenite::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(ws_error(io).as_str(), "transport error");
    }

    use super::*;

    #[test]
    fn batches_respect_max_payload() {
        let mut buf: VecDeque<Packet> =
            (0..10).map(|i| Packet::text(format!("message {i}"))).collect();
        let first = take_batch(&mut buf, 30);
        assert_eq!(first.len(), 2, "each packet takes 11 bytes with its separator");
        let rest = take_batch(&mut buf, 1_000_000);
        assert_eq!(rest.len(), 8);
        let mut big: VecDeque<Packet> = [Packet::binary(vec![0u8; 100])].into();
        assert_eq!(take_batch(&mut big, 10).len(), 1, "one oversized packet still goes");
    }
}
