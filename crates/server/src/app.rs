//! The shared state of the apps and the helpers their event handlers use.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use switchboard::{Event, Namespace, Socket, SocketIo};

use crate::auth::{Authenticator, User};
use crate::chat::presence::{Presence, Typing};
use crate::limits::Limiter;
use crate::store::{Store, StoreError};

/// Everything the handlers share. Cloning is cheap.
#[derive(Clone)]
pub(crate) struct App(Arc<AppInner>);

/// The parts of [`App`].
pub(crate) struct AppInner {
    /// The Socket.IO server.
    pub(crate) io: SocketIo,
    /// The database.
    pub(crate) store: Store,
    /// Connect-time auth.
    pub(crate) auth: Authenticator,
    /// Who is online in `/chat`.
    pub(crate) presence: Presence,
    /// Who is typing where.
    pub(crate) typing: Typing,
    /// Per-user send rate.
    pub(crate) limiter: Limiter,
    /// Key of `POST /api/notify`.
    pub(crate) api_key: Option<String>,
    /// How long a typing indicator lasts without an update.
    pub(crate) typing_timeout: Duration,
    /// How long a dropped connection keeps its user online.
    pub(crate) presence_grace: Duration,
}

impl std::ops::Deref for App {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl App {
    /// Wraps the parts.
    pub(crate) fn new(inner: AppInner) -> App {
        App(Arc::new(inner))
    }

    /// The `/chat` namespace.
    pub(crate) fn chat(&self) -> Namespace {
        self.io.of("/chat")
    }

    /// The `/notifications` namespace.
    pub(crate) fn notifications(&self) -> Namespace {
        self.io.of("/notifications")
    }
}

/// An error answered to the client as `{ ok: false, error: { code, message, ... } }`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    /// Machine-readable.
    pub(crate) code: &'static str,
    /// Human-readable.
    pub(crate) message: String,
    /// Extra fields of the error object.
    pub(crate) extra: Map<String, Value>,
}

impl ApiError {
    /// An error without extra fields.
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        ApiError { code, message: message.into(), extra: Map::new() }
    }

    /// Adds a field to the error object.
    pub(crate) fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_owned(), value);
        self
    }

    /// The error object `{ code, message, ... }`.
    pub(crate) fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("code".to_owned(), json!(self.code));
        map.insert("message".to_owned(), json!(self.message));
        map.extend(self.extra.clone());
        Value::Object(map)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "store failure");
        ApiError::new("internal", "the server could not store this, retry later")
    }
}

/// A handler's outcome: the fields of a successful ack, or an error.
pub(crate) type Outcome = Result<Map<String, Value>, ApiError>;

/// `{ ok: true, ...fields }` or `{ ok: false, error }`.
pub(crate) fn ack_body(outcome: &Outcome) -> Value {
    match outcome {
        Ok(fields) => {
            let mut map = Map::new();
            map.insert("ok".to_owned(), Value::Bool(true));
            map.extend(
                fields.iter().filter(|(k, _)| *k != "ok").map(|(k, v)| (k.clone(), v.clone())),
            );
            Value::Object(map)
        }
        Err(e) => json!({ "ok": false, "error": e.to_json() }),
    }
}

/// Builds the fields of a successful ack from a JSON object literal.
pub(crate) fn fields(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Deserializes an event's payload, or answers `invalid_payload`.
pub(crate) fn parse<T: DeserializeOwned>(data: Value) -> Result<T, ApiError> {
    serde_json::from_value(data)
        .map_err(|e| ApiError::new("invalid_payload", format!("invalid payload: {e}")))
}

/// The user the auth middleware attached to the socket. A recovered socket skipped the
/// middleware (its auth is not checked again, as Node's `skipMiddlewares`) and has only its
/// restored `data`, where the middleware also put the user.
pub(crate) fn user_of(socket: &Socket) -> Result<User, ApiError> {
    if let Some(user) = socket.extension::<User>() {
        return Ok(user);
    }
    let user =
        socket.data::<User>().ok_or_else(|| ApiError::new("unauthorized", "not authenticated"))?;
    socket.insert_extension(user.clone());
    Ok(user)
}

/// Server → client: the error of a request sent without an ack, `{ event, error }`.
pub(crate) const REQUEST_ERROR: &str = "request:error";

/// Registers `handler` for `event`: the payload is handed over as JSON, the outcome is sent
/// as the ack (when the client asked for one).
pub(crate) fn on<F, Fut>(socket: &Socket, app: &App, event: &'static str, handler: F)
where
    F: Fn(App, Socket, User, Value) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let app = app.clone();
    socket.on(event, move |socket: Socket, ev: Event<Value>| {
        let app = app.clone();
        let handler = handler.clone();
        async move {
            let outcome = match user_of(&socket) {
                Ok(user) => handler(app, socket.clone(), user, ev.data).await,
                Err(e) => Err(e),
            };
            if let Err(e) = &outcome {
                tracing::debug!(event, code = e.code, message = %e.message, "request refused");
            }
            let sent = match (ev.ack, &outcome) {
                (Some(ack), _) => ack.send(&ack_body(&outcome)),
                // No ack to carry the error: it comes as an event, never silently dropped.
                (None, Err(e)) => socket.emit(
                    REQUEST_ERROR,
                    &serde_json::json!({ "event": event, "error": e.to_json() }),
                ),
                (None, Ok(_)) => Ok(()),
            };
            if let Err(error) = sent {
                tracing::debug!(event, %error, "answer not sent");
            }
        }
    });
}

/// Checks a message text: 1–2000 Unicode characters after trimming.
pub(crate) fn check_text(text: &str) -> Result<(), ApiError> {
    let count = text.trim().chars().count();
    if count == 0 {
        return Err(ApiError::new("invalid_text", "the text is empty"));
    }
    if count > 2000 {
        return Err(ApiError::new("invalid_text", "the text is longer than 2000 characters"));
    }
    Ok(())
}

/// Checks a room id: 1–64 characters, no control characters.
pub(crate) fn check_room_id(room_id: &str) -> Result<(), ApiError> {
    let count = room_id.chars().count();
    if (1..=64).contains(&count)
        && !room_id.chars().any(char::is_control)
        && !room_id.trim().is_empty()
    {
        Ok(())
    } else {
        Err(ApiError::new(
            "invalid_room",
            "roomId must be 1 to 64 characters without control characters",
        ))
    }
}

/// Checks an optional client id: 1–128 characters.
pub(crate) fn check_client_id(client_id: Option<&str>) -> Result<(), ApiError> {
    match client_id {
        Some(id) if id.is_empty() || id.chars().count() > 128 => {
            Err(ApiError::new("invalid_payload", "clientId must be 1 to 128 characters"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_and_validation() {
        assert_eq!(ack_body(&Ok(fields(json!({"id": 1})))), json!({"ok": true, "id": 1}));
        let e = ApiError::new("rate_limited", "slow down").with("retryAfterMs", json!(50));
        assert_eq!(
            ack_body(&Err(e)),
            json!({"ok": false, "error": {"code": "rate_limited", "message": "slow down", "retryAfterMs": 50}})
        );
        assert!(check_text("  hi ").is_ok());
        assert!(check_text("   ").is_err());
        assert!(check_text(&"é".repeat(2000)).is_ok());
        assert!(check_text(&"é".repeat(2001)).is_err());
        assert!(check_room_id("general").is_ok());
        assert!(check_room_id("").is_err());
        assert!(check_room_id("a\u{7}").is_err());
        assert!(check_client_id(Some("")).is_err());
        assert!(check_client_id(None).is_ok());
    }
}
