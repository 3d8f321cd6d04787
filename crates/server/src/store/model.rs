//! The stored records, serialized as the clients see them (camelCase JSON).

use serde::{Deserialize, Serialize};

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
    /// The file this message shares (its text is the file's name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) file: Option<FileInfo>,
}

/// A file shared in a room, as messages carry it (stored as JSON in the message row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FileInfo {
    /// Server id; the bytes are at `GET /files/{id}`.
    pub(crate) id: String,
    /// The name it was sent with.
    pub(crate) name: String,
    /// Its media type.
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// Its size in bytes.
    pub(crate) size: u64,
    /// Whether it has a thumbnail at `GET /files/{id}/thumbnail`.
    pub(crate) thumbnail: bool,
}

/// A stored file: where its bytes are, and who may read it (the members of its room).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredFile {
    /// What messages show of it.
    pub(crate) info: FileInfo,
    /// Its room.
    pub(crate) room_id: String,
    /// Who sent it.
    pub(crate) user_id: String,
    /// Whether its bytes are in the database (else in the data directory).
    pub(crate) in_database: bool,
    /// Milliseconds since the Unix epoch.
    pub(crate) created_at: i64,
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
