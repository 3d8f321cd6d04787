//! A namespace's connected sockets, found by id.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use crate::Socket;

/// The sockets of a namespace, each found by its own id: the table holds the sockets alone
/// (one pointer each), not a copy of every id next to it, since every connection pays for its
/// entry and for the table's slack.
#[derive(Default)]
pub(crate) struct SocketSet {
    table: HashTable<Socket>,
    // Socket ids are random: a fast hash (still randomly seeded) is enough.
    hasher: foldhash::fast::RandomState,
}

impl SocketSet {
    fn hash(&self, id: &str) -> u64 {
        self.hasher.hash_one(id)
    }

    /// Adds `socket`, in place of the socket with its id if there is one (a recovered
    /// session's new socket takes its old id).
    pub(crate) fn insert(&mut self, socket: Socket) {
        let hash = self.hash(socket.id().as_str());
        if let Some(known) = self.table.find_mut(hash, |s| s.id() == socket.id()) {
            *known = socket;
            return;
        }
        let hasher = &self.hasher;
        self.table.insert_unique(hash, socket, |s| hasher.hash_one(s.id().as_str()));
    }

    /// The socket with id `id`.
    pub(crate) fn get(&self, id: &str) -> Option<&Socket> {
        self.table.find(self.hash(id), |s| s.id().as_str() == id)
    }

    /// Removes `socket` itself (not another socket with its id); false if it was not here.
    pub(crate) fn remove(&mut self, socket: &Socket) -> bool {
        let hash = self.hash(socket.id().as_str());
        match self.table.find_entry(hash, |s| std::sync::Arc::ptr_eq(&s.0, &socket.0)) {
            Ok(entry) => {
                entry.remove();
                true
            }
            Err(_) => false,
        }
    }

    /// How many sockets are here.
    #[cfg_attr(not(feature = "admin"), allow(dead_code, reason = "the Admin UI counts them"))]
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// The sockets, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Socket> {
        self.table.iter()
    }
}
