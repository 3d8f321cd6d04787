//! The chat and notification apps' tables on SQLite.

use rusqlite::{OptionalExtension, params};
use serde_json::Value;

use crate::apps::chat::store::ChatStorage;
use crate::apps::notifications::store::NotificationStorage;
use crate::store::{FileInfo, Member, Message, Notification, PrivateMessage, Result, StoredFile};

use super::SqliteStorage;

fn message_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Message> {
    Ok(Message {
        id: row.get(0)?,
        room_id: row.get(1)?,
        seq: row.get(2)?,
        user_id: row.get(3)?,
        username: row.get(4)?,
        text: row.get(5)?,
        ts: row.get(6)?,
        client_id: row.get(7)?,
        status: None,
        file: row.get::<_, Option<String>>(8)?.and_then(|f| crate::store::file_of(&f)),
    })
}

const MESSAGE_COLUMNS: &str = "id, room_id, seq, user_id, username, text, ts, client_id, file";

fn private_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<PrivateMessage> {
    Ok(PrivateMessage {
        seq: row.get(0)?,
        id: row.get(1)?,
        from_user_id: row.get(2)?,
        from_username: row.get(3)?,
        to_user_id: row.get(4)?,
        text: row.get(5)?,
        ts: row.get(6)?,
        client_id: row.get(7)?,
    })
}

impl ChatStorage for SqliteStorage {
    fn upsert_user(&mut self, user_id: &str, username: &str, now: i64) -> Result<()> {
        self.conn.execute(
            "INSERT INTO users (id, username, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(id) DO UPDATE SET username = excluded.username",
            params![user_id, username, now],
        )?;
        Ok(())
    }

    fn user_known(&mut self, user_id: &str) -> Result<bool> {
        let found = self
            .conn
            .query_row("SELECT 1 FROM users WHERE id = ?1", params![user_id], |_| Ok(()))
            .optional()?;
        Ok(found.is_some())
    }

    fn join_room(&mut self, room_id: &str, user_id: &str, now: i64) -> Result<bool> {
        self.conn.execute(
            "INSERT OR IGNORE INTO rooms (id, created_at) VALUES (?1, ?2)",
            params![room_id, now],
        )?;
        let added = self.conn.execute(
            "INSERT OR IGNORE INTO memberships (room_id, user_id, joined_at) VALUES (?1, ?2, ?3)",
            params![room_id, user_id, now],
        )?;
        Ok(added > 0)
    }

    fn leave_room(&mut self, room_id: &str, user_id: &str) -> Result<bool> {
        let removed = self.conn.execute(
            "DELETE FROM memberships WHERE room_id = ?1 AND user_id = ?2",
            params![room_id, user_id],
        )?;
        Ok(removed > 0)
    }

    fn is_member(&mut self, room_id: &str, user_id: &str) -> Result<bool> {
        let found = self
            .conn
            .prepare_cached("SELECT 1 FROM memberships WHERE room_id = ?1 AND user_id = ?2")?
            .exists(params![room_id, user_id])?;
        Ok(found)
    }

    fn user_rooms(&mut self, user_id: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT room_id FROM memberships WHERE user_id = ?1 ORDER BY joined_at, room_id",
        )?;
        let rows = stmt.query_map(params![user_id], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn room_members(&mut self, room_id: &str) -> Result<Vec<Member>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT u.id, u.username FROM memberships m JOIN users u ON u.id = m.user_id
             WHERE m.room_id = ?1 ORDER BY m.joined_at, u.id",
        )?;
        let rows = stmt.query_map(params![room_id], |r| {
            Ok(Member { user_id: r.get(0)?, username: r.get(1)? })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn history(
        &mut self,
        room_id: &str,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS},
               (SELECT MAX(CASE r.status WHEN 'read' THEN 2 ELSE 1 END) FROM receipts r
                WHERE r.message_id = messages.id AND r.user_id <> messages.user_id)
             FROM messages WHERE room_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let before = before_seq.unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![room_id, before, limit], |row| {
            let mut message = message_row(row)?;
            message.status = match row.get::<_, Option<i64>>(9)? {
                Some(2) => Some("read".to_owned()),
                Some(_) => Some("delivered".to_owned()),
                None => None,
            };
            Ok(message)
        })?;
        let mut messages: Vec<Message> = rows.collect::<rusqlite::Result<_>>()?;
        messages.reverse();
        Ok(messages)
    }

    fn client_ack(&mut self, user_id: &str, client_id: &str) -> Result<Option<Value>> {
        let text: Option<String> = self
            .conn
            .prepare_cached("SELECT ack FROM client_ids WHERE user_id = ?1 AND client_id = ?2")?
            .query_row(params![user_id, client_id], |r| r.get(0))
            .optional()?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    fn save_client_ack(&mut self, user_id: &str, client_id: &str, ack: &Value) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO client_ids (user_id, client_id, ack) VALUES (?1, ?2, ?3)",
            params![user_id, client_id, ack.to_string()],
        )?;
        Ok(())
    }

    fn insert_message(&mut self, mut message: Message) -> Result<Message> {
        message.seq = self.conn.query_row(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM messages WHERE room_id = ?1",
            params![message.room_id],
            |r| r.get(0),
        )?;
        self.conn.execute(
            &format!(
                "INSERT INTO messages ({MESSAGE_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ),
            params![
                message.id,
                message.room_id,
                message.seq,
                message.user_id,
                message.username,
                message.text,
                message.ts,
                message.client_id,
                message.file.as_ref().map(crate::store::file_json),
            ],
        )?;
        Ok(message)
    }

    fn message(&mut self, id: &str) -> Result<Option<Message>> {
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1");
        Ok(self.conn.prepare_cached(&sql)?.query_row(params![id], message_row).optional()?)
    }

    fn set_receipt(
        &mut self,
        message_id: &str,
        user_id: &str,
        status: &str,
        now: i64,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO receipts (message_id, user_id, status, ts) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(message_id, user_id) DO UPDATE SET status = excluded.status, ts = excluded.ts
             WHERE receipts.status <> 'read'",
            params![message_id, user_id, status, now],
        )?;
        Ok(())
    }

    fn insert_private(&mut self, mut message: PrivateMessage) -> Result<PrivateMessage> {
        self.conn.execute(
            "INSERT INTO private_messages
             (id, from_user_id, from_username, to_user_id, text, ts, client_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                message.id,
                message.from_user_id,
                message.from_username,
                message.to_user_id,
                message.text,
                message.ts,
                message.client_id
            ],
        )?;
        message.seq = self.conn.last_insert_rowid();
        Ok(message)
    }

    fn pending_private(&mut self, user_id: &str) -> Result<Vec<PrivateMessage>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, id, from_user_id, from_username, to_user_id, text, ts, client_id
             FROM private_messages WHERE to_user_id = ?1 AND acked_at IS NULL ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![user_id], private_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn ack_private(&mut self, id: &str, now: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE private_messages SET acked_at = ?2 WHERE id = ?1 AND acked_at IS NULL",
            params![id, now],
        )?;
        Ok(())
    }

    fn insert_file(
        &mut self,
        file: &StoredFile,
        data: Option<&[u8]>,
        thumbnail: Option<(&str, &[u8])>,
    ) -> Result<()> {
        let size = i64::try_from(file.info.size).unwrap_or(i64::MAX);
        self.conn.execute(
            "INSERT INTO files (id, room_id, user_id, name, type, size, created_at, in_database,
                                data, thumbnail_type, thumbnail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                file.info.id,
                file.room_id,
                file.user_id,
                file.info.name,
                file.info.kind,
                size,
                file.created_at,
                file.in_database,
                data,
                thumbnail.map(|t| t.0),
                thumbnail.map(|t| t.1),
            ],
        )?;
        Ok(())
    }

    fn file(&mut self, id: &str) -> Result<Option<StoredFile>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, name, type, size, thumbnail IS NOT NULL, room_id, user_id,
                        in_database, created_at
                 FROM files WHERE id = ?1",
                params![id],
                |r| {
                    Ok(StoredFile {
                        info: FileInfo {
                            id: r.get(0)?,
                            name: r.get(1)?,
                            kind: r.get(2)?,
                            size: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                            thumbnail: r.get(4)?,
                        },
                        room_id: r.get(5)?,
                        user_id: r.get(6)?,
                        in_database: r.get(7)?,
                        created_at: r.get(8)?,
                    })
                },
            )
            .optional()?)
    }

    fn file_data(&mut self, id: &str) -> Result<Option<Vec<u8>>> {
        let data = self
            .conn
            .query_row("SELECT data FROM files WHERE id = ?1", params![id], |r| r.get(0))
            .optional()?;
        Ok(data.flatten())
    }

    fn file_thumbnail(&mut self, id: &str) -> Result<Option<(String, Vec<u8>)>> {
        let row: Option<(Option<String>, Option<Vec<u8>>)> = self
            .conn
            .query_row(
                "SELECT thumbnail_type, thumbnail FROM files WHERE id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(row.and_then(|(kind, bytes)| kind.zip(bytes)))
    }
}

impl NotificationStorage for SqliteStorage {
    fn insert_notification(&mut self, n: Notification) -> Result<()> {
        self.conn.execute(
            "INSERT INTO notifications (id, user_id, title, body, ts, read)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![n.id, n.user_id, n.title, n.body, n.ts, n.read],
        )?;
        Ok(())
    }

    fn notifications(&mut self, user_id: &str, limit: u32) -> Result<Vec<Notification>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, user_id, title, body, ts, read FROM notifications WHERE user_id = ?1
             ORDER BY ts DESC, rowid DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![user_id, limit], |r| {
            Ok(Notification {
                id: r.get(0)?,
                user_id: r.get(1)?,
                title: r.get(2)?,
                body: r.get(3)?,
                ts: r.get(4)?,
                read: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn read_notifications(&mut self, user_id: &str, id: Option<&str>) -> Result<()> {
        match id {
            Some(id) => self.conn.execute(
                "UPDATE notifications SET read = 1 WHERE user_id = ?1 AND id = ?2",
                params![user_id, id],
            )?,
            None => self.conn.execute(
                "UPDATE notifications SET read = 1 WHERE user_id = ?1",
                params![user_id],
            )?,
        };
        Ok(())
    }

    fn unread_count(&mut self, user_id: &str) -> Result<u64> {
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM notifications WHERE user_id = ?1 AND read = 0",
            params![user_id],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
