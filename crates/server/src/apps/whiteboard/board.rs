//! A whiteboard's strokes: what a stroke may hold, and the board as an ordered list of them
//! (undo takes a user's own last stroke, clear takes them all). Plain data; the app stores
//! each stroke in the board's log and keeps the loaded boards here.

use serde::{Deserialize, Serialize};

/// The most points in one stroke.
pub(crate) const MAX_POINTS: usize = 4000;
/// The most strokes on one board.
pub(crate) const MAX_STROKES: usize = 5000;
/// The most points on one board, all strokes together (about 8 MB in memory).
pub(crate) const MAX_BOARD_POINTS: usize = 500_000;
/// The thinnest and thickest line, in thousandths of the board's width.
pub(crate) const WIDTH: std::ops::RangeInclusive<f64> = 0.5..=60.0;

/// One stroke: the `stroke` payload from a client, and its stored form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Stroke {
    /// The client's id of the stroke (1–64 characters).
    pub(crate) id: String,
    /// `#rrggbb`.
    pub(crate) color: String,
    /// Line width in thousandths of the board's width.
    pub(crate) width: f64,
    /// Points as `[x, y]`, each from 0 to 1 (the board's width and height).
    pub(crate) points: Vec<[f64; 2]>,
    /// Who drew it (set by the server).
    #[serde(default)]
    pub(crate) user_id: String,
    #[serde(default)]
    pub(crate) username: String,
}

/// Why a stroke is refused (the message of `invalid_stroke`).
pub(crate) fn check(stroke: &Stroke) -> Result<(), &'static str> {
    let id_len = stroke.id.chars().count();
    if !(1..=64).contains(&id_len) || stroke.id.chars().any(char::is_control) {
        return Err("id must be 1 to 64 characters");
    }
    let hex = stroke.color.strip_prefix('#').unwrap_or("");
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("color must be #rrggbb");
    }
    if !WIDTH.contains(&stroke.width) {
        return Err("width must be from 0.5 to 60");
    }
    if stroke.points.is_empty() || stroke.points.len() > MAX_POINTS {
        return Err("a stroke has 1 to 4000 points");
    }
    let inside = |v: f64| (0.0..=1.0).contains(&v);
    if !stroke.points.iter().all(|[x, y]| inside(*x) && inside(*y)) {
        return Err("points are normalised: x and y from 0 to 1");
    }
    Ok(())
}

/// A board: its strokes in the order they were stored.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Board {
    strokes: Vec<(i64, Stroke)>,
    /// The points of every stroke, together.
    points: usize,
}

impl Board {
    /// A board from its stored log.
    pub(crate) fn from_log(strokes: Vec<(i64, Stroke)>) -> Board {
        let points = strokes.iter().map(|(_, s)| s.points.len()).sum();
        Board { strokes, points }
    }

    /// Its strokes with their sequence numbers, oldest first.
    pub(crate) fn strokes(&self) -> &[(i64, Stroke)] {
        &self.strokes
    }

    /// Whether `stroke` fits on the board.
    pub(crate) fn fits(&self, stroke: &Stroke) -> bool {
        self.strokes.len() < MAX_STROKES
            && self.points.saturating_add(stroke.points.len()) <= MAX_BOARD_POINTS
    }

    /// Adds a stored stroke.
    pub(crate) fn add(&mut self, seq: i64, stroke: Stroke) {
        self.points += stroke.points.len();
        self.strokes.push((seq, stroke));
    }

    /// The sequence number and id of `user_id`'s last stroke.
    pub(crate) fn last_of(&self, user_id: &str) -> Option<(i64, String)> {
        self.strokes
            .iter()
            .rev()
            .find(|(_, s)| s.user_id == user_id)
            .map(|(q, s)| (*q, s.id.clone()))
    }

    /// Removes the stroke `seq`.
    pub(crate) fn remove(&mut self, seq: i64) -> bool {
        match self.strokes.iter().position(|(q, _)| *q == seq) {
            Some(at) => {
                let (_, stroke) = self.strokes.remove(at);
                self.points = self.points.saturating_sub(stroke.points.len());
                true
            }
            None => false,
        }
    }

    /// Removes every stroke; how many there were.
    pub(crate) fn clear(&mut self) -> usize {
        self.points = 0;
        std::mem::take(&mut self.strokes).len()
    }
}

/// Lets a cursor update through at most once per interval.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Throttle {
    last: Option<std::time::Instant>,
}

impl Throttle {
    /// A throttle that lets the next update through.
    pub(crate) fn new() -> Throttle {
        Throttle { last: None }
    }

    /// Whether an update at `now` goes through (at least `every` after the last one that did).
    pub(crate) fn allow(&mut self, now: std::time::Instant, every: std::time::Duration) -> bool {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < every => false,
            _ => {
                self.last = Some(now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn stroke(id: &str, user: &str) -> Stroke {
        Stroke {
            id: id.to_owned(),
            color: "#1f5fbf".to_owned(),
            width: 4.0,
            points: vec![[0.1, 0.2], [0.5, 0.5]],
            user_id: user.to_owned(),
            username: user.to_owned(),
        }
    }

    #[test]
    fn strokes_are_checked() {
        assert_eq!(check(&stroke("s1", "ann")), Ok(()));
        let bad = |f: fn(&mut Stroke)| {
            let mut s = stroke("s1", "ann");
            f(&mut s);
            check(&s).is_err()
        };
        assert!(bad(|s| s.id.clear()));
        assert!(bad(|s| s.color = "blue".into()));
        assert!(bad(|s| s.color = "#12345g".into()));
        assert!(bad(|s| s.width = 0.0));
        assert!(bad(|s| s.width = f64::NAN));
        assert!(bad(|s| s.points.clear()));
        assert!(bad(|s| s.points.push([1.2, 0.5])));
        assert!(bad(|s| s.points.push([0.5, -0.1])));
        assert!(bad(|s| s.points = vec![[0.5, 0.5]; MAX_POINTS + 1]));
    }

    #[test]
    fn undo_takes_the_users_own_last_stroke_and_clear_takes_all() {
        let mut b = Board::default();
        b.add(1, stroke("a1", "ann"));
        b.add(2, stroke("b1", "bob"));
        b.add(3, stroke("a2", "ann"));
        b.add(4, stroke("b2", "bob"));
        assert_eq!(b.last_of("ann"), Some((3, "a2".to_owned())));
        assert!(b.remove(3));
        assert!(!b.remove(3));
        assert_eq!(b.last_of("ann"), Some((1, "a1".to_owned())));
        assert_eq!(b.strokes().iter().map(|(q, _)| *q).collect::<Vec<_>>(), [1, 2, 4]);
        assert_eq!(b.last_of("eve"), None);
        assert_eq!(b.clear(), 3);
        assert!(b.strokes().is_empty());
    }

    #[test]
    fn a_board_holds_a_bounded_number_of_points() {
        let mut big = stroke("big", "ann");
        big.points = vec![[0.5, 0.5]; MAX_POINTS];
        let mut b = Board::default();
        let mut seq = 0;
        while b.fits(&big) {
            seq += 1;
            b.add(seq, big.clone());
        }
        assert_eq!(b.points, MAX_BOARD_POINTS);
        assert!(b.fits(&Stroke { points: vec![], ..big.clone() }));
        assert!(b.remove(1));
        assert!(b.fits(&big));
        let reloaded = Board::from_log(b.strokes().to_vec());
        assert_eq!(reloaded.points, b.points);
        b.clear();
        assert_eq!(b.points, 0);
    }

    #[test]
    fn the_throttle_lets_one_update_through_per_interval() {
        let t0 = Instant::now();
        let every = Duration::from_millis(40);
        let mut t = Throttle::new();
        assert!(t.allow(t0, every));
        assert!(!t.allow(t0 + Duration::from_millis(39), every));
        assert!(t.allow(t0 + Duration::from_millis(40), every));
        assert!(!t.allow(t0 + Duration::from_millis(41), every));
    }
}
