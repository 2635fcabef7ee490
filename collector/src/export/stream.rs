//! Writing an export on the collector: pinned to a checkpoint signed for the occasion (so it
//! covers every record stored so far), streamed a page at a time in log order with each
//! record's inclusion proof, and closed with the signed manifest. Memory stays constant
//! whatever the export's size.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{self, Stream};
use serde_json::Value;

use super::{
    csv, encode_hashes, push_record_line, Consistency, Entry, ExportFormat, Manifest,
    ManifestDigest,
};
use crate::audit_log::{unique_ids, AuditLog};
use crate::error::{Error, Result};
use crate::filter::RecordFilter;
use crate::merkle::{consistency_plan, inclusion_plan, Hash, NodeId};
use crate::store::{CheckpointRow, Store};

/// Records read per page.
const PAGE: u32 = 256;

/// What a reviewer asked to export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportRequest {
    /// Which records.
    pub filter: RecordFilter,
    /// Which framing.
    pub format: ExportFormat,
    /// Include a consistency proof from the checkpoint signed at this tree size.
    pub since_size: Option<u64>,
}

struct Cursor {
    log: Arc<AuditLog>,
    request: ExportRequest,
    checkpoint: CheckpointRow,
    next: u64,
    /// One past the last leaf that can match.
    end: u64,
    digest: ManifestDigest,
    records: u64,
    finished: bool,
}

/// The export body. Fails before the first byte (with a proper status) if the request
/// cannot be served; a store failure mid-stream ends the body early, which `verify` reports
/// as a truncated export.
pub async fn export(
    log: Arc<AuditLog>,
    request: ExportRequest,
) -> Result<impl Stream<Item = Result<Bytes>>> {
    let checkpoint = log.checkpoint_now().await?;
    let consistency = match request.since_size {
        None => None,
        Some(since) => Some(consistency_from(log.store(), since, &checkpoint).await?),
    };
    let header = Entry::Header {
        format: super::FORMAT.to_owned(),
        checkpoint: checkpoint.note.clone(),
        filter: request.filter.to_json(),
        consistency,
    };
    let mut first = match request.format {
        ExportFormat::Jsonl => String::new(),
        ExportFormat::Csv => csv::header_row(),
    };
    first.push_str(&frame(request.format, &header));
    let (next, end) = log
        .store()
        .time_range(&request.filter, checkpoint.size)
        .await?;
    let cursor = Cursor {
        log,
        request,
        checkpoint,
        next,
        end,
        digest: ManifestDigest::default(),
        records: 0,
        finished: false,
    };
    let head = stream::iter([Ok(Bytes::from(first))]);
    let body = stream::try_unfold(cursor, |mut cursor| async move {
        if cursor.finished {
            return Ok(None);
        }
        let chunk = cursor.next_chunk().await?;
        Ok(Some((Bytes::from(chunk), cursor)))
    });
    Ok(futures_util::StreamExt::chain(head, body))
}

impl Cursor {
    /// The next page of records, or the trailer once they are all out.
    async fn next_chunk(&mut self) -> Result<String> {
        let size = self.checkpoint.size;
        let store = self.log.store();
        let page = store
            .records_page(&self.request.filter, self.next, self.end, PAGE)
            .await?;
        let mut out = String::new();
        if !page.is_empty() {
            let plans = page
                .iter()
                .map(|r| inclusion_plan(r.leaf_index, size))
                .collect::<Result<Vec<_>, _>>()?;
            let nodes = store
                .nodes(&unique_ids(plans.iter().flat_map(|p| p.node_ids())))
                .await?;
            for (record, plan) in page.iter().zip(&plans) {
                let proof = plan.assemble(&nodes)?;
                match self.request.format {
                    // The stored bytes are canonical: the line is written around them as
                    // they are, never parsed and written again.
                    ExportFormat::Jsonl => {
                        push_record_line(&mut out, record.leaf_index, &proof, &record.canonical);
                        out.push('\n');
                    }
                    ExportFormat::Csv => {
                        let value: Value =
                            serde_json::from_str(&record.canonical).map_err(|e| {
                                Error::Inconsistent(format!(
                                    "record at leaf index {} is not JSON: {e}",
                                    record.leaf_index
                                ))
                            })?;
                        let entry = Entry::Record {
                            leaf_index: record.leaf_index,
                            record: value,
                            inclusion: encode_hashes(&proof),
                        };
                        out.push_str(&frame(self.request.format, &entry));
                    }
                }
                self.digest.add(record.leaf_index, &record.leaf_hash);
                self.records += 1;
            }
            if let Some(last) = page.last() {
                self.next = last.leaf_index + 1;
            }
        }
        if page.len() < PAGE as usize {
            out.push_str(&self.trailer()?);
            self.finished = true;
        }
        Ok(out)
    }

    fn trailer(&mut self) -> Result<String> {
        let manifest = Manifest {
            origin: self.log.signer().name().to_owned(),
            tree_size: self.checkpoint.size,
            root: self.checkpoint.root,
            filter: self.request.filter.canonical(),
            records: self.records,
            digest: std::mem::take(&mut self.digest).finish(),
        };
        let entry = Entry::Trailer {
            records: self.records,
            manifest: self.log.signer().sign(&manifest.text())?,
        };
        Ok(frame(self.request.format, &entry))
    }
}

fn frame(format: ExportFormat, entry: &Entry) -> String {
    match format {
        ExportFormat::Jsonl => format!("{}\n", entry.to_line()),
        ExportFormat::Csv => csv::row(entry),
    }
}

/// The consistency proof from the checkpoint signed at `since` to `checkpoint`.
async fn consistency_from(
    store: &Store,
    since: u64,
    checkpoint: &CheckpointRow,
) -> Result<Consistency> {
    if since > checkpoint.size {
        return Err(Error::BadRequest(format!(
            "since_size: {since} is beyond the newest checkpoint (size {}): the log holds fewer records than that checkpoint claimed",
            checkpoint.size
        )));
    }
    let old = store
        .checkpoint_at(since)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no checkpoint was signed at tree size {since}")))?;
    let plan = consistency_plan(since, checkpoint.size)?;
    let nodes: HashMap<NodeId, Hash> = store.nodes(&unique_ids(plan.node_ids())).await?;
    Ok(Consistency {
        checkpoint: old.note,
        proof: encode_hashes(&plan.assemble(&nodes)?),
    })
}
