//! What an engine still has to finish before a shutdown is complete: each session task until
//! it ended, and the WebSocket a session closed until its last frames are written.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// A count of unfinished work, and a wake-up when it falls to zero.
#[derive(Debug, Default)]
pub(crate) struct Drain {
    /// Session tasks not torn down plus closing WebSockets not written out. Changed once per
    /// session start, end and final close: never per message.
    open: AtomicUsize,
    /// Wakes [`Drain::wait`] when `open` falls to zero. Owned by the engine; its waiters are
    /// the callers of `Engine::drained`.
    done: Notify,
}

impl Drain {
    /// One more piece of work (a session task starts).
    pub(crate) fn enter(&self) {
        self.open.fetch_add(1, Ordering::SeqCst);
    }

    /// One piece of work finished.
    pub(crate) fn leave(&self) {
        if self.open.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.done.notify_waiters();
        }
    }

    /// How many pieces of work are unfinished.
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Resolves once nothing is unfinished.
    pub(crate) async fn wait(&self) {
        loop {
            let done = self.done.notified();
            tokio::pin!(done);
            // Registered before looking: a `leave` to zero after the look wakes it.
            done.as_mut().enable();
            if self.open() == 0 {
                return;
            }
            done.await;
        }
    }
}

/// Counts one piece of work of a [`Drain`] until dropped (a closing WebSocket's writer).
#[derive(Debug)]
pub(crate) struct DrainGuard(Arc<Drain>);

impl DrainGuard {
    pub(crate) fn new(drain: &Arc<Drain>) -> Self {
        drain.enter();
        DrainGuard(drain.clone())
    }
}

impl Drop for DrainGuard {
    fn drop(&mut self) {
        self.0.leave();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn wait_resolves_when_the_last_piece_leaves() {
        let drain = Arc::new(Drain::default());
        drain.wait().await; // nothing open: at once
        drain.enter();
        let guard = DrainGuard::new(&drain);
        assert_eq!(drain.open(), 2);
        let waiting = tokio::spawn({
            let drain = drain.clone();
            async move { drain.wait().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drain.leave();
        drop(guard);
        tokio::time::timeout(Duration::from_secs(1), waiting).await.unwrap().unwrap();
        assert_eq!(drain.open(), 0);
    }
}
