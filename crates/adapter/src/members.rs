//! The members of a room: a dense list of ids with their delivery handles, so that a
//! broadcast walks one contiguous array instead of a hash table of ids looked up one by one.

use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::HashTable;
use switchboard_proto::engine::EncodedMessage;
use switchboard_proto::socket::Packet;

use crate::{BroadcastFlags, Offset, SocketHandle, SocketId};

/// Above this many members a room gets an index (id → position) and its list is shared with
/// the broadcasts reading it.
const FEW: usize = 8;

/// One member of a room.
#[derive(Clone)]
pub(crate) struct Member {
    pub(crate) id: SocketId,
    /// How to reach the socket (`None`: the namespace does not know it, it is not reached).
    pub(crate) handle: Option<SocketHandle>,
}

impl fmt::Debug for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.id, f)
    }
}

/// A broadcast walks its recipients in groups of this many: it touches the memory of the
/// group after next (the sockets) and of the next group (their connections, through the
/// sockets touched one group earlier) before it delivers to the current one, so that the
/// cache misses of a group overlap instead of stalling one delivery after another.
const GROUP: usize = 8;

/// The members of a room, in a dense list.
///
/// Most rooms have one member or a few: a short list, one small allocation. Large rooms keep
/// their list behind an `Arc`, which a broadcast clones (one reference count) instead of
/// copying the members; a membership change while a broadcast holds it copies the list first.
#[derive(Debug, Clone)]
pub(crate) enum Members {
    /// A few members, no index.
    Few(Vec<Member>),
    /// Many members and where each one is in the list.
    ///
    /// The index is boxed: this variant is then smaller than `Few`, and every room's entry in
    /// the adapter's map is as small as a list.
    Many { list: Arc<Vec<Member>>, index: Box<Index> },
}

/// Where each member of a large room is in its list: a table of positions, hashed by the id
/// each one points at. An entry is four bytes, not a copy of the id and a position: a room
/// every connection joins pays for one entry (and the table's slack) per connection.
#[derive(Clone)]
pub(crate) struct Index {
    positions: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl fmt::Debug for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Index").field("len", &self.positions.len()).finish()
    }
}

impl Index {
    /// The index of `list`.
    fn of(list: &[Member]) -> Self {
        let mut index = Index {
            positions: HashTable::with_capacity(list.len()),
            hasher: foldhash::fast::RandomState::default(),
        };
        for (at, member) in list.iter().enumerate() {
            index.add(list, &member.id, at);
        }
        index
    }

    fn hash(&self, id: &SocketId) -> u64 {
        self.hasher.hash_one(id.as_str())
    }

    /// Records that `id` is at `at` in `list` (not there yet). A list never has 2^32 members
    /// (each takes 40 bytes): past that a member would only be missing from the index.
    fn add(&mut self, list: &[Member], id: &SocketId, at: usize) {
        let Ok(at) = u32::try_from(at) else { return };
        let hasher = &self.hasher;
        let rehash = |p: &u32| {
            let id = list.get(*p as usize).map_or("", |m| m.id.as_str());
            hasher.hash_one(id)
        };
        self.positions.insert_unique(self.hash(id), at, rehash);
    }

    /// Where `id` is in `list`.
    fn find(&self, list: &[Member], id: &SocketId) -> Option<usize> {
        let is = |p: &u32| list.get(*p as usize).is_some_and(|m| m.id == *id);
        self.positions.find(self.hash(id), is).map(|p| *p as usize)
    }

    /// Forgets `id` (at `at` in `list`).
    fn forget(&mut self, list: &[Member], id: &SocketId, at: usize) {
        let hash = self.hash(id);
        let is = |p: &u32| *p as usize == at && list.get(at).is_some_and(|m| m.id == *id);
        if let Ok(entry) = self.positions.find_entry(hash, is) {
            entry.remove();
        }
    }

    /// Records that `id`, at `from` in `list` before, is at `to` now.
    fn moved(&mut self, id: &SocketId, from: usize, to: usize) {
        let hash = self.hash(id);
        if let (Some(p), Ok(to)) =
            (self.positions.find_mut(hash, |p| *p as usize == from), u32::try_from(to))
        {
            *p = to;
        }
    }
}

impl Members {
    /// A room of one member.
    pub(crate) fn one(member: Member) -> Self {
        Members::Few(vec![member])
    }

    /// Adds a member; false if its id was there.
    pub(crate) fn insert(&mut self, member: Member) -> bool {
        match self {
            Members::Few(list) if list.iter().any(|m| m.id == member.id) => false,
            Members::Few(list) if list.len() < FEW => {
                // Exact growth: small rooms stay small (the default doubles to four at once).
                list.reserve_exact(1);
                list.push(member);
                true
            }
            Members::Few(list) => {
                let mut all = std::mem::take(list);
                all.push(member);
                let index = Box::new(Index::of(&all));
                *self = Members::Many { list: Arc::new(all), index };
                true
            }
            Members::Many { list, index } => {
                if index.find(list, &member.id).is_some() {
                    return false;
                }
                let list = Arc::make_mut(list);
                let (id, at) = (member.id.clone(), list.len());
                list.push(member);
                index.add(list, &id, at);
                true
            }
        }
    }

    /// Removes a member; false if it was not there.
    pub(crate) fn remove(&mut self, id: &SocketId) -> bool {
        match self {
            Members::Few(list) => match list.iter().position(|m| m.id == *id) {
                Some(i) => {
                    list.remove(i);
                    true
                }
                None => false,
            },
            Members::Many { list, index } => {
                let Some(at) = index.find(list, id) else { return false };
                index.forget(list, id, at);
                let list = Arc::make_mut(list);
                list.swap_remove(at);
                // The last member moved into the hole.
                if let Some(moved) = list.get(at) {
                    index.moved(&moved.id, list.len(), at);
                }
                true
            }
        }
    }

    /// Whether `id` is a member.
    pub(crate) fn contains(&self, id: &SocketId) -> bool {
        match self {
            Members::Few(list) => list.iter().any(|m| m.id == *id),
            Members::Many { list, index } => index.find(list, id).is_some(),
        }
    }

    /// Whether the room has no member.
    pub(crate) fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    /// The members, in no particular order.
    pub(crate) fn as_slice(&self) -> &[Member] {
        match self {
            Members::Few(list) => list,
            Members::Many { list, .. } => list,
        }
    }

    /// The members as they are now, for a broadcast that runs after the lock is released.
    pub(crate) fn snapshot(&self) -> Targets {
        match self {
            Members::Few(list) => Targets::Owned(list.clone()),
            Members::Many { list, .. } => Targets::Shared(list.clone()),
        }
    }
}

/// The sockets a broadcast reaches, taken under the adapter's lock and used after it.
#[derive(Debug)]
pub(crate) enum Targets {
    /// A large room's own list.
    Shared(Arc<Vec<Member>>),
    /// A list made for this broadcast.
    Owned(Vec<Member>),
}

impl Targets {
    /// The sockets.
    pub(crate) fn as_slice(&self) -> &[Member] {
        match self {
            Targets::Shared(list) => list,
            Targets::Owned(list) => list,
        }
    }

    /// Delivers pre-encoded messages to every target through its handle.
    pub(crate) fn deliver(
        &self,
        packet: &Packet,
        messages: &[EncodedMessage],
        flags: &BroadcastFlags,
        offset: Option<&Offset>,
    ) {
        let members = self.as_slice();
        // The members of group `g` (empty past the end), as a plain slice: each pass below is
        // then a pointer walk with no counters.
        let group = |g: usize| {
            let rest = members.get(g.saturating_mul(GROUP)..).unwrap_or_default();
            rest.get(..GROUP).unwrap_or(rest)
        };
        for (g, current) in members.chunks(GROUP).enumerate() {
            // A large room's sockets are scattered in memory: each delivery would miss the
            // cache on its socket, then on its connection. The loads of a group are
            // independent, so the processor overlaps their misses.
            for ahead in group(g + 2) {
                if let Some(handle) = &ahead.handle {
                    std::hint::black_box(Arc::strong_count(handle));
                }
            }
            for next in group(g + 1) {
                if let Some(handle) = &next.handle {
                    handle.prefetch();
                }
            }
            for member in current {
                if let Some(handle) = &member.handle {
                    handle.deliver(packet, messages, flags, offset);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::{AckSender, LocalSocket};

    /// Records what reached it through the handles.
    #[derive(Default)]
    struct Recorder {
        delivered: Mutex<Vec<String>>,
        prefetched: Mutex<Vec<String>>,
    }

    struct Handle(String, Arc<Recorder>);

    impl LocalSocket for Handle {
        fn deliver(
            &self,
            _: &Packet,
            _: &[EncodedMessage],
            _: &BroadcastFlags,
            _: Option<&Offset>,
        ) {
            self.1.delivered.lock().unwrap().push(self.0.clone());
        }

        fn deliver_with_ack(
            &self,
            _: &Packet,
            _: &[EncodedMessage],
            _: u64,
            _: &AckSender,
            _: &BroadcastFlags,
        ) -> bool {
            false
        }

        fn prefetch(&self) {
            self.1.prefetched.lock().unwrap().push(self.0.clone());
        }
    }

    #[test]
    fn a_broadcast_reaches_every_member_with_a_handle_once_in_order_and_prefetches_each_once() {
        let recorder = Arc::new(Recorder::default());
        // Several groups and a partial last one; every fifth member has no handle (a socket
        // its namespace does not know): it is not reached.
        let n = GROUP * 3 + 3;
        let list: Vec<Member> = (0..n)
            .map(|i| {
                let handle = (i % 5 != 0)
                    .then(|| Arc::new(Handle(i.to_string(), recorder.clone())) as SocketHandle);
                Member { id: SocketId::new(i.to_string()), handle }
            })
            .collect();
        let packet = Packet::disconnect("/");
        Targets::Owned(list).deliver(&packet, &[], &BroadcastFlags::default(), None);
        let want: Vec<String> = (0..n).filter(|i| i % 5 != 0).map(|i| i.to_string()).collect();
        assert_eq!(*recorder.delivered.lock().unwrap(), want);
        // The first group is delivered to before anything could be prefetched for it.
        let prefetched: Vec<String> =
            (GROUP..n).filter(|i| i % 5 != 0).map(|i| i.to_string()).collect();
        assert_eq!(*recorder.prefetched.lock().unwrap(), prefetched);
    }

    fn member(i: usize) -> Member {
        Member { id: SocketId::new(i.to_string()), handle: None }
    }

    fn ids(m: &Members) -> Vec<String> {
        let mut all: Vec<String> = m.as_slice().iter().map(|m| m.id.to_string()).collect();
        all.sort_unstable();
        all
    }

    #[test]
    fn behaves_as_a_set_below_and_above_the_threshold() {
        let mut room = Members::one(member(0));
        assert!(!room.insert(member(0)));
        for i in 1..20 {
            assert!(room.insert(member(i)));
            assert!(!room.insert(member(i)));
        }
        assert!(matches!(room, Members::Many { .. }));
        let mut want: Vec<String> = (0..20).map(|i| i.to_string()).collect();
        want.sort_unstable();
        assert_eq!(ids(&room), want);
        // A broadcast holding the list does not see later changes.
        let held = room.snapshot();
        for i in (0..20).step_by(3) {
            assert!(room.contains(&member(i).id));
            assert!(room.remove(&member(i).id));
            assert!(!room.remove(&member(i).id));
            assert!(!room.contains(&member(i).id));
        }
        assert_eq!(held.as_slice().len(), 20);
        for i in 0..20 {
            assert_eq!(room.contains(&member(i).id), i % 3 != 0, "member {i}");
        }
        let mut left: Vec<String> = (0..20).filter(|i| i % 3 != 0).map(|i| i.to_string()).collect();
        left.sort_unstable();
        assert_eq!(ids(&room), left);
        for i in 0..20 {
            room.remove(&member(i).id);
        }
        assert!(room.is_empty());
        // Churn in a large room: every member's position is where the index says.
        for i in 100..160 {
            room.insert(member(i));
        }
        for i in (100..160).filter(|i| i % 4 == 1) {
            assert!(room.remove(&member(i).id));
        }
        let Members::Many { list, index } = &room else { panic!("a large room") };
        assert_eq!(list.len(), 45);
        for (at, m) in list.iter().enumerate() {
            assert_eq!(index.find(list, &m.id), Some(at), "member {}", m.id);
        }
        assert_eq!(index.positions.len(), list.len());
        let mut few = Members::one(member(1));
        assert!(few.insert(member(2)));
        assert!(few.remove(&member(1).id));
        assert_eq!(ids(&few), vec!["2"]);
    }
}
