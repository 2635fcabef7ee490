//! Random identifiers and secrets: request (= grant) ids, token ids, CSRF secrets, API tokens.
//!
//! Everything comes from the operating system's CSPRNG; an id is never derived from a
//! counter or the time, so one cannot be guessed from another.

use crate::error::{Error, Result};

/// `n` random bytes.
pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|error| Error::Internal(format!("getrandom: {error}")))?;
    Ok(bytes)
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A new access-request id, which is also the grant id once approved (`req_` + 24 hex).
pub fn request_id() -> Result<String> {
    Ok(format!("req_{}", hex(&random_bytes::<12>()?)))
}

/// A new token id (`jti`).
pub fn token_id() -> Result<String> {
    Ok(hex(&random_bytes::<16>()?))
}
