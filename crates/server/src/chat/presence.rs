//! Who is online (counted per connection, so a user with two tabs stays online until both
//! close) and who is typing where.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use serde::Serialize;

use crate::auth::User;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section below leaves the map consistent, so a poisoned lock is usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// An online user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Online {
    /// The user id.
    pub(crate) user_id: String,
    /// The username.
    pub(crate) username: String,
}

/// Socket id → (generation, user id) of connections held during the presence grace.
type Held = HashMap<String, (u64, String)>;

/// Online users of `/chat` with their connection counts.
#[derive(Debug, Default)]
pub(crate) struct Presence {
    // Written by connection and disconnect handlers of every client task, read by
    // `users:online` and `room:join`; held only for one map operation.
    users: Mutex<HashMap<String, (String, usize)>>,
    // Connections that dropped and still count during the presence grace: socket id →
    // (generation, user id). Written by disconnect handlers, grace timers and connection
    // handlers of recovered sockets; held for one map operation, never with `users`.
    held: Mutex<(u64, Held)>,
}

impl Presence {
    /// A connection of `user` opened; true when it is the user's first.
    pub(crate) fn connect(&self, user: &User) -> bool {
        let mut users = lock(&self.users);
        let entry = users.entry(user.id.clone()).or_insert_with(|| (user.username.clone(), 0));
        entry.0.clone_from(&user.username);
        entry.1 += 1;
        entry.1 == 1
    }

    /// A connection of `user_id` closed; true when it was the user's last.
    pub(crate) fn disconnect(&self, user_id: &str) -> bool {
        let mut users = lock(&self.users);
        match users.get_mut(user_id) {
            Some(entry) if entry.1 > 1 => {
                entry.1 -= 1;
                false
            }
            Some(_) => {
                users.remove(user_id);
                true
            }
            None => false,
        }
    }

    /// Socket `sid` dropped but keeps counting for its user until [`Presence::release`] or
    /// [`Presence::resume`]; returns the generation `release` must match.
    pub(crate) fn hold(&self, sid: &str, user_id: &str) -> u64 {
        let mut held = lock(&self.held);
        held.0 += 1;
        let generation = held.0;
        held.1.insert(sid.to_owned(), (generation, user_id.to_owned()));
        generation
    }

    /// The grace of a held connection ended: it stops counting unless it was resumed or held
    /// again since; true when it was the user's last connection.
    pub(crate) fn release(&self, sid: &str, generation: u64) -> bool {
        let user_id = {
            let mut held = lock(&self.held);
            match held.1.get(sid) {
                Some((g, _)) if *g == generation => held.1.remove(sid).map(|(_, user)| user),
                _ => None,
            }
        };
        user_id.is_some_and(|user_id| self.disconnect(&user_id))
    }

    /// Socket `sid` of `user` was recovered: a held connection counts again as it was (false);
    /// one whose grace ended connects anew (true when it is the user's first).
    pub(crate) fn resume(&self, sid: &str, user: &User) -> bool {
        if lock(&self.held).1.remove(sid).is_some() {
            return false;
        }
        self.connect(user)
    }

    /// Whether the user has an open connection.
    pub(crate) fn is_online(&self, user_id: &str) -> bool {
        lock(&self.users).contains_key(user_id)
    }

    /// Every online user, by id.
    pub(crate) fn list(&self) -> Vec<Online> {
        let mut list: Vec<Online> = lock(&self.users)
            .iter()
            .map(|(id, (name, _))| Online { user_id: id.clone(), username: name.clone() })
            .collect();
        list.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        list
    }
}

/// (user id, room id) → generation of the latest `isTyping: true`.
type Indicators = HashMap<(String, String), u64>;

/// Typing indicators, with the last generation handed out.
#[derive(Debug, Default)]
pub(crate) struct Typing {
    // Written by `typing:update` handlers and by the auto-stop timers; held for one map
    // operation.
    state: Mutex<(u64, Indicators)>,
}

impl Typing {
    /// `user_id` is typing in `room_id`; the generation the auto-stop timer must match.
    pub(crate) fn start(&self, user_id: &str, room_id: &str) -> u64 {
        let mut state = lock(&self.state);
        state.0 += 1;
        let generation = state.0;
        state.1.insert((user_id.to_owned(), room_id.to_owned()), generation);
        generation
    }

    /// Stops the indicator if no update came since `generation`; true if it was stopped.
    pub(crate) fn expire(&self, user_id: &str, room_id: &str, generation: u64) -> bool {
        let mut state = lock(&self.state);
        let key = (user_id.to_owned(), room_id.to_owned());
        if state.1.get(&key) == Some(&generation) {
            state.1.remove(&key);
            true
        } else {
            false
        }
    }

    /// Stops the indicator.
    pub(crate) fn stop(&self, user_id: &str, room_id: &str) {
        lock(&self.state).1.remove(&(user_id.to_owned(), room_id.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_tabs_stay_online_until_both_close() {
        let p = Presence::default();
        let ann = User { id: "ann".into(), username: "Ann".into() };
        assert!(p.connect(&ann));
        assert!(!p.connect(&ann));
        assert!(!p.disconnect("ann"));
        assert!(p.is_online("ann"));
        assert_eq!(p.list(), [Online { user_id: "ann".into(), username: "Ann".into() }]);
        assert!(p.disconnect("ann"));
        assert!(!p.is_online("ann"));
        assert!(!p.disconnect("ann"));
    }

    #[test]
    fn a_held_connection_keeps_its_user_online_until_released_or_resumed() {
        let p = Presence::default();
        let ann = User { id: "ann".into(), username: "Ann".into() };
        assert!(p.connect(&ann));
        let g1 = p.hold("s1", "ann");
        assert!(p.is_online("ann"));
        assert!(!p.resume("s1", &ann), "resumed within the grace: no new online");
        assert!(p.is_online("ann"));
        let g2 = p.hold("s1", "ann");
        assert!(!p.release("s1", g1), "an older grace does not release a newer hold");
        assert!(p.is_online("ann"));
        assert!(p.release("s1", g2));
        assert!(!p.is_online("ann"));
        assert!(!p.release("s1", g2), "released once");
        assert!(p.resume("s1", &ann), "recovered after the grace: online again");
        assert!(p.is_online("ann"));
    }

    #[test]
    fn only_the_latest_typing_update_expires() {
        let t = Typing::default();
        let first = t.start("ann", "r");
        let second = t.start("ann", "r");
        assert!(!t.expire("ann", "r", first));
        assert!(t.expire("ann", "r", second));
        let third = t.start("ann", "r");
        t.stop("ann", "r");
        assert!(!t.expire("ann", "r", third));
    }
}
