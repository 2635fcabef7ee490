//! Reading an export file line by line into entries, for either framing, refusing anything
//! that is not byte-for-byte what the collector writes: a line without its newline, a stray
//! carriage return, an extra space, a reordered key.

use std::io::BufRead;

use super::VerifyError;
use crate::export::{csv, Entry, ExportFormat};

/// The entries of an export, in file order, with their line numbers.
pub struct EntryReader<R> {
    input: R,
    line: u64,
    format: Option<ExportFormat>,
    buffer: Vec<u8>,
}

impl<R: BufRead> EntryReader<R> {
    /// Reads from `input`.
    pub fn new(input: R) -> Self {
        EntryReader {
            input,
            line: 0,
            format: None,
            buffer: Vec::new(),
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
    pub fn next_entry(&mut self) -> Result<Option<(u64, Entry)>, VerifyError> {
        let Some(text) = self.next_line()? else {
            return Ok(None);
        };
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
                csv::parse_row(&text).map_err(|problem| VerifyError::at(line, problem))?
            }
            _ => {
                let entry: Entry = serde_json::from_str(&text)
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
        Ok(Some((line, entry)))
    }

    fn next_line(&mut self) -> Result<Option<String>, VerifyError> {
        self.buffer.clear();
        let read = self
            .input
            .read_until(b'\n', &mut self.buffer)
            .map_err(|e| VerifyError::general(format!("reading the export: {e}")))?;
        if read == 0 {
            return Ok(None);
        }
        self.line += 1;
        if self.buffer.pop() != Some(b'\n') {
            return Err(VerifyError::at(
                self.line,
                "does not end with a newline: the export was cut short",
            ));
        }
        String::from_utf8(std::mem::take(&mut self.buffer))
            .map(Some)
            .map_err(|_| VerifyError::at(self.line, "not valid UTF-8"))
    }
}
