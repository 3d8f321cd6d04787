//! Notifications: namespace `/notifications` (a user is subscribed on connect) and the HTTP
//! API `POST /api/notify` that creates them.

pub(crate) mod store;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard::{Data, HandlerError, Socket};

use crate::apps::{ApiError, App, AppContext, Asset, Outcome, fields, page_routes, parse};
use crate::auth::{User, user_room, valid_user_id};
use crate::store::{Notification, new_id, now_ms};

/// The notifications app (see the module).
pub(crate) struct NotificationsApp;

/// The namespace of the notifications.
const NAMESPACE: &str = "/notifications";

const PAGE: &str = include_str!("page/index.html");
const ASSETS: &[Asset] =
    &[Asset { file: "notifications.js", body: include_str!("page/notifications.js") }];

impl App for NotificationsApp {
    fn name(&self) -> &'static str {
        "notifications"
    }

    fn title(&self) -> &'static str {
        "Notifications"
    }

    fn summary(&self) -> &'static str {
        "A live inbox with unread counts, fed by an HTTP API (POST /api/notify)."
    }

    fn install(&self, cx: &AppContext) -> anyhow::Result<()> {
        install(cx);
        Ok(())
    }

    fn welcome(&self, cx: &AppContext, base_url: &str) -> Option<String> {
        let dev = matches!(cx.auth, crate::auth::Authenticator::Dev);
        match (&cx.config.api_key, dev) {
            (Some(key), true) => Some(format!(
                "send a notification: curl -X POST {base_url}/api/notify \
                 -H 'authorization: Bearer {key}' -H 'content-type: application/json' \
                 -d '{{\"userId\":\"alice\",\"title\":\"Hello\",\"body\":\"From curl\"}}' \
                 (then open {base_url}/notifications as alice)"
            )),
            (None, true) => Some(format!(
                "POST /api/notify is off until the server gets an --api-key KEY; meanwhile \
                 {base_url}/notifications has a \"Send a test notification\" button (dev mode)"
            )),
            (Some(_), false) => None,
            (None, false) => {
                Some("POST /api/notify is off: start the server with --api-key KEY".to_owned())
            }
        }
    }

    fn routes(&self, cx: &AppContext) -> axum::Router {
        page_routes(self.name(), PAGE, ASSETS).merge(
            axum::Router::new()
                .route("/api/notify", axum::routing::post(http_notify))
                .with_state(cx.clone()),
        )
    }
}

/// Event names of `/notifications`, declared once.
pub(crate) mod events {
    /// Client → server: the newest notifications.
    pub(crate) const LIST: &str = "notification:list";
    /// Client → server: mark one (`{ id }`) or all (`{}`) read.
    pub(crate) const READ: &str = "notification:read";
    /// Server → client: a new notification.
    pub(crate) const NEW: &str = "notification:new";
    /// Server → client: the unread count changed (`{ count }`).
    pub(crate) const UNREAD: &str = "notification:unread";
    /// Client → server (dev auth only): send myself a test notification.
    pub(crate) const TEST: &str = "notification:test";
    /// Server → client, on connect: `{ userId, username, testable }` (`testable`: the
    /// server takes `notification:test`).
    pub(crate) const SESSION: &str = "notification:session";
}

/// `notification:session`.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Session<'a> {
    user_id: &'a str,
    username: &'a str,
    /// Whether the server takes `notification:test` (dev mode).
    testable: bool,
}

/// `notification:unread`.
#[derive(Debug, serde::Serialize)]
struct Unread {
    count: u64,
}

/// The most notifications one `notification:list` returns.
const MAX_LIST: u32 = 100;

/// Sets up `/notifications`.
fn install(app: &AppContext) {
    let ns = app.of(NAMESPACE);
    crate::apps::authenticate(&ns);
    ns.on_connection(|socket: Socket, app: AppContext, user: User| async move {
        socket.on(events::LIST, list)?;
        socket.on(events::READ, read)?;
        socket.on(events::TEST, test_notification)?;
        socket.join(user.room());
        let testable = matches!(app.auth, crate::auth::Authenticator::Dev);
        let session = Session { user_id: &user.id, username: &user.username, testable };
        socket.emit(events::SESSION, &session)?;
        match unread(&app, &user.id).await {
            Ok(count) => socket.emit(events::UNREAD, &Unread { count })?,
            Err(e) => tracing::warn!(code = e.code, "unread count unavailable"),
        }
        Ok::<_, HandlerError>(())
    });
}

async fn unread(app: &AppContext, user_id: &str) -> Result<u64, ApiError> {
    let id = user_id.to_owned();
    Ok(app.store.call(move |s| s.unread_count(&id)).await?)
}

/// Pushes the unread count to every connection of the user.
async fn push_unread(app: &AppContext, user_id: &str) -> Result<u64, ApiError> {
    let count = unread(app, user_id).await?;
    let sent =
        app.of(NAMESPACE).to(user_room(user_id)).emit(events::UNREAD, &Unread { count }).await;
    if let Err(error) = sent {
        tracing::debug!(%error, "unread count not pushed");
    }
    Ok(count)
}

#[derive(Debug, Default, Deserialize)]
struct ListRequest {
    limit: Option<u32>,
}

async fn list(app: AppContext, _socket: Socket, user: User, Data(data): Data<Value>) -> Outcome {
    let req: ListRequest = if data.is_array() { ListRequest::default() } else { parse(data)? };
    let limit = req.limit.unwrap_or(50).clamp(1, MAX_LIST);
    let id = user.id.clone();
    let (items, count) =
        app.store.call(move |s| Ok((s.notifications(&id, limit)?, s.unread_count(&id)?))).await?;
    Ok(fields(json!({ "notifications": items, "unread": count })))
}

#[derive(Debug, Default, Deserialize)]
struct ReadRequest {
    id: Option<String>,
}

async fn read(app: AppContext, _socket: Socket, user: User, Data(data): Data<Value>) -> Outcome {
    let req: ReadRequest = if data.is_array() { ReadRequest::default() } else { parse(data)? };
    let id = user.id.clone();
    app.store.call(move |s| s.read_notifications(&id, req.id.as_deref())).await?;
    let count = push_unread(&app, &user.id).await?;
    Ok(fields(json!({ "unread": count })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NotifyRequest {
    user_id: String,
    title: String,
    body: String,
}

fn http_error(status: StatusCode, error: ApiError) -> Response {
    (status, axum::Json(json!({ "ok": false, "error": error.to_json() }))).into_response()
}

/// `POST /api/notify` `{ userId, title, body }` with `Authorization: Bearer KEY`: stores the
/// notification and pushes it to the user's online connections.
pub(crate) async fn http_notify(
    State(app): State<AppContext>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(key) = app.config.api_key.as_deref() else {
        return http_error(
            StatusCode::SERVICE_UNAVAILABLE,
            ApiError::new(
                "disabled",
                "POST /api/notify is off: start the server with --api-key KEY (or \
                 SWITCHBOARD_API_KEY) and send Authorization: Bearer KEY",
            ),
        );
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !given.is_some_and(|g| constant_time_eq(g.as_bytes(), key.as_bytes())) {
        return http_error(
            StatusCode::UNAUTHORIZED,
            ApiError::new("unauthorized", "a valid API key is required"),
        );
    }
    let request: Result<NotifyRequest, ApiError> = serde_json::from_slice::<Value>(&body)
        .map_err(|e| ApiError::new("invalid_payload", format!("invalid JSON: {e}")))
        .and_then(parse);
    let request = match request {
        Ok(r)
            if valid_user_id(&r.user_id)
                && !r.title.trim().is_empty()
                && r.title.chars().count() <= 200
                && r.body.chars().count() <= 2000 =>
        {
            r
        }
        Ok(_) => {
            return http_error(
                StatusCode::BAD_REQUEST,
                ApiError::new(
                    "invalid_payload",
                    "userId 1-128 chars, title 1-200, body up to 2000",
                ),
            );
        }
        Err(e) => return http_error(StatusCode::BAD_REQUEST, e),
    };
    let notification = Notification {
        id: new_id(),
        user_id: request.user_id,
        title: request.title,
        body: request.body,
        ts: now_ms(),
        read: false,
    };
    match deliver(&app, notification).await {
        Ok((id, online)) => {
            (StatusCode::OK, axum::Json(json!({ "ok": true, "id": id, "delivered": online })))
                .into_response()
        }
        Err(error) => {
            let status = match error.code {
                "unavailable" => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            http_error(status, error)
        }
    }
}

/// Stores `notification` and pushes it, with the new unread count, to its user's
/// connections; its id and how many connections were online.
async fn deliver(
    app: &AppContext,
    notification: Notification,
) -> Result<(String, usize), ApiError> {
    let stored = notification.clone();
    app.store.call(move |s| s.insert_notification(stored)).await?;
    let target = app.of(NAMESPACE).to(user_room(&notification.user_id));
    let online = target.clone().fetch_sockets().await.map(|s| s.len()).unwrap_or(0);
    if let Err(error) = target.emit(events::NEW, &notification).await {
        tracing::debug!(%error, "notification not pushed");
    }
    let _ = push_unread(app, &notification.user_id).await;
    Ok((notification.id, online))
}

/// `notification:test`: in dev mode, a notification to oneself, so the inbox can be tried
/// without the HTTP API's key.
async fn test_notification(app: AppContext, user: User) -> Outcome {
    if !matches!(app.auth, crate::auth::Authenticator::Dev) {
        return Err(ApiError::new(
            "forbidden",
            "test notifications are for dev mode; use POST /api/notify",
        ));
    }
    app.limiter.check(&user.id)?;
    let notification = Notification {
        id: new_id(),
        user_id: user.id,
        title: "Test notification".to_owned(),
        body: "Sent from this inbox. Other services send theirs with POST /api/notify.".to_owned(),
        ts: now_ms(),
        read: false,
    };
    let (id, _) = deliver(&app, notification).await?;
    Ok(fields(json!({ "id": id })))
}

/// Compares without an early exit, so the time taken does not tell how much of a key matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_compare_exactly() {
        assert!(super::constant_time_eq(b"abc", b"abc"));
        assert!(!super::constant_time_eq(b"abc", b"abd"));
        assert!(!super::constant_time_eq(b"abc", b"abcd"));
    }
}
