//! Checkpoints (C2SP `tlog-checkpoint`): the signed statement "the log with this origin has
//! this many records and this RFC 6962 root hash". The collector signs one every N records
//! or T seconds; exports carry one; `verify` checks every record against it.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

use crate::merkle::Hash;
use crate::note::{NoteError, NoteSigner, NoteVerifier};

/// A tree head: origin, size and root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity; also the name of the key that signs it.
    pub origin: String,
    /// Number of records.
    pub size: u64,
    /// RFC 6962 root hash over those records.
    pub root: Hash,
}

/// A checkpoint that could not be read or trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The note around it is malformed or its signature does not verify.
    #[error("checkpoint: {0}")]
    Note(#[from] NoteError),
    /// The note text is not a checkpoint.
    #[error("checkpoint: malformed text: {0}")]
    Malformed(&'static str),
    /// Signed by the right key for a different log.
    #[error("checkpoint: origin is {found:?}, expected {expected:?}")]
    WrongOrigin {
        /// The verifier key's name.
        expected: String,
        /// The checkpoint's first line.
        found: String,
    },
}

impl Checkpoint {
    /// The note text: origin, size and base64 root, each on its own line.
    pub fn text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root)
        )
    }

    /// The signed note.
    pub fn sign(&self, signer: &NoteSigner) -> Result<String, NoteError> {
        signer.sign(&self.text())
    }

    /// Reads a checkpoint's note text (already verified).
    pub fn parse(text: &str) -> Result<Checkpoint, CheckpointError> {
        let mut lines = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::Malformed("does not end with a newline"))?
            .split('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or(CheckpointError::Malformed("the origin line is empty"))?;
        let size = lines
            .next()
            .ok_or(CheckpointError::Malformed("no tree size line"))?;
        if size.is_empty()
            || !size.bytes().all(|b| b.is_ascii_digit())
            || (size.len() > 1 && size.starts_with('0'))
        {
            return Err(CheckpointError::Malformed(
                "the tree size is not a decimal number without leading zeros",
            ));
        }
        let size = size
            .parse()
            .map_err(|_| CheckpointError::Malformed("the tree size is too large"))?;
        let root = lines
            .next()
            .ok_or(CheckpointError::Malformed("no root hash line"))?;
        let root: Hash = BASE64
            .decode(root)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(CheckpointError::Malformed(
                "the root hash is not 32 bytes of base64",
            ))?;
        if lines.any(str::is_empty) {
            return Err(CheckpointError::Malformed("an extension line is empty"));
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
        })
    }

    /// Verifies a signed checkpoint note with the log's key and reads it. The origin must be
    /// the key's name, so a key cannot vouch for another log's checkpoints.
    pub fn open(note: &str, verifier: &NoteVerifier) -> Result<Checkpoint, CheckpointError> {
        let checkpoint = Checkpoint::parse(verifier.open(note)?)?;
        if checkpoint.origin != verifier.name() {
            return Err(CheckpointError::WrongOrigin {
                expected: verifier.name().to_owned(),
                found: checkpoint.origin,
            });
        }
        Ok(checkpoint)
    }

    /// The root hash as base64, as the note writes it.
    pub fn root_base64(&self) -> String {
        BASE64.encode(self.root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(name: &str) -> NoteSigner {
        NoteSigner::from_seed(name, [3; 32]).unwrap()
    }

    #[test]
    fn signs_in_tlog_checkpoint_form_and_opens() {
        let checkpoint = Checkpoint {
            origin: "example.com/audit".into(),
            size: 20852163,
            root: [9; 32],
        };
        let signer = signer("example.com/audit");
        let note = checkpoint.sign(&signer).unwrap();
        let mut lines = note.lines();
        assert_eq!(lines.next(), Some("example.com/audit"));
        assert_eq!(lines.next(), Some("20852163"));
        assert_eq!(
            lines.next(),
            Some("CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=")
        );
        assert_eq!(lines.next(), Some(""));
        assert!(lines
            .next()
            .unwrap()
            .starts_with("\u{2014} example.com/audit "));
        assert_eq!(
            Checkpoint::open(&note, signer.verifier()).unwrap(),
            checkpoint
        );
    }

    #[test]
    fn refuses_another_logs_checkpoint() {
        let signer = signer("example.com/audit");
        let other = Checkpoint {
            origin: "example.com/other".into(),
            size: 1,
            root: [0; 32],
        };
        let note = signer.sign(&other.text()).unwrap();
        assert_eq!(
            Checkpoint::open(&note, signer.verifier())
                .unwrap_err()
                .to_string(),
            "checkpoint: origin is \"example.com/other\", expected \"example.com/audit\""
        );
    }

    #[test]
    fn refuses_malformed_text() {
        for (text, problem) in [
            (
                "o\n012\nAA==\n",
                "the tree size is not a decimal number without leading zeros",
            ),
            ("o\n12\nAA==\n", "the root hash is not 32 bytes of base64"),
            ("o\n12\n", "no root hash line"),
            ("\n1\nAA==\n", "the origin line is empty"),
        ] {
            assert_eq!(
                Checkpoint::parse(text).unwrap_err(),
                CheckpointError::Malformed(problem),
                "{text:?}"
            );
        }
    }
}
