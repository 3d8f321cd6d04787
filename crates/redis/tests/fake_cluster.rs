//! Three nodes on the in-process fake Redis: the whole classic protocol, bad input, and
//! requests that cannot complete.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use switchboard_adapter::{AdapterError, BroadcastOptions};
use switchboard_redis::{
    FakeRedis, RedisAdapterError, RedisAdapterFactory, RedisAdapterOptions, ShardedAdapterFactory,
    ShardedAdapterOptions, Subscription, SubscriptionMode,
};

use common::{Node, event};

fn factory(redis: &FakeRedis) -> RedisAdapterFactory {
    RedisAdapterFactory::new(redis.driver(), RedisAdapterOptions::default())
}

#[tokio::test]
async fn three_nodes_share_broadcasts_acks_sockets_rooms_and_server_side_emits() {
    let redis = FakeRedis::new();
    common::scenario::run([factory(&redis), factory(&redis), factory(&redis)], true).await;
}

#[tokio::test]
async fn foreign_malformed_and_unknown_messages_are_counted_and_ignored() {
    let redis = FakeRedis::new();
    let fa = factory(&redis);
    let (a, aa) = Node::start("A", &fa, &[("a1", &["r1"])]);
    assert_eq!(aa.server_count().await.unwrap(), 1);
    let bad: [(&str, &[u8]); 7] = [
        ("socket.io#/#", b"\xc1"),              // never-used msgpack byte
        ("socket.io#/#", b"\x93\xa1x"),         // truncated array
        ("socket.io#/#r1#", b"\x92\xa1x\xa1y"), // array of 2
        ("socket.io-request#/#", b"{\"type\":42,\"uid\":\"zz\"}"), // unknown request type
        ("socket.io-request#/#", b"{\"uid\":\"zz\"}"), // no type
        ("socket.io-request#/#", b"{not json"),
        (
            "socket.io-request#/#",
            b"{\"type\":2,\"uid\":\"zz\",\"opts\":{\"rooms\":[true]},\"rooms\":[\"x\"]}",
        ),
    ];
    for (channel, body) in bad {
        redis.publish(channel, Bytes::from_static(body));
    }
    // A well-formed broadcast after the bad ones still arrives (messages are handled in order).
    let other = factory(&redis);
    let (_b, ab) = Node::start("B", &other, &[]);
    ab.broadcast(event("ok", json!(1)), BroadcastOptions::new()).await.unwrap();
    a.until("the good broadcast", |s| s.delivered.len() == 1).await;
    assert_eq!(fa.status().ignored, 7);
    assert_eq!(a.seen().delivered[0].1, "ok");
}

#[tokio::test(start_paused = true)]
async fn a_node_that_never_answers_ends_requests_with_a_timeout_error() {
    let redis = FakeRedis::new();
    let options = RedisAdapterOptions::default();
    let fa = RedisAdapterFactory::new(redis.driver(), options);
    let (_a, aa) = Node::start("A", &fa, &[("a1", &[])]);
    // A silent subscriber counted by NUMSUB (a node that hung).
    let silent = redis.driver();
    // Unbounded and never read: the silent node.
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let _sub = silent.subscribe(
        Subscription { channels: vec!["socket.io-request#/#".into()], ..Default::default() },
        tx,
    );
    assert_eq!(aa.server_count().await.unwrap(), 2);
    let started = tokio::time::Instant::now();
    match aa.fetch_sockets(BroadcastOptions::new()).await {
        Err(AdapterError::Backend(e)) => {
            let e = e.downcast::<RedisAdapterError>().unwrap();
            assert!(
                matches!(*e, RedisAdapterError::Timeout { request: "fetch_sockets", missing: 1 }),
                "{e}"
            );
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(started.elapsed(), Duration::from_secs(5), "after the requests timeout");
    assert!(aa.rooms().await.is_err());
    // Server-side emit with ack: one answer expected, none comes; the sender is released.
    // Unbounded: the test reads everything.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let name = switchboard_proto::socket::EventName::new("x".to_owned()).unwrap();
    aa.server_side_emit(name, switchboard_proto::socket::Payload::new(), Some(tx)).await.unwrap();
    assert_eq!(rx.recv().await, Some(switchboard_adapter::AckEvent::Expected(1)));
    assert_eq!(rx.recv().await, None, "released after the timeout");
}

#[tokio::test]
async fn with_recovery_on_a_node_logs_remote_broadcasts_and_replays_them() {
    let redis = FakeRedis::new();
    let (fa, fb) = (factory(&redis), factory(&redis));
    let (_a, aa) = Node::start("A", &fa, &[]);
    let on = Some(switchboard_adapter::RecoveryOptions::default());
    let (b, ab) = Node::start_with("B", &fb, &[("b1", &["r1"])], on);
    assert!(ab.supports_recovery());
    aa.server_count().await.unwrap();
    ab.server_count().await.unwrap();
    for i in 0..3 {
        aa.broadcast(event("m", json!(i)), BroadcastOptions::new().to("r1")).await.unwrap();
    }
    let seen = b.until("three remote broadcasts", |s| s.delivered.len() == 3).await;
    let offsets: Vec<_> = seen.offsets.iter().flatten().cloned().collect();
    assert_eq!(offsets.len(), 3, "each remote broadcast is logged with an offset");
    // b1 drops after the first one: the two others are replayed, with their offsets.
    let rooms = ab.socket_rooms(&"b1".into()).unwrap();
    let missed = ab.missed_packets(&offsets[0], &rooms).await.unwrap().unwrap();
    let replayed: Vec<_> =
        missed.iter().map(|(o, p)| (o.clone(), p.payload().unwrap().args()[0].clone())).collect();
    assert_eq!(replayed.len(), 2);
    assert_eq!(
        (replayed[0].0.clone(), replayed[1].0.clone()),
        (offsets[1].clone(), offsets[2].clone())
    );
    assert_eq!((replayed[0].1.clone(), replayed[1].1.clone()), (json!(1), json!(2)));
}

#[tokio::test]
async fn three_nodes_on_sharded_pubsub_share_broadcasts_acks_sockets_and_server_side_emits() {
    let redis = FakeRedis::new();
    // One channel per namespace: in the dynamic modes (as in Node's) a node subscribes a
    // room's channel when the room appears there, so a broadcast right after a remote join
    // can miss it, and the default mode tells socket ids by their length (20), which the
    // scenario's ids do not have. The e2e against Node covers the default mode.
    let mut options = ShardedAdapterOptions::default();
    options.subscription_mode = SubscriptionMode::Static;
    let sharded = || ShardedAdapterFactory::new(redis.driver(), options.clone());
    common::scenario::run([sharded(), sharded(), sharded()], false).await;
}

/// A spy on one sharded channel: how many messages it carried.
fn spy(
    redis: &FakeRedis,
    channel: &str,
) -> (
    switchboard_redis::SharedDriver,
    tokio::sync::mpsc::UnboundedReceiver<switchboard_redis::Incoming>,
) {
    let driver = redis.driver();
    // Unbounded: the test reads everything.
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let _ = driver
        .subscribe(Subscription { sharded: vec![channel.to_owned()], ..Default::default() }, tx);
    (driver, rx)
}

#[tokio::test]
async fn sharded_dynamic_modes_send_a_room_broadcast_on_the_room_channel() {
    let sid = "cccccccccccccccccccc"; // 20 characters: looks like a socket id
    for mode in [SubscriptionMode::Dynamic, SubscriptionMode::DynamicPrivate] {
        let redis = FakeRedis::new();
        let mut options = ShardedAdapterOptions::default();
        options.subscription_mode = mode;
        let make = || ShardedAdapterFactory::new(redis.driver(), options.clone());
        let (fa, fb, fc) = (make(), make(), make());
        let (_a, aa) = Node::start("A", &fa, &[("a1", &["r1"])]);
        let (b, ab) = Node::start("B", &fb, &[("b1", &["r2"])]);
        let (c, ac) = Node::start("C", &fc, &[(sid, &[]), ("c2", &[])]);
        for adapter in [&aa, &ab, &ac] {
            adapter.server_count().await.unwrap();
        }
        let (_d1, mut room) = spy(&redis, "socket.io#/#r2#");
        let (_d2, mut main) = spy(&redis, "socket.io#/#");
        aa.broadcast(event("to-r2", json!(1)), BroadcastOptions::new().to("r2")).await.unwrap();
        b.until("b1 gets to-r2", |s| s.delivered.len() == 1).await;
        assert!(room.try_recv().is_ok(), "{mode:?}: on the room's channel");
        assert!(main.try_recv().is_err(), "{mode:?}: not on the namespace's channel");
        aa.broadcast(event("to-sid", json!(2)), BroadcastOptions::new().to(sid)).await.unwrap();
        c.until("the socket gets to-sid", |s| s.delivered.len() == 1).await;
        assert_eq!(
            main.try_recv().is_ok(),
            mode == SubscriptionMode::Dynamic,
            "{mode:?}: a socket id"
        );
        aa.broadcast(event("to-c2", json!(3)), BroadcastOptions::new().to("c2")).await.unwrap();
        if mode == SubscriptionMode::DynamicPrivate {
            c.until("c2 gets to-c2", |s| s.delivered.len() == 2).await;
        }
        // The room's channel is dropped with its last local member.
        ab.del(&"b1".into(), &"r2".into());
        aa.broadcast(event("to-r2", json!(4)), BroadcastOptions::new().to("r2")).await.unwrap();
        assert_eq!(redis.shard_subscribers("socket.io#/#r2#"), 1, "{mode:?}: only the spy is left");
    }
}
