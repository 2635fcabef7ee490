//! Reading records for reviewers: one page at a time in log order, matching a filter and
//! bounded by a tree size, so a long export holds no transaction and no more than a page in
//! memory, and sees exactly the records its checkpoint covers.

use sqlx::{QueryBuilder, Row};

use super::{to_hash, to_i64, to_u64, with_pool, Store};
use crate::error::Result;
use crate::filter::RecordFilter;
use crate::merkle::Hash;

/// A stored record as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Position in the log.
    pub leaf_index: u64,
    /// The canonical bytes.
    pub canonical: String,
    /// Their leaf hash.
    pub leaf_hash: Hash,
    /// When the collector received it.
    pub received_unix_nano: u64,
}

impl Store {
    /// The leaf indices, below `end`, that can hold records within the filter's time bounds:
    /// from the first to one past the last matching leaf, found through the time index.
    /// Pages then walk the log in leaf order inside this range only, instead of from leaf 0.
    pub async fn time_range(&self, filter: &RecordFilter, end: u64) -> Result<(u64, u64)> {
        if filter.from_unix_nano.is_none() && filter.to_unix_nano.is_none() {
            return Ok((0, end));
        }
        with_pool!(self, pool => {
            let mut select = QueryBuilder::new(
                "SELECT MIN(leaf_index) AS first, MAX(leaf_index) AS last FROM records WHERE leaf_index < ",
            );
            select.push_bind(to_i64(end));
            if let Some(from) = filter.from_unix_nano {
                select.push(" AND time_unix_nano >= ").push_bind(to_i64(from));
            }
            if let Some(to) = filter.to_unix_nano {
                select.push(" AND time_unix_nano < ").push_bind(to_i64(to));
            }
            let row = select.build().fetch_one(pool).await?;
            let first: Option<i64> = row.try_get("first")?;
            let last: Option<i64> = row.try_get("last")?;
            match (first, last) {
                (Some(first), Some(last)) => Ok((
                    to_u64(first, "leaf index")?,
                    to_u64(last, "leaf index")? + 1,
                )),
                _ => Ok((end, end)),
            }
        })
    }

    /// Up to `limit` records matching `filter` with `start <= leaf_index < end`, in log order.
    pub async fn records_page(
        &self,
        filter: &RecordFilter,
        start: u64,
        end: u64,
        limit: u32,
    ) -> Result<Vec<StoredRecord>> {
        with_pool!(self, pool => {
            let mut select = QueryBuilder::new(
                "SELECT leaf_index, canonical, leaf_hash, received_unix_nano FROM records \
                 WHERE leaf_index >= ",
            );
            select.push_bind(to_i64(start));
            select.push(" AND leaf_index < ").push_bind(to_i64(end));
            if let Some(from) = filter.from_unix_nano {
                select.push(" AND time_unix_nano >= ").push_bind(to_i64(from));
            }
            if let Some(to) = filter.to_unix_nano {
                select.push(" AND time_unix_nano < ").push_bind(to_i64(to));
            }
            if let Some(subject) = &filter.subject {
                select.push(" AND subject = ").push_bind(subject.as_str());
            }
            if let Some(grant) = &filter.grant_id {
                select.push(" AND grant_id = ").push_bind(grant.as_str());
            }
            if let Some(model) = &filter.model {
                select.push(" AND model = ").push_bind(model.as_str());
            }
            if let Some(decision) = filter.decision {
                select.push(" AND decision = ").push_bind(decision.as_str());
            }
            select.push(" ORDER BY leaf_index LIMIT ").push_bind(i64::from(limit));
            let rows = select.build().fetch_all(pool).await?;
            rows.into_iter()
                .map(|row| {
                    Ok(StoredRecord {
                        leaf_index: to_u64(row.try_get("leaf_index")?, "leaf index")?,
                        canonical: row.try_get("canonical")?,
                        leaf_hash: to_hash(row.try_get("leaf_hash")?, "leaf hash")?,
                        received_unix_nano: to_u64(row.try_get("received_unix_nano")?, "receive time")?,
                    })
                })
                .collect()
        })
    }
}
