//! The data-plane credential: the shared bearer secret the Envoy filter presents to read the
//! revocation feed. It identifies no subject and opens nothing else.
//!
//! Compared in constant time over SHA-256 digests, so neither the content nor the length of
//! the configured secret leaks through response timing.

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::bearer_token;
use crate::error::{Error, Result};

/// The configured credential, kept only as its digest.
#[derive(Clone)]
pub struct DataPlaneCredential {
    digest: [u8; 32],
}

impl std::fmt::Debug for DataPlaneCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataPlaneCredential(…)")
    }
}

impl DataPlaneCredential {
    /// A credential; empty secrets are refused so a missing setting cannot open the feed.
    pub fn new(secret: &str) -> Result<DataPlaneCredential> {
        if secret.trim().is_empty() {
            return Err(Error::Config(
                "the data-plane credential must not be empty".into(),
            ));
        }
        Ok(DataPlaneCredential {
            digest: Sha256::digest(secret.as_bytes()).into(),
        })
    }

    /// Whether `headers` carry `Authorization: Bearer <this credential>`; 401 otherwise.
    pub fn check(&self, headers: &HeaderMap) -> Result<()> {
        let presented = bearer_token(headers)
            .map_err(|_| Error::DataPlaneUnauthenticated)?
            .ok_or(Error::DataPlaneUnauthenticated)?;
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        if bool::from(digest.ct_eq(&self.digest)) {
            Ok(())
        } else {
            Err(Error::DataPlaneUnauthenticated)
        }
    }
}
