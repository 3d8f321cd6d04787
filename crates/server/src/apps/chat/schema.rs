//! The chat's own tables (its migrations; the rooms, messages and private messages predate the
//! apps' own lists and are in the shared one).

use crate::store::AppMigrations;

/// Files shared in rooms; a message may carry one (`file`, JSON). In cluster mode (PostgreSQL)
/// every file's bytes are in the database, which every node reads.
pub(crate) const MIGRATIONS: AppMigrations = AppMigrations {
    app: "chat",
    sqlite: &["CREATE TABLE files (
            id TEXT PRIMARY KEY,
            room_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            name TEXT NOT NULL,
            type TEXT NOT NULL,
            size INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            in_database INTEGER NOT NULL,
            data BLOB,
            thumbnail_type TEXT,
            thumbnail BLOB
        );
        ALTER TABLE messages ADD COLUMN file TEXT;"],
    postgres: &["CREATE TABLE files (
            id TEXT PRIMARY KEY,
            room_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            name TEXT NOT NULL,
            type TEXT NOT NULL,
            size BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            in_database BOOLEAN NOT NULL,
            data BYTEA,
            thumbnail_type TEXT,
            thumbnail BYTEA
        );
        ALTER TABLE messages ADD COLUMN file TEXT;"],
};
