//! Verifying a grant token: signature, then claims, then time — producing a
//! [`VerifiedGrant`] or the precise [`Reason`] it was refused.
//!
//! The order is deliberate: nothing from the payload is believed before the signature
//! verifies with the key the header's `kid` names, and that key's algorithm must equal the
//! header's `alg` (no algorithm confusion). Revocation is not checked here because it
//! changes while a verified token sits in a cache; `decide` checks it on every request.
//!
//! A signed token has exactly one acceptable text: base64url must be canonical (see
//! [`crate::base64url`]) and an ES256 signature must be low-S (see
//! [`crate::keys::VerifyingKey::verifies`]), so no one can derive a second token — a second
//! cache entry, a second digest in the audit trail — from a token they hold. Every host
//! verifies grant tokens through this module (the cache in [`crate::cache`] too).

use crate::claims::GrantClaims;
use crate::digest::TokenDigest;
use crate::jwks::KeySet;
use crate::reason::Reason;
use crate::scope::GrantedScope;
use crate::time::UnixTime;
use crate::token::parse_compact;

/// Longest claim string accepted for ids (`sub`, `jti`, `grant_id`, `client_id`).
pub const MAX_ID_LENGTH: usize = 256;

/// What makes a token acceptable, apart from the keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRules {
    /// The one issuer trusted (`iss` must equal it exactly).
    pub issuer: String,
    /// Audiences this gateway answers to; `aud` must name at least one.
    pub audiences: Vec<String>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
    pub leeway_seconds: i64,
    /// Longest token accepted, in bytes.
    pub max_token_bytes: usize,
}

impl TokenRules {
    /// Default leeway: enough for NTP-disciplined clocks, short against replay.
    pub const DEFAULT_LEEWAY_SECONDS: i64 = 30;
    /// Largest leeway a gateway may be configured with. The issuer keeps a revocation on its
    /// feed this long after the grant's window ends, so no gateway can still accept one of
    /// the grant's tokens once the entry is gone.
    pub const MAX_LEEWAY_SECONDS: i64 = 300;
    /// Default token size limit, well above any token the issuer mints.
    pub const DEFAULT_MAX_TOKEN_BYTES: usize = 4096;

    /// Whether the time-dependent claims hold at `now`.
    pub fn check_time(&self, claims: &GrantClaims, now: UnixTime) -> Result<(), Reason> {
        // `exp` is the first instant the token is no longer valid (RFC 7519 §4.1.4).
        if now.seconds() >= UnixTime(claims.exp).plus(self.leeway_seconds).seconds() {
            return Err(Reason::Expired);
        }
        let latest_start = now.plus(self.leeway_seconds).seconds();
        if claims.nbf.is_some_and(|nbf| nbf > latest_start) || claims.iat > latest_start {
            return Err(Reason::NotYetValid);
        }
        Ok(())
    }

    /// Whether `iss` and `aud` are the ones this gateway trusts.
    pub fn check_parties(&self, claims: &GrantClaims) -> Result<(), Reason> {
        if claims.iss != self.issuer {
            return Err(Reason::WrongIssuer);
        }
        if !self
            .audiences
            .iter()
            .any(|audience| claims.aud.contains(audience))
        {
            return Err(Reason::WrongAudience);
        }
        Ok(())
    }
}

/// A token whose signature verified and whose claims parsed. Time, issuer and audience are
/// checked again on every use (see [`crate::cache`]), revocation too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedGrant {
    /// The claims as signed.
    pub claims: GrantClaims,
    /// The parsed `scope` claim.
    pub scopes: Vec<GrantedScope>,
    /// The key that signed the token.
    pub key_id: String,
    /// The token's digest, for caches and audit records.
    pub token_digest: TokenDigest,
}

/// Verifies `token` fully at `now`.
pub fn verify_token(
    token: &str,
    keys: &KeySet,
    rules: &TokenRules,
    now: UnixTime,
) -> Result<VerifiedGrant, Reason> {
    let verified = verify_signature_and_claims(token, keys, rules)?;
    rules.check_parties(&verified.claims)?;
    rules.check_time(&verified.claims, now)?;
    Ok(verified)
}

/// The time-independent part of verification: what a cache may remember.
pub fn verify_signature_and_claims(
    token: &str,
    keys: &KeySet,
    rules: &TokenRules,
) -> Result<VerifiedGrant, Reason> {
    let compact = parse_compact(token, rules.max_token_bytes)?;
    let key = keys.get(&compact.key_id).ok_or(Reason::UnknownKey)?;
    if key.algorithm() != compact.algorithm {
        return Err(Reason::AlgorithmMismatch);
    }
    if !key.verifies(compact.signing_input, &compact.signature) {
        return Err(Reason::BadSignature);
    }
    let claims: GrantClaims =
        serde_json::from_slice(&compact.payload).map_err(|_| Reason::InvalidClaims)?;
    check_claim_shapes(&claims)?;
    let scopes = GrantedScope::parse_list(&claims.scope).map_err(|_| Reason::InvalidClaims)?;
    Ok(VerifiedGrant {
        claims,
        scopes,
        key_id: compact.key_id,
        token_digest: TokenDigest::of(token),
    })
}

/// Ids must be present and bounded; the window must not be inverted.
fn check_claim_shapes(claims: &GrantClaims) -> Result<(), Reason> {
    let ids = [&claims.sub, &claims.jti, &claims.grant_id];
    let ids_ok = ids.iter().all(|id| is_reasonable_id(id))
        && claims.client_id.as_deref().is_none_or(is_reasonable_id)
        && claims.approvers.iter().all(|id| is_reasonable_id(id));
    if !ids_ok || claims.exp <= claims.iat || claims.nbf.is_some_and(|nbf| nbf >= claims.exp) {
        return Err(Reason::InvalidClaims);
    }
    Ok(())
}

fn is_reasonable_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_LENGTH && !id.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use crate::base64url;
    use crate::cache::VerificationCache;
    use crate::claims::{Audience, GrantClaims};
    use crate::keys::{es256_other_s, SigningKey};
    use crate::mint::mint;

    const NOW: UnixTime = UnixTime(1_000_000);

    fn rules() -> TokenRules {
        TokenRules {
            issuer: "iss".into(),
            audiences: vec!["aud".into()],
            leeway_seconds: 0,
            max_token_bytes: 4096,
        }
    }

    fn es256_token(key: &SigningKey) -> String {
        let claims = GrantClaims {
            iss: "iss".into(),
            sub: "alice".into(),
            aud: Audience::One("aud".into()),
            iat: NOW.0 - 10,
            nbf: None,
            exp: NOW.0 + 300,
            jti: "j".into(),
            scope: "inference:m".into(),
            grant_id: "g".into(),
            client_id: None,
            approvers: vec![],
            break_glass: false,
            limits: None,
        };
        mint(&claims, key).unwrap()
    }

    /// The same token with its signature's `s` replaced by `n − s`.
    fn high_s_twin(token: &str) -> String {
        let (signing_input, signature) = token.rsplit_once('.').unwrap();
        let twin = es256_other_s(&base64url::decode(signature).unwrap());
        format!("{signing_input}.{}", base64url::encode(&twin))
    }

    #[test]
    fn a_high_s_es256_token_is_a_bad_signature_fresh_and_through_the_cache() {
        let key = SigningKey::p256_from_scalar(&[9; 32]).unwrap();
        let mut keys = KeySet::new();
        keys.insert(key.verifying_key());
        let honest = es256_token(&key);
        let twin = high_s_twin(&honest);
        assert_ne!(twin, honest);

        assert_eq!(
            verify_token(&honest, &keys, &rules(), NOW).unwrap().key_id,
            key.key_id()
        );
        assert_eq!(
            verify_token(&twin, &keys, &rules(), NOW),
            Err(Reason::BadSignature)
        );

        // The cache verifies through the same function: the twin is refused even while the
        // honest token sits in the cache, and never becomes an entry of its own.
        let mut cache = VerificationCache::new(8);
        assert!(cache.verify(&honest, &keys, &rules(), NOW).is_ok());
        assert_eq!(
            cache.verify(&twin, &keys, &rules(), NOW).unwrap_err(),
            Reason::BadSignature
        );
        assert_eq!(cache.len(), 1);
    }
}
