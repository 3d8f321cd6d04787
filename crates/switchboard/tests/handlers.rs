//! Handlers of extractors, their results, the argument convention and binary, driven with
//! the in-process test client (the public API only).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard::prelude::*;
use switchboard::testing::{TestClient, TestError};
use switchboard::{Bin, Handshake, Reply, ReportError};

fn io() -> SocketIo {
    SocketIo::new(Default::default())
}

#[derive(Debug, Deserialize)]
struct Move {
    x: i32,
    y: i32,
}

#[tokio::test]
async fn data_try_data_and_event_extract_the_arguments() {
    let io = io();
    io.on_connection(|socket: Socket| async move {
        socket.on("move", |Data(m): Data<Move>| async move { Ok::<_, HandlerError>(m.x + m.y) })?;
        socket.on("try", |TryData(n): TryData<u32>| async move {
            Ok::<_, HandlerError>(match n {
                Ok(n) => json!({ "n": n }),
                Err(e) => json!({ "error": e.to_string() }),
            })
        })?;
        socket.on("whole", |ev: Event<(String, u8)>| async move {
            Ok::<_, HandlerError>(json!([
                ev.name.as_str(),
                ev.data.0,
                ev.data.1,
                ev.payload.args().len()
            ]))
        })?;
        socket.on("name", |name: EventName, args: Payload| async move {
            Ok::<_, HandlerError>((name.as_str().to_owned(), args.args().len()))
        })
    });
    let mut c = TestClient::connect(&io).await.unwrap();
    let sum = c.emit_with_ack("move", &json!({"x": 2, "y": 3})).await.unwrap();
    assert_eq!(sum.data::<i32>().unwrap(), 5);
    let ok = c.emit_with_ack("try", &7).await.unwrap();
    assert_eq!(ok.data::<Value>().unwrap(), json!({"n": 7}));
    let err = c.emit_with_ack("try", "seven").await.unwrap().data::<Value>().unwrap();
    assert!(err["error"].as_str().unwrap().contains("invalid type"), "{err}");
    let whole = c.emit_with_ack("whole", &("a", 9)).await.unwrap();
    assert_eq!(whole.data::<Value>().unwrap(), json!(["whole", "a", 9, 2]));
    // The answer `(name, count)` is a tuple: two arguments.
    let named = c.emit_with_ack("name", &(1, 2, 3)).await.unwrap();
    assert_eq!(named.payload.args(), &[json!("name"), json!(3)]);
}

#[tokio::test]
async fn a_payload_of_the_wrong_shape_is_answered_never_dropped() {
    let io = io();
    io.on_connection(|socket: Socket| async move {
        socket.on("move", |Data(m): Data<Move>| async move { Ok::<_, HandlerError>(m.x) })
    });
    io.on_connection(|socket: Socket| async move {
        // The ack is taken before the data is found wrong: the refusal still answers it.
        socket.on("ack-first", |ack: Ack, Data(m): Data<Move>| async move {
            let _ = ack.send(&m.x);
        })
    });
    let mut c = TestClient::connect(&io).await.unwrap();
    let first = c.emit_with_ack("ack-first", "up").await.unwrap().data::<Value>().unwrap();
    assert!(
        first["message"].as_str().unwrap().starts_with("invalid payload for event \"ack-first\"")
    );
    let answer = c.emit_with_ack("move", "up").await.unwrap().data::<Value>().unwrap();
    let message = answer["message"].as_str().unwrap();
    assert!(message.starts_with("invalid payload for event \"move\": "), "{answer}");
    // Without an ack: an `error` event.
    c.emit("move", "up").unwrap();
    let error = c.recv().await.unwrap();
    assert_eq!(error.name, "error");
    assert!(error.data::<Value>().unwrap()["message"].as_str().unwrap().contains("\"move\""));
}

#[tokio::test]
async fn ack_option_ack_socket_and_handshake() {
    let io = io();
    io.on_connection(|socket: Socket| async move {
        socket.on("ack", |ack: Ack, Data(n): Data<u32>| async move {
            ack.send(&(n, n + 1)).unwrap();
        })?;
        socket.on("maybe", |s: Socket, ack: Option<Ack>| async move {
            match ack {
                Some(ack) => ack.send("with").unwrap(),
                None => s.emit("maybe", "without").unwrap(),
            }
        })?;
        socket.on("who", |s: Socket, h: Handshake| async move {
            Ok::<_, HandlerError>(json!([s.id().as_str(), h.auth]))
        })
    });
    let mut c = TestClient::connect_to(&io, "/", json!({"token": "t"})).await.unwrap();
    let two = c.emit_with_ack("ack", &4).await.unwrap();
    assert_eq!(two.payload.args(), &[json!(4), json!(5)]);
    // `Ack` without an ack asked for: the client is told.
    c.emit("ack", &4).unwrap();
    let error = c.recv().await.unwrap();
    assert_eq!(error.name, "error");
    assert_eq!(
        error.data::<Value>().unwrap(),
        json!({"message": "event \"ack\" needs an acknowledgement callback"})
    );
    assert_eq!(c.emit_with_ack("maybe", &()).await.unwrap().data::<String>().unwrap(), "with");
    c.emit("maybe", &()).unwrap();
    assert_eq!(c.recv().await.unwrap().data::<String>().unwrap(), "without");
    let who = c.emit_with_ack("who", &()).await.unwrap().data::<Value>().unwrap();
    assert_eq!(who, json!([c.id(), {"token": "t"}]));
}

#[derive(Clone)]
struct Counter(Arc<AtomicU32>);

#[derive(Clone, Debug, PartialEq)]
struct UserName(String);

#[tokio::test]
async fn state_extension_and_connect_middleware_extractors() {
    let counter = Counter(Arc::new(AtomicU32::new(0)));
    let io = SocketIo::builder().with_state(counter.clone()).build();
    #[derive(Deserialize)]
    struct Auth {
        name: String,
    }
    io.use_middleware(|socket: Socket, Data(auth): Data<Auth>| async move {
        if auth.name.is_empty() {
            return Err(HandlerError::new("no name").with_data(json!({"code": 4})));
        }
        socket.insert_extension(UserName(auth.name));
        Ok(())
    });
    io.on_connection(|socket: Socket, State(Counter(n)): State<Counter>| async move {
        n.fetch_add(1, Ordering::SeqCst);
        socket.on("hi", |State(Counter(n)): State<Counter>, Extension(UserName(name)): Extension<UserName>| async move {
            Ok::<_, HandlerError>(format!("{name} #{}", n.load(Ordering::SeqCst)))
        })?;
        socket.on("missing", |State(_s): State<String>| async move {})?;
        socket.on("no-ext", |Extension(_u): Extension<u64>| async move {})
    });
    match TestClient::connect_to(&io, "/", json!({"name": ""})).await.unwrap_err() {
        TestError::Refused { message, data } => {
            assert_eq!(message, "no name");
            assert_eq!(data, Some(json!({"code": 4})));
        }
        other => panic!("{other:?}"),
    }
    // Missing auth fields: `Data` refuses, and so does the connection.
    assert!(matches!(
        TestClient::connect_to(&io, "/", json!({})).await,
        Err(TestError::Refused { message, .. }) if message.starts_with("invalid auth")
    ));
    let mut c = TestClient::connect_to(&io, "/", json!({"name": "ana"})).await.unwrap();
    assert_eq!(c.emit_with_ack("hi", &()).await.unwrap().data::<String>().unwrap(), "ana #1");
    assert_eq!(counter.0.load(Ordering::SeqCst), 1);
    let missing = c.emit_with_ack("missing", &()).await.unwrap().data::<Value>().unwrap();
    assert_eq!(missing, json!({"message": "server misconfigured"}));
    let no_ext = c.emit_with_ack("no-ext", &()).await.unwrap().data::<Value>().unwrap();
    assert_eq!(no_ext, json!({"message": "missing extension u64"}));
}

/// An application error answered in its own format.
struct AppError(&'static str);

impl ReportError for AppError {
    fn report(self, reply: &Reply) {
        match reply.ack() {
            Some(_) => reply.ok(&json!({ "ok": false, "code": self.0 })),
            None => {
                let _ = reply.socket().emit("app:error", self.0);
            }
        }
    }
}

#[tokio::test]
async fn result_handlers_with_and_without_an_ack() {
    let io = io();
    io.on_connection(|socket: Socket| async move {
        socket.on("parse", |Data(text): Data<String>| async move {
            // `?` on any std error.
            let n: u32 = text.parse()?;
            Ok::<_, HandlerError>(n * 2)
        })?;
        socket.on("app", |Data(n): Data<u32>| async move {
            if n == 0 { Err(AppError("zero")) } else { Ok(n) }
        })?;
        socket.on("rich", || async {
            Err::<(), _>(HandlerError::new("full").with_data(json!({"max": 2})))
        })
    });
    let mut c = TestClient::connect(&io).await.unwrap();
    assert_eq!(c.emit_with_ack("parse", "21").await.unwrap().data::<u32>().unwrap(), 42);
    let err = c.emit_with_ack("parse", "x").await.unwrap().data::<Value>().unwrap();
    assert_eq!(err, json!({"message": "invalid digit found in string"}));
    let rich = c.emit_with_ack("rich", &()).await.unwrap().data::<Value>().unwrap();
    assert_eq!(rich, json!({"message": "full", "data": {"max": 2}}));
    assert_eq!(c.emit_with_ack("app", &3).await.unwrap().data::<u32>().unwrap(), 3);
    let app = c.emit_with_ack("app", &0).await.unwrap().data::<Value>().unwrap();
    assert_eq!(app, json!({"ok": false, "code": "zero"}));

    // Without an ack: `Ok` goes nowhere, `Err` comes as an `error` event (or the
    // application's). Events are handled in order, so the next event seen is the error.
    c.emit("parse", "1").unwrap();
    c.emit("parse", "y").unwrap();
    let error = c.recv().await.unwrap();
    assert_eq!(
        (error.name.as_str(), error.data::<Value>().unwrap()),
        ("error", json!({"message": "invalid digit found in string"}))
    );
    c.emit("app", &0).unwrap();
    let app = c.recv().await.unwrap();
    assert_eq!(
        (app.name.as_str(), app.data::<String>().unwrap()),
        ("app:error", "zero".to_owned())
    );
}

#[tokio::test]
async fn tuples_spread_both_ways_for_every_emit() {
    let io = io();
    io.on_connection(|socket: Socket| async move {
        socket.join("r");
        socket.on("pair", |s: Socket, Data((n, t)): Data<(u32, String)>| async move {
            s.emit("pair", &(n + 1, &t))?;
            s.namespace().to("r").emit("room-pair", &(n + 2, &t)).await?;
            let answer =
                s.timeout(Duration::from_secs(5)).emit_with_ack("ask", &(n + 3, &t)).await?;
            let (a, b): (u32, u32) = answer.data()?;
            Ok::<_, HandlerError>((a, b, t))
        })
    });
    let mut c = TestClient::connect(&io).await.unwrap();
    c.emit("pair", &(1, "a")).unwrap();
    let pair = c.recv().await.unwrap();
    assert_eq!(pair.payload.args(), &[json!(2), json!("a")]);
    let room = c.recv().await.unwrap();
    assert_eq!(
        (room.name.as_str(), room.payload.args()),
        ("room-pair", &[json!(3), json!("a")][..])
    );
    let ask = c.recv().await.unwrap();
    assert_eq!(ask.payload.args(), &[json!(4), json!("a")]);
    c.ack(&ask, &(10, 20)).unwrap();
    // The handler got the two answers as a tuple; its result goes nowhere (no ack asked), so
    // the next thing the client sees is the answer to its next event.
    c.emit("pair", &(7, "b")).unwrap();
    assert_eq!(c.recv().await.unwrap().payload.args(), &[json!(8), json!("b")]);
}

#[tokio::test]
async fn reserved_names_are_refused_at_registration() {
    let io = io();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    io.on_connection(move |socket: Socket| {
        let tx = tx.clone();
        async move {
            let refused: Vec<bool> = ["connect", "disconnect", "disconnecting", "connect_error"]
                .iter()
                .map(|name| {
                    socket.on(name, || async {}).is_err() && socket.once(name, || async {}).is_err()
                })
                .collect();
            tx.send((refused, socket.on("fine", || async {}).is_ok())).unwrap();
        }
    });
    let _c = TestClient::connect(&io).await.unwrap();
    assert_eq!(rx.recv().await.unwrap(), (vec![true; 4], true));
}

#[tokio::test]
async fn binary_is_echoed_acked_and_relayed_with_its_attachments() {
    let io = io();
    io.on_connection(|socket: Socket| async move {
        socket.join("r");
        socket.on("echo", |Data(v): Data<Value>| async move { Ok::<_, HandlerError>(v) })?;
        socket.on(
            "ack-send",
            |ack: Ack, Data(v): Data<Value>| async move { ack.send(&v).unwrap() },
        )?;
        socket.on("relay", |s: Socket, Data(v): Data<Value>, Bin(bin): Bin| async move {
            s.namespace().to("r").emit("relayed", &(v, bin.len())).await
        })?;
        Ok::<_, HandlerError>(())
    });
    let mut c = TestClient::connect(&io).await.unwrap();
    let mut p = Payload::new();
    let file = p.attach(vec![1u8, 2, 3]);
    p.push(json!({ "name": "f", "file": file }));
    let echoed = c.emit_payload_with_ack("echo", p.clone()).await.unwrap();
    assert_eq!(echoed.payload.attachments(), &[Bytes::from_static(&[1, 2, 3])]);
    assert_eq!(
        echoed.payload.binary(&echoed.payload.args()[0]["file"]).unwrap().as_ref(),
        [1, 2, 3]
    );
    let acked = c.emit_payload_with_ack("ack-send", p.clone()).await.unwrap();
    assert_eq!(acked.payload.attachments(), &[Bytes::from_static(&[1, 2, 3])]);
    c.emit_payload("relay", p).unwrap();
    let relayed = c.recv().await.unwrap();
    assert_eq!(relayed.payload.args()[1], json!(1));
    assert_eq!(
        relayed.payload.binary(&relayed.payload.args()[0]["file"]).unwrap().as_ref(),
        [1, 2, 3]
    );
}

#[tokio::test]
async fn a_placeholder_without_its_attachment_is_refused() {
    let io = io();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    io.on_connection(move |socket: Socket| {
        let tx = tx.clone();
        async move {
            let fake = json!({"_placeholder": true, "num": 0});
            tx.send(matches!(socket.emit("x", &fake), Err(EmitError::UnresolvedPlaceholder)))
                .unwrap();
        }
    });
    let _c = TestClient::connect(&io).await.unwrap();
    assert!(rx.recv().await.unwrap());
}

#[tokio::test(start_paused = true)]
async fn the_test_client_runs_on_paused_time() {
    let io = io();
    io.on_connection(|socket: Socket| async move {
        socket.on("later", |Data(secs): Data<u64>| async move {
            tokio::time::sleep(Duration::from_secs(secs)).await;
            Ok::<_, HandlerError>(secs)
        })?;
        socket.on("never", || async {})
    });
    let mut c = TestClient::connect(&io).await.unwrap();
    let start = tokio::time::Instant::now();
    assert_eq!(c.emit_with_ack("later", &3).await.unwrap().data::<u64>().unwrap(), 3);
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    c.set_timeout(Duration::from_secs(60));
    assert!(matches!(c.emit_with_ack("never", &()).await, Err(TestError::Timeout(_))));
}

#[tokio::test(start_paused = true)]
async fn a_closed_connection_ends_the_wait_at_once() {
    let io = io();
    io.on_connection(|socket: Socket| async move {
        socket.on("bye", |s: Socket| async move { s.disconnect(true).await })
    });
    // Auth must be an object: the server closes the connection, and the client knows at once.
    let start = tokio::time::Instant::now();
    assert!(matches!(TestClient::connect_to(&io, "/", json!("x")).await, Err(TestError::Closed)));
    let mut c = TestClient::connect(&io).await.unwrap();
    c.emit("bye", &()).unwrap();
    // The DISCONNECT packet comes first, then the close.
    assert!(matches!(c.recv().await, Err(TestError::Disconnected)));
    assert!(matches!(c.recv().await, Err(TestError::Closed)));
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test]
async fn a_connection_handler_error_reaches_the_client() {
    let io = io();
    io.on_connection(|Data(auth): Data<Value>| async move {
        match auth["plan"].as_str() {
            Some(_) => Ok(()),
            None => Err(HandlerError::new("no plan").with_data(json!({"hint": "pick one"}))),
        }
    });
    io.of("/ext").on_connection(|Extension(_n): Extension<u8>| async {});
    let mut c = TestClient::connect(&io).await.unwrap();
    let error = c.recv().await.unwrap();
    assert_eq!(error.name, "error");
    assert_eq!(
        error.data::<Value>().unwrap(),
        json!({"message": "no plan", "data": {"hint": "pick one"}})
    );
    // An extractor refusing in a connection handler: reported the same way.
    let mut ext = TestClient::connect_to(&io, "/ext", Value::Null).await.unwrap();
    let error = ext.recv().await.unwrap();
    assert_eq!(error.data::<Value>().unwrap(), json!({"message": "missing extension u8"}));
}
