//! The apps of the binary beside the chat: each one a namespace, a page and its own slice of
//! the store. (A minimal stand-in of the app platform: in-memory store slices.)

pub(crate) mod auction;
pub(crate) mod tictactoe;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store::StoreError;

/// One app of the binary.
#[allow(dead_code)]
pub(crate) trait App: Send + Sync + 'static {
    /// Its name and URL path.
    fn name(&self) -> &'static str;
    /// Title for the index page.
    fn title(&self) -> &'static str;
    /// One line for the index page.
    fn summary(&self) -> &'static str;
    /// Registers its namespace and handlers.
    fn install(&self, cx: &AppContext) -> anyhow::Result<()>;
    /// Its HTTP routes.
    fn routes(&self, cx: &AppContext) -> axum::Router;
}

/// The apps.
pub(crate) fn registry() -> Vec<Box<dyn App>> {
    vec![Box::new(tictactoe::TicTacToe), Box::new(auction::Auctions)]
}

/// What every app gets. Cloning is cheap.
#[allow(dead_code)]
#[derive(Clone)]
pub(crate) struct AppContext {
    pub(crate) io: switchboard::SocketIo,
    pub(crate) limiter: Arc<crate::limits::Limiter>,
    pub(crate) config: Arc<crate::config::Config>,
    stores: Arc<Mutex<HashMap<&'static str, AppStore>>>,
}

impl AppContext {
    /// A context.
    pub(crate) fn new(
        io: switchboard::SocketIo,
        limiter: Arc<crate::limits::Limiter>,
        config: Arc<crate::config::Config>,
    ) -> AppContext {
        AppContext { io, limiter, config, stores: Arc::default() }
    }

    /// The app's slice of the store.
    pub(crate) fn store_of(&self, app: &'static str) -> AppStore {
        let mut stores = self.stores.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        stores.entry(app).or_default().clone()
    }
}

type Docs = HashMap<(String, String), serde_json::Value>;
type Logs = HashMap<String, (i64, BTreeMap<i64, serde_json::Value>)>;

/// One app's documents and logs.
#[derive(Clone, Default)]
pub(crate) struct AppStore {
    // The app's data; every method locks it briefly.
    inner: Arc<Mutex<(Docs, Logs)>>,
}

fn encode<T: Serialize>(value: &T) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(value).map_err(|_| StoreError::CommitFailed)
}

fn decode<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, StoreError> {
    serde_json::from_value(value).map_err(|_| StoreError::CommitFailed)
}

#[allow(dead_code)]
impl AppStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, (Docs, Logs)> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) async fn put<T: Serialize>(
        &self,
        collection: &str,
        key: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        let value = encode(value)?;
        self.lock().0.insert((collection.to_owned(), key.to_owned()), value);
        Ok(())
    }

    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        collection: &str,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let value = self.lock().0.get(&(collection.to_owned(), key.to_owned())).cloned();
        value.map(decode).transpose()
    }

    pub(crate) async fn list<T: DeserializeOwned>(
        &self,
        collection: &str,
    ) -> Result<Vec<(String, T)>, StoreError> {
        let items: Vec<_> = self
            .lock()
            .0
            .iter()
            .filter(|((c, _), _)| c == collection)
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect();
        items.into_iter().map(|(k, v)| Ok((k, decode(v)?))).collect()
    }

    pub(crate) async fn delete(&self, collection: &str, key: &str) -> Result<bool, StoreError> {
        Ok(self.lock().0.remove(&(collection.to_owned(), key.to_owned())).is_some())
    }

    pub(crate) async fn append<T: Serialize>(
        &self,
        log: &str,
        value: &T,
    ) -> Result<i64, StoreError> {
        let value = encode(value)?;
        let mut inner = self.lock();
        let entry = inner.1.entry(log.to_owned()).or_default();
        entry.0 += 1;
        entry.1.insert(entry.0, value);
        Ok(entry.0)
    }

    pub(crate) async fn range<T: DeserializeOwned>(
        &self,
        log: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, T)>, StoreError> {
        let items: Vec<_> = match self.lock().1.get(log) {
            Some((_, entries)) => entries
                .range(after.saturating_add(1)..)
                .take(limit)
                .map(|(s, v)| (*s, v.clone()))
                .collect(),
            None => Vec::new(),
        };
        items.into_iter().map(|(s, v)| Ok((s, decode(v)?))).collect()
    }

    pub(crate) async fn remove(&self, log: &str, seq: i64) -> Result<bool, StoreError> {
        Ok(self.lock().1.get_mut(log).is_some_and(|(_, e)| e.remove(&seq).is_some()))
    }

    pub(crate) async fn clear(&self, log: &str) -> Result<u64, StoreError> {
        let removed = self.lock().1.get_mut(log).map_or(0, |(_, e)| {
            let n = e.len();
            e.clear();
            n
        });
        Ok(u64::try_from(removed).unwrap_or(u64::MAX))
    }
}
