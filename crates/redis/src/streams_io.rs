//! The streams adapter's reader and writer tasks, one of each per factory.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::driver::{DriverError, SharedDriver};
use crate::sharded::random_id;
use crate::streams::{Hub, StreamsAdapterOptions, WRITE_BATCH, Write};
use crate::streams_wire::{Dedup, SEQ_FIELD, seq_value};

/// The first pause before adding entries again after a failure; it doubles up to the last.
const RETRY_PAUSES: (Duration, Duration) = (Duration::from_millis(10), Duration::from_millis(500));

/// The writer's entries not yet added, in order, each numbered (`seq`) once for all.
struct Queue {
    writer: String,
    next: u64,
    entries: VecDeque<Write>,
}

impl Queue {
    /// Numbers `write` and puts it last; while Redis is away its `then` runs now, so that the
    /// local sockets get a broadcast at once.
    fn push(&mut self, mut write: Write, failing: bool) {
        write.fields.push((SEQ_FIELD.to_owned(), seq_value(&self.writer, self.next)));
        self.next += 1;
        if let Some(then) = write.then.take_if(|_| failing) {
            then(Ok(None));
        }
        self.entries.push_back(write);
    }
}

/// Adds the queued entries, in order, a pipeline at a time. While Redis does not take them,
/// they stay in the queue (bounded by `queue_cap`, see `Hub::write`), their local part runs at
/// once, and the writer tries again (10 ms doubling up to 500 ms) from the oldest entry not
/// added. A pipeline that failed may have been applied in part: the entries added again carry
/// the same numbers, and readers drop the repeats.
pub(crate) async fn write_loop(
    driver: SharedDriver,
    options: StreamsAdapterOptions,
    queued: Arc<AtomicUsize>,
    mut rx: mpsc::UnboundedReceiver<Write>,
) {
    let mut queue = Queue { writer: random_id(), next: 0, entries: VecDeque::new() };
    let (mut failing, mut closed) = (false, false);
    let mut pause = RETRY_PAUSES.0;
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    loop {
        if queue.entries.is_empty() {
            if closed || rx.recv_many(&mut batch, WRITE_BATCH).await == 0 {
                return;
            }
            for write in batch.drain(..) {
                queue.push(write, failing);
            }
        }
        while queue.entries.len() < WRITE_BATCH {
            let Ok(write) = rx.try_recv() else { break };
            queue.push(write, failing);
        }
        let n = queue.entries.len().min(WRITE_BATCH);
        let entries = queue.entries.iter().take(n).map(|w| w.fields.clone()).collect();
        let stream = options.stream_name.clone();
        let result = driver.xadd(stream, options.max_len, entries).await.and_then(|ids| {
            if ids.len() == n { Ok(ids) } else { Err(DriverError::BadReply("XADD")) }
        });
        match result {
            Ok(ids) => {
                if failing {
                    let waiting = queue.entries.len();
                    tracing::info!(
                        waiting,
                        "redis stream writable again: adding the entries that waited"
                    );
                    failing = false;
                    pause = RETRY_PAUSES.0;
                }
                for (write, id) in queue.entries.drain(..n).zip(&ids) {
                    queued.fetch_sub(1, Ordering::SeqCst);
                    if let Some(then) = write.then {
                        then(Ok(Some(id)));
                    }
                }
            }
            Err(e) => {
                if closed {
                    let dropped = queue.entries.len();
                    tracing::warn!(error = %e, dropped, "redis stream not writable at shutdown: entries dropped");
                    queued.fetch_sub(dropped, Ordering::SeqCst);
                    return;
                }
                if !failing {
                    tracing::warn!(error = %e, "redis stream not writable: entries wait for redis (local sockets get them now)");
                    failing = true;
                }
                for write in &mut queue.entries {
                    if let Some(then) = write.then.take() {
                        then(Ok(None));
                    }
                }
                // Waits before trying again, taking the entries written meanwhile.
                let wait = tokio::time::sleep(pause);
                tokio::pin!(wait);
                loop {
                    tokio::select! {
                        () = &mut wait => break,
                        write = rx.recv() => match write {
                            Some(write) => queue.push(write, true),
                            None => {
                                closed = true;
                                (&mut wait).await;
                                break;
                            }
                        },
                    }
                }
                pause = (pause * 2).min(RETRY_PAUSES.1);
            }
        }
    }
}

/// Reads the stream from its end at start, then from the last entry seen, forever; after an
/// error it waits (100 ms doubling up to 2 s) and goes on from the same entry, so that what
/// was added meanwhile and is still in the stream is read.
pub(crate) async fn read_loop(hub: Weak<Hub>) {
    let Some((driver, options)) = hub.upgrade().map(|h| (h.driver.clone(), h.options.clone()))
    else {
        return;
    };
    let (mut last, mut failing) = (None::<String>, false);
    // Entries added again after a lost reply are read once.
    let mut dedup = Dedup::default();
    let mut backoff = Duration::from_millis(100);
    loop {
        let step = match &last {
            None => driver.xlast(options.stream_name.clone()).await.map(|id| {
                last = Some(id.unwrap_or_else(|| "0-0".to_owned()));
                Vec::new()
            }),
            Some(after) => {
                let stream = options.stream_name.clone();
                driver.xread(stream, after.clone(), options.read_count, options.block_time).await
            }
        };
        let Some(hub) = hub.upgrade() else { return };
        match step {
            Ok(entries) => {
                if failing {
                    tracing::info!(after = ?last, "reading the redis stream again");
                    failing = false;
                }
                backoff = Duration::from_millis(100);
                hub.reading.send_if_modified(|r| !std::mem::replace(r, true));
                for entry in &entries {
                    if dedup.fresh(entry) {
                        hub.dispatch(entry);
                    }
                    last = Some(entry.id.clone());
                }
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, after = ?last, "redis stream unreadable; retrying");
                    failing = true;
                }
                drop(hub);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}
