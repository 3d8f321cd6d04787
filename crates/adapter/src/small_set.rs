//! A set that stays a short list while it is small.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::Hash;

/// Above this many members a set becomes a hash table.
const FEW: usize = 8;

/// A set kept inline while it has one member, then as a list of at most [`FEW`] members,
/// then as a hash table. Most sockets are in one room besides their own, some in two or
/// three: one member costs no allocation, a list of two or three one small allocation, a hash
/// table several times more, on every connection.
#[derive(Debug, Clone)]
pub(crate) enum SmallSet<T> {
    /// No member, or a few (two or more once it had two), in insertion order, with an exact
    /// capacity.
    Few(Vec<T>),
    /// One member, inline: as small as a list when `T` is a pointer.
    One(T),
    /// Many members; boxed, so that the set is as small as a list (a socket's entry in the
    /// adapter's map holds one, and every connection pays for the map's slack too).
    #[allow(clippy::box_collection, reason = "the common small set stays three words")]
    Many(Box<HashSet<T, foldhash::fast::RandomState>>),
}

impl<T> Default for SmallSet<T> {
    fn default() -> Self {
        SmallSet::Few(Vec::new())
    }
}

impl<T: Hash + Eq> SmallSet<T> {
    /// Adds `value`; false if it was there.
    pub(crate) fn insert(&mut self, value: T) -> bool {
        match self {
            SmallSet::Few(list) if list.is_empty() => {
                *self = SmallSet::One(value);
                true
            }
            SmallSet::One(one) if *one == value => false,
            SmallSet::One(_) => {
                let SmallSet::One(one) = std::mem::take(self) else { return false };
                // Exactly two: `vec!` allocates no more than its members.
                *self = SmallSet::Few(vec![one, value]);
                true
            }
            SmallSet::Few(list) if list.contains(&value) => false,
            SmallSet::Few(list) if list.len() < FEW => {
                // Exact growth: small sets stay small (the default doubles to four at once).
                list.reserve_exact(1);
                list.push(value);
                true
            }
            SmallSet::Few(list) => {
                let mut set: HashSet<T, _> = std::mem::take(list).into_iter().collect();
                set.insert(value);
                *self = SmallSet::Many(Box::new(set));
                true
            }
            SmallSet::Many(set) => set.insert(value),
        }
    }

    /// Whether `value` is a member.
    pub(crate) fn contains<Q>(&self, value: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match self {
            SmallSet::Few(list) => list.iter().any(|v| v.borrow() == value),
            SmallSet::One(one) => one.borrow() == value,
            SmallSet::Many(set) => set.contains(value),
        }
    }

    /// Removes `value`; false if it was not there.
    pub(crate) fn remove<Q>(&mut self, value: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match self {
            SmallSet::Few(list) => match list.iter().position(|v| v.borrow() == value) {
                Some(i) => {
                    list.remove(i);
                    // The last one left goes inline, and the list's allocation with it.
                    if list.len() == 1 {
                        if let Some(one) = list.pop() {
                            *self = SmallSet::One(one);
                        }
                    }
                    true
                }
                None => false,
            },
            SmallSet::One(one) if (*one).borrow() == value => {
                *self = SmallSet::default();
                true
            }
            SmallSet::One(_) => false,
            SmallSet::Many(set) => set.remove(value),
        }
    }

    /// The members.
    pub(crate) fn iter(&self) -> Iter<'_, T> {
        match self {
            SmallSet::Few(list) => Iter::Few(list.iter()),
            SmallSet::One(one) => Iter::Few(std::slice::from_ref(one).iter()),
            SmallSet::Many(set) => Iter::Many(set.iter()),
        }
    }
}

impl<T: Hash + Eq> IntoIterator for SmallSet<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;

    fn into_iter(self) -> IntoIter<T> {
        match self {
            SmallSet::Few(list) => IntoIter::Few(list.into_iter()),
            SmallSet::One(one) => IntoIter::One(Some(one).into_iter()),
            SmallSet::Many(set) => IntoIter::Many((*set).into_iter()),
        }
    }
}

impl<'a, T: Hash + Eq> IntoIterator for &'a SmallSet<T> {
    type Item = &'a T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

/// The members of a [`SmallSet`], by reference.
pub(crate) enum Iter<'a, T> {
    Few(std::slice::Iter<'a, T>),
    Many(std::collections::hash_set::Iter<'a, T>),
}

impl<'a, T> Iterator for Iter<'a, T> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        match self {
            Iter::Few(it) => it.next(),
            Iter::Many(it) => it.next(),
        }
    }
}

/// The members of a [`SmallSet`], by value.
pub(crate) enum IntoIter<T> {
    Few(std::vec::IntoIter<T>),
    One(std::option::IntoIter<T>),
    Many(std::collections::hash_set::IntoIter<T>),
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        match self {
            IntoIter::Few(it) => it.next(),
            IntoIter::One(it) => it.next(),
            IntoIter::Many(it) => it.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_set_below_and_above_the_threshold() {
        let mut s = SmallSet::default();
        assert!(s.insert(0u32));
        assert!(!s.insert(0));
        for i in 1..20 {
            assert!(s.insert(i));
            assert!(!s.insert(i));
        }
        assert!(matches!(s, SmallSet::Many(_)));
        let mut all: Vec<u32> = s.iter().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..20).collect::<Vec<_>>());
        for i in 0..20 {
            assert!(s.iter().any(|v| *v == i));
            assert!(s.remove(&i));
            assert!(!s.remove(&i));
        }
        assert_eq!(s.iter().count(), 0);
        let mut few = SmallSet::default();
        assert!(few.insert("a"));
        assert!(matches!(few, SmallSet::One("a")));
        assert!(!few.insert("a"));
        assert!(few.contains(&"a") && !few.contains(&"b"));
        assert!(few.insert("b"));
        assert!(few.contains(&"a") && few.contains(&"b"));
        assert_eq!(few.iter().copied().collect::<Vec<_>>(), vec!["a", "b"]);
        assert!(few.remove(&"a"));
        assert!(!few.remove(&"a"));
        // One member left: inline again.
        assert!(matches!(few, SmallSet::One("b")));
        assert_eq!(few.iter().copied().collect::<Vec<_>>(), vec!["b"]);
        assert_eq!(few.clone().into_iter().collect::<Vec<_>>(), vec!["b"]);
        assert!(few.remove(&"b"));
        assert_eq!(few.iter().count(), 0);
        assert!(few.insert("c"));
        assert_eq!(few.into_iter().collect::<Vec<_>>(), vec!["c"]);
        // One shared name inline: no larger than a list.
        assert_eq!(
            std::mem::size_of::<SmallSet<std::sync::Arc<crate::Room>>>(),
            std::mem::size_of::<Vec<u8>>()
        );
    }
}
