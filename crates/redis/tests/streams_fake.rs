//! The streams adapter on the in-process fake Redis: three nodes, recovery of a session on
//! another node, a reader cut off while others write, an outage (writes queued, replies
//! lost, the queue's cap), bad entries, and nodes leaving.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use switchboard_adapter::{Adapter, BroadcastOptions, Offset, RecoveryOptions, Session, SocketId};
use switchboard_redis::{FakeRedis, StreamsAdapterFactory, StreamsAdapterOptions};

use common::{Node, event};

fn factory(redis: &FakeRedis) -> StreamsAdapterFactory {
    StreamsAdapterFactory::new(redis.driver(), StreamsAdapterOptions::default())
}

/// Waits (at most 10 s) until `adapter` counts `n` servers.
async fn until_count(adapter: &Arc<dyn Adapter>, n: usize) {
    let wait = async {
        while adapter.server_count().await.unwrap() != n {
            // Polling the count: heartbeats announce nothing else.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait).await.expect("server count");
}

fn args(seen: &common::Seen) -> Vec<Value> {
    seen.delivered.iter().map(|d| d.2[0].clone()).collect()
}

#[tokio::test]
async fn three_nodes_on_streams_share_broadcasts_acks_sockets_and_server_side_emits() {
    let redis = FakeRedis::new();
    let nodes = [factory(&redis), factory(&redis), factory(&redis)];
    common::scenario::run(nodes.clone(), false).await;
    for node in &nodes {
        assert_eq!(node.status().ignored, 0);
    }
}

#[tokio::test]
async fn a_session_saved_on_one_node_is_recovered_on_another_with_every_missed_packet() {
    let redis = FakeRedis::new();
    let (fa, fb) = (factory(&redis), factory(&redis));
    let on = Some(RecoveryOptions::default());
    let (a, aa) = Node::start_with("A", &fa, &[("a1", &["r1"]), ("a2", &[])], on);
    let (_b, ab) = Node::start_with("B", &fb, &[("b1", &[])], on);
    until_count(&aa, 2).await;
    until_count(&ab, 2).await;
    ab.broadcast(event("m", json!(0)), BroadcastOptions::new().to("r1")).await.unwrap();
    let seen = a.until("m 0", |s| s.delivered.len() == 1).await;
    let first = seen.offsets[0].clone().expect("a remote broadcast carries its stream id");
    assert_eq!(seen.delivered[0].2, vec![json!(0), json!(first.as_str())], "offset last");

    // a1 drops on A: its session goes to Redis.
    let a1 = SocketId::from("a1");
    let rooms = aa.socket_rooms(&a1).unwrap();
    aa.del_all(&a1);
    let session = Session::new(a1.clone(), "pid-a1", rooms.clone(), json!({"n": 1}));
    aa.persist_session(session.clone()).await.unwrap();

    // Meanwhile: what a1 would get (1, 2, 6), and what it would not (3, 4, 5, the ack).
    ab.broadcast(event("m", json!(1)), BroadcastOptions::new().to("r1")).await.unwrap();
    ab.broadcast(event("m", json!(2)), BroadcastOptions::new()).await.unwrap();
    ab.broadcast(event("m", json!(3)), BroadcastOptions::new().to("r2")).await.unwrap();
    ab.broadcast(event("m", json!(4)), BroadcastOptions::new().to("r1").except("a1"))
        .await
        .unwrap();
    let mut volatile = BroadcastOptions::new();
    volatile.flags.volatile = true;
    ab.broadcast(event("m", json!(5)), volatile).await.unwrap();
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    ab.broadcast_with_ack(event("ask", json!(0)), BroadcastOptions::new(), tx).await.unwrap();
    aa.broadcast(event("m", json!(6)), BroadcastOptions::new()).await.unwrap();

    // The client reconnects to B: the session is there once, the missed packets in order.
    assert_eq!(ab.take_session("pid-a1").await.unwrap(), Some(session));
    assert_eq!(ab.take_session("pid-a1").await.unwrap(), None, "taken once");
    let missed = ab.missed_packets(&first, &rooms).await.unwrap().expect("recoverable");
    let got: Vec<Value> =
        missed.iter().map(|(_, p)| p.payload().unwrap().args()[0].clone()).collect();
    assert_eq!(got, [json!(1), json!(2), json!(6)]);
    let mut last = first.clone();
    for (offset, packet) in &missed {
        assert!(*offset > last, "increasing offsets");
        let args = packet.payload().unwrap().args();
        assert_eq!(args.last(), Some(&json!(offset.as_str())), "replayed with its offset");
        last = offset.clone();
    }
    let none = ab.missed_packets(&last, &rooms).await.unwrap();
    assert_eq!(none.map(|m| m.len()), Some(0), "nothing after the last one");
    for bad in ["123", "1-0", "x-1", ""] {
        let missed = ab.missed_packets(&Offset::from(bad), &rooms).await.unwrap();
        assert!(missed.is_none(), "offset {bad:?} is not recoverable");
    }
    assert_eq!(fb.status().ignored, 0);
}

#[tokio::test]
async fn a_reader_cut_off_goes_on_from_the_last_entry_it_read() {
    let redis = FakeRedis::new();
    let (fa, fb) = (factory(&redis), factory(&redis));
    let (a, aa) = Node::start("A", &fa, &[("a1", &[])]);
    let (_b, ab) = Node::start("B", &fb, &[]);
    until_count(&aa, 2).await;
    until_count(&ab, 2).await;
    ab.broadcast(event("m", json!(0)), BroadcastOptions::new()).await.unwrap();
    a.until("m 0", |s| s.delivered.len() == 1).await;
    redis.fail_reads(true);
    for i in 1..=5 {
        ab.broadcast(event("m", json!(i)), BroadcastOptions::new()).await.unwrap();
    }
    assert_eq!(a.seen().delivered.len(), 1, "nothing read while reads fail");
    redis.fail_reads(false);
    let seen = a.until("m 1..5", |s| s.delivered.len() == 6).await;
    assert_eq!(args(&seen), (0..=5).map(|i| json!(i)).collect::<Vec<_>>(), "once, in order");
    ab.broadcast(event("m", json!(6)), BroadcastOptions::new()).await.unwrap();
    let seen = a.until("m 6", |s| s.delivered.len() >= 7).await;
    assert_eq!(args(&seen).len(), 7);
}

/// The `(from, n)` arguments of the deliveries of `event`.
fn flow(seen: &common::Seen, event: &str) -> Vec<(String, u64)> {
    seen.delivered
        .iter()
        .filter(|d| d.1 == event)
        .map(|d| (d.2[0]["from"].as_str().unwrap().to_owned(), d.2[0]["n"].as_u64().unwrap()))
        .collect()
}

fn from(list: &[(String, u64)], node: &str) -> Vec<u64> {
    list.iter().filter(|(f, _)| f == node).map(|(_, n)| *n).collect()
}

/// Waits (at most 10 s) until `pred` holds; the fake announces nothing, so this polls.
async fn until_true(what: &str, pred: impl Fn() -> bool) {
    let wait = async {
        while !pred() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait).await.expect(what);
}

#[tokio::test]
async fn broadcasts_made_during_an_outage_reach_every_node_after_it_once_and_in_order() {
    let redis = FakeRedis::new();
    let factories = [factory(&redis), factory(&redis), factory(&redis)];
    let names = ["A", "B", "C"];
    let started: Vec<_> = names
        .iter()
        .zip(&factories)
        .map(|(name, f)| {
            let socket = format!("{}1", name.to_lowercase());
            Node::start(name, f, &[(socket.as_str(), &[])])
        })
        .collect();
    for (_, adapter) in &started {
        until_count(adapter, 3).await;
    }
    let send = |k: usize, event: &'static str, n: u64| {
        let (adapter, name) = (started[k].1.clone(), names[k]);
        async move {
            let data = json!({"from": name, "n": n});
            adapter.broadcast(common::event(event, data), BroadcastOptions::new()).await
        }
    };

    // Redis goes away for readers and writers: each node's broadcasts reach its own socket at
    // once and wait in its writer's queue.
    redis.fail_reads(true);
    redis.fail_writes(true, false);
    let before = redis.stream_len("socket.io");
    for n in 0..5 {
        for k in 0..3 {
            send(k, "flow", n).await.expect("queued, not failed");
        }
    }
    for (k, (node, _)) in started.iter().enumerate() {
        let own = flow(&node.seen(), "flow");
        assert_eq!(own.len(), 5, "{}: its own broadcasts only, at once: {own:?}", names[k]);
        assert_eq!(from(&own, names[k]), [0, 1, 2, 3, 4]);
        let status = factories[k].status();
        assert!(status.link.queued >= 5, "{}: {status:?}", names[k]);
        assert_eq!(status.link.overflowed, 0);
    }
    // Then Redis is readable and takes the entries, but the replies are lost: the writers
    // must find what was added rather than add it again.
    redis.fail_reads(false);
    redis.fail_writes(true, true);
    until_true("entries taken", || redis.stream_len("socket.io") >= before + 15).await;
    for n in 5..8 {
        send(0, "flow", n).await.expect("queued");
    }
    // Redis is back.
    redis.fail_writes(false, false);
    for k in 0..3 {
        send(k, "flow", 8).await.expect("sent");
    }
    for (k, (node, _)) in started.iter().enumerate() {
        let seen = node.until("every broadcast", |s| flow(s, "flow").len() >= 3 * 6 + 3).await;
        let got = flow(&seen, "flow");
        assert_eq!(
            from(&got, "A"),
            (0..=8).collect::<Vec<_>>(),
            "{}: A's, once, in order",
            names[k]
        );
        assert_eq!(from(&got, "B"), [0, 1, 2, 3, 4, 8], "{}: B's, once, in order", names[k]);
        assert_eq!(from(&got, "C"), [0, 1, 2, 3, 4, 8], "{}: C's, once, in order", names[k]);
        assert_eq!(got.len(), 21, "{}: nothing else: {got:?}", names[k]);
    }
    for f in &factories {
        until_true("queues drained", || f.status().link.queued == 0).await;
        assert_eq!(f.status().ignored, 0);
    }
    // The writers found what Redis had taken before sending again: no entry is in the stream
    // twice, so Node readers too get each once.
    let all = redis.driver().xrange("socket.io".into(), "-".into(), "+".into(), 100_000).await;
    let seqs: Vec<_> = all.unwrap().iter().filter_map(|e| e.field("seq").cloned()).collect();
    let unique: std::collections::HashSet<_> = seqs.iter().collect();
    assert_eq!(unique.len(), seqs.len(), "no entry added twice");
    // Still in step after the outage.
    send(1, "after", 0).await.unwrap();
    for (node, _) in &started {
        node.until("a later broadcast", |s| flow(s, "after").len() == 1).await;
    }
}

#[tokio::test]
async fn an_entry_in_the_stream_twice_is_delivered_and_replayed_once() {
    let redis = FakeRedis::new();
    let (fa, fb) = (factory(&redis), factory(&redis));
    let on = Some(RecoveryOptions::default());
    let (a, aa) = Node::start_with("A", &fa, &[("a1", &[])], on);
    let (_b, ab) = Node::start_with("B", &fb, &[], on);
    until_count(&aa, 2).await;
    until_count(&ab, 2).await;
    ab.broadcast(event("m", json!(0)), BroadcastOptions::new()).await.unwrap();
    let seen = a.until("m 0", |s| s.delivered.len() == 1).await;
    let first = seen.offsets[0].clone().unwrap();
    ab.broadcast(event("m", json!(1)), BroadcastOptions::new()).await.unwrap();
    a.until("m 1", |s| s.delivered.len() == 2).await;
    // B's entries 0 and 1 again, as a writer that missed them after a lost reply adds them.
    let all = redis.driver().xrange("socket.io".into(), "-".into(), "+".into(), 1000).await;
    let copies: Vec<_> = all
        .unwrap()
        .into_iter()
        .filter(|e| e.field("type").map(|t| t.as_ref()) == Some(b"3".as_slice()))
        .collect();
    assert_eq!(copies.len(), 2);
    for entry in copies {
        redis.xadd("socket.io", 10_000, entry.fields);
    }
    ab.broadcast(event("m", json!(2)), BroadcastOptions::new()).await.unwrap();
    let seen = a.until("m 2", |s| s.delivered.len() >= 3).await;
    assert_eq!(args(&seen), [json!(0), json!(1), json!(2)], "the copies are not delivered");
    let rooms = aa.socket_rooms(&SocketId::from("a1")).unwrap();
    let missed = ab.missed_packets(&first, &rooms).await.unwrap().unwrap();
    let replayed: Vec<Value> =
        missed.iter().map(|(_, p)| p.payload().unwrap().args()[0].clone()).collect();
    assert_eq!(replayed, [json!(1), json!(2)], "the copies are not replayed");
}

#[tokio::test]
async fn past_the_queue_cap_writes_are_dropped_counted_and_still_delivered_here() {
    let redis = FakeRedis::new();
    let mut options = StreamsAdapterOptions::default();
    options.queue_cap = 3;
    let fa = StreamsAdapterFactory::new(redis.driver(), options);
    let fb = factory(&redis);
    let (a, aa) = Node::start("A", &fa, &[("a1", &[])]);
    let (b, ab) = Node::start("B", &fb, &[("b1", &[])]);
    until_count(&aa, 2).await;
    until_count(&ab, 2).await;
    redis.fail_writes(true, false);
    let mut results = Vec::new();
    for n in 0..5 {
        let data = json!({"from": "A", "n": n});
        results.push(aa.broadcast(event("flow", data), BroadcastOptions::new()).await.is_ok());
    }
    assert_eq!(results, [true, true, true, false, false], "the cap is 3");
    assert_eq!(from(&flow(&a.seen(), "flow"), "A"), [0, 1, 2, 3, 4], "all delivered here");
    let status = fa.status();
    assert_eq!((status.link.queued, status.link.overflowed), (3, 2));
    redis.fail_writes(false, false);
    let seen = b.until("the queued ones", |s| flow(s, "flow").len() >= 3).await;
    assert_eq!(from(&flow(&seen, "flow"), "A"), [0, 1, 2]);
    until_true("queue drained", || fa.status().link.queued == 0).await;
    assert_eq!(fa.status().link.overflowed, 2);
    let data = json!({"from": "A", "n": 5});
    aa.broadcast(event("flow", data), BroadcastOptions::new()).await.unwrap();
    let seen = b.until("a later one", |s| flow(s, "flow").len() >= 4).await;
    assert_eq!(from(&flow(&seen, "flow"), "A"), [0, 1, 2, 5]);
}

#[tokio::test]
async fn foreign_and_malformed_entries_are_counted_and_ignored() {
    let redis = FakeRedis::new();
    let fa = factory(&redis);
    let (a, aa) = Node::start("A", &fa, &[("a1", &[])]);
    until_count(&aa, 1).await;
    let entry = |fields: &[(&str, &str)]| -> Vec<(String, Bytes)> {
        fields.iter().map(|(k, v)| ((*k).to_owned(), Bytes::from((*v).to_owned()))).collect()
    };
    let bad = [
        entry(&[("hello", "world")]),
        entry(&[("uid", "zz"), ("nsp", "/"), ("type", "three")]),
        entry(&[("uid", "zz"), ("nsp", "/"), ("type", "3"), ("data", "{not json")]),
        entry(&[("uid", "zz"), ("nsp", "/"), ("type", "3"), ("data", "!!not base64")]),
        entry(&[
            ("uid", "zz"),
            ("nsp", "/"),
            ("type", "3"),
            ("data", r#"{"opts":{"rooms":[true]}}"#),
        ]),
        entry(&[("uid", "zz"), ("nsp", "/"), ("type", "3"), ("data", r#"{"packet":{"type":0}}"#)]),
        entry(&[("uid", "zz"), ("nsp", "/"), ("type", "42")]),
    ];
    for fields in bad {
        redis.xadd("socket.io", 10_000, fields);
    }
    let good =
        r#"{"packet":{"type":2,"data":["ok",1]},"opts":{"rooms":[],"except":[],"flags":{}}}"#;
    redis.xadd(
        "socket.io",
        10_000,
        entry(&[("uid", "emitter"), ("nsp", "/"), ("type", "3"), ("data", good)]),
    );
    let seen = a.until("the good entry", |s| s.delivered.len() == 1).await;
    assert_eq!(seen.delivered[0].1, "ok");
    assert_eq!(fa.status().ignored, 7);
    assert_eq!(aa.server_count().await.unwrap(), 2, "zz wrote entries; the emitter is no node");
}

#[tokio::test(start_paused = true)]
async fn closed_and_silent_nodes_stop_being_counted_and_waited_for() {
    let redis = FakeRedis::new();
    let (fa, fb, fc) = (factory(&redis), factory(&redis), factory(&redis));
    let (_a, aa) = Node::start("A", &fa, &[("a1", &[])]);
    let (_b, ab) = Node::start("B", &fb, &[]);
    until_count(&aa, 2).await;
    ab.close().await.unwrap();
    until_count(&aa, 1).await;
    // C joins, then hangs (its adapter goes away without a word): forgotten after 10 s.
    let (c, ac) = Node::start("C", &fc, &[("c1", &[])]);
    until_count(&aa, 2).await;
    until_count(&ac, 2).await;
    drop((c, ac));
    // Paused time: C's last heartbeat is 7 s old when A asks; A forgets it 3 to 4 s later.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let started = tokio::time::Instant::now();
    let all = aa.fetch_sockets(BroadcastOptions::new()).await.unwrap();
    assert_eq!(all.len(), 1, "C is given up when it is forgotten, before the request timeout");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(2) && waited < Duration::from_secs(5), "{waited:?}");
    assert_eq!(aa.server_count().await.unwrap(), 1);
}
