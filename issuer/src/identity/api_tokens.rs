//! API tokens for service accounts and local use, configured in a JSON file that holds only
//! their SHA-256 digests.
//!
//! ```json
//! {"tokens": [{"subject": "ci-bot", "kind": "service", "groups": ["ml-eng"],
//!              "sha256": "<hex of SHA-256 of the token>"}]}
//! ```
//!
//! The plaintext token is shown once, by `jitgate issuer new-api-token`, and never stored.
//!
//! **Linking.** A person's token may name the OIDC subjects that are the same person
//! (`"oidc_subjects": ["00u1abcd"]`, values of `--oidc-subject-claim`): signing in at the
//! identity provider as one of them then *is* signing in as the token's `subject`, so a
//! request made with the token and an approval made after signing in at the IdP are by one
//! subject, and self-review is refused across identity kinds.
//! Looking a digest up in a map does not leak the token through timing: learning a digest's
//! prefix says nothing about the preimage.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::SubjectKind;
use crate::error::{Error, Result};
use crate::ids;

/// Every API token starts with this, so the issuer knows which verifier to use.
pub const API_TOKEN_PREFIX: &str = "jgt_";

/// One configured API token.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ApiTokenEntry {
    /// The subject the token authenticates as.
    pub subject: String,
    /// Person (local use) or service account; `service` unless said.
    #[serde(default = "service")]
    pub kind: SubjectKind,
    /// Groups the subject belongs to.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Lower-case hex SHA-256 of the token.
    pub sha256: String,
    /// OIDC subjects that are this same person (see the module docs).
    #[serde(default)]
    pub oidc_subjects: Vec<String>,
}

fn service() -> SubjectKind {
    SubjectKind::Service
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    tokens: Vec<ApiTokenEntry>,
}

/// The configured API tokens, by digest.
#[derive(Debug, Default, Clone)]
pub struct ApiTokens {
    by_digest: HashMap<String, ApiTokenEntry>,
    /// OIDC subject → the linked token's subject.
    links: HashMap<String, String>,
}

impl ApiTokens {
    /// No API tokens.
    pub fn empty() -> ApiTokens {
        ApiTokens::default()
    }

    /// Reads the token file.
    pub fn load(path: &Path) -> Result<ApiTokens> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| Error::io(format!("reading API tokens {}", path.display()), error))?;
        ApiTokens::parse(&text)
            .map_err(|message| Error::Config(format!("API tokens {}: {message}", path.display())))
    }

    /// Parses the token file's JSON; the error names the entry and field.
    pub fn parse(text: &str) -> std::result::Result<ApiTokens, String> {
        let file: TokenFile = serde_json::from_str(text).map_err(|error| error.to_string())?;
        let mut tokens = ApiTokens::default();
        for (index, entry) in file.tokens.into_iter().enumerate() {
            let valid_digest = entry.sha256.len() == 64
                && entry
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !valid_digest {
                return Err(format!(
                    "tokens[{index}].sha256 must be 64 lower-case hex digits"
                ));
            }
            if entry.subject.trim().is_empty() {
                return Err(format!("tokens[{index}].subject must not be empty"));
            }
            if !entry.oidc_subjects.is_empty() && entry.kind != SubjectKind::Person {
                return Err(format!(
                    "tokens[{index}].oidc_subjects: only a person's token may be linked to an OIDC subject"
                ));
            }
            for linked in &entry.oidc_subjects {
                match tokens.links.get(linked) {
                    Some(other) if *other != entry.subject => {
                        return Err(format!(
                        "tokens[{index}].oidc_subjects: {linked:?} is already linked to {other:?}"
                    ))
                    }
                    _ => {}
                }
                if linked.trim().is_empty() {
                    return Err(format!(
                        "tokens[{index}].oidc_subjects must not hold an empty subject"
                    ));
                }
            }
            tokens.insert(entry);
        }
        Ok(tokens)
    }

    /// Adds a token entry.
    pub fn insert(&mut self, entry: ApiTokenEntry) {
        for linked in &entry.oidc_subjects {
            self.links.insert(linked.clone(), entry.subject.clone());
        }
        self.by_digest.insert(entry.sha256.clone(), entry);
    }

    /// The subject an OIDC subject is linked to, if any.
    pub fn linked_subject(&self, oidc_subject: &str) -> Option<&str> {
        self.links.get(oidc_subject).map(String::as_str)
    }

    /// Whether a token with this digest is (still) configured.
    pub fn has_digest(&self, sha256: &str) -> bool {
        self.by_digest.contains_key(sha256)
    }

    /// The entry for a presented token.
    pub fn find(&self, token: &str) -> Option<&ApiTokenEntry> {
        self.by_digest.get(&digest(token))
    }
}

/// Lower-case hex SHA-256 of `token`.
pub fn digest(token: &str) -> String {
    ids::hex(&Sha256::digest(token.as_bytes()))
}

/// A fresh random API token.
pub fn generate() -> Result<String> {
    Ok(format!(
        "{API_TOKEN_PREFIX}{}",
        jitgate_grant::base64url::encode(&ids::random_bytes::<32>()?)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_token_by_its_digest_only() {
        let token = generate().unwrap();
        let text = format!(
            r#"{{"tokens":[{{"subject":"bot","groups":["g"],"sha256":"{}"}}]}}"#,
            digest(&token)
        );
        let tokens = ApiTokens::parse(&text).unwrap();
        let entry = tokens.find(&token).unwrap();
        assert_eq!(entry.subject, "bot");
        assert_eq!(entry.kind, SubjectKind::Service);
        assert!(tokens.find("jgt_other").is_none());
        assert!(!text.contains(&token));
    }

    #[test]
    fn bad_files_name_the_field() {
        assert_eq!(
            ApiTokens::parse(r#"{"tokens":[{"subject":"a","sha256":"ABC"}]}"#).unwrap_err(),
            "tokens[0].sha256 must be 64 lower-case hex digits"
        );
        let error = ApiTokens::parse(r#"{"tokens":[{"subject":"a","sha256":"x","token":"t"}]}"#)
            .unwrap_err();
        assert!(error.contains("unknown field `token`"), "{error}");
    }
}
