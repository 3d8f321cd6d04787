//! The mailbox's unit tests.

use std::future::poll_fn;
use std::task::Poll;
use std::time::Duration;

use switchboard_proto::engine::session::CloseReason;

use super::*;

fn texts(messages: Messages) -> Vec<String> {
    messages.into_iter().map(|m| m.wire_text().map(|t| t.to_string()).unwrap_or_default()).collect()
}

#[test]
fn messages_keep_their_order_and_the_limit_counts_messages() {
    let mailbox = Mailbox::default();
    mailbox.push_messages([EncodedMessage::text("a")], 3).unwrap();
    mailbox.push_messages([EncodedMessage::text("b"), EncodedMessage::text("c")], 3).unwrap();
    assert_eq!(mailbox.push_messages([EncodedMessage::text("d")], 3), Err(SendError::Full));
    assert_eq!(texts(mailbox.take_messages(2)), ["4a", "4b"]);
    mailbox.push_messages([EncodedMessage::text("d")], 3).unwrap();
    assert_eq!(texts(mailbox.take_messages(usize::MAX)), ["4c", "4d"]);
    assert!(!mailbox.has_messages());
}

#[test]
fn the_first_close_wins_and_an_ended_mailbox_refuses_everything() {
    let mailbox = Mailbox::default();
    mailbox.close(DisconnectReason::ForcedClose);
    mailbox.close(DisconnectReason::PingTimeout);
    assert_eq!(mailbox.take_close(), Some(DisconnectReason::ForcedClose));
    mailbox.push_messages([EncodedMessage::text("a")], 8).unwrap();
    mailbox.end();
    assert!(!mailbox.has_messages());
    assert_eq!(mailbox.push_messages([EncodedMessage::text("b")], 8), Err(SendError::Closed));
    mailbox.close(DisconnectReason::ForcedClose);
    assert_eq!(mailbox.take_close(), None);
}

#[test]
fn framing_keeps_the_order_and_the_limit_and_sends_what_was_queued_before_first() {
    let mailbox = Mailbox::default();
    mailbox.push_messages([EncodedMessage::text("a")], 3).unwrap();
    // The messages queued before the switch come back, to be sent first.
    assert_eq!(texts(mailbox.start_framing()), ["4a"]);
    assert!(mailbox.is_framing());
    assert!(!mailbox.has_messages());
    // Borrowed (a broadcast) and owned messages alike; binary as binary frames.
    let shared = [EncodedMessage::text("b"), EncodedMessage::binary(vec![1u8, 2])];
    mailbox.push_messages(&shared, 3).unwrap();
    mailbox.push_messages([EncodedMessage::text("c")], 3).unwrap();
    // The limit counts messages, as without frames.
    assert_eq!(mailbox.push_messages([EncodedMessage::text("d")], 3), Err(SendError::Full));
    assert!(mailbox.has_messages());
    // Again: nothing waits in the other form.
    assert!(texts(mailbox.start_framing()).is_empty());
    assert!(texts(mailbox.take_messages(usize::MAX)).is_empty());
    let frames = mailbox.take_frames(Vec::new());
    assert_eq!(frames.texts(), ["4b", "\u{1}\u{2}", "4c"]);
    assert_eq!(&frames.into_parts().0[..4], [0x81, 2, b'4', b'b']);
    assert!(!mailbox.has_messages());
    assert!(mailbox.take_frames(Vec::new()).is_empty());
}

#[test]
fn a_message_too_large_to_copy_and_those_behind_it_follow_the_frames_as_messages() {
    let mailbox = Mailbox::default();
    let _ = mailbox.start_framing();
    let large = EncodedMessage::binary(vec![7u8; FRAME_COPY_MAX + 1]);
    // A packet and its attachment: the text is copied, the attachment is not.
    mailbox.push_messages(&[EncodedMessage::text("a"), large.clone()], 4).unwrap();
    mailbox.push_messages([EncodedMessage::text("b")], 4).unwrap();
    mailbox.push_messages([EncodedMessage::text("c")], 4).unwrap();
    // The limit counts both.
    assert_eq!(mailbox.push_messages([EncodedMessage::text("d")], 4), Err(SendError::Full));
    let frames = mailbox.take_frames(Vec::new());
    assert_eq!(frames.texts(), ["4a"]);
    let (_, after) = frames.into_parts();
    let after: Vec<EncodedMessage> = after.into_iter().collect();
    assert_eq!(after, [large, EncodedMessage::text("b"), EncodedMessage::text("c")]);
    assert!(!mailbox.has_messages());
    // Emptied: small messages are copied again, and only messages leave the buffer.
    mailbox.push_messages([EncodedMessage::text("e")], 4).unwrap();
    assert_eq!(mailbox.take_frames(Vec::new()).texts(), ["4e"]);
    mailbox.push_messages([EncodedMessage::binary(vec![1u8; 600])], 4).unwrap();
    let only = mailbox.take_frames(Vec::with_capacity(64));
    assert_eq!(only.texts(), Vec::<String>::new());
    let (spare, after) = only.into_parts();
    assert_eq!((spare.capacity(), after.len()), (64, 1));
}

#[test]
fn a_framing_mailbox_keeps_the_spare_it_is_given_until_released() {
    let mailbox = Mailbox::default();
    let _ = mailbox.start_framing();
    mailbox.push_messages([EncodedMessage::text("a")], 8).unwrap();
    let first = mailbox.take_frames(Vec::with_capacity(512));
    assert_eq!(first.texts(), ["4a"]);
    // The next frames go into the spare: no allocation of their own.
    mailbox.push_messages([EncodedMessage::text("b")], 8).unwrap();
    let second = mailbox.take_frames(Vec::with_capacity(FRAMES_KEEP + 1));
    assert_eq!(second.texts(), ["4b"]);
    assert_eq!(second.into_parts().0.capacity(), 512);
    // A spare over the limit is not kept, and a kept one is freed by the release.
    mailbox.push_messages([EncodedMessage::text("c")], 8).unwrap();
    let third = mailbox.take_frames(Vec::with_capacity(64));
    assert_eq!(third.texts(), ["4c"]);
    assert!(third.into_parts().0.capacity() < FRAMES_KEEP + 1);
    mailbox.release_spare();
    mailbox.push_messages([EncodedMessage::text("d")], 8).unwrap();
    // Not released while frames wait.
    mailbox.release_spare();
    assert_eq!(mailbox.take_frames(Vec::new()).texts(), ["4d"]);
    // The end drops what waits and refuses the rest.
    mailbox.push_messages([EncodedMessage::text("e")], 8).unwrap();
    mailbox.end();
    assert!(!mailbox.has_messages());
    assert!(mailbox.take_frames(Vec::new()).is_empty());
    assert_eq!(mailbox.push_messages([EncodedMessage::text("f")], 8), Err(SendError::Closed));
}

#[tokio::test]
async fn ready_only_for_what_the_task_takes() {
    let mailbox = Mailbox::default();
    mailbox.push_messages([EncodedMessage::text("a")], 8).unwrap();
    // A task that takes no messages now (a write is pending) is not woken by them.
    let idle = poll_fn(|cx| Poll::Ready(mailbox.poll_ready(cx, false).is_ready())).await;
    assert!(!idle);
    let ready = poll_fn(|cx| Poll::Ready(mailbox.poll_ready(cx, true).is_ready())).await;
    assert!(ready);
}

#[tokio::test]
async fn a_full_command_queue_waits_for_room() {
    let mailbox = std::sync::Arc::new(Mailbox::default());
    for _ in 0..MAX_COMMANDS {
        assert!(mailbox.push_command(Command::Abort(CloseReason::ParseError)).await.is_ok());
    }
    let waiting = tokio::spawn({
        let mailbox = mailbox.clone();
        async move { mailbox.push_command(Command::Abort(CloseReason::ParseError)).await.is_ok() }
    });
    tokio::task::yield_now().await;
    assert!(!waiting.is_finished());
    assert_eq!(mailbox.take_commands().len(), MAX_COMMANDS);
    let pushed = tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap();
    assert!(pushed);
    assert_eq!(mailbox.take_commands().len(), 1);
    // Once ended, a waiting or new command is handed back.
    mailbox.end();
    assert!(mailbox.push_command(Command::Abort(CloseReason::ParseError)).await.is_err());
}
