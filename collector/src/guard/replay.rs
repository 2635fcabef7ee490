//! Recomputing the guard's firings from an export alone (`jitgate audit guard-replay`): the
//! export's gateway records, in log order, through the same arithmetic the guard runs
//! (`evaluate::Tally`), under one rules file; then each recomputed firing is compared with the
//! guard records the export holds. Run `jitgate audit verify` on the export first: this reads
//! it, it does not check its proofs.
//!
//! A replay matches the log when the export holds every record the guard counted (a full
//! export, or one filtered by grant for grant-counted rules) and the same rules were in force
//! throughout. Totals shared by several collectors count the records of all their logs:
//! a replay of one log's export recomputes that log's share only.

use std::collections::BTreeMap;
use std::io::BufRead;

use jitgate_grant::audit::AuditRecord;

use super::evaluate::{Firing, Tally};
use super::observe::observe;
use super::record::GuardRecord;
use super::rules::Rules;
use crate::export::Entry;
use crate::verify::{EntryReader, ReadEntry};

/// Records applied at a time (the result does not depend on it).
const BATCH: usize = 10_000;

/// What a replay found.
#[derive(Debug, Default)]
pub struct Replay {
    /// Records read.
    pub records: u64,
    /// Firings recomputed, in log order of their evidence.
    pub recomputed: Vec<Firing>,
    /// Guard records found in the export, by firing id.
    pub logged: BTreeMap<String, GuardRecord>,
    /// The totals recomputed.
    pub tally: Tally,
}

/// How a recomputed firing compares with the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Comparison {
    /// In the log, the same rule, grant, window, counts, evidence and detail.
    Matches,
    /// In the log with different content: what differs.
    Differs(String),
    /// Not in the export.
    NotLogged,
}

impl Replay {
    /// How `firing` compares with the guard record of the same id in the export.
    pub fn compare(&self, firing: &Firing) -> Comparison {
        let Some(logged) = self.logged.get(&firing.firing_id) else {
            return Comparison::NotLogged;
        };
        let expected = firing.to_record(&logged.stream_id, logged.sequence);
        if &expected == logged {
            Comparison::Matches
        } else {
            Comparison::Differs(format!(
                "logged {:?} with counts {:?} at leaf {}, recomputed {:?} with counts {:?} at leaf {}",
                logged.detail,
                logged.counts,
                logged.evidence_leaf_index,
                expected.detail,
                expected.counts,
                expected.evidence_leaf_index
            ))
        }
    }

    /// Guard records in the export that the replay did not recompute.
    pub fn unexplained(&self) -> Vec<&GuardRecord> {
        self.logged
            .values()
            .filter(|logged| {
                !self
                    .recomputed
                    .iter()
                    .any(|firing| firing.firing_id == logged.firing_id)
            })
            .collect()
    }
}

/// Replays `export` (JSON Lines or CSV) under `rules`.
pub fn replay(export: impl BufRead, rules: &Rules) -> Result<Replay, String> {
    let mut reader = EntryReader::new(export);
    let mut replay = Replay::default();
    let mut batch = Vec::new();
    while let Some((line, entry)) = reader.next_entry().map_err(|e| e.to_string())? {
        let (leaf_index, record) = match entry {
            ReadEntry::Record(line) => (line.leaf_index, line.record),
            ReadEntry::Entry(Entry::Record {
                leaf_index, record, ..
            }) => {
                if GuardRecord::is_guard_record(&record) {
                    replay.records += 1;
                    let logged = GuardRecord::from_otlp_log_record(&record)
                        .map_err(|e| format!("line {line}: {e}"))?;
                    replay.logged.insert(logged.firing_id.clone(), logged);
                    continue;
                }
                let record = AuditRecord::from_otlp_log_record(&record)
                    .map_err(|e| format!("line {line}: not an audit record: {e}"))?;
                (leaf_index, record)
            }
            ReadEntry::Entry(_) => continue,
        };
        replay.records += 1;
        batch.extend(observe(leaf_index, &record));
        if batch.len() >= BATCH {
            let firings = replay.tally.apply(rules, std::mem::take(&mut batch));
            replay.recomputed.extend(firings);
        }
    }
    let firings = replay.tally.apply(rules, batch);
    replay.recomputed.extend(firings);
    Ok(replay)
}
