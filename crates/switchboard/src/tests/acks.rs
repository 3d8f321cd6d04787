//! Ack ids and pending acks.

use std::time::Duration;

use super::harness::connected;
use crate::SocketIo;

#[tokio::test(start_paused = true)]
async fn single_and_broadcast_acks_get_distinct_ids() {
    let io = SocketIo::new(Default::default());
    let (mut peer, socket, _) = connected(&io).await;

    let single = socket.emit_with_ack("single", &1);
    let single_text = peer.recv_text().await;
    let op = io.timeout(Duration::from_secs(5));
    let broadcast = tokio::spawn(async move { op.emit_with_ack("all", &2).await });
    let broadcast_text = peer.recv_text().await;
    assert_eq!(single_text, r#"20["single",1]"#);
    assert_eq!(broadcast_text, r#"21["all",2]"#, "one counter per namespace, as Node");

    peer.send(r#"31["to-broadcast"]"#);
    peer.send(r#"30["to-single"]"#);
    assert_eq!(single.await.unwrap().data::<String>().unwrap(), "to-single");
    let answers = broadcast.await.unwrap().unwrap();
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].response.data::<String>().unwrap(), "to-broadcast");
}
