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

/// Inserts `"name": raw` just before the closing brace of a JSON object text.
fn append_member(object: &str, name: &str, raw: &str) -> String {
    let body = object.strip_suffix('}').unwrap_or(object);
    let separator = if body.ends_with('{') { "" } else { "," };
    format!("{body}{separator}\"{name}\":{raw}}}")
}
