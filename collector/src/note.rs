//! Signed notes (C2SP `signed-note`) with Ed25519 keys: how checkpoints and export manifests
//! are signed, and the key strings operators and reviewers pass around.
//!
//! Key strings use the Go `golang.org/x/mod/sumdb/note` forms, so existing tooling reads them:
//! verifier `<name>+<key id hex>+<base64(0x01 || public key)>` and signer
//! `PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || seed)>`. The key id is
//! `SHA-256(name || 0x0A || 0x01 || public key)[:4]`.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ed25519_compact::{KeyPair, PublicKey, Seed, Signature};
use sha2::{Digest, Sha256};

/// The signature type byte of Ed25519 in signed notes.
const ED25519: u8 = 0x01;

/// The em dash that opens a signature line.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// Notes longer than this are refused before any parsing.
const MAX_NOTE_BYTES: usize = 64 * 1024;

/// Signature lines beyond this many are refused (the spec asks verifiers to accept 16).
const MAX_SIGNATURES: usize = 16;

/// A note or key that could not be read or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// A key string that is not in the expected form.
    #[error("malformed key: {0}")]
    MalformedKey(&'static str),
    /// A note that is not in signed-note form.
    #[error("malformed signed note: {0}")]
    Malformed(&'static str),
    /// The note carries no signature by the key being checked.
    #[error("the note is not signed by key {0}")]
    NotSigned(String),
    /// A signature by the key being checked that does not verify.
    #[error(
        "the signature by key {0} does not verify: the note was changed or signed by another key"
    )]
    BadSignature(String),
    /// A key name the spec does not allow.
    #[error("key name {0:?} is empty or contains a space or '+'")]
    BadKeyName(String),
}

/// Who can verify notes: a key name and an Ed25519 public key.
#[derive(Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: [u8; 4],
    public_key: PublicKey,
}

/// Who signs notes. Its `Debug` never shows the key.
pub struct NoteSigner {
    verifier: NoteVerifier,
    key_pair: KeyPair,
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.verifier.name)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string())
    }
}

fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(NoteError::BadKeyName(name.to_owned()));
    }
    Ok(())
}

fn key_id(name: &str, public_key: &PublicKey) -> [u8; 4] {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([b'\n', ED25519]);
    hasher.update(public_key.as_ref());
    let digest = hasher.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl NoteSigner {
    /// The signer for a 32-byte Ed25519 seed.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<NoteSigner, NoteError> {
        check_name(name)?;
        let key_pair = KeyPair::from_seed(Seed::new(seed));
        Ok(NoteSigner {
            verifier: NoteVerifier {
                name: name.to_owned(),
                key_id: key_id(name, &key_pair.pk),
                public_key: key_pair.pk,
            },
            key_pair,
        })
    }

    /// Reads `PRIVATE+KEY+<name>+<id>+<base64>`.
    pub fn parse(text: &str) -> Result<NoteSigner, NoteError> {
        let rest = text
            .trim_end_matches('\n')
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::MalformedKey(
                "a signer key starts with PRIVATE+KEY+",
            ))?;
        let (name, id, key) = split_key(rest)?;
        let seed: [u8; 32] = key
            .try_into()
            .map_err(|_| NoteError::MalformedKey("an Ed25519 seed is 32 bytes"))?;
        let signer = NoteSigner::from_seed(name, seed)?;
        if signer.verifier.key_id != id {
            return Err(NoteError::MalformedKey("the key id does not match the key"));
        }
        Ok(signer)
    }

    /// The signer key string, for the key file. Never log it.
    pub fn to_private_key_text(&self) -> String {
        let mut key = vec![ED25519];
        key.extend_from_slice(self.key_pair.sk.seed().as_ref());
        format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.verifier.name,
            hex(&self.verifier.key_id),
            BASE64.encode(key)
        )
    }

    /// The matching verifier.
    pub fn verifier(&self) -> &NoteVerifier {
        &self.verifier
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.verifier.name
    }

    /// `text` (which must end in a newline) as a signed note with this key's signature.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        check_text(text)?;
        let signature = self.key_pair.sk.sign(text.as_bytes(), None);
        let mut blob = self.verifier.key_id.to_vec();
        blob.extend_from_slice(signature.as_ref());
        Ok(format!(
            "{text}\n{SIGNATURE_PREFIX}{} {}\n",
            self.verifier.name,
            BASE64.encode(blob)
        ))
    }
}

impl NoteVerifier {
    /// Reads `<name>+<id>+<base64>`.
    pub fn parse(text: &str) -> Result<NoteVerifier, NoteError> {
        let (name, id, key) = split_key(text.trim())?;
        check_name(name)?;
        let public_key = PublicKey::from_slice(&key)
            .map_err(|_| NoteError::MalformedKey("an Ed25519 public key is 32 bytes"))?;
        let verifier = NoteVerifier {
            name: name.to_owned(),
            key_id: key_id(name, &public_key),
            public_key,
        };
        if verifier.key_id != id {
            return Err(NoteError::MalformedKey("the key id does not match the key"));
        }
        Ok(verifier)
    }

    /// The key name (for checkpoints, the log's origin).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks the note's signature by this key and returns its text (ending in a newline).
    /// Signatures by other keys are ignored, as the spec requires.
    pub fn open<'n>(&self, note: &'n str) -> Result<&'n str, NoteError> {
        if note.len() > MAX_NOTE_BYTES {
            return Err(NoteError::Malformed("longer than 64 KiB"));
        }
        if note
            .chars()
            .any(|c| c.is_control() && c != '\n' && u32::from(c) < 0x20)
        {
            return Err(NoteError::Malformed("contains a control character"));
        }
        if !note.ends_with('\n') {
            return Err(NoteError::Malformed("does not end with a newline"));
        }
        let split = note
            .rfind("\n\n")
            .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
        let (text, signatures) = (&note[..=split], &note[split + 2..]);
        let lines: Vec<&str> = signatures
            .strip_suffix('\n')
            .unwrap_or("")
            .split('\n')
            .collect();
        if lines.len() > MAX_SIGNATURES {
            return Err(NoteError::Malformed("more than 16 signatures"));
        }
        let mut found = false;
        for line in lines {
            let rest = line
                .strip_prefix(SIGNATURE_PREFIX)
                .ok_or(NoteError::Malformed(
                    "a signature line must start with an em dash and a space",
                ))?;
            let (name, encoded) = rest.split_once(' ').ok_or(NoteError::Malformed(
                "a signature line is: em dash, name, signature",
            ))?;
            let blob = BASE64
                .decode(encoded)
                .map_err(|_| NoteError::Malformed("a signature is not valid base64"))?;
            if blob.len() < 4 {
                return Err(NoteError::Malformed(
                    "a signature is shorter than its key id",
                ));
            }
            if name != self.name || blob[..4] != self.key_id {
                continue;
            }
            let signature = Signature::from_slice(&blob[4..])
                .map_err(|_| NoteError::BadSignature(self.to_string()))?;
            self.public_key
                .verify(text.as_bytes(), &signature)
                .map_err(|_| NoteError::BadSignature(self.to_string()))?;
            found = true;
        }
        if found {
            Ok(text)
        } else {
            Err(NoteError::NotSigned(self.to_string()))
        }
    }
}

impl fmt::Display for NoteVerifier {
    /// The verifier key string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut key = vec![ED25519];
        key.extend_from_slice(self.public_key.as_ref());
        write!(
            f,
            "{}+{}+{}",
            self.name,
            hex(&self.key_id),
            BASE64.encode(key)
        )
    }
}

/// Splits `<name>+<8 hex>+<base64(0x01 || key)>` into its parts; the key without its type byte.
fn split_key(text: &str) -> Result<(&str, [u8; 4], Vec<u8>), NoteError> {
    // From the left: names cannot contain '+', base64 can.
    let mut parts = text.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(NoteError::MalformedKey("expected <name>+<key id>+<key>"));
    };
    if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(NoteError::MalformedKey("the key id is 8 hex digits"));
    }
    let mut key_id = [0u8; 4];
    for (i, byte) in key_id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&id[2 * i..2 * i + 2], 16)
            .map_err(|_| NoteError::MalformedKey("the key id is 8 hex digits"))?;
    }
    let key = BASE64
        .decode(key)
        .map_err(|_| NoteError::MalformedKey("the key is not valid base64"))?;
    match key.split_first() {
        Some((&ED25519, rest)) => Ok((name, key_id, rest.to_vec())),
        _ => Err(NoteError::MalformedKey(
            "only Ed25519 keys (type 0x01) are supported",
        )),
    }
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed("the text must end with a newline"));
    }
    if text.chars().any(|c| u32::from(c) < 0x20 && c != '\n') {
        return Err(NoteError::Malformed("contains a control character"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> NoteSigner {
        NoteSigner::from_seed("example.com/log", [7; 32]).unwrap()
    }

    #[test]
    fn signs_and_opens() {
        let signer = signer();
        let note = signer.sign("hello\nworld\n").unwrap();
        assert!(note.starts_with("hello\nworld\n\n\u{2014} example.com/log "));
        assert_eq!(signer.verifier().open(&note).unwrap(), "hello\nworld\n");
    }

    #[test]
    fn verifies_a_note_signed_by_go_sumdb_note() {
        // From golang.org/x/mod/sumdb/note's tests (key PeterNeumann).
        let verifier = NoteVerifier::parse(
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        )
        .unwrap();
        let note = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n\
                    \n\
                    \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
        assert_eq!(
            verifier.open(note).unwrap(),
            "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
        );
    }

    #[test]
    fn signs_exactly_as_go_sumdb_note_does() {
        let signer = NoteSigner::parse(
            "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
        )
        .unwrap();
        let note = signer
            .sign("If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n")
            .unwrap();
        assert!(note.ends_with("\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"));
        assert_eq!(
            signer.verifier().to_string(),
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        );
    }

    #[test]
    fn key_strings_round_trip() {
        let signer = signer();
        let text = signer.to_private_key_text();
        let parsed = NoteSigner::parse(&text).unwrap();
        assert_eq!(parsed.verifier(), signer.verifier());
        let verifier = NoteVerifier::parse(&signer.verifier().to_string()).unwrap();
        assert_eq!(&verifier, signer.verifier());
    }

    #[test]
    fn refuses_changed_text_and_foreign_keys() {
        let signer = signer();
        let note = signer.sign("size 3\n").unwrap();
        let changed = note.replacen("size 3", "size 4", 1);
        assert!(matches!(
            signer.verifier().open(&changed),
            Err(NoteError::BadSignature(_))
        ));
        let other = NoteSigner::from_seed("example.com/log", [8; 32]).unwrap();
        assert!(matches!(
            other.verifier().open(&note),
            Err(NoteError::NotSigned(_))
        ));
        assert_eq!(
            signer.verifier().open("size 3\n").unwrap_err(),
            NoteError::Malformed("no blank line before the signatures")
        );
    }

    #[test]
    fn refuses_bad_key_strings() {
        assert!(NoteVerifier::parse("name+00000000+AQ==").is_err());
        assert!(NoteVerifier::parse("nohash").is_err());
        let signer = signer();
        let text =
            signer
                .verifier()
                .to_string()
                .replacen("example.com/log", "example.com/other", 1);
        assert_eq!(
            NoteVerifier::parse(&text).unwrap_err(),
            NoteError::MalformedKey("the key id does not match the key")
        );
        assert!(NoteSigner::from_seed("has space", [0; 32]).is_err());
    }
}
