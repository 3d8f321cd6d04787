//! The cluster checks, run on three nodes made by any driver.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use switchboard_adapter::{AckEvent, AdapterFactory, BroadcastOptions, Room};
use switchboard_proto::socket::{EventName, Payload};
use tokio::sync::mpsc;

use super::{Node, event};

fn names(list: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    list.into_iter().collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Three nodes: A (a1 in r1), B (b1 in r1, b2 in r1 and r2), C (c1 in r2). With
/// `all_rooms`, `rooms()` covers the cluster (the pub/sub protocol has the request; the
/// sharded one, as Node's `ClusterAdapter`, does not).
pub async fn run<F: AdapterFactory>(factories: [F; 3], all_rooms: bool) {
    let [fa, fb, fc] = factories;
    let (a, aa) = Node::start("A", &fa, &[("a1", &["r1"])]);
    let (b, ab) = Node::start("B", &fb, &[("b1", &["r1"]), ("b2", &["r1", "r2"])]);
    let (c, ac) = Node::start("C", &fc, &[("c1", &["r2"])]);
    // Server count: once every node subscribed (each call waits for its own subscription) or,
    // with heartbeats (streams), once every node heard from the others.
    for adapter in [&aa, &ab, &ac] {
        let counted = async {
            while adapter.server_count().await.unwrap() < 3 {
                // Polling the count: heartbeats announce nothing else.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), counted).await.expect("3 nodes counted");
    }
    for adapter in [&aa, &ab, &ac] {
        assert_eq!(adapter.server_count().await.unwrap(), 3, "server count");
    }

    // Broadcasts: to everyone, to r1 except r2, to one socket's room; in order.
    aa.broadcast(event("all", json!(1)), BroadcastOptions::new()).await.unwrap();
    aa.broadcast(event("r1-not-r2", json!(2)), BroadcastOptions::new().to("r1").except("r2"))
        .await
        .unwrap();
    aa.broadcast(event("to-c1", json!(3)), BroadcastOptions::new().to("c1")).await.unwrap();
    let mut local = BroadcastOptions::new();
    local.flags.local = true;
    aa.broadcast(event("local-only", json!(4)), local).await.unwrap();
    aa.broadcast(event("last", json!(5)), BroadcastOptions::new()).await.unwrap();
    let done = |s: &super::Seen| s.delivered.iter().filter(|d| d.1 == "last").count();
    let sb = b.until("B gets `last`", |s| done(s) == 2).await;
    let sc = c.until("C gets `last`", |s| done(s) == 1).await;
    let sa = a.seen();
    let got = |s: &super::Seen| -> Vec<String> {
        s.delivered.iter().map(|(id, e, _)| format!("{id}:{e}")).collect()
    };
    assert_eq!(got(&sa), ["a1:all", "a1:r1-not-r2", "a1:local-only", "a1:last"]);
    let mut b_got = got(&sb);
    b_got.sort();
    assert_eq!(b_got, ["b1:all", "b1:last", "b1:r1-not-r2", "b2:all", "b2:last"]);
    let b1: Vec<String> = got(&sb).into_iter().filter(|e| e.starts_with("b1")).collect();
    assert_eq!(b1, ["b1:all", "b1:r1-not-r2", "b1:last"], "in order");
    assert_eq!(got(&sc), ["c1:all", "c1:to-c1", "c1:last"], "in order, exactly once");
    assert_eq!(sc.delivered[1].2, vec![json!(3)]);

    // Broadcast with ack across nodes: every reached socket answers once.
    // Unbounded: the test reads everything.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut opts = BroadcastOptions::new().to("r2");
    opts.flags.timeout = Some(Duration::from_secs(5));
    ab.broadcast_with_ack(event("ask", json!(0)), opts, tx).await.unwrap();
    let (mut expected, mut answers) = (0, Vec::new());
    while let Some(ev) = rx.recv().await {
        match ev {
            AckEvent::Expected(n) => expected += n,
            AckEvent::Response { payload, .. } => {
                answers.push(payload.args()[0].as_str().unwrap().to_owned())
            }
            _ => {}
        }
    }
    assert_eq!(expected, 2, "b2 and c1 are in r2");
    assert_eq!(names(answers), set(&["ack from b2", "ack from c1"]));

    // fetch_sockets sees the remote sockets, with their rooms and data.
    let all = aa.fetch_sockets(BroadcastOptions::new()).await.unwrap();
    assert_eq!(names(all.iter().map(|s| s.id.to_string())), set(&["a1", "b1", "b2", "c1"]));
    let r2 = ac.fetch_sockets(BroadcastOptions::new().to("r2").except("c1")).await.unwrap();
    assert_eq!(r2.len(), 1);
    assert_eq!(r2[0].id.as_str(), "b2");
    assert_eq!(names(r2[0].rooms.iter().map(|r| r.to_string())), set(&["b2", "r1", "r2"]));
    assert_eq!(r2[0].data, json!({"node": "B"}));
    let rooms = aa.rooms().await.unwrap();
    let expected: &[&str] =
        if all_rooms { &["a1", "b1", "b2", "c1", "r1", "r2"] } else { &["a1", "r1"] };
    assert_eq!(names(rooms.iter().map(Room::to_string)), set(expected));

    // Join and leave on every node, then a broadcast to the new room.
    ac.add_sockets(BroadcastOptions::new().to("r1"), vec![Room::from("joined")]).await.unwrap();
    ac.del_sockets(BroadcastOptions::new().to("b1"), vec![Room::from("joined")]).await.unwrap();
    ac.broadcast(event("to-joined", json!(6)), BroadcastOptions::new().to("joined")).await.unwrap();
    let joined = |s: &super::Seen| -> Vec<String> {
        s.delivered.iter().filter(|d| d.1 == "to-joined").map(|d| d.0.clone()).collect()
    };
    b.until("b2 gets to-joined", |s| joined(s) == ["b2"]).await;
    a.until("a1 gets to-joined", |s| joined(s) == ["a1"]).await;

    // Server-side emits, with and without ack.
    let name = EventName::new("hello".to_owned()).unwrap();
    ab.server_side_emit(name.clone(), Payload::from_args(vec![json!("x")]), None).await.unwrap();
    a.until("A gets hello", |s| s.server_side.len() == 1).await;
    c.until("C gets hello", |s| s.server_side.len() == 1).await;
    // Unbounded: the test reads everything.
    let (tx, mut rx) = mpsc::unbounded_channel();
    ab.server_side_emit(name, Payload::from_args(vec![json!("y")]), Some(tx)).await.unwrap();
    let (mut expected, mut answers) = (None, Vec::new());
    while let Some(ev) = rx.recv().await {
        match ev {
            AckEvent::Expected(n) => expected = Some(n),
            AckEvent::Response { payload, .. } => {
                answers.push(payload.args()[0].as_str().unwrap().to_owned())
            }
            _ => {}
        }
    }
    assert_eq!(expected, Some(2));
    assert_eq!(names(answers), set(&["pong from A", "pong from C"]));
    assert!(b.seen().server_side.is_empty(), "the sender does not get its own emit");

    // Disconnect remote sockets.
    aa.disconnect_sockets(BroadcastOptions::new().to("r2"), true).await.unwrap();
    b.until("b2 disconnected", |s| s.disconnected == ["b2"]).await;
    c.until("c1 disconnected", |s| s.disconnected == ["c1"]).await;
    assert!(a.seen().disconnected.is_empty());
    drop((aa, ab, ac));
}
