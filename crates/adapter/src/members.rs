//! The members of a room: a dense list of ids with their delivery handles, so that a
//! broadcast walks one contiguous array instead of a hash table of ids looked up one by one.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

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
/// Most rooms (each socket's own) have one member: a short list, one small allocation. Large
/// rooms keep their list behind an `Arc`, which a broadcast clones (one reference count)
/// instead of copying the members; a membership change while a broadcast holds it copies
/// the list first.
#[derive(Debug, Clone)]
pub(crate) enum Members {
    /// A few members, no index.
    Few(Vec<Member>),
    /// Many members and where each one is in the list.
    ///
    /// The index is boxed: this variant is then smaller than `Few`, and every room's entry in
    /// the adapter's map (one per connection, for its own room) is as small as a list.
    #[allow(clippy::box_collection, reason = "keeps every room's entry three words")]
    Many {
        list: Arc<Vec<Member>>,
        index: Box<HashMap<SocketId, usize, foldhash::fast::RandomState>>,
    },
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
                let index =
                    Box::new(all.iter().enumerate().map(|(i, m)| (m.id.clone(), i)).collect());
                *self = Members::Many { list: Arc::new(all), index };
                true
            }
            Members::Many { list, index } => {
                if index.contains_key(&member.id) {
                    return false;
                }
                index.insert(member.id.clone(), list.len());
                Arc::make_mut(list).push(member);
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
                let Some(at) = index.remove(id) else { return false };
                let list = Arc::make_mut(list);
                list.swap_remove(at);
                // The last member moved into the hole.
                if let Some(moved) = list.get(at) {
                    index.insert(moved.id.clone(), at);
                }
                true
            }
        }
    }

    /// Whether `id` is a member.
    pub(crate) fn contains(&self, id: &SocketId) -> bool {
        match self {
            Members::Few(list) => list.iter().any(|m| m.id == *id),
            Members::Many { index, .. } => index.contains_key(id),
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
        let mut few = Members::one(member(1));
        assert!(few.insert(member(2)));
        assert!(few.remove(&member(1).id));
        assert_eq!(ids(&few), vec!["2"]);
    }
}
