//! Timers keyed by what they are for (a player of a game): armed, replaced or cancelled by the
//! owner of the state, which holds the lock the fired timer takes before acting.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::time::Duration;

use tokio::task::AbortHandle;

/// Armed timers. Cancelling a timer aborts its task: done under the owner's lock, it cannot
/// race with the fired task, which takes the same lock before it acts.
pub(crate) struct Deadlines<K> {
    armed: HashMap<K, (AbortHandle, i64)>,
}

impl<K> Default for Deadlines<K> {
    fn default() -> Self {
        Deadlines { armed: HashMap::new() }
    }
}

impl<K: Hash + Eq + Clone> Deadlines<K> {
    /// Runs `then` after `after`, unless cancelled first; replaces a timer armed for `key`.
    /// `at_ms` is when it fires, as shown to clients.
    pub(crate) fn arm<F>(&mut self, key: K, after: Duration, at_ms: i64, then: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // The timer task: owned by this map through its abort handle; ends when it fired, or
        // is aborted by `cancel`/a new `arm` for the same key.
        let task = tokio::spawn(async move {
            tokio::time::sleep(after).await;
            then.await;
        });
        if let Some((old, _)) = self.armed.insert(key, (task.abort_handle(), at_ms)) {
            old.abort();
        }
    }

    /// Cancels the timer of `key`; whether one was armed.
    pub(crate) fn cancel(&mut self, key: &K) -> bool {
        match self.armed.remove(key) {
            Some((task, _)) => {
                task.abort();
                true
            }
            None => false,
        }
    }

    /// Cancels every timer (the server is stopping).
    pub(crate) fn cancel_all(&mut self) {
        for (_, (task, _)) in self.armed.drain() {
            task.abort();
        }
    }

    /// Forgets the timer of `key` without aborting it (called by the fired timer itself).
    pub(crate) fn fired(&mut self, key: &K) -> bool {
        self.armed.remove(key).is_some()
    }

    /// When the timer of `key` fires (milliseconds since the epoch).
    pub(crate) fn due(&self, key: &K) -> Option<i64> {
        self.armed.get(key).map(|(_, at)| *at)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn counter()
    -> (Arc<AtomicUsize>, impl Fn() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) {
        let fired = Arc::new(AtomicUsize::new(0));
        let f = fired.clone();
        (fired, move || {
            let f = f.clone();
            Box::pin(async move {
                f.fetch_add(1, Ordering::SeqCst);
            })
        })
    }

    #[tokio::test(start_paused = true)]
    async fn fires_after_its_duration_not_before() {
        let (fired, then) = counter();
        let mut d = Deadlines::default();
        d.arm("ann", Duration::from_secs(30), 30_000, then());
        assert_eq!(d.due(&"ann"), Some(30_000));
        tokio::time::sleep(Duration::from_millis(29_999)).await;
        assert_eq!(fired.load(Ordering::SeqCst), 0);
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert_eq!(fired.load(Ordering::SeqCst), 1);
        assert!(d.fired(&"ann"));
        assert_eq!(d.due(&"ann"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_or_replaced_timer_never_fires() {
        let (fired, then) = counter();
        let mut d = Deadlines::default();
        d.arm("ann", Duration::from_secs(30), 0, then());
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(d.cancel(&"ann"));
        assert!(!d.cancel(&"ann"));
        d.arm("bob", Duration::from_secs(5), 0, then());
        d.arm("bob", Duration::from_secs(60), 0, then());
        tokio::time::sleep(Duration::from_secs(59)).await;
        assert_eq!(fired.load(Ordering::SeqCst), 0);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(fired.load(Ordering::SeqCst), 1, "only the replacement fired");
        d.arm("ann", Duration::from_secs(1), 0, then());
        d.arm("bob", Duration::from_secs(1), 0, then());
        d.cancel_all();
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(fired.load(Ordering::SeqCst), 1, "none fired after cancel_all");
    }
}
