//! The uploads in progress on this node: their records (in the app store, so a restart resumes
//! them), their part files under `<data dir>/files/<room>/`, the idle sweep and the expiry of
//! uploads left by an earlier run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::apps::{ApiError, AppStore};
use crate::auth::User;

/// Unfinished uploads one user may have at once.
pub(super) const MAX_OPEN_UPLOADS: usize = 4;
/// How long an upload may go without a chunk before it is dropped with its part.
pub(super) const UPLOAD_IDLE: Duration = Duration::from_secs(3600);
/// How often the uploads left from before a restart are looked at.
pub(crate) const EXPIRE_EVERY: Duration = Duration::from_secs(600);

/// The app-store collection of unfinished uploads.
pub(super) const UPLOADS: &str = "uploads";

/// An unfinished upload, as kept in the app store (to resume after a restart).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UploadRecord {
    pub(super) user_id: String,
    pub(super) username: String,
    pub(super) room_id: String,
    pub(super) name: String,
    pub(super) kind: String,
    pub(super) size: u64,
    pub(super) client_id: Option<String>,
    pub(super) thumbnail_type: Option<String>,
    /// When it started (ms since the Unix epoch).
    #[serde(default)]
    pub(super) started_ms: Option<i64>,
}

/// An unfinished upload on this node.
#[derive(Debug)]
pub(super) struct Upload {
    pub(super) id: String,
    pub(super) record: UploadRecord,
    /// Bytes in the part file.
    pub(super) received: u64,
    /// Last activity, for the idle sweep.
    pub(super) touched: Instant,
}

/// The uploads of this node.
pub(crate) struct Uploads {
    /// `<data dir>/files`.
    pub(super) dir: PathBuf,
    /// Every file's bytes go to the database (PostgreSQL: the nodes share it).
    pub(super) all_in_database: bool,
    pub(super) max_size: u64,
    pub(super) types: Vec<String>,
    pub(super) store: AppStore,
    // Upload id → its state. The map's lock is held for lookups only; each upload's own lock
    // is held across the write of a chunk, so two connections resuming one upload cannot
    // interleave their bytes. Both are touched by the `file:*` handlers only.
    pub(super) open: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Upload>>>>,
}

impl std::fmt::Debug for Uploads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploads").field("dir", &self.dir).finish_non_exhaustive()
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section leaves the map consistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Uploads {
    /// The uploads under `data_dir/files`.
    pub(crate) fn new(
        data_dir: &Path,
        all_in_database: bool,
        max_size: u64,
        types: Vec<String>,
        store: AppStore,
    ) -> Uploads {
        Uploads {
            dir: data_dir.join("files"),
            all_in_database,
            max_size,
            types,
            store,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// The folder of a room's files.
    pub(super) fn room_dir(&self, room_id: &str) -> PathBuf {
        self.dir.join(room_folder(room_id))
    }

    pub(super) fn part_path(&self, room_id: &str, upload_id: &str) -> PathBuf {
        self.room_dir(room_id).join(format!("{upload_id}.part"))
    }

    pub(super) fn thumb_path(&self, room_id: &str, upload_id: &str) -> PathBuf {
        self.room_dir(room_id).join(format!("{upload_id}.thumb"))
    }

    /// Where a finished file's bytes are when not in the database.
    pub(crate) fn file_path(&self, room_id: &str, file_id: &str) -> PathBuf {
        self.room_dir(room_id).join(file_id)
    }

    pub(super) fn allowed(&self, kind: &str) -> bool {
        self.types.iter().any(|t| match t.strip_suffix("/*") {
            Some(prefix) => kind.split_once('/').is_some_and(|(k, _)| k == prefix),
            None => t == kind,
        })
    }

    /// The upload `id` of `user`: from this node's map, or from the store after a restart
    /// (its offset is then what the part file on this disk holds).
    pub(super) async fn find(
        &self,
        id: &str,
        user: &User,
    ) -> Result<Arc<tokio::sync::Mutex<Upload>>, ApiError> {
        let found = lock(&self.open).get(id).cloned();
        let upload = match found {
            Some(upload) => upload,
            None => {
                let Some(record) = self.store.get::<UploadRecord>(UPLOADS, id).await? else {
                    return Err(unknown_upload());
                };
                let part = self.part_path(&record.room_id, id);
                let received = match tokio::fs::metadata(&part).await {
                    Ok(meta) => meta.len().min(record.size),
                    Err(_) => {
                        // Started on another node, or the part is gone: start it over here.
                        create_part(&part).await?;
                        0
                    }
                };
                let upload =
                    Upload { id: id.to_owned(), record, received, touched: Instant::now() };
                let upload = Arc::new(tokio::sync::Mutex::new(upload));
                lock(&self.open).entry(id.to_owned()).or_insert(upload).clone()
            }
        };
        if upload.lock().await.record.user_id != user.id {
            return Err(unknown_upload());
        }
        Ok(upload)
    }

    /// Forgets an upload and removes its part and thumbnail.
    pub(super) async fn drop_upload(&self, id: &str, record: &UploadRecord) {
        lock(&self.open).remove(id);
        let _ = tokio::fs::remove_file(self.part_path(&record.room_id, id)).await;
        let _ = tokio::fs::remove_file(self.thumb_path(&record.room_id, id)).await;
        if let Err(error) = self.store.delete(UPLOADS, id).await {
            tracing::warn!(%error, "upload record not removed");
        }
    }

    /// Drops the recorded uploads whose part on this disk has not changed for longer than
    /// [`UPLOAD_IDLE`] (those of a run before a restart, never resumed), and the records
    /// whose part is on no disk of ours for as long; how many were dropped.
    pub(crate) async fn expire_stale(&self) -> Result<usize, ApiError> {
        let records = self.store.list::<UploadRecord>(UPLOADS).await?;
        let mut dropped = 0;
        for (id, record) in records {
            if lock(&self.open).contains_key(&id) {
                continue; // live on this node: the idle sweep decides
            }
            let part = self.part_path(&record.room_id, &id);
            let idle = match tokio::fs::metadata(&part).await.and_then(|m| m.modified()) {
                Ok(modified) => modified.elapsed().unwrap_or_default(),
                // No part here: started on another node (which keeps its own), or gone.
                // Its record goes once it is older than an idle upload may be.
                Err(_) => match record.started_ms {
                    Some(started) => {
                        let age = crate::store::now_ms().saturating_sub(started);
                        Duration::from_millis(u64::try_from(age).unwrap_or(0))
                    }
                    None => UPLOAD_IDLE + UPLOAD_IDLE,
                },
            };
            if idle > UPLOAD_IDLE {
                self.drop_upload(&id, &record).await;
                dropped += 1;
            }
        }
        Ok(dropped)
    }

    /// Drops the uploads idle for longer than [`UPLOAD_IDLE`]; how many `user_id` still has.
    pub(super) async fn sweep(&self, user_id: &str) -> usize {
        let all: Vec<_> = lock(&self.open).values().cloned().collect();
        let mut mine = 0;
        for upload in all {
            let upload = upload.lock().await;
            if upload.touched.elapsed() > UPLOAD_IDLE {
                self.drop_upload(&upload.id, &upload.record).await;
            } else if upload.record.user_id == user_id {
                mine += 1;
            }
        }
        mine
    }
}

/// A room's folder name: its safe characters and a hash of the whole id (room ids are any
/// text of up to 64 characters).
pub(super) fn room_folder(room_id: &str) -> String {
    let slug: String = room_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(40)
        .collect();
    // FNV-1a, 64 bits: stable across versions and platforms.
    let hash = room_id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{slug}-{hash:016x}")
}

pub(super) async fn create_part(path: &Path) -> Result<(), ApiError> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(io_error)?;
    }
    tokio::fs::File::create(path).await.map_err(io_error)?;
    Ok(())
}

pub(super) fn io_error(error: std::io::Error) -> ApiError {
    tracing::error!(%error, "file storage failed");
    ApiError::new("storage_failed", "the server could not store the file, retry later")
}

pub(super) fn unknown_upload() -> ApiError {
    ApiError::new("unknown_upload", "no such upload (it finished, expired or is not yours)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{new_id, now_ms};

    #[test]
    fn room_folders_are_safe() {
        let a = room_folder("général/../x");
        assert!(a.starts_with("gnralx-"), "{a}");
        assert!(!a.contains('/') && !a.contains('.'));
        assert_ne!(room_folder("a b"), room_folder("a_b"));
        assert_eq!(room_folder("same"), room_folder("same"));
    }

    #[tokio::test]
    async fn uploads_left_by_an_earlier_run_expire_after_an_idle_hour() {
        use crate::store::{SqliteStorage, Store};
        let (store, thread) = Store::open(SqliteStorage::memory).await.unwrap();
        let store = store.unwrap();
        let dir = std::env::temp_dir().join(format!("sb-uploads-{}", new_id()));
        let uploads = Uploads::new(&dir, false, 1000, vec![], AppStore::new(store.clone(), "chat"));
        let record = |started_ms| UploadRecord {
            user_id: "ann".into(),
            username: "ann".into(),
            room_id: "r".into(),
            name: "a.txt".into(),
            kind: "text/plain".into(),
            size: 10,
            client_id: None,
            thumbnail_type: None,
            started_ms: Some(started_ms),
        };
        let hours_ago = |h: u64| std::time::SystemTime::now() - Duration::from_secs(h * 3600);
        // Fresh part, old part, no part but recent, no part and old.
        for (id, part_age) in [("fresh", Some(0)), ("old", Some(2))] {
            uploads.store.put(UPLOADS, id, &record(now_ms())).await.unwrap();
            let part = uploads.part_path("r", id);
            create_part(&part).await.unwrap();
            let file = std::fs::File::options().write(true).open(&part).unwrap();
            file.set_modified(hours_ago(part_age.unwrap())).unwrap();
        }
        uploads.store.put(UPLOADS, "elsewhere", &record(now_ms())).await.unwrap();
        let two_hours = i64::try_from(Duration::from_secs(7200).as_millis()).unwrap();
        uploads.store.put(UPLOADS, "gone", &record(now_ms() - two_hours)).await.unwrap();

        assert_eq!(uploads.expire_stale().await.unwrap(), 2);
        let left: Vec<String> = uploads
            .store
            .list::<UploadRecord>(UPLOADS)
            .await
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(left, ["elsewhere", "fresh"]);
        assert!(uploads.part_path("r", "fresh").exists());
        assert!(!uploads.part_path("r", "old").exists());
        store.close().await.unwrap();
        thread.join().unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }
}
