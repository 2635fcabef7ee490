//! Minting grant tokens: the issuer's side of [`crate::verify`].
//!
//! A token is only minted from claims that the verifier would accept (valid scope list,
//! sensible window), so the issuer cannot produce a token the gate then refuses for shape.

use std::fmt;

use serde_json::json;

use crate::base64url;
use crate::claims::GrantClaims;
use crate::keys::SigningKey;
use crate::scope::{GrantedScope, ScopeError};

/// Why claims could not be minted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MintError {
    /// The `scope` claim is not a valid scope list.
    Scope(ScopeError),
    /// `exp` is not after `iat`.
    EmptyWindow,
    /// A required id claim is empty.
    EmptyClaim(&'static str),
}

impl fmt::Display for MintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MintError::Scope(error) => write!(f, "cannot mint: {error}"),
            MintError::EmptyWindow => f.write_str("cannot mint: exp must be after iat"),
            MintError::EmptyClaim(name) => write!(f, "cannot mint: {name} must not be empty"),
        }
    }
}

impl std::error::Error for MintError {}

/// Signs `claims` as a grant token (`typ: at+jwt`, `kid`: the key's thumbprint).
pub fn mint(claims: &GrantClaims, key: &SigningKey) -> Result<String, MintError> {
    GrantedScope::parse_list(&claims.scope).map_err(MintError::Scope)?;
    if claims.exp <= claims.iat {
        return Err(MintError::EmptyWindow);
    }
    for (name, value) in [
        ("iss", &claims.iss),
        ("sub", &claims.sub),
        ("jti", &claims.jti),
        ("grant_id", &claims.grant_id),
    ] {
        if value.is_empty() {
            return Err(MintError::EmptyClaim(name));
        }
    }
    let header = json!({ "alg": key.algorithm().jws_name(), "typ": "at+jwt", "kid": key.key_id() });
    let payload = serde_json::to_vec(claims).map_err(|_| MintError::EmptyClaim("claims"))?;
    Ok(sign_compact(header.to_string().as_bytes(), &payload, key))
}

/// Signs arbitrary header and payload bytes. For the issuer use [`mint`]; this exists for
/// conformance vectors, which need tokens the verifier must refuse.
pub fn sign_compact(header: &[u8], payload: &[u8], key: &SigningKey) -> String {
    let mut token = base64url::encode(header);
    token.push('.');
    token.push_str(&base64url::encode(payload));
    let signature = key.sign(token.as_bytes());
    token.push('.');
    token.push_str(&base64url::encode(&signature));
    token
}
