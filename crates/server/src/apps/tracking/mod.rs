//! Order and location tracking on namespace `/tracking`.
//!
//! - `track` `{ orderId }` joins the room `order:<id>` and answers the order's state:
//!   `{ ok: true, order: { id, status, history, delivery } }` (its status history and its
//!   courier's route and last position). `untrack` `{ orderId }` leaves it.
//! - The room gets `order:status` (one entry of the history) and `order:position` (the
//!   courier's position, once per courier step).
//! - `POST /api/orders/{id}/status` `{ status, note? }` and `POST /api/orders/{id}/courier`
//!   `{ speed?, intervalMs? }` (the key of `--api-key` as `Authorization: Bearer KEY`) add a
//!   status and send a simulated courier along the order's route; in dev mode the page's
//!   `courier:start` does the latter without the key.
//!
//! The history is a log of the app's store and a delivery (route, speed, distance done) a
//! document: both survive a restart, and a courier still on its way goes on from where it
//! was.

mod route;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchboard::{Data, HandlerError, Socket};

use self::route::{Point, Spot};
use crate::apps::{
    ApiError, App, AppContext, AppStore, Asset, Outcome, Shared, Stopping, fields, page_routes,
    parse,
};
use crate::auth::User;
use crate::store::now_ms;

/// The tracking app (see the module).
#[derive(Default)]
pub(crate) struct TrackingApp {
    // The couriers on their way, by order id: shared by the handlers, the HTTP API and
    // `stop` (a std lock: held for map operations only, never across an await).
    couriers: Couriers,
}

/// The courier tasks by order id; each task removes itself when it arrives, `stop` aborts
/// the rest.
type Couriers = Arc<Mutex<HashMap<String, tokio::task::AbortHandle>>>;

const NAMESPACE: &str = "/tracking";
const PAGE: &str = include_str!("page/index.html");
const ASSETS: &[Asset] = &[Asset { file: "tracking.js", body: include_str!("page/tracking.js") }];

/// Event names of `/tracking`.
pub(crate) mod events {
    /// Client → server: follow an order, `{ orderId }`.
    pub(crate) const TRACK: &str = "track";
    /// Client → server: stop following it.
    pub(crate) const UNTRACK: &str = "untrack";
    /// Client → server (dev mode): send a simulated courier, `{ orderId, speed?, intervalMs? }`.
    pub(crate) const COURIER_START: &str = "courier:start";
    /// Server → room: a new status `{ orderId, seq, status, note, ts, source }`.
    pub(crate) const STATUS: &str = "order:status";
    /// Server → room: where the courier is, `{ orderId, x, y, progress, ts }`.
    pub(crate) const POSITION: &str = "order:position";
    /// Server → client on connect: `{ userId, dev }`.
    pub(crate) const SESSION: &str = "tracking:session";
}

/// The statuses an order goes through, in order (`cancelled` may come at any time).
const STATUSES: &[&str] = &[
    "placed",
    "confirmed",
    "preparing",
    "picked_up",
    "out_for_delivery",
    "delivered",
    "cancelled",
];

/// The most history entries an answer carries.
const MAX_HISTORY: usize = 500;

/// The app's state, for its handlers and routes. Cloning is cheap.
#[derive(Clone)]
struct Tracking {
    cx: AppContext,
    store: AppStore,
    couriers: Couriers,
}

impl App for TrackingApp {
    fn name(&self) -> &'static str {
        "tracking"
    }

    fn title(&self) -> &'static str {
        "Order tracking"
    }

    fn summary(&self) -> &'static str {
        "Follow an order: a status timeline and its courier moving on a live map."
    }

    fn install(&self, cx: &AppContext) -> anyhow::Result<()> {
        let tracking = self.state(cx);
        cx.provide(tracking.clone());
        let ns = cx.of(NAMESPACE);
        crate::apps::authenticate(&ns);
        ns.on_connection(|socket: Socket, cx: AppContext, user: User| async move {
            socket.on(events::TRACK, track)?;
            socket.on(events::UNTRACK, untrack)?;
            socket.on(events::COURIER_START, courier_start)?;
            let dev = matches!(cx.auth, crate::auth::Authenticator::Dev);
            socket.emit(events::SESSION, &json!({ "userId": user.id, "dev": dev }))?;
            Ok::<_, HandlerError>(())
        });
        // Couriers that were on their way when the server stopped go on (the task ends once
        // they are started, or at shutdown).
        tokio::spawn(async move {
            tokio::select! {
                () = resume(&tracking) => {}
                () = tracking.cx.shutdown.fired() => {}
            }
        });
        Ok(())
    }

    fn routes(&self, cx: &AppContext) -> axum::Router {
        page_routes(self.name(), PAGE, ASSETS).merge(
            axum::Router::new()
                .route("/api/orders/{id}/status", axum::routing::post(http_status))
                .route("/api/orders/{id}/courier", axum::routing::post(http_courier))
                .with_state(self.state(cx)),
        )
    }

    fn welcome(&self, cx: &AppContext, base_url: &str) -> Option<String> {
        let key = cx.config.api_key.as_deref()?;
        Some(format!(
            "update an order: curl -X POST {base_url}/api/orders/A100/status \
             -H 'authorization: Bearer {key}' -H 'content-type: application/json' \
             -d '{{\"status\":\"confirmed\"}}' (then open {base_url}/tracking and track A100)"
        ))
    }

    fn stop(&self) -> Stopping {
        let couriers = std::mem::take(&mut *lock(&self.couriers));
        Box::pin(async move {
            for (_, task) in couriers {
                task.abort();
            }
        })
    }
}

impl TrackingApp {
    fn state(&self, cx: &AppContext) -> Tracking {
        Tracking { cx: cx.clone(), store: cx.store_of("tracking"), couriers: self.couriers.clone() }
    }
}

/// Locks `m`, poisoned or not (the map stays consistent whatever panicked).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The room of an order.
fn order_room(id: &str) -> String {
    format!("order:{id}")
}

/// The log of an order's statuses.
fn history_log(id: &str) -> String {
    format!("history:{id}")
}

/// The collection of deliveries (one document per order that had a courier).
const DELIVERIES: &str = "deliveries";

/// Checks an order id: 1–64 ASCII letters, digits, `-` and `_`.
fn check_order_id(id: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    match ok {
        true => Ok(()),
        false => Err(ApiError::new(
            "invalid_order",
            "orderId must be 1 to 64 letters, digits, '-' or '_'",
        )),
    }
}

/// One entry of an order's history.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusEntry {
    status: String,
    note: Option<String>,
    ts: i64,
    /// `api` or `courier`.
    source: String,
}

/// A courier's run: stored at each step, so it goes on after a restart.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Delivery {
    route: Vec<Point>,
    /// Map units per second.
    speed: f64,
    /// Time between two steps.
    interval_ms: u64,
    /// Map units done.
    distance: f64,
    /// The last position sent.
    position: Option<Spot>,
    /// When `position` was.
    ts: i64,
    /// Whether the courier is still on its way.
    active: bool,
}

/// `order:position`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PositionEvent<'a> {
    order_id: &'a str,
    x: f64,
    y: f64,
    progress: f64,
    ts: i64,
}

/// An order's state, as `track` answers it.
async fn order_state(t: &Tracking, id: &str) -> Result<Value, ApiError> {
    let history: Vec<(i64, StatusEntry)> = t.store.range(&history_log(id), 0, MAX_HISTORY).await?;
    let delivery: Option<Delivery> = t.store.get(DELIVERIES, id).await?;
    let status = history.last().map(|(_, e)| e.status.clone());
    let history: Vec<Value> = history.into_iter().map(|(seq, e)| entry_json(id, seq, &e)).collect();
    Ok(json!({ "id": id, "status": status, "history": history, "delivery": delivery }))
}

fn entry_json(id: &str, seq: i64, e: &StatusEntry) -> Value {
    json!({
        "orderId": id, "seq": seq, "status": e.status, "note": e.note, "ts": e.ts,
        "source": e.source,
    })
}

/// Appends a status to the order's history and tells the room; the entry as sent.
async fn add_status(t: &Tracking, id: &str, entry: StatusEntry) -> Result<Value, ApiError> {
    let seq = t.store.append(&history_log(id), &entry).await?;
    let sent = entry_json(id, seq, &entry);
    if let Err(error) = t.cx.of(NAMESPACE).to(order_room(id)).emit(events::STATUS, &sent).await {
        tracing::debug!(%error, "status not pushed");
    }
    Ok(sent)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderRequest {
    order_id: String,
}

/// `track`: joins the order's room, answers its state.
async fn track(
    Shared(t): Shared<Tracking>,
    socket: Socket,
    user: User,
    Data(data): Data<Value>,
) -> Outcome {
    t.cx.limiter.check(&user.id)?;
    let req: OrderRequest = parse(data)?;
    check_order_id(&req.order_id)?;
    // Joined before the state is read: an update in between is sent and also in the state
    // (the page keeps entries by `seq`), never lost.
    socket.join(order_room(&req.order_id));
    let order = order_state(&t, &req.order_id).await?;
    Ok(fields(json!({ "order": order })))
}

/// `untrack`: leaves the order's room.
async fn untrack(socket: Socket, Data(data): Data<Value>) -> Outcome {
    let req: OrderRequest = parse(data)?;
    check_order_id(&req.order_id)?;
    socket.leave(order_room(&req.order_id));
    Ok(fields(json!({})))
}

/// How a courier moves.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CourierRequest {
    speed: Option<f64>,
    interval_ms: Option<u64>,
}

/// The default courier: 25 map units a second, a step a second (about half a minute across
/// the town).
const DEFAULT_SPEED: f64 = 25.0;
const DEFAULT_INTERVAL_MS: u64 = 1000;

impl CourierRequest {
    fn check(&self) -> Result<(f64, u64), ApiError> {
        let speed = self.speed.unwrap_or(DEFAULT_SPEED);
        let interval = self.interval_ms.unwrap_or(DEFAULT_INTERVAL_MS);
        if !(speed.is_finite() && (1.0..=100_000.0).contains(&speed)) {
            return Err(ApiError::new("invalid_payload", "speed must be 1 to 100000 units/s"));
        }
        if !(20..=10_000).contains(&interval) {
            return Err(ApiError::new("invalid_payload", "intervalMs must be 20 to 10000"));
        }
        Ok((speed, interval))
    }
}

/// `courier:start` (dev mode): sends a courier for the order.
async fn courier_start(
    Shared(t): Shared<Tracking>,
    user: User,
    Data(data): Data<Value>,
) -> Outcome {
    if !matches!(t.cx.auth, crate::auth::Authenticator::Dev) {
        return Err(ApiError::new(
            "forbidden",
            "the demo courier is for dev mode; use POST /api/orders/{id}/courier",
        ));
    }
    t.cx.limiter.check(&user.id)?;
    let req: OrderRequest = parse(data.clone())?;
    check_order_id(&req.order_id)?;
    let how: CourierRequest = parse(data)?;
    let (speed, interval) = how.check()?;
    let delivery = start_courier(&t, &req.order_id, speed, interval).await?;
    Ok(fields(json!({ "delivery": delivery })))
}

/// Starts a courier for `id` (an error if one is on its way): `out_for_delivery` joins the
/// history, then the courier steps along the route.
async fn start_courier(
    t: &Tracking,
    id: &str,
    speed: f64,
    interval_ms: u64,
) -> Result<Delivery, ApiError> {
    let on_its_way = || ApiError::new("conflict", "a courier is already on its way for this order");
    if lock(&t.couriers).contains_key(id) {
        return Err(on_its_way());
    }
    // Driven by another node, or left by a stopped one (a watcher resumes it).
    if t.store.get::<Delivery>(DELIVERIES, id).await?.is_some_and(|d| d.active) {
        return Err(on_its_way());
    }
    let route = route::route_of(id);
    let start = route::point_at(&route, 0.0);
    let delivery = Delivery {
        route,
        speed,
        interval_ms,
        distance: 0.0,
        position: Some(start),
        ts: now_ms(),
        active: true,
    };
    t.store.put(DELIVERIES, id, &delivery).await?;
    let entry = StatusEntry {
        status: "out_for_delivery".to_owned(),
        note: Some("A courier is on the way".to_owned()),
        ts: now_ms(),
        source: "courier".to_owned(),
    };
    add_status(t, id, entry).await?;
    spawn_courier(t, id, delivery.clone());
    Ok(delivery)
}

/// Spawns the task of a courier (unless one runs for `id` already).
fn spawn_courier(t: &Tracking, id: &str, delivery: Delivery) {
    let mut couriers = lock(&t.couriers);
    if couriers.contains_key(id) {
        return;
    }
    // The courier: owned by the map (aborted by `stop`), ends at the customer or at shutdown.
    let task = tokio::spawn(drive(t.clone(), id.to_owned(), delivery));
    couriers.insert(id.to_owned(), task.abort_handle());
}

/// A courier: a step every `interval_ms`, the position stored and sent, `delivered` at the
/// end.
async fn drive(t: Tracking, id: String, mut delivery: Delivery) {
    let period = Duration::from_millis(delivery.interval_ms.max(1));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    // A late step is done once, not caught up with a burst: the courier moves by its speed
    // per step, and a burst of positions would only jerk the marker.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let total = route::length(&delivery.route);
    let step = delivery.speed * period.as_secs_f64();
    let room = t.cx.of(NAMESPACE).to(order_room(&id));
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = t.cx.shutdown.fired() => break,
        }
        delivery.distance = (delivery.distance + step).min(total);
        let spot = route::point_at(&delivery.route, delivery.distance);
        delivery.position = Some(spot);
        delivery.ts = now_ms();
        let arrived = delivery.distance >= total;
        delivery.active = !arrived;
        if let Err(error) = t.store.put(DELIVERIES, &id, &delivery).await {
            tracing::warn!(%error, order = %id, "courier position not stored");
        }
        let event = PositionEvent {
            order_id: &id,
            x: spot.x,
            y: spot.y,
            progress: spot.progress,
            ts: delivery.ts,
        };
        if let Err(error) = room.clone().emit(events::POSITION, &event).await {
            tracing::debug!(%error, "position not pushed");
        }
        if arrived {
            let entry = StatusEntry {
                status: "delivered".to_owned(),
                note: Some("Handed to the customer".to_owned()),
                ts: now_ms(),
                source: "courier".to_owned(),
            };
            if let Err(error) = add_status(&t, &id, entry).await {
                tracing::warn!(code = error.code, order = %id, "delivered status not stored");
            }
            break;
        }
    }
    lock(&t.couriers).remove(&id);
}

/// Starts again the couriers of the store that were on their way, once nobody drives them:
/// a courier stores its position at each step, so a delivery whose last step is older than
/// three steps has no courier (its node stopped); one whose steps go on is driven by another
/// node of a cluster, and is watched until it ends or goes quiet.
async fn resume(t: &Tracking) {
    let deliveries = match t.store.list::<Delivery>(DELIVERIES).await {
        Ok(deliveries) => deliveries,
        Err(error) => {
            tracing::warn!(%error, "deliveries not resumed");
            return;
        }
    };
    for (id, delivery) in deliveries.into_iter().filter(|(_, d)| d.active) {
        let t = t.clone();
        // The watcher of one delivery: ends once it started a courier, when the delivery
        // ends, or at shutdown.
        tokio::spawn(async move {
            tokio::select! {
                () = take_over(&t, id, delivery) => {}
                () = t.cx.shutdown.fired() => {}
            }
        });
    }
}

/// Waits until `delivery`'s last step is three steps old, then drives it from there.
async fn take_over(t: &Tracking, id: String, mut delivery: Delivery) {
    loop {
        let quiet = i64::try_from(delivery.interval_ms.saturating_mul(3)).unwrap_or(i64::MAX);
        let wait = delivery.ts.saturating_add(quiet).saturating_sub(now_ms());
        if wait <= 0 {
            tracing::info!(order = %id, "courier resumes its delivery");
            spawn_courier(t, &id, delivery);
            return;
        }
        tokio::time::sleep(Duration::from_millis(u64::try_from(wait).unwrap_or(0))).await;
        match t.store.get::<Delivery>(DELIVERIES, &id).await {
            Ok(Some(fresh)) if fresh.active => delivery = fresh,
            Ok(_) => return,
            // The database is away: look again a few steps later.
            Err(error) => {
                tracing::debug!(%error, order = %id, "delivery not read");
                delivery.ts = now_ms();
            }
        }
    }
}

fn http_error(status: StatusCode, error: ApiError) -> Response {
    (status, axum::Json(json!({ "ok": false, "error": error.to_json() }))).into_response()
}

fn status_of(error: &ApiError) -> StatusCode {
    match error.code {
        "unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        "internal" => StatusCode::INTERNAL_SERVER_ERROR,
        "conflict" => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// Checks the API key of a request (the same `--api-key` as `POST /api/notify`).
fn check_key(t: &Tracking, headers: &HeaderMap) -> Result<(), (StatusCode, ApiError)> {
    let Some(key) = t.cx.config.api_key.as_deref() else {
        return Err((
            StatusCode::SERVICE_UNAVAILABLE,
            ApiError::new(
                "disabled",
                "the orders API is off: start the server with --api-key KEY (or \
                 SWITCHBOARD_API_KEY) and send Authorization: Bearer KEY",
            ),
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Compared without an early exit, so the time taken does not tell how much matched.
    let same = |g: &str| {
        g.len() == key.len() && g.bytes().zip(key.bytes()).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0
    };
    match given.is_some_and(same) {
        true => Ok(()),
        false => Err((
            StatusCode::UNAUTHORIZED,
            ApiError::new("unauthorized", "a valid API key is required"),
        )),
    }
}

/// The JSON body of a request (an empty body is `{}`).
fn body_json(body: &Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new("invalid_payload", format!("invalid JSON: {e}")))
}

#[derive(Debug, Deserialize)]
struct StatusRequest {
    status: String,
    note: Option<String>,
}

/// `POST /api/orders/{id}/status` `{ status, note? }`: appends a status, pushes it to the
/// order's room.
async fn http_status(
    State(t): State<Tracking>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err((status, error)) = check_key(&t, &headers) {
        return http_error(status, error);
    }
    let result = async {
        check_order_id(&id)?;
        let req: StatusRequest = parse(body_json(&body)?)?;
        if !STATUSES.contains(&req.status.as_str()) {
            return Err(ApiError::new(
                "invalid_status",
                format!("status must be one of: {}", STATUSES.join(", ")),
            ));
        }
        if req.note.as_ref().is_some_and(|n| n.chars().count() > 200) {
            return Err(ApiError::new("invalid_payload", "note is at most 200 characters"));
        }
        let entry =
            StatusEntry { status: req.status, note: req.note, ts: now_ms(), source: "api".into() };
        add_status(&t, &id, entry).await
    }
    .await;
    match result {
        Ok(entry) => {
            (StatusCode::OK, axum::Json(json!({ "ok": true, "entry": entry }))).into_response()
        }
        Err(error) => http_error(status_of(&error), error),
    }
}

/// `POST /api/orders/{id}/courier` `{ speed?, intervalMs? }`: sends a simulated courier.
async fn http_courier(
    State(t): State<Tracking>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err((status, error)) = check_key(&t, &headers) {
        return http_error(status, error);
    }
    let result = async {
        check_order_id(&id)?;
        let how: CourierRequest = parse(body_json(&body)?)?;
        let (speed, interval) = how.check()?;
        start_courier(&t, &id, speed, interval).await
    }
    .await;
    match result {
        Ok(delivery) => {
            (StatusCode::ACCEPTED, axum::Json(json!({ "ok": true, "delivery": delivery })))
                .into_response()
        }
        Err(error) => http_error(status_of(&error), error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ids() {
        assert!(check_order_id("A100").is_ok());
        assert!(check_order_id("order_7-b").is_ok());
        assert!(check_order_id("").is_err());
        assert!(check_order_id("a b").is_err());
        assert!(check_order_id("x:y").is_err());
        assert!(check_order_id(&"a".repeat(65)).is_err());
    }

    #[test]
    fn courier_settings_are_bounded() {
        let ok = CourierRequest { speed: None, interval_ms: None }.check().unwrap();
        assert_eq!(ok, (DEFAULT_SPEED, DEFAULT_INTERVAL_MS));
        assert!(CourierRequest { speed: Some(f64::NAN), interval_ms: None }.check().is_err());
        assert!(CourierRequest { speed: Some(0.5), interval_ms: None }.check().is_err());
        assert!(CourierRequest { speed: None, interval_ms: Some(5) }.check().is_err());
    }
}
