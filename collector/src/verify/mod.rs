//! Offline verification of an export with nothing but the collector's public key: the
//! checkpoint's signature, every record's inclusion in it, log order, the signed manifest
//! (nothing added, removed or moved), consistency with an earlier checkpoint the reviewer
//! trusts (the log was not truncated or rewritten since), and gaps in every stream.
//!
//! Reads the file once, front to back, in constant memory (apart from one set of sequence
//! runs per stream). Stops at the first problem with a message saying where and what.

mod lines;
mod report;

use std::fmt;
use std::io::BufRead;

use jitgate_grant::audit::AuditRecord;

use crate::canonical::{canonical_json, record_canonical_json};
use crate::checkpoint::Checkpoint;
use crate::export::{decode_hashes, Consistency, Entry, Manifest, ManifestDigest, FORMAT};
use crate::filter::RecordFilter;
use crate::guard::record::GuardRecord;
use crate::merkle::{leaf_hash, verify_consistency, verify_inclusion, Frontier, Hash};
use crate::note::NoteVerifier;
use crate::streams::StreamIndex;

pub use lines::{EntryReader, ReadEntry, RecordLine};
pub use report::{TrustedCheck, VerifyReport};

/// Whether gaps in streams fail verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GapPolicy {
    /// A full export with a gap in any stream fails (the log is incomplete).
    #[default]
    Fail,
    /// Gaps are reported but do not fail verification.
    Report,
}

/// What to verify against.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// The collector's checkpoint verifier key.
    pub key: NoteVerifier,
    /// A signed checkpoint from an earlier export the reviewer already trusts.
    pub trusted_checkpoint: Option<String>,
    /// What gaps mean.
    pub gaps: GapPolicy,
}

/// Verification failed: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyError {
    /// The line at fault, if one is.
    pub line: Option<u64>,
    /// What is wrong.
    pub message: String,
}

impl VerifyError {
    fn at(line: u64, message: impl Into<String>) -> VerifyError {
        VerifyError {
            line: Some(line),
            message: message.into(),
        }
    }

    fn general(message: impl Into<String>) -> VerifyError {
        VerifyError {
            line: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for VerifyError {}

/// Verifies an export read from `input`.
pub fn verify(input: impl BufRead, options: &VerifyOptions) -> Result<VerifyReport, VerifyError> {
    let mut reader = EntryReader::new(input);
    let Some((line, header)) = reader.next_entry()? else {
        return Err(VerifyError::general("the export is empty"));
    };
    let ReadEntry::Entry(Entry::Header {
        format,
        checkpoint: checkpoint_note,
        filter,
        consistency,
    }) = header
    else {
        return Err(VerifyError::at(line, "an export starts with its header"));
    };
    if format != FORMAT {
        return Err(VerifyError::at(
            line,
            format!("unknown export format {format:?} (this verifier reads {FORMAT})"),
        ));
    }
    let checkpoint = Checkpoint::open(&checkpoint_note, &options.key)
        .map_err(|e| VerifyError::at(line, e.to_string()))?;
    let filter = RecordFilter::from_json(&filter)
        .map_err(|e| VerifyError::at(line, format!("header: {e}")))?;
    let consistent_with = match &consistency {
        Some(consistency) => Some(check_consistency(line, consistency, &checkpoint, options)?.size),
        None => None,
    };
    let trusted = match &options.trusted_checkpoint {
        Some(note) => Some(check_trusted(
            note,
            &checkpoint,
            consistency.as_ref(),
            options,
        )?),
        None => None,
    };

    let full = filter.is_everything();
    let mut seen = RecordChecks {
        checkpoint: &checkpoint,
        filter: &filter,
        full,
        streams: StreamIndex::default(),
        frontier: Frontier::default(),
        digest: ManifestDigest::default(),
        records: 0,
        previous: None,
        first_missing: None,
    };
    loop {
        let Some((line, entry)) = reader.next_entry()? else {
            return Err(VerifyError::general(format!(
                "the export ends after line {} without its signed trailer: it was truncated",
                reader.line()
            )));
        };
        let entry = match entry {
            ReadEntry::Record(record) => {
                // Read, canonical and the collector's own line: only the proofs are left.
                seen.check(
                    line,
                    record.leaf_index,
                    record.leaf,
                    Ok(LoggedRecord::Audit(record.record)),
                    Some(record.inclusion),
                    |_| true,
                )?;
                continue;
            }
            ReadEntry::Entry(entry) => entry,
        };
        match entry {
            Entry::Header { .. } => {
                return Err(VerifyError::at(line, "a second header"));
            }
            Entry::Record {
                leaf_index,
                record,
                inclusion,
            } => {
                let canonical = canonical_json(&record);
                let leaf = leaf_hash(canonical.as_bytes());
                seen.check(
                    line,
                    leaf_index,
                    leaf,
                    LoggedRecord::parse(&record),
                    decode_hashes(&inclusion),
                    |parsed| parsed.canonical() == canonical,
                )?;
            }
            Entry::Trailer {
                records: claimed,
                manifest,
            } => {
                let RecordChecks {
                    streams,
                    frontier,
                    digest,
                    records,
                    first_missing,
                    ..
                } = seen;
                if full && records < checkpoint.size {
                    let missing = first_missing.unwrap_or(records);
                    return Err(VerifyError::general(format!(
                        "the checkpoint covers {} records but this full export holds {records}: \
                         the record at leaf index {missing} is missing (deleted or truncated)",
                        checkpoint.size
                    )));
                }
                check_trailer(
                    line,
                    Seen {
                        checkpoint: &checkpoint,
                        filter: &filter,
                        records,
                        claimed,
                        digest,
                    },
                    &manifest,
                    options,
                )?;
                if full && frontier.root() != checkpoint.root {
                    return Err(VerifyError::general(
                        "the records do not hash to the checkpoint's root",
                    ));
                }
                if let Some((line, _)) = reader.next_entry()? {
                    return Err(VerifyError::at(line, "content after the trailer"));
                }
                let report = VerifyReport {
                    format: reader.format().unwrap_or_default(),
                    checkpoint,
                    checkpoint_note,
                    filter,
                    records,
                    consistent_with,
                    trusted,
                    streams: full.then(|| streams.summaries()),
                };
                let gaps = report.streams_with_gaps();
                if !gaps.is_empty() && options.gaps == GapPolicy::Fail {
                    let listed: Vec<String> = gaps
                        .iter()
                        .map(|s| {
                            let ranges: Vec<String> =
                                s.gaps.iter().map(ToString::to_string).collect();
                            format!(
                                "stream {:?} is missing sequence {}",
                                s.stream_id,
                                ranges.join(", ")
                            )
                        })
                        .collect();
                    return Err(VerifyError::general(format!(
                        "the log has gaps: {}",
                        listed.join("; ")
                    )));
                }
                return Ok(report);
            }
        }
    }
}

/// What the record lines established so far, and the checks each one goes through.
struct RecordChecks<'a> {
    checkpoint: &'a Checkpoint,
    filter: &'a RecordFilter,
    full: bool,
    streams: StreamIndex,
    frontier: Frontier,
    digest: ManifestDigest,
    records: u64,
    previous: Option<u64>,
    first_missing: Option<u64>,
}

impl RecordChecks<'_> {
    /// Checks one record line, in order: log order, the inclusion proof, that it is a record,
    /// in canonical form (`canonical`), matching the filter, and (full exports) seen once.
    fn check(
        &mut self,
        line: u64,
        leaf_index: u64,
        leaf: Hash,
        parsed: Result<LoggedRecord, String>,
        proof: Option<Vec<Hash>>,
        canonical: impl FnOnce(&LoggedRecord) -> bool,
    ) -> Result<(), VerifyError> {
        if let Some(previous) = self.previous {
            if leaf_index <= previous {
                return Err(VerifyError::at(
                    line,
                    format!(
                        "leaf index {leaf_index} comes after leaf index {previous}: \
                         records are out of log order (moved or duplicated)"
                    ),
                ));
            }
        }
        let expected = self.previous.map_or(0, |p| p + 1);
        if leaf_index != expected && self.first_missing.is_none() {
            self.first_missing = Some(expected);
        }
        self.previous = Some(leaf_index);
        let described = match &parsed {
            Ok(r) => {
                let (stream, sequence) = r.stream_position();
                format!(
                    "record at leaf index {leaf_index} (stream {stream:?}, sequence {sequence})"
                )
            }
            Err(_) => format!("record at leaf index {leaf_index}"),
        };
        let proof = proof.ok_or_else(|| {
            VerifyError::at(
                line,
                format!("{described}: the inclusion proof is not base64 hashes"),
            )
        })?;
        let checkpoint = self.checkpoint;
        verify_inclusion(leaf_index, checkpoint.size, &leaf, &proof, &checkpoint.root).map_err(
            |e| {
                VerifyError::at(
                    line,
                    format!(
                        "{described} is not in the log at that position: {e} \
                         — the record was changed after it was logged"
                    ),
                )
            },
        )?;
        let parsed = parsed.map_err(|e| {
            VerifyError::at(line, format!("{described} is not an audit record: {e}"))
        })?;
        if !canonical(&parsed) {
            return Err(VerifyError::at(
                line,
                format!("{described} is not in canonical form"),
            ));
        }
        if !parsed.matches(self.filter) {
            return Err(VerifyError::at(
                line,
                format!("{described} does not match the export's filter"),
            ));
        }
        if self.full {
            self.frontier.push(leaf, &mut Vec::new());
            let (stream, sequence) = parsed.stream_position();
            if self.streams.contains(stream, sequence) {
                return Err(VerifyError::at(
                    line,
                    format!("{described}: this stream and sequence appear twice in the log"),
                ));
            }
            self.streams.insert(stream, sequence);
        }
        self.digest.add(leaf_index, &leaf);
        self.records += 1;
        Ok(())
    }
}

fn check_consistency(
    line: u64,
    consistency: &Consistency,
    checkpoint: &Checkpoint,
    options: &VerifyOptions,
) -> Result<Checkpoint, VerifyError> {
    let old = Checkpoint::open(&consistency.checkpoint, &options.key)
        .map_err(|e| VerifyError::at(line, format!("earlier {e}")))?;
    let proof = decode_hashes(&consistency.proof)
        .ok_or_else(|| VerifyError::at(line, "the consistency proof is not base64 hashes"))?;
    verify_consistency(
        old.size,
        checkpoint.size,
        &proof,
        &old.root,
        &checkpoint.root,
    )
    .map_err(|e| {
        VerifyError::at(
            line,
            format!(
                "the checkpoint (size {}) does not extend the earlier checkpoint (size {}): {e} \
                     — records it covered were changed, removed or reordered",
                checkpoint.size, old.size
            ),
        )
    })?;
    Ok(old)
}

fn check_trusted(
    note: &str,
    checkpoint: &Checkpoint,
    consistency: Option<&Consistency>,
    options: &VerifyOptions,
) -> Result<TrustedCheck, VerifyError> {
    let trusted = Checkpoint::open(note, &options.key)
        .map_err(|e| VerifyError::general(format!("trusted {e}")))?;
    if trusted.size > checkpoint.size {
        return Err(VerifyError::general(format!(
            "the export's checkpoint covers {} records, fewer than the {} of the trusted checkpoint: \
             the log was truncated or rolled back",
            checkpoint.size, trusted.size
        )));
    }
    if trusted.size == checkpoint.size {
        return if trusted.root == checkpoint.root {
            Ok(TrustedCheck::Same)
        } else {
            Err(VerifyError::general(format!(
                "the export's checkpoint and the trusted checkpoint both cover {} records but \
                 have different roots: the log was rewritten",
                trusted.size
            )))
        };
    }
    let Some(consistency) = consistency else {
        return Err(VerifyError::general(format!(
            "the export carries no consistency proof from the trusted checkpoint (size {}): \
             export again with --since-checkpoint",
            trusted.size
        )));
    };
    // Already verified against the export's checkpoint; it must be the trusted one.
    let earlier = Checkpoint::open(&consistency.checkpoint, &options.key)
        .map_err(|e| VerifyError::general(format!("earlier {e}")))?;
    if earlier.size != trusted.size {
        return Err(VerifyError::general(format!(
            "the export proves consistency from size {}, not from the trusted checkpoint's size {}: \
             export again with --since-checkpoint",
            earlier.size, trusted.size
        )));
    }
    if earlier.root != trusted.root {
        return Err(VerifyError::general(format!(
            "the collector's checkpoint at size {} differs from the trusted one: the log was rewritten",
            trusted.size
        )));
    }
    Ok(TrustedCheck::Extends(trusted.size))
}

/// What the records before the trailer established, for checking it.
struct Seen<'a> {
    checkpoint: &'a Checkpoint,
    filter: &'a RecordFilter,
    records: u64,
    claimed: u64,
    digest: ManifestDigest,
}

fn check_trailer(
    line: u64,
    seen: Seen<'_>,
    manifest_note: &str,
    options: &VerifyOptions,
) -> Result<(), VerifyError> {
    let Seen {
        checkpoint,
        filter,
        records,
        claimed,
        digest,
    } = seen;
    let text = options
        .key
        .open(manifest_note)
        .map_err(|e| VerifyError::at(line, format!("manifest: {e}")))?;
    let manifest = Manifest::parse(text)
        .ok_or_else(|| VerifyError::at(line, "the signed manifest is not an export manifest"))?;
    if manifest.origin != checkpoint.origin
        || manifest.tree_size != checkpoint.size
        || manifest.root != checkpoint.root
    {
        return Err(VerifyError::at(
            line,
            "the signed manifest is for another checkpoint than the header's",
        ));
    }
    if manifest.filter != filter.canonical() {
        return Err(VerifyError::at(
            line,
            format!(
                "the signed manifest is for filter {} but the header says {}",
                manifest.filter,
                filter.canonical()
            ),
        ));
    }
    if claimed != manifest.records {
        return Err(VerifyError::at(
            line,
            format!(
                "the trailer says {claimed} records but the signed manifest says {}",
                manifest.records
            ),
        ));
    }
    if records != manifest.records {
        return Err(VerifyError::at(
            line,
            format!(
                "the export holds {records} record{} but the collector signed for {}: records were {}",
                if records == 1 { "" } else { "s" },
                manifest.records,
                if records < manifest.records { "removed" } else { "added" }
            ),
        ));
    }
    if digest.finish() != manifest.digest {
        return Err(VerifyError::at(
            line,
            "the records are not the ones the collector signed for in the manifest \
             (a record was replaced, removed or moved)",
        ));
    }
    Ok(())
}

/// A logged record of either shape: a gateway or issuer record, or a guard record.
// One value lives at a time (a line being verified), so the size of the larger variant costs
// nothing worth a box per line.
#[allow(clippy::large_enum_variant)]
enum LoggedRecord {
    Audit(AuditRecord),
    Guard(GuardRecord),
}

impl LoggedRecord {
    fn parse(record: &serde_json::Value) -> Result<LoggedRecord, String> {
        if GuardRecord::is_guard_record(record) {
            GuardRecord::from_otlp_log_record(record).map(LoggedRecord::Guard)
        } else {
            AuditRecord::from_otlp_log_record(record)
                .map(LoggedRecord::Audit)
                .map_err(|e| e.to_string())
        }
    }

    fn stream_position(&self) -> (&str, u64) {
        match self {
            LoggedRecord::Audit(r) => (&r.stream_id, r.sequence),
            LoggedRecord::Guard(r) => (&r.stream_id, r.sequence),
        }
    }

    fn canonical(&self) -> String {
        match self {
            LoggedRecord::Audit(r) => record_canonical_json(r),
            LoggedRecord::Guard(r) => canonical_json(&r.to_otlp_log_record()),
        }
    }

    fn matches(&self, filter: &RecordFilter) -> bool {
        match self {
            LoggedRecord::Audit(r) => filter.matches(r),
            LoggedRecord::Guard(r) => filter.matches_guard(r),
        }
    }
}
