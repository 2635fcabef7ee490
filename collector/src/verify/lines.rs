//! Reading an export file line by line into entries, for either framing, refusing anything
//! that is not byte-for-byte what the collector writes: a line without its newline, a stray
//! carriage return, an extra space, a reordered key.
//!
//! A JSON Lines record line of a gateway or issuer record — nearly every line — takes a
//! direct path: the record is read by the typed reader (no `Value` tree), written again by
//! the one encoder, and the whole line written again around it; if that is the line, it is
//! what the collector wrote. Anything else (a header, a trailer, a guard record, a line that
//! differs anywhere) goes the general way, which also says precisely what is wrong.

use std::io::BufRead;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use jitgate_grant::audit::AuditRecord;

use super::VerifyError;
use crate::export::{csv, push_record_line, Entry, ExportFormat};
use crate::merkle::{leaf_hash, Hash};

/// One entry as read.
// Lines are read one at a time, so the larger variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
pub enum ReadEntry {
    /// Any entry, read the general way.
    Entry(Entry),
    /// A gateway or issuer record line, checked to be byte for byte the collector's.
    Record(RecordLine),
}

/// A record line taken the direct path: its record is in canonical form and the line is
/// exactly what the collector writes for it.
pub struct RecordLine {
    /// Position in the log.
    pub leaf_index: u64,
    /// The record.
    pub record: AuditRecord,
    /// The leaf hash of its canonical bytes.
    pub leaf: Hash,
    /// Its inclusion proof.
    pub inclusion: Vec<Hash>,
}

/// The direct path for one line; `None` sends it the general way.
fn record_line(text: &str, again: &mut String) -> Option<RecordLine> {
    let rest = text.strip_prefix(r#"{"inclusion":["#)?;
    let (hashes, rest) = rest.split_once(r#"],"leaf_index":"#)?;
    let (index, rest) = rest.split_once(r#","record":"#)?;
    let canonical = rest.strip_suffix(r#","type":"record"}"#)?;
    let leaf_index: u64 = index.parse().ok()?;
    let inclusion = if hashes.is_empty() {
        Vec::new()
    } else {
        hashes
            .split(',')
            .map(|quoted| {
                let encoded = quoted.strip_prefix('"')?.strip_suffix('"')?;
                BASE64.decode(encoded).ok()?.try_into().ok()
            })
            .collect::<Option<Vec<Hash>>>()?
    };
    let record = AuditRecord::from_otlp_log_record_text(canonical).ok()?;
    again.clear();
    record.write_otlp_log_record(again);
    if again != canonical {
        return None;
    }
    again.clear();
    push_record_line(again, leaf_index, &inclusion, canonical);
    if again != text {
        return None;
    }
    Some(RecordLine {
        leaf_index,
        leaf: leaf_hash(canonical.as_bytes()),
        record,
        inclusion,
    })
}

/// The entries of an export, in file order, with their line numbers.
pub struct EntryReader<R> {
    input: R,
    line: u64,
    format: Option<ExportFormat>,
    buffer: Vec<u8>,
    /// Where the direct path writes a record and its line again.
    scratch: String,
}

impl<R: BufRead> EntryReader<R> {
    /// Reads from `input`.
    pub fn new(input: R) -> Self {
        EntryReader {
            input,
            line: 0,
            format: None,
            buffer: Vec::new(),
            scratch: String::new(),
        }
    }

    /// The framing, known once the first line is read.
    pub fn format(&self) -> Option<ExportFormat> {
        self.format
    }

    /// The number of the last line read.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The next entry and its line number, or `None` at the end of the file.
    pub fn next_entry(&mut self) -> Result<Option<(u64, ReadEntry)>, VerifyError> {
        if !self.next_line()? {
            return Ok(None);
        }
        // The line stays in the reader's buffer, which keeps its capacity from line to line.
        let text = std::str::from_utf8(&self.buffer)
            .map_err(|_| VerifyError::at(self.line, "not valid UTF-8"))?;
        if self.format.is_none() {
            if text == csv::HEADER {
                self.format = Some(ExportFormat::Csv);
                return self.next_entry();
            }
            self.format = Some(ExportFormat::Jsonl);
        }
        let line = self.line;
        let entry = match self.format {
            Some(ExportFormat::Csv) => {
                csv::parse_row(text).map_err(|problem| VerifyError::at(line, problem))?
            }
            _ => {
                if let Some(record) = record_line(text, &mut self.scratch) {
                    return Ok(Some((line, ReadEntry::Record(record))));
                }
                let entry: Entry = serde_json::from_str(text)
                    .map_err(|e| VerifyError::at(line, format!("not an export entry: {e}")))?;
                if entry.to_line() != text {
                    return Err(VerifyError::at(
                        line,
                        "not exactly as the collector wrote it (the line was edited)",
                    ));
                }
                entry
            }
        };
        Ok(Some((line, ReadEntry::Entry(entry))))
    }

    /// Reads the next line into the buffer, without its newline; `false` at the end.
    fn next_line(&mut self) -> Result<bool, VerifyError> {
        self.buffer.clear();
        let read = self
            .input
            .read_until(b'\n', &mut self.buffer)
            .map_err(|e| VerifyError::general(format!("reading the export: {e}")))?;
        if read == 0 {
            return Ok(false);
        }
        self.line += 1;
        if self.buffer.pop() != Some(b'\n') {
            return Err(VerifyError::at(
                self.line,
                "does not end with a newline: the export was cut short",
            ));
        }
        Ok(true)
    }
}
