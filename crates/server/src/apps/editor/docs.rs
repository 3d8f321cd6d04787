//! The documents held in memory: one `yrs` document per open document id, loaded from the
//! store at the first join, stored as a log of Yjs updates compacted into one snapshot update,
//! dropped from memory when its last member leaves.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{Doc, ReadTxn, StateVector, Transact, Update};

use crate::apps::{ApiError, AppStore};

/// The largest Yjs message one event may carry.
pub(crate) const MAX_MESSAGE: usize = 64 * 1024;
/// The largest document, as the size of its state encoded as one update.
pub(crate) const MAX_DOCUMENT: usize = 512 * 1024;
/// The largest awareness message.
pub(crate) const MAX_AWARENESS: usize = 8 * 1024;
/// Log entries past which the document is compacted into one snapshot update.
pub(crate) const COMPACT_AFTER: usize = 100;
/// Documents one connection may have open at once.
pub(crate) const MAX_OPEN_PER_SOCKET: usize = 8;

/// The snapshot of a document: its whole state as one Yjs update (base64).
#[derive(Debug, Serialize, Deserialize)]
struct Snapshot {
    update: String,
    /// The highest log entry it holds (what the nodes that read it have seen).
    #[serde(default)]
    upto: i64,
}

/// One logged update (base64).
#[derive(Debug, Serialize, Deserialize)]
struct Logged {
    update: String,
}

/// The snapshots' collection.
const SNAPSHOTS: &str = "snapshots";

fn log_name(doc_id: &str) -> String {
    format!("updates:{doc_id}")
}

/// One document in memory.
pub(crate) struct Loaded {
    id: String,
    doc: Doc,
    /// The sockets that joined it.
    pub(crate) members: HashSet<String>,
    /// Awareness: client id → (clock, state JSON), as the clients sent them.
    awareness: HashMap<u64, (u32, Arc<str>)>,
    /// Which socket announced which awareness client ids (removed when it leaves).
    owners: HashMap<String, HashSet<u64>>,
    /// The log entries not yet folded into the snapshot.
    logged: Vec<i64>,
    /// The highest log entry applied (other nodes of a cluster append to the log too).
    last_seq: i64,
    /// The `upto` of the newest snapshot applied.
    snapshot_seen: i64,
    /// An upper bound of the encoded state's size: the snapshot's plus every update since.
    size: usize,
}

/// A document's slot: `None` until loaded, and again once dropped from memory.
type Slot = Arc<tokio::sync::Mutex<Option<Loaded>>>;

/// The open documents. Cloning is cheap.
#[derive(Clone)]
pub(crate) struct Docs {
    // Document id → its slot. Held only to find or remove a slot, never across an await;
    // the slots' own (async) locks order the work on one document.
    slots: Arc<Mutex<HashMap<String, Slot>>>,
    // Socket id → the documents it joined; touched on join, leave and disconnect only.
    joined: Arc<Mutex<HashMap<String, HashSet<String>>>>,
    store: AppStore,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A loaded document, locked.
pub(crate) struct DocGuard(tokio::sync::OwnedMutexGuard<Option<Loaded>>);

impl DocGuard {
    /// The document (always there: [`Docs::open`] loaded it).
    pub(crate) fn get(&mut self) -> Result<&mut Loaded, ApiError> {
        self.0.as_mut().ok_or_else(|| ApiError::new("internal", "the document is not loaded"))
    }
}

/// What a change of the document did.
pub(crate) struct Applied {
    /// The document's size bound after it.
    pub(crate) size: usize,
}

impl Docs {
    pub(crate) fn new(store: AppStore) -> Docs {
        Docs { slots: Arc::default(), joined: Arc::default(), store }
    }

    /// The document `id`, loaded (from the store at first), locked until the guard drops.
    pub(crate) async fn open(&self, id: &str) -> Result<DocGuard, ApiError> {
        loop {
            let slot = lock(&self.slots).entry(id.to_owned()).or_default().clone();
            let mut guard = slot.clone().lock_owned().await;
            // Dropped from memory while this waited: take the slot that replaced it.
            let current = lock(&self.slots).get(id).is_some_and(|s| Arc::ptr_eq(s, &slot));
            if !current {
                continue;
            }
            if guard.is_none() {
                *guard = Some(load(&self.store, id).await?);
            }
            return Ok(DocGuard(guard));
        }
    }

    /// Records that socket `sid` joined `id`; false if it has too many open.
    pub(crate) fn note_join(&self, sid: &str, id: &str) -> bool {
        let mut joined = lock(&self.joined);
        let docs = joined.entry(sid.to_owned()).or_default();
        if !docs.contains(id) && docs.len() >= MAX_OPEN_PER_SOCKET {
            return false;
        }
        docs.insert(id.to_owned());
        true
    }

    /// The documents `sid` joined, forgotten.
    pub(crate) fn take_joined(&self, sid: &str) -> Vec<String> {
        lock(&self.joined).remove(sid).map(|d| d.into_iter().collect()).unwrap_or_default()
    }

    /// Forgets that `sid` joined `id`.
    pub(crate) fn forget(&self, sid: &str, id: &str) {
        let mut joined = lock(&self.joined);
        if let Some(docs) = joined.get_mut(sid) {
            docs.remove(id);
            if docs.is_empty() {
                joined.remove(sid);
            }
        }
    }

    /// The store of the documents.
    pub(crate) fn store(&self) -> &AppStore {
        &self.store
    }

    /// Whether `sid` joined `id`.
    pub(crate) fn has_joined(&self, sid: &str, id: &str) -> bool {
        lock(&self.joined).get(sid).is_some_and(|d| d.contains(id))
    }

    /// Removes `sid` from `id`; returns the awareness update that removes its clients (if it
    /// had any). The document leaves memory once nobody is in it.
    pub(crate) async fn leave(&self, sid: &str, id: &str) -> Option<Vec<u8>> {
        let slot = lock(&self.slots).get(id).cloned()?;
        let mut guard = slot.lock().await;
        let loaded = guard.as_mut()?;
        loaded.members.remove(sid);
        let removal = loaded.remove_awareness_of(sid);
        if loaded.members.is_empty() {
            *guard = None;
            let mut slots = lock(&self.slots);
            if slots.get(id).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                slots.remove(id);
            }
        }
        removal
    }
}

/// Loads `id` from the store: its snapshot, then every update logged since.
async fn load(store: &AppStore, id: &str) -> Result<Loaded, ApiError> {
    let doc = Doc::new();
    let size = 0;
    let mut loaded = Loaded {
        id: id.to_owned(),
        doc,
        members: HashSet::new(),
        awareness: HashMap::new(),
        owners: HashMap::new(),
        logged: Vec::new(),
        last_seq: 0,
        snapshot_seen: -1,
        size,
    };
    loaded.catch_up(store).await?;
    tracing::debug!(doc = id, size = loaded.size, updates = loaded.logged.len(), "document loaded");
    if loaded.logged.len() > COMPACT_AFTER {
        loaded.compact(store).await?;
    }
    Ok(loaded)
}

fn decode_stored(text: &str) -> Result<Vec<u8>, ApiError> {
    BASE64.decode(text).map_err(|error| {
        tracing::error!(%error, "a stored document update is not base64");
        ApiError::new("internal", "the stored document is damaged")
    })
}

fn apply_stored(doc: &Doc, bytes: &[u8], id: &str) {
    let applied = Update::decode_v1(bytes)
        .map_err(|e| e.to_string())
        .and_then(|u| doc.transact_mut().apply_update(u).map_err(|e| e.to_string()));
    if let Err(error) = applied {
        tracing::error!(doc = id, %error, "a stored document update was skipped");
    }
}

impl Loaded {
    /// Applies the log entries appended since the last one applied (by other nodes of a
    /// cluster; on one node there are none).
    pub(crate) async fn catch_up(&mut self, store: &AppStore) -> Result<(), ApiError> {
        // A snapshot newer than the one applied holds entries another node removed.
        let snapshot = store.get::<Snapshot>(SNAPSHOTS, &self.id).await?;
        if let Some(snapshot) = snapshot.filter(|s| s.upto > self.snapshot_seen) {
            let bytes = decode_stored(&snapshot.update)?;
            self.size += bytes.len();
            apply_stored(&self.doc, &bytes, &self.id);
            self.snapshot_seen = snapshot.upto;
            self.last_seq = self.last_seq.max(snapshot.upto);
        }
        let log = log_name(&self.id);
        loop {
            let entries = store.range::<Logged>(&log, self.last_seq, 500).await?;
            if entries.is_empty() {
                return Ok(());
            }
            for (seq, entry) in entries {
                self.last_seq = self.last_seq.max(seq);
                if self.logged.contains(&seq) {
                    continue; // this node's own, applied when it was appended
                }
                let bytes = decode_stored(&entry.update)?;
                self.size += bytes.len();
                apply_stored(&self.doc, &bytes, &self.id);
                self.logged.push(seq);
            }
        }
    }

    /// The size bound of the document (see [`MAX_DOCUMENT`]).
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// The state vector, for sync step 1.
    pub(crate) fn state_vector(&self) -> StateVector {
        self.doc.transact().state_vector()
    }

    /// What the document has that `sv` lacks, for sync step 2.
    pub(crate) fn diff(&self, sv: &StateVector) -> Vec<u8> {
        self.doc.transact().encode_state_as_update_v1(sv)
    }

    /// Applies a client's update and logs it; refuses it if the document would pass
    /// [`MAX_DOCUMENT`].
    pub(crate) async fn apply(
        &mut self,
        bytes: &[u8],
        store: &AppStore,
    ) -> Result<Applied, ApiError> {
        // Checked now, decoded again once stored (a decoded update is not `Send`).
        Update::decode_v1(bytes)
            .map_err(|e| ApiError::new("invalid_update", format!("not a Yjs update: {e}")))?;
        if self.size + bytes.len() > MAX_DOCUMENT && !self.logged.is_empty() {
            // The bound counts overwritten and repeated updates: measure the real size first.
            self.compact(store).await?;
        }
        if self.size + bytes.len() > MAX_DOCUMENT {
            return Err(ApiError::new(
                "document_too_large",
                format!("the document would pass its limit of {MAX_DOCUMENT} bytes"),
            )
            .with("maxBytes", serde_json::json!(MAX_DOCUMENT))
            .with("bytes", serde_json::json!(self.size)));
        }
        // Logged before it is applied: what a client was told is stored survives a restart.
        let seq =
            store.append(&log_name(&self.id), &Logged { update: BASE64.encode(bytes) }).await?;
        self.logged.push(seq);
        if seq == self.last_seq + 1 {
            // Else other nodes appended in between: the next catch-up reads them.
            self.last_seq = seq;
        }
        self.size += bytes.len();
        apply_stored(&self.doc, bytes, &self.id);
        if self.logged.len() > COMPACT_AFTER {
            self.compact(store).await?;
        }
        Ok(Applied { size: self.size })
    }

    /// Folds the log into one snapshot update: the snapshot is written first, then the entries
    /// it holds are removed (a crash between the two leaves entries that apply twice, which
    /// Yjs ignores).
    async fn compact(&mut self, store: &AppStore) -> Result<(), ApiError> {
        // What other nodes stored since (their snapshot, their log entries), so that the
        // snapshot written here holds them too (applying twice is a no-op in Yjs).
        self.catch_up(store).await?;
        let state = self.doc.transact().encode_state_as_update_v1(&StateVector::default());
        let snapshot = Snapshot { update: BASE64.encode(&state), upto: self.last_seq };
        store.put(SNAPSHOTS, &self.id, &snapshot).await?;
        self.snapshot_seen = self.last_seq;
        let log = log_name(&self.id);
        for seq in std::mem::take(&mut self.logged) {
            store.remove(&log, seq).await?;
        }
        tracing::debug!(doc = %self.id, bytes = state.len(), "document compacted");
        self.size = state.len();
        Ok(())
    }

    /// Records an awareness update from socket `sid`.
    pub(crate) fn note_awareness(&mut self, sid: &str, update: &yrs::sync::AwarenessUpdate) {
        let owned = self.owners.entry(sid.to_owned()).or_default();
        for (client, entry) in &update.clients {
            let id = client.get();
            if &*entry.json == "null" {
                self.awareness.remove(&id);
                owned.remove(&id);
            } else {
                self.awareness.insert(id, (entry.clock, entry.json.clone()));
                owned.insert(id);
            }
        }
    }

    /// Every known awareness state, as one awareness update (none if nobody has one).
    pub(crate) fn awareness_states(&self) -> Option<Vec<u8>> {
        if self.awareness.is_empty() {
            return None;
        }
        let clients = self
            .awareness
            .iter()
            .map(|(id, (clock, json))| {
                let entry = yrs::sync::awareness::AwarenessUpdateEntry {
                    clock: *clock,
                    json: json.clone(),
                };
                (yrs::ClientID::new(*id), entry)
            })
            .collect();
        Some(awareness_message(&yrs::sync::AwarenessUpdate { clients }))
    }

    /// Forgets the awareness clients of `sid`; the update that tells the others (their state
    /// `null` with the next clock, as y-protocols removes a client).
    fn remove_awareness_of(&mut self, sid: &str) -> Option<Vec<u8>> {
        let owned = self.owners.remove(sid)?;
        let mut clients = HashMap::new();
        for id in owned {
            if let Some((clock, _)) = self.awareness.remove(&id) {
                let entry = yrs::sync::awareness::AwarenessUpdateEntry {
                    clock: clock.wrapping_add(1),
                    json: Arc::from("null"),
                };
                clients.insert(yrs::ClientID::new(id), entry);
            }
        }
        (!clients.is_empty()).then(|| awareness_message(&yrs::sync::AwarenessUpdate { clients }))
    }
}

/// An awareness update framed as a y-protocols message.
fn awareness_message(update: &yrs::sync::AwarenessUpdate) -> Vec<u8> {
    yrs::sync::Message::Awareness(update.clone()).encode_v1()
}

#[cfg(test)]
mod tests {
    use yrs::{GetString, Text};

    use super::*;
    use crate::store::{SqliteStorage, Store};

    /// An update that appends `text` to the text `text` of a fresh client's document.
    fn insert(text: &str) -> Vec<u8> {
        let doc = Doc::new();
        let t = doc.get_or_insert_text("text");
        t.insert(&mut doc.transact_mut(), 0, text);
        doc.transact().encode_state_as_update_v1(&StateVector::default())
    }

    fn text_of(update: &[u8]) -> String {
        let doc = Doc::new();
        let t = doc.get_or_insert_text("text");
        apply_stored(&doc, update, "test");
        t.get_string(&doc.transact())
    }

    #[tokio::test]
    async fn updates_are_stored_compacted_and_loaded_again() {
        let (store, thread) = Store::open(SqliteStorage::memory).await.unwrap();
        let store = store.unwrap();
        let app = AppStore::new(store.clone(), "editor");
        let docs = Docs::new(app.clone());
        {
            let mut guard = docs.open("d").await.unwrap();
            let doc = guard.get().unwrap();
            for i in 0..=COMPACT_AFTER {
                doc.apply(&insert(&format!("{i};")), &app).await.unwrap();
            }
            // Past the threshold: one snapshot, an empty log.
            assert!(doc.logged.is_empty());
            doc.apply(&insert("tail"), &app).await.unwrap();
            assert_eq!(doc.logged.len(), 1);
        }
        assert!(app.get::<Snapshot>(SNAPSHOTS, "d").await.unwrap().is_some());
        assert_eq!(app.range::<Logged>(&log_name("d"), 0, 10).await.unwrap().len(), 1);

        // Another process loads the same state: snapshot, then the log.
        let again = Docs::new(app.clone());
        let mut guard = again.open("d").await.unwrap();
        let loaded = guard.get().unwrap();
        let full = loaded.diff(&StateVector::default());
        let before = {
            let mut g = docs.open("d").await.unwrap();
            g.get().unwrap().diff(&StateVector::default())
        };
        assert_eq!(text_of(&full), text_of(&before));
        assert_eq!(text_of(&full).len(), text_of(&before).len());
        assert!(text_of(&full).contains("tail") && text_of(&full).contains("100;"));
        drop(guard);
        store.close().await.unwrap();
        thread.join().unwrap();
    }

    #[tokio::test]
    async fn a_document_past_its_limit_refuses_the_update_and_keeps_its_state() {
        let (store, thread) = Store::open(SqliteStorage::memory).await.unwrap();
        let store = store.unwrap();
        let app = AppStore::new(store.clone(), "editor");
        let docs = Docs::new(app.clone());
        let mut guard = docs.open("big").await.unwrap();
        let doc = guard.get().unwrap();
        let chunk = "x".repeat(MAX_MESSAGE - 100);
        let mut accepted = 0;
        let refused = loop {
            match doc.apply(&insert(&chunk), &app).await {
                Ok(_) => accepted += 1,
                Err(e) => break e,
            }
            assert!(accepted < 20, "never refused");
        };
        assert_eq!(refused.code, "document_too_large");
        assert!(doc.size() <= MAX_DOCUMENT);
        assert_eq!(text_of(&doc.diff(&StateVector::default())).len(), accepted * chunk.len());
        // Garbage is an error, not a panic.
        assert_eq!(doc.apply(&[1, 2, 3], &app).await.err().unwrap().code, "invalid_update");
        drop(guard);
        store.close().await.unwrap();
        thread.join().unwrap();
    }

    #[tokio::test]
    async fn leaving_removes_the_awareness_clients_and_the_last_member_unloads() {
        let (store, thread) = Store::open(SqliteStorage::memory).await.unwrap();
        let store = store.unwrap();
        let docs = Docs::new(AppStore::new(store.clone(), "editor"));
        {
            let mut guard = docs.open("a").await.unwrap();
            let doc = guard.get().unwrap();
            doc.members.insert("s1".into());
            doc.members.insert("s2".into());
            let entry = yrs::sync::awareness::AwarenessUpdateEntry {
                clock: 4,
                json: Arc::from("{\"user\":{\"name\":\"ann\"}}"),
            };
            let update = yrs::sync::AwarenessUpdate {
                clients: HashMap::from([(yrs::ClientID::new(7), entry)]),
            };
            doc.note_awareness("s1", &update);
            assert!(doc.awareness_states().is_some());
        }
        let removal = docs.leave("s1", "a").await.unwrap();
        let yrs::sync::Message::Awareness(update) =
            yrs::sync::Message::decode_v1(&removal).unwrap()
        else {
            panic!("not awareness")
        };
        let entry = &update.clients[&yrs::ClientID::new(7)];
        assert_eq!((entry.clock, &*entry.json), (5, "null"));
        assert!(lock(&docs.slots).contains_key("a"));
        assert!(docs.leave("s2", "a").await.is_none());
        assert!(!lock(&docs.slots).contains_key("a"), "unloaded with its last member");
        store.close().await.unwrap();
        thread.join().unwrap();
    }
}
