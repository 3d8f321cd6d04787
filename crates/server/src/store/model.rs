//! The stored records, serialized as the clients see them (camelCase JSON).

use serde::Serialize;

/// A room message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Message {
    /// Server id.
    pub(crate) id: String,
    /// The room.
    pub(crate) room_id: String,
    /// Position in the room, from 1.
    pub(crate) seq: i64,
    /// The author's id.
    pub(crate) user_id: String,
    /// The author's name when sent.
    pub(crate) username: String,
    /// The text, as sent.
    pub(crate) text: String,
    /// Milliseconds since the Unix epoch.
    pub(crate) ts: i64,
    /// The sender's id for safe retries.
    pub(crate) client_id: Option<String>,
    /// The furthest receipt from another user (`delivered` or `read`); only in history.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) status: Option<String>,
}

/// A member of a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Member {
    /// The user id.
    pub(crate) user_id: String,
    /// The latest username.
    pub(crate) username: String,
}

/// A private message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PrivateMessage {
    /// Server id.
    pub(crate) id: String,
    /// Global order, from 1.
    pub(crate) seq: i64,
    /// The sender's id.
    pub(crate) from_user_id: String,
    /// The sender's name.
    pub(crate) from_username: String,
    /// The recipient's id.
    pub(crate) to_user_id: String,
    /// The text, as sent.
    pub(crate) text: String,
    /// Milliseconds since the Unix epoch.
    pub(crate) ts: i64,
    /// The sender's id for safe retries.
    pub(crate) client_id: Option<String>,
}

/// A notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Notification {
    /// Server id.
    pub(crate) id: String,
    /// The recipient.
    pub(crate) user_id: String,
    /// Title.
    pub(crate) title: String,
    /// Body.
    pub(crate) body: String,
    /// Milliseconds since the Unix epoch.
    pub(crate) ts: i64,
    /// Whether it was read.
    pub(crate) read: bool,
}
