//! The listeners registered on a socket or a manager.

use std::sync::Arc;

use crate::{ConnectError, DisconnectReason, Event, ManagerEvent};

/// Identifies one registered listener, to remove it with `remove_listener`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(pub(crate) u64);

pub(crate) type EventFn = Arc<dyn Fn(Event) + Send + Sync>;
pub(crate) type ConnectFn = Arc<dyn Fn() + Send + Sync>;
pub(crate) type ConnectErrorFn = Arc<dyn Fn(&ConnectError) + Send + Sync>;
pub(crate) type DisconnectFn = Arc<dyn Fn(DisconnectReason) + Send + Sync>;
pub(crate) type ManagerFn = Arc<dyn Fn(&ManagerEvent) + Send + Sync>;

/// What a listener listens to.
#[derive(Clone)]
pub(crate) enum Listener {
    Event { name: String, once: bool, f: EventFn },
    Any(EventFn),
    Connect(ConnectFn),
    ConnectError(ConnectErrorFn),
    Disconnect(DisconnectFn),
    Manager(ManagerFn),
}

/// Listeners in registration order (the order the JS emitter calls them in).
#[derive(Default)]
pub(crate) struct Listeners {
    next_id: u64,
    list: Vec<(ListenerId, Listener)>,
}

impl Listeners {
    pub(crate) fn add(&mut self, listener: Listener) -> ListenerId {
        self.next_id += 1;
        let id = ListenerId(self.next_id);
        self.list.push((id, listener));
        id
    }

    pub(crate) fn remove(&mut self, id: ListenerId) {
        self.list.retain(|(i, _)| *i != id);
    }

    pub(crate) fn remove_event(&mut self, name: &str) {
        self.list.retain(|(_, l)| !matches!(l, Listener::Event { name: n, .. } if n == name));
    }

    pub(crate) fn remove_any(&mut self) {
        self.list.retain(|(_, l)| !matches!(l, Listener::Any(_)));
    }

    /// The listeners of event `name`, then the catch-all ones; `once` listeners are removed.
    pub(crate) fn take_for_event(&mut self, name: &str) -> (Vec<EventFn>, Vec<EventFn>) {
        let mut named = Vec::new();
        let mut any = Vec::new();
        self.list.retain(|(_, l)| match l {
            Listener::Event { name: n, once, f } if n == name => {
                named.push(f.clone());
                !*once
            }
            Listener::Any(f) => {
                any.push(f.clone());
                true
            }
            _ => true,
        });
        (named, any)
    }

    /// Clones of every listener (to call them without holding the lock).
    pub(crate) fn snapshot(&self) -> Vec<Listener> {
        self.list.iter().map(|(_, l)| l.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_listeners_fire_once_and_off_removes() {
        let f: EventFn = Arc::new(|_| {});
        let mut l = Listeners::default();
        l.add(Listener::Event { name: "a".into(), once: true, f: f.clone() });
        let keep = l.add(Listener::Event { name: "a".into(), once: false, f: f.clone() });
        l.add(Listener::Any(f.clone()));
        assert_eq!(l.take_for_event("a").0.len(), 2);
        let (named, any) = l.take_for_event("a");
        assert_eq!((named.len(), any.len()), (1, 1));
        l.remove(keep);
        assert_eq!(l.take_for_event("a").0.len(), 0);
        l.remove_any();
        assert_eq!(l.take_for_event("a").1.len(), 0);
        l.add(Listener::Event { name: "b".into(), once: false, f });
        l.remove_event("b");
        assert!(l.snapshot().is_empty());
    }
}
