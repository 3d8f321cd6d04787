//! The database schemas: migrations applied in order at start, one list per database. A
//! change to the shared schema adds an entry to both lists; an app's own tables are its own
//! migrations ([`AppMigrations`], counted per app in `app_migrations`).

/// An app's own migrations, one list per database, applied in order after the shared ones;
/// the table `app_migrations` counts those applied per app.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AppMigrations {
    /// The app's name.
    pub(crate) app: &'static str,
    /// For SQLite.
    pub(crate) sqlite: &'static [&'static str],
    /// For PostgreSQL (the same tables).
    pub(crate) postgres: &'static [&'static str],
}

/// The SQLite schema, one migration per entry; `PRAGMA user_version` counts those applied.
pub(crate) const MIGRATIONS: &[&str] = &[
    "CREATE TABLE users (
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE rooms (
        id TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE memberships (
        room_id TEXT NOT NULL REFERENCES rooms(id),
        user_id TEXT NOT NULL REFERENCES users(id),
        joined_at INTEGER NOT NULL,
        PRIMARY KEY (room_id, user_id)
    );
    CREATE INDEX memberships_by_user ON memberships(user_id);
    CREATE TABLE messages (
        id TEXT PRIMARY KEY,
        room_id TEXT NOT NULL REFERENCES rooms(id),
        seq INTEGER NOT NULL,
        user_id TEXT NOT NULL,
        username TEXT NOT NULL,
        text TEXT NOT NULL,
        ts INTEGER NOT NULL,
        client_id TEXT,
        UNIQUE (room_id, seq)
    );
    CREATE TABLE client_ids (
        user_id TEXT NOT NULL,
        client_id TEXT NOT NULL,
        ack TEXT NOT NULL,
        PRIMARY KEY (user_id, client_id)
    );
    CREATE TABLE receipts (
        message_id TEXT NOT NULL REFERENCES messages(id),
        user_id TEXT NOT NULL,
        status TEXT NOT NULL,
        ts INTEGER NOT NULL,
        PRIMARY KEY (message_id, user_id)
    );
    CREATE TABLE private_messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        from_user_id TEXT NOT NULL,
        from_username TEXT NOT NULL,
        to_user_id TEXT NOT NULL,
        text TEXT NOT NULL,
        ts INTEGER NOT NULL,
        client_id TEXT,
        acked_at INTEGER
    );
    CREATE INDEX private_pending ON private_messages(to_user_id) WHERE acked_at IS NULL;
    CREATE TABLE notifications (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        ts INTEGER NOT NULL,
        read INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX notifications_by_user ON notifications(user_id, ts);",
    // 2: the apps' documents and logs (`apps::AppStore`).
    "CREATE TABLE app_documents (
        app TEXT NOT NULL,
        collection TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (app, collection, key)
    );
    CREATE TABLE app_log_heads (
        app TEXT NOT NULL,
        log TEXT NOT NULL,
        last_seq INTEGER NOT NULL,
        PRIMARY KEY (app, log)
    );
    CREATE TABLE app_logs (
        app TEXT NOT NULL,
        log TEXT NOT NULL,
        seq INTEGER NOT NULL,
        value TEXT NOT NULL,
        ts INTEGER NOT NULL,
        PRIMARY KEY (app, log, seq)
    );",
    // 3: the versions of the apps' own migrations (`apps::App::migrations`).
    "CREATE TABLE app_migrations (
        app TEXT PRIMARY KEY,
        version INTEGER NOT NULL
    );",
];

/// The PostgreSQL schema, one migration per entry; the table `schema_migrations` records those
/// applied. The same tables as SQLite's, plus `rooms.last_seq` (each room's message counter,
/// locked by its writer) and `notifications.n` (the insertion order SQLite's `rowid` gives).
pub(crate) const POSTGRES_MIGRATIONS: &[&str] = &[
    "CREATE TABLE users (
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE rooms (
        id TEXT PRIMARY KEY,
        created_at BIGINT NOT NULL,
        last_seq BIGINT NOT NULL DEFAULT 0
    );
    CREATE TABLE memberships (
        room_id TEXT NOT NULL REFERENCES rooms(id),
        user_id TEXT NOT NULL REFERENCES users(id),
        joined_at BIGINT NOT NULL,
        PRIMARY KEY (room_id, user_id)
    );
    CREATE INDEX memberships_by_user ON memberships(user_id);
    CREATE TABLE messages (
        id TEXT PRIMARY KEY,
        room_id TEXT NOT NULL REFERENCES rooms(id),
        seq BIGINT NOT NULL,
        user_id TEXT NOT NULL,
        username TEXT NOT NULL,
        text TEXT NOT NULL,
        ts BIGINT NOT NULL,
        client_id TEXT,
        UNIQUE (room_id, seq)
    );
    CREATE TABLE client_ids (
        user_id TEXT NOT NULL,
        client_id TEXT NOT NULL,
        ack TEXT NOT NULL,
        PRIMARY KEY (user_id, client_id)
    );
    CREATE TABLE receipts (
        message_id TEXT NOT NULL REFERENCES messages(id),
        user_id TEXT NOT NULL,
        status TEXT NOT NULL,
        ts BIGINT NOT NULL,
        PRIMARY KEY (message_id, user_id)
    );
    CREATE TABLE private_messages (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        from_user_id TEXT NOT NULL,
        from_username TEXT NOT NULL,
        to_user_id TEXT NOT NULL,
        text TEXT NOT NULL,
        ts BIGINT NOT NULL,
        client_id TEXT,
        acked_at BIGINT
    );
    CREATE INDEX private_pending ON private_messages(to_user_id) WHERE acked_at IS NULL;
    CREATE TABLE notifications (
        n BIGINT GENERATED ALWAYS AS IDENTITY,
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        ts BIGINT NOT NULL,
        read BOOLEAN NOT NULL DEFAULT FALSE
    );
    CREATE INDEX notifications_by_user ON notifications(user_id, ts);",
    // 2: the apps' documents and logs; a log's numbers come from its head row, whose row
    // lock orders the writers of one log on every node.
    "CREATE TABLE app_documents (
        app TEXT NOT NULL,
        collection TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (app, collection, key)
    );
    CREATE TABLE app_log_heads (
        app TEXT NOT NULL,
        log TEXT NOT NULL,
        last_seq BIGINT NOT NULL,
        PRIMARY KEY (app, log)
    );
    CREATE TABLE app_logs (
        app TEXT NOT NULL,
        log TEXT NOT NULL,
        seq BIGINT NOT NULL,
        value TEXT NOT NULL,
        ts BIGINT NOT NULL,
        PRIMARY KEY (app, log, seq)
    );",
    // 3: the versions of the apps' own migrations (`apps::App::migrations`).
    "CREATE TABLE app_migrations (
        app TEXT PRIMARY KEY,
        version INTEGER NOT NULL
    );",
];
