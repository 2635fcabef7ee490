//! Reading the log's structure: what the writer needs at startup (size, frontier, streams,
//! last checkpoint), the node hashes proofs are made of, stored leaf hashes for replays, and
//! checkpoints.

use std::collections::HashMap;

use sqlx::{QueryBuilder, Row};

use super::{to_hash, to_i64, to_u64, with_pool, CheckpointRow, Store};
use crate::error::{Error, Result};
use crate::merkle::{Hash, NodeId};

/// Node keys per SELECT … IN (…).
const KEYS_PER_STATEMENT: usize = 500;

/// Replay lookups per statement.
const PAIRS_PER_STATEMENT: usize = 200;

/// What the writer rebuilds its memory from.
#[derive(Debug, Clone, Default)]
pub struct StoredState {
    /// Number of records.
    pub size: u64,
    /// Each stream's runs of consecutive sequence numbers: (stream, first, last).
    pub runs: Vec<(String, u64, u64)>,
    /// The newest checkpoint.
    pub latest_checkpoint: Option<CheckpointRow>,
}

fn checkpoint_row(size: i64, root: Vec<u8>, note: String, created: i64) -> Result<CheckpointRow> {
    Ok(CheckpointRow {
        size: to_u64(size, "checkpoint size")?,
        root: to_hash(root, "checkpoint root")?,
        note,
        created_unix_nano: to_u64(created, "checkpoint time")?,
    })
}

impl Store {
    /// Size, stream runs and latest checkpoint. Refuses a log with holes in its leaf indices.
    pub async fn load_state(&self) -> Result<StoredState> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT COUNT(*) AS stored, COALESCE(MAX(leaf_index) + 1, 0) AS size FROM records",
            )
            .fetch_one(pool)
            .await?;
            let stored = to_u64(row.try_get("stored")?, "record count")?;
            let size = to_u64(row.try_get("size")?, "tree size")?;
            if stored != size {
                return Err(Error::Inconsistent(format!(
                    "{} of the records at leaf indices 0..{size} are missing",
                    size - stored
                )));
            }
            let rows = sqlx::query(
                "SELECT stream_id, MIN(sequence) AS first, MAX(sequence) AS last FROM (\
                   SELECT stream_id, sequence, \
                          sequence - ROW_NUMBER() OVER (PARTITION BY stream_id ORDER BY sequence) AS island \
                   FROM records) AS numbered \
                 GROUP BY stream_id, island",
            )
            .fetch_all(pool)
            .await?;
            let mut runs = Vec::with_capacity(rows.len());
            for row in rows {
                runs.push((
                    row.try_get("stream_id")?,
                    to_u64(row.try_get("first")?, "sequence")?,
                    to_u64(row.try_get("last")?, "sequence")?,
                ));
            }
            Ok(StoredState {
                size,
                runs,
                latest_checkpoint: self.latest_checkpoint().await?,
            })
        })
    }

    /// The newest checkpoint, if any.
    pub async fn latest_checkpoint(&self) -> Result<Option<CheckpointRow>> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT tree_size, root_hash, note, created_unix_nano FROM checkpoints \
                 ORDER BY tree_size DESC LIMIT 1",
            )
            .fetch_optional(pool)
            .await?;
            row.map(|row| {
                checkpoint_row(
                    row.try_get("tree_size")?,
                    row.try_get("root_hash")?,
                    row.try_get("note")?,
                    row.try_get("created_unix_nano")?,
                )
            })
            .transpose()
        })
    }

    /// The checkpoint signed at exactly `size`, if any.
    pub async fn checkpoint_at(&self, size: u64) -> Result<Option<CheckpointRow>> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT tree_size, root_hash, note, created_unix_nano FROM checkpoints \
                 WHERE tree_size = $1",
            )
            .bind(to_i64(size))
            .fetch_optional(pool)
            .await?;
            row.map(|row| {
                checkpoint_row(
                    row.try_get("tree_size")?,
                    row.try_get("root_hash")?,
                    row.try_get("note")?,
                    row.try_get("created_unix_nano")?,
                )
            })
            .transpose()
        })
    }

    /// Number of checkpoints signed.
    pub async fn checkpoint_count(&self) -> Result<u64> {
        with_pool!(self, pool => {
            let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM checkpoints")
                .fetch_one(pool)
                .await?;
            to_u64(count, "checkpoint count")
        })
    }

    /// The hashes of the given complete subtrees. Missing ones are simply absent.
    pub async fn nodes(&self, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>> {
        let mut leaves: Vec<i64> = Vec::new();
        let mut interior: Vec<i64> = Vec::new();
        for id in ids {
            if id.level == 0 {
                leaves.push(to_i64(id.index));
            } else {
                interior.push(id.key());
            }
        }
        leaves.sort_unstable();
        leaves.dedup();
        interior.sort_unstable();
        interior.dedup();
        let mut found = HashMap::with_capacity(ids.len());
        with_pool!(self, pool => {
            for chunk in leaves.chunks(KEYS_PER_STATEMENT) {
                let mut select =
                    QueryBuilder::new("SELECT leaf_index, leaf_hash FROM records WHERE leaf_index IN (");
                let mut list = select.separated(", ");
                for index in chunk {
                    list.push_bind(*index);
                }
                select.push(")");
                for row in select.build().fetch_all(pool).await? {
                    let index = to_u64(row.try_get("leaf_index")?, "leaf index")?;
                    found.insert(NodeId::leaf(index), to_hash(row.try_get("leaf_hash")?, "leaf hash")?);
                }
            }
            for chunk in interior.chunks(KEYS_PER_STATEMENT) {
                let mut select =
                    QueryBuilder::new("SELECT node_key, hash FROM merkle_nodes WHERE node_key IN (");
                let mut list = select.separated(", ");
                for key in chunk {
                    list.push_bind(*key);
                }
                select.push(")");
                for row in select.build().fetch_all(pool).await? {
                    let key: i64 = row.try_get("node_key")?;
                    found.insert(NodeId::from_key(key), to_hash(row.try_get("hash")?, "tree node")?);
                }
            }
            Ok(found)
        })
    }

    /// The leaf hashes stored under the given (stream, sequence) keys.
    pub async fn leaf_hashes_by_key(
        &self,
        keys: &[(&str, u64)],
    ) -> Result<HashMap<(String, u64), Hash>> {
        let mut found = HashMap::with_capacity(keys.len());
        with_pool!(self, pool => {
            for chunk in keys.chunks(PAIRS_PER_STATEMENT) {
                let mut select = QueryBuilder::new(
                    "SELECT stream_id, sequence, leaf_hash FROM records WHERE ",
                );
                for (i, (stream, sequence)) in chunk.iter().enumerate() {
                    if i > 0 {
                        select.push(" OR ");
                    }
                    select
                        .push("(stream_id = ")
                        .push_bind(*stream)
                        .push(" AND sequence = ")
                        .push_bind(to_i64(*sequence))
                        .push(")");
                }
                for row in select.build().fetch_all(pool).await? {
                    found.insert(
                        (
                            row.try_get::<String, _>("stream_id")?,
                            to_u64(row.try_get("sequence")?, "sequence")?,
                        ),
                        to_hash(row.try_get("leaf_hash")?, "leaf hash")?,
                    );
                }
            }
            Ok(found)
        })
    }
}
