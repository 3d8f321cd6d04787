//! Session ids.

use std::borrow::Borrow;
use std::hash::BuildHasher;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hashbrown::HashTable;

use crate::session_task::SessionHandle;

/// How many characters a session id has.
const LEN: usize = 20;

/// A session id: 20 URL-safe base64 characters from 15 random bytes, as Node's `base64id`.
///
/// Stored inline (no allocation per session); cloning copies 20 bytes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Sid([u8; LEN]);

impl Sid {
    /// A new random id; in a cluster, its first 4 characters are the node's `tag` (the 96
    /// bits left stay random).
    pub(crate) fn generate(tag: Option<&crate::NodeTag>) -> Self {
        let bytes: [u8; 15] = rand::random();
        let mut text = [b'A'; LEN];
        // 15 bytes are exactly 20 base64 characters, so this always fills `text`.
        let _ = URL_SAFE_NO_PAD.encode_slice(bytes, &mut text);
        if let Some(tag) = tag {
            let tag = tag.bytes();
            text[..tag.len()].copy_from_slice(tag);
        }
        Sid(text)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Always ASCII: made from the base64 alphabet only.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Debug for Sid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Sid").field(&self.as_str()).finish()
    }
}

impl Borrow<str> for Sid {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

// Hashes as `str` does, so that maps keyed by `Sid` can be searched with a `&str`.
impl std::hash::Hash for Sid {
    fn hash<S: std::hash::Hasher>(&self, state: &mut S) {
        self.as_str().hash(state);
    }
}

impl std::fmt::Display for Sid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The open sessions, each found by its id: the table holds the sessions alone (one pointer
/// each), not a copy of every id next to it, since every connection pays for its entry and
/// for the table's slack.
#[derive(Default)]
pub(crate) struct Sessions {
    table: HashTable<SessionHandle>,
    // Session ids are random: a fast hash (still randomly seeded) is enough.
    hasher: foldhash::fast::RandomState,
}

impl Sessions {
    fn hash(&self, sid: &str) -> u64 {
        self.hasher.hash_one(sid)
    }

    /// Adds a session, in place of the session with its id if there is one.
    pub(crate) fn insert(&mut self, handle: SessionHandle) {
        let hash = self.hash(handle.socket.id().as_str());
        if let Some(known) = self.table.find_mut(hash, |h| h.socket.id() == handle.socket.id()) {
            *known = handle;
            return;
        }
        let hasher = &self.hasher;
        self.table.insert_unique(hash, handle, |h| hasher.hash_one(h.socket.id().as_str()));
    }

    /// The session with id `sid`.
    pub(crate) fn get(&self, sid: &str) -> Option<&SessionHandle> {
        self.table.find(self.hash(sid), |h| h.socket.id().as_str() == sid)
    }

    /// Removes the session with id `sid`.
    pub(crate) fn remove(&mut self, sid: &str) -> Option<SessionHandle> {
        let found = self.table.find_entry(self.hash(sid), |h| h.socket.id().as_str() == sid);
        found.ok().map(|entry| entry.remove().0)
    }

    /// How many sessions are open.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// The sessions, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &SessionHandle> {
        self.table.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_20_url_safe_chars_and_distinct() {
        let a = Sid::generate(None);
        let b = Sid::generate(None);
        assert_eq!(a.as_str().len(), 20);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_ne!(a, b);
        let tag = crate::NodeTag::random();
        let tagged = Sid::generate(Some(&tag));
        assert_eq!(crate::NodeTag::of_sid(tagged.as_str()), Some(tag));
        assert_eq!(tagged.as_str().len(), 20);
    }
}
