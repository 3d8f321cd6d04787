//! The multiplayer arena on namespace `/arena`: up to [`MAX_PLAYERS`] players an arena, a
//! server-side tick loop at [`TICK_HZ`] per active arena.
//!
//! - `arena:join` `{ arena }` → `{ ok, you, arena, players, tickHz, world, layout }`; the room
//!   gets `arena:joined` `{ id, name }` and, when a player leaves, `arena:left` `{ id }`.
//! - `arena:input` `{ dx, dy, boost? }` (`dx`, `dy` in -1, 0, 1): the direction the player
//!   holds. Sent with an ack, a bad or too fast input is answered `{ ok: false, error }`
//!   (`invalid_input`, `rate_limited`, `not_joined`); sent without one (the page sends its
//!   inputs volatile, without acks), it is dropped silently and counted.
//! - `arena:state`, volatile, every tick: one binary attachment, little-endian: `u32` tick,
//!   `u16` count, then per player `u16` id, `i16` x, `i16` y, `u8` flags (bit 0 moving, bit 1
//!   boosting): 7 bytes a player.
//! - `GET /api/arena/stats`: the tick loops' health (ticks, late ticks, lateness p99/max).
//!
//! Arenas live in memory only: a restart empties them (a game round, not a record).

mod stats;

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use switchboard::{Ack, Data, DisconnectReason, HandlerError, Payload, Socket};
use tokio::time::{Instant, MissedTickBehavior};

use self::stats::TickStats;
use crate::apps::{ApiError, App, AppContext, Asset, Outcome, Shared, fields, page_routes, parse};
use crate::auth::User;
use crate::limits::Limiter;

/// Ticks a second.
pub(crate) const TICK_HZ: u32 = 30;
/// Players an arena takes.
pub(crate) const MAX_PLAYERS: usize = 100;
/// The world: `WIDTH` × `HEIGHT` units.
const WIDTH: f32 = 1600.0;
const HEIGHT: f32 = 1000.0;
/// Units a second, and with a boost.
const SPEED: f32 = 240.0;
const BOOST: f32 = 2.0;
/// A boost lasts this many ticks, and the next one waits as many again.
const BOOST_TICKS: u64 = 15;
/// Inputs a second a player may send (a held key repeats; a page sends on change).
const INPUTS_PER_SECOND: u32 = 60;
const INPUT_BURST: u32 = 30;

const NAMESPACE: &str = "/arena";
const PAGE: &str = include_str!("page/index.html");
const ASSETS: &[Asset] = &[Asset { file: "arena.js", body: include_str!("page/arena.js") }];

/// Event names of `/arena`.
pub(crate) mod events {
    /// Client → server: `{ arena }`.
    pub(crate) const JOIN: &str = "arena:join";
    /// Client → server: leave the arena.
    pub(crate) const LEAVE: &str = "arena:leave";
    /// Client → server: `{ dx, dy, boost? }`.
    pub(crate) const INPUT: &str = "arena:input";
    /// Server → room: a player came, `{ id, name }`.
    pub(crate) const JOINED: &str = "arena:joined";
    /// Server → room: a player left, `{ id }`.
    pub(crate) const LEFT: &str = "arena:left";
    /// Server → room, volatile, every tick: the packed snapshot.
    pub(crate) const STATE: &str = "arena:state";
}

/// The arena app (see the module).
#[derive(Default)]
pub(crate) struct ArenaApp {
    arenas: Arenas,
}

/// The arenas and who plays where. Cloning is cheap.
#[derive(Clone)]
struct Arenas(Arc<ArenasInner>);

struct ArenasInner {
    // Arena by name and arena by socket id: one lock for both, held for map operations only
    // (never across an await); an arena's own lock is taken inside this one, never around it.
    map: Mutex<Maps>,
    /// The tick loops' health.
    stats: TickStats,
    /// Per-socket input allowance.
    inputs: Limiter,
}

#[derive(Default)]
struct Maps {
    arenas: HashMap<String, Arc<Arena>>,
    players: HashMap<String, (Arc<Arena>, u16)>,
}

impl Default for Arenas {
    fn default() -> Self {
        let n = |v: u32| NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN);
        Arenas(Arc::new(ArenasInner {
            map: Mutex::new(Maps::default()),
            stats: TickStats::default(),
            inputs: Limiter::new(n(INPUTS_PER_SECOND), n(INPUT_BURST)),
        }))
    }
}

/// One arena.
struct Arena {
    name: String,
    // The players and the tick count: the tick loop and the handlers, held for the step
    // or one change (never across an await).
    state: Mutex<World>,
}

#[derive(Default)]
struct World {
    tick: u64,
    players: Vec<Player>,
    next_id: u16,
}

#[derive(Debug, Clone)]
struct Player {
    id: u16,
    name: String,
    x: f32,
    y: f32,
    dx: i8,
    dy: i8,
    /// Boosting until this tick.
    boost_until: u64,
    /// No new boost before this tick.
    boost_ready: u64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn room(arena: &str) -> String {
    format!("arena:{arena}")
}

impl World {
    /// A free id (ids are reused once free; 0 is never used).
    fn free_id(&mut self) -> u16 {
        loop {
            self.next_id = self.next_id.wrapping_add(1).max(1);
            if !self.players.iter().any(|p| p.id == self.next_id) {
                return self.next_id;
            }
        }
    }

    /// Moves everyone by `dt` seconds.
    fn step(&mut self, dt: f32) {
        self.tick += 1;
        let tick = self.tick;
        for p in &mut self.players {
            let (dx, dy) = (f32::from(p.dx), f32::from(p.dy));
            let norm = if dx != 0.0 && dy != 0.0 { std::f32::consts::FRAC_1_SQRT_2 } else { 1.0 };
            let speed = if tick < p.boost_until { SPEED * BOOST } else { SPEED };
            p.x = (p.x + dx * norm * speed * dt).clamp(0.0, WIDTH);
            p.y = (p.y + dy * norm * speed * dt).clamp(0.0, HEIGHT);
        }
    }

    /// The snapshot: `u32` tick, `u16` count, then 7 bytes a player (see the module).
    fn snapshot(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(6 + 7 * self.players.len());
        out.extend_from_slice(&u32::try_from(self.tick % (1 << 32)).unwrap_or(0).to_le_bytes());
        let count = u16::try_from(self.players.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&count.to_le_bytes());
        for p in self.players.iter().take(usize::from(count)) {
            out.extend_from_slice(&p.id.to_le_bytes());
            // In the world's bounds, so the casts keep the value (rounded).
            out.extend_from_slice(&(p.x.round() as i16).to_le_bytes());
            out.extend_from_slice(&(p.y.round() as i16).to_le_bytes());
            let moving = u8::from(p.dx != 0 || p.dy != 0);
            let boosting = u8::from(self.tick < p.boost_until) << 1;
            out.push(moving | boosting);
        }
        out
    }
}

impl App for ArenaApp {
    fn name(&self) -> &'static str {
        "arena"
    }

    fn title(&self) -> &'static str {
        "Arena"
    }

    fn summary(&self) -> &'static str {
        "A real-time multiplayer arena: a 30 Hz server tick, up to 100 players an arena."
    }

    fn install(&self, cx: &AppContext) -> anyhow::Result<()> {
        cx.provide(self.arenas.clone());
        let ns = cx.of(NAMESPACE);
        crate::apps::authenticate(&ns);
        ns.on_connection(|socket: Socket| async move {
            socket.on(events::JOIN, join)?;
            socket.on(events::LEAVE, leave)?;
            socket.on(events::INPUT, input)?;
            socket.on_disconnect(
                |socket: Socket, Shared(arenas): Shared<Arenas>, _r: DisconnectReason| async move {
                    arenas.remove(&socket).await;
                },
            );
            Ok::<_, HandlerError>(())
        });
        Ok(())
    }

    fn routes(&self, _cx: &AppContext) -> axum::Router {
        let arenas = self.arenas.clone();
        page_routes(self.name(), PAGE, ASSETS).route(
            "/api/arena/stats",
            axum::routing::get(move || {
                let arenas = arenas.clone();
                async move { axum::Json(arenas.report()) }
            }),
        )
    }
}

impl Arenas {
    /// The stats and the arenas' sizes.
    fn report(&self) -> Value {
        let maps = lock(&self.0.map);
        let players = maps.players.len();
        let arenas = maps.arenas.len();
        drop(maps);
        let mut report = self.0.stats.report();
        if let Value::Object(map) = &mut report {
            map.insert("arenas".to_owned(), json!(arenas));
            map.insert("players".to_owned(), json!(players));
            map.insert("tickHz".to_owned(), json!(TICK_HZ));
        }
        report
    }

    /// Takes the socket's player out of its arena, and tells the arena.
    async fn remove(&self, socket: &Socket) {
        let sid = socket.id().as_str().to_owned();
        let Some((arena, id)) = lock(&self.0.map).players.remove(&sid) else { return };
        lock(&arena.state).players.retain(|p| p.id != id);
        socket.leave(room(&arena.name));
        let ns = socket.namespace();
        if let Err(error) = ns.to(room(&arena.name)).emit(events::LEFT, &json!({ "id": id })).await
        {
            tracing::debug!(%error, "arena:left not sent");
        }
    }
}

#[derive(Debug, Deserialize)]
struct JoinRequest {
    arena: String,
}

fn check_arena_name(name: &str) -> Result<(), ApiError> {
    let ok = (1..=32).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    match ok {
        true => Ok(()),
        false => {
            Err(ApiError::new("invalid_arena", "arena must be 1 to 32 letters, digits, '-' or '_'"))
        }
    }
}

/// `arena:join`: a place in the arena (started if it was idle).
async fn join(
    Shared(arenas): Shared<Arenas>,
    cx: AppContext,
    socket: Socket,
    user: User,
    Data(data): Data<Value>,
) -> Outcome {
    cx.limiter.check(&user.id)?;
    let req: JoinRequest = parse(data)?;
    check_arena_name(&req.arena)?;
    arenas.remove(&socket).await;
    let (arena, me, roster, started) = {
        let mut maps = lock(&arenas.0.map);
        let (arena, started) = match maps.arenas.get(&req.arena) {
            Some(a) => (a.clone(), false),
            None => {
                let a = Arc::new(Arena { name: req.arena.clone(), state: Mutex::default() });
                maps.arenas.insert(req.arena.clone(), a.clone());
                (a, true)
            }
        };
        let mut world = lock(&arena.state);
        if world.players.len() >= MAX_PLAYERS {
            return Err(ApiError::new("arena_full", "this arena has 100 players: try another")
                .with("max", json!(MAX_PLAYERS)));
        }
        let id = world.free_id();
        let me = Player {
            id,
            name: user.username.chars().take(32).collect(),
            x: rand::random_range(40.0..WIDTH - 40.0),
            y: rand::random_range(40.0..HEIGHT - 40.0),
            dx: 0,
            dy: 0,
            boost_until: 0,
            boost_ready: 0,
        };
        world.players.push(me.clone());
        let roster: Vec<Value> =
            world.players.iter().map(|p| json!({ "id": p.id, "name": p.name })).collect();
        drop(world);
        maps.players.insert(socket.id().as_str().to_owned(), (arena.clone(), id));
        (arena, me, roster, started)
    };
    socket.join(room(&arena.name));
    if started {
        // The arena's tick loop: ends when its last player leaves or at shutdown.
        tokio::spawn(tick_loop(arenas.clone(), arena.clone(), cx.clone()));
    }
    let joined = json!({ "id": me.id, "name": me.name });
    if let Err(error) = socket.namespace().to(room(&arena.name)).emit(events::JOINED, &joined).await
    {
        tracing::debug!(%error, "arena:joined not sent");
    }
    Ok(fields(json!({
        "you": me.id,
        "arena": arena.name,
        "players": roster,
        "tickHz": TICK_HZ,
        "world": { "width": WIDTH, "height": HEIGHT },
        "layout": "u32 tick, u16 count, then per player u16 id, i16 x, i16 y, u8 flags (LE)",
    })))
}

/// `arena:leave`.
async fn leave(Shared(arenas): Shared<Arenas>, socket: Socket) -> Outcome {
    arenas.remove(&socket).await;
    Ok(fields(json!({})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    dx: i8,
    dy: i8,
    #[serde(default)]
    boost: bool,
}

/// Checks an input: `{ dx, dy, boost? }` with `dx`, `dy` in -1, 0, 1.
fn check_input(data: Value) -> Result<Input, ApiError> {
    let input: Input = serde_json::from_value(data).map_err(|e| {
        ApiError::new("invalid_input", format!("an input is {{ dx, dy, boost? }}: {e}"))
    })?;
    if !(-1..=1).contains(&input.dx) || !(-1..=1).contains(&input.dy) {
        return Err(ApiError::new("invalid_input", "dx and dy must be -1, 0 or 1"));
    }
    Ok(input)
}

/// `arena:input`: with an ack, errors are answered; without one, a bad or too fast input
/// is dropped (and counted), as its volatile sender expects no answer.
async fn input(
    Shared(arenas): Shared<Arenas>,
    socket: Socket,
    ack: Option<Ack>,
    Data(data): Data<Value>,
) {
    let result = apply_input(&arenas, &socket, data);
    match (result, ack) {
        (Ok(()), Some(ack)) => {
            let _ = ack.send(&json!({ "ok": true }));
        }
        (Ok(()), None) => {}
        (Err(error), Some(ack)) => {
            let _ = ack.send(&json!({ "ok": false, "error": error.to_json() }));
        }
        (Err(_), None) => arenas.0.stats.input_dropped(),
    }
}

fn apply_input(arenas: &Arenas, socket: &Socket, data: Value) -> Result<(), ApiError> {
    let sid = socket.id().as_str();
    arenas.0.inputs.check(sid)?;
    let input = check_input(data)?;
    let Some((arena, id)) = lock(&arenas.0.map).players.get(sid).cloned() else {
        return Err(ApiError::new("not_joined", "join an arena first (arena:join)"));
    };
    let mut world = lock(&arena.state);
    let tick = world.tick;
    if let Some(p) = world.players.iter_mut().find(|p| p.id == id) {
        p.dx = input.dx;
        p.dy = input.dy;
        if input.boost && tick >= p.boost_ready {
            p.boost_until = tick + BOOST_TICKS;
            p.boost_ready = tick + 2 * BOOST_TICKS;
        }
    }
    Ok(())
}

/// The tick period.
fn period() -> Duration {
    Duration::from_secs(1) / TICK_HZ
}

/// One arena's loop: step, snapshot, volatile broadcast, [`TICK_HZ`] times a second.
///
/// `MissedTickBehavior::Skip`: after a stall (a busy machine), the next tick comes at the
/// next multiple of the period, never a burst of catch-up ticks (which would send snapshots
/// the clients throw away and push the following ticks late too) and without shifting the
/// schedule (as `Delay` would, so a stall would never be measured as late again). The step
/// uses the real time since the last tick, so players move at the same speed across a
/// skipped tick.
async fn tick_loop(arenas: Arenas, arena: Arc<Arena>, cx: AppContext) {
    let period = period();
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let to_room = cx.of(NAMESPACE).to(room(&arena.name)).volatile();
    let mut last = Instant::now();
    loop {
        let scheduled = tokio::select! {
            at = ticks.tick() => at,
            () = cx.shutdown.fired() => break,
        };
        let now = Instant::now();
        arenas.0.stats.tick(now.saturating_duration_since(scheduled), period);
        let dt = now.saturating_duration_since(last).min(period * 4).as_secs_f32();
        last = now;
        let snapshot = {
            let maps = lock(&arenas.0.map);
            let mut world = lock(&arena.state);
            if world.players.is_empty() {
                drop(world);
                let mut maps = maps;
                // Only this arena (a new one of the same name may have replaced it).
                if maps.arenas.get(&arena.name).is_some_and(|a| Arc::ptr_eq(a, &arena)) {
                    maps.arenas.remove(&arena.name);
                }
                break;
            }
            drop(maps);
            world.step(dt);
            world.snapshot()
        };
        let mut payload = Payload::new();
        payload.push_binary(snapshot);
        if let Err(error) = to_room.clone().emit_payload(events::STATE, payload).await {
            tracing::debug!(%error, "snapshot not sent");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_checked() {
        assert!(check_input(json!({ "dx": 1, "dy": -1 })).is_ok());
        assert!(check_input(json!({ "dx": 0, "dy": 0, "boost": true })).is_ok());
        for bad in [
            json!({ "dx": 2, "dy": 0 }),
            json!({ "dx": 1 }),
            json!({ "dx": 0.5, "dy": 0 }),
            json!({ "dx": 0, "dy": 0, "teleport": true }),
            json!("left"),
        ] {
            assert_eq!(check_input(bad).unwrap_err().code, "invalid_input");
        }
    }

    #[test]
    fn a_step_moves_held_directions_within_the_world_and_packs_7_bytes_a_player() {
        let mut world = World::default();
        let a = world.free_id();
        world.players.push(Player {
            id: a,
            name: "a".into(),
            x: 100.0,
            y: 100.0,
            dx: 1,
            dy: 0,
            boost_until: 0,
            boost_ready: 0,
        });
        let b = world.free_id();
        world.players.push(Player { id: b, x: 5.0, dx: -1, dy: -1, ..world.players[0].clone() });
        world.step(0.5);
        assert_eq!((world.players[0].x, world.players[0].y), (220.0, 100.0));
        assert_eq!(world.players[1].x, 0.0, "clamped at the edge");
        let snap = world.snapshot();
        assert_eq!(snap.len(), 6 + 7 * 2);
        assert_eq!(u32::from_le_bytes([snap[0], snap[1], snap[2], snap[3]]), 1);
        assert_eq!(u16::from_le_bytes([snap[4], snap[5]]), 2);
        assert_eq!(u16::from_le_bytes([snap[6], snap[7]]), a);
        assert_eq!(i16::from_le_bytes([snap[8], snap[9]]), 220);
        assert_eq!(i16::from_le_bytes([snap[10], snap[11]]), 100);
        assert_eq!(snap[12], 1, "moving, not boosting");
    }
}
