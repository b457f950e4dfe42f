//! The database behind [`Storage`](super::Storage): SQLite in the data directory, or
//! PostgreSQL (`database_url`), each through its own typed sqlx pool. Queries are written once
//! with `$1`-style parameters, which SQLite's driver takes too, and run on whichever pool this
//! is through [`on_backend!`]; the SQL that differs between the two is in this file.

use std::path::Path;

use sqlx::{
    PgPool, Postgres, Sqlite, SqlitePool,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous},
};

use super::StorageError;
use crate::config::PostgresUrl;

/// One of the two databases, or something of one (a pool, a transaction).
#[derive(Clone)]
pub(crate) enum Backend<S, P> {
    Sqlite(S),
    Postgres(P),
}

pub(crate) type Database = Backend<SqlitePool, PgPool>;

pub(crate) type Transaction =
    Backend<sqlx::Transaction<'static, Sqlite>, sqlx::Transaction<'static, Postgres>>;

/// `$body` with `$handle` bound to the pool or transaction inside `$backend`, whichever
/// database it is: the same code, compiled for each driver's types. Written like a closure
/// (`on_backend!(&database, |pool| …)`), which rustfmt formats.
macro_rules! on_backend {
    ($backend:expr, |$handle:ident| $body:expr) => {
        match $backend {
            $crate::storage::database::Backend::Sqlite($handle) => $body,
            $crate::storage::database::Backend::Postgres($handle) => $body,
        }
    };
}
pub(crate) use on_backend;

/// Connections one server process (or command) opens to PostgreSQL at most; the PostgreSQL
/// server's `max_connections` must leave room for this many per process.
const POSTGRES_POOL_SIZE: u32 = 10;

/// The PostgreSQL advisory lock that writers of the audit chain take for their transaction,
/// in every process sharing the database ("sealaudt" in ASCII).
const AUDIT_CHAIN_LOCK: i64 = 0x7365_616c_6175_6474;

/// How times are stored: RFC 3339 UTC to the millisecond, `2026-01-31T12:00:00.000Z`.
const SQLITE_TIME_FORMAT: &str = "'%Y-%m-%dT%H:%M:%fZ'";
const POSTGRES_TIME_FORMAT: &str = r#"'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'"#;

impl Database {
    /// Connects to PostgreSQL at `postgres`, or else opens (creating if needed)
    /// `sealroom.db` in `data_dir`, and migrates it.
    pub(super) async fn open(
        data_dir: &Path,
        postgres: Option<&PostgresUrl>,
    ) -> Result<Self, StorageError> {
        match postgres {
            None => Ok(Backend::Sqlite(open_sqlite(data_dir).await?)),
            Some(url) => Ok(Backend::Postgres(open_postgres(url).await?)),
        }
    }

    pub(super) async fn begin(&self) -> Result<Transaction, sqlx::Error> {
        Ok(match self {
            Backend::Sqlite(pool) => Backend::Sqlite(pool.begin().await?),
            Backend::Postgres(pool) => Backend::Postgres(pool.begin().await?),
        })
    }

    /// A transaction that no other writer of the audit chain runs beside, in this process or
    /// another: SQLite's write lock, taken at once; on PostgreSQL an advisory lock held until
    /// the transaction ends, after which each statement sees what the last holder committed
    /// (read committed), so two processes never chain records to the same head.
    pub(super) async fn begin_audit_chain(&self) -> Result<Transaction, sqlx::Error> {
        Ok(match self {
            Backend::Sqlite(pool) => Backend::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Backend::Postgres(pool) => {
                let mut transaction = pool
                    .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
                    .await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(AUDIT_CHAIN_LOCK)
                    .execute(&mut *transaction)
                    .await?;
                Backend::Postgres(transaction)
            }
        })
    }

    /// Leaves nothing of values just replaced in SQLite's free pages or write-ahead log.
    /// PostgreSQL has no counterpart (`VACUUM` does not overwrite): its databases began after
    /// secrets were sealed, so they never held one in the clear.
    pub(super) async fn scrub_replaced(&self) -> Result<(), sqlx::Error> {
        if let Backend::Sqlite(pool) = self {
            sqlx::query("VACUUM").execute(pool).await?;
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(pool)
                .await?;
        }
        Ok(())
    }
}

async fn open_sqlite(data_dir: &Path) -> Result<SqlitePool, StorageError> {
    let options = SqliteConnectOptions::new()
        .filename(data_dir.join("sealroom.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // Every acknowledged write survives a crash (an audit record is never lost).
        .synchronous(SqliteSynchronous::Full)
        // What is deleted or replaced (a secret, a session) is overwritten, not left in
        // the file's free space.
        .pragma("secure_delete", "on");
    let pool = SqlitePool::connect_with(options).await?;
    sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
    Ok(pool)
}

async fn open_postgres(url: &PostgresUrl) -> Result<PgPool, StorageError> {
    let pool = PgPoolOptions::new()
        .max_connections(POSTGRES_POOL_SIZE)
        .connect(url.as_str())
        .await?;
    // sqlx takes an advisory lock around migrations: processes starting together take turns.
    sqlx::migrate!("./migrations/postgres").run(&pool).await?;
    Ok(pool)
}

impl Transaction {
    pub(super) async fn commit(self) -> Result<(), sqlx::Error> {
        on_backend!(self, |transaction| transaction.commit().await)
    }
}

/// The SQL that differs, for pools and transactions alike.
impl<S, P> Backend<S, P> {
    /// `rfc3339` (an SQL expression: a time in RFC 3339) as records store times.
    pub(super) fn stored_time(&self, rfc3339: &str) -> String {
        match self {
            Backend::Sqlite(_) => format!("strftime({SQLITE_TIME_FORMAT}, {rfc3339})"),
            Backend::Postgres(_) => format!(
                "to_char(({rfc3339})::timestamptz AT TIME ZONE 'UTC', {POSTGRES_TIME_FORMAT})"
            ),
        }
    }

    /// The time of the statement, as records store times.
    pub(super) fn now(&self) -> String {
        match self {
            Backend::Sqlite(_) => format!("strftime({SQLITE_TIME_FORMAT}, 'now')"),
            Backend::Postgres(_) => {
                format!("to_char(statement_timestamp() AT TIME ZONE 'UTC', {POSTGRES_TIME_FORMAT})")
            }
        }
    }

    /// The time `days` (an SQL integer expression) days before the statement's, as records
    /// store times.
    pub(super) fn days_ago(&self, days: &str) -> String {
        match self {
            Backend::Sqlite(_) => {
                format!("strftime({SQLITE_TIME_FORMAT}, 'now', '-' || ({days}) || ' days')")
            }
            Backend::Postgres(_) => format!(
                "to_char(statement_timestamp() AT TIME ZONE 'UTC' - ({days}) * INTERVAL '1 day', \
                 {POSTGRES_TIME_FORMAT})"
            ),
        }
    }

    /// Whether `text` contains `part` (SQL expressions), anywhere, as it is.
    pub(super) fn contains(&self, text: &str, part: &str) -> String {
        match self {
            Backend::Sqlite(_) => format!("instr({text}, {part}) > 0"),
            Backend::Postgres(_) => format!("strpos({text}, {part}) > 0"),
        }
    }

    /// The highest audit record number handed out: records removed from the end leave it
    /// behind. SQLite's AUTOINCREMENT keeps it; on PostgreSQL a trigger does (migration 0001).
    pub(super) fn last_audit_number(&self) -> &'static str {
        match self {
            Backend::Sqlite(_) => {
                "MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'), 0), \
                 COALESCE((SELECT MAX(id) FROM audit_log), 0))"
            }
            Backend::Postgres(_) => {
                "GREATEST((SELECT seq FROM audit_log_sequence), \
                 COALESCE((SELECT MAX(id) FROM audit_log), 0))"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every migration has its counterpart of the same number and name for the other
    /// database, so that a change to the schema is made to both.
    #[test]
    fn the_two_databases_migrations_are_kept_in_step() {
        let steps = |migrator: sqlx::migrate::Migrator| -> Vec<(i64, String)> {
            migrator
                .iter()
                .map(|migration| (migration.version, migration.description.to_string()))
                .collect()
        };
        let sqlite = steps(sqlx::migrate!("./migrations/sqlite"));
        assert!(sqlite.len() >= 10, "{sqlite:?}");
        assert_eq!(sqlite, steps(sqlx::migrate!("./migrations/postgres")));
    }
}
