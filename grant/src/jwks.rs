//! JSON Web Key Sets (RFC 7517) of verifying keys: parsing, serializing and lookup by key id.
//!
//! Parsing is strict because a key set decides who can mint access: Ed25519 keys are
//! `{"kty":"OKP","crv":"Ed25519","x":…}` (RFC 8037), P-256 keys `{"kty":"EC","crv":"P-256",
//! "x":…,"y":…}`; any private member in a public set is an error (it means a secret leaked
//! into a published document); a `kid`, when present, must be the key's RFC 7638 thumbprint;
//! an `alg` or `use`, when present, must fit the key; and a key id appears at most once.
//! Keys of other types are refused rather than skipped, so a typo cannot silently shrink the
//! set.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::base64url;
use crate::keys::{KeyAlgorithm, KeyError, SigningKey, VerifyingKey};

/// JWK members that only private keys have (RFC 7518 §6, RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Why a key set (or one private JWK) was rejected. `index` is the key's position in `keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksError {
    /// Not JSON, or not the expected shape.
    Json(String),
    /// A key of a type or curve jitgate does not use.
    UnsupportedKey {
        /// Position in `keys`.
        index: usize,
        /// `kty` and `crv` as found.
        found: String,
    },
    /// A private member (such as `d`) in a public key set.
    PrivateMember {
        /// Position in `keys`.
        index: usize,
        /// The member's name.
        member: &'static str,
    },
    /// A member that should be base64url is not, or has the wrong length.
    BadMember {
        /// Position in `keys`.
        index: usize,
        /// The member's name.
        member: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// `kid` is not the RFC 7638 thumbprint of the key.
    KeyIdNotThumbprint {
        /// Position in `keys`.
        index: usize,
        /// The `kid` found.
        found: String,
        /// The thumbprint it should be.
        expected: String,
    },
    /// `alg` or `use` contradicts the key.
    Mismatch {
        /// Position in `keys`.
        index: usize,
        /// The member's name.
        member: &'static str,
        /// Its value.
        found: String,
    },
    /// The same key appears twice.
    DuplicateKey {
        /// Position in `keys` of the second occurrence.
        index: usize,
        /// The repeated key id.
        key_id: String,
    },
    /// A private JWK was expected but `d` is missing.
    MissingPrivateMember,
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwksError::Json(error) => write!(f, "not a valid JWK set: {error}"),
            JwksError::UnsupportedKey { index, found } => write!(
                f,
                "keys[{index}]: unsupported key {found}; use OKP/Ed25519 or EC/P-256"
            ),
            JwksError::PrivateMember { index, member } => write!(
                f,
                "keys[{index}]: private member \"{member}\" in a public key set; remove it and \
                 rotate the key, it has been exposed"
            ),
            JwksError::BadMember {
                index,
                member,
                problem,
            } => {
                write!(f, "keys[{index}].{member}: {problem}")
            }
            JwksError::KeyIdNotThumbprint {
                index,
                found,
                expected,
            } => write!(
                f,
                "keys[{index}].kid: {found:?} is not the key's RFC 7638 thumbprint {expected:?}"
            ),
            JwksError::Mismatch {
                index,
                member,
                found,
            } => {
                write!(f, "keys[{index}].{member}: {found:?} does not fit this key")
            }
            JwksError::DuplicateKey { index, key_id } => {
                write!(f, "keys[{index}]: key {key_id:?} appears more than once")
            }
            JwksError::MissingPrivateMember => f.write_str("the private key has no \"d\" member"),
        }
    }
}

impl std::error::Error for JwksError {}

/// The keys a verifier trusts, by key id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySet {
    keys: BTreeMap<String, VerifyingKey>,
}

#[derive(Deserialize)]
struct WireSet {
    keys: Vec<WireKey>,
}

/// The members of one JWK that jitgate reads or must notice. Deserializing straight into
/// this struct (never through a map) makes serde refuse a repeated member, so `"x"` cannot
/// be given twice with the second copy winning somewhere else.
#[derive(Deserialize)]
struct WireKey {
    kty: String,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    d: Option<String>,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    key_use: Option<String>,
    p: Option<IgnoredAny>,
    q: Option<IgnoredAny>,
    dp: Option<IgnoredAny>,
    dq: Option<IgnoredAny>,
    qi: Option<IgnoredAny>,
    oth: Option<IgnoredAny>,
    k: Option<IgnoredAny>,
}

impl WireKey {
    /// The first private member present, if any.
    fn private_member(&self) -> Option<&'static str> {
        let present = [
            self.d.is_some(),
            self.p.is_some(),
            self.q.is_some(),
            self.dp.is_some(),
            self.dq.is_some(),
            self.qi.is_some(),
            self.oth.is_some(),
            self.k.is_some(),
        ];
        PRIVATE_MEMBERS
            .into_iter()
            .zip(present)
            .find(|(_, here)| *here)
            .map(|(name, _)| name)
    }
}

impl KeySet {
    /// An empty set.
    pub fn new() -> KeySet {
        KeySet::default()
    }

    /// Parses a public JWK set document `{"keys": [...]}`.
    pub fn from_jwks_json(text: &str) -> Result<KeySet, JwksError> {
        let set: WireSet =
            serde_json::from_str(text).map_err(|error| JwksError::Json(error.to_string()))?;
        let mut keys = KeySet::new();
        for (index, wire) in set.keys.iter().enumerate() {
            if let Some(member) = wire.private_member() {
                return Err(JwksError::PrivateMember { index, member });
            }
            let key = public_key(index, wire)?;
            let key_id = key.key_id();
            if keys.keys.contains_key(&key_id) {
                return Err(JwksError::DuplicateKey { index, key_id });
            }
            keys.keys.insert(key_id, key);
        }
        Ok(keys)
    }

    /// Serializes the set as a JWK set document, each key with `kid`, `alg` and `use`.
    pub fn to_jwks_json(&self) -> String {
        let keys: Vec<Value> = self.keys.values().map(public_jwk).collect();
        json!({ "keys": keys }).to_string()
    }

    /// Adds a key; returns false if it was already present.
    pub fn insert(&mut self, key: VerifyingKey) -> bool {
        self.keys.insert(key.key_id(), key).is_none()
    }

    /// The key with this id.
    pub fn get(&self, key_id: &str) -> Option<&VerifyingKey> {
        self.keys.get(key_id)
    }

    /// Whether a key with this id is present.
    pub fn contains(&self, key_id: &str) -> bool {
        self.keys.contains_key(key_id)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set has no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Key ids in a stable order.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }
}

/// The public JWK for `key`, with `kid`, `alg` and `use`.
pub fn public_jwk(key: &VerifyingKey) -> Value {
    let mut members = key.jwk_members();
    members.insert("kid".into(), Value::String(key.key_id()));
    members.insert(
        "alg".into(),
        Value::String(key.algorithm().jws_name().into()),
    );
    members.insert("use".into(), Value::String("sig".into()));
    Value::Object(members)
}

/// The private JWK for `key` (public members plus `d`). For key files on disk, never for
/// anything published.
pub fn private_jwk(key: &SigningKey) -> Value {
    let mut jwk = public_jwk(&key.verifying_key());
    if let Value::Object(members) = &mut jwk {
        members.insert(
            "d".into(),
            Value::String(base64url::encode(&key.secret_bytes())),
        );
    }
    jwk
}

/// Parses one private JWK (`d` required), checking it the same way as a public key.
pub fn signing_key_from_jwk(text: &str) -> Result<SigningKey, JwksError> {
    let wire: WireKey =
        serde_json::from_str(text).map_err(|error| JwksError::Json(error.to_string()))?;
    let public = public_key(0, &wire)?;
    let d = wire.d.as_deref().ok_or(JwksError::MissingPrivateMember)?;
    let d = decode_member(0, "d", d, 32)?;
    let key = match public.algorithm() {
        KeyAlgorithm::EdDsa => SigningKey::ed25519_from_seed(&d),
        KeyAlgorithm::Es256 => SigningKey::p256_from_scalar(&d),
    }
    .map_err(|error| bad_member(0, "d", error))?;
    if key.verifying_key() != public {
        return Err(JwksError::BadMember {
            index: 0,
            member: "d",
            problem: "the private key does not match the public members".into(),
        });
    }
    Ok(key)
}

fn public_key(index: usize, wire: &WireKey) -> Result<VerifyingKey, JwksError> {
    let key = match (wire.kty.as_str(), wire.crv.as_deref()) {
        ("OKP", Some("Ed25519")) => {
            let x = decode_member(index, "x", required(index, "x", &wire.x)?, 32)?;
            VerifyingKey::ed25519_from_bytes(&x).map_err(|error| bad_member(index, "x", error))?
        }
        ("EC", Some("P-256")) => {
            let x = decode_member(index, "x", required(index, "x", &wire.x)?, 32)?;
            let y = decode_member(index, "y", required(index, "y", &wire.y)?, 32)?;
            VerifyingKey::p256_from_coordinates(&x, &y)
                .map_err(|error| bad_member(index, "x", error))?
        }
        (kty, crv) => {
            return Err(JwksError::UnsupportedKey {
                index,
                found: format!("kty={kty:?} crv={:?}", crv.unwrap_or("")),
            })
        }
    };
    if let Some(alg) = &wire.alg {
        if KeyAlgorithm::from_jws_name(alg) != Some(key.algorithm()) {
            return Err(JwksError::Mismatch {
                index,
                member: "alg",
                found: alg.clone(),
            });
        }
    }
    if let Some(key_use) = &wire.key_use {
        if key_use != "sig" {
            return Err(JwksError::Mismatch {
                index,
                member: "use",
                found: key_use.clone(),
            });
        }
    }
    if let Some(kid) = &wire.kid {
        let expected = key.key_id();
        if *kid != expected {
            return Err(JwksError::KeyIdNotThumbprint {
                index,
                found: kid.clone(),
                expected,
            });
        }
    }
    Ok(key)
}

fn required<'a>(
    index: usize,
    member: &'static str,
    value: &'a Option<String>,
) -> Result<&'a str, JwksError> {
    value.as_deref().ok_or_else(|| JwksError::BadMember {
        index,
        member,
        problem: "missing".into(),
    })
}

fn decode_member(
    index: usize,
    member: &'static str,
    value: &str,
    length: usize,
) -> Result<Vec<u8>, JwksError> {
    let bytes = base64url::decode(value).ok_or_else(|| JwksError::BadMember {
        index,
        member,
        problem: "not unpadded base64url".into(),
    })?;
    if bytes.len() != length {
        return Err(JwksError::BadMember {
            index,
            member,
            problem: format!("expected {length} bytes, found {}", bytes.len()),
        });
    }
    Ok(bytes)
}

fn bad_member(index: usize, member: &'static str, error: KeyError) -> JwksError {
    JwksError::BadMember {
        index,
        member,
        problem: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn ed_key() -> SigningKey {
        SigningKey::ed25519_from_seed(&[1; 32]).unwrap()
    }

    fn ec_key() -> SigningKey {
        SigningKey::p256_from_scalar(&[2; 32]).unwrap()
    }

    fn set_of(keys: &[Value]) -> String {
        json!({ "keys": keys }).to_string()
    }

    #[test]
    fn round_trips_both_key_types() {
        let mut set = KeySet::new();
        assert!(set.insert(ed_key().verifying_key()));
        assert!(set.insert(ec_key().verifying_key()));
        let parsed = KeySet::from_jwks_json(&set.to_jwks_json()).unwrap();
        assert_eq!(parsed, set);
        assert!(parsed.contains(&ed_key().key_id()));
        assert_eq!(
            parsed.get(&ec_key().key_id()).map(|k| k.algorithm()),
            Some(KeyAlgorithm::Es256)
        );
    }

    #[test]
    fn private_members_are_refused_in_a_public_set() {
        let error = KeySet::from_jwks_json(&set_of(&[private_jwk(&ed_key())])).unwrap_err();
        assert_eq!(
            error,
            JwksError::PrivateMember {
                index: 0,
                member: "d"
            }
        );
        let mut hmac = json!({"kty": "oct", "k": "c2VjcmV0"});
        assert_eq!(
            KeySet::from_jwks_json(&set_of(&[hmac.take()])).unwrap_err(),
            JwksError::PrivateMember {
                index: 0,
                member: "k"
            }
        );
    }

    #[test]
    fn duplicates_are_refused() {
        let jwk = public_jwk(&ed_key().verifying_key());
        let error = KeySet::from_jwks_json(&set_of(&[jwk.clone(), jwk])).unwrap_err();
        assert!(matches!(error, JwksError::DuplicateKey { index: 1, .. }));
    }

    #[test]
    fn unsupported_types_and_mismatches_are_refused() {
        let rsa = json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"});
        assert!(matches!(
            KeySet::from_jwks_json(&set_of(&[rsa])).unwrap_err(),
            JwksError::UnsupportedKey { index: 0, .. }
        ));
        let mut jwk = public_jwk(&ed_key().verifying_key());
        jwk["alg"] = json!("ES256");
        assert_eq!(
            KeySet::from_jwks_json(&set_of(&[jwk])).unwrap_err(),
            JwksError::Mismatch {
                index: 0,
                member: "alg",
                found: "ES256".into()
            }
        );
        let mut jwk = public_jwk(&ed_key().verifying_key());
        jwk["kid"] = json!("key-1");
        assert!(matches!(
            KeySet::from_jwks_json(&set_of(&[jwk])).unwrap_err(),
            JwksError::KeyIdNotThumbprint { index: 0, .. }
        ));
        let mut jwk = public_jwk(&ed_key().verifying_key());
        jwk["x"] = json!("AAAA");
        assert!(matches!(
            KeySet::from_jwks_json(&set_of(&[jwk])).unwrap_err(),
            JwksError::BadMember {
                index: 0,
                member: "x",
                ..
            }
        ));
    }

    #[test]
    fn duplicate_json_members_are_refused() {
        let jwk = public_jwk(&ed_key().verifying_key());
        let x = jwk["x"].as_str().unwrap();
        let text = format!(r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{x}","x":"{x}"}}]}}"#);
        assert!(matches!(
            KeySet::from_jwks_json(&text).unwrap_err(),
            JwksError::Json(_)
        ));
    }

    #[test]
    fn private_jwk_round_trips_and_must_match() {
        for key in [ed_key(), ec_key()] {
            let text = private_jwk(&key).to_string();
            let parsed = signing_key_from_jwk(&text).unwrap();
            assert_eq!(parsed.key_id(), key.key_id());
        }
        let mut jwk = private_jwk(&ed_key());
        jwk["d"] = json!(base64url::encode(&[3; 32]));
        jwk.as_object_mut().unwrap().remove("kid");
        assert!(matches!(
            signing_key_from_jwk(&jwk.to_string()).unwrap_err(),
            JwksError::BadMember { member: "d", .. }
        ));
    }
}
