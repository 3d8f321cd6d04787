//! Who is typing where: an indicator stops by itself after the typing timeout unless a newer
//! update came.

use std::collections::HashMap;
use std::sync::Mutex;

use super::presence::lock;

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
