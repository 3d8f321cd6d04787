//! What every [`Storage`] must do, run against each database by its tests.

use super::{Message, Notification, PrivateMessage, Storage};

fn msg(room: &str, text: &str) -> Message {
    Message {
        id: super::new_id(),
        room_id: room.to_owned(),
        seq: 0,
        user_id: "ann".to_owned(),
        username: "Ann".to_owned(),
        text: text.to_owned(),
        ts: 1,
        client_id: None,
        status: None,
        file: None,
    }
}

/// Runs every check in one transaction-free session (each statement commits on its own).
pub(crate) fn run_all(s: &mut dyn Storage) {
    rooms_messages_and_history(s);
    receipts_are_never_downgraded(s);
    private_messages_and_client_ids(s);
    notifications(s);
    app_documents_and_logs(s);
    savepoints_undo_one_job(s);
}

fn rooms_messages_and_history(s: &mut dyn Storage) {
    s.upsert_user("ann", "Ann", 1).unwrap();
    s.upsert_user("ann", "Annie", 2).unwrap();
    assert!(s.user_known("ann").unwrap());
    assert!(!s.user_known("nobody-yet").unwrap());
    assert!(s.join_room("r", "ann", 1).unwrap());
    assert!(!s.join_room("r", "ann", 2).unwrap());
    assert!(s.is_member("r", "ann").unwrap());
    assert!(!s.is_member("r", "bob").unwrap());
    assert_eq!(s.user_rooms("ann").unwrap(), ["r"]);
    assert_eq!(s.room_members("r").unwrap()[0].username, "Annie");
    for i in 1..=5 {
        let m = s.insert_message(msg("r", &i.to_string())).unwrap();
        assert_eq!(m.seq, i);
        assert_eq!(s.message(&m.id).unwrap().as_ref(), Some(&m));
    }
    assert_eq!(s.message("no-such-id").unwrap(), None);
    s.join_room("other", "ann", 1).unwrap();
    assert_eq!(s.insert_message(msg("other", "x")).unwrap().seq, 1);
    let seqs = |v: Vec<Message>| v.iter().map(|m| m.seq).collect::<Vec<_>>();
    assert_eq!(seqs(s.history("r", None, 2).unwrap()), [4, 5]);
    assert_eq!(seqs(s.history("r", Some(4), 2).unwrap()), [2, 3]);
    assert_eq!(seqs(s.history("r", Some(2), 50).unwrap()), [1]);
    assert!(s.history("empty", None, 50).unwrap().is_empty());
    assert!(s.leave_room("r", "ann").unwrap());
    assert!(!s.leave_room("r", "ann").unwrap());
    assert!(!s.is_member("r", "ann").unwrap());
    assert!(s.join_room("r2", "nobody", 1).is_err(), "no such user");
}

fn receipts_are_never_downgraded(s: &mut dyn Storage) {
    s.upsert_user("ann", "Ann", 1).unwrap();
    assert!(s.insert_message(msg("nowhere", "hi")).is_err(), "no such room");
    s.join_room("rr", "ann", 1).unwrap();
    let m = s.insert_message(msg("rr", "hi")).unwrap();
    let status = |s: &mut dyn Storage| s.history("rr", None, 1).unwrap()[0].status.clone();
    assert_eq!(status(s), None);
    s.set_receipt(&m.id, "ann", "read", 2).unwrap();
    assert_eq!(status(s), None, "the author's own receipt does not count");
    s.set_receipt(&m.id, "bob", "delivered", 2).unwrap();
    assert_eq!(status(s).as_deref(), Some("delivered"));
    s.set_receipt(&m.id, "bob", "read", 2).unwrap();
    s.set_receipt(&m.id, "bob", "delivered", 3).unwrap();
    assert_eq!(status(s).as_deref(), Some("read"));
}

fn private_messages_and_client_ids(s: &mut dyn Storage) {
    let p = |id: &str, to: &str| PrivateMessage {
        id: id.into(),
        seq: 0,
        from_user_id: "ann".into(),
        from_username: "Ann".into(),
        to_user_id: to.into(),
        text: format!("psst {id}"),
        ts: 1,
        client_id: Some("c".into()),
    };
    let first = s.insert_private(p("p1", "bob")).unwrap();
    let second = s.insert_private(p("p2", "bob")).unwrap();
    s.insert_private(p("p3", "cat")).unwrap();
    assert!(first.seq >= 1 && second.seq > first.seq, "{} then {}", first.seq, second.seq);
    let pending = s.pending_private("bob").unwrap();
    assert_eq!(pending.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["p1", "p2"]);
    assert_eq!(pending[0], first);
    s.ack_private("p1", 2).unwrap();
    assert_eq!(s.pending_private("bob").unwrap(), [second]);
    assert_eq!(s.client_ack("ann", "c").unwrap(), None);
    s.save_client_ack("ann", "c", &serde_json::json!({"ok": true})).unwrap();
    s.save_client_ack("ann", "c", &serde_json::json!({"ok": true, "seq": 2})).unwrap();
    assert_eq!(s.client_ack("ann", "c").unwrap(), Some(serde_json::json!({"ok": true, "seq": 2})));
}

fn notifications(s: &mut dyn Storage) {
    let n = |id: &str, ts: i64| Notification {
        id: id.into(),
        user_id: "nia".into(),
        title: format!("t{id}"),
        body: "b".into(),
        ts,
        read: false,
    };
    // Two with the same time: the later insert comes first.
    s.insert_notification(n("a", 1)).unwrap();
    s.insert_notification(n("b", 2)).unwrap();
    s.insert_notification(n("c", 2)).unwrap();
    let ids = |v: Vec<Notification>| v.into_iter().map(|n| n.id).collect::<Vec<_>>();
    assert_eq!(ids(s.notifications("nia", 10).unwrap()), ["c", "b", "a"]);
    assert_eq!(ids(s.notifications("nia", 1).unwrap()), ["c"]);
    assert_eq!(s.unread_count("nia").unwrap(), 3);
    s.read_notifications("nia", Some("b")).unwrap();
    assert_eq!(s.unread_count("nia").unwrap(), 2);
    assert!(s.notifications("nia", 10).unwrap()[1].read);
    s.read_notifications("nia", None).unwrap();
    assert_eq!(s.unread_count("nia").unwrap(), 0);
    assert_eq!(s.unread_count("nobody").unwrap(), 0);
}

fn app_documents_and_logs(s: &mut dyn Storage) {
    s.doc_put("wb", "boards", "b", "1", 1).unwrap();
    s.doc_put("wb", "boards", "a", "2", 1).unwrap();
    s.doc_put("wb", "boards", "b", "3", 2).unwrap();
    s.doc_put("ttt", "boards", "a", "9", 1).unwrap();
    assert_eq!(s.doc_get("wb", "boards", "b").unwrap().as_deref(), Some("3"));
    assert_eq!(s.doc_get("wb", "other", "b").unwrap(), None);
    let list = s.doc_list("wb", "boards").unwrap();
    assert_eq!(list, [("a".to_owned(), "2".to_owned()), ("b".to_owned(), "3".to_owned())]);
    assert!(s.doc_delete("wb", "boards", "a").unwrap());
    assert!(!s.doc_delete("wb", "boards", "a").unwrap());
    assert_eq!(s.doc_get("ttt", "boards", "a").unwrap().as_deref(), Some("9"));
    for i in 1..=4 {
        assert_eq!(s.log_append("wb", "strokes", &i.to_string(), 1).unwrap(), i);
    }
    assert_eq!(s.log_append("ttt", "strokes", "x", 1).unwrap(), 1);
    let seqs = |v: Vec<(i64, String)>| v.into_iter().map(|(n, _)| n).collect::<Vec<_>>();
    assert_eq!(seqs(s.log_range("wb", "strokes", 1, 2).unwrap()), [2, 3]);
    assert!(s.log_remove("wb", "strokes", 3).unwrap());
    assert!(!s.log_remove("wb", "strokes", 3).unwrap());
    assert_eq!(seqs(s.log_range("wb", "strokes", 0, 10).unwrap()), [1, 2, 4]);
    assert_eq!(s.log_clear("wb", "strokes").unwrap(), 3);
    assert_eq!(s.log_append("wb", "strokes", "5", 1).unwrap(), 5, "numbers are never reused");
    assert_eq!(s.log_range("ttt", "strokes", 0, 10).unwrap(), [(1, "x".to_owned())]);
}

fn savepoints_undo_one_job(s: &mut dyn Storage) {
    s.upsert_user("sam", "Sam", 1).unwrap();
    s.begin().unwrap();
    s.savepoint().unwrap();
    assert!(s.join_room("kept", "sam", 1).unwrap());
    s.release().unwrap();
    s.savepoint().unwrap();
    assert!(s.join_room("undone", "sam", 1).unwrap());
    assert!(s.join_room("x", "nobody", 1).is_err());
    s.rollback_to().unwrap();
    s.release().unwrap();
    s.commit().unwrap();
    assert_eq!(s.user_rooms("sam").unwrap(), ["kept"]);
}
