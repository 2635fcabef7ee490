//! Writing: one transaction per ingest request holding its new records, the tree nodes they
//! complete and, when one is due, the checkpoint — so a batch is stored whole or not at all,
//! and no checkpoint ever names a tree the store does not hold. When the guard keeps its
//! totals in this database, the same transaction adds the batch to them (`guard::store`).

use sqlx::QueryBuilder;

use super::{to_i64, Store};
use crate::error::Result;
use crate::guard::store::{apply_in_postgres, apply_in_sqlite, Applied, Batch};
use crate::merkle::{Hash, NodeId};

/// Rows per INSERT statement: well under SQLite's 32,766 bound parameters.
const ROWS_PER_STATEMENT: usize = 500;

/// A record as stored.
#[derive(Debug, Clone)]
pub struct RecordRow {
    /// Position in the log.
    pub leaf_index: u64,
    /// Sender's stream.
    pub stream_id: String,
    /// Position in the stream.
    pub sequence: u64,
    /// When the request started.
    pub time_unix_nano: u64,
    /// When the collector received it.
    pub received_unix_nano: u64,
    /// `allow` / `deny`.
    pub decision: &'static str,
    /// For reviewers' filters.
    pub subject: Option<String>,
    /// For reviewers' filters.
    pub grant_id: Option<String>,
    /// For reviewers' filters.
    pub model: Option<String>,
    /// The canonical bytes (see `canonical`).
    pub canonical: String,
    /// Leaf hash of `canonical`.
    pub leaf_hash: Hash,
}

/// A signed checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRow {
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
    /// The signed note.
    pub note: String,
    /// When it was signed.
    pub created_unix_nano: u64,
}

const INSERT_RECORDS: &str = "INSERT INTO records (leaf_index, stream_id, sequence, \
     time_unix_nano, received_unix_nano, decision, subject, grant_id, model, canonical, leaf_hash) ";

/// Inserts a checkpoint row in a transaction (same SQL on both backends).
macro_rules! insert_checkpoint {
    ($checkpoint:expr, $tx:expr) => {
        sqlx::query(
            "INSERT INTO checkpoints (tree_size, root_hash, note, created_unix_nano) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(to_i64($checkpoint.size))
        .bind(&$checkpoint.root[..])
        .bind($checkpoint.note.as_str())
        .bind(to_i64($checkpoint.created_unix_nano))
        .execute(&mut *$tx)
        .await?
    };
}

impl Store {
    /// Stores a batch: records, the interior nodes they complete (level ≥ 1; leaves live in
    /// the records) and an optional checkpoint, in one transaction.
    pub async fn append(
        &self,
        records: &[RecordRow],
        nodes: &[(NodeId, Hash)],
        checkpoint: Option<&CheckpointRow>,
    ) -> Result<()> {
        self.append_applying(records, nodes, checkpoint, None)
            .await
            .map(|_| ())
    }

    /// [`Self::append`], applying `guard` to the guard's totals in the same transaction; its
    /// outcome is `None` when the guard's cursor was elsewhere (the follower applies it).
    pub async fn append_applying(
        &self,
        records: &[RecordRow],
        nodes: &[(NodeId, Hash)],
        checkpoint: Option<&CheckpointRow>,
        guard: Option<Batch<'_>>,
    ) -> Result<Option<Applied>> {
        let mut applied = None;
        let interior: Vec<&(NodeId, Hash)> = nodes.iter().filter(|(id, _)| id.level > 0).collect();
        match self {
            Store::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                for chunk in records.chunks(ROWS_PER_STATEMENT) {
                    let mut insert = QueryBuilder::new(INSERT_RECORDS);
                    insert.push_values(chunk, |mut row, record| {
                        row.push_bind(to_i64(record.leaf_index))
                            .push_bind(record.stream_id.as_str())
                            .push_bind(to_i64(record.sequence))
                            .push_bind(to_i64(record.time_unix_nano))
                            .push_bind(to_i64(record.received_unix_nano))
                            .push_bind(record.decision)
                            .push_bind(record.subject.as_deref())
                            .push_bind(record.grant_id.as_deref())
                            .push_bind(record.model.as_deref())
                            .push_bind(record.canonical.as_str())
                            .push_bind(&record.leaf_hash[..]);
                    });
                    insert.build().execute(&mut *tx).await?;
                }
                for chunk in interior.chunks(ROWS_PER_STATEMENT) {
                    let mut insert =
                        QueryBuilder::new("INSERT INTO merkle_nodes (node_key, hash) ");
                    insert.push_values(chunk, |mut row, (id, hash)| {
                        row.push_bind(id.key()).push_bind(&hash[..]);
                    });
                    insert.build().execute(&mut *tx).await?;
                }
                if let Some(checkpoint) = checkpoint {
                    insert_checkpoint!(checkpoint, tx);
                }
                if let Some(batch) = guard {
                    applied = apply_in_sqlite(&mut tx, batch).await?;
                }
                tx.commit().await?;
            }
            Store::Postgres(pool) => {
                // PostgreSQL takes whole columns as arrays: one statement per table, whatever
                // the batch size, instead of thousands of bound parameters.
                let mut tx = pool.begin().await?;
                if !records.is_empty() {
                    sqlx::query(
                        "INSERT INTO records (leaf_index, stream_id, sequence, time_unix_nano, \
                         received_unix_nano, decision, subject, grant_id, model, canonical, leaf_hash) \
                         SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::BIGINT[], $4::BIGINT[], \
                         $5::BIGINT[], $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::TEXT[], $11::BYTEA[])",
                    )
                    .bind(records.iter().map(|r| to_i64(r.leaf_index)).collect::<Vec<_>>())
                    .bind(records.iter().map(|r| r.stream_id.as_str()).collect::<Vec<_>>())
                    .bind(records.iter().map(|r| to_i64(r.sequence)).collect::<Vec<_>>())
                    .bind(records.iter().map(|r| to_i64(r.time_unix_nano)).collect::<Vec<_>>())
                    .bind(records.iter().map(|r| to_i64(r.received_unix_nano)).collect::<Vec<_>>())
                    .bind(records.iter().map(|r| r.decision).collect::<Vec<_>>())
                    .bind(records.iter().map(|r| r.subject.as_deref()).collect::<Vec<_>>())
                    .bind(records.iter().map(|r| r.grant_id.as_deref()).collect::<Vec<_>>())
                    .bind(records.iter().map(|r| r.model.as_deref()).collect::<Vec<_>>())
                    .bind(records.iter().map(|r| r.canonical.as_str()).collect::<Vec<_>>())
                    .bind(records.iter().map(|r| r.leaf_hash.to_vec()).collect::<Vec<_>>())
                    .execute(&mut *tx)
                    .await?;
                }
                if !interior.is_empty() {
                    sqlx::query(
                        "INSERT INTO merkle_nodes (node_key, hash) \
                         SELECT * FROM UNNEST($1::BIGINT[], $2::BYTEA[])",
                    )
                    .bind(interior.iter().map(|(id, _)| id.key()).collect::<Vec<_>>())
                    .bind(
                        interior
                            .iter()
                            .map(|(_, hash)| hash.to_vec())
                            .collect::<Vec<_>>(),
                    )
                    .execute(&mut *tx)
                    .await?;
                }
                if let Some(checkpoint) = checkpoint {
                    insert_checkpoint!(checkpoint, tx);
                }
                if let Some(batch) = guard {
                    applied = apply_in_postgres(&mut tx, batch).await?;
                }
                tx.commit().await?;
            }
        }
        Ok(applied)
    }
}
