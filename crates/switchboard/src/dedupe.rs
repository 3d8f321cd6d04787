//! A helper to handle each client message once when the client sends it at least once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

/// The last sequence number seen per sender.
#[derive(Debug)]
struct Seen {
    last: HashMap<String, (u64, Instant)>,
    ttl: Duration,
    capacity: usize,
}

/// Remembers the highest sequence number accepted from each sender, so that a handler can
/// ignore the repeats of at-least-once delivery (the official client's `retries` option
/// resends a message whose ack did not arrive within `ackTimeout`, so the server may get it
/// twice).
///
/// The pattern: the client numbers its messages (`seq` = 1, 2, 3... per sender) and names
/// itself with a stable key (a `clientId` in the CONNECT auth, or the socket id when
/// connection state recovery keeps it); the handler calls [`Dedupe::first_time`], does the
/// work only if it returns true, and acks in both cases. The official client sends queued
/// messages one at a time, in order, so a larger `seq` is always a new message.
///
/// Memory is bounded: a sender unseen for `ttl` is forgotten, and past `capacity` senders the
/// least recently seen is forgotten (its next repeat, if any, would be accepted again).
///
/// ```
/// use std::time::Duration;
/// use switchboard::Dedupe;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let seen = Dedupe::new(Duration::from_secs(600), 10_000);
/// assert!(seen.first_time("client-a", 1));
/// assert!(!seen.first_time("client-a", 1), "a retry of message 1");
/// assert!(seen.first_time("client-a", 2));
/// assert!(seen.first_time("client-b", 1), "senders are independent");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Dedupe {
    // Shared by every handler of every socket; the lock is held for one map operation.
    seen: Arc<Mutex<Seen>>,
}

impl Default for Dedupe {
    /// Senders are remembered for 10 minutes, at most 100 000 of them.
    fn default() -> Self {
        Dedupe::new(Duration::from_secs(600), 100_000)
    }
}

impl Dedupe {
    /// Remembers senders for `ttl` after their last message, at most `capacity` of them.
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard::Dedupe;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let seen = Dedupe::new(Duration::from_secs(60), 2);
    /// assert!(seen.first_time("a", 1));
    /// assert!(!seen.first_time("a", 1));
    /// tokio::time::advance(Duration::from_secs(61)).await;
    /// assert!(seen.first_time("a", 1), "forgotten after a minute without a message");
    /// tokio::time::advance(Duration::from_secs(1)).await;
    /// assert!(seen.first_time("b", 1));
    /// tokio::time::advance(Duration::from_secs(1)).await;
    /// assert!(seen.first_time("c", 1));
    /// assert_eq!(seen.len(), 2); // the capacity: "a", seen least recently, was forgotten
    /// assert_eq!(seen.last_seen("a"), None);
    /// # }
    /// ```
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        let seen = Seen { last: HashMap::new(), ttl, capacity: capacity.max(1) };
        Dedupe { seen: Arc::new(Mutex::new(seen)) }
    }

    fn lock(&self) -> MutexGuard<'_, Seen> {
        // Each operation leaves the map consistent, so a poisoned lock is still usable.
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True if `seq` is greater than every sequence number accepted from `sender` so far (a
    /// new message), false for a repeat.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::Dedupe;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // Client: emit("order", seq, item) with `retries`, and a stable `clientId` in its auth.
    /// async fn order(
    ///     s: Socket,
    ///     State(seen): State<Dedupe>,
    ///     Data((seq, item)): Data<(u64, String)>,
    /// ) -> Result<&'static str, HandlerError> {
    ///     let sender = s.handshake().auth["clientId"].as_str().unwrap_or_default().to_owned();
    ///     if seen.first_time(&sender, seq) {
    ///         s.emit("ordered", &item)?; // the work: done once
    ///     }
    ///     Ok("ok") // acked either way, so the client stops resending
    /// }
    ///
    /// let io = SocketIo::builder().with_state(Dedupe::default()).build();
    /// io.on_connection(|socket: Socket| async move { socket.on("order", order) });
    /// let auth = serde_json::json!({"clientId": "c1"});
    /// let mut client = TestClient::connect_to(&io, "/", auth).await?;
    /// client.emit_with_ack("order", &(1, "tea")).await?;
    /// client.emit_with_ack("order", &(1, "tea")).await?; // a retry
    /// client.emit_with_ack("order", &(2, "cake")).await?;
    /// assert_eq!(client.recv().await?.data::<String>()?, "tea");
    /// assert_eq!(client.recv().await?.data::<String>()?, "cake");
    /// # Ok(()) }
    /// ```
    pub fn first_time(&self, sender: &str, seq: u64) -> bool {
        let now = Instant::now();
        let mut seen = self.lock();
        let ttl = seen.ttl;
        if let Some((last, at)) = seen.last.get_mut(sender) {
            if now.saturating_duration_since(*at) <= ttl {
                *at = now;
                if seq <= *last {
                    return false;
                }
                *last = seq;
                return true;
            }
        }
        if seen.last.len() >= seen.capacity {
            seen.last.retain(|_, (_, at)| now.saturating_duration_since(*at) <= ttl);
            if seen.last.len() >= seen.capacity {
                let oldest =
                    seen.last.iter().min_by_key(|(_, (_, at))| *at).map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    seen.last.remove(&k);
                }
            }
        }
        seen.last.insert(sender.to_owned(), (seq, now));
        true
    }

    /// The last sequence number accepted from `sender`.
    ///
    /// ```
    /// use switchboard::Dedupe;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let seen = Dedupe::default();
    /// assert_eq!(seen.last_seen("a"), None);
    /// seen.first_time("a", 3);
    /// seen.first_time("a", 2); // a repeat: not accepted
    /// assert_eq!(seen.last_seen("a"), Some(3));
    /// # }
    /// ```
    pub fn last_seen(&self, sender: &str) -> Option<u64> {
        self.lock().last.get(sender).map(|(seq, _)| *seq)
    }

    /// The number of senders remembered.
    ///
    /// ```
    /// use switchboard::Dedupe;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let seen = Dedupe::default();
    /// seen.first_time("a", 1);
    /// seen.first_time("a", 2);
    /// seen.first_time("b", 1);
    /// assert_eq!(seen.len(), 2); // senders, not messages
    /// # }
    /// ```
    pub fn len(&self) -> usize {
        self.lock().last.len()
    }

    /// Whether no sender is remembered.
    ///
    /// ```
    /// use switchboard::Dedupe;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let seen = Dedupe::default();
    /// assert!(seen.is_empty());
    /// seen.first_time("a", 1);
    /// assert!(!seen.is_empty());
    /// # }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn forgets_after_ttl_and_past_capacity() {
        let seen = Dedupe::new(Duration::from_secs(10), 2);
        assert!(seen.first_time("a", 5));
        assert!(!seen.first_time("a", 3), "older than the last one");
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(seen.first_time("a", 3), "forgotten after the ttl");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(seen.first_time("b", 1));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(seen.first_time("c", 1));
        assert_eq!(seen.len(), 2, "capacity");
        assert_eq!(seen.last_seen("a"), None, "the least recently seen went");
        assert_eq!(seen.last_seen("c"), Some(1));
    }
}
