//! The SQLite implementation of [`Storage`]: WAL journal, `synchronous = FULL`, migrations
//! on open.

mod chat;

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use crate::apps::store::AppData;

use super::schema::MIGRATIONS;
use super::{AppMigrations, Result, Storage, StoreError};

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
    use crate::apps::chat::store::ChatStorage;
    use crate::apps::notifications::store::NotificationStorage;
    use crate::store::{Message, PrivateMessage};

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
