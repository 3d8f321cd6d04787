//! Connect middleware, per-packet middleware and disconnect/disconnecting handlers take
//! extractors as event handlers do, driven with the in-process test client (the public API
//! only).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use switchboard::prelude::*;
use switchboard::testing::{TestClient, TestError};
use switchboard::{Bin, Handshake};
use tokio::sync::mpsc;

#[derive(Clone)]
struct Counter(Arc<AtomicU32>);

#[derive(Clone, Debug, PartialEq)]
struct UserName(String);

async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap()
}

#[tokio::test]
async fn connect_middleware_takes_state_handshake_and_refuses_on_an_extractor() {
    let counter = Counter(Arc::new(AtomicU32::new(0)));
    let io = SocketIo::builder().with_state(counter.clone()).build();
    io.use_middleware(
        |socket: Socket, State(Counter(n)): State<Counter>, hs: Handshake, ack: Option<Ack>| async move {
            assert!(ack.is_none(), "no ack at connection");
            n.fetch_add(1, Ordering::SeqCst);
            let name = hs.auth["name"].as_str().unwrap_or_default().to_owned();
            socket.insert_extension(UserName(name));
            Ok::<_, HandlerError>(())
        },
    );
    io.of("/strict").use_middleware(|_name: EventName| async move { Ok::<_, HandlerError>(()) });
    io.on_connection(|socket: Socket| async move {
        socket.on("me", |Extension(UserName(n)): Extension<UserName>| async move {
            Ok::<_, HandlerError>(n)
        })
    });
    let mut c = TestClient::connect_to(&io, "/", json!({"name": "ana"})).await.unwrap();
    assert_eq!(c.emit_with_ack("me", &()).await.unwrap().data::<String>().unwrap(), "ana");
    assert_eq!(counter.0.load(Ordering::SeqCst), 1);
    // An extractor that cannot work at connection refuses it with its reason.
    match TestClient::connect_to(&io, "/strict", Value::Null).await.unwrap_err() {
        TestError::Refused { message, .. } => assert_eq!(message, "no event at connection"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn per_packet_middleware_takes_extractors_and_an_extractor_refusal_stops_the_event() {
    let counter = Counter(Arc::new(AtomicU32::new(0)));
    let io = SocketIo::builder().with_state(counter.clone()).build();
    io.use_middleware(|socket: Socket| async move {
        socket.insert_extension(UserName("ana".to_owned()));
        Ok::<_, HandlerError>(())
    });
    io.on_connection(|socket: Socket| async move {
        // Every event: its name, its first argument as a number, the state, the extension,
        // the handshake, the attachments and the ack (a copy: the handler answers it).
        socket.use_middleware(
            |name: EventName,
             Data(n): Data<u32>,
             State(Counter(count)): State<Counter>,
             Extension(UserName(user)): Extension<UserName>,
             hs: Handshake,
             Bin(bin): Bin,
             ack: Option<Ack>| async move {
                assert_eq!(user, "ana");
                assert!(hs.auth.is_object(), "{}", hs.auth);
                count.fetch_add(1, Ordering::SeqCst);
                if n > 10 {
                    return Err(HandlerError::new("too big").with_data(json!({ "max": 10 })));
                }
                if name.as_str() == "needs-ack" && ack.is_none() {
                    return Err(HandlerError::new("ask for an answer"));
                }
                let _ = bin;
                Ok(())
            },
        );
        socket.on("double", |Data(n): Data<u32>| async move { Ok::<_, HandlerError>(n * 2) })?;
        socket.on("needs-ack", |Data(n): Data<u32>| async move { Ok::<_, HandlerError>(n) })
    });
    let mut c = TestClient::connect(&io).await.unwrap();
    // Passes the middleware; the handler still answers the ack the middleware saw.
    assert_eq!(c.emit_with_ack("double", &4).await.unwrap().data::<u32>().unwrap(), 8);
    // The middleware refuses: its error answers the ack, the handler does not run.
    let refused = c.emit_with_ack("double", &11).await.unwrap().data::<Value>().unwrap();
    assert_eq!(refused, json!({"message": "too big", "data": {"max": 10}}));
    // Its `Data<u32>` extractor refuses a payload that does not fit: same path.
    let invalid = c.emit_with_ack("double", "x").await.unwrap().data::<Value>().unwrap();
    assert!(invalid["message"].as_str().unwrap().starts_with("invalid payload"), "{invalid}");
    // Without an ack the refusal comes as an `error` event.
    c.emit("needs-ack", &1).unwrap();
    let error = c.recv().await.unwrap();
    assert_eq!(error.name.as_str(), "error");
    assert_eq!(error.data::<Value>().unwrap(), json!({"message": "ask for an answer"}));
    assert_eq!(c.emit_with_ack("needs-ack", &3).await.unwrap().data::<u32>().unwrap(), 3);
    // The middleware ran for every event whose payload fit (the `"x"` one never reached it).
    assert_eq!(counter.0.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn disconnect_and_disconnecting_handlers_take_extractors() {
    let counter = Counter(Arc::new(AtomicU32::new(0)));
    let io = SocketIo::builder().with_state(counter.clone()).build();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    io.use_middleware(|socket: Socket| async move {
        socket.insert_extension(UserName("ana".to_owned()));
        Ok::<_, HandlerError>(())
    });
    io.on_connection(move |socket: Socket| {
        let (early, late, refused) = (tx.clone(), tx.clone(), tx.clone());
        async move {
            socket.join("lobby");
            socket.on_disconnecting(move |socket: Socket, reason: DisconnectReason| {
                let tx = early.clone();
                async move {
                    // Still in its rooms.
                    let lobby = socket.rooms().iter().any(|r| r.as_str() == "lobby");
                    tx.send(format!("disconnecting {reason} lobby={lobby}")).unwrap();
                }
            });
            // An extractor that refuses: this handler does not run, the next one does (it would
            // have sent first).
            socket.on_disconnect(move |Extension(_n): Extension<u64>| {
                let tx = refused.clone();
                async move { tx.send("not run".to_owned()).unwrap() }
            });
            socket.on_disconnect(
                move |reason: DisconnectReason,
                      State(Counter(n)): State<Counter>,
                      Extension(UserName(user)): Extension<UserName>,
                      hs: Handshake,
                      socket: Socket| {
                    let tx = late.clone();
                    async move {
                        n.fetch_add(1, Ordering::SeqCst);
                        let lobby = socket.rooms().iter().any(|r| r.as_str() == "lobby");
                        let auth = hs.auth.clone();
                        tx.send(format!("disconnect {reason} {user} lobby={lobby} auth={auth}"))
                            .unwrap();
                    }
                },
            );
            socket.on("reason", |reason: DisconnectReason| async move {
                Ok::<_, HandlerError>(reason.as_str())
            })
        }
    });
    let mut c = TestClient::connect_to(&io, "/", json!({"k": 1})).await.unwrap();
    // Outside a disconnect handler the reason is refused.
    let outside = c.emit_with_ack("reason", &()).await.unwrap().data::<Value>().unwrap();
    assert_eq!(outside, json!({"message": "no disconnect reason outside a disconnect handler"}));
    c.disconnect();
    assert_eq!(next(&mut rx).await, "disconnecting client namespace disconnect lobby=true");
    assert_eq!(
        next(&mut rx).await,
        r#"disconnect client namespace disconnect ana lobby=false auth={"k":1}"#
    );
    assert_eq!(counter.0.load(Ordering::SeqCst), 1);
    assert!(rx.try_recv().is_err());
}
