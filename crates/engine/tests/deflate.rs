//! permessage-deflate over 127.0.0.1: negotiation on both WebSocket paths (a WebSocket-only
//! session and an upgrade from polling), compressed messages both ways, the threshold, and
//! the inflated size limit (a compression bomb is refused with 1009, not inflated).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use switchboard_engine::{EngineConfig, Message, PerMessageDeflate};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const OFFER: &str = "permessage-deflate; client_max_window_bits";

fn deflate_config(deflate: PerMessageDeflate) -> EngineConfig {
    let mut config = config();
    config.per_message_deflate = Some(deflate);
    config
}

/// A raw WebSocket client: its own compressor and inflater (context takeover both ways).
struct Raw {
    tcp: TcpStream,
    wire: Vec<u8>,
    compress: Compress,
    decompress: Decompress,
}

/// A frame from the server: its first byte and its payload (inflated if RSV1 was set).
#[derive(Debug)]
struct Got {
    b0: u8,
    payload: Vec<u8>,
}

impl Raw {
    /// Opens a WebSocket to `target` offering `extensions`; returns the client and the
    /// `Sec-WebSocket-Extensions` answer.
    async fn connect(addr: SocketAddr, target: &str, extensions: &str) -> (Raw, Option<String>) {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Extensions: {extensions}\r\n\r\n"
        );
        tcp.write_all(req.as_bytes()).await.unwrap();
        let mut wire = Vec::new();
        let end = loop {
            if let Some(at) = wire.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let mut buf = [0u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "connection closed during the handshake");
            wire.extend_from_slice(&buf[..n]);
        };
        let reply = parse(&wire[..end]);
        assert_eq!(reply.status, 101, "{reply:?}");
        let answer = reply.header("sec-websocket-extensions");
        let raw = Raw {
            tcp,
            wire: wire[end..].to_vec(),
            compress: Compress::new(Compression::default(), false),
            decompress: Decompress::new(false),
        };
        (raw, answer)
    }

    /// Sends a text message, compressed (RSV1) or not.
    async fn send(&mut self, text: &[u8], compressed: bool) {
        let payload = if compressed { self.deflate(text) } else { text.to_vec() };
        let b0 = if compressed { 0xc1 } else { 0x81 };
        self.tcp.write_all(&masked(b0, &payload)).await.unwrap();
    }

    fn deflate(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() + 64);
        self.compress.compress_vec(data, &mut out, FlushCompress::Sync).unwrap();
        assert!(out.len() < out.capacity(), "room enough for one call");
        assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
        out.truncate(out.len() - 4);
        out
    }

    /// The server's next frame, within 10 s; `None` once the connection ends.
    async fn next(&mut self) -> Option<Got> {
        loop {
            if let Some((used, b0, payload)) = server_frame(&self.wire) {
                self.wire.drain(..used);
                let payload = if b0 & 0x40 != 0 { self.inflate(&payload) } else { payload };
                return Some(Got { b0, payload });
            }
            let mut buf = [0u8; 16384];
            let read = tokio::time::timeout(Duration::from_secs(10), self.tcp.read(&mut buf))
                .await
                .expect("the server answers in time");
            match read {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.wire.extend_from_slice(&buf[..n]),
            }
        }
    }

    fn inflate(&mut self, payload: &[u8]) -> Vec<u8> {
        let input = [payload, &[0, 0, 0xff, 0xff]].concat();
        let mut out = Vec::with_capacity(1 << 20);
        self.decompress.decompress_vec(&input, &mut out, FlushDecompress::Sync).unwrap();
        out
    }

    /// The next text message, skipping pings.
    async fn text(&mut self) -> Got {
        loop {
            let got = self.next().await.expect("a frame");
            if got.payload != b"2" {
                return got;
            }
        }
    }
}

/// One unmasked server frame at the start of `wire`: (bytes used, first byte, payload).
fn server_frame(wire: &[u8]) -> Option<(usize, u8, Vec<u8>)> {
    let (b0, b1) = (*wire.first()?, *wire.get(1)?);
    let (len, head) = match b1 & 0x7f {
        126 => (usize::from(u16::from_be_bytes([*wire.get(2)?, *wire.get(3)?])), 4),
        127 => (usize::try_from(u64::from_be_bytes(wire.get(2..10)?.try_into().ok()?)).ok()?, 10),
        n => (usize::from(n), 2),
    };
    Some((head + len, b0, wire.get(head..head + len)?.to_vec()))
}

fn masked(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut out = vec![b0];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    out
}

/// A text message of `len` bytes that compresses well: `4` and repeated words.
fn message(len: usize) -> Vec<u8> {
    let mut out = b"4".to_vec();
    while out.len() < len {
        out.extend_from_slice(format!("word{} ", out.len() % 97).as_bytes());
    }
    out.truncate(len);
    out
}

#[tokio::test]
async fn websocket_session_compresses_both_ways_from_the_threshold() {
    let mut server = start(deflate_config(PerMessageDeflate::default())).await;
    let (mut ws, answer) =
        Raw::connect(server.addr, "/engine.io/?EIO=4&transport=websocket", OFFER).await;
    assert_eq!(answer.as_deref(), Some("permessage-deflate"));
    // The open packet is under the threshold: sent as it is.
    let open = ws.text().await;
    assert_eq!(open.b0, 0x81);
    let sid = sid_of(std::str::from_utf8(&open.payload).unwrap());
    assert_eq!(server.next().await, Seen::Connect(sid.clone()));
    // A small compressed message from the client is inflated; its echo goes back plain.
    ws.send(b"4hello", true).await;
    let echo = ws.text().await;
    assert_eq!((echo.b0, echo.payload.as_slice()), (0x81, &b"4hello"[..]));
    assert_eq!(server.next().await, Seen::Message(sid.clone(), Message::Text("hello".into())));
    // At the threshold and above, the echo is compressed; the window is kept between them.
    for len in [1024, 5000, 5000, 100_000] {
        let text = message(len);
        ws.send(&text, true).await;
        let echo = ws.text().await;
        assert_eq!(echo.b0, 0xc1, "compressed at {len} bytes");
        assert_eq!(echo.payload, text);
        let expected = String::from_utf8(text[1..].to_vec()).unwrap();
        assert_eq!(server.next().await, Seen::Message(sid.clone(), Message::Text(expected.into())));
    }
    // Uncompressed messages still pass on a connection that agreed on compression.
    ws.send(b"4plain", false).await;
    assert_eq!(ws.text().await.payload, b"4plain");
    // One byte under the threshold: plain.
    let text = message(1023);
    ws.send(&text, false).await;
    let echo = ws.text().await;
    assert_eq!((echo.b0, echo.payload), (0x81, text));
}

#[tokio::test]
async fn without_the_option_the_offer_is_ignored_and_rsv1_refused() {
    let server = start(config()).await;
    let (mut ws, answer) =
        Raw::connect(server.addr, "/engine.io/?EIO=4&transport=websocket", OFFER).await;
    assert_eq!(answer, None);
    ws.text().await;
    ws.send(b"4hello", true).await;
    let close = ws.next().await.expect("a close frame");
    assert_eq!((close.b0, close.payload.as_slice()), (0x88, &1002u16.to_be_bytes()[..]));
}

#[tokio::test]
async fn an_upgrade_from_polling_agrees_on_compression_too() {
    let mut server = start_with(deflate_config(PerMessageDeflate::default()), false).await;
    let sid = handshake(server.addr).await;
    let target = format!("/engine.io/?EIO=4&transport=websocket&sid={sid}");
    let offer = "permessage-deflate; server_no_context_takeover; client_max_window_bits";
    let (mut ws, answer) = Raw::connect(server.addr, &target, offer).await;
    assert_eq!(answer.as_deref(), Some("permessage-deflate; server_no_context_takeover"));
    ws.send(b"2probe", true).await;
    assert_eq!(ws.text().await.payload, b"3probe");
    ws.send(b"5", false).await;
    assert_eq!(server.next().await, Seen::Connect(sid.clone()));
    assert_eq!(server.next().await, Seen::Upgrade(sid.clone()));
    let big = "x".repeat(50_000);
    let socket = server.engine.socket(&sid).unwrap();
    for _ in 0..2 {
        socket.send(Message::Text(big.clone().into())).unwrap();
        let got = ws.text().await;
        assert_eq!(got.b0, 0xc1);
        assert_eq!(got.payload, [b"4", big.as_bytes()].concat());
    }
}

#[tokio::test]
async fn a_compression_bomb_is_refused_with_1009_not_inflated() {
    let mut limits = PerMessageDeflate::default();
    limits.max_inflated = 200_000;
    let mut server = start(deflate_config(limits)).await;
    let (mut ws, _) =
        Raw::connect(server.addr, "/engine.io/?EIO=4&transport=websocket", OFFER).await;
    let sid = sid_of(std::str::from_utf8(&ws.text().await.payload).unwrap());
    assert_eq!(server.next().await, Seen::Connect(sid.clone()));
    // Within the inflated limit: accepted.
    let fits = message(200_000);
    ws.send(&fits, true).await;
    assert_eq!(ws.text().await.payload, fits);
    server.next().await;
    // 20 MB of one byte: about 20 KB on the wire, well under max_payload (1 MB).
    let mut bomb = vec![b'a'; 20_000_000];
    bomb[0] = b'4';
    let compressed = ws.deflate(&bomb);
    assert!(compressed.len() < 30_000, "{}", compressed.len());
    ws.tcp.write_all(&masked(0xc1, &compressed)).await.unwrap();
    let close = loop {
        let got = ws.next().await.expect("a close frame");
        if got.b0 == 0x88 {
            break got;
        }
    };
    assert_eq!(close.payload, 1009u16.to_be_bytes());
    assert!(matches!(server.next().await, Seen::Disconnect(s, _) if s == sid));
    // Data that does not inflate is refused with 1007.
    let (mut ws, _) =
        Raw::connect(server.addr, "/engine.io/?EIO=4&transport=websocket", OFFER).await;
    ws.text().await;
    ws.tcp.write_all(&masked(0xc1, &[0xff, 0xff, 0xff])).await.unwrap();
    let close = loop {
        let got = ws.next().await.expect("a close frame");
        if got.b0 == 0x88 {
            break got;
        }
    };
    assert_eq!(close.payload, 1007u16.to_be_bytes());
}
