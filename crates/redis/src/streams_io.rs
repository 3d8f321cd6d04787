//! The streams adapter's reader and writer tasks, one of each per factory.

use std::sync::Weak;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::driver::{DriverError, SharedDriver};
use crate::streams::{Hub, StreamsAdapterOptions, WRITE_BATCH, Write};

/// Adds the queued entries, in order, a pipeline at a time. A failed pipeline is retried
/// (10 ms doubling up to 200 ms) for `outage_wait`, unless the previous one failed too.
pub(crate) async fn write_loop(
    driver: SharedDriver,
    options: StreamsAdapterOptions,
    mut rx: mpsc::UnboundedReceiver<Write>,
) {
    let mut failing = false;
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while rx.recv_many(&mut batch, WRITE_BATCH).await > 0 {
        let (entries, thens): (Vec<_>, Vec<_>) =
            batch.drain(..).map(|w| (w.fields, w.then)).unzip();
        let stream = options.stream_name.clone();
        let mut result = driver.xadd(stream.clone(), options.max_len, entries.clone()).await;
        if result.is_err() && !failing {
            let deadline = Instant::now() + options.outage_wait;
            let mut pause = Duration::from_millis(10);
            while result.is_err() && Instant::now() < deadline {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(200));
                result = driver.xadd(stream.clone(), options.max_len, entries.clone()).await;
            }
        }
        match &result {
            Ok(_) if failing => {
                tracing::info!("redis stream writable again");
                failing = false;
            }
            Err(e) if !failing => {
                tracing::warn!(error = %e, "redis stream not writable: entries reach local sockets only");
                failing = true;
            }
            _ => {}
        }
        for (i, then) in thens.into_iter().enumerate() {
            let Some(then) = then else { continue };
            match &result {
                Ok(ids) => match ids.get(i) {
                    Some(id) => then(Ok(id)),
                    None => then(Err(&DriverError::BadReply("XADD"))),
                },
                Err(e) => then(Err(e)),
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
                    hub.dispatch(entry);
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
