//! The chat's part of the store (implemented by each database in `crate::store`).

use serde_json::Value;

use crate::store::{Member, Message, PrivateMessage, Result, StoredFile};

/// The chat's part of the store: users, rooms and members, room messages, receipts, the
/// answers of retried sends, private messages and files. Each database implements it in
/// `crate::store`.
pub(crate) trait ChatStorage {
    /// Records a user (the latest username wins).
    fn upsert_user(&mut self, user_id: &str, username: &str, now: i64) -> Result<()>;
    /// Whether a user ever signed in.
    fn user_known(&mut self, user_id: &str) -> Result<bool>;
    /// Adds a member to a room (created by its first join); false if already a member.
    fn join_room(&mut self, room_id: &str, user_id: &str, now: i64) -> Result<bool>;
    /// Removes a member; false if not a member.
    fn leave_room(&mut self, room_id: &str, user_id: &str) -> Result<bool>;
    /// Whether the user is a member of the room.
    fn is_member(&mut self, room_id: &str, user_id: &str) -> Result<bool>;
    /// The rooms of a user.
    fn user_rooms(&mut self, user_id: &str) -> Result<Vec<String>>;
    /// The members of a room, by join order.
    fn room_members(&mut self, room_id: &str) -> Result<Vec<Member>>;
    /// The newest `limit` messages with `seq < before_seq`, ascending.
    fn history(
        &mut self,
        room_id: &str,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Message>>;
    /// The stored ack of an earlier send with this client id.
    fn client_ack(&mut self, user_id: &str, client_id: &str) -> Result<Option<Value>>;
    /// Remembers the ack of a send with this client id.
    fn save_client_ack(&mut self, user_id: &str, client_id: &str, ack: &Value) -> Result<()>;
    /// Stores a room message, giving it the room's next seq.
    fn insert_message(&mut self, message: Message) -> Result<Message>;
    /// One room message.
    fn message(&mut self, id: &str) -> Result<Option<Message>>;
    /// Stores a delivery or read receipt (`read` is never downgraded to `delivered`).
    fn set_receipt(
        &mut self,
        message_id: &str,
        user_id: &str,
        status: &str,
        now: i64,
    ) -> Result<()>;
    /// Stores a private message, pending until acknowledged.
    fn insert_private(&mut self, message: PrivateMessage) -> Result<PrivateMessage>;
    /// The private messages not yet acknowledged by their recipient, oldest first.
    fn pending_private(&mut self, user_id: &str) -> Result<Vec<PrivateMessage>>;
    /// Marks a private message acknowledged.
    fn ack_private(&mut self, id: &str, now: i64) -> Result<()>;
    /// Stores a file's record, with its bytes when they are kept in the database, and its
    /// thumbnail (media type and bytes).
    fn insert_file(
        &mut self,
        file: &StoredFile,
        data: Option<&[u8]>,
        thumbnail: Option<(&str, &[u8])>,
    ) -> Result<()>;
    /// A file's record.
    fn file(&mut self, id: &str) -> Result<Option<StoredFile>>;
    /// A file's bytes, when kept in the database.
    fn file_data(&mut self, id: &str) -> Result<Option<Vec<u8>>>;
    /// A file's thumbnail: its media type and bytes.
    fn file_thumbnail(&mut self, id: &str) -> Result<Option<(String, Vec<u8>)>>;
}
