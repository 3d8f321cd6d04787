//! Rooms and room messages: join, leave, send, receipts, history.

use serde::Deserialize;
use serde_json::{Value, json};
use switchboard::{Data, Socket};

use super::payloads::{MemberState, MessageStatus};
use super::{Chat, announce, events, not_member, room_key};
use crate::apps::{ApiError, Outcome, check_client_id, check_room_id, check_text, fields, parse};
use crate::auth::{User, user_room};
use crate::store::{Message, new_id, now_ms};

/// Messages in a `room:join` answer and the default of `messages:history`.
const HISTORY: u32 = 50;
/// The most messages one `messages:history` returns.
const MAX_HISTORY: u32 = 100;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoomRequest {
    room_id: String,
}

pub(super) async fn join(
    app: Chat,
    socket: Socket,
    user: User,
    Data(data): Data<Value>,
) -> Outcome {
    let RoomRequest { room_id } = parse(data)?;
    check_room_id(&room_id)?;
    let (room, id) = (room_id.clone(), user.id.clone());
    let (added, history, members) = app
        .cx
        .store
        .call(move |s| {
            let added = s.join_room(&room, &id, now_ms())?;
            Ok((added, s.history(&room, None, HISTORY)?, s.room_members(&room)?))
        })
        .await?;
    // Membership is per user: every connection of the user joins.
    socket.join(room_key(&room_id));
    if let Err(error) = app.chat().to(user.room()).sockets_join(room_key(&room_id)).await {
        tracing::debug!(%error, "other connections not joined");
    }
    let members: Vec<MemberState> = members
        .into_iter()
        .map(|m| {
            let online = app.presence.is_online(&m.user_id);
            MemberState { user_id: m.user_id, username: m.username, online }
        })
        .collect();
    if added {
        announce(&app, &user, std::slice::from_ref(&room_id), "online").await;
    }
    Ok(fields(json!({ "roomId": room_id, "history": history, "members": members })))
}

pub(super) async fn leave(
    app: Chat,
    _socket: Socket,
    user: User,
    Data(data): Data<Value>,
) -> Outcome {
    let RoomRequest { room_id } = parse(data)?;
    check_room_id(&room_id)?;
    let (room, id) = (room_id.clone(), user.id.clone());
    if !app.cx.store.call(move |s| s.leave_room(&room, &id)).await? {
        return Err(not_member());
    }
    if let Err(error) = app.chat().to(user.room()).sockets_leave(room_key(&room_id)).await {
        tracing::debug!(%error, "connections not removed from the room");
    }
    announce(&app, &user, std::slice::from_ref(&room_id), "left").await;
    Ok(fields(json!({ "roomId": room_id })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendRequest {
    room_id: String,
    text: String,
    client_id: Option<String>,
}

/// What a send did.
enum Sent {
    New(Box<Message>, Value),
    Duplicate(Value),
    NotMember,
}

pub(super) async fn send(
    app: Chat,
    _socket: Socket,
    user: User,
    Data(data): Data<Value>,
) -> Outcome {
    let req: SendRequest = parse(data)?;
    check_room_id(&req.room_id)?;
    check_text(&req.text)?;
    check_client_id(req.client_id.as_deref())?;
    app.cx.limiter.check(&user.id)?;
    let message = Message {
        id: new_id(),
        room_id: req.room_id,
        seq: 0,
        user_id: user.id.clone(),
        username: user.username.clone(),
        text: req.text,
        ts: now_ms(),
        client_id: req.client_id,
        status: None,
        file: None,
    };
    let sent = app
        .cx
        .store
        .call(move |s| {
            if let Some(cid) = &message.client_id
                && let Some(ack) = s.client_ack(&message.user_id, cid)?
            {
                return Ok(Sent::Duplicate(ack));
            }
            if !s.is_member(&message.room_id, &message.user_id)? {
                return Ok(Sent::NotMember);
            }
            let m = s.insert_message(message)?;
            let ack = json!({ "id": m.id, "seq": m.seq, "ts": m.ts, "roomId": m.room_id });
            if let Some(cid) = &m.client_id {
                s.save_client_ack(&m.user_id, cid, &ack)?;
            }
            Ok(Sent::New(Box::new(m), ack))
        })
        .await?;
    match sent {
        Sent::New(m, ack) => {
            let sent = app.chat().to(room_key(&m.room_id)).emit(events::MESSAGE_NEW, &m).await;
            if let Err(error) = sent {
                tracing::warn!(%error, "message:new not broadcast");
            }
            Ok(fields(ack))
        }
        Sent::Duplicate(ack) => {
            let mut ack = fields(ack);
            ack.insert("duplicate", Value::Bool(true));
            Ok(ack)
        }
        Sent::NotMember => Err(not_member()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReceiptRequest {
    message_id: String,
}

pub(super) async fn receipt(app: Chat, user: User, data: Value, status: &'static str) -> Outcome {
    let ReceiptRequest { message_id } = parse(data)?;
    let (id, reader) = (message_id.clone(), user.id.clone());
    let message = app
        .cx
        .store
        .call(move |s| {
            let Some(m) = s.message(&id)? else { return Ok(Err(not_found())) };
            if !s.is_member(&m.room_id, &reader)? {
                return Ok(Err(not_member()));
            }
            s.set_receipt(&id, &reader, status, now_ms())?;
            Ok(Ok(m))
        })
        .await??;
    let update = MessageStatus {
        message_id: &message.id,
        room_id: &message.room_id,
        user_id: &user.id,
        username: &user.username,
        status,
    };
    let sent =
        app.chat().to(user_room(&message.user_id)).emit(events::MESSAGE_STATUS, &update).await;
    if let Err(error) = sent {
        tracing::debug!(%error, "message:status not sent");
    }
    Ok(fields(json!({ "messageId": message.id, "status": status })))
}

fn not_found() -> ApiError {
    ApiError::new("not_found", "no such message")
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HistoryRequest {
    room_id: String,
    before_seq: Option<i64>,
    limit: Option<u32>,
}

pub(super) async fn history(
    app: Chat,
    _socket: Socket,
    user: User,
    Data(data): Data<Value>,
) -> Outcome {
    let req: HistoryRequest = parse(data)?;
    check_room_id(&req.room_id)?;
    let limit = req.limit.unwrap_or(HISTORY).clamp(1, MAX_HISTORY);
    let (room, id) = (req.room_id.clone(), user.id);
    let messages = app
        .cx
        .store
        .call(move |s| {
            if !s.is_member(&room, &id)? {
                return Ok(None);
            }
            s.history(&room, req.before_seq, limit).map(Some)
        })
        .await?
        .ok_or_else(not_member)?;
    Ok(fields(json!({ "roomId": req.room_id, "messages": messages })))
}
