//! The streams adapter's reader and writer tasks, one of each per factory.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::driver::{DriverError, SharedDriver};
use crate::sharded::random_id;
use crate::streams::{Hub, StreamsAdapterOptions, WRITE_BATCH, Write};
use crate::streams_wire::{Dedup, SEQ_FIELD, id_after, seq_of, seq_value};

/// The first pause before adding entries again after a failure; it doubles up to the last.
const RETRY_PAUSES: (Duration, Duration) = (Duration::from_millis(10), Duration::from_millis(500));

/// Entries read per `XRANGE` when looking for what a failed pipeline added.
const SCAN_BATCH: usize = 1000;

/// The writer task's state: the entries not yet added, in order, each numbered (`seq`) once
/// for all, and how the last attempt went.
struct Writer {
    driver: SharedDriver,
    options: StreamsAdapterOptions,
    queued: Arc<AtomicUsize>,
    rx: mpsc::UnboundedReceiver<Write>,
    /// This writer's id in the `seq` field.
    id: String,
    /// The number of the next entry.
    next: u64,
    entries: VecDeque<Write>,
    /// The id of the last entry Redis confirmed.
    last_added: Option<String>,
    /// Redis does not take the entries (since the last failure).
    failing: bool,
    /// A pipeline failed after it may have been sent: look for what it added first.
    verify: bool,
    /// Every sender is gone (the factory was dropped).
    closed: bool,
    pause: Duration,
}

/// Adds the queued entries, in order, a pipeline at a time. While Redis does not take them,
/// they stay in the queue (bounded by `queue_cap`, see `Hub::write`), their local part runs at
/// once, and the writer tries again (10 ms doubling up to 500 ms) from the oldest entry not
/// added. A pipeline that failed may have been applied in part: before sending again, the
/// writer reads the stream after the last entry it knows was added and drops from its queue
/// the entries found there (by their `seq` number); should it miss one, readers drop the
/// repeat.
pub(crate) async fn write_loop(
    driver: SharedDriver,
    options: StreamsAdapterOptions,
    queued: Arc<AtomicUsize>,
    rx: mpsc::UnboundedReceiver<Write>,
) {
    let writer = Writer {
        driver,
        options,
        queued,
        rx,
        id: random_id(),
        next: 0,
        entries: VecDeque::new(),
        last_added: None,
        failing: false,
        verify: false,
        closed: false,
        pause: RETRY_PAUSES.0,
    };
    writer.run().await;
}

impl Writer {
    async fn run(mut self) {
        let mut batch = Vec::with_capacity(WRITE_BATCH);
        loop {
            if self.entries.is_empty() {
                if self.closed || self.rx.recv_many(&mut batch, WRITE_BATCH).await == 0 {
                    return;
                }
                for write in batch.drain(..) {
                    self.push(write);
                }
            }
            while self.entries.len() < WRITE_BATCH {
                let Ok(write) = self.rx.try_recv() else { break };
                self.push(write);
            }
            if let Err(e) = self.attempt().await {
                if self.closed {
                    let dropped = self.entries.len();
                    tracing::warn!(error = %e, dropped, "redis stream not writable at shutdown: entries dropped");
                    self.queued.fetch_sub(dropped, Ordering::SeqCst);
                    return;
                }
                self.wait(&e).await;
            }
        }
    }

    /// Numbers `write` and puts it last; while Redis is away its `then` runs now, so that the
    /// local sockets get a broadcast at once.
    fn push(&mut self, mut write: Write) {
        write.fields.push((SEQ_FIELD.to_owned(), seq_value(&self.id, self.next)));
        self.next += 1;
        if let Some(then) = write.then.take_if(|_| self.failing) {
            then(Ok(None));
        }
        self.entries.push_back(write);
    }

    /// Adds the first entries of the queue (after checking what a failed pipeline added).
    async fn attempt(&mut self) -> Result<(), DriverError> {
        if self.verify {
            let found = self.last_number().await?;
            self.verify = false;
            let first = self.next - self.entries.len() as u64;
            let added = found.map_or(0, |n| (n + 1).saturating_sub(first));
            let added = usize::try_from(added).unwrap_or(usize::MAX).min(self.entries.len());
            if added > 0 {
                tracing::debug!(added, "entries of a failed pipeline were added: not sent again");
                self.queued.fetch_sub(added, Ordering::SeqCst);
                for write in self.entries.drain(..added) {
                    if let Some(then) = write.then {
                        then(Ok(None));
                    }
                }
            }
        }
        let n = self.entries.len().min(WRITE_BATCH);
        if n > 0 {
            let entries = self.entries.iter().take(n).map(|w| w.fields.clone()).collect();
            let stream = self.options.stream_name.clone();
            self.verify = true;
            let ids = self.driver.xadd(stream, self.options.max_len, entries).await?;
            if ids.len() != n {
                return Err(DriverError::BadReply("XADD"));
            }
            self.verify = false;
            for (write, id) in self.entries.drain(..n).zip(&ids) {
                self.queued.fetch_sub(1, Ordering::SeqCst);
                if let Some(then) = write.then {
                    then(Ok(Some(id)));
                }
            }
            self.last_added = ids.last().cloned();
        }
        if self.failing {
            let waiting = self.entries.len();
            tracing::info!(
                waiting,
                "redis stream writable again: the entries that waited were added"
            );
            self.failing = false;
            self.pause = RETRY_PAUSES.0;
        }
        Ok(())
    }

    /// The number of this writer's last entry in the stream after `last_added` (the whole
    /// stream when none was confirmed yet), reading at most about `max_len` entries. (`&mut`:
    /// the writer is not `Sync`.)
    async fn last_number(&mut self) -> Result<Option<u64>, DriverError> {
        let stream = &self.options.stream_name;
        let mut start =
            self.last_added.as_deref().and_then(id_after).unwrap_or_else(|| "-".to_owned());
        let mut found = None;
        for _ in 0..self.options.max_len / SCAN_BATCH + 2 {
            let entries =
                self.driver.xrange(stream.clone(), start, "+".to_owned(), SCAN_BATCH).await?;
            for entry in &entries {
                match seq_of(entry) {
                    Some((writer, n)) if writer == self.id => found = Some(n),
                    _ => {}
                }
            }
            match entries.last().and_then(|e| id_after(&e.id)) {
                Some(next) if entries.len() == SCAN_BATCH => start = next,
                _ => break,
            }
        }
        Ok(found)
    }

    /// After a failure: logs once, lets the waiting entries' local part run, and waits before
    /// trying again, taking the entries written meanwhile.
    async fn wait(&mut self, error: &DriverError) {
        if !self.failing {
            tracing::warn!(error = %error, "redis stream not writable: entries wait for redis (local sockets get them now)");
            self.failing = true;
        }
        for write in &mut self.entries {
            if let Some(then) = write.then.take() {
                then(Ok(None));
            }
        }
        let wait = tokio::time::sleep(self.pause);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                () = &mut wait => break,
                write = self.rx.recv() => match write {
                    Some(write) => self.push(write),
                    None => {
                        self.closed = true;
                        (&mut wait).await;
                        break;
                    }
                },
            }
        }
        self.pause = (self.pause * 2).min(RETRY_PAUSES.1);
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
