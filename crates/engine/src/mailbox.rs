//! The inbox of a session task: the handler's messages, request handlers' commands and close
//! requests, behind one lock and one waker.
//!
//! It replaces three channels: a tokio channel allocates a block of slots up front, which is
//! most of what an idle session costs, while an empty `VecDeque` allocates nothing.
//!
//! Hand-written, and kept because the benchmark shows it pays in idle memory: one tokio
//! channel's first block (32 slots) cost 3.8 KiB per idle connection here when its slots held
//! whole packets (25.3 -> 21.5 KiB per idle connection once they held boxes, at 5000
//! clients), and a session had three; an idle session's mailbox holds no allocation. On the
//! per-message path it takes one lock per push and one per take (a channel's send and receive
//! take none), and the session task looks at a flag, not the lock, to see whether it is empty.
//!
//! Once the session streams over a plain WebSocket (no compression, protocol v4), the task
//! switches the inbox to [`Frames`]: a push then writes each message as a finished WebSocket
//! frame into one byte buffer, and the task hands the whole buffer to the connection as it
//! is. A broadcast to many sessions then costs each recipient one copy of a few bytes under
//! its lock, with no reference count, no queue slot and no per-message work on the session
//! task (`bench/results/2026-12-07-fanout.md`).

use std::collections::VecDeque;
use std::task::{Context, Poll};

#[cfg(not(switchboard_loom))]
use futures_util::task::AtomicWaker;
#[cfg(switchboard_loom)]
use loom::sync::atomic::{AtomicU8, Ordering};
#[cfg(switchboard_loom)]
use loom::sync::{Mutex, MutexGuard};
use std::sync::OnceLock;
#[cfg(not(switchboard_loom))]
use std::sync::atomic::{AtomicU8, Ordering};
#[cfg(not(switchboard_loom))]
use std::sync::{Mutex, MutexGuard};
use switchboard_proto::engine::EncodedMessage;
use tokio::sync::Notify;

use crate::session_task::Command;

mod frames;

use crate::socket::{DisconnectReason, SendError};
#[cfg(all(test, not(switchboard_loom)))]
use frames::FRAME_COPY_MAX;
pub(crate) use frames::{Frames, Outgoing};

/// How many commands may wait for the session task; request handlers wait for room beyond
/// that (backpressure on the client) rather than queue without limit.
const MAX_COMMANDS: usize = 16;

/// [`Mailbox::flags`]: messages are queued.
const HAS_MESSAGES: u8 = 1;
/// [`Mailbox::flags`]: commands are queued or a close was asked for.
const HAS_OTHER: u8 = 2;
/// [`Mailbox::flags`]: messages are queued as WebSocket frames ([`Frames`]), for good.
const FRAMING: u8 = 4;

/// The largest empty buffer a mailbox keeps for its next frames (see
/// [`Mailbox::take_frames`]).
pub(crate) const FRAMES_KEEP: usize = 1024;

/// Room made for the messages behind the first one, at once.
const BURST: usize = 16;

/// Shared by the session's [`Socket`](crate::Socket) (senders) and its task (the only receiver).
// Fields in this order (`repr(C)`): what a push touches (the flags, the lock, the messages'
// queue) is in the first 80 bytes, right after the socket's own flags, so that a broadcast
// to many sockets misses two cache lines per recipient rather than four.
#[derive(Default)]
#[repr(C)]
pub(crate) struct Mailbox {
    /// What the inbox holds ([`HAS_MESSAGES`], [`HAS_OTHER`]), written under the lock after
    /// every change: the session task checks it on every input without taking the lock. A
    /// stale "empty" is harmless: whoever fills the inbox wakes the task afterwards.
    flags: AtomicU8,
    /// Any thread pushes, the session task drains. Held only to push or pop, never across an
    /// await, and nothing that can panic runs under it.
    inbox: Mutex<Inbox>,
    /// The session task, woken on every push.
    task: AtomicWaker,
    /// Request handlers waiting for room in `commands`, woken when the task takes some. Made
    /// by the first one that waits (few sessions ever fill their command queue, and an idle
    /// session pays 16 bytes rather than a `Notify`'s 32); a waiter makes it before it looks
    /// at the queue under the lock, so a take that made room after that look finds it.
    room: OnceLock<Box<Notify>>,
}

// `repr(C)`: what a push reads (`ended`, then the queue) first.
#[derive(Default)]
#[repr(C)]
struct Inbox {
    /// The session task ended: nothing is accepted any more.
    ended: bool,
    /// The first close request; later ones are ignored.
    close: Option<DisconnectReason>,
    /// Messages, oldest first.
    queue: Queue,
    commands: VecDeque<Command>,
}

/// How queued messages are kept: as messages, or (once the session task switched it, see
/// [`Mailbox::start_framing`]) as the WebSocket frames that carry them. One or the other, so
/// that an idle session pays for one.
enum Queue {
    Messages(Messages),
    Frames(Frames),
}

impl Default for Queue {
    fn default() -> Self {
        Queue::Messages(Messages::default())
    }
}

impl Queue {
    fn len(&self) -> usize {
        match self {
            Queue::Messages(m) => m.len(),
            Queue::Frames(f) => f.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The outcome of one try at queueing a command.
enum Pushed {
    /// Queued (`Ok`), or handed back because the session task ended (`Err`).
    Done(Result<(), Command>),
    /// No room: handed back to wait.
    Full(Command),
}

/// What the session task found in its inbox.
pub(crate) struct Ready;

/// A queue of messages whose first one is stored inline: a session that sends one message at
/// a time (the common case) never allocates, and an idle one holds no buffer.
#[derive(Default)]
pub(crate) struct Messages {
    /// The oldest message; `None` only if `rest` is empty too.
    first: Option<EncodedMessage>,
    rest: VecDeque<EncodedMessage>,
}

/// Under `--cfg switchboard_loom` (the model-checked build, see `loom_tests`): loom's waker cell,
/// with the `futures` one's signature.
#[cfg(switchboard_loom)]
#[derive(Default)]
struct AtomicWaker(loom::future::AtomicWaker);

#[cfg(switchboard_loom)]
impl AtomicWaker {
    fn register(&self, waker: &std::task::Waker) {
        self.0.register_by_ref(waker);
    }

    fn wake(&self) {
        self.0.wake();
    }
}

impl Messages {
    pub(crate) fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    fn push(&mut self, message: EncodedMessage) {
        if self.first.is_none() {
            self.first = Some(message);
        } else {
            if self.rest.capacity() == 0 {
                // A burst (the answers to a read) usually follows: room for it at once
                // rather than growing 4, 8, 16 (freed when the session task took them all).
                self.rest.reserve(BURST);
            }
            self.rest.push_back(message);
        }
    }

    /// The first `n` messages (all of them if there are fewer).
    fn take_front(&mut self, n: usize) -> Messages {
        if n >= self.len() {
            return std::mem::take(self);
        }
        let mut taken = Messages::default();
        for _ in 0..n {
            let Some(m) = self.pop() else { break };
            taken.push(m);
        }
        taken
    }

    fn pop(&mut self) -> Option<EncodedMessage> {
        // Empty: nothing to touch (the last pop of every drain lands here).
        let first = self.first.take()?;
        self.first = self.rest.pop_front();
        if self.first.is_none() && self.rest.capacity() > 0 {
            // An idle session keeps no buffer.
            self.rest = VecDeque::new();
        }
        Some(first)
    }
}

impl IntoIterator for Messages {
    type Item = EncodedMessage;
    type IntoIter = std::iter::Chain<std::option::IntoIter<EncodedMessage>, DequeIter>;

    /// Oldest first; each message is moved once (a `pop` moves the next one to the front).
    fn into_iter(self) -> Self::IntoIter {
        self.first.into_iter().chain(self.rest)
    }
}

type DequeIter = std::collections::vec_deque::IntoIter<EncodedMessage>;

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailbox").finish_non_exhaustive()
    }
}

impl Mailbox {
    #[inline]
    fn lock(&self) -> MutexGuard<'_, Inbox> {
        // Nothing panics while the lock is held, but recover rather than cascade if it did.
        self.inbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publishes what `inbox` holds; called with the lock held, after every change.
    fn publish(&self, inbox: &Inbox) {
        let mut flags = 0;
        if !inbox.queue.is_empty() {
            flags |= HAS_MESSAGES;
        }
        if let Queue::Frames(_) = inbox.queue {
            flags |= FRAMING;
        }
        if inbox.close.is_some() || !inbox.commands.is_empty() {
            flags |= HAS_OTHER;
        }
        // Release/Acquire is enough: a pusher publishes, then wakes through the `AtomicWaker`
        // (a read-modify-write), and the task registers there before it reads the flags, so
        // one of the two sees the other.
        self.flags.store(flags, Ordering::Release);
    }

    fn has(&self, flag: u8) -> bool {
        self.flags.load(Ordering::Acquire) & flag != 0
    }

    /// Queues messages that must go out together: all of them or none. Fails with `Full` once
    /// `max` messages wait.
    pub(crate) fn push_messages<I>(&self, messages: I, max: usize) -> Result<(), SendError>
    where
        I: IntoIterator,
        I::Item: Outgoing,
    {
        let was_empty = {
            let mut inbox = self.lock();
            if inbox.ended {
                return Err(SendError::Closed);
            }
            let was_empty = match &mut inbox.queue {
                Queue::Frames(frames) => {
                    if frames.len() >= max {
                        return Err(SendError::Full);
                    }
                    let was_empty = frames.is_empty();
                    for m in messages {
                        frames.push(m);
                    }
                    was_empty
                }
                Queue::Messages(queued) => {
                    if queued.len() >= max {
                        return Err(SendError::Full);
                    }
                    let was_empty = queued.len() == 0;
                    for m in messages {
                        queued.push(m.into_message());
                    }
                    was_empty
                }
            };
            // Only "messages wait" can change, and only if none waited.
            if was_empty {
                self.publish(&inbox);
            }
            was_empty
        };
        // Messages were waiting already: the task was woken for them and takes these too
        // (or waits for room, and whatever makes room wakes it).
        if was_empty {
            self.task.wake();
        }
        Ok(())
    }

    /// Queues a command, waiting while `MAX_COMMANDS` are queued; gives it back if the
    /// session task has ended.
    pub(crate) async fn push_command(&self, command: Command) -> Result<(), Command> {
        // The usual case, room at once: one lock, and no waiter registered with `room` (whose
        // own lock a registration and its removal would take).
        let mut command = match self.try_push_command(command) {
            Pushed::Done(result) => return result,
            Pushed::Full(command) => command,
        };
        loop {
            let room = self.room.get_or_init(Box::default).notified();
            tokio::pin!(room);
            // Registered before checking again: the take that makes room after this check
            // found the queue full, and so wakes this waiter (see `take_commands`).
            room.as_mut().enable();
            command = match self.try_push_command(command) {
                Pushed::Done(result) => return result,
                Pushed::Full(command) => command,
            };
            room.await;
        }
    }

    fn try_push_command(&self, command: Command) -> Pushed {
        let mut inbox = self.lock();
        if inbox.ended {
            return Pushed::Done(Err(command));
        }
        if inbox.commands.len() >= MAX_COMMANDS {
            return Pushed::Full(command);
        }
        inbox.commands.push_back(command);
        self.publish(&inbox);
        drop(inbox);
        self.task.wake();
        Pushed::Done(Ok(()))
    }

    /// Asks the session task to close; the first reason wins.
    pub(crate) fn close(&self, reason: DisconnectReason) {
        {
            let mut inbox = self.lock();
            if inbox.ended || inbox.close.is_some() {
                return;
            }
            inbox.close = Some(reason);
            self.publish(&inbox);
        }
        self.task.wake();
    }

    /// Ready when there is a close request, a command, or (if `take_messages`) a message.
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, take_messages: bool) -> Poll<Ready> {
        self.task.register(cx.waker());
        // Read after registering: what is queued from now on wakes the task.
        let flags = self.flags.load(Ordering::Acquire);
        let ready = flags & HAS_OTHER != 0 || (take_messages && flags & HAS_MESSAGES != 0);
        if ready { Poll::Ready(Ready) } else { Poll::Pending }
    }

    /// The close request, if any.
    pub(crate) fn take_close(&self) -> Option<DisconnectReason> {
        if !self.has(HAS_OTHER) {
            return None;
        }
        let mut inbox = self.lock();
        let close = inbox.close.take();
        self.publish(&inbox);
        close
    }

    /// The commands queued so far, oldest first.
    pub(crate) fn take_commands(&self) -> VecDeque<Command> {
        let commands = {
            if !self.has(HAS_OTHER) {
                return VecDeque::new();
            }
            let mut inbox = self.lock();
            if inbox.commands.is_empty() {
                return VecDeque::new();
            }
            let commands = std::mem::take(&mut inbox.commands);
            self.publish(&inbox);
            commands
        };
        // Only a full queue can have waiters (a pusher waits only after it found the queue
        // full, and nothing but this take empties it): no lock of `room`'s otherwise.
        if commands.len() >= MAX_COMMANDS {
            self.notify_room();
        }
        commands
    }

    /// Wakes the request handlers waiting for room, if one ever waited.
    fn notify_room(&self) {
        if let Some(room) = self.room.get() {
            room.notify_waiters();
        }
    }

    /// Takes up to `limit` queued messages, oldest first. The lock is held only to take them.
    /// Nothing once the inbox frames its messages (see [`Mailbox::take_frames`]).
    pub(crate) fn take_messages(&self, limit: usize) -> Messages {
        if !self.has(HAS_MESSAGES) {
            return Messages::default();
        }
        let mut inbox = self.lock();
        let Queue::Messages(queued) = &mut inbox.queue else { return Messages::default() };
        let messages = queued.take_front(limit);
        self.publish(&inbox);
        messages
    }

    /// Whether pushes write frames ([`Mailbox::start_framing`] was called).
    pub(crate) fn is_framing(&self) -> bool {
        self.has(FRAMING)
    }

    /// From now on, pushes write each message as a WebSocket frame (see [`Frames`]) instead
    /// of queueing it; returns the messages queued before, which go out first. Called by the
    /// session task once its session streams over a WebSocket that sends messages as they are
    /// (no compression, protocol v4), which it then does until it ends.
    pub(crate) fn start_framing(&self) -> Messages {
        let mut inbox = self.lock();
        let earlier = match &mut inbox.queue {
            Queue::Messages(queued) => std::mem::take(queued),
            Queue::Frames(_) => return Messages::default(),
        };
        inbox.queue = Queue::Frames(Frames::default());
        self.publish(&inbox);
        earlier
    }

    /// Takes every queued frame and the messages after them, oldest first (nothing unless
    /// framing), leaving `spare` (an empty buffer, kept if at most [`FRAMES_KEEP`] bytes) for
    /// the next ones; a spare not needed comes back as the buffer of the frames.
    pub(crate) fn take_frames(&self, spare: Vec<u8>) -> Frames {
        if !self.has(HAS_MESSAGES) {
            return Frames { bytes: spare, ..Frames::default() };
        }
        let mut inbox = self.lock();
        let Queue::Frames(queued) = &mut inbox.queue else {
            return Frames { bytes: spare, ..Frames::default() };
        };
        let after = std::mem::take(&mut queued.after);
        let frames = if queued.count == 0 {
            // Only messages: the mailbox keeps its buffer, the spare goes back.
            Frames { bytes: spare, count: 0, after }
        } else {
            let spare = if spare.capacity() <= FRAMES_KEEP { spare } else { Vec::new() };
            let bytes = std::mem::replace(&mut queued.bytes, spare);
            Frames { bytes, count: std::mem::take(&mut queued.count), after }
        };
        queued.bytes.clear();
        self.publish(&inbox);
        frames
    }

    /// Frees the empty buffer kept for the next frames (a session that got no message since
    /// its last heartbeat holds no buffer).
    pub(crate) fn release_spare(&self) {
        if !self.has(FRAMING) || self.has(HAS_MESSAGES) {
            return;
        }
        let spare = {
            let mut inbox = self.lock();
            match &mut inbox.queue {
                Queue::Frames(queued) if queued.count == 0 && queued.after.is_empty() => {
                    (std::mem::take(&mut queued.bytes), std::mem::take(&mut queued.after))
                }
                _ => return,
            }
        };
        drop(spare);
    }

    /// Reads what a push reads first (see [`Socket::prefetch`](crate::Socket::prefetch)).
    #[inline]
    pub(crate) fn prefetch(&self) -> u8 {
        self.flags.load(Ordering::Relaxed)
    }

    /// Whether messages wait.
    pub(crate) fn has_messages(&self) -> bool {
        self.has(HAS_MESSAGES)
    }

    /// The session task ended: refuse everything from now on and drop what waits.
    pub(crate) fn end(&self) {
        let (messages, commands) = {
            let mut inbox = self.lock();
            inbox.ended = true;
            inbox.close = None;
            let taken = (std::mem::take(&mut inbox.queue), std::mem::take(&mut inbox.commands));
            self.publish(&inbox);
            taken
        };
        // Dropped outside the lock: a command may hold a WebSocket or a reply channel.
        drop((messages, commands));
        self.notify_room();
    }
}

#[cfg(all(test, not(switchboard_loom)))]
mod tests;

#[cfg(all(test, switchboard_loom))]
mod loom_tests;
