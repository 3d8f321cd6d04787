//! The admin against in-process clients.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::{Value, json};

use super::{Admin, AdminAuth, AdminMode, AdminOptions};
use crate::testing::TestClient;
use crate::{Socket, SocketIo};

fn open() -> AdminOptions {
    AdminOptions { auth: AdminAuth::None, ..AdminOptions::default() }
}

/// The next event named `name`, skipping the others (and those about the admin namespace).
async fn next(ui: &mut TestClient, name: &str) -> Vec<Value> {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(5), ui.recv()).await.unwrap().unwrap();
        let args = event.payload.args().to_vec();
        if event.name == name && args.first() != Some(&json!("/admin")) {
            return args;
        }
    }
}

#[tokio::test]
async fn config_then_all_sockets_then_events() {
    let io = SocketIo::new(Default::default());
    io.on_connection(|s: Socket| async move { s.join("lobby") });
    Admin::attach(&io, open()).unwrap();
    let user = TestClient::connect(&io).await.unwrap();
    let mut ui = TestClient::connect_to(&io, "/admin", Value::Null).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), ui.recv()).await.unwrap().unwrap();
    // The admin socket's own socket_connected may come first, then config.
    let config = if first.name == "config" {
        first.payload.args().to_vec()
    } else {
        next(&mut ui, "config").await
    };
    let features: Vec<&str> = config[0]["supportedFeatures"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        features,
        [
            "EMIT",
            "JOIN",
            "LEAVE",
            "DISCONNECT",
            "MJOIN",
            "MLEAVE",
            "MDISCONNECT",
            "AGGREGATED_EVENTS",
            "ALL_EVENTS"
        ]
    );
    let all = next(&mut ui, "all_sockets").await;
    let listed = all[0].as_array().unwrap();
    let mine = listed.iter().find(|s| s["id"] == user.id()).unwrap();
    assert_eq!(mine["nsp"], "/");
    let rooms: Vec<&str> =
        mine["rooms"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(rooms.contains(&"lobby") && rooms.contains(&user.id()));
    assert!(mine["handshake"]["issued"].is_u64());
    assert!(mine["handshake"].get("auth").is_none());

    // A command: the user socket joins a room, reported as room_joined.
    ui.emit("join", &("/", "vip", user.id())).unwrap();
    let joined = next(&mut ui, "room_joined").await;
    assert_eq!(&joined[..3], &[json!("/"), json!("vip"), json!(user.id())]);
    assert!(joined[3].as_str().unwrap().ends_with('Z'));

    // A command: disconnect it; socket_disconnected then one room_left per room.
    ui.emit("_disconnect", &("/", false, user.id())).unwrap();
    let gone = next(&mut ui, "socket_disconnected").await;
    assert_eq!(&gone[..3], &[json!("/"), json!(user.id()), json!("server namespace disconnect")]);
    let mut left = Vec::new();
    for _ in 0..3 {
        left.push(next(&mut ui, "room_left").await[1].as_str().unwrap().to_owned());
    }
    left.sort();
    let mut expected = vec!["lobby".to_owned(), "vip".to_owned(), user.id().to_owned()];
    expected.sort();
    assert_eq!(left, expected);
}

#[tokio::test]
async fn readonly_production_advertises_little_and_ignores_commands() {
    let io = SocketIo::new(Default::default());
    let mut options = open();
    options.readonly = true;
    options.mode = AdminMode::Production;
    Admin::attach(&io, options).unwrap();
    let user = TestClient::connect(&io).await.unwrap();
    let mut ui = TestClient::connect_to(&io, "/admin", Value::Null).await.unwrap();
    let config = next(&mut ui, "config").await;
    assert_eq!(config[0], json!({"supportedFeatures": ["AGGREGATED_EVENTS"]}));
    ui.emit("_disconnect", &("/", false, user.id())).unwrap();
    let stats = next(&mut ui, "server_stats").await;
    assert_eq!(stats[0]["namespaces"][0], json!({"name": "/", "socketsCount": 1}));
    assert_eq!(io.of("/").sockets().len(), 1);
}

#[tokio::test]
async fn loopback_only_refuses_an_unknown_peer() {
    let io = SocketIo::new(Default::default());
    Admin::attach(&io, AdminOptions::default()).unwrap();
    // The in-process client has no peer address.
    let refused = TestClient::connect_to(&io, "/admin", Value::Null).await;
    assert!(refused.is_err());
}

#[tokio::test]
async fn events_are_capped_per_second() {
    let io = SocketIo::new(Default::default());
    let mut options = open();
    options.max_events_per_second = 3;
    Admin::attach(&io, options).unwrap();
    let mut ui = TestClient::connect_to(&io, "/admin", Value::Null).await.unwrap();
    next(&mut ui, "all_sockets").await;
    let user = TestClient::connect(&io).await.unwrap();
    for i in 0..50 {
        user.emit("tick", &i).unwrap();
    }
    // Then the stats tick: everything queued before it is out.
    let mut received = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(5), ui.recv()).await.unwrap().unwrap();
        match event.name.as_str() {
            "event_received" => received.push(event.payload.args()[2].clone()),
            "server_stats" if !received.is_empty() => break,
            _ => {}
        }
    }
    assert!(received.len() <= 3 * 2, "{received:?}"); // at most two seconds' worth
    assert_eq!(received[0], json!(["tick", 0]));
}

#[tokio::test]
async fn past_the_cap_events_drop_and_a_resync_completes_the_lists() {
    let io = SocketIo::new(Default::default());
    let options = AdminOptions {
        max_state_events_per_second: 10,
        stats_interval: Duration::from_millis(200),
        ..open()
    };
    Admin::attach(&io, options).unwrap();
    let mut ui = TestClient::connect_to(&io, "/admin", Value::Null).await.unwrap();
    next(&mut ui, "all_sockets").await;
    let mut users = Vec::new();
    for _ in 0..100 {
        users.push(TestClient::connect(&io).await.unwrap());
    }
    // What the UI knows: each all_sockets replaces its list, each socket_connected adds one.
    let mut known = std::collections::HashSet::new();
    let mut connected = 0;
    let mut resyncs = 0;
    while !users.iter().all(|u| known.contains(u.id())) {
        let event = tokio::time::timeout(Duration::from_secs(5), ui.recv()).await.unwrap().unwrap();
        let args = event.payload.args();
        match event.name.as_str() {
            "socket_connected" if args[0]["nsp"] == "/" => {
                connected += 1;
                known.insert(args[0]["id"].as_str().unwrap().to_owned());
            }
            "all_sockets" => {
                resyncs += 1;
                known = args[0]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|s| s["nsp"] == "/")
                    .map(|s| s["id"].as_str().unwrap().to_owned())
                    .collect();
            }
            _ => {}
        }
    }
    assert!(connected < 100, "the cap dropped some of the 100 socket_connected");
    assert!(resyncs >= 1);
}

#[tokio::test]
async fn all_sockets_is_capped() {
    let io = SocketIo::new(Default::default());
    Admin::attach(&io, AdminOptions { max_listed_sockets: 150, ..open() }).unwrap();
    let mut users = Vec::new();
    for _ in 0..200 {
        users.push(TestClient::connect(&io).await.unwrap());
    }
    let mut ui = TestClient::connect_to(&io, "/admin", Value::Null).await.unwrap();
    let all = next(&mut ui, "all_sockets").await;
    assert_eq!(all[0].as_array().unwrap().len(), 150);
}

#[tokio::test]
async fn the_emit_command_reaches_a_room_or_everyone() {
    let io = SocketIo::new(Default::default());
    io.on_connection(|s: Socket| async move { s.join("tea") });
    Admin::attach(&io, open()).unwrap();
    let mut ana = TestClient::connect(&io).await.unwrap();
    let mut ui = TestClient::connect_to(&io, "/admin", Value::Null).await.unwrap();
    next(&mut ui, "all_sockets").await;
    ui.emit("emit", &("/", "tea", "news", "for tea", 2)).unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), ana.recv()).await.unwrap().unwrap();
    assert_eq!(
        (got.name.as_str(), got.payload.args()),
        ("news", &[json!("for tea"), json!(2)][..])
    );
    ui.emit("emit", &("/", Value::Null, "all", "everyone")).unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), ana.recv()).await.unwrap().unwrap();
    assert_eq!(got.name, "all");
    // A namespace that does not exist: ignored, and not created.
    ui.emit("emit", &("/nowhere", "", "x")).unwrap();
    ui.emit("join", &("/", "vip")).unwrap(); // a later command still runs
    next(&mut ui, "room_joined").await;
    assert!(io.existing("/nowhere").is_none());
}
