//! The PostgreSQL implementation of [`Storage`], for several nodes sharing one database.
//!
//! Why the synchronous `postgres` client rather than `tokio-postgres` with a pool: the store
//! is one thread that owns one connection and commits jobs in batches (see the module above),
//! which keeps the promise "acknowledged means committed" with one round trip of `COMMIT` per
//! batch instead of one per write. `postgres` is `tokio-postgres` (same maintainers, same
//! protocol code) driven by the calling thread, so the store thread keeps that shape with no
//! second design for PostgreSQL. Each node holds one connection.
//!
//! Migrations run at start under an advisory lock, so nodes that start together apply each
//! migration once. A room's message numbers come from a counter row in `rooms`
//! (`UPDATE ... RETURNING`), whose row lock orders concurrent writers of one room on every
//! node.

use std::collections::HashMap;
use std::time::Duration;

use postgres::{Client, NoTls, Row, Statement};
use serde_json::Value;

use crate::apps::chat::store::ChatStorage;
use crate::apps::notifications::store::NotificationStorage;
use crate::apps::store::AppData;

use super::schema::POSTGRES_MIGRATIONS;
use super::{
    AppMigrations, FileInfo, Member, Message, Notification, PrivateMessage, Result, Storage,
    StoreError, StoredFile,
};

/// The advisory lock key that serialises migrations between nodes (an arbitrary constant:
/// "sbmigrat" as bytes).
const MIGRATION_LOCK: i64 = 0x7362_6d69_6772_6174;

/// How long a connection attempt may take when the URL does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A PostgreSQL database.
pub(crate) struct PostgresStorage {
    config: postgres::Config,
    client: Client,
    /// Prepared statements by SQL text; emptied when the connection is replaced.
    statements: HashMap<&'static str, Statement>,
}

impl std::fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStorage").finish_non_exhaustive()
    }
}

impl PostgresStorage {
    /// Connects to `url` (`postgres://user:password@host:port/db`) and applies the pending
    /// migrations.
    #[cfg(test)]
    pub(crate) fn connect(url: &str) -> Result<PostgresStorage> {
        PostgresStorage::connect_with(url, &crate::apps::all_migrations())
    }

    /// Connects to `url` and applies the pending shared migrations, then those of `apps`.
    pub(crate) fn connect_with(url: &str, apps: &[AppMigrations]) -> Result<PostgresStorage> {
        let mut config: postgres::Config = url.parse().map_err(StoreError::Postgres)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name("switchboard");
        let client = config.connect(NoTls)?;
        let mut storage = PostgresStorage { config, client, statements: HashMap::new() };
        storage.migrate(apps)?;
        Ok(storage)
    }

    fn migrate(&mut self, apps: &[AppMigrations]) -> Result<()> {
        // Held until unlocked below or the connection ends: one node migrates at a time.
        self.client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
        let outcome = self
            .apply_migrations()
            .and_then(|()| apps.iter().try_for_each(|a| self.migrate_app(a)));
        let unlocked = self.client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]);
        outcome?;
        unlocked?;
        Ok(())
    }

    fn apply_migrations(&mut self) -> Result<()> {
        self.client.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version INTEGER PRIMARY KEY,
                 applied_at BIGINT NOT NULL
             )",
        )?;
        let row = self
            .client
            .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[])?;
        let version: i32 = row.try_get(0)?;
        super::check_version(i64::from(version), POSTGRES_MIGRATIONS.len())?;
        let applied = usize::try_from(version).unwrap_or(0);
        for (index, migration) in POSTGRES_MIGRATIONS.iter().enumerate().skip(applied) {
            let version = i32::try_from(index + 1).unwrap_or(i32::MAX);
            let mut tx = self.client.transaction()?;
            tx.batch_execute(migration)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                &[&version, &super::now_ms()],
            )?;
            tx.commit()?;
            tracing::info!(version, "database migrated");
        }
        Ok(())
    }

    /// Applies the pending migrations of one app (under the migration lock).
    fn migrate_app(&mut self, app: &AppMigrations) -> Result<()> {
        let row = self
            .client
            .query_opt("SELECT version FROM app_migrations WHERE app = $1", &[&app.app])?;
        let version: i32 = row.map(|r| r.try_get(0)).transpose()?.unwrap_or(0);
        super::check_version(i64::from(version), app.postgres.len())?;
        let applied = usize::try_from(version).unwrap_or(0);
        for (index, migration) in app.postgres.iter().enumerate().skip(applied) {
            let version = i32::try_from(index + 1).unwrap_or(i32::MAX);
            let mut tx = self.client.transaction()?;
            tx.batch_execute(migration)?;
            tx.execute(
                "INSERT INTO app_migrations (app, version) VALUES ($1, $2)
                 ON CONFLICT (app) DO UPDATE SET version = excluded.version",
                &[&app.app, &version],
            )?;
            tx.commit()?;
            tracing::info!(app = app.app, version, "database migrated");
        }
        Ok(())
    }

    /// The prepared statement for `sql`, prepared on first use.
    fn stmt(&mut self, sql: &'static str) -> Result<Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.statements.insert(sql, statement.clone());
        Ok(statement)
    }

    fn execute(
        &mut self,
        sql: &'static str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<u64> {
        let statement = self.stmt(sql)?;
        Ok(self.client.execute(&statement, params)?)
    }

    fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>> {
        let statement = self.stmt(sql)?;
        Ok(self.client.query(&statement, params)?)
    }

    fn query_opt(
        &mut self,
        sql: &'static str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Option<Row>> {
        let statement = self.stmt(sql)?;
        Ok(self.client.query_opt(&statement, params)?)
    }
}

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
        file: row.try_get::<_, Option<String>>(8)?.and_then(|f| super::file_of(&f)),
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

impl Storage for PostgresStorage {
    fn begin(&mut self) -> Result<()> {
        if self.client.is_closed() {
            // The server restarted or the network dropped: one new connection per batch
            // attempt; if it fails, this batch's callers get the error and the next batch
            // tries again.
            tracing::warn!("the database connection is closed; reconnecting");
            self.client = self.config.connect(NoTls)?;
            self.statements.clear();
            tracing::info!("reconnected to the database");
        }
        Ok(self.client.batch_execute("BEGIN")?)
    }

    fn commit(&mut self) -> Result<()> {
        Ok(self.client.batch_execute("COMMIT")?)
    }

    fn rollback(&mut self) {
        if let Err(error) = self.client.batch_execute("ROLLBACK") {
            tracing::error!(%error, "rollback failed");
        }
    }

    fn savepoint(&mut self) -> Result<()> {
        Ok(self.client.batch_execute("SAVEPOINT job")?)
    }

    fn release(&mut self) -> Result<()> {
        Ok(self.client.batch_execute("RELEASE SAVEPOINT job")?)
    }

    fn rollback_to(&mut self) -> Result<()> {
        Ok(self.client.batch_execute("ROLLBACK TO SAVEPOINT job")?)
    }

    fn flush(&mut self) -> Result<()> {
        // Every acknowledged write is already committed; nothing is buffered here.
        Ok(())
    }
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
                &message.file.as_ref().map(super::file_json),
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

impl AppData for PostgresStorage {
    fn doc_put(
        &mut self,
        app: &str,
        collection: &str,
        key: &str,
        value: &str,
        now: i64,
    ) -> Result<()> {
        self.execute(
            "INSERT INTO app_documents (app, collection, key, value, updated_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (app, collection, key)
             DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            &[&app, &collection, &key, &value, &now],
        )?;
        Ok(())
    }

    fn doc_get(&mut self, app: &str, collection: &str, key: &str) -> Result<Option<String>> {
        let row = self.query_opt(
            "SELECT value FROM app_documents WHERE app = $1 AND collection = $2 AND key = $3",
            &[&app, &collection, &key],
        )?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    fn doc_list(&mut self, app: &str, collection: &str) -> Result<Vec<(String, String)>> {
        let rows = self.query(
            "SELECT key, value FROM app_documents WHERE app = $1 AND collection = $2
             ORDER BY key COLLATE \"C\"",
            &[&app, &collection],
        )?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
    }

    fn doc_delete(&mut self, app: &str, collection: &str, key: &str) -> Result<bool> {
        let n = self.execute(
            "DELETE FROM app_documents WHERE app = $1 AND collection = $2 AND key = $3",
            &[&app, &collection, &key],
        )?;
        Ok(n > 0)
    }

    fn log_append(&mut self, app: &str, log: &str, value: &str, now: i64) -> Result<i64> {
        let row = self.query(
            "INSERT INTO app_log_heads (app, log, last_seq) VALUES ($1, $2, 1)
             ON CONFLICT (app, log) DO UPDATE SET last_seq = app_log_heads.last_seq + 1
             RETURNING last_seq",
            &[&app, &log],
        )?;
        let seq: i64 = match row.first() {
            Some(r) => r.try_get(0)?,
            None => return Err(StoreError::CommitFailed),
        };
        self.execute(
            "INSERT INTO app_logs (app, log, seq, value, ts) VALUES ($1, $2, $3, $4, $5)",
            &[&app, &log, &seq, &value, &now],
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
        let rows = self.query(
            "SELECT seq, value FROM app_logs WHERE app = $1 AND log = $2 AND seq > $3
             ORDER BY seq LIMIT $4",
            &[&app, &log, &after, &i64::from(limit)],
        )?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
    }

    fn log_remove(&mut self, app: &str, log: &str, seq: i64) -> Result<bool> {
        let n = self.execute(
            "DELETE FROM app_logs WHERE app = $1 AND log = $2 AND seq = $3",
            &[&app, &log, &seq],
        )?;
        Ok(n > 0)
    }

    fn log_clear(&mut self, app: &str, log: &str) -> Result<u64> {
        self.execute("DELETE FROM app_logs WHERE app = $1 AND log = $2", &[&app, &log])
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_postgres::TestPostgres;
    use super::super::{Store, conformance};
    use super::*;

    #[test]
    fn conformance_and_migrations_once() {
        let pg = TestPostgres::start();
        let url = pg.database();
        let mut s = PostgresStorage::connect(&url).unwrap();
        conformance::run_all(&mut s);
        drop(s);
        // A second start applies nothing and keeps the data.
        let mut s = PostgresStorage::connect(&url).unwrap();
        let row = s.client.query_one("SELECT COUNT(*), MAX(version) FROM schema_migrations", &[]);
        let row = row.unwrap();
        let expected = i64::try_from(POSTGRES_MIGRATIONS.len()).unwrap();
        assert_eq!(row.get::<_, i64>(0), expected);
        assert_eq!(i64::from(row.get::<_, i32>(1)), expected);
        assert_eq!(s.user_rooms("sam").unwrap(), ["kept"]);
    }

    #[test]
    fn nodes_starting_together_migrate_once() {
        let pg = TestPostgres::start();
        let url = pg.database();
        // Without the advisory lock, concurrent CREATE TABLEs fail with duplicate errors.
        let nodes: Vec<_> = (0..6)
            .map(|_| {
                let url = url.clone();
                std::thread::spawn(move || PostgresStorage::connect(&url).map(drop))
            })
            .collect();
        for node in nodes {
            node.join().unwrap().unwrap();
        }
        let mut s = PostgresStorage::connect(&url).unwrap();
        let n: i64 =
            s.client.query_one("SELECT COUNT(*) FROM schema_migrations", &[]).unwrap().get(0);
        assert_eq!(n, i64::try_from(POSTGRES_MIGRATIONS.len()).unwrap());
    }

    #[test]
    fn two_nodes_number_one_room_without_gaps_or_duplicates() {
        let pg = TestPostgres::start();
        let url = pg.database();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
        rt.block_on(async {
            let mut nodes = Vec::new();
            for _ in 0..2 {
                let url = url.clone();
                let (store, thread) =
                    Store::open(move || PostgresStorage::connect(&url)).await.unwrap();
                nodes.push((store.unwrap(), thread));
            }
            let first = nodes[0].0.clone();
            first.call(|s| s.upsert_user("ann", "Ann", 1)).await.unwrap();
            first.call(|s| s.join_room("busy", "ann", 1).map(drop)).await.unwrap();
            let mut sends = Vec::new();
            for i in 0..200 {
                let store = nodes[i % 2].0.clone();
                sends.push(tokio::spawn(async move {
                    let m = Message {
                        id: crate::store::new_id(),
                        room_id: "busy".into(),
                        seq: 0,
                        user_id: "ann".into(),
                        username: "Ann".into(),
                        text: format!("m{i}"),
                        ts: 1,
                        client_id: None,
                        status: None,
                        file: None,
                    };
                    store.call(move |s| s.insert_message(m)).await.map(|m| m.seq)
                }));
            }
            let mut seqs = Vec::new();
            for send in sends {
                seqs.push(send.await.unwrap().unwrap());
            }
            seqs.sort_unstable();
            assert_eq!(seqs, (1..=200).collect::<Vec<i64>>());
            // Each node reads what the other wrote.
            let second = nodes[1].0.clone();
            let history = second.call(|s| s.history("busy", None, 500)).await.unwrap();
            assert_eq!(history.len(), 200);
            for (store, thread) in nodes {
                store.close().await.unwrap();
                tokio::task::spawn_blocking(move || thread.join().unwrap()).await.unwrap();
            }
        });
    }

    #[test]
    fn a_database_restart_fails_one_batch_then_reconnects() {
        let mut pg = TestPostgres::start();
        let url = pg.database();
        let mut s = PostgresStorage::connect(&url).unwrap();
        s.upsert_user("ann", "Ann", 1).unwrap();
        pg.restart();
        // The connection died with the server: the first use fails with an error (no hang,
        // no panic); the next batch connects again.
        let failed = s.begin().and_then(|()| s.upsert_user("bob", "Bob", 1));
        assert!(failed.is_err());
        s.rollback();
        s.begin().unwrap();
        s.upsert_user("cat", "Cat", 1).unwrap();
        s.commit().unwrap();
        s.join_room("r", "cat", 1).unwrap();
        assert_eq!(s.room_members("r").unwrap()[0].username, "Cat");
    }

    #[test]
    fn a_database_of_a_newer_schema_is_refused() {
        let pg = TestPostgres::start();
        let url = pg.database();
        let mut s = PostgresStorage::connect(&url).unwrap();
        let newer = i32::try_from(POSTGRES_MIGRATIONS.len() + 1).unwrap();
        s.client
            .execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)",
                &[&newer],
            )
            .unwrap();
        drop(s);
        let err = PostgresStorage::connect(&url).unwrap_err();
        assert!(!err.is_unavailable());
        let known = POSTGRES_MIGRATIONS.len();
        assert_eq!(
            err.to_string(),
            format!(
                "the database has schema version {newer}, this binary knows {known}: upgrade the binary"
            )
        );
    }

    #[test]
    fn a_stopped_database_answers_unavailable_then_recovers() {
        let mut pg = TestPostgres::start();
        let url = pg.database();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let opened = Store::open(move || PostgresStorage::connect(&url)).await.unwrap();
            let (store, thread) = (opened.0.unwrap(), opened.1);
            store.call(|s| s.upsert_user("ann", "Ann", 1)).await.unwrap();
            // Blocking here is fine: the store runs on its own thread.
            pg.stop();
            // Every call while it is down fails as unavailable (the first one may see the
            // dead connection, the next ones cannot connect), none hangs.
            for _ in 0..3 {
                let err = store.call(|s| s.user_rooms("ann")).await.unwrap_err();
                assert!(err.is_unavailable(), "{err:?}");
            }
            pg.run();
            // Back: the next batch connects again by itself.
            store.call(|s| s.upsert_user("bob", "Bob", 1)).await.unwrap();
            store.close().await.unwrap();
            tokio::task::spawn_blocking(move || thread.join().unwrap()).await.unwrap();
        });
    }

    #[test]
    fn an_unreachable_database_is_an_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let err = PostgresStorage::connect(&format!("postgres://postgres@127.0.0.1:{port}/x"));
        assert!(matches!(&err, Err(StoreError::Postgres(_))), "{err:?}");
        assert!(err.unwrap_err().is_unavailable());
        let err = PostgresStorage::connect("postgres://[not a url");
        assert!(matches!(err, Err(StoreError::Postgres(_))), "{err:?}");
    }
}
