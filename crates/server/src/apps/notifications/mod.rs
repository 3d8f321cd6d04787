//! Notifications: namespace `/notifications` (a user is subscribed on connect) and the HTTP
//! API `POST /api/notify` that creates them.

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
        socket.join(user.room());
        match unread(&app, &user.id).await {
            Ok(count) => socket.emit(events::UNREAD, &json!({ "count": count }))?,
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
    let sent = app
        .of(NAMESPACE)
        .to(user_room(user_id))
        .emit(events::UNREAD, &json!({ "count": count }))
        .await;
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
            ApiError::new("disabled", "no API key is configured (--api-key)"),
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
    let stored = notification.clone();
    if let Err(e) = app.store.call(move |s| s.insert_notification(stored)).await {
        let error = ApiError::from(e);
        let status = match error.code {
            "unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        return http_error(status, error);
    }
    let target = app.of(NAMESPACE).to(user_room(&notification.user_id));
    let online = target.clone().fetch_sockets().await.map(|s| s.len()).unwrap_or(0);
    if let Err(error) = target.emit(events::NEW, &notification).await {
        tracing::debug!(%error, "notification not pushed");
    }
    let _ = push_unread(&app, &notification.user_id).await;
    (StatusCode::OK, axum::Json(json!({ "ok": true, "id": notification.id, "delivered": online })))
        .into_response()
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
