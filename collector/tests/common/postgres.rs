//! A PostgreSQL database made for one test and dropped after it: the workspace's shared test
//! support (`jitgate-testdb`).

pub use jitgate_testdb::PostgresDatabase;
