//! The helpers the apps' event handlers use: errors and answers, payload parsing, the
//! user of a socket, common checks.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use switchboard::extract::Context;
use switchboard::{FromContext, HandlerError, Reply, ReportError, Socket};

use crate::auth::User;
use crate::store::StoreError;

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
        if error.is_unavailable() {
            tracing::warn!(%error, "database unavailable");
            return ApiError::new("unavailable", "the database is unavailable, retry later");
        }
        tracing::error!(%error, "store failure");
        ApiError::new("internal", "the server could not store this, retry later")
    }
}

/// A handler's outcome: the ack `{ ok: true, ...fields }`, or an error (see [`ApiError`]'s
/// [`ReportError`]).
pub(crate) type Outcome = Result<Done, ApiError>;

/// The fields of a successful answer, sent as `{ ok: true, ...fields }`.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Done(Map<String, Value>);

impl Done {
    /// Adds a field.
    pub(crate) fn insert(&mut self, key: &str, value: Value) {
        self.0.insert(key.to_owned(), value);
    }
}

impl Serialize for Done {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let fields = self.0.iter().filter(|(k, _)| *k != "ok");
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("ok", &true)?;
        for (k, v) in fields {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// Builds the fields of a successful ack from a JSON object literal.
pub(crate) fn fields(value: Value) -> Done {
    match value {
        Value::Object(map) => Done(map),
        _ => Done::default(),
    }
}

/// A refused request: `{ ok: false, error }` as the ack, or, when the client asked for no
/// ack, a `request:error` event `{ event, error }` (never silently dropped).
impl ReportError for ApiError {
    fn report(self, reply: &Reply) {
        let event = reply.event_name().map_or("", |e| e.as_str());
        tracing::debug!(event, code = self.code, message = %self.message, "request refused");
        if reply.ack().is_some() {
            reply.ok(&json!({ "ok": false, "error": self.to_json() }));
        } else if let Err(error) =
            reply.socket().emit(REQUEST_ERROR, &json!({ "event": event, "error": self.to_json() }))
        {
            tracing::debug!(event, %error, "answer not sent");
        }
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
    let unauthorized = || ApiError::new("unauthorized", "not authenticated");
    let user = socket.data::<User>().ok().flatten().ok_or_else(unauthorized)?;
    socket.insert_extension(user.clone());
    Ok(user)
}

/// A handler's user (see [`user_of`]).
impl FromContext for User {
    fn from_context(cx: &mut Context) -> Result<Self, HandlerError> {
        user_of(cx.socket())
            .map_err(|e| HandlerError::new(e.message.clone()).with_data(e.to_json()))
    }
}

/// Server → client: the error of a request sent without an ack, `{ event, error }`.
pub(crate) const REQUEST_ERROR: &str = "request:error";

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
        let done = fields(json!({"id": 1, "ok": "ignored"}));
        assert_eq!(serde_json::to_value(&done).unwrap(), json!({"ok": true, "id": 1}));
        let e = ApiError::new("rate_limited", "slow down").with("retryAfterMs", json!(50));
        assert_eq!(
            e.to_json(),
            json!({"code": "rate_limited", "message": "slow down", "retryAfterMs": 50})
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

    #[test]
    fn an_unreachable_database_is_unavailable_other_failures_internal() {
        assert_eq!(ApiError::from(StoreError::Unavailable).code, "unavailable");
        assert_eq!(ApiError::from(StoreError::CommitFailed).code, "unavailable");
        assert_eq!(ApiError::from(StoreError::Closed).code, "internal");
        let constraint = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
            None,
        );
        assert_eq!(ApiError::from(StoreError::Database(constraint)).code, "internal");
    }
}
