//! The guard's tables (migration `0002_guard.sql`), in the log's own database or in a
//! separate one shared by several collectors (`--guard-database-url`). One transaction per
//! applied batch moves the log's cursor, adds to the counters with `INSERT … ON CONFLICT DO
//! UPDATE … RETURNING` (atomic in both backends, so collectors sharing a PostgreSQL database
//! add to the same rows without a counter of their own), records each new firing once (its
//! id is the primary key) with its place in the guard stream, and queues its outbox steps.
//!
//! The SQL is the same for SQLite and PostgreSQL; one macro writes it out for each.

use std::collections::{HashMap, HashSet};

use super::evaluate::{
    address_pairs, contributions, crossings, deltas, mark_new_addresses, CounterKey, Firing,
};
use super::observe::Observation;
use super::rules::Rules;
use crate::canonical::canonical_json;
use crate::error::{Error, Result};
use crate::filter::now_unix_nano;
use crate::store::{to_i64, to_u64, Store};

/// Rows per multi-row statement (SQLite binds at most 32,766 parameters).
const ROWS_PER_STATEMENT: usize = 500;

/// Outbox steps, in the order a firing takes them.
pub const STEPS: [&str; 3] = ["log", "alert", "revoke"];

/// What one applied batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Firings made for the first time, with their guard stream sequence.
    pub firings: Vec<(Firing, u64)>,
    /// Grants whose totals changed.
    pub grants: HashSet<String>,
}

/// One outbox step to attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueStep {
    /// The firing.
    pub firing_id: String,
    /// `log`, `alert` or `revoke`.
    pub step: String,
    /// Attempts so far.
    pub attempts: u64,
    /// The guard record's canonical JSON.
    pub record: String,
}

/// One outbox step's state, for tests and operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepState {
    /// The firing.
    pub firing_id: String,
    /// The step.
    pub step: String,
    /// Attempts made.
    pub attempts: u64,
    /// Whether it is finished.
    pub done: bool,
    /// How it finished.
    pub outcome: Option<String>,
}

fn scope_of(text: &str) -> Result<&'static str> {
    match text {
        "grant" => Ok("grant"),
        "subject" => Ok("subject"),
        other => Err(Error::Inconsistent(format!(
            "guard counter with scope {other:?}"
        ))),
    }
}

/// A batch to apply: the records `[first_leaf, next_leaf)` of `log_id`, their observations.
/// Applied either in the ingest transaction that stores them (the guard's tables in the log's
/// database, the guard caught up) or afterwards by the follower — whichever moves the
/// cursor first; the other finds it moved and does nothing.
pub struct Batch<'a> {
    /// The log.
    pub log_id: &'a str,
    /// Its guard stream.
    pub stream_id: &'a str,
    /// The first leaf of the batch: the cursor must be here.
    pub first_leaf: u64,
    /// One past the last leaf.
    pub next_leaf: u64,
    /// The uses in it, in log order.
    pub observations: Vec<Observation>,
    /// The rules in force.
    pub rules: &'a Rules,
}

macro_rules! backend {
    ($module:ident, $db:ty) => {
        mod $module {
            use std::collections::{HashMap, HashSet};

            use sqlx::{QueryBuilder, Row};

            use super::*;

            type Tx<'c> = sqlx::Transaction<'c, $db>;

            pub(super) async fn cursor(pool: &sqlx::Pool<$db>, log_id: &str) -> Result<u64> {
                sqlx::query(
                    "INSERT INTO guard_cursors (log_id, next_leaf) VALUES ($1, 0) \
                     ON CONFLICT (log_id) DO NOTHING",
                )
                .bind(log_id)
                .execute(pool)
                .await?;
                let next: i64 =
                    sqlx::query_scalar("SELECT next_leaf FROM guard_cursors WHERE log_id = $1")
                        .bind(log_id)
                        .fetch_one(pool)
                        .await?;
                to_u64(next, "guard cursor")
            }

            pub(super) async fn apply(
                pool: &sqlx::Pool<$db>,
                batch: Batch<'_>,
            ) -> Result<Option<Applied>> {
                let mut tx = pool.begin().await?;
                let applied = apply_in(&mut tx, batch).await?;
                if applied.is_some() {
                    tx.commit().await?;
                }
                Ok(applied)
            }

            /// The batch inside the caller's transaction; `None` (and nothing written) when
            /// the cursor is not at the batch's first leaf.
            pub(crate) async fn apply_in(tx: &mut Tx<'_>, batch: Batch<'_>) -> Result<Option<Applied>> {
                let moved = sqlx::query(
                    "UPDATE guard_cursors SET next_leaf = $1 WHERE log_id = $2 AND next_leaf = $3",
                )
                .bind(to_i64(batch.next_leaf))
                .bind(batch.log_id)
                .bind(to_i64(batch.first_leaf))
                .execute(&mut **tx)
                .await?
                .rows_affected();
                if moved != 1 {
                    return Ok(None);
                }
                let mut observations = batch.observations;
                // Sorted, as the counters are: collectors sharing the database lock rows in
                // one order, so two batches never wait on each other in a cycle.
                let mut pairs = address_pairs(&observations);
                pairs.sort_unstable();
                let new = insert_addresses(tx, &pairs).await?;
                mark_new_addresses(&mut observations, &new);
                let contributions = contributions(batch.rules, &observations);
                let deltas: Vec<(CounterKey, u64)> = deltas(&contributions).into_iter().collect();
                let after = add_to_counters(tx, &deltas).await?;
                let mut applied = Applied {
                    grants: observations.iter().map(|o| o.grant_id.clone()).collect(),
                    ..Applied::default()
                };
                for firing in crossings(batch.rules, &observations, &contributions, &after) {
                    if let Some(sequence) =
                        record_firing(tx, &firing, batch.log_id, batch.stream_id).await?
                    {
                        applied.firings.push((firing, sequence));
                    }
                }
                Ok(Some(applied))
            }

            async fn insert_addresses(
                tx: &mut Tx<'_>,
                pairs: &[(String, String)],
            ) -> Result<HashSet<(String, String)>> {
                let mut new = HashSet::new();
                for chunk in pairs.chunks(ROWS_PER_STATEMENT) {
                    let mut insert =
                        QueryBuilder::<$db>::new("INSERT INTO guard_addresses (grant_id, address) ");
                    insert.push_values(chunk, |mut row, (grant, address)| {
                        row.push_bind(grant.as_str()).push_bind(address.as_str());
                    });
                    insert.push(" ON CONFLICT (grant_id, address) DO NOTHING RETURNING grant_id, address");
                    for row in insert.build().fetch_all(&mut **tx).await? {
                        new.insert((row.try_get("grant_id")?, row.try_get("address")?));
                    }
                }
                Ok(new)
            }

            async fn add_to_counters(
                tx: &mut Tx<'_>,
                deltas: &[(CounterKey, u64)],
            ) -> Result<HashMap<CounterKey, u64>> {
                let mut after = HashMap::with_capacity(deltas.len());
                for chunk in deltas.chunks(ROWS_PER_STATEMENT) {
                    let mut insert = QueryBuilder::<$db>::new(
                        "INSERT INTO guard_counters (scope, counter_key, measure, window_seconds, \
                         window_start, value) ",
                    );
                    insert.push_values(chunk, |mut row, (key, by)| {
                        row.push_bind(key.scope)
                            .push_bind(key.key.as_str())
                            .push_bind(key.measure.as_str())
                            .push_bind(to_i64(key.window_seconds))
                            .push_bind(to_i64(key.window_start))
                            .push_bind(to_i64(*by));
                    });
                    insert.push(
                        " ON CONFLICT (scope, counter_key, measure, window_seconds, window_start) \
                         DO UPDATE SET value = guard_counters.value + excluded.value \
                         RETURNING scope, counter_key, measure, window_seconds, window_start, value",
                    );
                    for row in insert.build().fetch_all(&mut **tx).await? {
                        let scope: String = row.try_get("scope")?;
                        let key = CounterKey {
                            scope: scope_of(&scope)?,
                            key: row.try_get("counter_key")?,
                            measure: row.try_get("measure")?,
                            window_seconds: to_u64(row.try_get("window_seconds")?, "window")?,
                            window_start: to_u64(row.try_get("window_start")?, "window start")?,
                        };
                        after.insert(key, to_u64(row.try_get("value")?, "guard counter")?);
                    }
                }
                Ok(after)
            }

            /// Stores a firing if it is new; returns its guard stream sequence then.
            async fn record_firing(
                tx: &mut Tx<'_>,
                firing: &Firing,
                log_id: &str,
                stream_id: &str,
            ) -> Result<Option<u64>> {
                let now = to_i64(now_unix_nano());
                let inserted = sqlx::query(
                    "INSERT INTO guard_firings (firing_id, rule, grant_id, log_id, created_unix_nano) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (firing_id) DO NOTHING",
                )
                .bind(firing.firing_id.as_str())
                .bind(firing.rule.as_str())
                .bind(firing.grant_id.as_str())
                .bind(log_id)
                .bind(now)
                .execute(&mut **tx)
                .await?
                .rows_affected();
                if inserted == 0 {
                    return Ok(None);
                }
                // A sequence is taken only for a firing that is new, so the stream has no gaps.
                let sequence: i64 = sqlx::query_scalar(
                    "INSERT INTO guard_streams (stream_id, last_sequence) VALUES ($1, 1) \
                     ON CONFLICT (stream_id) DO UPDATE SET last_sequence = guard_streams.last_sequence + 1 \
                     RETURNING last_sequence",
                )
                .bind(stream_id)
                .fetch_one(&mut **tx)
                .await?;
                let sequence = to_u64(sequence, "guard sequence")?;
                sqlx::query(
                    "UPDATE guard_firings SET stream_id = $1, sequence = $2, record = $3 WHERE firing_id = $4",
                )
                .bind(stream_id)
                .bind(to_i64(sequence))
                .bind(canonical_json(&firing.to_record(stream_id, sequence).to_otlp_log_record()))
                .bind(firing.firing_id.as_str())
                .execute(&mut **tx)
                .await?;
                let steps = STEPS.iter().enumerate().filter(|(_, step)| match **step {
                    "alert" => firing.action.alerts(),
                    "revoke" => firing.action.revokes(),
                    _ => true,
                });
                for (order, step) in steps {
                    sqlx::query(
                        "INSERT INTO guard_outbox (firing_id, step, step_order, log_id, sequence, \
                         attempts, next_attempt_unix_nano) VALUES ($1, $2, $3, $4, $5, 0, $6)",
                    )
                    .bind(firing.firing_id.as_str())
                    .bind(*step)
                    .bind(order as i64)
                    .bind(log_id)
                    .bind(to_i64(sequence))
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
                }
                Ok(Some(sequence))
            }

            pub(super) async fn due(
                pool: &sqlx::Pool<$db>,
                log_id: &str,
                now: u64,
                limit: u32,
            ) -> Result<Vec<DueStep>> {
                let rows = sqlx::query(
                    "SELECT o.firing_id, o.step, o.attempts, f.record FROM guard_outbox o \
                     JOIN guard_firings f ON f.firing_id = o.firing_id \
                     WHERE o.log_id = $1 AND o.done_unix_nano IS NULL AND o.next_attempt_unix_nano <= $2 \
                     AND (o.step = 'log' OR NOT EXISTS (SELECT 1 FROM guard_outbox l \
                          WHERE l.firing_id = o.firing_id AND l.step = 'log' AND l.done_unix_nano IS NULL)) \
                     ORDER BY o.sequence, o.step_order LIMIT $3",
                )
                .bind(log_id)
                .bind(to_i64(now))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?;
                rows.into_iter()
                    .map(|row| {
                        Ok(DueStep {
                            firing_id: row.try_get("firing_id")?,
                            step: row.try_get("step")?,
                            attempts: to_u64(row.try_get("attempts")?, "attempts")?,
                            record: row
                                .try_get::<Option<String>, _>("record")?
                                .unwrap_or_default(),
                        })
                    })
                    .collect()
            }

            pub(super) async fn finish(
                pool: &sqlx::Pool<$db>,
                firing_id: &str,
                step: &str,
                outcome: &str,
            ) -> Result<()> {
                sqlx::query(
                    "UPDATE guard_outbox SET done_unix_nano = $1, outcome = $2, attempts = attempts + 1 \
                     WHERE firing_id = $3 AND step = $4",
                )
                .bind(to_i64(now_unix_nano()))
                .bind(outcome)
                .bind(firing_id)
                .bind(step)
                .execute(pool)
                .await?;
                Ok(())
            }

            pub(super) async fn retry_at(
                pool: &sqlx::Pool<$db>,
                firing_id: &str,
                step: &str,
                next_attempt: u64,
                error: &str,
            ) -> Result<()> {
                sqlx::query(
                    "UPDATE guard_outbox SET attempts = attempts + 1, next_attempt_unix_nano = $1, \
                     outcome = $2 WHERE firing_id = $3 AND step = $4",
                )
                .bind(to_i64(next_attempt))
                .bind(error)
                .bind(firing_id)
                .bind(step)
                .execute(pool)
                .await?;
                Ok(())
            }

            pub(super) async fn steps(pool: &sqlx::Pool<$db>) -> Result<Vec<StepState>> {
                let rows = sqlx::query(
                    "SELECT firing_id, step, attempts, done_unix_nano, outcome FROM guard_outbox \
                     ORDER BY sequence, step_order",
                )
                .fetch_all(pool)
                .await?;
                rows.into_iter()
                    .map(|row| {
                        Ok(StepState {
                            firing_id: row.try_get("firing_id")?,
                            step: row.try_get("step")?,
                            attempts: to_u64(row.try_get("attempts")?, "attempts")?,
                            done: row.try_get::<Option<i64>, _>("done_unix_nano")?.is_some(),
                            outcome: row.try_get("outcome")?,
                        })
                    })
                    .collect()
            }

            pub(super) async fn totals(
                pool: &sqlx::Pool<$db>,
                grant: &str,
            ) -> Result<HashMap<String, u64>> {
                let rows = sqlx::query(
                    "SELECT measure, value FROM guard_counters WHERE scope = 'grant' AND \
                     counter_key = $1 AND window_seconds = 0",
                )
                .bind(grant)
                .fetch_all(pool)
                .await?;
                rows.into_iter()
                    .map(|row| {
                        Ok((
                            row.try_get("measure")?,
                            to_u64(row.try_get("value")?, "guard counter")?,
                        ))
                    })
                    .collect()
            }
        }
    };
}

backend!(sqlite, sqlx::Sqlite);
backend!(postgres, sqlx::Postgres);

pub(crate) use postgres::apply_in as apply_in_postgres;
pub(crate) use sqlite::apply_in as apply_in_sqlite;

/// The guard's tables in one database.
#[derive(Debug, Clone)]
pub struct GuardStore {
    store: Store,
}

impl GuardStore {
    /// Over an opened store (its migrations include the guard's tables).
    pub fn new(store: Store) -> GuardStore {
        GuardStore { store }
    }

    /// The underlying store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The next leaf of `log_id` to apply (0 for a log never applied).
    pub async fn cursor(&self, log_id: &str) -> Result<u64> {
        match &self.store {
            Store::Sqlite(pool) => sqlite::cursor(pool, log_id).await,
            Store::Postgres(pool) => postgres::cursor(pool, log_id).await,
        }
    }

    /// Applies a batch in one transaction (see the module docs); `None` when the cursor was
    /// not at the batch's first leaf (the ingest transaction applied it first).
    pub async fn apply(&self, batch: Batch<'_>) -> Result<Option<Applied>> {
        match &self.store {
            Store::Sqlite(pool) => sqlite::apply(pool, batch).await,
            Store::Postgres(pool) => postgres::apply(pool, batch).await,
        }
    }

    /// Outbox steps of `log_id` due at `now`, oldest firing first; a firing's `alert` and
    /// `revoke` only once its `log` step is done.
    pub async fn due(&self, log_id: &str, now: u64, limit: u32) -> Result<Vec<DueStep>> {
        match &self.store {
            Store::Sqlite(pool) => sqlite::due(pool, log_id, now, limit).await,
            Store::Postgres(pool) => postgres::due(pool, log_id, now, limit).await,
        }
    }

    /// Marks a step finished, with how.
    pub async fn finish(&self, firing_id: &str, step: &str, outcome: &str) -> Result<()> {
        match &self.store {
            Store::Sqlite(pool) => sqlite::finish(pool, firing_id, step, outcome).await,
            Store::Postgres(pool) => postgres::finish(pool, firing_id, step, outcome).await,
        }
    }

    /// Counts a failed attempt and sets the next one.
    pub async fn retry_at(
        &self,
        firing_id: &str,
        step: &str,
        next_attempt: u64,
        error: &str,
    ) -> Result<()> {
        match &self.store {
            Store::Sqlite(pool) => {
                sqlite::retry_at(pool, firing_id, step, next_attempt, error).await
            }
            Store::Postgres(pool) => {
                postgres::retry_at(pool, firing_id, step, next_attempt, error).await
            }
        }
    }

    /// Every outbox step, in firing order.
    pub async fn steps(&self) -> Result<Vec<StepState>> {
        match &self.store {
            Store::Sqlite(pool) => sqlite::steps(pool).await,
            Store::Postgres(pool) => postgres::steps(pool).await,
        }
    }

    /// A grant's whole-life totals, by measure.
    pub async fn totals(&self, grant: &str) -> Result<HashMap<String, u64>> {
        match &self.store {
            Store::Sqlite(pool) => sqlite::totals(pool, grant).await,
            Store::Postgres(pool) => postgres::totals(pool, grant).await,
        }
    }
}
