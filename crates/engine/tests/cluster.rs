//! Clusters without sticky sessions: requests for another node's session are forwarded to
//! it, forged forwarded requests are refused, and a forwarded request is never forwarded
//! again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use switchboard_engine::{Cluster, FORWARDED_HEADER, NodeTag, OwnerLookup, TOKEN_HEADER};

const PATH: &str = "/engine.io/";
const TOKEN: &str = "s3cret-shared-by-the-nodes";

/// The tag → address map of a test cluster, and how often it was asked.
#[derive(Default, Clone)]
struct Directory {
    nodes: Arc<Mutex<HashMap<String, String>>>,
    asked: Arc<AtomicUsize>,
}

impl Directory {
    fn lookup(&self) -> OwnerLookup {
        let dir = self.clone();
        Arc::new(move |tag: &str| {
            dir.asked.fetch_add(1, Ordering::SeqCst);
            let found = dir.nodes.lock().unwrap().get(tag).cloned();
            Box::pin(async move { found })
        })
    }

    fn add(&self, tag: NodeTag, addr: String) {
        self.nodes.lock().unwrap().insert(tag.as_str().to_owned(), addr);
    }
}

/// A node of the cluster on `dir`, registered in it.
async fn node(dir: &Directory, max_payload: usize) -> (Server, NodeTag) {
    let tag = NodeTag::random();
    let mut config = config();
    config.max_payload = max_payload;
    config.cluster = Some(Cluster::new(tag, TOKEN, dir.lookup()));
    let server = start(config).await;
    dir.add(tag, server.addr.to_string());
    (server, tag)
}

fn marked(token: Option<&'static str>) -> Vec<(&'static str, &'static str)> {
    let mut headers = vec![(FORWARDED_HEADER, "1")];
    headers.extend(token.map(|t| (TOKEN_HEADER, t)));
    headers
}

async fn post(addr: SocketAddr, sid: &str, body: &str) -> Reply {
    http(addr, "POST", &polling(PATH, Some(sid)), body.as_bytes()).await
}

#[tokio::test]
async fn a_polling_session_answers_through_any_node() {
    let dir = Directory::default();
    let (a, tag_a) = node(&dir, 1_000_000).await;
    let (b, _) = node(&dir, 1_000_000).await;
    let sid = handshake(a.addr).await;
    assert!(sid.starts_with(tag_a.as_str()), "{sid} names its node {tag_a}");
    let sent = post(b.addr, &sid, "4hello").await;
    assert_eq!((sent.status, sent.body.as_str()), (200, "ok"));
    let got = http(b.addr, "GET", &polling(PATH, Some(&sid)), b"").await;
    assert_eq!((got.status, got.body.as_str()), (200, "4hello"));
    assert_eq!(got.header("content-type").as_deref(), Some("text/plain; charset=UTF-8"));
    // Back on the owner directly, as round-robin does.
    let sent = post(a.addr, &sid, "4again").await;
    assert_eq!(sent.status, 200);
    let got = http(b.addr, "GET", &polling(PATH, Some(&sid)), b"").await;
    assert_eq!(got.body, "4again");
    assert_eq!((a.engine.session_count(), b.engine.session_count()), (1, 0));
}

#[tokio::test]
async fn an_upgrade_through_another_node_is_proxied_to_the_owner() {
    let dir = Directory::default();
    let (mut a, _) = node(&dir, 1_000_000).await;
    let (b, _) = node(&dir, 1_000_000).await;
    let sid = handshake(a.addr).await;
    assert!(matches!(a.next().await, Seen::Connect(_)));
    let mut ws = ws(b.addr, Some(&sid)).await;
    send(&mut ws, "2probe").await;
    assert_eq!(text(&mut ws).await, "3probe");
    send(&mut ws, "5").await;
    assert_eq!(a.next().await, Seen::Upgrade(sid.clone()));
    send(&mut ws, "4over the proxy").await;
    assert_eq!(text(&mut ws).await, "4over the proxy");
    assert_eq!(b.engine.session_count(), 0);
}

#[tokio::test]
async fn forged_forwarded_requests_are_refused() {
    let dir = Directory::default();
    let (a, _) = node(&dir, 1_000_000).await;
    let sid = handshake(a.addr).await;
    let target = polling(PATH, Some(&sid));
    for headers in [marked(None), marked(Some("wrong")), marked(Some("s3cret-shared-by-the-nodeS"))]
    {
        let reply = http_raw(a.addr, "POST", &target, &headers, b"4forged").await;
        assert_eq!(reply.status, 403, "{headers:?}");
        assert_eq!(reply.body, r#"{"code":4,"message":"Bad cluster token"}"#);
    }
    let reply = http_raw(a.addr, "POST", &target, &marked(Some(TOKEN)), b"4real").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok"));
    let got = http(a.addr, "GET", &target, b"").await;
    assert_eq!(got.body, "4real", "only the request with the token reached the session");

    // A server in no cluster refuses any forwarded request.
    let plain = start(config()).await;
    let sid = handshake(plain.addr).await;
    let target = polling(PATH, Some(&sid));
    let reply = http_raw(plain.addr, "POST", &target, &marked(Some(TOKEN)), b"4x").await;
    assert_eq!(reply.status, 403);
}

#[tokio::test]
async fn a_forwarded_request_is_never_forwarded_again() {
    let dir = Directory::default();
    let (a, _) = node(&dir, 1_000_000).await;
    let (b, _) = node(&dir, 1_000_000).await;
    let sid = handshake(a.addr).await;
    let target = polling(PATH, Some(&sid));
    // B holds no such session; with the marker it answers at once instead of asking.
    let reply = http_raw(b.addr, "POST", &target, &marked(Some(TOKEN)), b"4x").await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body, r#"{"code":1,"message":"Session ID unknown"}"#);
    assert_eq!(dir.asked.load(Ordering::SeqCst), 0);
    // A session id naming B itself is not looked up either.
    let own = format!("{}{}", b.engine.config().cluster.as_ref().unwrap().tag, &sid[4..]);
    let reply = post(b.addr, &own, "4x").await;
    assert_eq!(reply.status, 400);
    assert_eq!(dir.asked.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_gone_owner_answers_session_id_unknown() {
    let dir = Directory::default();
    let (b, _) = node(&dir, 1_000_000).await;
    // No node has this tag.
    let reply = post(b.addr, "ZZZZabcdefghijklmnop", "4x").await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body, r#"{"code":1,"message":"Session ID unknown"}"#);
    assert_eq!(dir.asked.load(Ordering::SeqCst), 1);
    // The owner's address is known but nothing listens there any more.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let tag = NodeTag::parse("dead").unwrap();
    dir.add(tag, dead_addr.to_string());
    let sid = format!("dead{}", "x".repeat(16));
    // Refused connections answer at once; the bound only turns a hang into a failure.
    let target = polling(PATH, Some(&sid));
    let both = async { [post(b.addr, &sid, "4x").await, http(b.addr, "GET", &target, b"").await] };
    for reply in tokio::time::timeout(Duration::from_secs(60), both).await.expect("no hang") {
        assert_eq!(reply.status, 400);
        assert_eq!(reply.body, r#"{"code":1,"message":"Session ID unknown"}"#);
    }
}

#[tokio::test]
async fn forwarded_posts_keep_the_payload_limit() {
    let dir = Directory::default();
    let (a, _) = node(&dir, 64).await;
    let (b, _) = node(&dir, 64).await;
    let sid = handshake(a.addr).await;
    let big = format!("4{}", "y".repeat(200));
    let reply = post(b.addr, &sid, &big).await;
    assert_eq!(reply.status, 413);
    let reply = post(b.addr, &sid, "4small").await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn a_second_poll_through_another_node_closes_the_session_as_on_the_owner() {
    let dir = Directory::default();
    let (mut a, _) = node(&dir, 1_000_000).await;
    let (b, _) = node(&dir, 1_000_000).await;
    let sid = handshake(a.addr).await;
    let target = polling(PATH, Some(&sid));
    let socket = a.engine.socket(&sid).unwrap();
    // Each GET in a task of its own, awaited below, so that both are held at once.
    let get = |addr: SocketAddr, target: String| {
        tokio::spawn(async move { http(addr, "GET", &target, b"").await })
    };
    let (first, second) = (get(a.addr, target.clone()), get(b.addr, target.clone()));
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    let mut answers = [(first.status, first.body), (second.status, second.body)];
    answers.sort();
    assert_eq!(answers[0], (200, "1".to_owned()), "the pending GET gets a close packet");
    assert_eq!(answers[1].0, 400, "the second GET is refused");
    assert!(!socket.is_connected());
    assert_eq!(a.next().await, Seen::Connect(sid.clone()));
    assert_eq!(
        a.next().await,
        Seen::Disconnect(sid, switchboard_engine::DisconnectReason::TransportError)
    );
}

#[tokio::test]
async fn the_receiving_node_answers_cors_once() {
    let dir = Directory::default();
    let with_cors = |tag| {
        let mut config = config();
        let mut cors = switchboard_engine::Cors::default();
        cors.origins = Some(vec!["https://app.example".to_owned()]);
        config.cors = Some(cors);
        config.cluster = Some(Cluster::new(tag, TOKEN, dir.lookup()));
        config
    };
    let (tag_a, tag_b) = (NodeTag::random(), NodeTag::random());
    let a = start(with_cors(tag_a)).await;
    let b = start(with_cors(tag_b)).await;
    dir.add(tag_a, a.addr.to_string());
    dir.add(tag_b, b.addr.to_string());
    let sid = handshake(a.addr).await;
    let origin = [("Origin", "https://app.example")];
    let reply = http_raw(b.addr, "POST", &polling(PATH, Some(&sid)), &origin, b"4x").await;
    assert_eq!(reply.status, 200);
    let allow = reply
        .head
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("access-control-allow-origin:"))
        .count();
    assert_eq!(allow, 1, "{}", reply.head);
    let vary = reply.head.lines().filter(|l| l.to_ascii_lowercase().starts_with("vary:")).count();
    assert_eq!(vary, 1, "{}", reply.head);
    assert_eq!(reply.header("access-control-allow-origin").as_deref(), Some("https://app.example"));
    // An origin the cluster does not allow is refused by the receiving node.
    let other = [("Origin", "https://elsewhere.example")];
    let reply = http_raw(b.addr, "POST", &polling(PATH, Some(&sid)), &other, b"4x").await;
    assert_eq!(reply.status, 403);
}

#[tokio::test]
async fn an_owner_that_accepts_but_never_answers_is_a_gone_session_in_bounded_time() {
    let dir = Directory::default();
    let tag = NodeTag::random();
    let mut config = config();
    config.ping_interval = Duration::from_millis(200);
    config.ping_timeout = Duration::from_millis(200);
    config.cluster = Some(Cluster::new(tag, TOKEN, dir.lookup()));
    let b = start(config).await;
    // A listener that is never accepted from: connections complete in the kernel's backlog,
    // requests are never read.
    let frozen = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    dir.add(NodeTag::parse("froz").unwrap(), frozen.local_addr().unwrap().to_string());
    let sid = format!("froz{}", "y".repeat(16));
    // Answered once ping interval + ping timeout + 5 s passed; far sooner than this bound.
    let target = polling(PATH, Some(&sid));
    let get = http(b.addr, "GET", &target, b"");
    let reply = tokio::time::timeout(Duration::from_secs(60), get).await.expect("no hang");
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body, r#"{"code":1,"message":"Session ID unknown"}"#);
    drop(frozen);
}
