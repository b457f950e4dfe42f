//! Where a test's server keeps its state: a fresh data directory, and a database of its own:
//! SQLite in that directory, or, under `scripts/with-postgres` (`SEALROOM_TEST_POSTGRES=1`), a
//! fresh PostgreSQL database on the server `SEALROOM_TEST_DATABASE_URL` names, dropped with it.
//! Tests that reach around the server (tampering with the audit log, holding its lock,
//! looking for secrets) do it here, on whichever database it is.

use std::path::{Path, PathBuf};

use sealroom_server::{
    config::{Config, PostgresUrl},
    storage::Storage,
};
use sqlx::{Connection, PgConnection, SqliteConnection};
use tempfile::TempDir;

pub struct TestData {
    dir: TempDir,
    /// The PostgreSQL database; `None`: SQLite in `dir`.
    postgres: Option<PostgresUrl>,
}

/// The test's own connection to the database, around the server.
pub enum RawConnection {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl TestData {
    /// A fresh data directory and database; callable inside a runtime or outside one.
    pub fn new() -> Self {
        let on_postgres = std::env::var("SEALROOM_TEST_POSTGRES").is_ok_and(|v| v == "1");
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
            postgres: on_postgres.then(fresh_postgres_database),
        }
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    /// Points `config` at this data directory and database.
    pub fn configure(&self, config: &mut Config) {
        config.data_dir = self.path().to_owned();
        config.database_url = self.postgres.clone();
    }

    /// The storage, as a `sealroom` command opens it.
    pub async fn storage(&self) -> Storage {
        Storage::open(self.path(), self.postgres.as_ref())
            .await
            .expect("storage opens")
    }

    /// A config file for the `sealroom` binary naming this data directory and database.
    pub fn config_file(&self) -> PathBuf {
        let mut toml = format!("data_dir = {:?}\n", self.path());
        if let Some(url) = &self.postgres {
            toml.push_str(&format!("database_url = {:?}\n", url.as_str()));
        }
        let file = self.path().join("sealroom-test.toml");
        std::fs::write(&file, toml).unwrap();
        file
    }

    async fn connect(&self) -> RawConnection {
        match &self.postgres {
            None => {
                let file = self.path().join("sealroom.db");
                let url = format!("sqlite://{}", file.display());
                RawConnection::Sqlite(SqliteConnection::connect(&url).await.unwrap())
            }
            Some(url) => {
                RawConnection::Postgres(PgConnection::connect(url.as_str()).await.unwrap())
            }
        }
    }

    /// Runs `statements` in order, as someone with the database in hand would.
    pub async fn execute(&self, statements: &[&str]) {
        let mut connection = self.connect().await;
        for statement in statements {
            connection.execute(statement).await;
        }
        connection.close().await;
    }

    /// A connection holding the lock the server's audit writes wait for, until it commits:
    /// SQLite's write lock, or on PostgreSQL the `audit_log` table's.
    pub async fn hold_audit_log_lock(&self) -> RawConnection {
        let mut connection = self.connect().await;
        let statements: &[&str] = match connection {
            RawConnection::Sqlite(_) => &["BEGIN IMMEDIATE"],
            RawConnection::Postgres(_) => &["BEGIN", "LOCK TABLE audit_log IN EXCLUSIVE MODE"],
        };
        for statement in statements {
            connection.execute(statement).await;
        }
        connection
    }

    /// Runs `statements` on the audit log once the triggers that stop mistakes are dropped, as
    /// someone with the database in hand would drop them.
    pub async fn tamper_with_audit_log(&self, statements: &[&str]) {
        let on = if self.is_postgres() {
            " ON audit_log"
        } else {
            ""
        };
        let drop_update = format!("DROP TRIGGER IF EXISTS audit_log_is_append_only_update{on}");
        let drop_delete = format!("DROP TRIGGER IF EXISTS audit_log_is_append_only_delete{on}");
        let all: Vec<&str> = [drop_update.as_str(), drop_delete.as_str()]
            .into_iter()
            .chain(statements.iter().copied())
            .collect();
        self.execute(&all).await;
    }

    /// The integer `sql` selects.
    pub async fn integer(&self, sql: &str) -> i64 {
        let mut connection = self.connect().await;
        let value = match &mut connection {
            RawConnection::Sqlite(c) => sqlx::query_scalar(sql).fetch_one(c).await.unwrap(),
            RawConnection::Postgres(c) => sqlx::query_scalar(sql).fetch_one(c).await.unwrap(),
        };
        connection.close().await;
        value
    }

    /// The texts `sql` selects (one column), in order.
    pub async fn texts(&self, sql: &str) -> Vec<String> {
        let mut connection = self.connect().await;
        let values = match &mut connection {
            RawConnection::Sqlite(c) => sqlx::query_scalar(sql).fetch_all(c).await.unwrap(),
            RawConnection::Postgres(c) => sqlx::query_scalar(sql).fetch_all(c).await.unwrap(),
        };
        connection.close().await;
        values
    }

    /// `bytes` as an SQL literal of this database.
    pub fn bytes_literal(&self, bytes: &[u8]) -> String {
        match self.postgres {
            None => format!("X'{}'", hex::encode(bytes)),
            Some(_) => format!("'\\x{}'::bytea", hex::encode(bytes)),
        }
    }

    /// Whether a copy of the database holds `needle`: any byte of SQLite's files (with its
    /// write-ahead log), or any value in PostgreSQL's tables (bytes also as hex, as `pg_dump`
    /// writes them).
    pub async fn holds(&self, needle: &[u8]) -> bool {
        let contains =
            |haystack: &[u8], needle: &[u8]| haystack.windows(needle.len()).any(|w| w == needle);
        if !self.is_postgres() {
            return sqlite_files(self.path())
                .iter()
                .any(|file| contains(&std::fs::read(file).unwrap(), needle));
        }
        let tables = self
            .texts("SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema()")
            .await;
        for table in tables {
            let rows = self.texts(&format!("SELECT t::text FROM {table} t")).await;
            let text = rows.join("\n");
            let hex = hex::encode(needle);
            if contains(text.as_bytes(), needle) || contains(text.as_bytes(), hex.as_bytes()) {
                return true;
            }
        }
        false
    }
}

impl RawConnection {
    pub async fn execute(&mut self, statement: &str) {
        match self {
            RawConnection::Sqlite(c) => sqlx::query(statement).execute(c).await.map(drop),
            RawConnection::Postgres(c) => sqlx::query(statement).execute(c).await.map(drop),
        }
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }

    pub async fn close(self) {
        match self {
            RawConnection::Sqlite(c) => c.close().await.unwrap(),
            RawConnection::Postgres(c) => c.close().await.unwrap(),
        }
    }
}

/// The SQLite database's files (with its write-ahead log).
fn sqlite_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("sealroom.db"))
        })
        .collect()
}

impl Drop for TestData {
    fn drop(&mut self) {
        if let Some(url) = &self.postgres {
            let name = database_name(url);
            // Best effort: the whole throwaway server goes afterwards anyway.
            let _ = on_postgres_server(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// Makes a database of the test's own on the test PostgreSQL server: its URL.
fn fresh_postgres_database() -> PostgresUrl {
    let name = format!("sealroom_test_{}", hex::encode(rand::random::<[u8; 8]>()));
    on_postgres_server(format!("CREATE DATABASE {name}")).unwrap();
    let mut url = reqwest::Url::parse(&server_url()).expect("a URL");
    url.set_path(&name);
    PostgresUrl::try_from(url.to_string()).unwrap()
}

fn database_name(url: &PostgresUrl) -> String {
    let url = reqwest::Url::parse(url.as_str()).unwrap();
    url.path().trim_start_matches('/').to_owned()
}

fn server_url() -> String {
    std::env::var("SEALROOM_TEST_DATABASE_URL").expect(
        "SEALROOM_TEST_POSTGRES=1 needs SEALROOM_TEST_DATABASE_URL (the PostgreSQL server's \
         maintenance database): run the tests through scripts/with-postgres",
    )
}

/// Runs `statement` in the server's maintenance database, on a thread of its own: tests make
/// and drop databases inside a runtime and outside one.
fn on_postgres_server(statement: String) -> Result<(), String> {
    let url = server_url();
    let run = async move {
        let mut server = PgConnection::connect(&url).await?;
        sqlx::query(&statement).execute(&mut server).await?;
        server.close().await
    };
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(run).map_err(|e| e.to_string())
    })
    .join()
    .unwrap()
}
