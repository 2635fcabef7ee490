//! What a successful verification established, and how `jitgate audit verify` prints it.

use std::fmt;

use crate::checkpoint::Checkpoint;
use crate::export::ExportFormat;
use crate::filter::RecordFilter;
use crate::streams::StreamSummary;

/// Where the checkpoint stands against the trusted one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustedCheck {
    /// The same tree.
    Same,
    /// Proved to extend the trusted tree of this size.
    Extends(u64),
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The framing.
    pub format: ExportFormat,
    /// The verified checkpoint.
    pub checkpoint: Checkpoint,
    /// The signed checkpoint note (to keep as the next trusted checkpoint).
    pub checkpoint_note: String,
    /// The export's filter.
    pub filter: RecordFilter,
    /// Records verified.
    pub records: u64,
    /// Size of the earlier checkpoint the export proved consistency from, if any.
    pub consistent_with: Option<u64>,
    /// The check against the reviewer's trusted checkpoint, if one was given.
    pub trusted: Option<TrustedCheck>,
    /// Every stream's delivery (full exports only: a filtered export shows only some
    /// sequence numbers, so gaps cannot be told from filtered-out records).
    pub streams: Option<Vec<StreamSummary>>,
}

impl VerifyReport {
    /// Streams with gaps, if known.
    pub fn streams_with_gaps(&self) -> Vec<&StreamSummary> {
        self.streams
            .iter()
            .flatten()
            .filter(|s| !s.gaps.is_empty())
            .collect()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let format = match self.format {
            ExportFormat::Jsonl => "JSON Lines",
            ExportFormat::Csv => "CSV",
        };
        let filter = if self.filter.is_everything() {
            "every record".to_owned()
        } else {
            self.filter.canonical()
        };
        writeln!(f, "export:      {format}, filter {filter}")?;
        writeln!(
            f,
            "checkpoint:  {} at size {}, root {} — signature OK",
            self.checkpoint.origin,
            self.checkpoint.size,
            self.checkpoint.root_base64()
        )?;
        writeln!(
            f,
            "records:     {} verified, each included in the checkpoint, in log order",
            self.records
        )?;
        writeln!(
            f,
            "manifest:    signature OK, record count and digest match"
        )?;
        match (&self.trusted, self.consistent_with) {
            (Some(TrustedCheck::Same), _) => {
                writeln!(f, "consistency: same tree as the trusted checkpoint")?
            }
            (Some(TrustedCheck::Extends(size)), _) => writeln!(
                f,
                "consistency: extends the trusted checkpoint at size {size} (append-only)"
            )?,
            (None, Some(size)) => writeln!(
                f,
                "consistency: extends the checkpoint at size {size} (not checked against a trusted one)"
            )?,
            (None, None) => writeln!(f, "consistency: no earlier checkpoint given")?,
        }
        match &self.streams {
            None => writeln!(
                f,
                "gaps:        not checked (a filtered export shows only some sequence numbers)"
            )?,
            Some(streams) => {
                let gapped = self.streams_with_gaps();
                if gapped.is_empty() {
                    writeln!(f, "gaps:        none in {} streams", streams.len())?;
                } else {
                    for stream in gapped {
                        let ranges: Vec<String> =
                            stream.gaps.iter().map(ToString::to_string).collect();
                        writeln!(
                            f,
                            "gaps:        stream {:?} is missing sequence {}",
                            stream.stream_id,
                            ranges.join(", ")
                        )?;
                    }
                }
            }
        }
        Ok(())
    }
}
