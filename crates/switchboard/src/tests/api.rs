//! The server API over the fake connection.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchboard_engine::DisconnectReason as EngineReason;

use super::harness::{Peer, connected};
use crate::{DisconnectReason, Event, MiddlewareError, Socket, SocketIo};

pub(super) fn io() -> SocketIo {
    SocketIo::new(Default::default())
}

type Log = Arc<Mutex<Vec<String>>>;

fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Chat {
    room: String,
    text: String,
}

#[tokio::test]
async fn typed_payloads_and_errors() {
    let io = io();
    io.on_connection(|socket: Socket| async move {
        socket
            .on("chat", |s: Socket, ev: Event<Chat>| async move {
                s.emit("got", &ev.data.text).unwrap();
                if let Some(ack) = ev.ack {
                    ack.send(&ev.data).unwrap();
                }
            })
            .unwrap();
        socket
            .on("pair", |s: Socket, ev: Event<(u32, String)>| async move {
                s.emit("pair", &ev.data).unwrap();
            })
            .unwrap();
        socket
            .once("first", |s: Socket, ev: Event<u32>| async move {
                s.emit("first", &ev.data).unwrap();
            })
            .unwrap();
    });
    let (log, _guard) = super::capture::capture();
    let mut peer = Peer::connect(&io);
    let id = peer.join("/").await;
    peer.send(r#"2["chat",{"room":"r","text":"hi"}]"#);
    assert_eq!(peer.recv_text().await, r#"2["got","hi"]"#);
    peer.send(r#"27["chat",{"text":"yo","room":"r"}]"#);
    assert_eq!(peer.recv_text().await, r#"2["got","yo"]"#);
    assert_eq!(peer.recv_text().await, r#"37[{"room":"r","text":"yo"}]"#);
    // A tuple spreads both ways: two arguments in, two arguments out.
    peer.send(r#"2["pair",1,"a"]"#);
    assert_eq!(peer.recv_text().await, r#"2["pair",1,"a"]"#);

    // A payload that does not fit: the ack carries an error naming the problem.
    peer.send(r#"28["chat",42]"#);
    let text = peer.recv_text().await;
    assert!(text.starts_with(r#"38[{"message":"invalid payload for event \"chat\": "#), "{text}");
    // Without an ack it comes as an `error` event, is logged with the socket id and the event
    // name, and the connection stays (the next event is handled: events run in order).
    peer.send(r#"2["chat",42]"#);
    let text = peer.recv_text().await;
    assert!(
        text.starts_with(r#"2["error",{"message":"invalid payload for event \"chat\": "#),
        "{text}"
    );
    peer.send(r#"2["pair",2,"b"]"#);
    assert_eq!(peer.recv_text().await, r#"2["pair",2,"b"]"#);
    assert_eq!(peer.closed(), None);
    let lines = log.lines();
    assert!(
        lines.iter().any(|l| l.starts_with("WARN")
            && l.contains(&format!("socket={id}"))
            && l.contains("event=chat")
            && l.contains("rejected before its handler")),
        "{lines:#?}"
    );

    // A rejected payload does not use up a `once` handler.
    peer.send(r#"21["first","not a number"]"#);
    assert!(peer.recv_text().await.starts_with(r#"31[{"message":"invalid payload"#));
    peer.send(r#"2["first",1]"#);
    assert_eq!(peer.recv_text().await, r#"2["first",1]"#);
    peer.send(r#"2["first",2]"#);
    peer.send(r#"2["pair",3,"c"]"#);
    assert_eq!(peer.recv_text().await, r#"2["pair",3,"c"]"#, "the once handler is gone");
}

#[tokio::test]
async fn handlers_once_off_any_and_order() {
    let io = io();
    let seen = log();
    let seen2 = seen.clone();
    io.on_connection(move |socket: Socket| {
        let seen = seen2.clone();
        async move {
            let l = seen.clone();
            socket.on_any(move |_s, ev, _p| l.lock().unwrap().push(format!("any:{ev}")));
            let l = seen.clone();
            socket.prepend_any(move |_s, ev, _p| l.lock().unwrap().push(format!("first:{ev}")));
            let l = seen.clone();
            socket.on_any_outgoing(move |_s, ev, _p| l.lock().unwrap().push(format!("out:{ev}")));
            let l = seen.clone();
            socket
                .on("slow", move |_s: Socket, ev: Event<u64>| {
                    let l = l.clone();
                    async move {
                        tokio::time::sleep(Duration::from_millis(ev.data)).await;
                        l.lock().unwrap().push(format!("slow:{}", ev.data));
                    }
                })
                .unwrap();
            let l = seen.clone();
            socket
                .on("slow", move |_s: Socket, ev: Event<u64>| {
                    let l = l.clone();
                    async move { l.lock().unwrap().push(format!("slow2:{}", ev.data)) }
                })
                .unwrap();
            let l = seen.clone();
            socket
                .once("one", move |s: Socket, _ev: Event<Value>| {
                    let l = l.clone();
                    async move {
                        l.lock().unwrap().push("once".into());
                        s.emit("done", &1).unwrap();
                    }
                })
                .unwrap();
            let l = seen.clone();
            let id = socket
                .on("gone", move |_s: Socket, _ev: Event<Value>| {
                    let l = l.clone();
                    async move { l.lock().unwrap().push("gone".into()) }
                })
                .unwrap();
            socket.off_handler(id);
            socket.on("off", |_s: Socket, _ev: Event<Value>| async {}).unwrap();
            socket.off("off");
        }
    });
    let mut peer = Peer::connect(&io);
    peer.join("/").await;
    // The first event's handlers finish before the second's start.
    peer.send(r#"2["slow",30]"#);
    peer.send(r#"2["slow",0]"#);
    peer.send(r#"2["one"]"#);
    peer.send(r#"2["one"]"#);
    peer.send(r#"2["gone"]"#);
    assert_eq!(peer.recv_text().await, r#"2["done",1]"#);
    peer.assert_silent().await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            "first:slow",
            "any:slow",
            "slow:30",
            "slow2:30",
            "first:slow",
            "any:slow",
            "slow:0",
            "slow2:0",
            "first:one",
            "any:one",
            "once",
            "out:done",
            "first:one",
            "any:one",
            "first:gone",
            "any:gone"
        ]
    );
}

#[tokio::test]
async fn connect_middleware_rejects_with_data() {
    let io = io();
    io.use_middleware(|socket: Socket| async move {
        match socket.handshake().auth.get("token") {
            Some(_) => Ok(()),
            None => Err(MiddlewareError::new("not authorized").with_data(json!({"code": 401}))),
        }
    });
    io.on_connection(|socket: Socket| async move { socket.emit("hi", &()).unwrap() });
    let mut peer = Peer::connect(&io);
    peer.send("0");
    assert_eq!(peer.recv_text().await, r#"4{"message":"not authorized","data":{"code":401}}"#);
    peer.send(r#"0{"token":1}"#);
    assert!(peer.recv_text().await.starts_with(r#"0{"sid":""#));
    // `&()` is no argument, as Node's `socket.emit("hi")`.
    assert_eq!(peer.recv_text().await, r#"2["hi"]"#);
}

#[tokio::test]
async fn packet_middleware_rejects_to_the_client() {
    let io = io();
    io.on_connection(|socket: Socket| async move {
        socket.use_middleware(|_s: Socket, ev: crate::EventName| async move {
            if ev.as_str() == "secret" { Err(MiddlewareError::new("forbidden")) } else { Ok(()) }
        });
        socket
            .on("secret", |s: Socket, _ev: Event<Value>| async move { s.emit("leak", &1).unwrap() })
            .unwrap();
    });
    let mut peer = Peer::connect(&io);
    peer.join("/").await;
    peer.send(r#"25["secret"]"#);
    assert_eq!(peer.recv_text().await, r#"35[{"message":"forbidden"}]"#);
    peer.send(r#"2["secret"]"#);
    assert_eq!(peer.recv_text().await, r#"2["error",{"message":"forbidden"}]"#);
}

#[tokio::test]
async fn dynamic_namespaces() {
    let io = io();
    let parent = io.of_regex(regex::Regex::new(r"^/dynamic-\w+$").unwrap());
    parent.on_connection(|socket: Socket| async move { socket.emit("ns", socket.ns()).unwrap() });
    let by_fn = io.of_fn(|name, auth| name == "/fn" && auth.get("ok").is_some());
    by_fn.on_connection(|socket: Socket| async move { socket.emit("ns", socket.ns()).unwrap() });

    let mut peer = Peer::connect(&io);
    peer.join("/dynamic-abc").await;
    assert_eq!(peer.recv_text().await, r#"2/dynamic-abc,["ns","/dynamic-abc"]"#);
    peer.send("0/dynamic-");
    assert_eq!(peer.recv_text().await, r#"4/dynamic-,{"message":"Invalid namespace"}"#);
    peer.send("0/fn,");
    assert_eq!(peer.recv_text().await, r#"4/fn,{"message":"Invalid namespace"}"#);
    peer.send(r#"0/fn,{"ok":1}"#);
    assert!(peer.recv_text().await.starts_with("0/fn,"));
    assert_eq!(peer.recv_text().await, r#"2/fn,["ns","/fn"]"#);
    assert_eq!(parent.children().len(), 1);
    parent.emit("all", &1).await.unwrap();
    assert_eq!(peer.recv_text().await, r#"2/dynamic-abc,["all",1]"#);
}

#[tokio::test]
async fn disconnect_reasons_and_disconnecting_sees_rooms() {
    let io = io();
    let seen = log();
    let s2 = seen.clone();
    io.on_connection(move |socket: Socket| {
        let seen = s2.clone();
        async move {
            socket.join("room");
            let l = seen.clone();
            socket.on_disconnecting(move |s: Socket, r: DisconnectReason| {
                let l = l.clone();
                async move { l.lock().unwrap().push(format!("disconnecting:{r}:{}", s.rooms().len())) }
            });
            let l = seen.clone();
            socket.on_disconnect(move |s: Socket, r: DisconnectReason| {
                let l = l.clone();
                async move {
                    l.lock().unwrap().push(format!("disconnect:{r}:{}:{}", s.rooms().len(), s.connected()))
                }
            });
            socket.on("bye", |s: Socket, _ev: Event<Value>| async move { s.disconnect(false).await }).unwrap();
        }
    });
    let take = || std::mem::take(&mut *seen.lock().unwrap());

    let mut p = Peer::connect(&io);
    p.join("/").await;
    p.send("1");
    p.assert_silent().await;
    assert_eq!(
        take(),
        [
            "disconnecting:client namespace disconnect:2",
            "disconnect:client namespace disconnect:0:false"
        ]
    );

    p.join("/").await;
    p.send(r#"2["bye"]"#);
    assert_eq!(p.recv_text().await, "1");
    p.assert_silent().await;
    assert_eq!(
        take(),
        [
            "disconnecting:server namespace disconnect:2",
            "disconnect:server namespace disconnect:0:false"
        ]
    );

    for (reason, expected) in [
        (EngineReason::TransportClose, "transport close"),
        (EngineReason::PingTimeout, "ping timeout"),
        (EngineReason::TransportError, "transport error"),
    ] {
        let mut p = Peer::connect(&io);
        p.join("/").await;
        use crate::conn::Conn;
        p.conn.close(reason);
        // The handlers run on the client task: wait until both logged (bounded).
        tokio::time::timeout(Duration::from_secs(5), async {
            while seen.lock().unwrap().len() < 2 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .unwrap();
        assert_eq!(
            take(),
            [format!("disconnecting:{expected}:2"), format!("disconnect:{expected}:0:false")]
        );
    }
    assert!(io.of("/").sockets().is_empty());
}

#[tokio::test]
async fn fetch_sockets_and_remote_handles() {
    let io = io();
    io.on_connection(|socket: Socket| async move {
        socket.set_data(&json!({"name": "n"})).unwrap();
        socket.join("r");
    });
    let mut a = Peer::connect_with(&io, "/socket.io/?EIO=4&transport=websocket&user=ana");
    let mut b = Peer::connect(&io);
    let a_id = a.join("/").await;
    b.join("/").await;
    let sockets = io.in_("r").fetch_sockets().await.unwrap();
    assert_eq!(sockets.len(), 2);
    let ra = sockets.iter().find(|s| s.id().as_str() == a_id).unwrap();
    assert_eq!(ra.handshake().query.get("user").map(String::as_str), Some("ana"));
    assert_eq!(ra.data::<Value>().unwrap(), Some(json!({"name": "n"})));
    assert!(ra.rooms().iter().any(|r| r == "r"));
    ra.emit("hello", &1).await.unwrap();
    assert_eq!(a.recv_text().await, r#"2["hello",1]"#);
    b.assert_silent().await;
    ra.join("solo").await.unwrap();
    io.to("solo").emit("solo", &1).await.unwrap();
    assert_eq!(a.recv_text().await, r#"2["solo",1]"#);
    ra.leave("solo").await.unwrap();
    io.sockets_join("everyone").await.unwrap();
    io.to("everyone").emit("e", &1).await.unwrap();
    a.recv_text().await;
    b.recv_text().await;
    io.sockets_leave("everyone").await.unwrap();
    io.to("everyone").emit("e", &1).await.unwrap();
    io.to("solo").emit("e", &1).await.unwrap();
    a.assert_silent().await;
    ra.disconnect(false).await.unwrap();
    assert_eq!(a.recv_text().await, "1");
    io.disconnect_sockets(true).await.unwrap();
    assert_eq!(b.recv_text().await, "1");
    assert_eq!(b.wait_closed().await, EngineReason::ForcedClose);
    assert_eq!(a.closed(), None);
    io.server_side_emit("x", &1).await.unwrap();
    let answers =
        io.of("/").server_side_emit_with_ack("x", &1, Duration::from_millis(100)).await.unwrap();
    assert!(answers.is_empty(), "a single server has nobody to answer");
}

#[tokio::test]
async fn close_disconnects_everyone_and_refuses_new_clients() {
    let io = io();
    let seen = log();
    let s2 = seen.clone();
    io.on_connection(move |socket: Socket| {
        let seen = s2.clone();
        async move {
            socket.on_disconnect(move |_s: Socket, r: DisconnectReason| {
                let l = seen.clone();
                async move { l.lock().unwrap().push(r.to_string()) }
            });
        }
    });
    let mut a = Peer::connect(&io);
    a.join("/").await;
    io.close().await;
    assert_eq!(a.closed(), Some(EngineReason::ServerShuttingDown));
    assert_eq!(*seen.lock().unwrap(), ["server shutting down"]);
    let b = Peer::connect(&io);
    assert_eq!(b.closed(), Some(EngineReason::ServerShuttingDown));
}

#[tokio::test]
async fn reserved_names_and_socket_state() {
    let io = io();
    let (mut peer, socket, id) = connected(&io).await;
    assert_eq!(socket.id().as_str(), id);
    assert!(socket.connected());
    assert!(!socket.recovered());
    assert_eq!(socket.rooms(), vec![crate::Room::from(id.as_str())]);
    assert!(matches!(socket.emit("disconnect", &1), Err(crate::EmitError::ReservedEvent(_))));
    socket.insert_extension(7u32);
    assert_eq!(socket.extension::<u32>(), Some(7));
    assert_eq!(socket.data::<Value>().unwrap(), None);
    socket.volatile().emit("v", &1).unwrap();
    assert_eq!(peer.recv_text().await, r#"2["v",1]"#);
    let mut payload = crate::Payload::spread(&("a", 1)).unwrap();
    payload.push_binary(vec![1u8, 2]);
    socket.emit_payload("bin", payload).unwrap();
    assert_eq!(peer.recv_text().await, r#"51-["bin","a",1,{"_placeholder":true,"num":0}]"#);
    assert_eq!(peer.recv_bin().await, vec![1, 2]);
}

#[test]
fn sockets_of_a_namespace_share_their_event_names() {
    let io = io();
    let ns = io.of("/");
    let (a, b) = (ns.0.event_name("chat").unwrap(), ns.0.event_name("chat").unwrap());
    assert_eq!(a, b);
    assert_eq!(a.as_str().as_ptr(), b.as_str().as_ptr(), "one copy of the name");
    assert!(ns.0.event_name("disconnect").is_err());
    // Past the limit, names are made but not kept.
    for i in 0..40 {
        assert_eq!(ns.0.event_name(&format!("e{i}")).unwrap().as_str(), format!("e{i}"));
    }
    let (x, y) = (ns.0.event_name("e39").unwrap(), ns.0.event_name("e39").unwrap());
    assert_eq!(x, y);
    assert_ne!(x.as_str().as_ptr(), y.as_str().as_ptr());
}
