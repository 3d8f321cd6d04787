//! Persistence: the [`Storage`] trait (synchronous, one implementation per database: SQLite,
//! the embedded default, and PostgreSQL, shared by the nodes of a cluster) and the [`Store`]
//! handle the async code uses.
//!
//! One dedicated thread owns the database connection. Async callers send it jobs over a
//! channel; the thread takes every job waiting (up to [`MAX_BATCH`]), runs them in one
//! transaction (each inside its own savepoint, so a failing job does not undo the others),
//! commits, and only then answers each caller: an acknowledged write is a committed write.

#[cfg(test)]
mod conformance;
mod model;
mod postgres;
mod schema;
mod sqlite;
#[cfg(test)]
mod test_postgres;

use std::sync::mpsc;
use std::thread::JoinHandle;

pub(crate) use model::{FileInfo, Member, Message, Notification, PrivateMessage, StoredFile};
pub(crate) use postgres::PostgresStorage;
pub(crate) use schema::AppMigrations;
pub(crate) use sqlite::SqliteStorage;
use tokio::sync::oneshot;

/// The most jobs committed in one transaction.
pub(crate) const MAX_BATCH: usize = 256;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum StoreError {
    /// The database reported an error.
    #[error("database error")]
    Database(#[source] rusqlite::Error),
    /// PostgreSQL reported an error, or the connection failed.
    #[error("database error")]
    Postgres(#[source] ::postgres::Error),
    /// The database file could not be prepared.
    #[error("cannot open the database")]
    Open(#[source] std::io::Error),
    /// The store thread is gone (the server is shutting down).
    #[error("the store is closed")]
    Closed,
    /// The batch this operation ran in could not be committed.
    #[error("the transaction could not be committed")]
    CommitFailed,
    /// The database could not be reached to start the batch this operation was in; it was
    /// not run.
    #[error("the database is unavailable")]
    Unavailable,
    /// A stored app value is not the JSON its reader expects (or a value cannot be written
    /// as JSON).
    #[error("a stored value is not valid JSON for its type")]
    Json(#[source] serde_json::Error),
    /// The database was written by a newer version of the binary.
    #[error(
        "the database has schema version {found}, this binary knows {known}: upgrade the binary"
    )]
    NewerSchema {
        /// The database's version.
        found: i64,
        /// The newest version this binary knows.
        known: usize,
    },
}

impl StoreError {
    /// Whether the database could not be reached (as opposed to refusing the operation):
    /// the same request may succeed once it is back.
    pub(crate) fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable | StoreError::CommitFailed => true,
            StoreError::Postgres(e) => {
                let connection_class = e.as_db_error().is_some_and(|db| {
                    let code = db.code().code();
                    // 08: connection exception; 57P: the server is shutting down or starting.
                    code.starts_with("08") || code.starts_with("57P")
                });
                let io = std::error::Error::source(e)
                    .is_some_and(|source| source.downcast_ref::<std::io::Error>().is_some());
                e.is_closed() || connection_class || io
            }
            StoreError::Database(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy
                    | rusqlite::ErrorCode::DatabaseLocked
                    | rusqlite::ErrorCode::DiskFull
                    | rusqlite::ErrorCode::SystemIoFailure
            ),
            _ => false,
        }
    }
}

/// Fails when the database's schema `found` is newer than the `known` migrations.
pub(crate) fn check_version(found: i64, known: usize) -> Result<()> {
    if usize::try_from(found).is_ok_and(|found| found <= known) {
        return Ok(());
    }
    Err(StoreError::NewerSchema { found, known })
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e)
    }
}

impl From<::postgres::Error> for StoreError {
    fn from(e: ::postgres::Error) -> Self {
        StoreError::Postgres(e)
    }
}

/// A result of the store.
pub(crate) type Result<T> = std::result::Result<T, StoreError>;

/// The operations of a database: its batches here, each app's part in the app's module (the
/// supertraits). Runs on the store thread only; every method is one step of a job, inside the
/// batch's transaction.
pub(crate) trait Storage:
    crate::apps::chat::store::ChatStorage
    + crate::apps::notifications::store::NotificationStorage
    + crate::apps::store::AppData
    + Send
    + 'static
{
    /// Starts the batch transaction.
    fn begin(&mut self) -> Result<()>;
    /// Commits the batch transaction.
    fn commit(&mut self) -> Result<()>;
    /// Undoes the batch transaction (after a failed commit).
    fn rollback(&mut self);
    /// Starts a job.
    fn savepoint(&mut self) -> Result<()>;
    /// Keeps a job's writes.
    fn release(&mut self) -> Result<()>;
    /// Undoes a job's writes.
    fn rollback_to(&mut self) -> Result<()>;
    /// Writes buffered data out (at shutdown).
    fn flush(&mut self) -> Result<()>;
}

/// Answers a job's caller once the batch's commit outcome is known.
type Reply = Box<dyn FnOnce(Result<()>) + Send>;
/// A job: runs against the storage (or fails with the error that kept it from running);
/// whether it succeeded, and how to answer.
type Job =
    Box<dyn FnOnce(std::result::Result<&mut dyn Storage, StoreError>) -> (bool, Reply) + Send>;

enum Command {
    Job(Job),
    Close(oneshot::Sender<Result<()>>),
}

/// The async handle of the store thread. Cloning is cheap.
#[derive(Clone)]
pub(crate) struct Store {
    // Owned by every handle; the store thread owns the receiver and ends on `Close` or when
    // every handle is dropped.
    tx: mpsc::Sender<Command>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

impl Store {
    /// Starts the store thread and opens the database on it with `open` (a blocking driver
    /// must not run on the async runtime); the store once `open` succeeded, or its error.
    pub(crate) async fn open<S: Storage>(
        open: impl FnOnce() -> Result<S> + Send + 'static,
    ) -> std::io::Result<(Result<Store>, JoinHandle<()>)> {
        // Unbounded: each caller waits for its answer, so at most one job per pending request.
        let (tx, rx) = mpsc::channel();
        // The outcome of `open`, once.
        let (opened_tx, opened_rx) = oneshot::channel();
        // The thread owns the connection; it ends at once if `open` fails, else on `Close` or
        // when every `Store` is dropped.
        let thread =
            std::thread::Builder::new().name("store".to_owned()).spawn(move || match open() {
                Ok(storage) => {
                    let _ = opened_tx.send(Ok(()));
                    run(storage, rx);
                }
                Err(error) => {
                    let _ = opened_tx.send(Err(error));
                }
            })?;
        let opened = opened_rx.await.unwrap_or(Err(StoreError::Closed));
        Ok((opened.map(|()| Store { tx }), thread))
    }

    /// Runs `f` on the store thread; its result once the batch it ran in is committed.
    pub(crate) async fn call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Storage) -> Result<T> + Send + 'static,
    {
        let started = std::time::Instant::now();
        // One answer for one caller; dropped unanswered only if the thread is gone.
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |storage| {
            let outcome = storage.and_then(f);
            let ok = outcome.is_ok();
            let reply: Reply = Box::new(move |commit: Result<()>| {
                let _ = tx.send(commit.and(outcome));
            });
            (ok, reply)
        });
        self.tx.send(Command::Job(job)).map_err(|_| StoreError::Closed)?;
        let answer = rx.await.map_err(|_| StoreError::Closed)?;
        // From the request to its committed answer: queueing, the batch and the commit.
        let outcome = if answer.is_ok() { "ok" } else { "error" };
        metrics::histogram!("switchboard_store_seconds", "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        answer
    }

    /// Commits what is queued, flushes the database and stops the thread.
    pub(crate) async fn close(&self) -> Result<()> {
        // One answer: the flush outcome.
        let (tx, rx) = oneshot::channel();
        self.tx.send(Command::Close(tx)).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

/// The store thread: batches, commits, answers.
fn run(mut storage: impl Storage, rx: mpsc::Receiver<Command>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = Vec::new();
        let mut close = None;
        match first {
            Command::Job(job) => jobs.push(job),
            Command::Close(reply) => close = Some(reply),
        }
        while close.is_none() && jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Command::Job(job)) => jobs.push(job),
                Ok(Command::Close(reply)) => close = Some(reply),
                Err(_) => break,
            }
        }
        if !jobs.is_empty() {
            run_batch(&mut storage, jobs);
        }
        if let Some(reply) = close {
            let _ = reply.send(storage.flush());
            return;
        }
    }
    if let Err(error) = storage.flush() {
        tracing::error!(%error, "store flush failed");
    }
}

fn run_batch(storage: &mut impl Storage, jobs: Vec<Job>) {
    if let Err(error) = storage.begin() {
        tracing::error!(%error, "cannot start a transaction");
        // Nothing can be written: every caller is answered with the failure, unrun.
        let unavailable = error.is_unavailable();
        for job in jobs {
            let error =
                if unavailable { StoreError::Unavailable } else { StoreError::CommitFailed };
            let (_, reply) = job(Err(error));
            reply(Ok(()));
        }
        return;
    }
    let mut replies = Vec::with_capacity(jobs.len());
    for job in jobs {
        let saved = storage.savepoint();
        let dyn_storage: &mut dyn Storage = &mut *storage;
        let (ok, reply) = job(Ok(dyn_storage));
        if saved.is_ok() {
            // A failed job's partial writes are undone; the others' stay in the batch.
            if !ok && storage.rollback_to().is_err() {
                tracing::error!("cannot roll back a failed job");
            }
            if let Err(error) = storage.release() {
                tracing::error!(%error, "cannot release a savepoint");
            }
        }
        replies.push(reply);
    }
    let committed = match storage.commit() {
        Ok(()) => true,
        Err(error) => {
            tracing::error!(%error, "commit failed");
            storage.rollback();
            false
        }
    };
    for reply in replies {
        reply(if committed { Ok(()) } else { Err(StoreError::CommitFailed) });
    }
}

/// A message's file as stored (JSON).
pub(crate) fn file_json(file: &FileInfo) -> String {
    serde_json::to_string(file).unwrap_or_default()
}

/// A message's stored file; a value that does not read (never written by this binary) is
/// left out rather than failing the whole history.
pub(crate) fn file_of(text: &str) -> Option<FileInfo> {
    serde_json::from_str(text).ok()
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A new random id (128 bits, hex).
pub(crate) fn new_id() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn concurrent_jobs_commit_and_a_failing_job_is_undone_alone() {
        let (store, thread) = Store::open(SqliteStorage::memory).await.unwrap();
        let store = store.unwrap();
        store.call(|s| s.upsert_user("ann", "Ann", 1)).await.unwrap();
        let mut calls = Vec::new();
        for i in 0..50 {
            let store = store.clone();
            calls.push(tokio::spawn(async move {
                store.call(move |s| s.join_room(&format!("r{i}"), "ann", 1)).await
            }));
        }
        // A job that writes, then fails: its write is rolled back, the others stay.
        let failing = store
            .call(|s| {
                s.join_room("doomed", "ann", 1)?;
                s.join_room("x", "nobody", 1) // foreign key violation
            })
            .await;
        assert!(matches!(failing, Err(StoreError::Database(_))), "{failing:?}");
        for call in calls {
            assert!(call.await.unwrap().unwrap());
        }
        let rooms = store.call(|s| s.user_rooms("ann")).await.unwrap();
        assert_eq!(rooms.len(), 50);
        assert!(!rooms.contains(&"doomed".to_owned()));
        store.close().await.unwrap();
        thread.join().unwrap();
        assert!(matches!(store.call(|s| s.user_rooms("ann")).await, Err(StoreError::Closed)));
    }
}
