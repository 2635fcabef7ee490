//! The export file a reviewer takes away and verifies offline: what each line holds, the
//! signed manifest that closes it, and its two framings (JSON Lines and CSV).
//!
//! An export is a header (the signed checkpoint it is pinned to, the filter, and optionally
//! a consistency proof from an earlier checkpoint), one entry per matching record in log
//! order (the record's canonical OTLP JSON, its leaf index and its inclusion proof), and a
//! trailer carrying a manifest the collector signs: the filter, the checkpoint, the number of
//! records and a digest of their leaf indices and hashes. The manifest is what makes
//! deleting a record from a *filtered* export detectable; the inclusion proofs make editing
//! one detectable; leaf indices in strictly increasing order make reordering detectable.
//!
//! Every line is canonical JSON (see `canonical`), so `verify` can insist on byte equality.

pub mod csv;
pub mod stream;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use jitgate_grant::audit::text::push_decimal;

use crate::canonical::canonical_json;
use crate::merkle::Hash;

/// The format name and version, the header's `format` and the manifest's first line.
pub const FORMAT: &str = "jitgate-audit-export/1";

/// Which framing an export uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// One canonical JSON entry per line.
    #[default]
    Jsonl,
    /// A CSV table: readable columns for records plus the entry itself in the last column.
    Csv,
}

impl ExportFormat {
    /// The HTTP content type.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Jsonl => "application/jsonl",
            ExportFormat::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// One line of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Entry {
    /// The first line.
    Header {
        /// [`FORMAT`].
        format: String,
        /// The signed checkpoint every record is proved against.
        checkpoint: String,
        /// The filter's JSON form (empty object: every record).
        filter: Value,
        /// Proof that an earlier checkpoint is a prefix of this one.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        consistency: Option<Consistency>,
    },
    /// One record.
    Record {
        /// Position in the log.
        leaf_index: u64,
        /// The OTLP JSON log record (its canonical form is what the leaf hashes).
        record: Value,
        /// Inclusion proof against the header's checkpoint, base64 hashes.
        inclusion: Vec<String>,
    },
    /// The last line.
    Trailer {
        /// Records in the export.
        records: u64,
        /// The signed manifest (see [`Manifest`]).
        manifest: String,
    },
}

/// A consistency proof from an earlier checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consistency {
    /// The earlier signed checkpoint.
    pub checkpoint: String,
    /// The proof, base64 hashes.
    pub proof: Vec<String>,
}

impl Entry {
    /// The entry as its canonical JSON line (without the newline).
    pub fn to_line(&self) -> String {
        // Serializing these plain types to a Value cannot fail.
        canonical_json(&serde_json::to_value(self).unwrap_or(Value::Null))
    }
}

/// Appends a record entry's line (without the newline) for a record already in canonical
/// form: byte for byte what [`Entry::to_line`] writes for that record, without parsing the
/// record into a `Value` to write it again. The exporter writes every record line this way
/// and `verify` checks a line by writing it again from what it read.
pub fn push_record_line(out: &mut String, leaf_index: u64, inclusion: &[Hash], canonical: &str) {
    out.reserve(canonical.len() + 48 * inclusion.len() + 64);
    out.push_str(r#"{"inclusion":["#);
    for (i, hash) in inclusion.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        BASE64.encode_string(hash, out);
        out.push('"');
    }
    out.push_str(r#"],"leaf_index":"#);
    push_decimal(out, leaf_index);
    out.push_str(r#","record":"#);
    out.push_str(canonical);
    out.push_str(r#","type":"record"}"#);
}

/// What the collector signs at the end of an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The log.
    pub origin: String,
    /// The checkpoint's tree size.
    pub tree_size: u64,
    /// The checkpoint's root.
    pub root: Hash,
    /// The filter, canonical JSON.
    pub filter: String,
    /// Number of records.
    pub records: u64,
    /// [`ManifestDigest`] over the records.
    pub digest: Hash,
}

impl Manifest {
    /// The note text: the format line, then one field a line.
    pub fn text(&self) -> String {
        format!(
            "{FORMAT}\norigin {}\ntree-size {}\nroot {}\nfilter {}\nrecords {}\ndigest {}\n",
            self.origin,
            self.tree_size,
            BASE64.encode(self.root),
            self.filter,
            self.records,
            BASE64.encode(self.digest)
        )
    }

    /// Reads the note text back; `None` if it is not a manifest.
    pub fn parse(text: &str) -> Option<Manifest> {
        let mut lines = text.strip_suffix('\n')?.split('\n');
        if lines.next()? != FORMAT {
            return None;
        }
        let mut field = |name: &str| lines.next()?.strip_prefix(name)?.strip_prefix(' ');
        let origin = field("origin")?.to_owned();
        let tree_size = field("tree-size")?.parse().ok()?;
        let root = BASE64.decode(field("root")?).ok()?.try_into().ok()?;
        let filter = field("filter")?.to_owned();
        let records = field("records")?.parse().ok()?;
        let digest = BASE64.decode(field("digest")?).ok()?.try_into().ok()?;
        if lines.next().is_some() {
            return None;
        }
        Some(Manifest {
            origin,
            tree_size,
            root,
            filter,
            records,
            digest,
        })
    }
}

/// SHA-256 over each exported record's `leaf_index (8 bytes, big-endian) || leaf hash`.
#[derive(Debug, Clone, Default)]
pub struct ManifestDigest(Sha256);

impl ManifestDigest {
    /// Adds the next record.
    pub fn add(&mut self, leaf_index: u64, leaf: &Hash) {
        self.0.update(leaf_index.to_be_bytes());
        self.0.update(leaf);
    }

    /// The digest.
    pub fn finish(self) -> Hash {
        self.0.finalize().into()
    }
}

/// Base64 of each hash.
pub fn encode_hashes(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(|h| BASE64.encode(h)).collect()
}

/// Hashes from base64; `None` if any is not 32 bytes of strict base64.
pub fn decode_hashes(encoded: &[String]) -> Option<Vec<Hash>> {
    encoded
        .iter()
        .map(|e| BASE64.decode(e).ok()?.try_into().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn manifest_text_round_trips() {
        let manifest = Manifest {
            origin: "example.com/audit".into(),
            tree_size: 10,
            root: [1; 32],
            filter: r#"{"subject":"alice"}"#.into(),
            records: 3,
            digest: [2; 32],
        };
        let text = manifest.text();
        assert!(
            text.starts_with("jitgate-audit-export/1\norigin example.com/audit\ntree-size 10\n")
        );
        assert_eq!(Manifest::parse(&text), Some(manifest));
        assert_eq!(Manifest::parse("example.com/audit\n10\nAA==\n"), None);
    }

    #[test]
    fn entries_are_canonical_lines() {
        let entry = Entry::Record {
            leaf_index: 4,
            record: json!({"b": 1, "a": 2}),
            inclusion: vec!["x".into()],
        };
        let line = entry.to_line();
        assert_eq!(
            line,
            r#"{"inclusion":["x"],"leaf_index":4,"record":{"a":2,"b":1},"type":"record"}"#
        );
        let parsed: Entry = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed, entry);
    }

    #[test]
    fn record_lines_are_the_entry_lines() {
        let record = crate::bench::sample_record("vm-1", 3);
        let canonical = record.to_otlp_log_record_text();
        for inclusion in [vec![], vec![[7; 32]], vec![[1; 32], [255; 32]]] {
            let entry = Entry::Record {
                leaf_index: 1234,
                record: serde_json::from_str(&canonical).unwrap(),
                inclusion: encode_hashes(&inclusion),
            };
            let mut line = String::new();
            push_record_line(&mut line, 1234, &inclusion, &canonical);
            assert_eq!(line, entry.to_line());
        }
    }
}
