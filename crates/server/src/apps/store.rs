//! An app's slice of the store: documents (a key → JSON value map per collection) and logs
//! (numbered JSON entries), in two tables keyed by the app's name that both databases have.
//! Apps that need no SQL of their own keep their state here.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store::{Store, StoreError, now_ms};

/// The documents and logs every app may keep (JSON text), keyed by app name; each database
/// implements it in `crate::store`.
pub(crate) trait AppData {
    /// Stores a document (replacing it).
    fn doc_put(
        &mut self,
        app: &str,
        collection: &str,
        key: &str,
        value: &str,
        now: i64,
    ) -> crate::store::Result<()>;
    /// One document.
    fn doc_get(
        &mut self,
        app: &str,
        collection: &str,
        key: &str,
    ) -> crate::store::Result<Option<String>>;
    /// Every document of a collection, by key.
    fn doc_list(
        &mut self,
        app: &str,
        collection: &str,
    ) -> crate::store::Result<Vec<(String, String)>>;
    /// Removes a document; false if it was not there.
    fn doc_delete(&mut self, app: &str, collection: &str, key: &str) -> crate::store::Result<bool>;
    /// Appends to a log: the log's next number (never reused).
    fn log_append(
        &mut self,
        app: &str,
        log: &str,
        value: &str,
        now: i64,
    ) -> crate::store::Result<i64>;
    /// The entries with `seq > after`, ascending, at most `limit`.
    fn log_range(
        &mut self,
        app: &str,
        log: &str,
        after: i64,
        limit: u32,
    ) -> crate::store::Result<Vec<(i64, String)>>;
    /// Removes one entry; false if it was not there.
    fn log_remove(&mut self, app: &str, log: &str, seq: i64) -> crate::store::Result<bool>;
    /// Removes every entry of a log; how many.
    fn log_clear(&mut self, app: &str, log: &str) -> crate::store::Result<u64>;
}

/// The store as one app sees it. Cloning is cheap.
#[derive(Clone, Debug)]
pub(crate) struct AppStore {
    store: Store,
    app: &'static str,
}

fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(StoreError::Json)
}

fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(StoreError::Json)
}

// `append`, `range`, `remove` and `clear` are the platform's API for apps that keep no SQL of
// their own; the chat uses documents only.
#[allow(dead_code)]
impl AppStore {
    /// The slice of `app`.
    pub(crate) fn new(store: Store, app: &'static str) -> AppStore {
        AppStore { store, app }
    }

    /// Stores `value` under `key` in `collection` (replacing what was there).
    pub(crate) async fn put<T: Serialize>(
        &self,
        collection: &str,
        key: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        let (app, collection, key, value) =
            (self.app, collection.to_owned(), key.to_owned(), to_json(value)?);
        self.store.call(move |s| s.doc_put(app, &collection, &key, &value, now_ms())).await
    }

    /// The value under `key` in `collection`.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        collection: &str,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let (app, collection, key) = (self.app, collection.to_owned(), key.to_owned());
        let text = self.store.call(move |s| s.doc_get(app, &collection, &key)).await?;
        text.as_deref().map(from_json).transpose()
    }

    /// Every `(key, value)` of `collection`, by key.
    pub(crate) async fn list<T: DeserializeOwned>(
        &self,
        collection: &str,
    ) -> Result<Vec<(String, T)>, StoreError> {
        let (app, collection) = (self.app, collection.to_owned());
        let rows = self.store.call(move |s| s.doc_list(app, &collection)).await?;
        rows.into_iter().map(|(k, v)| Ok((k, from_json(&v)?))).collect()
    }

    /// Removes `key` from `collection`; false if it was not there.
    pub(crate) async fn delete(&self, collection: &str, key: &str) -> Result<bool, StoreError> {
        let (app, collection, key) = (self.app, collection.to_owned(), key.to_owned());
        self.store.call(move |s| s.doc_delete(app, &collection, &key)).await
    }

    /// Appends to a log; returns its sequence number (strictly increasing per log, never
    /// reused, also across nodes sharing a PostgreSQL database).
    pub(crate) async fn append<T: Serialize>(
        &self,
        log: &str,
        value: &T,
    ) -> Result<i64, StoreError> {
        let (app, log, value) = (self.app, log.to_owned(), to_json(value)?);
        self.store.call(move |s| s.log_append(app, &log, &value, now_ms())).await
    }

    /// The entries with `seq > after`, oldest first, at most `limit`.
    pub(crate) async fn range<T: DeserializeOwned>(
        &self,
        log: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, T)>, StoreError> {
        let (app, log) = (self.app, log.to_owned());
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        let rows = self.store.call(move |s| s.log_range(app, &log, after, limit)).await?;
        rows.into_iter().map(|(seq, v)| Ok((seq, from_json(&v)?))).collect()
    }

    /// Removes one entry; false if it was not there.
    pub(crate) async fn remove(&self, log: &str, seq: i64) -> Result<bool, StoreError> {
        let (app, log) = (self.app, log.to_owned());
        self.store.call(move |s| s.log_remove(app, &log, seq)).await
    }

    /// Removes every entry of a log (its numbering goes on); how many there were.
    pub(crate) async fn clear(&self, log: &str) -> Result<u64, StoreError> {
        let (app, log) = (self.app, log.to_owned());
        self.store.call(move |s| s.log_clear(app, &log)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStorage;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Board {
        name: String,
        strokes: u32,
    }

    #[tokio::test]
    async fn documents_and_logs_of_one_app_are_apart_from_another() {
        let (store, thread) = Store::open(SqliteStorage::memory).await.unwrap();
        let store = store.unwrap();
        let a = AppStore::new(store.clone(), "a");
        let b = AppStore::new(store.clone(), "b");
        let board = Board { name: "one".into(), strokes: 3 };
        a.put("boards", "1", &board).await.unwrap();
        assert_eq!(a.get::<Board>("boards", "1").await.unwrap(), Some(board));
        assert_eq!(b.get::<Board>("boards", "1").await.unwrap(), None);
        a.put("boards", "0", &Board { name: "zero".into(), strokes: 0 }).await.unwrap();
        let keys: Vec<String> =
            a.list::<Board>("boards").await.unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["0", "1"]);
        assert!(a.delete("boards", "0").await.unwrap());
        assert!(!a.delete("boards", "0").await.unwrap());
        // A value of another shape is an error, not a panic.
        assert!(matches!(a.get::<u32>("boards", "1").await, Err(StoreError::Json(_))));

        for i in 1..=3 {
            assert_eq!(a.append("moves", &i).await.unwrap(), i);
        }
        assert_eq!(b.append("moves", &9).await.unwrap(), 1);
        assert_eq!(a.range::<i64>("moves", 1, 10).await.unwrap(), [(2, 2), (3, 3)]);
        assert_eq!(a.range::<i64>("moves", 0, 1).await.unwrap(), [(1, 1)]);
        assert!(a.remove("moves", 2).await.unwrap());
        assert!(!a.remove("moves", 2).await.unwrap());
        assert_eq!(a.clear("moves").await.unwrap(), 2);
        assert!(a.range::<i64>("moves", 0, 10).await.unwrap().is_empty());
        // Numbers are never reused after a clear.
        assert_eq!(a.append("moves", &4).await.unwrap(), 4);
        store.close().await.unwrap();
        thread.join().unwrap();
    }
}
