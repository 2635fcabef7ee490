//! The append-only store: SQLite by default (one file, WAL), PostgreSQL when given a URL.
//! Both run the same SQL through sqlx's runtime query API; only the schemas (migrations,
//! embedded per backend) differ in column types.
//!
//! The store never decides anything: which records are new, which leaf index each gets and
//! which tree nodes and checkpoints exist is worked out by the log writer, which hands the
//! store one transaction per ingest request.

mod append;
mod read;
mod records;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use append::{CheckpointRow, RecordRow};
pub use read::StoredState;
pub use records::StoredRecord;

use crate::error::{Error, Result};
use crate::merkle::Hash;

/// Where the log lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite database file (created if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL.
    Postgres(String),
}

impl Location {
    /// Reads `sqlite:<path>`, `sqlite://<path>`, `postgres://…` or `postgresql://…`.
    pub fn parse(url: &str) -> Result<Location> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Location::Postgres(url.to_owned()));
        }
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(Error::Config("the sqlite: URL names no file".into()));
            }
            return Ok(Location::Sqlite(PathBuf::from(path)));
        }
        Err(Error::Config(
            "the database URL must start with sqlite:, postgres:// or postgresql://".into(),
        ))
    }
}

/// The advisory lock key naming "the jitgate audit log writer" (ASCII `jitgate\0`).
const WRITER_LOCK_KEY: i64 = 0x6a69_7467_6174_6500;

/// Tries over about three seconds.
const WRITER_LOCK_ATTEMPTS: u32 = 12;

/// Holds the writer lock (PostgreSQL: the connection holding the advisory lock; dropping it
/// ends the session and releases the lock).
#[derive(Debug)]
pub struct WriterLock {
    _session: Option<sqlx::PgConnection>,
}

/// The connection pool for either backend.
#[derive(Debug, Clone)]
pub enum Store {
    /// SQLite.
    Sqlite(SqlitePool),
    /// PostgreSQL.
    Postgres(PgPool),
}

/// Runs the same body against whichever pool the store holds; sqlx infers the database type
/// for each arm. SQL uses `$1`-style placeholders, which both backends accept.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite($pool) => $body,
            $crate::store::Store::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

impl Store {
    /// Connects (creating a SQLite file if needed) and applies the embedded migrations.
    pub async fn open(location: &Location) -> Result<Store> {
        let store = match location {
            Location::Sqlite(path) => {
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // FULL: a batch acknowledged to the sender survives a power cut.
                    .synchronous(SqliteSynchronous::Full)
                    // 16 KiB pages for a new file (an existing one keeps its own): a record's
                    // ~2 KB row and its index entries dirty fewer pages per commit, so each
                    // batch writes fewer WAL frames and fewer write calls. Measured with
                    // `ingest_bench`, 1 sender: 4 KiB 22.6k records/s, 16 KiB 32.9k,
                    // 64 KiB 33.3k (docs/audit.md, Performance).
                    .page_size(16_384)
                    .busy_timeout(Duration::from_secs(10));
                let pool = SqlitePoolOptions::new()
                    .max_connections(4)
                    .connect_with(options)
                    .await?;
                sqlx::migrate!("migrations/sqlite").run(&pool).await?;
                Store::Sqlite(pool)
            }
            Location::Postgres(url) => {
                let options = PgConnectOptions::from_str(url)?;
                let pool = PgPoolOptions::new()
                    .max_connections(8)
                    .connect_with(options)
                    .await?;
                sqlx::migrate!("migrations/postgres").run(&pool).await?;
                Store::Postgres(pool)
            }
        };
        Ok(store)
    }

    /// Makes this process the log's only writer, for as long as the returned guard lives.
    ///
    /// The writer keeps the tree's frontier in memory, so two collectors appending to one
    /// PostgreSQL database would each assign the same leaf indices (and every later batch of
    /// one of them would fail). A session advisory lock, held on a connection of its own,
    /// makes the second one refuse to start instead. A collector that just stopped may
    /// still hold it for a moment, so this retries for a few seconds. (A SQLite file is
    /// reached through one data directory, which one collector owns.)
    pub async fn lock_writer(&self) -> Result<WriterLock> {
        let Store::Postgres(pool) = self else {
            return Ok(WriterLock { _session: None });
        };
        let mut connection = pool.acquire().await?.detach();
        for _ in 0..WRITER_LOCK_ATTEMPTS {
            let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(WRITER_LOCK_KEY)
                .fetch_one(&mut connection)
                .await?;
            if locked {
                return Ok(WriterLock {
                    _session: Some(connection),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err(Error::Config(
            "another collector is writing to this PostgreSQL database: run one collector per database"
                .into(),
        ))
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Closes every connection (SQLite checkpoints its WAL on the last close).
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }
}

/// A stored integer that must be non-negative.
pub(crate) fn to_u64(value: i64, what: &str) -> Result<u64> {
    u64::try_from(value).map_err(|_| Error::Inconsistent(format!("negative {what}: {value}")))
}

/// An integer to store: the log's numbers all fit in i64 (ingest refuses larger ones).
pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A stored hash that must be 32 bytes.
pub(crate) fn to_hash(bytes: Vec<u8>, what: &str) -> Result<Hash> {
    bytes
        .try_into()
        .map_err(|_| Error::Inconsistent(format!("{what} is not a 32-byte hash")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_database_urls() {
        assert_eq!(
            Location::parse("sqlite:/tmp/a.db").unwrap(),
            Location::Sqlite("/tmp/a.db".into())
        );
        assert_eq!(
            Location::parse("sqlite:///tmp/a.db").unwrap(),
            Location::Sqlite("/tmp/a.db".into())
        );
        assert_eq!(
            Location::parse("postgres://u:p@h/db").unwrap(),
            Location::Postgres("postgres://u:p@h/db".into())
        );
        assert_eq!(
            Location::parse("mysql://x").unwrap_err().to_string(),
            "configuration: the database URL must start with sqlite:, postgres:// or postgresql://"
        );
    }
}
