//! A shared whiteboard on namespace `/whiteboard`: boards are rooms; a `stroke` (normalised
//! points, colour, width) is stored in the board's log and relayed to the others; a late
//! joiner gets the whole board; `undo` takes the user's own last stroke, `clear` empties the
//! board; cursors of the others are relayed as volatile, throttled updates. Boards are stored,
//! so they survive a restart.
//!
//! Client → server (answering `{ ok: true, ... }` or `{ ok: false, error }`):
//! `board:join { boardId }`, `board:leave { boardId }`, `stroke { boardId, id, color, width,
//! points }`, `undo { boardId }`, `clear { boardId }`; and `cursor { boardId, x, y }` (no
//! answer). Server → client: `stroke`, `stroke:removed`, `board:cleared`, `cursor`,
//! `cursor:gone`.

mod board;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};
use switchboard::{Data, DisconnectReason, Socket};
use tokio::sync::Mutex;

use self::board::{Board, Stroke, Throttle};
use crate::apps::{
    ApiError, App, AppContext, AppStore, Asset, Outcome, authenticate, check_room_id, fields,
    page_routes, parse,
};
use crate::auth::User;

const NAME: &str = "whiteboard";
/// The shortest interval between two relayed cursor updates of one connection.
const CURSOR_EVERY: Duration = Duration::from_millis(40);

/// Event names of `/whiteboard`.
pub(crate) mod events {
    /// Client → server: open a board (answers its strokes).
    pub(crate) const JOIN: &str = "board:join";
    /// Client → server: close a board.
    pub(crate) const LEAVE: &str = "board:leave";
    /// Both ways: a stroke.
    pub(crate) const STROKE: &str = "stroke";
    /// Client → server: remove my last stroke.
    pub(crate) const UNDO: &str = "undo";
    /// Client → server: remove every stroke.
    pub(crate) const CLEAR: &str = "clear";
    /// Both ways (volatile): where a pointer is.
    pub(crate) const CURSOR: &str = "cursor";
    /// Server → client: a stroke was undone.
    pub(crate) const REMOVED: &str = "stroke:removed";
    /// Server → client: the board was cleared.
    pub(crate) const CLEARED: &str = "board:cleared";
    /// Server → client: a user's pointer left the board.
    pub(crate) const CURSOR_GONE: &str = "cursor:gone";
}

/// The whiteboard app.
pub(crate) struct Whiteboard;

impl App for Whiteboard {
    fn name(&self) -> &'static str {
        NAME
    }

    fn title(&self) -> &'static str {
        "Whiteboard"
    }

    fn summary(&self) -> &'static str {
        "Draw together on shared boards, with live cursors, undo and clear; boards are kept."
    }

    fn single_node(&self) -> bool {
        true
    }

    fn install(&self, cx: &AppContext) -> anyhow::Result<()> {
        let ns = cx.of("/whiteboard");
        let studio = Arc::new(Studio {
            ns: ns.clone(),
            store: cx.store_of(NAME),
            cx: cx.clone(),
            boards: SyncMutex::new(HashMap::new()),
        });
        authenticate(&ns);
        ns.on_connection(move |socket: Socket| {
            let studio = studio.clone();
            async move { studio.connected(&socket) }
        });
        Ok(())
    }

    fn routes(&self, _cx: &AppContext) -> axum::Router {
        page_routes(
            NAME,
            include_str!("page/index.html"),
            &[
                Asset { file: "whiteboard.js", body: include_str!("page/whiteboard.js") },
                Asset { file: "whiteboard.css", body: include_str!("page/whiteboard.css") },
            ],
        )
    }
}

/// A board's slot: loaded from the store on first use. Its lock is held across each change,
/// its store write and its relay, so the board's clients see the changes in stored order.
type Slot = Arc<Mutex<Option<Board>>>;

/// The app's state.
struct Studio {
    ns: switchboard::Namespace,
    store: AppStore,
    /// The rate limiter.
    cx: AppContext,
    // The boards opened since the start, by id; the lock only finds or adds a slot.
    boards: SyncMutex<HashMap<String, Slot>>,
}

/// A connection's cursor throttle and the boards it opened (a socket extension; the lock is
/// taken briefly by that connection's handlers).
#[derive(Clone)]
struct Visitor(Arc<SyncMutex<(Throttle, HashSet<String>)>>);

/// Runs `f` on the socket's visitor state (nothing if it has none).
fn visiting<T>(
    socket: &Socket,
    f: impl FnOnce(&mut (Throttle, HashSet<String>)) -> T,
) -> Option<T> {
    let visitor = socket.extension::<Visitor>()?;
    let mut state = visitor.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    Some(f(&mut state))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BoardRef {
    board_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StrokeRequest {
    board_id: String,
    #[serde(flatten)]
    stroke: Stroke,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cursor {
    board_id: String,
    x: f64,
    y: f64,
}

fn room(board_id: &str) -> String {
    format!("board:{board_id}")
}

fn log_of(board_id: &str) -> String {
    format!("strokes:{board_id}")
}

/// A board id: the rules of a chat room id.
fn check_board(board_id: &str) -> Result<(), ApiError> {
    check_room_id(board_id).map_err(|_| {
        ApiError::new(
            "invalid_board",
            "boardId must be 1 to 64 characters without control characters",
        )
    })
}

impl Studio {
    fn connected(self: &Arc<Self>, socket: &Socket) {
        socket
            .insert_extension(Visitor(Arc::new(SyncMutex::new((Throttle::new(), HashSet::new())))));
        if let Err(error) = self.register(socket) {
            tracing::warn!(%error, "whiteboard handlers not registered");
        }
    }

    fn register(self: &Arc<Self>, socket: &Socket) -> Result<(), switchboard::ReservedEventName> {
        let s = self.clone();
        socket.on(events::JOIN, move |socket: Socket, user: User, Data(data): Data<Value>| {
            let s = s.clone();
            async move {
                // Each board opened stays in memory: opening them is rate limited.
                s.cx.limiter.check(&user.id)?;
                s.join(socket, data).await
            }
        })?;
        socket.on(
            events::LEAVE,
            |socket: Socket, user: User, Data(data): Data<Value>| async move {
                let req: BoardRef = parse(data)?;
                socket.leave(room(&req.board_id));
                visiting(&socket, |(_, boards)| boards.remove(&req.board_id));
                cursor_gone(&socket.namespace(), &user, &req.board_id).await;
                Outcome::Ok(fields(json!({})))
            },
        )?;
        let s = self.clone();
        socket.on(events::STROKE, move |socket: Socket, user: User, Data(data): Data<Value>| {
            let s = s.clone();
            async move { s.stroke(socket, user, data).await }
        })?;
        let s = self.clone();
        socket.on(events::UNDO, move |socket: Socket, user: User, Data(data): Data<Value>| {
            let s = s.clone();
            async move { s.undo(socket, user, data).await }
        })?;
        let s = self.clone();
        socket.on(events::CLEAR, move |socket: Socket, user: User, Data(data): Data<Value>| {
            let s = s.clone();
            async move { s.clear(socket, user, data).await }
        })?;
        socket.on(events::CURSOR, cursor)?;
        let ns = self.ns.clone();
        socket.on_disconnect(move |socket: Socket, user: User, _reason: DisconnectReason| {
            let ns = ns.clone();
            async move {
                let boards = visiting(&socket, |(_, boards)| std::mem::take(boards));
                for id in boards.unwrap_or_default() {
                    cursor_gone(&ns, &user, &id).await;
                }
            }
        });
        Ok(())
    }

    fn slot(&self, board_id: &str) -> Slot {
        let mut boards = self.boards.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        boards.entry(board_id.to_owned()).or_default().clone()
    }

    /// The board of `slot`, read from the store if it is not loaded yet.
    async fn load<'a>(
        &self,
        board_id: &str,
        slot: &'a Slot,
    ) -> Result<tokio::sync::MappedMutexGuard<'a, Board>, ApiError> {
        let mut guard = slot.lock().await;
        if guard.is_none() {
            let log = log_of(board_id);
            let mut strokes = Vec::new();
            let mut after = 0;
            loop {
                let page = self.store.range::<Stroke>(&log, after, 1000).await?;
                let Some((last, _)) = page.last() else { break };
                after = *last;
                strokes.extend(page);
            }
            *guard = Some(Board::from_log(strokes));
        }
        tokio::sync::MutexGuard::try_map(guard, Option::as_mut)
            .map_err(|_| ApiError::new("internal", "board not loaded"))
    }

    /// Joins the board's room and answers its strokes, under the board's lock: no stroke
    /// falls between the answer and the relays, none comes twice.
    async fn join(&self, socket: Socket, data: Value) -> Outcome {
        let req: BoardRef = parse(data)?;
        check_board(&req.board_id)?;
        let slot = self.slot(&req.board_id);
        let board = self.load(&req.board_id, &slot).await?;
        socket.join(room(&req.board_id));
        visiting(&socket, |(_, boards)| boards.insert(req.board_id.clone()));
        let strokes: Vec<Value> =
            board.strokes().iter().map(|(seq, s)| stroke_json(&req.board_id, *seq, s)).collect();
        Ok(fields(json!({ "boardId": req.board_id, "strokes": strokes })))
    }

    async fn stroke(&self, socket: Socket, user: User, data: Value) -> Outcome {
        let req: StrokeRequest = parse(data)?;
        check_board(&req.board_id)?;
        let mut stroke = req.stroke;
        board::check(&stroke).map_err(|m| ApiError::new("invalid_stroke", m))?;
        self.cx.limiter.check(&user.id)?;
        stroke.user_id = user.id;
        stroke.username = user.username;
        let slot = self.slot(&req.board_id);
        let mut board = self.load(&req.board_id, &slot).await?;
        if !board.fits(&stroke) {
            return Err(ApiError::new("board_full", "this board is full: clear it first"));
        }
        let seq = self.store.append(&log_of(&req.board_id), &stroke).await?;
        let event = stroke_json(&req.board_id, seq, &stroke);
        board.add(seq, stroke);
        relay(&socket, &req.board_id, events::STROKE, &event).await;
        Ok(fields(json!({ "seq": seq })))
    }

    async fn undo(&self, socket: Socket, user: User, data: Value) -> Outcome {
        let req: BoardRef = parse(data)?;
        check_board(&req.board_id)?;
        let slot = self.slot(&req.board_id);
        let mut board = self.load(&req.board_id, &slot).await?;
        let Some((seq, id)) = board.last_of(&user.id) else {
            return Err(ApiError::new("nothing_to_undo", "you have no stroke on this board"));
        };
        self.store.remove(&log_of(&req.board_id), seq).await?;
        board.remove(seq);
        let event = json!({ "boardId": req.board_id, "seq": seq, "id": id });
        relay(&socket, &req.board_id, events::REMOVED, &event).await;
        Ok(fields(json!({ "seq": seq, "id": id })))
    }

    async fn clear(&self, socket: Socket, user: User, data: Value) -> Outcome {
        let req: BoardRef = parse(data)?;
        check_board(&req.board_id)?;
        let slot = self.slot(&req.board_id);
        let mut board = self.load(&req.board_id, &slot).await?;
        self.store.clear(&log_of(&req.board_id)).await?;
        let removed = board.clear();
        let event =
            json!({ "boardId": req.board_id, "userId": user.id, "username": user.username });
        relay(&socket, &req.board_id, events::CLEARED, &event).await;
        Ok(fields(json!({ "removed": removed })))
    }
}

fn stroke_json(board_id: &str, seq: i64, stroke: &Stroke) -> Value {
    let mut value = json!(stroke);
    if let Some(map) = value.as_object_mut() {
        map.insert("boardId".to_owned(), json!(board_id));
        map.insert("seq".to_owned(), json!(seq));
    }
    value
}

/// Sends `event` to the board's other connections.
async fn relay(socket: &Socket, board_id: &str, event: &str, data: &Value) {
    if let Err(error) = socket.to(room(board_id)).emit(event, data).await {
        tracing::debug!(%error, event, "not relayed");
    }
}

/// Relays a pointer position to the board's others, volatile and at most once per
/// [`CURSOR_EVERY`] per connection; anything malformed is dropped (no answer is asked).
async fn cursor(socket: Socket, user: User, Data(data): Data<Value>) {
    let Ok(req) = serde_json::from_value::<Cursor>(data) else { return };
    let inside = |v: f64| (0.0..=1.0).contains(&v);
    if !inside(req.x)
        || !inside(req.y)
        || !socket.rooms().iter().any(|r| r.as_str() == room(&req.board_id))
    {
        return;
    }
    let allowed = visiting(&socket, |(throttle, _)| throttle.allow(Instant::now(), CURSOR_EVERY));
    if allowed != Some(true) {
        return;
    }
    let event = json!({
        "boardId": req.board_id, "userId": user.id, "username": user.username, "x": req.x, "y": req.y,
    });
    let sent = socket.to(room(&req.board_id)).volatile().emit(events::CURSOR, &event).await;
    if let Err(error) = sent {
        tracing::debug!(%error, "cursor not relayed");
    }
}

async fn cursor_gone(ns: &switchboard::Namespace, user: &User, board_id: &str) {
    let event = json!({ "boardId": board_id, "userId": user.id });
    if let Err(error) = ns.to(room(board_id)).emit(events::CURSOR_GONE, &event).await {
        tracing::debug!(%error, "cursor end not relayed");
    }
}
