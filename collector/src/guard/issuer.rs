//! The guard's calls to the issuer, with its own API token: `POST /v1/alerts`,
//! `POST /v1/grants/{id}/revoke` and `PUT /v1/grants/{id}/usage` (`docs/guard.md`). Each
//! answer is sorted into done, retry later, or give up, so the outbox knows what to do; the
//! token is read from a file only its owner can read, and never logged.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::record::GuardRecord;
use crate::error::{Error, Result};
use crate::filter::format_time;

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Done; the words are kept as the step's outcome.
    Done(String),
    /// Try again later (the issuer down, overloaded or refusing our credential for now).
    Retry(String),
    /// Will never succeed (an unknown grant, a body the issuer refuses).
    GiveUp(String),
}

/// The issuer's API, as the guard calls it.
#[derive(Clone)]
pub struct IssuerClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for IssuerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IssuerClient({})", self.base)
    }
}

/// Reads the guard's API token: the first non-comment line of a file that only its owner
/// may read or write.
pub fn read_token(path: &Path) -> Result<String> {
    let metadata = std::fs::metadata(path).map_err(Error::io(path))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::Config(format!(
            "{} has mode {mode:04o}: the guard's API token file must be readable by its owner only (chmod 600)",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
    let token = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'))
        .ok_or_else(|| Error::Config(format!("{} holds no API token", path.display())))?;
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::Config(format!(
            "{}: the API token must be one word",
            path.display()
        )));
    }
    Ok(token.to_owned())
}

impl IssuerClient {
    /// A client for the issuer at `base` (`https://issuer.example`), calling with `token`.
    pub fn new(base: &str, token: String, timeout: Duration) -> Result<IssuerClient> {
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::Config(format!(
                "the issuer URL {base:?} must start with http:// or https://"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        Ok(IssuerClient {
            base: base.trim_end_matches('/').to_owned(),
            token,
            http,
        })
    }

    /// `POST /v1/alerts` for a firing; idempotent on its `firing_id`.
    pub async fn alert(&self, firing: &GuardRecord) -> Delivery {
        let body = json!({
            "grant_id": firing.grant_id,
            "subject": firing.subject,
            "rule": firing.rule,
            "action": firing.action,
            "window_seconds": firing.window_seconds,
            "counts": firing.counts,
            "detail": firing.detail,
            "fired_at": format_time(firing.time_unix_nano),
            "firing_id": firing.firing_id,
        });
        let request = self
            .http
            .post(format!("{}/v1/alerts", self.base))
            .json(&body);
        self.send(request, &[StatusCode::OK, StatusCode::CREATED])
            .await
    }

    /// `POST /v1/grants/{id}/revoke` with the firing as the reason. A grant already revoked
    /// (409) is as good as revoked now.
    pub async fn revoke(&self, firing: &GuardRecord) -> Delivery {
        let request = self
            .http
            .post(format!(
                "{}/v1/grants/{}/revoke",
                self.base,
                path_segment(&firing.grant_id)
            ))
            .json(&json!({"reason": revoke_reason(firing)}));
        self.send(request, &[StatusCode::OK, StatusCode::CONFLICT])
            .await
    }

    /// `PUT /v1/grants/{id}/usage`.
    pub async fn usage(&self, grant: &str, usage: &Value) -> Delivery {
        let request = self
            .http
            .put(format!(
                "{}/v1/grants/{}/usage",
                self.base,
                path_segment(grant)
            ))
            .json(usage);
        self.send(request, &[StatusCode::OK, StatusCode::NO_CONTENT])
            .await
    }

    async fn send(&self, request: reqwest::RequestBuilder, done: &[StatusCode]) -> Delivery {
        let response = match request.bearer_auth(&self.token).send().await {
            Ok(response) => response,
            Err(error) => return Delivery::Retry(format!("the issuer is unreachable: {error}")),
        };
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        let said = body.chars().take(300).collect::<String>();
        if status.is_success() || done.contains(&status) {
            return Delivery::Done(format!("{}", status.as_u16()));
        }
        match status {
            // Our credential or the issuer's state may be fixed by an operator: keep trying.
            StatusCode::UNAUTHORIZED
            | StatusCode::FORBIDDEN
            | StatusCode::REQUEST_TIMEOUT
            | StatusCode::TOO_MANY_REQUESTS => {
                Delivery::Retry(format!("the issuer answered {}: {said}", status.as_u16()))
            }
            status if status.is_server_error() => {
                Delivery::Retry(format!("the issuer answered {}: {said}", status.as_u16()))
            }
            status => Delivery::GiveUp(format!("the issuer answered {}: {said}", status.as_u16())),
        }
    }
}

/// The most characters a revocation reason may have at the issuer.
const MAX_REASON_CHARS: usize = 2000;

/// The reason a guard revocation carries (cut to what the issuer takes: a revocation must
/// never be refused for its wording).
pub fn revoke_reason(firing: &GuardRecord) -> String {
    let reason = format!("guard: rule {} fired: {}", firing.rule, firing.detail);
    if reason.chars().count() <= MAX_REASON_CHARS {
        return reason;
    }
    let mut cut: String = reason.chars().take(MAX_REASON_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// A grant id as one path segment (ids are plain ASCII; anything else is escaped).
fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_files_must_be_private_and_hold_one_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("guard-token");
        std::fs::write(&path, "# the guard\njgt_guard_0123456789\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            read_token(&path).unwrap_err().to_string(),
            format!(
                "configuration: {} has mode 0644: the guard's API token file must be readable by its owner only (chmod 600)",
                path.display()
            )
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_token(&path).unwrap(), "jgt_guard_0123456789");
    }

    #[test]
    fn a_long_reason_is_cut_to_what_the_issuer_takes() {
        let mut firing = crate::guard::record::tests::sample();
        assert_eq!(
            revoke_reason(&firing),
            "guard: rule probing fired: 5 refusals in 60 s"
        );
        firing.detail = "x".repeat(3000);
        let reason = revoke_reason(&firing);
        assert_eq!(reason.chars().count(), 2000);
        assert!(reason.ends_with("xx…"));
    }

    #[test]
    fn grant_ids_stay_one_path_segment() {
        assert_eq!(path_segment("req_01ab"), "req_01ab");
        assert_eq!(path_segment("a/b?c"), "a%2Fb%3Fc");
    }
}
