//! The SQLite implementation of [`Storage`]: WAL journal, `synchronous = FULL`, migrations
//! on open.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use crate::apps::chat::store::ChatStorage;
use crate::apps::notifications::store::NotificationStorage;
use crate::apps::store::AppData;

use super::schema::MIGRATIONS;
use super::{
    AppMigrations, FileInfo, Member, Message, Notification, PrivateMessage, Result, Storage,
    StoreError, StoredFile,
};

/// A SQLite database file.
#[derive(Debug)]
pub(crate) struct SqliteStorage {
    conn: Connection,
}

impl SqliteStorage {
    /// Opens (or creates) the database file `path`, and its directory, and applies the
    /// pending migrations.
    #[cfg(test)]
    pub(crate) fn open_file(path: &Path) -> Result<SqliteStorage> {
        SqliteStorage::open_file_with(path, &crate::apps::all_migrations())
    }

    /// Opens (or creates) the database file `path`, and its directory, and applies the
    /// pending shared migrations, then those of `apps`.
    pub(crate) fn open_file_with(path: &Path, apps: &[AppMigrations]) -> Result<SqliteStorage> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(StoreError::Open)?;
        }
        let conn = Connection::open(path)?;
        SqliteStorage::with_connection(conn, apps)
    }

    /// An in-memory database with every app's tables (tests).
    #[cfg(test)]
    pub(crate) fn memory() -> Result<SqliteStorage> {
        SqliteStorage::with_connection(
            Connection::open_in_memory()?,
            &crate::apps::all_migrations(),
        )
    }

    fn with_connection(conn: Connection, apps: &[AppMigrations]) -> Result<SqliteStorage> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mut storage = SqliteStorage { conn };
        storage.migrate()?;
        for app in apps {
            storage.migrate_app(app)?;
        }
        Ok(storage)
    }

    fn migrate(&mut self) -> Result<()> {
        let version: i64 = self.conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        super::check_version(version, MIGRATIONS.len())?;
        let applied = usize::try_from(version).unwrap_or(0);
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(migration)?;
            tx.pragma_update(None, "user_version", index + 1)?;
            tx.commit()?;
            tracing::info!(version = index + 1, "database migrated");
        }
        Ok(())
    }
}

impl SqliteStorage {
    /// Applies the pending migrations of one app.
    fn migrate_app(&mut self, app: &AppMigrations) -> Result<()> {
        let version: i64 = self
            .conn
            .query_row("SELECT version FROM app_migrations WHERE app = ?1", params![app.app], |r| {
                r.get(0)
            })
            .optional()?
            .unwrap_or(0);
        super::check_version(version, app.sqlite.len())?;
        let applied = usize::try_from(version).unwrap_or(0);
        for (index, migration) in app.sqlite.iter().enumerate().skip(applied) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(migration)?;
            tx.execute(
                "INSERT INTO app_migrations (app, version) VALUES (?1, ?2)
                 ON CONFLICT(app) DO UPDATE SET version = excluded.version",
                params![app.app, i64::try_from(index + 1).unwrap_or(i64::MAX)],
            )?;
            tx.commit()?;
            tracing::info!(app = app.app, version = index + 1, "database migrated");
        }
        Ok(())
    }
}

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
        file: row.get::<_, Option<String>>(8)?.and_then(|f| super::file_of(&f)),
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

impl Storage for SqliteStorage {
    fn begin(&mut self) -> Result<()> {
        Ok(self.conn.execute_batch("BEGIN IMMEDIATE")?)
    }

    fn commit(&mut self) -> Result<()> {
        Ok(self.conn.execute_batch("COMMIT")?)
    }

    fn rollback(&mut self) {
        if let Err(error) = self.conn.execute_batch("ROLLBACK") {
            tracing::error!(%error, "rollback failed");
        }
    }

    fn savepoint(&mut self) -> Result<()> {
        Ok(self.conn.execute_batch("SAVEPOINT job")?)
    }

    fn release(&mut self) -> Result<()> {
        Ok(self.conn.execute_batch("RELEASE job")?)
    }

    fn rollback_to(&mut self) -> Result<()> {
        Ok(self.conn.execute_batch("ROLLBACK TO job")?)
    }

    fn flush(&mut self) -> Result<()> {
        self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }
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
                message.file.as_ref().map(super::file_json),
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

impl AppData for SqliteStorage {
    fn doc_put(
        &mut self,
        app: &str,
        collection: &str,
        key: &str,
        value: &str,
        now: i64,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO app_documents (app, collection, key, value, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(app, collection, key)
             DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            params![app, collection, key, value, now],
        )?;
        Ok(())
    }

    fn doc_get(&mut self, app: &str, collection: &str, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM app_documents WHERE app = ?1 AND collection = ?2 AND key = ?3",
                params![app, collection, key],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn doc_list(&mut self, app: &str, collection: &str) -> Result<Vec<(String, String)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT key, value FROM app_documents WHERE app = ?1 AND collection = ?2 ORDER BY key",
        )?;
        let rows = stmt.query_map(params![app, collection], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn doc_delete(&mut self, app: &str, collection: &str, key: &str) -> Result<bool> {
        let n = self.conn.execute(
            "DELETE FROM app_documents WHERE app = ?1 AND collection = ?2 AND key = ?3",
            params![app, collection, key],
        )?;
        Ok(n > 0)
    }

    fn log_append(&mut self, app: &str, log: &str, value: &str, now: i64) -> Result<i64> {
        let seq: i64 = self.conn.query_row(
            "INSERT INTO app_log_heads (app, log, last_seq) VALUES (?1, ?2, 1)
             ON CONFLICT(app, log) DO UPDATE SET last_seq = last_seq + 1
             RETURNING last_seq",
            params![app, log],
            |r| r.get(0),
        )?;
        self.conn.execute(
            "INSERT INTO app_logs (app, log, seq, value, ts) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![app, log, seq, value, now],
        )?;
        Ok(seq)
    }

    fn log_range(
        &mut self,
        app: &str,
        log: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, String)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, value FROM app_logs WHERE app = ?1 AND log = ?2 AND seq > ?3
             ORDER BY seq LIMIT ?4",
        )?;
        let rows =
            stmt.query_map(params![app, log, after, limit], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn log_remove(&mut self, app: &str, log: &str, seq: i64) -> Result<bool> {
        let n = self.conn.execute(
            "DELETE FROM app_logs WHERE app = ?1 AND log = ?2 AND seq = ?3",
            params![app, log, seq],
        )?;
        Ok(n > 0)
    }

    fn log_clear(&mut self, app: &str, log: &str) -> Result<u64> {
        let n = self
            .conn
            .execute("DELETE FROM app_logs WHERE app = ?1 AND log = ?2", params![app, log])?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(room: &str, text: &str) -> Message {
        Message {
            id: crate::store::new_id(),
            room_id: room.to_owned(),
            seq: 0,
            user_id: "ann".to_owned(),
            username: "Ann".to_owned(),
            text: text.to_owned(),
            ts: 1,
            client_id: None,
            status: None,
            file: None,
        }
    }

    #[test]
    fn rooms_messages_and_history() {
        let mut s = SqliteStorage::memory().unwrap();
        s.upsert_user("ann", "Ann", 1).unwrap();
        assert!(s.join_room("r", "ann", 1).unwrap());
        assert!(!s.join_room("r", "ann", 2).unwrap());
        assert!(s.is_member("r", "ann").unwrap());
        assert_eq!(s.user_rooms("ann").unwrap(), ["r"]);
        assert_eq!(s.room_members("r").unwrap()[0].username, "Ann");
        for i in 1..=5 {
            let m = s.insert_message(msg("r", &i.to_string())).unwrap();
            assert_eq!(m.seq, i);
        }
        s.join_room("other", "ann", 1).unwrap();
        assert_eq!(s.insert_message(msg("other", "x")).unwrap().seq, 1);
        let seqs = |v: Vec<Message>| v.iter().map(|m| m.seq).collect::<Vec<_>>();
        assert_eq!(seqs(s.history("r", None, 2).unwrap()), [4, 5]);
        assert_eq!(seqs(s.history("r", Some(4), 2).unwrap()), [2, 3]);
        assert_eq!(seqs(s.history("r", Some(2), 50).unwrap()), [1]);
        assert!(s.leave_room("r", "ann").unwrap());
        assert!(!s.is_member("r", "ann").unwrap());
    }

    #[test]
    fn receipts_are_never_downgraded() {
        let mut s = SqliteStorage::memory().unwrap();
        s.join_room("r", "ann", 1).unwrap_err(); // no such user yet: foreign key
        s.upsert_user("ann", "Ann", 1).unwrap();
        assert!(s.insert_message(msg("nowhere", "hi")).is_err(), "no such room");
        s.join_room("r", "ann", 1).unwrap();
        let m = s.insert_message(msg("r", "hi")).unwrap();
        let status = |s: &mut SqliteStorage| s.history("r", None, 1).unwrap()[0].status.clone();
        assert_eq!(status(&mut s), None);
        s.set_receipt(&m.id, "ann", "read", 2).unwrap();
        assert_eq!(status(&mut s), None, "the author's own receipt does not count");
        s.set_receipt(&m.id, "bob", "delivered", 2).unwrap();
        assert_eq!(status(&mut s).as_deref(), Some("delivered"));
        s.set_receipt(&m.id, "bob", "read", 2).unwrap();
        s.set_receipt(&m.id, "bob", "delivered", 3).unwrap();
        assert_eq!(status(&mut s).as_deref(), Some("read"));
        let status: String =
            s.conn.query_row("SELECT status FROM receipts", [], |r| r.get(0)).unwrap();
        assert_eq!(status, "read");
    }

    #[test]
    fn private_messages_stay_pending_until_acked_and_client_ids_are_kept() {
        let mut s = SqliteStorage::memory().unwrap();
        let p = PrivateMessage {
            id: "p1".into(),
            seq: 0,
            from_user_id: "ann".into(),
            from_username: "Ann".into(),
            to_user_id: "bob".into(),
            text: "psst".into(),
            ts: 1,
            client_id: Some("c".into()),
        };
        assert_eq!(s.insert_private(p).unwrap().seq, 1);
        assert_eq!(s.pending_private("bob").unwrap().len(), 1);
        s.ack_private("p1", 2).unwrap();
        assert!(s.pending_private("bob").unwrap().is_empty());
        assert_eq!(s.client_ack("ann", "c").unwrap(), None);
        s.save_client_ack("ann", "c", &serde_json::json!({"ok": true})).unwrap();
        assert_eq!(s.client_ack("ann", "c").unwrap(), Some(serde_json::json!({"ok": true})));
    }

    #[test]
    fn conformance() {
        crate::store::conformance::run_all(&mut SqliteStorage::memory().unwrap());
    }

    #[test]
    fn migrations_run_once() {
        let dir = std::env::temp_dir().join(format!("sb-store-{}", crate::store::new_id()));
        let file = dir.join("nested").join("switchboard.db");
        drop(SqliteStorage::open_file(&file).unwrap());
        let mut s = SqliteStorage::open_file(&file).unwrap();
        let v: i64 = s.conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(usize::try_from(v).unwrap(), MIGRATIONS.len());
        s.notifications("x", 1).unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_apps_migrations_run_once_and_a_newer_version_is_refused() {
        const DEMO: AppMigrations = AppMigrations {
            app: "demo",
            sqlite: &["CREATE TABLE demo_things (id INTEGER PRIMARY KEY)"],
            postgres: &[],
        };
        let dir = std::env::temp_dir().join(format!("sb-store-{}", crate::store::new_id()));
        let file = dir.join("switchboard.db");
        drop(SqliteStorage::open_file_with(&file, &[DEMO]).unwrap());
        // Opened again: not applied twice (a second CREATE TABLE would fail).
        let s = SqliteStorage::open_file_with(&file, &[DEMO]).unwrap();
        s.conn.execute("INSERT INTO demo_things (id) VALUES (1)", []).unwrap();
        s.conn.execute("UPDATE app_migrations SET version = 5 WHERE app = 'demo'", []).unwrap();
        drop(s);
        let err = SqliteStorage::open_file_with(&file, &[DEMO]).unwrap_err();
        assert!(matches!(err, StoreError::NewerSchema { found: 5, known: 1 }), "{err:?}");
        // Without the app (not enabled), the database opens.
        drop(SqliteStorage::open_file_with(&file, &[]).unwrap());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_database_of_a_newer_schema_is_refused() {
        let dir = std::env::temp_dir().join(format!("sb-store-{}", crate::store::new_id()));
        let file = dir.join("switchboard.db");
        let s = SqliteStorage::open_file(&file).unwrap();
        let newer = MIGRATIONS.len() + 1;
        s.conn.pragma_update(None, "user_version", newer).unwrap();
        drop(s);
        let err = SqliteStorage::open_file(&file).unwrap_err().to_string();
        let known = MIGRATIONS.len();
        assert_eq!(
            err,
            format!(
                "the database has schema version {newer}, this binary knows {known}: upgrade the binary"
            )
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
