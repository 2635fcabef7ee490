//! Signing and verifying keys for the two algorithms jitgate accepts, and their RFC 7638 key
//! ids.
//!
//! Only EdDSA over Ed25519 (RFC 8037) and ES256 (ECDSA over P-256 with SHA-256) exist here:
//! there is no way to express `none`, an HMAC secret or RSA, so algorithm confusion cannot
//! be configured into a deployment. A key's id is always its RFC 7638 SHA-256 thumbprint,
//! so a key id cannot be reused for a different key.

use std::fmt;
use std::sync::{Arc, OnceLock};

use jwt_compact::alg::Es256;
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm, AlgorithmSignature};
use sha2::Sha256;

use crate::base64url;
use crate::ed25519::{Ed25519KeyError, Ed25519Verifier};

/// The JWS `alg` values jitgate accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// `EdDSA` with an Ed25519 key (RFC 8037).
    EdDsa,
    /// `ES256`: ECDSA on P-256 with SHA-256 (RFC 7518 §3.4).
    Es256,
}

impl KeyAlgorithm {
    /// The JWS `alg` header value.
    pub fn jws_name(self) -> &'static str {
        match self {
            KeyAlgorithm::EdDsa => "EdDSA",
            KeyAlgorithm::Es256 => "ES256",
        }
    }

    /// The algorithm named by a JWS `alg` value, if it is one jitgate accepts.
    pub fn from_jws_name(name: &str) -> Option<KeyAlgorithm> {
        match name {
            "EdDSA" => Some(KeyAlgorithm::EdDsa),
            "ES256" => Some(KeyAlgorithm::Es256),
            _ => None,
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.jws_name())
    }
}

/// Why key material was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// Ed25519 keys are 32 bytes, seeds too.
    BadEd25519Length(usize),
    /// The 32 bytes are not a usable Ed25519 public key.
    BadEd25519Key(Ed25519KeyError),
    /// The bytes are not a point on P-256 (or not a valid scalar for a private key).
    BadP256Key,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::BadEd25519Length(n) => write!(f, "an Ed25519 key is 32 bytes, found {n}"),
            KeyError::BadEd25519Key(Ed25519KeyError::NotAPoint) => {
                f.write_str("the Ed25519 key is not a point on the curve")
            }
            KeyError::BadEd25519Key(Ed25519KeyError::SmallOrder) => {
                f.write_str("the Ed25519 key is a point of small order, which verifies nothing")
            }
            KeyError::BadP256Key => f.write_str("the coordinates are not a valid P-256 key"),
        }
    }
}

impl std::error::Error for KeyError {}

/// An Ed25519 public key with its verification table (see [`crate::ed25519`]), shared by
/// every copy of the key set.
#[derive(Clone)]
pub struct Ed25519Key {
    public: ed25519_compact::PublicKey,
    /// Built when a key to verify with is loaded; for a signing key's public half, on its
    /// first verification only — a signer that never verifies (the issuer minting, a test
    /// writing tokens) never pays for the table.
    verifier: Arc<OnceLock<Ed25519Verifier>>,
}

impl Ed25519Key {
    /// A key to verify with: checked and expanded now, so a bad key fails where it is
    /// loaded, not on the first token.
    fn loaded(public: ed25519_compact::PublicKey) -> Result<Ed25519Key, KeyError> {
        let verifier = Ed25519Verifier::new(*public).map_err(KeyError::BadEd25519Key)?;
        Ok(Ed25519Key {
            public,
            verifier: Arc::new(OnceLock::from(verifier)),
        })
    }

    /// The public half of a key pair: always a valid point of large order.
    fn of_pair(pair: &ed25519_compact::KeyPair) -> Ed25519Key {
        Ed25519Key {
            public: pair.pk,
            verifier: Arc::new(OnceLock::new()),
        }
    }

    fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        if let Some(verifier) = self.verifier.get() {
            return verifier.verify(message, signature);
        }
        match Ed25519Verifier::new(*self.public) {
            Ok(verifier) => self
                .verifier
                .get_or_init(|| verifier)
                .verify(message, signature),
            Err(_) => false,
        }
    }
}

impl PartialEq for Ed25519Key {
    fn eq(&self, other: &Ed25519Key) -> bool {
        self.public == other.public
    }
}

impl Eq for Ed25519Key {}

/// A public key that verifies grant tokens.
#[derive(Clone, PartialEq, Eq)]
pub enum VerifyingKey {
    /// Ed25519 public key.
    Ed25519(Ed25519Key),
    /// P-256 public key.
    Es256(p256::ecdsa::VerifyingKey),
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "VerifyingKey({}, kid={})",
            self.algorithm(),
            self.key_id()
        )
    }
}

impl VerifyingKey {
    /// An Ed25519 key from its 32 raw bytes (the JWK `x`).
    pub fn ed25519_from_bytes(x: &[u8]) -> Result<VerifyingKey, KeyError> {
        let public = ed25519_compact::PublicKey::from_slice(x)
            .map_err(|_| KeyError::BadEd25519Length(x.len()))?;
        Ed25519Key::loaded(public).map(VerifyingKey::Ed25519)
    }

    /// A P-256 key from its affine coordinates (the JWK `x` and `y`, 32 bytes each).
    pub fn p256_from_coordinates(x: &[u8], y: &[u8]) -> Result<VerifyingKey, KeyError> {
        if x.len() != 32 || y.len() != 32 {
            return Err(KeyError::BadP256Key);
        }
        let mut sec1 = Vec::with_capacity(65);
        sec1.push(0x04);
        sec1.extend_from_slice(x);
        sec1.extend_from_slice(y);
        p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
            .map(VerifyingKey::Es256)
            .map_err(|_| KeyError::BadP256Key)
    }

    /// The algorithm this key verifies.
    pub fn algorithm(&self) -> KeyAlgorithm {
        match self {
            VerifyingKey::Ed25519(_) => KeyAlgorithm::EdDsa,
            VerifyingKey::Es256(_) => KeyAlgorithm::Es256,
        }
    }

    /// The RFC 7638 SHA-256 thumbprint, base64url: the key's only id.
    pub fn key_id(&self) -> String {
        let digest = match self {
            VerifyingKey::Ed25519(key) => JsonWebKey::from(&key.public).thumbprint::<Sha256>(),
            VerifyingKey::Es256(key) => JsonWebKey::from(key).thumbprint::<Sha256>(),
        };
        base64url::encode(&digest)
    }

    /// The public JWK members (`kty`, `crv`, `x`, and `y` for EC) as a JSON object.
    pub fn jwk_members(&self) -> serde_json::Map<String, serde_json::Value> {
        let jwk = match self {
            VerifyingKey::Ed25519(key) => serde_json::to_value(JsonWebKey::from(&key.public)),
            VerifyingKey::Es256(key) => serde_json::to_value(JsonWebKey::from(key)),
        };
        match jwk {
            Ok(serde_json::Value::Object(members)) => members,
            // jwt-compact always serializes a JWK as an object; an empty map would make the
            // key unusable rather than wrong.
            _ => serde_json::Map::new(),
        }
    }

    /// Whether `signature` is this key's valid signature over `message`.
    ///
    /// Wrong-length signatures are rejected before they reach the curve code. An ES256
    /// signature must be in low-S form (`s ≤ n/2`, as BIP 62 and [`SigningKey::sign`] write
    /// it): ECDSA verifies `(r, s)` and `(r, n − s)` alike, so without this rule anyone
    /// holding a token could write a second, different token text for the same signed
    /// claims — a second verification-cache entry and a second token digest for one token.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            VerifyingKey::Ed25519(key) => match <&[u8; 64]>::try_from(signature) {
                Ok(signature) => key.verify(message, signature),
                Err(_) => false,
            },
            VerifyingKey::Es256(key) => {
                if signature.len() != 64 {
                    return false;
                }
                match <p256::ecdsa::Signature as AlgorithmSignature>::try_from_slice(signature) {
                    // `normalize_s` returns a signature only when `s` was high.
                    Ok(signature) if signature.normalize_s().is_some() => false,
                    Ok(signature) => Es256.verify_signature(&signature, key, message),
                    Err(_) => false,
                }
            }
        }
    }
}

/// A private key that signs grant tokens. Its `Debug` never shows key material.
#[derive(Clone)]
pub enum SigningKey {
    /// Ed25519 key pair, with its public half ready to verify.
    Ed25519(ed25519_compact::KeyPair, Ed25519Key),
    /// P-256 private key.
    Es256(p256::ecdsa::SigningKey),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SigningKey({}, kid={}, private)",
            self.algorithm(),
            self.key_id()
        )
    }
}

impl SigningKey {
    /// An Ed25519 key from its 32-byte seed (the JWK `d`). Callers bring their own randomness:
    /// this crate never reads an entropy source.
    pub fn ed25519_from_seed(seed: &[u8]) -> Result<SigningKey, KeyError> {
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| KeyError::BadEd25519Length(seed.len()))?;
        let pair = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(seed));
        let public = Ed25519Key::of_pair(&pair);
        Ok(SigningKey::Ed25519(pair, public))
    }

    /// A P-256 key from its 32-byte scalar (the JWK `d`).
    pub fn p256_from_scalar(d: &[u8]) -> Result<SigningKey, KeyError> {
        p256::ecdsa::SigningKey::from_slice(d)
            .map(SigningKey::Es256)
            .map_err(|_| KeyError::BadP256Key)
    }

    /// The matching public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        match self {
            SigningKey::Ed25519(_, public) => VerifyingKey::Ed25519(public.clone()),
            SigningKey::Es256(key) => VerifyingKey::Es256(*key.verifying_key()),
        }
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.verifying_key().algorithm()
    }

    /// The key id of the public half.
    pub fn key_id(&self) -> String {
        self.verifying_key().key_id()
    }

    /// The private scalar or seed (the JWK `d`). Handle with care.
    pub fn secret_bytes(&self) -> Vec<u8> {
        match self {
            SigningKey::Ed25519(pair, _) => pair.sk.seed().to_vec(),
            SigningKey::Es256(key) => key.to_bytes().to_vec(),
        }
    }

    /// Signs `message`. Both algorithms are deterministic here (Ed25519 without noise,
    /// ECDSA with RFC 6979 nonces), so the same key and message give the same token: the
    /// conformance vectors depend on it. ES256 signatures are written in low-S form, the
    /// only form [`VerifyingKey::verifies`] accepts (`p256` itself leaves `s` as computed).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            SigningKey::Ed25519(pair, _) => pair.sk.sign(message, None).to_vec(),
            SigningKey::Es256(key) => {
                let signature = Es256.sign(key, message);
                let low_s = signature.normalize_s().unwrap_or(signature);
                low_s.to_bytes().to_vec()
            }
        }
    }
}

/// `(r, n − s)` for a raw 64-byte ES256 signature `(r, s)`: the other signature ECDSA
/// accepts for the same message and key. Tests use it to show the low-S rule holds.
#[cfg(test)]
pub(crate) fn es256_other_s(signature: &[u8]) -> Vec<u8> {
    let parsed = p256::ecdsa::Signature::from_slice(signature).expect("a 64-byte signature");
    let (r, s) = parsed.split_scalars();
    p256::ecdsa::Signature::from_scalars(r, -s)
        .expect("n − s is a valid scalar")
        .to_bytes()
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn ed25519_key_id_is_the_rfc8037_appendix_a3_thumbprint() {
        // RFC 8037 Appendix A.3: the thumbprint of the Appendix A.2 public key.
        let x = base64url::decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo").unwrap();
        let key = VerifyingKey::ed25519_from_bytes(&x).unwrap();
        assert_eq!(key.key_id(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    }

    #[test]
    fn signatures_verify_only_with_the_right_key_and_message() {
        let ed = SigningKey::ed25519_from_seed(&[7; 32]).unwrap();
        let ec = SigningKey::p256_from_scalar(&[9; 32]).unwrap();
        for key in [&ed, &ec] {
            let signature = key.sign(b"message");
            assert_eq!(signature, key.sign(b"message"), "signing is deterministic");
            assert!(key.verifying_key().verifies(b"message", &signature));
            assert!(!key.verifying_key().verifies(b"messagf", &signature));
            assert!(!key.verifying_key().verifies(b"message", &signature[..63]));
        }
        assert!(!ec
            .verifying_key()
            .verifies(b"message", &ed.sign(b"message")));
    }

    #[test]
    fn es256_signs_low_s_and_refuses_the_high_s_twin() {
        let key = SigningKey::p256_from_scalar(&[9; 32]).unwrap();
        let SigningKey::Es256(secret) = &key else {
            unreachable!()
        };
        let public = key.verifying_key();
        let VerifyingKey::Es256(curve_key) = &public else {
            unreachable!()
        };
        let mut raw_high_s = 0;
        for index in 0..32_u8 {
            let message = [index; 16];
            // p256 alone leaves `s` as computed: about half its signatures are high-S.
            if Es256.sign(secret, &message).normalize_s().is_some() {
                raw_high_s += 1;
            }
            let signature = key.sign(&message);
            let parsed = p256::ecdsa::Signature::from_slice(&signature).unwrap();
            assert_eq!(parsed.normalize_s(), None, "message {index}: signed low-S");
            assert!(public.verifies(&message, &signature), "message {index}");

            let twin = es256_other_s(&signature);
            assert_ne!(twin, signature);
            let twin_parsed = p256::ecdsa::Signature::from_slice(&twin).unwrap();
            // The twin is a mathematically valid ECDSA signature: only the low-S rule
            // refuses it.
            assert!(Es256.verify_signature(&twin_parsed, curve_key, &message));
            assert!(!public.verifies(&message, &twin), "message {index}: high-S");
        }
        assert!(raw_high_s > 0, "the sample exercised normalisation");
    }

    #[test]
    fn bad_key_material_is_rejected() {
        assert_eq!(
            VerifyingKey::ed25519_from_bytes(&[1; 31]).unwrap_err(),
            KeyError::BadEd25519Length(31)
        );
        assert_eq!(
            VerifyingKey::p256_from_coordinates(&[1; 32], &[2; 32]).unwrap_err(),
            KeyError::BadP256Key
        );
        assert_eq!(
            SigningKey::p256_from_scalar(&[0; 32]).unwrap_err(),
            KeyError::BadP256Key
        );
    }
}
