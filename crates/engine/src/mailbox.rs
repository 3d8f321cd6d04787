//! The inbox of a session task: the handler's messages, request handlers' commands and close
//! requests, behind one lock and one waker.
//!
//! It replaces three channels: a tokio channel allocates a block of slots up front, which is
//! most of what an idle session costs, while an empty `VecDeque` allocates nothing.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;
use switchboard_proto::engine::EncodedMessage;
use tokio::sync::Notify;

use crate::session_task::Command;
use crate::socket::{DisconnectReason, SendError};

/// How many commands may wait for the session task; request handlers wait for room beyond
/// that (backpressure on the client) rather than queue without limit.
const MAX_COMMANDS: usize = 16;

/// Queue capacity kept once the queue is empty again; a burst's larger buffer is released.
const IDLE_CAPACITY: usize = 8;

/// Shared by the session's [`Socket`](crate::Socket) (senders) and its task (the only receiver).
#[derive(Default)]
pub(crate) struct Mailbox {
    /// Any thread pushes, the session task drains. Held only to push or pop, never across an
    /// await, and nothing that can panic runs under it.
    inbox: Mutex<Inbox>,
    /// The session task, woken on every push.
    task: AtomicWaker,
    /// Request handlers waiting for room in `commands`, woken when the task takes some.
    room: Notify,
}

#[derive(Default)]
struct Inbox {
    messages: VecDeque<EncodedMessage>,
    commands: VecDeque<Command>,
    /// The first close request; later ones are ignored.
    close: Option<DisconnectReason>,
    /// The session task ended: nothing is accepted any more.
    ended: bool,
}

/// What the session task found in its inbox.
pub(crate) struct Ready;

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailbox").finish_non_exhaustive()
    }
}

impl Mailbox {
    fn lock(&self) -> MutexGuard<'_, Inbox> {
        // Nothing panics while the lock is held, but recover rather than cascade if it did.
        self.inbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues messages that must go out together: all of them or none. Fails with `Full` once
    /// `max` messages wait.
    pub(crate) fn push_messages<I>(&self, messages: I, max: usize) -> Result<(), SendError>
    where
        I: IntoIterator<Item = EncodedMessage>,
    {
        {
            let mut inbox = self.lock();
            if inbox.ended {
                return Err(SendError::Closed);
            }
            if inbox.messages.len() >= max {
                return Err(SendError::Full);
            }
            inbox.messages.extend(messages);
        }
        self.task.wake();
        Ok(())
    }

    /// Queues a command, waiting while `MAX_COMMANDS` are queued; gives it back if the
    /// session task has ended.
    pub(crate) async fn push_command(&self, command: Command) -> Result<(), Command> {
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            // Registered before checking, so a wake-up between the check and the await counts.
            room.as_mut().enable();
            {
                let mut inbox = self.lock();
                if inbox.ended {
                    return Err(command);
                }
                if inbox.commands.len() < MAX_COMMANDS {
                    inbox.commands.push_back(command);
                    drop(inbox);
                    self.task.wake();
                    return Ok(());
                }
            }
            room.await;
        }
    }

    /// Asks the session task to close; the first reason wins.
    pub(crate) fn close(&self, reason: DisconnectReason) {
        {
            let mut inbox = self.lock();
            if inbox.ended || inbox.close.is_some() {
                return;
            }
            inbox.close = Some(reason);
        }
        self.task.wake();
    }

    /// Ready when there is a close request, a command, or (if `take_messages`) a message.
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, take_messages: bool) -> Poll<Ready> {
        self.task.register(cx.waker());
        let inbox = self.lock();
        let ready = inbox.close.is_some()
            || !inbox.commands.is_empty()
            || (take_messages && !inbox.messages.is_empty());
        if ready { Poll::Ready(Ready) } else { Poll::Pending }
    }

    /// The close request, if any.
    pub(crate) fn take_close(&self) -> Option<DisconnectReason> {
        self.lock().close.take()
    }

    /// The commands queued so far, oldest first.
    pub(crate) fn take_commands(&self) -> VecDeque<Command> {
        let commands = {
            let mut inbox = self.lock();
            if inbox.commands.is_empty() {
                return VecDeque::new();
            }
            std::mem::take(&mut inbox.commands)
        };
        self.room.notify_waiters();
        commands
    }

    /// Hands up to `limit` queued messages to `f`, oldest first. Returns whether it took any.
    pub(crate) fn take_messages(&self, limit: usize, mut f: impl FnMut(EncodedMessage)) -> bool {
        let mut inbox = self.lock();
        let n = limit.min(inbox.messages.len());
        for m in inbox.messages.drain(..n) {
            f(m);
        }
        let took = n > 0;
        if inbox.messages.is_empty() && inbox.messages.capacity() > IDLE_CAPACITY {
            inbox.messages = VecDeque::new();
        }
        took
    }

    /// Whether messages wait.
    pub(crate) fn has_messages(&self) -> bool {
        !self.lock().messages.is_empty()
    }

    /// The session task ended: refuse everything from now on and drop what waits.
    pub(crate) fn end(&self) {
        let (messages, commands) = {
            let mut inbox = self.lock();
            inbox.ended = true;
            inbox.close = None;
            (std::mem::take(&mut inbox.messages), std::mem::take(&mut inbox.commands))
        };
        // Dropped outside the lock: a command may hold a WebSocket or a reply channel.
        drop((messages, commands));
        self.room.notify_waiters();
    }
}
