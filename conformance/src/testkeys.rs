//! The test keys: derived from fixed, public seeds, so they are reproducible and obviously
//! worthless. Never use them anywhere but tests.

use jitgate_grant::jwks::{private_jwk, public_jwk};
use jitgate_grant::{KeySet, SigningKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The named test keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestKey {
    /// Trusted Ed25519 key (in `testdata/jwks.json`).
    Ed25519,
    /// Trusted P-256 key (in `testdata/jwks.json`).
    P256,
    /// An Ed25519 key nobody trusts.
    Attacker,
}

impl TestKey {
    /// Every test key.
    pub const ALL: [TestKey; 3] = [TestKey::Ed25519, TestKey::P256, TestKey::Attacker];

    /// The file stem under `testdata/keys/`.
    pub fn file_stem(self) -> &'static str {
        match self {
            TestKey::Ed25519 => "ed25519",
            TestKey::P256 => "p256",
            TestKey::Attacker => "attacker-ed25519",
        }
    }

    /// The private key, derived from its public seed phrase.
    pub fn signing_key(self) -> SigningKey {
        let phrase = match self {
            TestKey::Ed25519 => "jitgate TEST-ONLY ed25519 key",
            TestKey::P256 => "jitgate TEST-ONLY p256 key",
            TestKey::Attacker => "jitgate TEST-ONLY attacker ed25519 key",
        };
        let seed: [u8; 32] = Sha256::digest(phrase.as_bytes()).into();
        let key = match self {
            TestKey::Ed25519 | TestKey::Attacker => SigningKey::ed25519_from_seed(&seed),
            TestKey::P256 => SigningKey::p256_from_scalar(&seed),
        };
        // Both constructors accept any 32 bytes except a zero or out-of-range P-256 scalar,
        // which these fixed digests are not (checked by `test_keys_derive`).
        match key {
            Ok(key) => key,
            Err(error) => unreachable!("test key seed rejected: {error}"),
        }
    }

    /// Public JWK text (pretty-printed).
    pub fn public_jwk_text(self) -> String {
        pretty(&public_jwk(&self.signing_key().verifying_key()))
    }

    /// Private JWK text (pretty-printed).
    pub fn private_jwk_text(self) -> String {
        pretty(&private_jwk(&self.signing_key()))
    }
}

/// The trusted set: Ed25519 and P-256, not the attacker.
pub fn trusted_key_set() -> KeySet {
    let mut keys = KeySet::new();
    keys.insert(TestKey::Ed25519.signing_key().verifying_key());
    keys.insert(TestKey::P256.signing_key().verifying_key());
    keys
}

/// The trusted set as a pretty JWKS document.
pub fn trusted_jwks_text() -> String {
    let compact = trusted_key_set().to_jwks_json();
    match serde_json::from_str::<serde_json::Value>(&compact) {
        Ok(value) => pretty(&value),
        Err(_) => compact,
    }
}

fn pretty(value: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn test_keys_derive() {
        for key in TestKey::ALL {
            assert_eq!(key.signing_key().key_id().len(), 43);
        }
        assert_eq!(trusted_key_set().len(), 2);
    }
}
