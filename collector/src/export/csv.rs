//! The CSV framing of an export: a spreadsheet-friendly table. Record rows show the fields
//! reviewers sort and filter on; the last column of every row holds the export entry itself
//! (the same canonical JSON a JSON Lines export has on that line), which is what `verify`
//! checks. The readable columns are derived from that entry, so `verify` re-derives the whole
//! row and insists it is byte-for-byte what the file holds.
//!
//! Cells are made safe for spreadsheets: control characters become U+FFFD (so a row is
//! always one line) and a cell starting with `=`, `+`, `-` or `@` gets a leading `'` so it
//! is never run as a formula.

use jitgate_grant::audit::AuditRecord;

use crate::guard::record::{GuardRecord, GUARD_DECISION};

use super::Entry;
use crate::filter::format_time;

/// The header row (without its newline).
pub const HEADER: &str = "type,leaf_index,time,stream_id,sequence,decision,reason,subject,grant_id,model,status,input_tokens,output_tokens,entry";

const COLUMNS: usize = 14;

/// The header row with its newline.
pub fn header_row() -> String {
    format!("{HEADER}\n")
}

/// The row for an entry, with its newline.
pub fn row(entry: &Entry) -> String {
    let (kind, display) = match entry {
        Entry::Header { .. } => ("header", empty_display()),
        Entry::Trailer { .. } => ("trailer", empty_display()),
        Entry::Record {
            leaf_index, record, ..
        } => ("record", record_display(*leaf_index, record)),
    };
    let mut cells: Vec<String> = Vec::with_capacity(COLUMNS);
    cells.push(kind.to_owned());
    cells.extend(display.into_iter().map(|cell| safe_cell(&cell)));
    cells.push(entry.to_line());
    let mut writer = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::Any(b'\n'))
        .quote_style(::csv::QuoteStyle::Necessary)
        .from_writer(Vec::new());
    // Writing to a Vec cannot fail, and every cell is valid UTF-8.
    let _ = writer.write_record(&cells);
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

/// Reads one row (without its newline) back to its entry, refusing any row that is not
/// exactly what [`row`] writes for that entry.
pub fn parse_row(line: &str) -> Result<Entry, String> {
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(line.as_bytes());
    let record = reader
        .records()
        .next()
        .ok_or("empty row")?
        .map_err(|e| format!("not a CSV row: {e}"))?;
    if record.len() != COLUMNS {
        return Err(format!(
            "expected {COLUMNS} columns, found {}",
            record.len()
        ));
    }
    let entry_text = record.get(COLUMNS - 1).unwrap_or_default();
    let entry: Entry = serde_json::from_str(entry_text)
        .map_err(|e| format!("the entry column is not an export entry: {e}"))?;
    if row(&entry) != format!("{line}\n") {
        return Err(
            "the row is not exactly as the collector wrote it (a column was edited?)".into(),
        );
    }
    Ok(entry)
}

fn empty_display() -> Vec<String> {
    vec![String::new(); COLUMNS - 2]
}

fn record_display(leaf_index: u64, record: &serde_json::Value) -> Vec<String> {
    if let Ok(firing) = GuardRecord::from_otlp_log_record(record) {
        return guard_display(leaf_index, &firing);
    }
    let Ok(record) = AuditRecord::from_otlp_log_record(record) else {
        let mut display = empty_display();
        display[0] = leaf_index.to_string();
        return display;
    };
    let optional = |value: &Option<String>| value.clone().unwrap_or_default();
    let number = |value: Option<u64>| value.map(|n| n.to_string()).unwrap_or_default();
    vec![
        leaf_index.to_string(),
        format_time(record.time_unix_nano),
        record.stream_id.clone(),
        record.sequence.to_string(),
        record.decision.as_str().to_owned(),
        record.reason.clone(),
        optional(&record.subject),
        optional(&record.grant_id),
        optional(&record.model),
        record.status.to_string(),
        number(record.input_tokens),
        number(record.output_tokens),
    ]
}

/// A firing's row: decision `guard`, reason `guard:<rule>`, no model, status or tokens.
fn guard_display(leaf_index: u64, firing: &GuardRecord) -> Vec<String> {
    let mut display = empty_display();
    display[0] = leaf_index.to_string();
    display[1] = format_time(firing.time_unix_nano);
    display[2] = firing.stream_id.clone();
    display[3] = firing.sequence.to_string();
    display[4] = GUARD_DECISION.to_owned();
    display[5] = format!("guard:{}", firing.rule);
    display[6] = firing.subject.clone().unwrap_or_default();
    display[7] = firing.grant_id.clone();
    display
}

fn safe_cell(cell: &str) -> String {
    let cleaned: String = cell
        .chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    if cleaned.starts_with(['=', '+', '-', '@']) {
        format!("'{cleaned}")
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use jitgate_grant::audit::AuditDecision;

    use super::*;

    fn record_entry(subject: &str) -> Entry {
        let mut record = crate::bench::sample_record("vm-1", 7);
        record.subject = Some(subject.into());
        record.decision = AuditDecision::Deny;
        Entry::Record {
            leaf_index: 3,
            record: record.to_otlp_log_record(),
            inclusion: vec!["AAAA".into()],
        }
    }

    #[test]
    fn rows_show_the_record_and_parse_back() {
        let entry = record_entry("alice@example.com");
        let row = row(&entry);
        assert!(row.starts_with(
            "record,3,2026-01-01T00:00:00.007000000Z,vm-1,7,deny,granted,alice@example.com,g-7,meta-llama/Llama-3.1-8B-Instruct,200,57,211,\"{"
        ));
        assert!(row.ends_with("}\"\n"));
        assert_eq!(parse_row(row.trim_end_matches('\n')).unwrap(), entry);
    }

    #[test]
    fn cells_are_one_line_and_never_formulas() {
        let entry = record_entry("=HYPERLINK(\"x\")\nsecond");
        let row = row(&entry);
        assert_eq!(row.matches('\n').count(), 1);
        assert!(row.contains(",\"'=HYPERLINK(\"\"x\"\")\u{fffd}second\","));
        assert_eq!(parse_row(row.trim_end_matches('\n')).unwrap(), entry);
    }

    #[test]
    fn an_edited_column_is_refused() {
        let row = row(&record_entry("alice@example.com"));
        let edited = row.replacen("alice@example.com", "mallory@example.com", 1);
        assert_eq!(
            parse_row(edited.trim_end_matches('\n')).unwrap_err(),
            "the row is not exactly as the collector wrote it (a column was edited?)"
        );
        let header = super::row(&Entry::Trailer {
            records: 0,
            manifest: "m".into(),
        });
        assert!(header.starts_with("trailer,,,,,,,,,,,,,"));
    }
}
