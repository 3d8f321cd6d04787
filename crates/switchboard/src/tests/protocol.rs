//! Every row of the protocol test server table (§1.3), over the fake connection.

use serde_json::Value;
use switchboard_engine::DisconnectReason as EngineReason;

use super::harness::Peer;
use crate::SocketIo;

fn app() -> SocketIo {
    let io = SocketIo::new(crate::conformance::config());
    crate::conformance::install(&io);
    io
}

fn sid_of(text: &str, prefix: &str) -> String {
    let json = text.strip_prefix(prefix).unwrap_or_else(|| panic!("{text} lacks {prefix}"));
    let v: Value = serde_json::from_str(json).unwrap();
    let obj = v.as_object().unwrap();
    assert_eq!(obj.len(), 1, "exactly the key sid: {text}");
    obj["sid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn connect_rows() {
    let io = app();
    let cases = [
        ("0", "0", r#"2["auth",{}]"#),
        (r#"0{"token":"123"}"#, "0", r#"2["auth",{"token":"123"}]"#),
        ("0/custom,", "0/custom,", r#"2/custom,["auth",{}]"#),
        (r#"0/custom,{"token":"abc"}"#, "0/custom,", r#"2/custom,["auth",{"token":"abc"}]"#),
        ("0/custom", "0/custom,", r#"2/custom,["auth",{}]"#),
    ];
    for (send, prefix, auth) in cases {
        let mut peer = Peer::connect(&io);
        peer.send(send);
        let sid = sid_of(&peer.recv_text().await, prefix);
        assert_eq!(sid.len(), 20);
        assert_eq!(peer.recv_text().await, auth);
        peer.assert_silent().await;
    }
}

#[tokio::test]
async fn unknown_namespace_is_refused() {
    let io = app();
    let mut peer = Peer::connect(&io);
    peer.send("0/random");
    assert_eq!(peer.recv_text().await, r#"4/random,{"message":"Invalid namespace"}"#);
    assert_eq!(peer.closed(), None);
}

#[tokio::test]
async fn bad_packets_close_the_connection() {
    for bad in [
        "abc",
        "2{}",
        r#"2abc["message-with-ack",1]"#,
        r#"2222222222222222222["message"]"#,
        r#"2["connect"]"#,
        "2[1]",
    ] {
        let io = app();
        let mut peer = Peer::connect(&io);
        let mut other = Peer::connect(&io);
        peer.join("/").await;
        other.join("/").await;
        peer.recv_text().await;
        other.recv_text().await;
        peer.send(bad);
        assert_eq!(peer.wait_closed().await, EngineReason::ParseError, "{bad}");
        // Other clients are untouched.
        other.send(r#"2["message","still here"]"#);
        assert_eq!(other.recv_text().await, r#"2["message-back","still here"]"#);
        assert_eq!(other.closed(), None);
    }
}

#[tokio::test]
async fn unexpected_binary_and_bad_placeholders_close() {
    let io = app();
    let peer = Peer::connect(&io);
    peer.send_bin(&[1, 2, 3]);
    assert_eq!(peer.wait_closed().await, EngineReason::ParseError);
    let peer = Peer::connect(&io);
    peer.send(r#"51-["message",{"_placeholder":true,"num":3}]"#);
    assert_eq!(peer.wait_closed().await, EngineReason::ParseError);
}

#[tokio::test]
async fn leaving_the_last_namespace_keeps_the_connection() {
    let io = app();
    let mut peer = Peer::connect(&io);
    peer.join("/").await;
    peer.recv_text().await;
    peer.send("1");
    peer.assert_silent().await;
    assert_eq!(peer.closed(), None);
}

#[tokio::test]
async fn leaving_one_namespace_keeps_the_others() {
    let io = app();
    let mut peer = Peer::connect(&io);
    peer.join("/").await;
    peer.recv_text().await;
    peer.join("/custom").await;
    peer.recv_text().await;
    peer.send("1/custom");
    peer.send(r#"2["message","message to main namespace"]"#);
    assert_eq!(peer.recv_text().await, r#"2["message-back","message to main namespace"]"#);
    peer.assert_silent().await;
}

#[tokio::test]
async fn events_acks_and_binary_rows() {
    let io = app();
    let mut peer = Peer::connect(&io);
    peer.join("/").await;
    peer.recv_text().await;

    peer.send(r#"2["message",1,"2",{"3":[true]}]"#);
    assert_eq!(peer.recv_text().await, r#"2["message-back",1,"2",{"3":[true]}]"#);

    peer.send(r#"52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#);
    peer.send_bin(&[1, 2, 3]);
    peer.send_bin(&[4, 5, 6]);
    assert_eq!(
        peer.recv_text().await,
        r#"52-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
    );
    assert_eq!(peer.recv_bin().await, vec![1, 2, 3]);
    assert_eq!(peer.recv_bin().await, vec![4, 5, 6]);

    peer.send(r#"2456["message-with-ack",1,"2",{"3":[false]}]"#);
    assert_eq!(peer.recv_text().await, r#"3456[1,"2",{"3":[false]}]"#);

    peer.send(
        r#"52-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
    );
    peer.send_bin(&[7]);
    peer.send_bin(&[8]);
    assert_eq!(
        peer.recv_text().await,
        r#"62-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
    );
    assert_eq!(peer.recv_bin().await, vec![7]);
    assert_eq!(peer.recv_bin().await, vec![8]);

    // Server → client ack (the optional emit-with-ack handler).
    peer.send(r#"2["emit-with-ack",1,"2"]"#);
    assert_eq!(peer.recv_text().await, r#"20["emit-with-ack",1,"2"]"#);
    peer.send(r#"30[{"x":3}]"#);
    assert_eq!(peer.recv_text().await, r#"2["emit-with-ack",{"x":3}]"#);
    assert_eq!(peer.closed(), None);
}

#[tokio::test(start_paused = true)]
async fn no_connect_closes_after_connect_timeout() {
    let io = app();
    let peer = Peer::connect(&io);
    tokio::time::sleep(std::time::Duration::from_millis(950)).await;
    assert_eq!(peer.closed(), None, "closed before connectTimeout");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(peer.wait_closed().await, EngineReason::ForcedClose);

    // A client that joined in time stays.
    let mut peer = Peer::connect(&io);
    peer.join("/").await;
    tokio::time::sleep(std::time::Duration::from_millis(2000)).await;
    assert_eq!(peer.closed(), None);
}
