//! Bearer credentials: who may send records and who may read them. Credentials are kept only
//! as SHA-256 digests and compared in constant time against every configured one, so neither
//! timing nor a memory dump of the collector gives a credential away. They are never logged.
//! Files holding them must be private to their owner, as the signing key's must.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use axum::http::{header, HeaderMap};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};

/// Shortest credential accepted: anything shorter is guessable.
const MIN_CREDENTIAL_CHARS: usize = 16;

/// A set of accepted bearer credentials. Empty means nobody is accepted (fail closed).
#[derive(Clone, Default)]
pub struct Credentials {
    digests: Vec<[u8; 32]>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({} configured)", self.digests.len())
    }
}

impl Credentials {
    /// The given credentials; `what` names them in errors ("sender credential").
    pub fn new<I, S>(what: &str, credentials: I) -> Result<Credentials>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut digests = Vec::new();
        for (i, credential) in credentials.into_iter().enumerate() {
            let credential = credential.as_ref();
            if credential.chars().count() < MIN_CREDENTIAL_CHARS
                || credential
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(Error::Config(format!(
                    "{what} #{} must be at least {MIN_CREDENTIAL_CHARS} characters without spaces",
                    i + 1
                )));
            }
            digests.push(Sha256::digest(credential.as_bytes()).into());
        }
        Ok(Credentials { digests })
    }

    /// Credentials from a file: one a line; blank lines and lines starting with `#` ignored.
    /// The file must not be readable or writable by group or others (like the signing key).
    pub fn from_file(what: &str, path: &Path) -> Result<Credentials> {
        let metadata = std::fs::metadata(path).map_err(Error::io(path))?;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::Config(format!(
                "{} has mode {mode:04o}: a file of {what}s must be readable by its owner only (chmod 600)",
                path.display()
            )));
        }
        let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
        let credentials = Credentials::new(
            what,
            text.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#')),
        )
        // Name the file, not just the line number: several files may be configured.
        .map_err(|error| match error {
            Error::Config(message) => Error::Config(format!("{}: {message}", path.display())),
            other => other,
        })?;
        if credentials.is_empty() {
            return Err(Error::Config(format!("{} holds no {what}", path.display())));
        }
        Ok(credentials)
    }

    /// These and `other`'s.
    pub fn merged(mut self, other: Credentials) -> Credentials {
        self.digests.extend(other.digests);
        self
    }

    /// Number configured.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Whether none are configured.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Accepts a request whose `Authorization: Bearer …` matches a configured credential.
    pub fn check(&self, headers: &HeaderMap) -> Result<()> {
        if bool::from(self.matches(&presented_digest(headers)?)) {
            Ok(())
        } else {
            Err(Error::Unauthorized)
        }
    }

    /// Whether `digest` is one of these, compared against every one without stopping early.
    pub(crate) fn matches(&self, digest: &[u8; 32]) -> subtle::Choice {
        self.digests
            .iter()
            .fold(subtle::Choice::from(0), |found, known| {
                found | known.ct_eq(digest)
            })
    }

    /// Whether these and `other` share a credential (configuration time, not constant time).
    pub(crate) fn overlaps(&self, other: &Credentials) -> bool {
        self.digests
            .iter()
            .any(|digest| other.digests.contains(digest))
    }
}

/// The SHA-256 of the request's `Authorization: Bearer …` credential.
pub(crate) fn presented_digest(headers: &HeaderMap) -> Result<[u8; 32]> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .ok_or(Error::Unauthorized)?;
    Ok(Sha256::digest(presented.as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn accepts_any_configured_credential() {
        let credentials = Credentials::new(
            "sender credential",
            ["first-credential-123", "second-credential-456"],
        )
        .unwrap();
        assert!(credentials
            .check(&headers("Bearer first-credential-123"))
            .is_ok());
        assert!(credentials
            .check(&headers("bearer second-credential-456"))
            .is_ok());
    }

    #[test]
    fn refuses_unknown_missing_and_non_bearer_credentials() {
        let credentials = Credentials::new("sender credential", ["first-credential-123"]).unwrap();
        for value in [
            "Bearer first-credential-124",
            "Basic first-credential-123",
            "Bearer",
        ] {
            assert!(matches!(
                credentials.check(&headers(value)),
                Err(Error::Unauthorized)
            ));
        }
        assert!(matches!(
            credentials.check(&HeaderMap::new()),
            Err(Error::Unauthorized)
        ));
        assert!(matches!(
            Credentials::default().check(&headers("Bearer first-credential-123")),
            Err(Error::Unauthorized)
        ));
    }

    #[test]
    fn refuses_short_credentials_without_echoing_them() {
        let error = Credentials::new("sender credential", ["short"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "configuration: sender credential #1 must be at least 16 characters without spaces"
        );
    }

    #[test]
    fn debug_shows_only_the_count() {
        let credentials = Credentials::new("sender credential", ["first-credential-123"]).unwrap();
        assert_eq!(format!("{credentials:?}"), "Credentials(1 configured)");
    }
}
