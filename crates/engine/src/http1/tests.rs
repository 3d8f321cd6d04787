//! The HTTP/1.1 server's edge cases, over real TCP connections.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::*;

/// Answers `METHOD URI VERSION BODY` (or `error: ...` when the body fails), and takes the
/// connection of an upgrade request: answers `101`, then writes `upgraded:` and the bytes
/// read past the head.
#[derive(Clone)]
struct Echo {
    /// Each request's head, as it reaches the service (before its body is read).
    seen: mpsc::UnboundedSender<String>,
}

impl tower_service::Service<Request<RequestBody>> for Echo {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<RequestBody>) -> Self::Future {
        let line = format!("{} {} {:?}", req.method(), req.uri(), req.version());
        let _ = self.seen.send(line.clone());
        if req.headers().contains_key(http::header::UPGRADE) {
            let on = on_upgrade(&mut req);
            tokio::spawn(async move {
                if let Some(Upgraded::Ours(Handoff { mut tcp, read, head })) = on.upgraded().await {
                    let mut out = head;
                    out.extend_from_slice(b"upgraded:");
                    out.extend_from_slice(&read);
                    let _ = tcp.write_all(&out).await;
                }
            });
            let mut res = Response::new(Full::new(Bytes::new()));
            *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            res.headers_mut().insert(http::header::UPGRADE, HeaderValue::from_static("test"));
            return Box::pin(async move { Ok(res) });
        }
        Box::pin(async move {
            let text = match req.into_body().collect().await {
                Ok(body) => format!("{line} {}", String::from_utf8_lossy(&body.to_bytes())),
                Err(e) => format!("{line} error: {e}"),
            };
            Ok(Response::new(Full::new(Bytes::from(text))))
        })
    }
}

/// A server with bodies up to `max_body` bytes, and the heads its service sees.
async fn server(max_body: usize) -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (seen, heads) = mpsc::unbounded_channel();
    tokio::spawn(crate::serve_with_max_body(listener, Echo { seen }, max_body));
    (addr, heads)
}

/// A test client: its connection and what it read past the last answer.
struct Client {
    tcp: TcpStream,
    read: Vec<u8>,
}

impl Client {
    async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.tcp.write_all(bytes).await
    }

    async fn more(&mut self) {
        let mut chunk = [0; 1024];
        let n = self.tcp.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "the connection ended in an answer: {:?}",
            String::from_utf8_lossy(&self.read)
        );
        self.read.extend_from_slice(&chunk[..n]);
    }
}

/// Reads one answer: its head, and its body by `content-length`.
async fn answer(client: &mut Client) -> (String, String) {
    let head_end = loop {
        if let Some(i) = client.read.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        client.more().await;
    };
    let head = String::from_utf8(client.read[..head_end].to_vec()).unwrap();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |n| n.trim().parse::<usize>().unwrap());
    while client.read.len() < head_end + length {
        client.more().await;
    }
    let body = String::from_utf8(client.read[head_end..head_end + length].to_vec()).unwrap();
    client.read.drain(..head_end + length);
    (head, body)
}

/// Whether the server closed the connection (read to its end within 5 s).
async fn closed(client: &mut Client) -> bool {
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), client.tcp.read_to_end(&mut rest));
    matches!(read.await, Ok(Ok(0))) && client.read.is_empty()
}

async fn connect(addr: SocketAddr) -> Client {
    Client { tcp: TcpStream::connect(addr).await.unwrap(), read: Vec::new() }
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let (addr, _heads) = server(1000).await;
    let mut client = connect(addr).await;
    client
        .write_all(
            b"GET /a HTTP/1.1\r\nhost: x\r\n\r\nPOST /b HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nxyzGET /c HTTP/1.1\r\nhost: x\r\n\r\n",
        )
        .await
        .unwrap();
    let (head, body) = answer(&mut client).await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("content-length: 16\r\n") && head.contains("date: "), "{head}");
    assert_eq!(body, "GET /a HTTP/1.1 ");
    assert_eq!(answer(&mut client).await.1, "POST /b HTTP/1.1 xyz");
    assert_eq!(answer(&mut client).await.1, "GET /c HTTP/1.1 ");
    // Still open: a fourth request is answered.
    client.write_all(b"GET /d HTTP/1.1\r\n\r\n").await.unwrap();
    assert_eq!(answer(&mut client).await.1, "GET /d HTTP/1.1 ");
}

#[tokio::test]
async fn chunked_bodies_are_read_whole_with_their_trailers() {
    let (addr, _heads) = server(1000).await;
    let mut client = connect(addr).await;
    // Sent in pieces that cut chunk sizes and data, with an extension and a trailer.
    let pieces: [&[u8]; 5] = [
        b"POST /c HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n4;ext=1\r",
        b"\nabcd\r\n0",
        b"a\r\n0123456789\r\n0\r\n",
        b"trailer: x\r\n",
        b"\r\nGET /after HTTP/1.1\r\n\r\n",
    ];
    for piece in pieces {
        client.write_all(piece).await.unwrap();
        tokio::task::yield_now().await;
    }
    let (head, body) = answer(&mut client).await;
    assert_eq!(body, "POST /c HTTP/1.1 abcd0123456789", "{head}");
    assert_eq!(answer(&mut client).await.1, "GET /after HTTP/1.1 ");
}

#[tokio::test]
async fn a_bad_chunk_is_refused_with_400_and_the_connection_closed() {
    let (addr, _heads) = server(1000).await;
    let mut client = connect(addr).await;
    client
        .write_all(b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n")
        .await
        .unwrap();
    let (head, _) = answer(&mut client).await;
    assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
    assert!(closed(&mut client).await);
}

#[tokio::test]
async fn bodies_over_the_limit_end_with_an_error_and_close_the_connection() {
    let (addr, _heads) = server(8).await;
    // By content-length: not read at all.
    let mut client = connect(addr).await;
    client.write_all(b"POST /big HTTP/1.1\r\ncontent-length: 9\r\n\r\n123456789").await.unwrap();
    let (head, body) = answer(&mut client).await;
    assert!(head.contains("connection: close\r\n"), "{head}");
    assert_eq!(
        body,
        "POST /big HTTP/1.1 error: the request body is larger than the server accepts"
    );
    assert!(closed(&mut client).await);
    // Chunked: read up to one byte past the limit.
    let mut client = connect(addr).await;
    client
        .write_all(b"POST /big HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n5\r\n12345\r\n5\r\n6789a\r\n0\r\n\r\n")
        .await
        .unwrap();
    let (_, body) = answer(&mut client).await;
    assert!(body.ends_with("error: the request body is larger than the server accepts"), "{body}");
    assert!(closed(&mut client).await);
    // At the limit: fine.
    let mut client = connect(addr).await;
    client.write_all(b"POST /ok HTTP/1.1\r\ncontent-length: 8\r\n\r\n12345678").await.unwrap();
    assert_eq!(answer(&mut client).await.1, "POST /ok HTTP/1.1 12345678");
}

#[tokio::test]
async fn a_body_still_arriving_reaches_the_service_with_its_head() {
    let (addr, mut heads) = server(1000).await;
    let mut client = connect(addr).await;
    client.write_all(b"POST /slow HTTP/1.1\r\ncontent-length: 10\r\n\r\n0123").await.unwrap();
    // The service has the request before the rest of the body is sent.
    assert_eq!(heads.recv().await.unwrap(), "POST /slow HTTP/1.1");
    client.write_all(b"45").await.unwrap();
    tokio::task::yield_now().await;
    client.write_all(b"6789GET /next HTTP/1.1\r\n\r\n").await.unwrap();
    assert_eq!(answer(&mut client).await.1, "POST /slow HTTP/1.1 0123456789");
    assert_eq!(answer(&mut client).await.1, "GET /next HTTP/1.1 ");
}

#[tokio::test]
async fn a_client_leaving_in_a_body_ends_it_with_an_error() {
    let (addr, mut heads) = server(1000).await;
    let mut client = connect(addr).await;
    client.write_all(b"POST /cut HTTP/1.1\r\ncontent-length: 10\r\n\r\n0123").await.unwrap();
    assert_eq!(heads.recv().await.unwrap(), "POST /cut HTTP/1.1");
    client.tcp.shutdown().await.unwrap();
    let (head, body) = answer(&mut client).await;
    assert!(head.contains("connection: close\r\n"), "{head}");
    assert_eq!(body, "POST /cut HTTP/1.1 error: the connection ended in the request body");
}

#[tokio::test]
async fn an_oversize_head_is_refused_with_431() {
    let (addr, _heads) = server(1000).await;
    let mut client = connect(addr).await;
    let big = format!("GET / HTTP/1.1\r\ncookie: {}\r\n\r\n", "a".repeat(MAX_HEAD));
    // The server may close before it read everything: the write's result does not matter.
    let _ = client.write_all(big.as_bytes()).await;
    let (head, _) = answer(&mut client).await;
    assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{head}");
    // Too many lines, each short.
    let mut client = connect(addr).await;
    let many: String = (0..=MAX_HEADERS).map(|i| format!("x-{i}: 1\r\n")).collect();
    client.write_all(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()).await.unwrap();
    let (head, _) = answer(&mut client).await;
    assert!(head.starts_with("HTTP/1.1 431 "), "{head}");
    assert!(closed(&mut client).await);
}

#[tokio::test]
async fn a_malformed_request_is_refused_with_400_and_the_connection_closed() {
    let (addr, _heads) = server(1000).await;
    for bad in [
        &b"GET / HTTP/1.1\r\nbad header\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n",
        b"GET / HTTP/1.1\r\ncontent-length: x\r\n\r\n",
        // Digits only: a sign or a second value may be read differently by a proxy in front.
        b"POST / HTTP/1.1\r\ncontent-length: +1\r\n\r\nx",
        b"POST / HTTP/1.1\r\ncontent-length: 1, 1\r\n\r\nx",
        b"POST / HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nxx",
        b"GET / HTTP/1.1\r\ntransfer-encoding: gzip\r\n\r\n",
    ] {
        let mut client = connect(addr).await;
        client.write_all(bad).await.unwrap();
        let (head, _) = answer(&mut client).await;
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
        assert!(closed(&mut client).await);
    }
}

#[tokio::test(start_paused = true)]
async fn a_head_not_sent_within_30_s_closes_the_connection() {
    let (addr, _heads) = server(1000).await;
    // Half a head, then the rest just in time: answered.
    let mut client = connect(addr).await;
    client.write_all(b"GET /late HTTP/1.1\r\n").await.unwrap();
    tokio::time::sleep(HEADER_READ_TIMEOUT - Duration::from_secs(1)).await;
    client.write_all(b"host: x\r\n\r\n").await.unwrap();
    assert_eq!(answer(&mut client).await.1, "GET /late HTTP/1.1 ");
    // Half a head, and nothing more: closed once the time is up (time moves on by itself
    // while every task waits).
    let mut half = connect(addr).await;
    half.write_all(b"GET /never HTTP/1.1\r\n").await.unwrap();
    let start = tokio::time::Instant::now();
    let mut rest = Vec::new();
    assert_eq!(half.tcp.read_to_end(&mut rest).await.unwrap(), 0);
    assert!(start.elapsed() >= HEADER_READ_TIMEOUT, "{:?}", start.elapsed());
    assert!(half.read.is_empty());
}

#[tokio::test]
async fn connection_close_and_http_1_0_end_the_connection_after_the_answer() {
    let (addr, _heads) = server(1000).await;
    let mut client = connect(addr).await;
    client.write_all(b"GET /x HTTP/1.1\r\nconnection: close\r\n\r\n").await.unwrap();
    let (head, _) = answer(&mut client).await;
    assert!(head.contains("connection: close\r\n"), "{head}");
    assert!(closed(&mut client).await);

    let mut client = connect(addr).await;
    client.write_all(b"GET /old HTTP/1.0\r\n\r\n").await.unwrap();
    let (head, body) = answer(&mut client).await;
    assert!(head.starts_with("HTTP/1.0 200 OK\r\n"), "{head}");
    assert_eq!(body, "GET /old HTTP/1.0 ");
    assert!(closed(&mut client).await);

    // HTTP/1.0 with keep-alive stays open.
    let mut client = connect(addr).await;
    client.write_all(b"GET /a HTTP/1.0\r\nconnection: keep-alive\r\n\r\n").await.unwrap();
    let (head, _) = answer(&mut client).await;
    assert!(head.contains("connection: keep-alive\r\n"), "{head}");
    client.write_all(b"GET /b HTTP/1.0\r\nconnection: keep-alive\r\n\r\n").await.unwrap();
    assert_eq!(answer(&mut client).await.1, "GET /b HTTP/1.0 ");
}

#[tokio::test]
async fn expect_100_continue_is_answered_before_the_body_is_read() {
    let (addr, _heads) = server(1000).await;
    let mut client = connect(addr).await;
    client
        .write_all(b"POST /e HTTP/1.1\r\nexpect: 100-continue\r\ncontent-length: 5\r\n\r\n")
        .await
        .unwrap();
    let mut interim = [0; 25];
    client.tcp.read_exact(&mut interim).await.unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    client.write_all(b"hello").await.unwrap();
    assert_eq!(answer(&mut client).await.1, "POST /e HTTP/1.1 hello");
    // Over the limit: no `100`, the final answer at once.
    let (addr, _heads) = server(2).await;
    let mut client = connect(addr).await;
    client
        .write_all(b"POST /e HTTP/1.1\r\nexpect: 100-continue\r\ncontent-length: 5\r\n\r\n")
        .await
        .unwrap();
    let (head, _) = answer(&mut client).await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
}

#[tokio::test]
async fn an_upgrade_gets_the_stream_the_bytes_past_the_head_and_the_held_answer() {
    let (addr, _heads) = server(1000).await;
    let mut client = connect(addr).await;
    // The client's first bytes of the new protocol come in the same segment as its request.
    client
        .write_all(b"GET /ws HTTP/1.1\r\nconnection: Upgrade\r\nupgrade: test\r\n\r\nearly bytes")
        .await
        .unwrap();
    let mut got = Vec::new();
    client.tcp.read_to_end(&mut got).await.unwrap();
    let got = String::from_utf8(got).unwrap();
    assert!(got.starts_with("HTTP/1.1 101 Switching Protocols\r\n"), "{got}");
    // The held answer and the upgraded connection's first bytes, in order.
    assert!(got.ends_with("\r\n\r\nupgraded:early bytes"), "{got}");
    assert!(!got.contains("content-length"), "{got}");
}

#[tokio::test]
async fn a_held_request_whose_client_leaves_is_dropped() {
    /// Never answers; tells when its future is dropped.
    #[derive(Clone)]
    struct Hold(mpsc::UnboundedSender<()>);
    struct Dropped(mpsc::UnboundedSender<()>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            let _ = self.0.send(());
        }
    }
    impl tower_service::Service<Request<RequestBody>> for Hold {
        type Response = Response<Full<Bytes>>;
        type Error = Infallible;
        type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: Request<RequestBody>) -> Self::Future {
            let guard = Dropped(self.0.clone());
            Box::pin(async move {
                let _guard = guard;
                std::future::pending().await
            })
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, mut dropped) = mpsc::unbounded_channel();
    tokio::spawn(crate::serve(listener, Hold(tx)));
    let mut client = connect(addr).await;
    client.write_all(b"GET /held HTTP/1.1\r\n\r\n").await.unwrap();
    client.tcp.shutdown().await.unwrap();
    let gone = tokio::time::timeout(Duration::from_secs(5), dropped.recv()).await;
    assert_eq!(gone.unwrap(), Some(()));
}

#[tokio::test]
async fn a_graceful_shutdown_closes_idle_connections_and_answers_the_request_being_served() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (seen, mut heads) = mpsc::unbounded_channel();
    let (stop, signal) = tokio::sync::oneshot::channel::<()>();
    let signal = async {
        let _ = signal.await;
    };
    let server = tokio::spawn(crate::serve_with_shutdown(listener, Echo { seen }, 1000, signal));

    // One connection idle after an answer, one in the middle of a request.
    let mut idle = connect(addr).await;
    idle.write_all(b"GET /idle HTTP/1.1\r\n\r\n").await.unwrap();
    assert_eq!(answer(&mut idle).await.1, "GET /idle HTTP/1.1 ");
    assert_eq!(heads.recv().await.unwrap(), "GET /idle HTTP/1.1");
    let mut busy = connect(addr).await;
    busy.write_all(b"POST /busy HTTP/1.1\r\ncontent-length: 4\r\n\r\n01").await.unwrap();
    assert_eq!(heads.recv().await.unwrap(), "POST /busy HTTP/1.1");

    stop.send(()).unwrap();
    assert!(closed(&mut idle).await, "the idle connection is closed");
    assert!(!server.is_finished(), "the server waits for the request being served");
    assert!(TcpStream::connect(addr).await.is_err(), "no new connection is accepted");

    busy.write_all(b"23").await.unwrap();
    let (head, body) = answer(&mut busy).await;
    assert!(head.contains("connection: close\r\n"), "{head}");
    assert_eq!(body, "POST /busy HTTP/1.1 0123");
    assert!(closed(&mut busy).await, "its connection closes after the answer");
    let done = tokio::time::timeout(Duration::from_secs(5), server).await;
    assert!(matches!(done, Ok(Ok(Ok(())))), "the server returns once every connection closed");
}

/// Answers every request with a body of unknown length that sends one frame and then never
/// ends, as a server-sent events stream does; says when the server drops it.
#[derive(Clone)]
struct Endless {
    dropped: mpsc::UnboundedSender<()>,
}

struct EndlessBody {
    sent: bool,
    dropped: mpsc::UnboundedSender<()>,
}

impl Drop for EndlessBody {
    fn drop(&mut self) {
        let _ = self.dropped.send(());
    }
}

impl Body for EndlessBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.sent {
            return Poll::Pending;
        }
        self.sent = true;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"data: hi\n\n")))))
    }
}

impl tower_service::Service<Request<RequestBody>> for Endless {
    type Response = Response<EndlessBody>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<RequestBody>) -> Self::Future {
        let body = EndlessBody { sent: false, dropped: self.dropped.clone() };
        std::future::ready(Ok(Response::new(body)))
    }
}

#[tokio::test]
async fn a_streamed_answer_ends_when_its_client_leaves() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (dropped, mut drops) = mpsc::unbounded_channel();
    tokio::spawn(crate::serve(listener, Endless { dropped }));
    let mut client = connect(addr).await;
    client.write_all(b"GET /events HTTP/1.1\r\n\r\n").await.unwrap();
    while !client.read.ends_with(b"data: hi\n\n\r\n") {
        client.more().await;
    }
    let head = String::from_utf8_lossy(&client.read).into_owned();
    assert!(head.contains("transfer-encoding: chunked\r\n"), "{head}");
    drop(client);
    let gone = tokio::time::timeout(Duration::from_secs(5), drops.recv()).await;
    assert_eq!(gone, Ok(Some(())), "the stream is dropped once its client left");
}
