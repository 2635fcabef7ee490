#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]
//! The collector's scenarios on PostgreSQL: the same ones as on SQLite, each in its own
//! database. Needs `JITGATE_TEST_DATABASE_URL` (a superuser URL); without it every test
//! fails and says how to set it.

mod common;

common::backend_tests!(common::Backend::Postgres);

/// Two collectors on one PostgreSQL database would hand out the same leaf indices: the
/// second refuses to start, and starts once the first has stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_collector_on_the_same_database_refuses_to_start() {
    let harness = common::Harness::new(common::Backend::Postgres).await;
    let error = common::open_collector(&harness.place.location, &harness.place.options)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "configuration: another collector is writing to this PostgreSQL database: run one collector per database"
    );
    let harness = harness.restart().await;
    assert_eq!(harness.size().await, 0);
}
