//! Test support shared by the issuer's and the collector's PostgreSQL suites: a database made
//! for one test and dropped after it, even when the test fails.
//!
//! Needs `JITGATE_TEST_DATABASE_URL`, a superuser URL such as
//! `postgres://jitgate:jitgate@127.0.0.1:5432/postgres`; `cargo xtask test` starts a server and
//! sets it. Without it the tests fail (never pass silently) and say how to set it.

// Test support fails by panicking with a message that says what to do.
#![allow(clippy::panic, clippy::expect_used)]

use sqlx::Connection;

/// The variable naming the server.
pub const DATABASE_URL_ENV: &str = "JITGATE_TEST_DATABASE_URL";

/// A database of its own for one test.
pub struct PostgresDatabase {
    /// URL of the test's database.
    pub url: String,
    admin_url: String,
    name: String,
}

impl PostgresDatabase {
    /// Creates a uniquely named database on the server `JITGATE_TEST_DATABASE_URL` names.
    pub async fn create() -> PostgresDatabase {
        let admin_url = admin_url();
        let mut suffix = [0u8; 8];
        getrandom::fill(&mut suffix).expect("the OS gives random bytes");
        let name = format!("jitgate_test_{:016x}", u64::from_le_bytes(suffix));
        let mut admin = connect(&admin_url).await;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|error| panic!("cannot create database {name}: {error}"));
        let (base, _) = admin_url
            .rsplit_once('/')
            .expect("the database URL ends in /<database>");
        PostgresDatabase {
            url: format!("{base}/{name}"),
            admin_url,
            name,
        }
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop is not async, and may run inside a runtime: a short-lived runtime on its own
        // thread drops the database.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for dropping the test database");
            runtime.block_on(async {
                let mut admin = connect(&admin_url).await;
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await;
            });
        })
        .join();
    }
}

fn admin_url() -> String {
    std::env::var(DATABASE_URL_ENV)
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| {
            panic!(
                "JITGATE_TEST_DATABASE_URL is not set. The PostgreSQL tests need a superuser URL, \
                 e.g. JITGATE_TEST_DATABASE_URL=postgres://jitgate:jitgate@127.0.0.1:5432/postgres \
                 (`cargo xtask test` starts PostgreSQL and sets it; by hand: apt-get install -y \
                 postgresql && pg_ctlcluster 15 main start && su postgres -c \"psql -c \\\"CREATE \
                 ROLE jitgate LOGIN SUPERUSER PASSWORD 'jitgate'\\\"\")"
            )
        })
}

async fn connect(url: &str) -> sqlx::PgConnection {
    sqlx::PgConnection::connect(url)
        .await
        .unwrap_or_else(|error| panic!("cannot connect to JITGATE_TEST_DATABASE_URL: {error}"))
}
