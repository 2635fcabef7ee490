//! Storage: one sqlx `Any` pool over SQLite (default: a single WAL-mode file under the data
//! dir) or PostgreSQL (when `DATABASE_URL` says so), with the migrations for each embedded.
//!
//! The SQL is written once, in the subset both engines speak (`$1` placeholders, BIGINT
//! times, TEXT JSON). Concurrency across replicas relies on two patterns that work on both:
//! every transaction that changes a request *starts* with a conditional
//! `UPDATE … SET version = version + 1 WHERE id = $1 AND state = $2`, which takes
//! PostgreSQL's row lock (a concurrent reviewer waits, then sees the new state) and SQLite's
//! write lock before anything is read; and feed positions come from a counter row updated in
//! the same transaction (see [`revocations`]).

pub mod alerts;
pub mod outbox;
pub mod requests;
pub mod revocations;
pub mod sessions;
pub mod tokens;
pub mod usage;

use std::path::Path;
use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions};

use crate::error::{Error, Result};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Which engine is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// The database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// The SQLite URL for the default database file in `data_dir`.
    pub fn sqlite_url(data_dir: &Path) -> String {
        format!("sqlite://{}?mode=rwc", data_dir.join("issuer.db").display())
    }

    /// Connects and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(Error::Config(
                "DATABASE_URL must start with postgres://, postgresql:// or sqlite:".into(),
            ));
        };
        let options = AnyConnectOptions::from_str(url)?.disable_statement_logging();
        let pool = AnyPoolOptions::new()
            // SQLite has one writer at a time anyway; a small pool keeps lock waits short.
            .max_connections(if backend == Backend::Sqlite { 4 } else { 10 })
            .connect_with(options)
            .await?;
        if backend == Backend::Sqlite {
            // WAL lets readers (the revocation feed, JWKS-independent reads) proceed while a
            // review commits. The mode is stored in the file, so once is enough.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        Ok(Store { pool, backend })
    }

    /// The pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The engine.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
