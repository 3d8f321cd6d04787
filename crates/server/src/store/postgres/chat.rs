//! The chat and notification apps' tables on PostgreSQL.

use postgres::Row;
use serde_json::Value;

use crate::apps::chat::store::ChatStorage;
use crate::apps::notifications::store::NotificationStorage;
use crate::store::{FileInfo, Member, Message, Notification, PrivateMessage, Result, StoredFile};

use super::PostgresStorage;

fn message_row(row: &Row) -> Result<Message> {
    Ok(Message {
        id: row.try_get(0)?,
        room_id: row.try_get(1)?,
        seq: row.try_get(2)?,
        user_id: row.try_get(3)?,
        username: row.try_get(4)?,
        text: row.try_get(5)?,
        ts: row.try_get(6)?,
        client_id: row.try_get(7)?,
        status: None,
        file: row.try_get::<_, Option<String>>(8)?.and_then(|f| crate::store::file_of(&f)),
    })
}

fn private_row(row: &Row) -> Result<PrivateMessage> {
    Ok(PrivateMessage {
        seq: row.try_get(0)?,
        id: row.try_get(1)?,
        from_user_id: row.try_get(2)?,
        from_username: row.try_get(3)?,
        to_user_id: row.try_get(4)?,
        text: row.try_get(5)?,
        ts: row.try_get(6)?,
        client_id: row.try_get(7)?,
    })
}

impl ChatStorage for PostgresStorage {
    fn upsert_user(&mut self, user_id: &str, username: &str, now: i64) -> Result<()> {
        self.execute(
            "INSERT INTO users (id, username, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET username = EXCLUDED.username",
            &[&user_id, &username, &now],
        )?;
        Ok(())
    }

    fn user_known(&mut self, user_id: &str) -> Result<bool> {
        Ok(self.query_opt("SELECT 1 FROM users WHERE id = $1", &[&user_id])?.is_some())
    }

    fn join_room(&mut self, room_id: &str, user_id: &str, now: i64) -> Result<bool> {
        self.execute(
            "INSERT INTO rooms (id, created_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
            &[&room_id, &now],
        )?;
        let added = self.execute(
            "INSERT INTO memberships (room_id, user_id, joined_at) VALUES ($1, $2, $3)
             ON CONFLICT (room_id, user_id) DO NOTHING",
            &[&room_id, &user_id, &now],
        )?;
        Ok(added > 0)
    }

    fn leave_room(&mut self, room_id: &str, user_id: &str) -> Result<bool> {
        let removed = self.execute(
            "DELETE FROM memberships WHERE room_id = $1 AND user_id = $2",
            &[&room_id, &user_id],
        )?;
        Ok(removed > 0)
    }

    fn is_member(&mut self, room_id: &str, user_id: &str) -> Result<bool> {
        let row = self.query_opt(
            "SELECT 1 FROM memberships WHERE room_id = $1 AND user_id = $2",
            &[&room_id, &user_id],
        )?;
        Ok(row.is_some())
    }

    fn user_rooms(&mut self, user_id: &str) -> Result<Vec<String>> {
        let rows = self.query(
            "SELECT room_id FROM memberships WHERE user_id = $1 ORDER BY joined_at, room_id",
            &[&user_id],
        )?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    fn room_members(&mut self, room_id: &str) -> Result<Vec<Member>> {
        let rows = self.query(
            "SELECT u.id, u.username FROM memberships m JOIN users u ON u.id = m.user_id
             WHERE m.room_id = $1 ORDER BY m.joined_at, u.id",
            &[&room_id],
        )?;
        rows.iter()
            .map(|r| Ok(Member { user_id: r.try_get(0)?, username: r.try_get(1)? }))
            .collect()
    }

    fn history(
        &mut self,
        room_id: &str,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let before = before_seq.unwrap_or(i64::MAX);
        let rows = self.query(
            "SELECT id, room_id, seq, user_id, username, text, ts, client_id, file,
               (SELECT MAX(CASE r.status WHEN 'read' THEN 2 ELSE 1 END) FROM receipts r
                WHERE r.message_id = messages.id AND r.user_id <> messages.user_id)
             FROM messages WHERE room_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
            &[&room_id, &before, &i64::from(limit)],
        )?;
        let mut messages = rows
            .iter()
            .map(|row| {
                let mut message = message_row(row)?;
                message.status = match row.try_get::<_, Option<i32>>(9)? {
                    Some(2) => Some("read".to_owned()),
                    Some(_) => Some("delivered".to_owned()),
                    None => None,
                };
                Ok(message)
            })
            .collect::<Result<Vec<_>>>()?;
        messages.reverse();
        Ok(messages)
    }

    fn client_ack(&mut self, user_id: &str, client_id: &str) -> Result<Option<Value>> {
        let row = self.query_opt(
            "SELECT ack FROM client_ids WHERE user_id = $1 AND client_id = $2",
            &[&user_id, &client_id],
        )?;
        let text: Option<String> = row.map(|r| r.try_get(0)).transpose()?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    fn save_client_ack(&mut self, user_id: &str, client_id: &str, ack: &Value) -> Result<()> {
        self.execute(
            "INSERT INTO client_ids (user_id, client_id, ack) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, client_id) DO UPDATE SET ack = EXCLUDED.ack",
            &[&user_id, &client_id, &ack.to_string()],
        )?;
        Ok(())
    }

    fn insert_message(&mut self, mut message: Message) -> Result<Message> {
        // The room's counter row: its lock, held to the batch's commit, gives concurrent
        // writers on every node distinct, gap-free numbers.
        let next = self.query_opt(
            "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq",
            &[&message.room_id],
        )?;
        // No such room: numbered 1, and the insert below fails on the foreign key.
        message.seq = next.map(|r| r.try_get(0)).transpose()?.unwrap_or(1);
        self.execute(
            "INSERT INTO messages (id, room_id, seq, user_id, username, text, ts, client_id, file)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &message.id,
                &message.room_id,
                &message.seq,
                &message.user_id,
                &message.username,
                &message.text,
                &message.ts,
                &message.client_id,
                &message.file.as_ref().map(crate::store::file_json),
            ],
        )?;
        Ok(message)
    }

    fn message(&mut self, id: &str) -> Result<Option<Message>> {
        let row = self.query_opt(
            "SELECT id, room_id, seq, user_id, username, text, ts, client_id, file
             FROM messages WHERE id = $1",
            &[&id],
        )?;
        row.as_ref().map(message_row).transpose()
    }

    fn set_receipt(
        &mut self,
        message_id: &str,
        user_id: &str,
        status: &str,
        now: i64,
    ) -> Result<()> {
        self.execute(
            "INSERT INTO receipts (message_id, user_id, status, ts) VALUES ($1, $2, $3, $4)
             ON CONFLICT (message_id, user_id) DO UPDATE SET status = EXCLUDED.status,
             ts = EXCLUDED.ts WHERE receipts.status <> 'read'",
            &[&message_id, &user_id, &status, &now],
        )?;
        Ok(())
    }

    fn insert_private(&mut self, mut message: PrivateMessage) -> Result<PrivateMessage> {
        let row = self
            .query(
                "INSERT INTO private_messages
                 (id, from_user_id, from_username, to_user_id, text, ts, client_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq",
                &[
                    &message.id,
                    &message.from_user_id,
                    &message.from_username,
                    &message.to_user_id,
                    &message.text,
                    &message.ts,
                    &message.client_id,
                ],
            )?
            .into_iter()
            .next();
        message.seq = row.map(|r| r.try_get(0)).transpose()?.unwrap_or(0);
        Ok(message)
    }

    fn pending_private(&mut self, user_id: &str) -> Result<Vec<PrivateMessage>> {
        let rows = self.query(
            "SELECT seq, id, from_user_id, from_username, to_user_id, text, ts, client_id
             FROM private_messages WHERE to_user_id = $1 AND acked_at IS NULL ORDER BY seq",
            &[&user_id],
        )?;
        rows.iter().map(private_row).collect()
    }

    fn ack_private(&mut self, id: &str, now: i64) -> Result<()> {
        self.execute(
            "UPDATE private_messages SET acked_at = $2 WHERE id = $1 AND acked_at IS NULL",
            &[&id, &now],
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
        let (thumbnail_type, thumbnail) = (thumbnail.map(|t| t.0), thumbnail.map(|t| t.1));
        self.execute(
            "INSERT INTO files (id, room_id, user_id, name, type, size, created_at, in_database,
                                data, thumbnail_type, thumbnail)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                &file.info.id,
                &file.room_id,
                &file.user_id,
                &file.info.name,
                &file.info.kind,
                &size,
                &file.created_at,
                &file.in_database,
                &data,
                &thumbnail_type,
                &thumbnail,
            ],
        )?;
        Ok(())
    }

    fn file(&mut self, id: &str) -> Result<Option<StoredFile>> {
        let row = self.query_opt(
            "SELECT id, name, type, size, thumbnail IS NOT NULL, room_id, user_id, in_database,
                    created_at
             FROM files WHERE id = $1",
            &[&id],
        )?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(StoredFile {
            info: FileInfo {
                id: r.try_get(0)?,
                name: r.try_get(1)?,
                kind: r.try_get(2)?,
                size: u64::try_from(r.try_get::<_, i64>(3)?).unwrap_or(0),
                thumbnail: r.try_get(4)?,
            },
            room_id: r.try_get(5)?,
            user_id: r.try_get(6)?,
            in_database: r.try_get(7)?,
            created_at: r.try_get(8)?,
        }))
    }

    fn file_data(&mut self, id: &str) -> Result<Option<Vec<u8>>> {
        let row = self.query_opt("SELECT data FROM files WHERE id = $1", &[&id])?;
        Ok(row.map(|r| r.try_get::<_, Option<Vec<u8>>>(0)).transpose()?.flatten())
    }

    fn file_thumbnail(&mut self, id: &str) -> Result<Option<(String, Vec<u8>)>> {
        let row =
            self.query_opt("SELECT thumbnail_type, thumbnail FROM files WHERE id = $1", &[&id])?;
        let Some(r) = row else { return Ok(None) };
        let kind: Option<String> = r.try_get(0)?;
        let bytes: Option<Vec<u8>> = r.try_get(1)?;
        Ok(kind.zip(bytes))
    }
}

impl NotificationStorage for PostgresStorage {
    fn insert_notification(&mut self, n: Notification) -> Result<()> {
        self.execute(
            "INSERT INTO notifications (id, user_id, title, body, ts, read)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[&n.id, &n.user_id, &n.title, &n.body, &n.ts, &n.read],
        )?;
        Ok(())
    }

    fn notifications(&mut self, user_id: &str, limit: u32) -> Result<Vec<Notification>> {
        let rows = self.query(
            "SELECT id, user_id, title, body, ts, read FROM notifications WHERE user_id = $1
             ORDER BY ts DESC, n DESC LIMIT $2",
            &[&user_id, &i64::from(limit)],
        )?;
        rows.iter()
            .map(|r| {
                Ok(Notification {
                    id: r.try_get(0)?,
                    user_id: r.try_get(1)?,
                    title: r.try_get(2)?,
                    body: r.try_get(3)?,
                    ts: r.try_get(4)?,
                    read: r.try_get(5)?,
                })
            })
            .collect()
    }

    fn read_notifications(&mut self, user_id: &str, id: Option<&str>) -> Result<()> {
        match id {
            Some(id) => self.execute(
                "UPDATE notifications SET read = TRUE WHERE user_id = $1 AND id = $2",
                &[&user_id, &id],
            )?,
            None => self
                .execute("UPDATE notifications SET read = TRUE WHERE user_id = $1", &[&user_id])?,
        };
        Ok(())
    }

    fn unread_count(&mut self, user_id: &str) -> Result<u64> {
        let row = self.query(
            "SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND NOT read",
            &[&user_id],
        )?;
        let n: i64 = match row.first() {
            Some(r) => r.try_get(0)?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
