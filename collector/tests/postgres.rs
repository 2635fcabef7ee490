#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]
//! The collector's scenarios on PostgreSQL: the same ones as on SQLite, each in its own
//! database. Needs `JITGATE_TEST_DATABASE_URL` (a superuser URL); without it every test
//! fails and says how to set it.

mod common;

common::backend_tests!(common::Backend::Postgres);
