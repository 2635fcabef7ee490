//! The claims of a grant token (RFC 9068-style access token) and their strict JSON form.
//!
//! Claims are deserialized straight into typed fields — never through a map — so a repeated
//! claim (`"exp"` twice, `"scope"` twice) is an error instead of "last one wins", and a
//! NumericDate must be a whole number. Unknown claims are ignored, as RFC 7519 asks, because
//! none of them can widen what the token allows.

use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Usage limits an approver attached to the grant. Enforcement is the gate's business; the
/// token only carries them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Maximum number of requests under the grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    /// Maximum number of model tokens (input plus output) under the grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
}

/// The `aud` claim: one audience or several (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// `"aud": "gateway"`.
    One(String),
    /// `"aud": ["gateway", "other"]`.
    Many(Vec<String>),
}

impl Audience {
    /// Each audience named.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        let values: &[String] = match self {
            Audience::One(value) => std::slice::from_ref(value),
            Audience::Many(values) => values,
        };
        values.iter().map(String::as_str)
    }

    /// Whether `audience` is one of them.
    pub fn contains(&self, audience: &str) -> bool {
        self.values().any(|value| value == audience)
    }
}

impl Serialize for Audience {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Audience::One(value) => serializer.serialize_str(value),
            Audience::Many(values) => values.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AudienceVisitor;

        impl<'de> Visitor<'de> for AudienceVisitor {
            type Value = Audience;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a non-empty array of strings")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Audience, E> {
                Ok(Audience::One(value.to_owned()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Audience, A::Error> {
                let mut values = Vec::new();
                while let Some(value) = seq.next_element::<String>()? {
                    values.push(value);
                }
                if values.is_empty() {
                    return Err(de::Error::invalid_length(0, &self));
                }
                Ok(Audience::Many(values))
            }
        }

        deserializer.deserialize_any(AudienceVisitor)
    }
}

/// Everything a grant token asserts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantClaims {
    /// The issuer's URL.
    pub iss: String,
    /// Who the grant is for (a person or a service account).
    pub sub: String,
    /// The gateway audience(s).
    pub aud: Audience,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Not before, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Unique token id.
    pub jti: String,
    /// Space-delimited granted scopes.
    pub scope: String,
    /// The approved access request this token belongs to; the revocation key.
    pub grant_id: String,
    /// The client (agent, script) acting for `sub`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Who approved the grant (empty when policy approved it alone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
    /// Whether this is break-glass access.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub break_glass: bool,
    /// Usage limits attached at approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn minimal() -> serde_json::Value {
        serde_json::json!({
            "iss": "https://issuer.test", "sub": "alice", "aud": "gateway", "iat": 100,
            "exp": 200, "jti": "t1", "scope": "inference:llama", "grant_id": "g1"
        })
    }

    #[test]
    fn audience_accepts_string_and_non_empty_array() {
        let mut claims = minimal();
        let parsed: GrantClaims = serde_json::from_value(claims.clone()).unwrap();
        assert_eq!(parsed.aud, Audience::One("gateway".into()));
        claims["aud"] = serde_json::json!(["a", "gateway"]);
        let parsed: GrantClaims = serde_json::from_value(claims.clone()).unwrap();
        assert!(parsed.aud.contains("gateway"));
        claims["aud"] = serde_json::json!([]);
        assert!(serde_json::from_value::<GrantClaims>(claims.clone()).is_err());
        claims["aud"] = serde_json::json!(7);
        assert!(serde_json::from_value::<GrantClaims>(claims).is_err());
    }

    #[test]
    fn repeated_claims_and_fractional_times_are_errors() {
        let text = minimal()
            .to_string()
            .replacen("\"exp\":200", "\"exp\":200,\"exp\":999999", 1);
        let error = serde_json::from_str::<GrantClaims>(&text).unwrap_err();
        assert!(
            error.to_string().contains("duplicate field `exp`"),
            "{error}"
        );
        let text = minimal()
            .to_string()
            .replacen("\"exp\":200", "\"exp\":200.5", 1);
        assert!(serde_json::from_str::<GrantClaims>(&text).is_err());
    }

    #[test]
    fn optional_claims_are_omitted_when_empty() {
        let parsed: GrantClaims = serde_json::from_value(minimal()).unwrap();
        let text = serde_json::to_string(&parsed).unwrap();
        assert!(!text.contains("approvers") && !text.contains("break_glass"));
        assert!(!text.contains("nbf") && !text.contains("limits"));
    }
}
