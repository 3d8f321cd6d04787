//! Tic-tac-toe on namespace `/tictactoe`: matchmaking (`game:find`), a Socket.IO room per
//! game, moves checked by the server, a forfeit after a player stayed away longer than the
//! grace period, rematches. Games are stored, so they survive a restart.
//!
//! Client → server (each answers `{ ok: true, ... }` or `{ ok: false, error: { code,
//! message } }`): `game:find`, `game:cancel`, `game:move { gameId, cell }`,
//! `game:resign { gameId }`, `game:rematch { gameId }`. Server → client: `game:state` (the
//! game, with `away`: players gone and when they forfeit).

mod deadlines;
mod game;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchboard::{Data, DisconnectReason, Namespace, Socket};
use tokio::sync::Mutex;

use self::deadlines::Deadlines;
use self::game::{Game, Player, Refusal, Rematch};
use crate::apps::{
    ApiError, App, AppContext, AppStore, Asset, Outcome, Shutdown, authenticate, fields,
    page_routes, parse,
};
use crate::auth::User;
use crate::store::{new_id, now_ms};

/// The app's name: its namespace, page path and store slice.
const NAME: &str = "tictactoe";
/// The store collection of the games.
const GAMES: &str = "games";
/// How long a finished game stays in memory (for its rematch); it stays in the store.
const KEEP_FINISHED_MS: i64 = 3_600_000;

/// Whether `game` is kept in memory at `now`.
fn worth_keeping(game: &Game, now: i64) -> bool {
    game.is_playing() || game.updated_at > now.saturating_sub(KEEP_FINISHED_MS)
}

/// Event names of `/tictactoe`.
pub(crate) mod events {
    /// Client → server: find an opponent (or get the game already running).
    pub(crate) const FIND: &str = "game:find";
    /// Client → server: stop waiting for an opponent.
    pub(crate) const CANCEL: &str = "game:cancel";
    /// Client → server: `{ gameId, cell }`, cell 0–8 row by row.
    pub(crate) const MOVE: &str = "game:move";
    /// Client → server: `{ gameId }`, give the game up.
    pub(crate) const RESIGN: &str = "game:resign";
    /// Client → server: `{ gameId }`, play again (both must ask).
    pub(crate) const REMATCH: &str = "game:rematch";
    /// Server → client: a game's state.
    pub(crate) const STATE: &str = "game:state";
}

/// The tic-tac-toe app.
pub(crate) struct TicTacToe;

impl App for TicTacToe {
    fn name(&self) -> &'static str {
        NAME
    }

    fn title(&self) -> &'static str {
        "Tic-tac-toe"
    }

    fn summary(&self) -> &'static str {
        "Find an opponent and play; the server checks every move, and games survive a restart."
    }

    fn single_node(&self) -> bool {
        true
    }

    fn install(&self, cx: &AppContext) -> anyhow::Result<()> {
        let tables = Arc::new(Tables {
            ns: cx.io.of("/tictactoe"),
            store: cx.store_of(NAME),
            grace: cx.config.tictactoe_grace,
            shutdown: cx.shutdown.clone(),
            lobby: Mutex::new(Lobby::default()),
        });
        // Ends the forfeit timers when the server stops (the games wait for the restart);
        // owned by the app, it ends with the shutdown signal.
        let stopping = tables.clone();
        tokio::spawn(async move {
            stopping.shutdown.fired().await;
            stopping.lobby.lock().await.forfeits.cancel_all();
        });
        let ns = tables.ns.clone();
        authenticate(&ns);
        ns.on_connection(move |socket: Socket, user: User| {
            let tables = tables.clone();
            async move { tables.connected(socket, user).await }
        });
        Ok(())
    }

    fn routes(&self, _cx: &AppContext) -> Router {
        page::routes()
    }
}

/// The app's state, shared by its handlers and timers.
struct Tables {
    ns: Namespace,
    store: AppStore,
    /// How long a player may stay away from a running game before forfeiting it.
    grace: Duration,
    /// The server is stopping: players leaving then do not forfeit.
    shutdown: Shutdown,
    // Every game and who is connected: one lock held across each change, its store write and
    // its broadcast, so every client sees the moves in the order they were taken. Owned by
    // the app; timers take it before they act.
    lobby: Mutex<Lobby>,
}

/// Whether a connection is counted in [`Lobby::connections`] (a socket extension, read and
/// written under the lobby's lock).
#[derive(Clone, Default)]
struct Counted(Arc<AtomicBool>);

#[derive(Default)]
struct Lobby {
    /// The games, read from the store on first use.
    games: Option<HashMap<String, Game>>,
    /// Open connections per user.
    connections: HashMap<String, usize>,
    /// The player waiting for an opponent.
    waiting: Option<Player>,
    /// Forfeit timers of players who left a running game, by (game, user).
    forfeits: Deadlines<(String, String)>,
}

/// A game as clients see it: the game and the players who left it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct View<'a> {
    #[serde(flatten)]
    game: &'a Game,
    /// Players away from this running game, and when each forfeits.
    away: Vec<Away>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Away {
    user_id: String,
    forfeit_at: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GameRef {
    game_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Move {
    game_id: String,
    cell: i64,
}

fn room(game_id: &str) -> String {
    format!("game:{game_id}")
}

fn refused(refusal: Refusal) -> ApiError {
    ApiError::new(refusal.code(), refusal.message())
}

fn not_found() -> ApiError {
    ApiError::new("game_not_found", "no such game")
}

impl Lobby {
    fn view<'a>(&self, game: &'a Game) -> View<'a> {
        let mut away = Vec::new();
        for player in [&game.x, &game.o] {
            let key = (game.id.clone(), player.user_id.clone());
            if let Some(at) = self.forfeits.due(&key) {
                away.push(Away { user_id: player.user_id.clone(), forfeit_at: at });
            }
        }
        View { game, away }
    }

    fn is_online(&self, user_id: &str) -> bool {
        self.connections.get(user_id).is_some_and(|n| *n > 0)
    }
}

impl Tables {
    /// The lobby, with the games read from the store if this is the first use.
    async fn lobby(&self) -> Result<tokio::sync::MutexGuard<'_, Lobby>, ApiError> {
        let mut lobby = self.lobby.lock().await;
        if lobby.games.is_none() {
            let games = self.store.list::<Game>(GAMES).await?;
            let now = now_ms();
            lobby.games = Some(games.into_iter().filter(|(_, g)| worth_keeping(g, now)).collect());
        }
        Ok(lobby)
    }

    /// Stores a game and sends its state to its room.
    async fn publish(&self, lobby: &Lobby, game: &Game) -> Result<(), ApiError> {
        self.store.put(GAMES, &game.id, game).await?;
        let sent = self.ns.to(room(&game.id)).emit(events::STATE, &lobby.view(game)).await;
        if let Err(error) = sent {
            tracing::debug!(%error, "game state not sent");
        }
        Ok(())
    }

    /// Puts every connection of the game's players in its room.
    async fn seat(&self, game: &Game) {
        for player in [&game.x, &game.o] {
            let to = self.ns.in_(crate::auth::user_room(&player.user_id));
            if let Err(error) = to.sockets_join(room(&game.id)).await {
                tracing::debug!(%error, "player not seated");
            }
        }
    }

    async fn connected(self: Arc<Self>, socket: Socket, user: User) {
        if let Err(error) = self.register(&socket) {
            tracing::warn!(%error, "tic-tac-toe handlers not registered");
            return;
        }
        socket.join(user.room());
        let tables = self.clone();
        socket.insert_extension(Counted::default());
        socket.on_disconnect(move |socket: Socket, user: User, _reason: DisconnectReason| {
            let tables = tables.clone();
            async move { tables.disconnected(&socket, user).await }
        });
        if let Err(e) = self.resume(&socket, &user).await {
            tracing::warn!(code = e.code, "tic-tac-toe games not resumed");
        }
    }

    /// A player is back: their running games are shown, their forfeit timers cancelled; an
    /// opponent who is not here (after a restart) gets a timer of their own.
    async fn resume(self: &Arc<Self>, socket: &Socket, user: &User) -> Result<(), ApiError> {
        let mut lobby = self.lobby().await?;
        // Under the lobby's lock: a connection that is already gone is not counted (its
        // disconnect then leaves the count alone).
        let Some(counted) = socket.extension::<Counted>() else { return Ok(()) };
        if !socket.connected() {
            return Ok(());
        }
        counted.0.store(true, Ordering::SeqCst);
        *lobby.connections.entry(user.id.clone()).or_default() += 1;
        let running: Vec<Game> = lobby
            .games
            .iter()
            .flat_map(HashMap::values)
            .filter(|g| g.is_playing() && g.mark_of(&user.id).is_some())
            .cloned()
            .collect();
        for game in running {
            socket.join(room(&game.id));
            let came_back = lobby.forfeits.cancel(&(game.id.clone(), user.id.clone()));
            let opponent = match game.mark_of(&user.id) {
                Some(mark) => game.player(mark.other()).user_id.clone(),
                None => continue,
            };
            let key = (game.id.clone(), opponent.clone());
            if !lobby.is_online(&opponent) && lobby.forfeits.due(&key).is_none() {
                self.arm_forfeit(&mut lobby, &game.id, &opponent);
            }
            if came_back {
                self.publish(&lobby, &game).await?;
            } else if let Err(error) = socket.emit(events::STATE, &lobby.view(&game)) {
                tracing::debug!(%error, "game state not sent");
            }
        }
        Ok(())
    }

    async fn disconnected(self: Arc<Self>, socket: &Socket, user: User) {
        if self.shutdown.is_fired() {
            // Everyone is leaving: the games wait for the players after the restart.
            return;
        }
        let Ok(mut lobby) = self.lobby().await else { return };
        let was_counted =
            socket.extension::<Counted>().is_some_and(|c| c.0.swap(false, Ordering::SeqCst));
        if !was_counted {
            return;
        }
        let left = match lobby.connections.get_mut(&user.id) {
            Some(n) => {
                *n = n.saturating_sub(1);
                *n == 0
            }
            None => true,
        };
        if !left {
            return;
        }
        lobby.connections.remove(&user.id);
        if lobby.waiting.as_ref().is_some_and(|p| p.user_id == user.id) {
            lobby.waiting = None;
        }
        let running: Vec<Game> = lobby
            .games
            .iter()
            .flat_map(HashMap::values)
            .filter(|g| g.is_playing() && g.mark_of(&user.id).is_some())
            .cloned()
            .collect();
        for game in running {
            self.arm_forfeit(&mut lobby, &game.id, &user.id);
            if let Err(e) = self.publish(&lobby, &game).await {
                tracing::warn!(code = e.code, "game state not stored");
            }
        }
    }

    /// `user_id` forfeits `game_id` after the grace period unless they come back.
    fn arm_forfeit(self: &Arc<Self>, lobby: &mut Lobby, game_id: &str, user_id: &str) {
        let key = (game_id.to_owned(), user_id.to_owned());
        let at = now_ms().saturating_add(i64::try_from(self.grace.as_millis()).unwrap_or(i64::MAX));
        let (tables, fired) = (self.clone(), key.clone());
        lobby.forfeits.arm(key, self.grace, at, async move {
            if let Err(e) = tables.expire(fired).await {
                tracing::warn!(code = e.code, "forfeit not stored");
            }
        });
    }

    /// A forfeit timer fired: the player is still away, the opponent wins.
    async fn expire(&self, (game_id, user_id): (String, String)) -> Result<(), ApiError> {
        let mut lobby = self.lobby().await?;
        if !lobby.forfeits.fired(&(game_id.clone(), user_id.clone())) || lobby.is_online(&user_id) {
            return Ok(());
        }
        let Some(game) = lobby.games.as_mut().and_then(|g| g.get_mut(&game_id)) else {
            return Ok(());
        };
        if game.forfeit(&user_id, now_ms()).is_err() {
            return Ok(());
        }
        let game = game.clone();
        self.publish(&lobby, &game).await
    }

    fn register(self: &Arc<Self>, socket: &Socket) -> Result<(), switchboard::ReservedEventName> {
        let t = self.clone();
        socket.on(events::FIND, move |user: User| {
            let t = t.clone();
            async move { t.find(user).await }
        })?;
        let t = self.clone();
        socket.on(events::CANCEL, move |user: User| {
            let t = t.clone();
            async move {
                let mut lobby = t.lobby().await?;
                let was = lobby.waiting.as_ref().is_some_and(|p| p.user_id == user.id);
                if was {
                    lobby.waiting = None;
                }
                Outcome::Ok(fields(json!({ "cancelled": was })))
            }
        })?;
        let t = self.clone();
        socket.on(events::MOVE, move |user: User, Data(data): Data<Value>| {
            let t = t.clone();
            async move { t.play(user, data).await }
        })?;
        let t = self.clone();
        socket.on(events::RESIGN, move |user: User, Data(data): Data<Value>| {
            let t = t.clone();
            async move { t.resign(user, data).await }
        })?;
        let t = self.clone();
        socket.on(events::REMATCH, move |user: User, Data(data): Data<Value>| {
            let t = t.clone();
            async move { t.rematch(user, data).await }
        })?;
        Ok(())
    }

    /// Pairs the user with the waiting player, or makes them wait. A user already in a
    /// running game gets that game back.
    async fn find(&self, user: User) -> Outcome {
        let mut lobby = self.lobby().await?;
        let current = lobby
            .games
            .iter()
            .flat_map(HashMap::values)
            .find(|g| g.is_playing() && g.mark_of(&user.id).is_some())
            .cloned();
        if let Some(game) = current {
            return Ok(fields(json!({ "game": lobby.view(&game) })));
        }
        let me = Player { user_id: user.id.clone(), username: user.username.clone() };
        let opponent = match lobby.waiting.take() {
            Some(waiting) if waiting.user_id != me.user_id && lobby.is_online(&waiting.user_id) => {
                waiting
            }
            _ => {
                lobby.waiting = Some(me);
                return Ok(fields(json!({ "waiting": true })));
            }
        };
        // The one who waited plays X and moves first.
        let game = Game::new(new_id(), opponent, me, now_ms());
        if let Some(games) = lobby.games.as_mut() {
            games.retain(|_, g| worth_keeping(g, game.updated_at));
        }
        self.store.put(GAMES, &game.id, &game).await?;
        if let Some(games) = lobby.games.as_mut() {
            games.insert(game.id.clone(), game.clone());
        }
        self.seat(&game).await;
        self.publish(&lobby, &game).await?;
        Ok(fields(json!({ "game": lobby.view(&game) })))
    }

    async fn play(&self, user: User, data: Value) -> Outcome {
        let req: Move = parse(data)?;
        let mut lobby = self.lobby().await?;
        let game =
            lobby.games.as_mut().and_then(|g| g.get_mut(&req.game_id)).ok_or_else(not_found)?;
        let before = game.clone();
        game.play(&user.id, req.cell, now_ms()).map_err(refused)?;
        let game = game.clone();
        if let Err(e) = self.store.put(GAMES, &game.id, &game).await {
            // Not stored: the move did not happen.
            if let Some(games) = lobby.games.as_mut() {
                games.insert(before.id.clone(), before);
            }
            return Err(e.into());
        }
        self.publish(&lobby, &game).await?;
        Ok(fields(json!({ "game": lobby.view(&game) })))
    }

    async fn resign(&self, user: User, data: Value) -> Outcome {
        let req: GameRef = parse(data)?;
        let mut lobby = self.lobby().await?;
        let game =
            lobby.games.as_mut().and_then(|g| g.get_mut(&req.game_id)).ok_or_else(not_found)?;
        game.forfeit(&user.id, now_ms()).map_err(refused)?;
        let game = game.clone();
        lobby.forfeits.cancel(&(game.id.clone(), game.x.user_id.clone()));
        lobby.forfeits.cancel(&(game.id.clone(), game.o.user_id.clone()));
        self.publish(&lobby, &game).await?;
        Ok(fields(json!({ "game": lobby.view(&game) })))
    }

    async fn rematch(&self, user: User, data: Value) -> Outcome {
        let req: GameRef = parse(data)?;
        let mut lobby = self.lobby().await?;
        let games = lobby.games.as_mut().ok_or_else(not_found)?;
        let busy = games.values().any(|g| g.is_playing() && g.mark_of(&user.id).is_some());
        let game = games.get_mut(&req.game_id).ok_or_else(not_found)?;
        if busy && !game.is_playing() && game.mark_of(&user.id).is_some() {
            return Err(ApiError::new("already_playing", "finish your running game first"));
        }
        let outcome = game.ask_rematch(&user.id, new_id, now_ms()).map_err(refused)?;
        let old = game.clone();
        match outcome {
            Rematch::Waiting => {
                self.publish(&lobby, &old).await?;
                Ok(fields(json!({ "waiting": true })))
            }
            Rematch::Start(next) => {
                self.store.put(GAMES, &next.id, &next).await?;
                if let Some(games) = lobby.games.as_mut() {
                    games.insert(next.id.clone(), next.clone());
                }
                self.publish(&lobby, &old).await?;
                self.seat(&next).await;
                self.publish(&lobby, &next).await?;
                Ok(fields(json!({ "game": lobby.view(&next) })))
            }
        }
    }
}

/// The page: hand-written HTML, JS and CSS compiled in.
mod page {
    use super::{Asset, NAME, page_routes};

    pub(super) fn routes() -> axum::Router {
        page_routes(
            NAME,
            include_str!("page/index.html"),
            &[
                Asset { file: "tictactoe.js", body: include_str!("page/tictactoe.js") },
                Asset { file: "tictactoe.css", body: include_str!("page/tictactoe.css") },
            ],
        )
    }
}
