//! The rules of one game of tic-tac-toe: whose turn, which cells are free, who won. Plain
//! data, no I/O: the app owns the games and stores them as JSON.

use serde::{Deserialize, Serialize};

/// A player's mark. X always starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Mark {
    X,
    O,
}

impl Mark {
    /// The other mark.
    pub(crate) fn other(self) -> Mark {
        match self {
            Mark::X => Mark::O,
            Mark::O => Mark::X,
        }
    }
}

/// Where a game stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    /// Moves are taken.
    Playing,
    /// Three in a row.
    Won,
    /// A full board without a line.
    Draw,
    /// A player left for longer than the grace period, or resigned.
    Forfeit,
}

/// A player: the user id and the name shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Player {
    pub(crate) user_id: String,
    pub(crate) username: String,
}

/// One game. This is also its stored form and the `game:state` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Game {
    /// Its id (also its Socket.IO room, `game:<id>`).
    pub(crate) id: String,
    /// Plays X (moves first).
    pub(crate) x: Player,
    /// Plays O.
    pub(crate) o: Player,
    /// The nine cells, row by row.
    pub(crate) board: [Option<Mark>; 9],
    /// Who moves next (meaningless once the game is over).
    pub(crate) turn: Mark,
    pub(crate) status: Status,
    /// The winner of a won or forfeited game.
    pub(crate) winner: Option<Mark>,
    /// The winning line's cells.
    pub(crate) line: Option<[u8; 3]>,
    /// Moves taken.
    pub(crate) moves: u8,
    /// Players who asked for a rematch of this finished game.
    pub(crate) rematch: Vec<String>,
    /// The game that follows this one after a rematch.
    pub(crate) next_id: Option<String>,
    /// Milliseconds since the epoch of the last change.
    pub(crate) updated_at: i64,
}

/// Why a move or request is refused (the ack's `error.code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    NotAPlayer,
    NotYourTurn,
    CellTaken,
    InvalidCell,
    GameOver,
    GameNotOver,
}

impl Refusal {
    /// The machine-readable code.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Refusal::NotAPlayer => "not_a_player",
            Refusal::NotYourTurn => "not_your_turn",
            Refusal::CellTaken => "cell_taken",
            Refusal::InvalidCell => "invalid_cell",
            Refusal::GameOver => "game_over",
            Refusal::GameNotOver => "game_not_over",
        }
    }

    /// The human-readable message.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Refusal::NotAPlayer => "you do not play in this game",
            Refusal::NotYourTurn => "it is the other player's turn",
            Refusal::CellTaken => "that cell is already taken",
            Refusal::InvalidCell => "cell must be a number from 0 to 8",
            Refusal::GameOver => "the game is over",
            Refusal::GameNotOver => "the game is still being played",
        }
    }
}

/// The eight lines of three.
const LINES: [[u8; 3]; 8] =
    [[0, 1, 2], [3, 4, 5], [6, 7, 8], [0, 3, 6], [1, 4, 7], [2, 5, 8], [0, 4, 8], [2, 4, 6]];

/// What a rematch request did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Rematch {
    /// Waiting for the other player to ask too.
    Waiting,
    /// Both asked: the new game (marks swapped).
    Start(Game),
}

impl Game {
    /// A new game between `x` and `o`.
    pub(crate) fn new(id: String, x: Player, o: Player, now: i64) -> Game {
        Game {
            id,
            x,
            o,
            board: [None; 9],
            turn: Mark::X,
            status: Status::Playing,
            winner: None,
            line: None,
            moves: 0,
            rematch: Vec::new(),
            next_id: None,
            updated_at: now,
        }
    }

    /// The mark of `user_id`, if they play here.
    pub(crate) fn mark_of(&self, user_id: &str) -> Option<Mark> {
        if self.x.user_id == user_id {
            Some(Mark::X)
        } else if self.o.user_id == user_id {
            Some(Mark::O)
        } else {
            None
        }
    }

    /// The player with `mark`.
    pub(crate) fn player(&self, mark: Mark) -> &Player {
        match mark {
            Mark::X => &self.x,
            Mark::O => &self.o,
        }
    }

    /// Whether moves are still taken.
    pub(crate) fn is_playing(&self) -> bool {
        self.status == Status::Playing
    }

    /// `user_id` puts their mark on `cell`. Checked in this order: player, game over, turn,
    /// cell range, cell free.
    pub(crate) fn play(&mut self, user_id: &str, cell: i64, now: i64) -> Result<(), Refusal> {
        let mark = self.mark_of(user_id).ok_or(Refusal::NotAPlayer)?;
        if !self.is_playing() {
            return Err(Refusal::GameOver);
        }
        if mark != self.turn {
            return Err(Refusal::NotYourTurn);
        }
        let index = usize::try_from(cell).ok().filter(|c| *c < 9).ok_or(Refusal::InvalidCell)?;
        let slot = self.board.get_mut(index).ok_or(Refusal::InvalidCell)?;
        if slot.is_some() {
            return Err(Refusal::CellTaken);
        }
        *slot = Some(mark);
        self.moves += 1;
        self.updated_at = now;
        if let Some(line) = self.winning_line(mark) {
            self.status = Status::Won;
            self.winner = Some(mark);
            self.line = Some(line);
        } else if self.board.iter().all(Option::is_some) {
            self.status = Status::Draw;
        } else {
            self.turn = mark.other();
        }
        Ok(())
    }

    fn winning_line(&self, mark: Mark) -> Option<[u8; 3]> {
        LINES.into_iter().find(|line| {
            line.iter().all(|&c| self.board.get(usize::from(c)).copied().flatten() == Some(mark))
        })
    }

    /// `user_id` gives the game up (left too long, or resigned): the other player wins.
    pub(crate) fn forfeit(&mut self, user_id: &str, now: i64) -> Result<(), Refusal> {
        let mark = self.mark_of(user_id).ok_or(Refusal::NotAPlayer)?;
        if !self.is_playing() {
            return Err(Refusal::GameOver);
        }
        self.status = Status::Forfeit;
        self.winner = Some(mark.other());
        self.updated_at = now;
        Ok(())
    }

    /// `user_id` asks for a rematch of this finished game; once both asked, the new game has
    /// the marks swapped (the loser of a won game, or O, starts next).
    pub(crate) fn ask_rematch(
        &mut self,
        user_id: &str,
        new_id: impl FnOnce() -> String,
        now: i64,
    ) -> Result<Rematch, Refusal> {
        self.mark_of(user_id).ok_or(Refusal::NotAPlayer)?;
        if self.is_playing() {
            return Err(Refusal::GameNotOver);
        }
        if self.next_id.is_some() {
            return Err(Refusal::GameOver);
        }
        if !self.rematch.iter().any(|u| u == user_id) {
            self.rematch.push(user_id.to_owned());
        }
        self.updated_at = now;
        if self.rematch.len() < 2 {
            return Ok(Rematch::Waiting);
        }
        let game = Game::new(new_id(), self.o.clone(), self.x.clone(), now);
        self.next_id = Some(game.id.clone());
        Ok(Rematch::Start(game))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn player(name: &str) -> Player {
        Player { user_id: name.to_owned(), username: name.to_owned() }
    }

    fn game() -> Game {
        Game::new("g1".to_owned(), player("ann"), player("bob"), 1)
    }

    fn play_all(g: &mut Game, moves: &[(&str, i64)]) {
        for (who, cell) in moves {
            g.play(who, *cell, 2).unwrap();
        }
    }

    #[test]
    fn turns_and_cells_are_checked() {
        let mut g = game();
        assert_eq!(g.play("bob", 0, 2), Err(Refusal::NotYourTurn));
        assert_eq!(g.play("eve", 0, 2), Err(Refusal::NotAPlayer));
        assert_eq!(g.play("ann", 9, 2), Err(Refusal::InvalidCell));
        assert_eq!(g.play("ann", -1, 2), Err(Refusal::InvalidCell));
        g.play("ann", 4, 2).unwrap();
        assert_eq!(g.turn, Mark::O);
        assert_eq!(g.play("ann", 0, 2), Err(Refusal::NotYourTurn));
        assert_eq!(g.play("bob", 4, 2), Err(Refusal::CellTaken));
        g.play("bob", 0, 2).unwrap();
        assert_eq!((g.moves, g.turn, g.status), (2, Mark::X, Status::Playing));
    }

    #[test]
    fn every_line_wins() {
        for line in LINES {
            let mut g = game();
            for c in line {
                g.board[usize::from(c)] = Some(Mark::X);
            }
            assert_eq!(g.winning_line(Mark::X), Some(line));
            assert_eq!(g.winning_line(Mark::O), None);
        }
        let mut g = game();
        play_all(&mut g, &[("ann", 0), ("bob", 3), ("ann", 1), ("bob", 4), ("ann", 2)]);
        assert_eq!((g.status, g.winner, g.line), (Status::Won, Some(Mark::X), Some([0, 1, 2])));
        assert_eq!(g.play("bob", 5, 3), Err(Refusal::GameOver));
    }

    #[test]
    fn o_wins_and_a_full_board_is_a_draw() {
        let mut g = game();
        play_all(&mut g, &[("ann", 0), ("bob", 2), ("ann", 1), ("bob", 4), ("ann", 8), ("bob", 6)]);
        assert_eq!((g.status, g.winner, g.line), (Status::Won, Some(Mark::O), Some([2, 4, 6])));
        let mut g = game();
        // X O X / X O O / O X X
        play_all(
            &mut g,
            &[
                ("ann", 0),
                ("bob", 1),
                ("ann", 2),
                ("bob", 4),
                ("ann", 3),
                ("bob", 5),
                ("ann", 7),
                ("bob", 6),
                ("ann", 8),
            ],
        );
        assert_eq!((g.status, g.winner, g.moves), (Status::Draw, None, 9));
        assert_eq!(g.play("bob", 0, 3), Err(Refusal::GameOver));
    }

    #[test]
    fn a_forfeit_gives_the_other_player_the_game() {
        let mut g = game();
        g.play("ann", 0, 2).unwrap();
        g.forfeit("ann", 3).unwrap();
        assert_eq!((g.status, g.winner), (Status::Forfeit, Some(Mark::O)));
        assert_eq!(g.forfeit("bob", 4), Err(Refusal::GameOver));
    }

    #[test]
    fn a_rematch_needs_both_and_swaps_the_marks() {
        let mut g = game();
        assert_eq!(g.ask_rematch("ann", || "g2".into(), 2), Err(Refusal::GameNotOver));
        g.forfeit("bob", 2).unwrap();
        assert_eq!(g.ask_rematch("eve", || "g2".into(), 2), Err(Refusal::NotAPlayer));
        assert_eq!(g.ask_rematch("ann", || "g2".into(), 3), Ok(Rematch::Waiting));
        assert_eq!(g.ask_rematch("ann", || "g2".into(), 3), Ok(Rematch::Waiting));
        let Ok(Rematch::Start(next)) = g.ask_rematch("bob", || "g2".into(), 4) else {
            panic!("no rematch");
        };
        assert_eq!((next.x.user_id.as_str(), next.o.user_id.as_str()), ("bob", "ann"));
        assert_eq!(g.next_id.as_deref(), Some("g2"));
        assert_eq!(g.ask_rematch("bob", || "g3".into(), 5), Err(Refusal::GameOver));
    }

    #[test]
    fn the_stored_form_round_trips() {
        let mut g = game();
        g.play("ann", 4, 2).unwrap();
        let json = serde_json::to_value(&g).unwrap();
        assert_eq!(json["board"][4], "X");
        assert_eq!(json["status"], "playing");
        assert_eq!(json["x"]["userId"], "ann");
        assert_eq!(serde_json::from_value::<Game>(json).unwrap(), g);
    }
}
