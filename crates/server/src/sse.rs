//! `GET /sse`: the chat's room broadcasts as an event stream (the library's SSE bridge), with
//! the same authentication as a socket of `/chat`.
//!
//! `GET /sse?namespace=/chat&rooms=general,random` streams what a socket in rooms `general`
//! and `random` gets (`message:new`, `presence:update`, ...). The user is checked as at a
//! socket's connect: dev mode takes `?username=`, JWT mode a token in `Authorization: Bearer`
//! or `?token=` (`EventSource` cannot set headers). Only `/chat` has rooms to stream: another
//! namespace is a 404.

use axum::Router;
use serde_json::json;
use switchboard::sse::{Sse, SseError};

use crate::apps::chat::room_key;
use crate::apps::{AppContext, check_room_id};

/// The `/sse` route.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>(app: &AppContext) -> Router<S> {
    let auth = app.auth.clone();
    let sse = Sse::new(app.io.clone()).authorize(move |mut request| {
        let auth = auth.clone();
        async move {
            if request.namespace != "/chat" {
                return Err(SseError::UnknownNamespace(request.namespace));
            }
            let username = request.query.get("username").cloned();
            let credentials = json!({ "username": username, "token": request.token });
            let user = auth
                .authenticate(&credentials)
                .map_err(|e| SseError::Unauthorized(format!("{}: {}", e.code, e.message)))?;
            for room in &request.rooms {
                check_room_id(room).map_err(|e| SseError::BadRequest(e.message))?;
            }
            tracing::debug!(user = %user.id, rooms = ?request.rooms, "sse stream opened");
            request.rooms = request.rooms.iter().map(|r| room_key(r)).collect();
            Ok(request)
        }
    });
    Router::new().route_service("/sse", sse)
}
