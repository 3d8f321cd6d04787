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

mod chat;

use std::collections::HashMap;
use std::time::Duration;

use postgres::{Client, NoTls, Row, Statement};

use crate::apps::store::AppData;

use super::schema::POSTGRES_MIGRATIONS;
use super::{AppMigrations, Result, Storage, StoreError};

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
    use super::super::{Message, Store, conformance};
    use super::*;
    use crate::apps::chat::store::ChatStorage;

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
