//! The engine's request routing (query string, `EIO`, `transport`, `sid`, method, upgrade
//! headers) driven through the real tower service, a fresh engine per input, on a runtime
//! whose clock is paused (so waiting polls and timers end at once). Checked besides "no panic":
//! - no request hangs (each one is answered within a minute of the paused clock);
//! - the answer agrees with a plain reading of the query (`split('&')`, `split_once('=')`,
//!   the last value of a key winning): an unknown transport is `400` code 0, an unknown `sid`
//!   code 1, a handshake that is not a GET code 2, a WebSocket handshake without upgrade
//!   headers code 3, an `EIO` other than `4` code 5; a polling handshake opens a session
//!   whose open packet carries its `sid`.
//!
//! Input: text lines, one request each: `METHOD QUERY[ BODY]`, where METHOD is `GET`, `POST`,
//! `PUT`, `WS` (a GET with WebSocket upgrade headers, version 13) or `WS8` (the same with
//! version 8), at most six of them in 512 bytes. A `$` in the query stands for the `sid` of the last session opened.
#![no_main]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use libfuzzer_sys::fuzz_target;
use switchboard_engine::{
    DisconnectReason, Engine, EngineConfig, Handler, Message, Socket,
};
use tower_service::Service;

/// Drops every message: the routing is what is tested.
struct Sink;

impl Handler for Sink {
    type Session = ();

    fn on_connect(&self, _socket: Arc<Socket>) {}
    fn on_message(&self, _session: &mut (), _socket: &Arc<Socket>, _message: Message) {}
    fn on_disconnect(&self, _session: (), _socket: &Arc<Socket>, _why: DisconnectReason) {}
}

/// Requests per input, at most.
const MAX_REQUESTS: usize = 6;

/// Longer inputs are skipped: a query is short, and long inputs only slow the search.
const MAX_INPUT: usize = 512;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Verb {
    Get,
    Post,
    Put,
    WebSocket,
    WebSocketV8,
}

impl Verb {
    fn parse(word: &str) -> Option<Verb> {
        Some(match word {
            "GET" => Verb::Get,
            "POST" => Verb::Post,
            "PUT" => Verb::Put,
            "WS" => Verb::WebSocket,
            "WS8" => Verb::WebSocketV8,
            _ => return None,
        })
    }

    fn method(self) -> Method {
        match self {
            Verb::Get | Verb::WebSocket | Verb::WebSocketV8 => Method::GET,
            Verb::Post => Method::POST,
            Verb::Put => Method::PUT,
        }
    }
}

/// The query as a plain reader sees it: the last value of each key; an empty `sid` is none.
#[derive(Default, Debug)]
struct Plain<'a> {
    eio: Option<&'a str>,
    transport: Option<&'a str>,
    sid: Option<&'a str>,
}

fn plain(query: Option<&str>) -> Plain<'_> {
    let mut q = Plain::default();
    for pair in query.unwrap_or("").split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "EIO" => q.eio = Some(v),
            "transport" => q.transport = Some(v),
            "sid" if !v.is_empty() => q.sid = Some(v),
            _ => {}
        }
    }
    q
}

/// The `sid` of an open packet (`0{"sid":"...",...}`).
fn open_sid(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let rest = text.strip_prefix("0{")?;
    let start = rest.find("\"sid\":\"")? + "\"sid\":\"".len();
    let len = rest.get(start..)?.find('"')?;
    Some(rest.get(start..start + len)?.to_owned())
}

/// The Engine.IO error code of a `400` body (`{"code":N,...}`).
fn error_code(body: &[u8]) -> Option<u8> {
    let text = std::str::from_utf8(body).ok()?;
    let rest = text.strip_prefix("{\"code\":")?;
    let end = rest.find(',')?;
    rest.get(..end)?.parse().ok()
}

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_INPUT {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(runtime) =
        tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build()
    else {
        return;
    };
    runtime.block_on(async {
        let engine = Engine::new(Arc::new(Sink), EngineConfig::default());
        let mut service = engine.service();
        // Every sid this engine handed out.
        let mut sids: Vec<String> = Vec::new();
        for line in text.lines().take(MAX_REQUESTS) {
            let mut words = line.splitn(3, ' ');
            let Some(verb) = words.next().and_then(Verb::parse) else { continue };
            let query = words.next().unwrap_or("");
            let body = words.next().unwrap_or("");
            let query = match sids.last() {
                Some(sid) => query.replace('$', sid),
                None => query.to_owned(),
            };
            let Ok(uri) = format!("/engine.io/?{query}").parse::<http::Uri>() else { continue };
            let expected = plain(uri.query());
            let mut req = Request::builder().method(verb.method()).uri(uri.clone());
            if matches!(verb, Verb::WebSocket | Verb::WebSocketV8) {
                let version = if verb == Verb::WebSocket { "13" } else { "8" };
                req = req
                    .header(header::CONNECTION, "Upgrade")
                    .header(header::UPGRADE, "websocket")
                    .header(header::SEC_WEBSOCKET_VERSION, version)
                    .header(header::SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ==");
            }
            let Ok(req) = req.body(Full::new(Bytes::copy_from_slice(body.as_bytes()))) else {
                continue;
            };
            let answer = tokio::time::timeout(Duration::from_secs(60), service.call(req)).await;
            let Ok(Ok(res)) = answer else {
                panic!("no answer within a minute to {verb:?} {uri}");
            };
            let status = res.status();
            let Ok(bytes) = res.into_body().collect().await.map(|b| b.to_bytes());
            let code = error_code(&bytes);
            let transport = match expected.transport {
                Some("polling") => Verb::Get,
                Some("websocket") => Verb::WebSocket,
                _ => {
                    assert_eq!((status, code), (StatusCode::BAD_REQUEST, Some(0)), "{uri}");
                    continue;
                }
            };
            if let Some(sid) = expected.sid {
                if !sids.iter().any(|s| s == sid) {
                    assert_eq!((status, code), (StatusCode::BAD_REQUEST, Some(1)), "{uri}");
                }
                continue;
            }
            if verb.method() != Method::GET {
                assert_eq!((status, code), (StatusCode::BAD_REQUEST, Some(2)), "{uri}");
                continue;
            }
            if expected.eio != Some("4") {
                assert_eq!((status, code), (StatusCode::BAD_REQUEST, Some(5)), "{uri}");
                continue;
            }
            match (transport, verb) {
                (Verb::Get, _) => {
                    assert_eq!(status, StatusCode::OK, "{uri}");
                    let Some(sid) = open_sid(&bytes) else {
                        panic!("no open packet for {uri}: {bytes:?}");
                    };
                    assert!(engine.socket(&sid).is_some(), "{sid} is not open");
                    sids.push(sid);
                }
                (_, Verb::WebSocket) => assert_eq!(status, StatusCode::SWITCHING_PROTOCOLS),
                (_, Verb::WebSocketV8) => assert_eq!(status, StatusCode::UPGRADE_REQUIRED),
                _ => assert_eq!((status, code), (StatusCode::BAD_REQUEST, Some(3)), "{uri}"),
            }
        }
        engine.close();
    });
});
