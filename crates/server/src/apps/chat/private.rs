//! Private messages: stored until a connection of the recipient acknowledges them, delivered
//! at once to every online connection and again on every new connection until then.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use switchboard::{AckError, Data, Socket};

use super::{Chat, events};
use crate::apps::{ApiError, Outcome, check_client_id, check_text, fields, parse};
use crate::auth::{User, user_room, valid_user_id};
use crate::store::{PrivateMessage, new_id, now_ms};

/// How long a delivery waits for the recipient's ack before leaving the message stored for
/// the next connection.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PrivateRequest {
    to_user_id: String,
    text: String,
    client_id: Option<String>,
}

enum Sent {
    New(PrivateMessage, Value),
    Duplicate(Value),
}

pub(super) async fn send(
    app: Chat,
    _socket: Socket,
    user: User,
    Data(data): Data<Value>,
) -> Outcome {
    let req: PrivateRequest = parse(data)?;
    if !valid_user_id(&req.to_user_id) {
        return Err(ApiError::new("invalid_user", "toUserId must be a valid user id"));
    }
    check_text(&req.text)?;
    check_client_id(req.client_id.as_deref())?;
    app.cx.limiter.check(&user.id)?;
    let message = PrivateMessage {
        id: new_id(),
        seq: 0,
        from_user_id: user.id.clone(),
        from_username: user.username.clone(),
        to_user_id: req.to_user_id,
        text: req.text,
        ts: now_ms(),
        client_id: req.client_id,
    };
    let sent = app
        .cx
        .store
        .call(move |s| {
            if let Some(cid) = &message.client_id
                && let Some(ack) = s.client_ack(&message.from_user_id, cid)?
            {
                return Ok(Sent::Duplicate(ack));
            }
            let seen = s.user_known(&message.to_user_id)?;
            let m = s.insert_private(message)?;
            // `recipientSeen: false`: kept for a user who never signed in (with JWT the
            // server cannot know every user); the sender is told, not silently accepted.
            let ack = json!({
                "id": m.id, "seq": m.seq, "ts": m.ts, "toUserId": m.to_user_id,
                "recipientSeen": seen,
            });
            if let Some(cid) = &m.client_id {
                s.save_client_ack(&m.from_user_id, cid, &ack)?;
            }
            Ok(Sent::New(m, ack))
        })
        .await?;
    match sent {
        Sent::New(m, ack) => {
            // The delivery waits for acks: it runs apart so the sender's next events and this
            // answer do not wait for the recipient. It ends after DELIVERY_TIMEOUT at most.
            let app = app.clone();
            tokio::spawn(async move { deliver_online(&app, m).await });
            Ok(fields(ack))
        }
        Sent::Duplicate(ack) => {
            let mut ack = fields(ack);
            ack.insert("duplicate", Value::Bool(true));
            Ok(ack)
        }
    }
}

/// Sends `message` to every connection of its recipient; marks it acknowledged on the first
/// answer.
async fn deliver_online(app: &Chat, message: PrivateMessage) {
    let answers = app
        .chat()
        .to(user_room(&message.to_user_id))
        .timeout(DELIVERY_TIMEOUT)
        .emit_with_ack(events::PRIVATE_NEW, &message)
        .await;
    let answered = match answers {
        Ok(answers) => !answers.is_empty(),
        Err(AckError::Incomplete { received, .. }) => !received.is_empty(),
        Err(error) => {
            tracing::debug!(%error, "private message not delivered");
            false
        }
    };
    if answered {
        acknowledged(app, message.id).await;
    }
}

/// Sends the stored, unacknowledged private messages of `user` to this new connection.
pub(super) async fn deliver_pending(
    app: &Chat,
    socket: &Socket,
    user: &User,
) -> Result<(), ApiError> {
    let id = user.id.clone();
    let pending = app.cx.store.call(move |s| s.pending_private(&id)).await?;
    for message in pending {
        let answer = socket.timeout(DELIVERY_TIMEOUT).emit_with_ack(events::PRIVATE_NEW, &message);
        // Waits for this connection's ack apart from the client's event loop; ends after
        // DELIVERY_TIMEOUT or when the socket leaves.
        let app = app.clone();
        tokio::spawn(async move {
            match answer.await {
                Ok(_) => acknowledged(&app, message.id).await,
                Err(error) => tracing::debug!(%error, "stored private message not acknowledged"),
            }
        });
    }
    Ok(())
}

async fn acknowledged(app: &Chat, id: String) {
    if let Err(error) = app.cx.store.call(move |s| s.ack_private(&id, now_ms())).await {
        tracing::warn!(%error, "private message ack not stored");
    }
}
