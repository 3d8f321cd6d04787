//! Who is online in `/chat`, on this node and on the other nodes of a cluster.
//!
//! This node counts its own connections per user: a user with two tabs stays online until both
//! close, and a connection that dropped keeps counting during the presence grace. In a cluster
//! it also keeps what each other node last said about its users: a node sends an [`Update`]
//! when a user gets a first or loses a last connection there, and its whole list on every
//! heartbeat; a node not heard from for the presence TTL is forgotten with its users (it died,
//! or cannot reach Redis). A user is online while any node counts a connection of theirs.
//!
//! Every node sees every change of that (online somewhere ↔ online nowhere) and announces it
//! to its own sockets only, so each socket gets each change once.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::auth::User;

/// Locks `m`, poisoned or not.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section of this module leaves its map consistent, so a poisoned lock is
    // usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// An online user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Online {
    /// The user id.
    pub(crate) user_id: String,
    /// The username.
    pub(crate) username: String,
}

impl Online {
    /// The user.
    pub(crate) fn user(&self) -> User {
        User { id: self.user_id.clone(), username: self.username.clone() }
    }
}

/// A change of a user's presence across the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// The user's first connection anywhere opened.
    Online,
    /// The user's last connection anywhere closed.
    Offline,
}

impl Status {
    /// The `status` of `presence:update`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Online => "online",
            Status::Offline => "offline",
        }
    }
}

/// What a node tells the others about its users. `seq` numbers a node's updates so that an
/// older one arriving late is ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub(crate) enum Update {
    /// A node started, or came back to Redis: the others answer with their lists.
    Hello,
    /// A node stops: its users are gone from it.
    Bye,
    /// A user's first connection on the node.
    Up { seq: u64, user: Online },
    /// A user's last connection on the node closed.
    Down { seq: u64, user_id: String },
    /// Every user of the node (the heartbeat).
    State { seq: u64, users: Vec<Online> },
}

/// What a change of this node's connections means.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Change {
    /// The user came online, or went offline, for the whole cluster: announce it here.
    pub(crate) anywhere: bool,
    /// What to tell the other nodes (the user's first or last connection on this node).
    pub(crate) update: Option<Update>,
}

/// Socket id → (generation, user id) of connections held during the presence grace.
type Held = HashMap<String, (u64, String)>;

/// What another node said about its users.
#[derive(Debug)]
struct Node {
    /// User id → username.
    users: HashMap<String, String>,
    /// The node's last update applied.
    seq: u64,
    /// When the node was last heard from.
    heard: Instant,
}

/// The users of this node and of the others.
#[derive(Debug, Default)]
struct Directory {
    /// This node's users: id → (username, open connections).
    local: HashMap<String, (String, usize)>,
    /// The other nodes by id.
    nodes: HashMap<String, Node>,
    /// The seq of this node's last update.
    seq: u64,
}

impl Directory {
    /// The username of `user_id` if some node counts a connection of theirs.
    fn find(&self, user_id: &str) -> Option<&str> {
        if let Some((name, _)) = self.local.get(user_id) {
            return Some(name);
        }
        self.nodes.values().find_map(|n| n.users.get(user_id)).map(String::as_str)
    }

    /// Runs `f`, and gives the users of `ids` whose presence it changed.
    fn changing(
        &mut self,
        ids: HashSet<String>,
        f: impl FnOnce(&mut Directory),
    ) -> Vec<(Online, Status)> {
        let before: Vec<(String, Option<String>)> = ids
            .into_iter()
            .map(|id| {
                let was = self.find(&id).map(str::to_owned);
                (id, was)
            })
            .collect();
        f(self);
        let mut changes: Vec<(Online, Status)> = before
            .into_iter()
            .filter_map(|(user_id, was)| match (was, self.find(&user_id)) {
                (None, Some(name)) => {
                    let username = name.to_owned();
                    Some((Online { user_id, username }, Status::Online))
                }
                (Some(username), None) => Some((Online { user_id, username }, Status::Offline)),
                _ => None,
            })
            .collect();
        changes.sort_by(|a, b| a.0.user_id.cmp(&b.0.user_id));
        changes
    }
}

/// Online users of `/chat`: this node's connection counts and the other nodes' users.
#[derive(Debug, Default)]
pub(crate) struct Presence {
    // This node's counts and the other nodes' users under one lock, so that whether a user is
    // online anywhere is decided in one critical section. Written by connection and disconnect
    // handlers, grace timers and the cluster link task; read by `users:online` and
    // `room:join`; held for one operation.
    dir: Mutex<Directory>,
    // Connections that dropped and still count during the presence grace: socket id →
    // (generation, user id). Written by disconnect handlers, grace timers and connection
    // handlers of recovered sockets; held for one map operation, never with `dir`.
    held: Mutex<(u64, Held)>,
}

impl Presence {
    /// A connection of `user` opened on this node.
    pub(crate) fn connect(&self, user: &User) -> Change {
        let mut dir = lock(&self.dir);
        let was_online = dir.find(&user.id).is_some();
        let entry = dir.local.entry(user.id.clone()).or_insert_with(|| (user.username.clone(), 0));
        entry.0.clone_from(&user.username);
        entry.1 += 1;
        if entry.1 > 1 {
            return Change::default();
        }
        dir.seq += 1;
        let online = Online { user_id: user.id.clone(), username: user.username.clone() };
        Change { anywhere: !was_online, update: Some(Update::Up { seq: dir.seq, user: online }) }
    }

    /// A connection of `user_id` on this node closed.
    pub(crate) fn disconnect(&self, user_id: &str) -> Change {
        let mut dir = lock(&self.dir);
        match dir.local.get_mut(user_id) {
            Some(entry) if entry.1 > 1 => {
                entry.1 -= 1;
                Change::default()
            }
            Some(_) => {
                dir.local.remove(user_id);
                dir.seq += 1;
                let update = Update::Down { seq: dir.seq, user_id: user_id.to_owned() };
                Change { anywhere: dir.find(user_id).is_none(), update: Some(update) }
            }
            None => Change::default(),
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
    /// again since.
    pub(crate) fn release(&self, sid: &str, generation: u64) -> Change {
        let user_id = {
            let mut held = lock(&self.held);
            match held.1.get(sid) {
                Some((g, _)) if *g == generation => held.1.remove(sid).map(|(_, user)| user),
                _ => None,
            }
        };
        user_id.map(|user_id| self.disconnect(&user_id)).unwrap_or_default()
    }

    /// Socket `sid` of `user` was recovered: a held connection counts again as it was (no
    /// change); one whose grace ended connects anew.
    pub(crate) fn resume(&self, sid: &str, user: &User) -> Change {
        if lock(&self.held).1.remove(sid).is_some() {
            return Change::default();
        }
        self.connect(user)
    }

    /// Whether the user has an open connection on some node.
    pub(crate) fn is_online(&self, user_id: &str) -> bool {
        lock(&self.dir).find(user_id).is_some()
    }

    /// Every online user of the cluster, by id.
    pub(crate) fn list(&self) -> Vec<Online> {
        let dir = lock(&self.dir);
        let mut seen: HashMap<&str, &str> = HashMap::new();
        for node in dir.nodes.values() {
            seen.extend(node.users.iter().map(|(id, name)| (id.as_str(), name.as_str())));
        }
        seen.extend(dir.local.iter().map(|(id, (name, _))| (id.as_str(), name.as_str())));
        let mut list: Vec<Online> = seen
            .into_iter()
            .map(|(id, name)| Online { user_id: id.to_owned(), username: name.to_owned() })
            .collect();
        list.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        list
    }

    /// This node's users, as the heartbeat sends them (with a new seq).
    pub(crate) fn snapshot(&self) -> Update {
        let mut dir = lock(&self.dir);
        dir.seq += 1;
        let mut users: Vec<Online> = dir
            .local
            .iter()
            .map(|(id, (name, _))| Online { user_id: id.clone(), username: name.clone() })
            .collect();
        users.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        Update::State { seq: dir.seq, users }
    }

    /// Applies what node `from` said at `now`; the users whose presence changed.
    pub(crate) fn apply(&self, from: &str, update: Update, now: Instant) -> Vec<(Online, Status)> {
        let mut dir = lock(&self.dir);
        if update == Update::Bye {
            let ids = dir.nodes.get(from).map(|n| n.users.keys().cloned().collect());
            return dir.changing(ids.unwrap_or_default(), |d| {
                d.nodes.remove(from);
            });
        }
        let node = dir.nodes.entry(from.to_owned()).or_insert_with(|| Node {
            users: HashMap::new(),
            seq: 0,
            heard: now,
        });
        node.heard = now;
        let seq = match &update {
            Update::Up { seq, .. } | Update::Down { seq, .. } | Update::State { seq, .. } => *seq,
            Update::Hello | Update::Bye => return Vec::new(),
        };
        if seq <= node.seq {
            // Sent before the last one applied, delivered after it: already superseded.
            return Vec::new();
        }
        node.seq = seq;
        let from = from.to_owned();
        match update {
            Update::Up { user, .. } => {
                let ids = HashSet::from([user.user_id.clone()]);
                dir.changing(ids, |d| {
                    if let Some(n) = d.nodes.get_mut(&from) {
                        n.users.insert(user.user_id, user.username);
                    }
                })
            }
            Update::Down { user_id, .. } => {
                let ids = HashSet::from([user_id.clone()]);
                dir.changing(ids, |d| {
                    if let Some(n) = d.nodes.get_mut(&from) {
                        n.users.remove(&user_id);
                    }
                })
            }
            Update::State { users, .. } => {
                let mut ids: HashSet<String> = users.iter().map(|u| u.user_id.clone()).collect();
                if let Some(n) = dir.nodes.get(&from) {
                    ids.extend(n.users.keys().cloned());
                }
                dir.changing(ids, |d| {
                    if let Some(n) = d.nodes.get_mut(&from) {
                        n.users = users.into_iter().map(|u| (u.user_id, u.username)).collect();
                    }
                })
            }
            Update::Hello | Update::Bye => Vec::new(),
        }
    }

    /// Forgets the nodes not heard from for `ttl` at `now`; the users who went offline.
    pub(crate) fn expire(&self, now: Instant, ttl: Duration) -> Vec<(Online, Status)> {
        let mut dir = lock(&self.dir);
        let gone: Vec<String> = dir
            .nodes
            .iter()
            .filter(|(_, n)| now.saturating_duration_since(n.heard) >= ttl)
            .map(|(id, _)| id.clone())
            .collect();
        if gone.is_empty() {
            return Vec::new();
        }
        let ids: HashSet<String> = gone
            .iter()
            .filter_map(|id| dir.nodes.get(id))
            .flat_map(|n| n.users.keys().cloned())
            .collect();
        for id in &gone {
            tracing::warn!(node = %id, "a node was not heard from within the presence TTL");
        }
        dir.changing(ids, |d| {
            for id in &gone {
                d.nodes.remove(id);
            }
        })
    }

    /// Counts every other node as heard at `now` (this node's link to them is back: whatever
    /// they said meanwhile was lost, so their TTL starts again).
    pub(crate) fn refresh(&self, now: Instant) {
        for node in lock(&self.dir).nodes.values_mut() {
            node.heard = now;
        }
    }

    /// How many other nodes are known.
    #[cfg(test)]
    pub(crate) fn nodes(&self) -> usize {
        lock(&self.dir).nodes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann() -> User {
        User { id: "ann".into(), username: "Ann".into() }
    }

    fn online(id: &str, name: &str) -> Online {
        Online { user_id: id.into(), username: name.into() }
    }

    #[test]
    fn two_tabs_stay_online_until_both_close() {
        let p = Presence::default();
        let first = p.connect(&ann());
        assert!(first.anywhere);
        assert!(matches!(first.update, Some(Update::Up { seq: 1, .. })));
        assert_eq!(p.connect(&ann()), Change::default());
        assert_eq!(p.disconnect("ann"), Change::default());
        assert!(p.is_online("ann"));
        assert_eq!(p.list(), [online("ann", "Ann")]);
        let last = p.disconnect("ann");
        assert!(last.anywhere);
        assert_eq!(last.update, Some(Update::Down { seq: 2, user_id: "ann".into() }));
        assert!(!p.is_online("ann"));
        assert_eq!(p.disconnect("ann"), Change::default());
    }

    #[test]
    fn a_held_connection_keeps_its_user_online_until_released_or_resumed() {
        let p = Presence::default();
        assert!(p.connect(&ann()).anywhere);
        let g1 = p.hold("s1", "ann");
        assert!(p.is_online("ann"));
        assert_eq!(p.resume("s1", &ann()), Change::default(), "resumed within the grace");
        assert!(p.is_online("ann"));
        let g2 = p.hold("s1", "ann");
        assert_eq!(p.release("s1", g1), Change::default(), "an older grace does not release");
        assert!(p.is_online("ann"));
        assert!(p.release("s1", g2).anywhere);
        assert!(!p.is_online("ann"));
        assert_eq!(p.release("s1", g2), Change::default(), "released once");
        assert!(p.resume("s1", &ann()).anywhere, "recovered after the grace: online again");
        assert!(p.is_online("ann"));
    }

    #[test]
    fn a_user_is_online_while_any_node_has_them() {
        let p = Presence::default();
        let t = Instant::now();
        let up = Update::Up { seq: 1, user: online("ann", "Ann") };
        assert_eq!(p.apply("b", up, t), [(online("ann", "Ann"), Status::Online)]);
        assert_eq!(p.list(), [online("ann", "Ann")]);
        // A local connection of a user online elsewhere: told to the others, not announced.
        let local = p.connect(&ann());
        assert!(!local.anywhere);
        assert!(local.update.is_some());
        // The other node loses her: still online here.
        let down = Update::Down { seq: 2, user_id: "ann".into() };
        assert_eq!(p.apply("b", down, t), []);
        assert!(p.is_online("ann"));
        // Online on node c, then her local connection closes: not offline either.
        let up = Update::Up { seq: 1, user: online("ann", "Ann") };
        assert_eq!(p.apply("c", up, t), []);
        assert!(!p.disconnect("ann").anywhere);
        // Node c says goodbye: now she is offline everywhere.
        assert_eq!(p.apply("c", Update::Bye, t), [(online("ann", "Ann"), Status::Offline)]);
        assert!(!p.is_online("ann"));
        assert_eq!(p.nodes(), 1);
    }

    #[test]
    fn a_late_older_update_is_ignored_and_a_state_replaces_the_list() {
        let p = Presence::default();
        let t = Instant::now();
        let state =
            Update::State { seq: 5, users: vec![online("ann", "Ann"), online("bob", "Bob")] };
        let changes = p.apply("b", state, t);
        assert_eq!(changes.len(), 2);
        // Sent before the state, delivered after: ignored.
        let stale = Update::Down { seq: 4, user_id: "ann".into() };
        assert_eq!(p.apply("b", stale, t), []);
        assert!(p.is_online("ann"));
        let state =
            Update::State { seq: 6, users: vec![online("bob", "Bob"), online("cat", "Cat")] };
        assert_eq!(
            p.apply("b", state, t),
            [(online("ann", "Ann"), Status::Offline), (online("cat", "Cat"), Status::Online)]
        );
        assert_eq!(p.list(), [online("bob", "Bob"), online("cat", "Cat")]);
    }

    #[test]
    fn a_silent_node_expires_with_its_users_after_the_ttl() {
        let p = Presence::default();
        let ttl = Duration::from_secs(3);
        let t0 = Instant::now();
        assert!(p.connect(&ann()).anywhere);
        let state =
            Update::State { seq: 1, users: vec![online("ann", "Ann"), online("bob", "Bob")] };
        assert_eq!(p.apply("b", state, t0), [(online("bob", "Bob"), Status::Online)]);
        assert_eq!(p.expire(t0 + Duration::from_secs(2), ttl), []);
        // Heard again at 2 s: the TTL counts from there.
        p.apply("b", Update::Hello, t0 + Duration::from_secs(2));
        assert_eq!(p.expire(t0 + Duration::from_secs(4), ttl), []);
        // A link that came back restarts every TTL.
        p.refresh(t0 + Duration::from_secs(4));
        assert_eq!(p.expire(t0 + Duration::from_millis(6_900), ttl), []);
        // Ann is also here, so only Bob goes offline.
        let expired = p.expire(t0 + Duration::from_secs(7), ttl);
        assert_eq!(expired, [(online("bob", "Bob"), Status::Offline)]);
        assert_eq!(p.nodes(), 0);
        assert_eq!(p.list(), [online("ann", "Ann")]);
    }

    #[test]
    fn updates_travel_as_json() {
        let up = Update::Down { seq: 3, user_id: "ann".into() };
        let text = serde_json::to_string(&up).unwrap();
        assert_eq!(text, r#"{"kind":"down","seq":3,"userId":"ann"}"#);
        assert_eq!(serde_json::from_str::<Update>(&text).unwrap(), up);
        assert!(serde_json::from_str::<Update>(r#"{"kind":"nope"}"#).is_err());
    }
}
