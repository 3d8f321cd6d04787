//! Unit tests of the namespace state: buffering, acks, the retry queue, recovery.

use serde_json::json;
use switchboard_proto::socket::PacketData;
use tokio::sync::oneshot::error::TryRecvError;

use super::*;
use crate::manager::AckRequest;

fn ns() -> Namespace {
    let (status, _) = watch::channel(Status::default());
    Namespace::new(Str::from("/"), Arc::new(Shared::default()), status)
}

const PLAIN: AckSettings = AckSettings { timeout: None, retries: 0 };

fn emit(
    event: &str,
    ack: bool,
    volatile: bool,
) -> (Emit, Option<oneshot::Receiver<Result<Payload, AckError>>>) {
    let (ack, rx) = if ack {
        let (reply, rx) = oneshot::channel();
        (Some(AckRequest { reply, timeout: None }), Some(rx))
    } else {
        (None, None)
    };
    let e = Emit {
        ns: Str::from("/"),
        event: EventName::new(event).unwrap(),
        payload: Payload::from_args(vec![json!(event)]),
        volatile,
        ack,
    };
    (e, rx)
}

fn ack_id(p: &Packet) -> Option<u64> {
    match &p.data {
        PacketData::Event { ack, .. } => *ack,
        _ => None,
    }
}

fn connect(n: &mut Namespace, d: &mut Deadlines, out: &mut Vec<Packet>) {
    n.on_connect(Some(&json!({"sid": "s1"})), d, out);
}

#[test]
fn buffers_while_disconnected_and_drops_volatile() {
    let (mut n, mut d, mut out) = (ns(), Deadlines::new(), Vec::new());
    n.emit(emit("a", false, false).0, PLAIN, &mut d, &mut out);
    let (v, mut v_rx) = emit("v", true, true);
    n.emit(v, PLAIN, &mut d, &mut out);
    assert!(matches!(v_rx.as_mut().unwrap().try_recv(), Ok(Err(AckError::Dropped))));
    n.emit(emit("b", false, false).0, PLAIN, &mut d, &mut out);
    assert!(out.is_empty());
    connect(&mut n, &mut d, &mut out);
    let names: Vec<String> = out
        .iter()
        .filter_map(|p| match &p.data {
            PacketData::Event { event, .. } => Some(event.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["a", "b"]);
}

#[test]
fn disconnection_fails_sent_acks_but_keeps_buffered_ones() {
    let (mut n, mut d, mut out) = (ns(), Deadlines::new(), Vec::new());
    connect(&mut n, &mut d, &mut out);
    let (sent, sent_rx) = emit("sent", true, false);
    n.emit(sent, PLAIN, &mut d, &mut out);
    n.on_close(DisconnectReason::TransportClose);
    let (buffered, buffered_rx) = emit("buffered", true, false);
    n.emit(buffered, PLAIN, &mut d, &mut out);
    n.on_close(DisconnectReason::TransportClose);
    assert!(matches!(sent_rx.unwrap().try_recv(), Ok(Err(AckError::Disconnected))));
    let mut buffered_rx = buffered_rx.unwrap();
    assert!(matches!(buffered_rx.try_recv(), Err(TryRecvError::Empty)));
    out.clear();
    connect(&mut n, &mut d, &mut out);
    let id = ack_id(&out[0]).unwrap();
    n.on_ack(id, Payload::from_args(vec![json!(1)]), PLAIN, &mut d, &mut out);
    assert_eq!(buffered_rx.try_recv().unwrap().unwrap().args(), &[json!(1)]);
}

#[test]
fn retry_queue_sends_one_at_a_time_and_gives_up_after_retries() {
    let settings = AckSettings { timeout: Some(Duration::from_secs(1)), retries: 1 };
    let (mut n, mut d, mut out) = (ns(), Deadlines::new(), Vec::new());
    connect(&mut n, &mut d, &mut out);
    let (first, first_rx) = emit("first", true, false);
    let (second, second_rx) = emit("second", true, false);
    n.emit(first, settings, &mut d, &mut out);
    n.emit(second, settings, &mut d, &mut out);
    assert_eq!(out.len(), 1, "the second waits for the first");
    let try1 = ack_id(&out[0]).unwrap();
    n.on_ack_timeout(try1, settings, &mut d, &mut out);
    assert_eq!(out.len(), 2, "retried");
    let try2 = ack_id(&out[1]).unwrap();
    assert_ne!(try1, try2);
    n.on_ack_timeout(try2, settings, &mut d, &mut out);
    assert!(matches!(first_rx.unwrap().try_recv(), Ok(Err(AckError::Timeout))));
    assert_eq!(out.len(), 3, "then the second goes");
    let id = ack_id(&out[2]).unwrap();
    // A late answer to a finished try changes nothing.
    n.on_ack(try1, Payload::new(), settings, &mut d, &mut out);
    n.on_ack(id, Payload::from_args(vec![json!("ok")]), settings, &mut d, &mut out);
    assert_eq!(second_rx.unwrap().try_recv().unwrap().unwrap().args(), &[json!("ok")]);
    assert_eq!(d.len(), 3, "one deadline per try");
}

#[test]
fn retry_queue_resends_the_head_after_a_reconnection() {
    let settings = AckSettings { timeout: None, retries: 3 };
    let (mut n, mut d, mut out) = (ns(), Deadlines::new(), Vec::new());
    connect(&mut n, &mut d, &mut out);
    n.emit(emit("x", false, false).0, settings, &mut d, &mut out);
    assert_eq!(out.len(), 1);
    n.on_close(DisconnectReason::TransportError);
    out.clear();
    connect(&mut n, &mut d, &mut out);
    assert_eq!(out.len(), 1, "sent again: at least once");
}

#[test]
fn recovery_sends_pid_and_offset_and_reports_recovered() {
    let (mut n, mut d, mut out) = (ns(), Deadlines::new(), Vec::new());
    let mut status = n.status.subscribe();
    assert_eq!(
        n.connect_packet(Some(json!({"token": "t"}))).data,
        PacketData::Connect(Some(json!({"token": "t"})))
    );
    n.on_connect(Some(&json!({"sid": "s1", "pid": "p1"})), &mut d, &mut out);
    assert!(!status.borrow_and_update().recovered);
    let event = |args| Event { name: Str::from("e"), payload: Payload::from_args(args), ack: None };
    n.on_event(event(vec![json!(1), json!("offset-1")]));
    n.on_event(event(vec![json!(2)]));
    n.on_close(DisconnectReason::TransportClose);
    let packet = n.connect_packet(Some(json!({"token": "t"})));
    assert_eq!(
        packet.data,
        PacketData::Connect(Some(json!({"pid": "p1", "offset": "offset-1", "token": "t"})))
    );
    n.on_connect(Some(&json!({"sid": "s1", "pid": "p1"})), &mut d, &mut out);
    assert!(status.borrow_and_update().recovered);
    n.on_connect(Some(&json!({"sid": "s2", "pid": "p2"})), &mut d, &mut out);
    assert!(!status.borrow_and_update().recovered);
}
