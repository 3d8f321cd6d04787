//! The mailbox under loom (`RUSTFLAGS="--cfg switchboard_loom"`, run by `cargo xtask test`): every
//! interleaving of its pushers and its session task, looking for lost wake-ups (loom reports a
//! task that waits with nobody left to wake it as a deadlock), lost or reordered messages and
//! anything queued after the task ended.
//!
//! Modelled: the flags, the lock and the task's waker (loom's types under `cfg(switchboard_loom)`). The
//! `room` notifier stays tokio's `Notify` (made once, in a std `OnceLock`), taken as correct: its
//! callers' order (register, check again, then wait) is what is checked.

use std::future::poll_fn;
use std::task::Poll;

use loom::sync::Arc;
use loom::thread;
use switchboard_proto::engine::session::CloseReason;

use super::*;

/// Few enough preemptions to finish in seconds in a debug build; the bugs loom finds in code
/// this size need one or two.
const PREEMPTIONS: usize = 2;

fn model(test: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(PREEMPTIONS);
    builder.check(test);
}

fn text(t: &str) -> EncodedMessage {
    EncodedMessage::text(t)
}

fn texts(messages: Messages) -> Vec<String> {
    messages.into_iter().map(|m| m.wire_text().map(|t| t.to_string()).unwrap_or_default()).collect()
}

fn abort() -> Command {
    Command::Abort(CloseReason::ParseError)
}

/// The session task's loop, as the real one runs it: wait until ready, take what is there
/// (`limit` messages at a time), and again, until `want` messages came.
fn receive(mailbox: &Mailbox, want: usize, limit: usize) -> Vec<String> {
    let mut got = Vec::new();
    loom::future::block_on(poll_fn(|cx| {
        loop {
            if got.len() >= want {
                return Poll::Ready(());
            }
            if mailbox.poll_ready(cx, true).is_pending() {
                return Poll::Pending;
            }
            got.extend(texts(mailbox.take_messages(limit)));
        }
    }));
    got
}

#[test]
fn loom_a_message_wakes_the_waiting_task() {
    model(|| {
        let mailbox = Arc::new(Mailbox::default());
        let pusher = thread::spawn({
            let mailbox = mailbox.clone();
            move || mailbox.push_messages([text("a")], 8)
        });
        assert_eq!(receive(&mailbox, 1, usize::MAX), ["4a"]);
        assert_eq!(pusher.join().ok(), Some(Ok(())));
        assert!(!mailbox.has_messages());
    });
}

#[test]
fn loom_two_senders_lose_nothing_and_keep_their_order() {
    model(|| {
        let mailbox = Arc::new(Mailbox::default());
        let two = thread::spawn({
            let mailbox = mailbox.clone();
            move || {
                assert!(mailbox.push_messages([text("a1")], 8).is_ok());
                assert!(mailbox.push_messages([text("a2")], 8).is_ok());
            }
        });
        let one = thread::spawn({
            let mailbox = mailbox.clone();
            move || mailbox.push_messages([text("b1")], 8)
        });
        // One message per take: the task comes back for the rest on its own, as nobody
        // wakes it for messages pushed behind others.
        let got = receive(&mailbox, 3, 1);
        assert!(two.join().is_ok());
        assert_eq!(one.join().ok(), Some(Ok(())));
        let a: Vec<&str> = got.iter().map(String::as_str).filter(|m| m.starts_with("4a")).collect();
        assert_eq!(a, ["4a1", "4a2"], "{got:?}");
        assert!(got.iter().any(|m| m == "4b1"), "{got:?}");
    });
}

#[test]
fn loom_a_close_wakes_a_task_that_takes_no_messages() {
    model(|| {
        let mailbox = Arc::new(Mailbox::default());
        let pusher = thread::spawn({
            let mailbox = mailbox.clone();
            move || mailbox.push_messages([text("a")], 8)
        });
        let closer = thread::spawn({
            let mailbox = mailbox.clone();
            move || mailbox.close(DisconnectReason::ForcedClose)
        });
        // A write is pending: messages do not make the task ready, the close does.
        let close = loom::future::block_on(poll_fn(|cx| {
            if mailbox.poll_ready(cx, false).is_pending() {
                return Poll::Pending;
            }
            match mailbox.take_close() {
                Some(reason) => Poll::Ready(reason),
                None => Poll::Pending,
            }
        }));
        assert_eq!(close, DisconnectReason::ForcedClose);
        assert_eq!(pusher.join().ok(), Some(Ok(())));
        assert!(closer.join().is_ok());
        assert!(mailbox.has_messages());
    });
}

#[test]
fn loom_a_full_command_queue_makes_room_for_a_waiting_pusher() {
    model(|| {
        let mailbox = Arc::new(Mailbox::default());
        for _ in 0..MAX_COMMANDS {
            assert!(loom::future::block_on(mailbox.push_command(abort())).is_ok());
        }
        let pusher = thread::spawn({
            let mailbox = mailbox.clone();
            move || loom::future::block_on(mailbox.push_command(abort())).is_ok()
        });
        // The task takes the commands as it is woken for them, until the waiting one came.
        let mut taken = 0;
        loom::future::block_on(poll_fn(|cx| {
            loop {
                if taken > MAX_COMMANDS {
                    return Poll::Ready(());
                }
                if mailbox.poll_ready(cx, false).is_pending() {
                    return Poll::Pending;
                }
                taken += mailbox.take_commands().len();
            }
        }));
        assert_eq!(pusher.join().ok(), Some(true));
        assert_eq!(taken, MAX_COMMANDS + 1);
    });
}

#[test]
fn loom_the_end_releases_a_waiting_pusher_and_keeps_nothing() {
    model(|| {
        let mailbox = Arc::new(Mailbox::default());
        for _ in 0..MAX_COMMANDS {
            assert!(loom::future::block_on(mailbox.push_command(abort())).is_ok());
        }
        let commander = thread::spawn({
            let mailbox = mailbox.clone();
            move || loom::future::block_on(mailbox.push_command(abort())).is_err()
        });
        let sender = thread::spawn({
            let mailbox = mailbox.clone();
            move || mailbox.push_messages([text("a")], 8)
        });
        mailbox.end();
        // The queue never had room: the waiting command is handed back.
        assert_eq!(commander.join().ok(), Some(true));
        // The message came before the end (and was dropped by it) or was refused after it.
        assert!(matches!(sender.join(), Ok(Ok(()) | Err(SendError::Closed))));
        assert!(!mailbox.has_messages());
        assert!(mailbox.take_commands().is_empty());
        assert_eq!(mailbox.take_close(), None);
    });
}

#[test]
fn loom_messages_pushed_around_the_switch_to_frames_keep_their_order() {
    model(|| {
        let mailbox = Arc::new(Mailbox::default());
        let pusher = thread::spawn({
            let mailbox = mailbox.clone();
            move || {
                assert!(mailbox.push_messages([text("a")], 8).is_ok());
                assert!(mailbox.push_messages([text("b")], 8).is_ok());
            }
        });
        // The session task switches while the pusher pushes: what was queued before comes
        // back from the switch, what follows from the frames, each exactly once, in order.
        let mut got = texts(mailbox.start_framing());
        loom::future::block_on(poll_fn(|cx| {
            loop {
                if got.len() >= 2 {
                    return Poll::Ready(());
                }
                if mailbox.poll_ready(cx, true).is_pending() {
                    return Poll::Pending;
                }
                got.extend(mailbox.take_frames(Vec::new()).texts());
            }
        }));
        assert!(pusher.join().is_ok());
        assert_eq!(got, ["4a", "4b"]);
        assert!(!mailbox.has_messages());
    });
}
