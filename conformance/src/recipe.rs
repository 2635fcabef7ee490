//! Recipes: how a vector's token is made, including the ways it is deliberately broken.
//!
//! Times are offsets from `now`, so the same recipe yields an equivalent token at any time:
//! the fixed-time files for the unit suites, fresh tokens for the tests through Envoy.

use hmac::{Hmac, Mac};
use jitgate_grant::base64url;
use jitgate_grant::mint::sign_compact;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::Sha256;

use crate::testkeys::TestKey;

/// How to make one token and present it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// The key that signs.
    pub key: TestKey,
    /// Header members; `"{kid}"` stands for the signing key's id and `"{alg}"` for its
    /// algorithm.
    pub header: Map<String, Value>,
    /// Claims other than the times.
    pub claims: Map<String, Value>,
    /// `iat`, `nbf`, `exp` as offsets from `now`; absent ones are omitted.
    pub times: Times,
    /// How the token is broken after (or instead of) honest signing.
    #[serde(default, skip_serializing_if = "Mutation::is_none")]
    pub mutation: Mutation,
    /// How the token is put in the request.
    #[serde(default, skip_serializing_if = "Presentation::is_bearer")]
    pub presentation: Presentation,
}

/// Time claims as offsets from `now`, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Times {
    /// `iat` offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// `nbf` offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// `exp` offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
}

/// Deliberate breakage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Mutation {
    /// An honest token.
    #[default]
    None,
    /// No signature at all (`alg` in the header says what it says).
    Unsigned,
    /// HMAC-SHA256 keyed with the trusted Ed25519 public key's bytes: the classic
    /// algorithm-confusion attack.
    HmacWithPublicKey,
    /// Signed honestly, then the payload replaced by `claims` with `replacement` merged in.
    TamperPayload {
        /// Claims overriding the signed ones.
        replacement: Map<String, Value>,
    },
    /// Signed honestly, then a member added to the header.
    TamperHeader,
    /// Signed honestly, then the signature removed (trailing dot kept).
    StripSignature,
    /// Signed honestly, then a fourth segment appended.
    ExtraSegment,
    /// Signed honestly, then a space inserted in the middle.
    InnerSpace,
    /// Signed honestly, then `=` padding added to the signature.
    PaddedSignature,
    /// ES256 signed, then the signature wrapped in an ASN.1 DER-like prefix (wrong format).
    LongSignature,
    /// ES256 signed, then the signature's `s` replaced by `n − s`: the high-S twin that
    /// ECDSA itself accepts for the same claims.
    HighS,
    /// A claim repeated in the payload JSON (the second copy at this offset from `now`).
    DuplicateTime {
        /// `exp`, `nbf` or `iat`.
        claim: String,
        /// Offset of the second value.
        offset: i64,
    },
    /// A claim given as raw JSON text instead of its usual value.
    RawClaim {
        /// The claim.
        claim: String,
        /// Its raw JSON text.
        raw: String,
    },
    /// A claim repeated with a second raw JSON value.
    DuplicateClaim {
        /// The claim.
        claim: String,
        /// The raw JSON of the second copy.
        raw: String,
    },
    /// A `pad` claim making the token at least this many bytes long.
    PadTo {
        /// Minimum token length.
        bytes: usize,
    },
}

impl Mutation {
    fn is_none(&self) -> bool {
        *self == Mutation::None
    }
}

/// How the token appears in the request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presentation {
    /// `authorization: Bearer <token>`.
    #[default]
    Bearer,
    /// `authorization: bearer <token>` (schemes are case-insensitive).
    LowercaseScheme,
    /// Two `authorization` headers with the same token.
    TwoHeaders,
    /// `authorization: Basic <token>`: another scheme, so no grant token.
    BasicScheme,
    /// `authorization: Bearer  <token>` with two spaces.
    DoubleSpace,
}

impl Presentation {
    fn is_bearer(&self) -> bool {
        *self == Presentation::Bearer
    }
}

impl Recipe {
    /// An honest recipe: `key`, standard header, the given claims and times.
    pub fn honest(key: TestKey, claims: Map<String, Value>, times: Times) -> Recipe {
        let header = json!({"alg": "{alg}", "typ": "at+jwt", "kid": "{kid}"});
        Recipe {
            key,
            header: header.as_object().cloned().unwrap_or_default(),
            claims,
            times,
            mutation: Mutation::None,
            presentation: Presentation::Bearer,
        }
    }

    /// The token this recipe makes at `now`.
    pub fn token(&self, now: i64) -> String {
        let key = self.key.signing_key();
        let header = Value::Object(self.header_members(&key)).to_string();
        let claims = self.claims_at(now);
        let mut payload = Value::Object(claims.clone()).to_string();
        match &self.mutation {
            Mutation::DuplicateTime { claim, offset } => {
                payload = append_member(&payload, claim, &(now + offset).to_string());
            }
            Mutation::DuplicateClaim { claim, raw } => {
                payload = append_member(&payload, claim, raw)
            }
            Mutation::RawClaim { claim, raw } => {
                let mut without = claims.clone();
                without.remove(claim);
                payload = append_member(&Value::Object(without).to_string(), claim, raw);
            }
            Mutation::PadTo { bytes } => {
                let mut padded = claims.clone();
                padded.insert("pad".into(), Value::String("x".repeat(bytes * 3 / 4)));
                payload = Value::Object(padded).to_string();
            }
            _ => {}
        }
        let signed = sign_compact(header.as_bytes(), payload.as_bytes(), &key);
        let (signing_input, signature) = signed.rsplit_once('.').unwrap_or((&signed, ""));
        match &self.mutation {
            Mutation::Unsigned | Mutation::StripSignature => format!("{signing_input}."),
            Mutation::HmacWithPublicKey => {
                let public = TestKey::Ed25519.signing_key().verifying_key();
                let x = public
                    .jwk_members()
                    .get("x")
                    .and_then(Value::as_str)
                    .and_then(base64url::decode)
                    .unwrap_or_default();
                let mac = Hmac::<Sha256>::new_from_slice(&x).map(|mut mac| {
                    mac.update(signing_input.as_bytes());
                    mac.finalize().into_bytes().to_vec()
                });
                format!(
                    "{signing_input}.{}",
                    base64url::encode(&mac.unwrap_or_default())
                )
            }
            Mutation::TamperPayload { replacement } => {
                let mut tampered = claims;
                tampered.extend(replacement.clone());
                let (header_part, _) = signing_input.split_once('.').unwrap_or((signing_input, ""));
                let payload = base64url::encode(Value::Object(tampered).to_string().as_bytes());
                format!("{header_part}.{payload}.{signature}")
            }
            Mutation::TamperHeader => {
                let mut members = self.header_members(&key);
                members.insert("tampered".into(), Value::Bool(true));
                let (_, payload_part) =
                    signing_input.split_once('.').unwrap_or(("", signing_input));
                let header = base64url::encode(Value::Object(members).to_string().as_bytes());
                format!("{header}.{payload_part}.{signature}")
            }
            Mutation::ExtraSegment => format!("{signed}.e30"),
            Mutation::InnerSpace => {
                let middle = signed.len() / 2;
                format!("{} {}", &signed[..middle], &signed[middle..])
            }
            Mutation::PaddedSignature => format!("{signed}=="),
            Mutation::LongSignature => {
                let mut bytes = base64url::decode(signature).unwrap_or_default();
                bytes.splice(0..0, [0x30, 0x44, 0x02, 0x20]);
                format!("{signing_input}.{}", base64url::encode(&bytes))
            }
            Mutation::HighS => {
                let mut bytes = base64url::decode(signature).unwrap_or_default();
                if let Some(s) = bytes.get_mut(32..64) {
                    negate_mod_p256_order(s);
                }
                format!("{signing_input}.{}", base64url::encode(&bytes))
            }
            _ => signed,
        }
    }

    /// The `authorization` header values carrying the token made at `now`.
    pub fn authorization(&self, now: i64) -> Vec<String> {
        let token = self.token(now);
        match self.presentation {
            Presentation::Bearer => vec![format!("Bearer {token}")],
            Presentation::LowercaseScheme => vec![format!("bearer {token}")],
            Presentation::TwoHeaders => vec![format!("Bearer {token}"), format!("Bearer {token}")],
            Presentation::BasicScheme => vec![format!("Basic {token}")],
            Presentation::DoubleSpace => vec![format!("Bearer  {token}")],
        }
    }

    fn header_members(&self, key: &jitgate_grant::SigningKey) -> Map<String, Value> {
        self.header
            .iter()
            .map(|(name, value)| {
                let value = match value.as_str() {
                    Some("{kid}") => Value::String(key.key_id()),
                    Some("{alg}") => Value::String(key.algorithm().jws_name().into()),
                    _ => value.clone(),
                };
                (name.clone(), value)
            })
            .collect()
    }

    fn claims_at(&self, now: i64) -> Map<String, Value> {
        let mut claims = self.claims.clone();
        for (name, offset) in [
            ("iat", self.times.iat),
            ("nbf", self.times.nbf),
            ("exp", self.times.exp),
        ] {
            if let Some(offset) = offset {
                claims.insert(name.into(), Value::from(now + offset));
            }
        }
        claims
    }
}

/// The order `n` of the P-256 group (SEC 2 §2.4.2), big-endian.
const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// Replaces the big-endian scalar `s` (0 < s < n) by `n − s`. Written out here rather than
/// taken from the curve library the verifier uses, so the vector does not lean on the code
/// it tests.
fn negate_mod_p256_order(s: &mut [u8]) {
    let mut borrow = 0_u16;
    for (digit, order) in s.iter_mut().zip(P256_ORDER).rev() {
        // One byte of schoolbook subtraction, lending 0x100 up front: below 0x100 means
        // the lend was needed.
        let difference = u16::from(order) + 0x100 - u16::from(*digit) - borrow;
        *digit = difference.to_le_bytes()[0];
        borrow = u16::from(difference < 0x100);
    }
}

/// Inserts `"name": raw` just before the closing brace of a JSON object text.
fn append_member(object: &str, name: &str, raw: &str) -> String {
    let body = object.strip_suffix('}').unwrap_or(object);
    let separator = if body.ends_with('{') { "" } else { "," };
    format!("{body}{separator}\"{name}\":{raw}}}")
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn negation_mod_the_p256_order() {
        let mut one = [0_u8; 32];
        one[31] = 1;
        let mut value = one;
        negate_mod_p256_order(&mut value);
        let mut order_minus_one = P256_ORDER;
        order_minus_one[31] -= 1;
        assert_eq!(value, order_minus_one);
        negate_mod_p256_order(&mut value);
        assert_eq!(value, one);

        // A borrow: n ends …25 51, so n − 0xff ends …24 52.
        let mut value = [0_u8; 32];
        value[31] = 0xff;
        negate_mod_p256_order(&mut value);
        let mut expected = P256_ORDER;
        expected[30] = 0x24;
        expected[31] = 0x52;
        assert_eq!(value, expected);
    }

    #[test]
    fn the_high_s_mutation_changes_only_the_signature() {
        let mut recipe = Recipe::honest(TestKey::P256, Map::new(), Times::default());
        let honest = recipe.token(0);
        recipe.mutation = Mutation::HighS;
        let twin = recipe.token(0);
        let (honest_input, honest_signature) = honest.rsplit_once('.').unwrap();
        let (twin_input, twin_signature) = twin.rsplit_once('.').unwrap();
        assert_eq!(honest_input, twin_input);
        let honest_bytes = base64url::decode(honest_signature).unwrap();
        let twin_bytes = base64url::decode(twin_signature).unwrap();
        assert_eq!(honest_bytes[..32], twin_bytes[..32], "r is kept");
        assert_ne!(honest_bytes[32..], twin_bytes[32..], "s is replaced");
    }
}
