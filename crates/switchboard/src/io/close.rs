//! Graceful shutdown with a drain: [`SocketIo::close`] and [`SocketIo::close_within`].

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::{SocketIo, lock};
use crate::Namespace;
use crate::client::Client;

/// How often the drain looks again whether the handlers that were running have finished.
const SETTLE_POLL: Duration = Duration::from_millis(5);

/// How a [`SocketIo::close_within`] went: each step says whether it finished in time.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let io = switchboard::SocketIo::new(Default::default());
/// let report = io.close_within(std::time::Duration::from_secs(5)).await;
/// assert!(report.is_complete());
/// assert!(report.settled && report.drained && report.stopped);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CloseReport {
    /// Every packet handler running when the close began ended before the connections were
    /// closed, so the acks they answered were sent.
    pub settled: bool,
    /// Every connection closed after what was queued for it was written, and every
    /// `disconnect` handler ran.
    pub drained: bool,
    /// Every [`SocketIo::serve`] dropped its listener.
    pub stopped: bool,
}

impl CloseReport {
    /// Whether every step finished within the deadline.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let io = switchboard::SocketIo::new(Default::default());
    /// assert!(io.close_within(std::time::Duration::from_secs(1)).await.is_complete());
    /// # }
    /// ```
    pub fn is_complete(&self) -> bool {
        self.settled && self.drained && self.stopped
    }
}

impl SocketIo {
    /// Graceful shutdown within [`SocketIo::CLOSE_GRACE`]: [`SocketIo::close_within`] with
    /// that deadline.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::{TestClient, TestError};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let (tx, mut reasons) = tokio::sync::mpsc::unbounded_channel();
    /// io.on_connection(move |socket: Socket| {
    ///     let tx = tx.clone();
    ///     async move {
    ///         socket.on_disconnect(move |reason: DisconnectReason| {
    ///             let _ = tx.send(reason);
    ///             async {}
    ///         });
    ///     }
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// io.emit("bye", "see you").await?;
    /// io.close().await; // returns once the disconnect handlers ran
    /// assert_eq!(reasons.try_recv()?, DisconnectReason::ServerShuttingDown);
    /// // What was emitted before the close is delivered, then the connection closes.
    /// assert_eq!(client.recv().await?.data::<String>()?, "see you");
    /// assert!(matches!(client.recv().await, Err(TestError::Closed)));
    /// assert!(matches!(TestClient::connect(&io).await, Err(TestError::Closed)));
    /// # Ok(()) }
    /// ```
    pub async fn close(&self) {
        let report = self.close_within(Self::CLOSE_GRACE).await;
        if !report.is_complete() {
            tracing::warn!(?report, "close: the drain did not finish within the grace period");
        }
    }

    /// Graceful shutdown with a drain, all within `limit`:
    ///
    /// 1. New connections and namespace joins are refused from now on
    ///    ([`SocketIo::is_closing`] turns true).
    /// 2. Packet handlers running now may finish, for at most half of `limit`, so that the
    ///    acks they answer are sent (new packets are still handled meanwhile).
    /// 3. Every connection is closed after what is already queued for it: every packet
    ///    emitted before this call is written, then the transport closes (the client sees
    ///    `transport close`). Acks the server still waits for from clients fail at once; every
    ///    socket is disconnected with `server shutting down` and its `disconnect` handlers run.
    /// 4. [`SocketIo::serve`] stops accepting and drops its listener.
    ///
    /// It returns once all of that is done, or when `limit` has passed (handlers still running
    /// then go on in the background); the [`CloseReport`] says which steps finished in time.
    /// A WebSocket's last writes may take up to the engine's `ping_timeout` to reach a slow
    /// client, and a long-polling client fetches its last packets with its next GET: a
    /// `limit` below those bounds can cut them off.
    ///
    /// The listener stays open while the connections close: a long-polling client between
    /// two requests comes back on a new TCP connection to fetch its close packet, and sees a
    /// clean `transport close` rather than a refused connection.
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let server = io.clone();
    /// io.on_connection(move |socket: Socket| {
    ///     let io = server.clone();
    ///     async move {
    ///         socket.on("slow", move || {
    ///             let io = io.clone();
    ///             async move {
    ///                 // The server starts closing while this handler still works.
    ///                 tokio::spawn(async move { io.close_within(Duration::from_secs(5)).await });
    ///                 tokio::time::sleep(Duration::from_millis(300)).await;
    ///                 Ok::<_, HandlerError>("done")
    ///             }
    ///         })
    ///     }
    /// });
    /// let mut client = TestClient::connect(&io).await?;
    /// // The handler's answer still reaches the client: the close let it finish first.
    /// assert_eq!(client.emit_with_ack("slow", &()).await?.data::<String>()?, "done");
    /// # Ok(()) }
    /// ```
    pub async fn close_within(&self, limit: Duration) -> CloseReport {
        let start = Instant::now();
        let deadline = start.checked_add(limit).unwrap_or_else(far_future);
        self.inner.closing.store(true, Ordering::SeqCst);

        let settle_by = start.checked_add(limit / 2).unwrap_or_else(far_future);
        let settled = self.settle(settle_by).await;

        // Every engine session, joined to a namespace or not, then every connection with a
        // socket (the engine's, and the in-process ones of `testing`). Each closes after what
        // is queued for it.
        self.engine.close();
        for ns in self.namespaces() {
            ns.shut_down().await;
        }
        let drain = async {
            tokio::join!(self.inner.all_clients_finished(), self.engine.drained());
        };
        let drained = tokio::time::timeout_at(deadline, drain).await.is_ok();

        self.inner.shutdown.send_replace(true);
        // Until every `serve` dropped its listener (bounded: a `serve` future nobody polls
        // anymore must not hold up the shutdown).
        let mut serving = self.inner.serving.subscribe();
        let stopped = tokio::time::timeout_at(deadline, serving.wait_for(|n| *n == 0))
            .await
            .is_ok_and(|r| r.is_ok());
        CloseReport { settled, drained, stopped }
    }

    /// Whether [`SocketIo::close`] (or [`SocketIo::close_within`]) was called: new
    /// connections are refused from then on. A readiness probe answers "not ready" then.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let io = switchboard::SocketIo::new(Default::default());
    /// assert!(!io.is_closing());
    /// io.close().await;
    /// assert!(io.is_closing());
    /// # }
    /// ```
    pub fn is_closing(&self) -> bool {
        self.inner.closing.load(Ordering::SeqCst)
    }

    /// The deadline of [`SocketIo::close`].
    ///
    /// ```
    /// assert_eq!(switchboard::SocketIo::CLOSE_GRACE.as_secs(), 10);
    /// ```
    pub const CLOSE_GRACE: Duration = Duration::from_secs(10);

    pub(crate) fn namespaces(&self) -> Vec<Namespace> {
        lock(&self.inner.namespaces).values().cloned().collect()
    }

    /// Waits, until `by`, for the packet handlers running now to end; whether they did.
    async fn settle(&self, by: Instant) -> bool {
        let mut busy: Vec<Arc<Client>> = Vec::new();
        for ns in self.namespaces() {
            for socket in ns.sockets() {
                let client = socket.client();
                if client.is_busy() && !busy.iter().any(|c| Arc::ptr_eq(c, client)) {
                    busy.push(client.clone());
                }
            }
        }
        loop {
            busy.retain(|c| c.is_busy());
            if busy.is_empty() {
                return true;
            }
            let now = Instant::now();
            if now >= by {
                return false;
            }
            // No wake-up exists for "a handler ended" (that would cost every packet); a
            // shutdown can afford to look a few times.
            tokio::time::sleep_until(by.min(now + SETTLE_POLL)).await;
        }
    }
}

/// A deadline no shutdown reaches (for a `limit` too large to add to now).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}
