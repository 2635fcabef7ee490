#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]
//! The collector's scenarios on SQLite (a file with WAL in a temp dir).

mod common;

common::backend_tests!(common::Backend::Sqlite);
