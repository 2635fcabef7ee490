//! The audit log's single writer: decides which records are new, replays or conflicts,
//! gives new ones their leaf indices, grows the Merkle tree and signs checkpoints — one
//! ingest request at a time, under one lock, with the store's transaction as the commit
//! point. Memory (frontier, stream index, last checkpoint) changes only after a commit.
//!
//! On open it rebuilds that memory from the store and refuses to start if the stored tree no
//! longer matches the last checkpoint it signed: someone changed the database behind it.
//!
//! After each commit it tells whoever follows the log: the new size (the guard reads from its
//! cursor up to it) and, only while someone tails, the new records themselves.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Mutex};

use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};
use crate::filter::now_unix_nano;
use crate::guard::observe::{observe, Observation};
use crate::guard::store::Batch;
use crate::guard::Guard;
use crate::ingest::{Candidate, Rejection};
use crate::merkle::{Frontier, Hash, NodeId};
use crate::metrics::{bump, LogGauges, Metrics};
use crate::note::{NoteSigner, NoteVerifier};
use crate::store::{CheckpointRow, RecordRow, Store, WriterLock};
use crate::streams::{StreamIndex, StreamSummary};
use crate::tail::{TailEntry, TailHub};

/// When to sign a checkpoint: after this many new records, or this long after the last
/// one if any record arrived since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// Sign within the ingest transaction once this many records are unsigned.
    pub every_records: u64,
    /// Sign on a timer this often while records are unsigned.
    pub every: Duration,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        CheckpointPolicy {
            every_records: 10_000,
            every: Duration::from_secs(10),
        }
    }
}

/// What happened to an ingest request's valid records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Appended to the log.
    pub stored: u64,
    /// Already in the log with the same content: acknowledged, not stored again.
    pub duplicates: u64,
    /// Already in the log with different content: refused.
    pub conflicts: Vec<Rejection>,
}

struct WriterState {
    frontier: Frontier,
    streams: StreamIndex,
    last_checkpoint: CheckpointRow,
}

/// The log and its writer.
pub struct AuditLog {
    store: Store,
    signer: NoteSigner,
    policy: CheckpointPolicy,
    metrics: Arc<Metrics>,
    state: Mutex<WriterState>,
    size: watch::Sender<u64>,
    tail: TailHub,
    inline_guard: std::sync::OnceLock<Arc<Guard>>,
    _writer: WriterLock,
}

/// One record for the log, of either kind: a validated gateway or issuer record from a
/// sender, or a guard record the collector writes itself (`guard::record`).
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// Where it came from, for a conflict's message (`resourceLogs[0]…` or `guard`).
    pub position: String,
    /// Its stream.
    pub stream_id: String,
    /// Its position in the stream.
    pub sequence: u64,
    /// Its own time.
    pub time_unix_nano: u64,
    /// `allow` / `deny` for gateway and issuer records, `guard` for guard records.
    pub decision: &'static str,
    /// For reviewers' filters.
    pub subject: Option<String>,
    /// For reviewers' filters.
    pub grant_id: Option<String>,
    /// For reviewers' filters.
    pub model: Option<String>,
    /// The canonical bytes.
    pub canonical: String,
    /// Their leaf hash.
    pub leaf: Hash,
    /// What the guard counts in it, for a gateway record that uses a grant.
    pub observation: Option<Observation>,
}

impl LogEntry {
    /// The entry for a validated record; with `observed`, what the guard counts in it too
    /// (only worked out while a guard applies batches in the ingest transaction).
    pub fn from_candidate(candidate: Candidate, observed: bool) -> LogEntry {
        let Candidate {
            position,
            record,
            canonical,
            leaf,
        } = candidate;
        // The leaf index is set when the log places it.
        let observation = if observed { observe(0, &record) } else { None };
        LogEntry {
            observation,
            position,
            time_unix_nano: record.time_unix_nano,
            decision: record.decision.as_str(),
            stream_id: record.stream_id,
            sequence: record.sequence,
            subject: record.subject,
            grant_id: record.grant_id,
            model: record.model,
            canonical,
            leaf,
        }
    }
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("backend", &self.store.backend())
            .field("origin", &self.signer.name())
            .finish_non_exhaustive()
    }
}

enum Fate {
    New,
    /// Stored before this request; compare with the stored leaf hash.
    Stored,
    /// Earlier in this same request, with this leaf hash.
    InBatch(Hash),
}

impl AuditLog {
    /// Opens the log in `store`, checking it against its last checkpoint. Signs a checkpoint
    /// of the empty tree on first start, so there is always one to export against.
    pub async fn open(
        store: Store,
        signer: NoteSigner,
        policy: CheckpointPolicy,
        metrics: Arc<Metrics>,
    ) -> Result<AuditLog> {
        let writer = store.lock_writer().await?;
        let stored = store.load_state().await?;
        let frontier = frontier_at(&store, stored.size).await?;
        let mut streams = StreamIndex::default();
        for (stream, first, last) in &stored.runs {
            streams.insert_run(stream, *first, *last);
        }
        let last_checkpoint = match stored.latest_checkpoint {
            Some(row) => {
                check_stored_checkpoint(&store, signer.verifier(), &row, stored.size).await?;
                row
            }
            None if stored.size == 0 => {
                let row = sign_checkpoint(&signer, &frontier)?;
                store.append(&[], &[], Some(&row)).await?;
                bump(&metrics.checkpoints_signed, 1);
                row
            }
            None => {
                return Err(Error::Inconsistent(format!(
                    "{} records but no checkpoint: the checkpoints table was emptied",
                    stored.size
                )))
            }
        };
        let (size, _) = watch::channel(stored.size);
        Ok(AuditLog {
            store,
            signer,
            policy,
            metrics,
            size,
            tail: TailHub::default(),
            inline_guard: std::sync::OnceLock::new(),
            state: Mutex::new(WriterState {
                frontier,
                streams,
                last_checkpoint,
            }),
            _writer: writer,
        })
    }

    /// The store (for readers).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The checkpoint verifier key.
    pub fn verifier(&self) -> &NoteVerifier {
        self.signer.verifier()
    }

    /// The signer (for export manifests).
    pub(crate) fn signer(&self) -> &NoteSigner {
        &self.signer
    }

    /// The policy in force.
    pub fn policy(&self) -> CheckpointPolicy {
        self.policy
    }

    /// Appends the new records among `candidates`, in order; replays are acknowledged and
    /// conflicting replays refused. All in one transaction: on error nothing is stored.
    pub async fn append(&self, candidates: Vec<Candidate>) -> Result<AppendOutcome> {
        // Read once: the entries are observed for exactly the guard that applies them.
        let guard = self.inline_guard.get();
        let entries = candidates
            .into_iter()
            .map(|candidate| LogEntry::from_candidate(candidate, guard.is_some()))
            .collect();
        self.append_observed(entries, guard).await
    }

    /// [`Self::append`] for entries of any kind; their `observation`s are final (the
    /// collector's own guard records have none).
    pub async fn append_entries(&self, entries: Vec<LogEntry>) -> Result<AppendOutcome> {
        self.append_observed(entries, self.inline_guard.get()).await
    }

    async fn append_observed(
        &self,
        candidates: Vec<LogEntry>,
        guard: Option<&Arc<Guard>>,
    ) -> Result<AppendOutcome> {
        let mut state = self.state.lock().await;
        let mut in_batch: HashMap<(&str, u64), Hash> = HashMap::new();
        let mut fates = Vec::with_capacity(candidates.len());
        let mut lookups: Vec<(&str, u64)> = Vec::new();
        for candidate in &candidates {
            let key = (candidate.stream_id.as_str(), candidate.sequence);
            let fate = if let Some(hash) = in_batch.get(&key) {
                Fate::InBatch(*hash)
            } else if state.streams.contains(key.0, key.1) {
                lookups.push(key);
                Fate::Stored
            } else {
                in_batch.insert(key, candidate.leaf);
                Fate::New
            };
            fates.push(fate);
        }
        let stored_hashes = if lookups.is_empty() {
            HashMap::new()
        } else {
            self.store.leaf_hashes_by_key(&lookups).await?
        };

        let mut outcome = AppendOutcome::default();
        let mut frontier = state.frontier.clone();
        let mut nodes = Vec::new();
        let mut rows = Vec::new();
        let mut observations = Vec::new();
        let received = now_unix_nano();
        // Each entry is moved into its row: the canonical bytes written and hashed at ingest
        // go to the store as they are, never copied or rebuilt.
        for (candidate, fate) in candidates.into_iter().zip(fates) {
            let earlier = match fate {
                Fate::New => None,
                Fate::InBatch(hash) => Some(hash),
                Fate::Stored => {
                    let key = (candidate.stream_id.clone(), candidate.sequence);
                    Some(*stored_hashes.get(&key).ok_or_else(|| {
                        Error::Inconsistent(format!(
                            "stream {:?} sequence {} is indexed but not stored",
                            candidate.stream_id, candidate.sequence
                        ))
                    })?)
                }
            };
            match earlier {
                Some(hash) if hash == candidate.leaf => outcome.duplicates += 1,
                Some(_) => outcome.conflicts.push(Rejection {
                    reason: format!(
                        "stream {:?} sequence {} is already stored with different content",
                        candidate.stream_id, candidate.sequence
                    ),
                    position: candidate.position,
                }),
                None => {
                    if let Some(observation) = candidate.observation {
                        observations.push(Observation {
                            leaf_index: frontier.size(),
                            ..observation
                        });
                    }
                    frontier.push(candidate.leaf, &mut nodes);
                    rows.push(RecordRow {
                        leaf_index: frontier.size() - 1,
                        stream_id: candidate.stream_id,
                        sequence: candidate.sequence,
                        time_unix_nano: candidate.time_unix_nano,
                        received_unix_nano: received,
                        decision: candidate.decision,
                        subject: candidate.subject,
                        grant_id: candidate.grant_id,
                        model: candidate.model,
                        canonical: candidate.canonical,
                        leaf_hash: candidate.leaf,
                    });
                }
            }
        }
        outcome.stored = rows.len() as u64;

        let due = frontier.size() - state.last_checkpoint.size >= self.policy.every_records;
        let checkpoint = if due && !rows.is_empty() {
            Some(sign_checkpoint(&self.signer, &frontier)?)
        } else {
            None
        };
        let mut applied = None;
        if !rows.is_empty() {
            let rules = guard.map(|guard| guard.rules());
            let batch = guard.zip(rules.as_deref()).map(|(guard, rules)| Batch {
                log_id: guard.log_id(),
                stream_id: guard.stream_id(),
                first_leaf: state.frontier.size(),
                next_leaf: frontier.size(),
                observations,
                rules,
            });
            applied = self
                .store
                .append_applying(&rows, &nodes, checkpoint.as_ref(), batch)
                .await?;
        }

        // Committed: now memory may follow.
        for row in &rows {
            state.streams.insert(&row.stream_id, row.sequence);
        }
        state.frontier = frontier;
        if let Some(checkpoint) = checkpoint {
            state.last_checkpoint = checkpoint;
            bump(&self.metrics.checkpoints_signed, 1);
        }
        if let (Some(guard), Some(applied)) = (guard, applied) {
            guard.after_apply(state.frontier.size(), applied);
        }
        self.size.send_replace(state.frontier.size());
        if self.tail.is_watched() {
            for row in rows {
                self.tail.publish(TailEntry::from(row));
            }
        }
        bump(&self.metrics.records_stored, outcome.stored);
        bump(&self.metrics.records_duplicate, outcome.duplicates);
        bump(
            &self.metrics.records_rejected_conflict,
            outcome.conflicts.len() as u64,
        );
        for conflict in &outcome.conflicts {
            // Content differs for a key already stored: tampering in transit or a sender bug.
            tracing::warn!(position = %conflict.position, reason = %conflict.reason, "conflicting replay refused");
        }
        Ok(outcome)
    }

    /// Signs a checkpoint now if records arrived since the last one; returns the newest.
    pub async fn checkpoint_now(&self) -> Result<CheckpointRow> {
        let mut state = self.state.lock().await;
        if state.frontier.size() == state.last_checkpoint.size {
            return Ok(state.last_checkpoint.clone());
        }
        let row = sign_checkpoint(&self.signer, &state.frontier)?;
        self.store.append(&[], &[], Some(&row)).await?;
        state.last_checkpoint = row.clone();
        bump(&self.metrics.checkpoints_signed, 1);
        Ok(row)
    }

    /// The newest checkpoint.
    pub async fn latest_checkpoint(&self) -> CheckpointRow {
        self.state.lock().await.last_checkpoint.clone()
    }

    /// Has every ingest transaction add its batch to `guard`'s totals, whose tables are in
    /// this log's database (the guard's follower catches up whatever it does not).
    pub fn apply_guard_inline(&self, guard: Arc<Guard>) {
        // A second guard on one log is refused by `Guard::open`'s caller; keep the first.
        let _ = self.inline_guard.set(guard);
    }

    /// The log's size, updated after every commit: the guard waits on it for new records.
    pub fn watch_size(&self) -> watch::Receiver<u64> {
        self.size.subscribe()
    }

    /// New records as they are stored, for `GET /v1/tail`.
    pub fn tail(&self) -> &TailHub {
        &self.tail
    }

    /// Number of records.
    pub async fn size(&self) -> u64 {
        self.state.lock().await.frontier.size()
    }

    /// Every stream's delivery and gaps.
    pub async fn streams(&self) -> Vec<StreamSummary> {
        self.state.lock().await.streams.summaries()
    }

    /// The gauges for `/metrics`.
    pub async fn gauges(&self) -> LogGauges {
        let state = self.state.lock().await;
        let (streams, streams_with_gaps, missing_sequences) = state.streams.totals();
        LogGauges {
            tree_size: state.frontier.size(),
            checkpoint_size: state.last_checkpoint.size,
            streams,
            streams_with_gaps,
            missing_sequences,
        }
    }

    /// The counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

fn sign_checkpoint(signer: &NoteSigner, frontier: &Frontier) -> Result<CheckpointRow> {
    let checkpoint = Checkpoint {
        origin: signer.name().to_owned(),
        size: frontier.size(),
        root: frontier.root(),
    };
    Ok(CheckpointRow {
        size: checkpoint.size,
        root: checkpoint.root,
        note: checkpoint.sign(signer)?,
        created_unix_nano: now_unix_nano(),
    })
}

/// The frontier of the stored tree at `size`, from stored nodes.
pub(crate) async fn frontier_at(store: &Store, size: u64) -> Result<Frontier> {
    let ids = Frontier::node_ids(size);
    let found = store.nodes(&ids).await?;
    let hashes = ids
        .iter()
        .map(|id| {
            found.get(id).copied().ok_or_else(|| {
                Error::Inconsistent(format!(
                    "tree node (level {}, index {}) is missing",
                    id.level, id.index
                ))
            })
        })
        .collect::<Result<Vec<Hash>>>()?;
    Frontier::from_hashes(size, hashes).map_err(|e| Error::Inconsistent(e.to_string()))
}

/// A stored checkpoint must be ours and must match the stored tree at its size.
async fn check_stored_checkpoint(
    store: &Store,
    verifier: &NoteVerifier,
    row: &CheckpointRow,
    size: u64,
) -> Result<()> {
    let checkpoint = Checkpoint::open(&row.note, verifier).map_err(|e| {
        Error::Inconsistent(format!(
            "the newest checkpoint (size {}) does not verify with the signing key in use \
             (was the key file replaced?): {e}",
            row.size
        ))
    })?;
    if checkpoint.size != row.size || checkpoint.root != row.root {
        return Err(Error::Inconsistent(format!(
            "the checkpoint row for size {} disagrees with its signed note",
            row.size
        )));
    }
    if row.size > size {
        return Err(Error::Inconsistent(format!(
            "the newest checkpoint covers {} records but only {size} are stored: the log was truncated",
            row.size
        )));
    }
    let root = frontier_at(store, row.size).await?.root();
    if root != row.root {
        return Err(Error::Inconsistent(format!(
            "the stored tree at size {} does not match the checkpoint signed for it: \
             records or tree nodes were changed outside the collector",
            row.size
        )));
    }
    Ok(())
}

/// Leaf ids for a node list, for callers that fetch proofs.
pub(crate) fn unique_ids(ids: impl Iterator<Item = NodeId>) -> Vec<NodeId> {
    let mut ids: Vec<NodeId> = ids.collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}
