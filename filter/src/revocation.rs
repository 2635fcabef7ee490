//! Polling the issuer's revocation feed (see `docs/revocation-feed.md` for the contract).
//!
//! Every interval the filter asks for revocations after its cursor, with the data-plane
//! credential. The view is *current* while the last successful poll is younger than
//! `max_staleness`; after that (and before the first success) `decide` answers 503
//! `revocation_unavailable` for token-bearing requests rather than trust a grant it cannot
//! check. Revoked grants are forgotten once their window has ended.

use jitgate_grant::{RevokedGrants, UnixTime};
use serde::Deserialize;

use crate::config::RevocationSettings;
use crate::host::CallResponse;
use crate::schedule::CallSchedule;

/// Largest feed page accepted.
pub const MAX_FEED_BYTES: usize = 1024 * 1024;
const RETRY_BASE_MS: u64 = 250;

/// Why a poll failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollProblem {
    /// No response.
    NoResponse,
    /// A non-200 status (401 means the credential is wrong).
    Status(u16),
    /// The body is not a feed page.
    BadPage(String),
}

impl std::fmt::Display for PollProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PollProblem::NoResponse => f.write_str("no response"),
            PollProblem::Status(401) => {
                f.write_str("HTTP status 401: the data-plane credential was refused")
            }
            PollProblem::Status(status) => write!(f, "HTTP status {status}"),
            PollProblem::BadPage(problem) => write!(f, "bad feed page: {problem}"),
        }
    }
}

#[derive(Deserialize)]
struct FeedPage {
    revoked: Vec<FeedEntry>,
    cursor: String,
}

#[derive(Deserialize)]
struct FeedEntry {
    grant_id: String,
    #[allow(dead_code)]
    revoked_at: i64,
    #[serde(default)]
    expires_at: Option<i64>,
}

/// Revocation feed state for one VM.
#[derive(Debug)]
pub struct RevocationPoller {
    settings: RevocationSettings,
    revoked: RevokedGrants,
    cursor: Option<String>,
    schedule: CallSchedule,
    last_success_ms: Option<u64>,
    leeway_seconds: i64,
}

impl RevocationPoller {
    /// A poller that polls at the first opportunity.
    pub fn new(settings: RevocationSettings, leeway_seconds: i64) -> RevocationPoller {
        RevocationPoller {
            revoked: RevokedGrants::new(),
            cursor: None,
            // Retry no slower than the poll interval: staleness is what matters here.
            schedule: CallSchedule::new(
                RETRY_BASE_MS.min(millis(settings.interval)),
                millis(settings.interval),
            ),
            last_success_ms: None,
            leeway_seconds,
            settings,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &RevocationSettings {
        &self.settings
    }

    /// The revoked grants known.
    pub fn revoked(&self) -> &RevokedGrants {
        &self.revoked
    }

    /// Whether the view may be trusted at `now_ms`.
    pub fn is_current(&self, now_ms: u64) -> bool {
        let bound = millis(self.settings.max_staleness);
        self.last_success_ms
            .is_some_and(|last| now_ms.saturating_sub(last) <= bound)
    }

    /// Whether a poll should start now.
    pub fn is_due(&self, now_ms: u64) -> bool {
        self.schedule.is_due(now_ms)
    }

    /// Whether `token` is this poller's call.
    pub fn owns_call(&self, token: u32) -> bool {
        self.schedule.owns(token)
    }

    /// The path (with the cursor) to poll.
    pub fn path_and_query(&self) -> String {
        match &self.cursor {
            None => self.settings.upstream.path.clone(),
            Some(cursor) => format!(
                "{}?after={}",
                self.settings.upstream.path,
                percent_encode(cursor)
            ),
        }
    }

    /// Records that a poll started.
    pub fn started(&mut self, token: u32) {
        self.schedule.started(token);
    }

    /// Records that a poll could not be dispatched.
    pub fn dispatch_failed(&mut self, now_ms: u64) {
        self.schedule.failed(now_ms);
    }

    /// Applies a poll's response; returns how many new revocations it brought.
    pub fn on_response(
        &mut self,
        response: &CallResponse,
        now_ms: u64,
    ) -> Result<usize, PollProblem> {
        match parse(response) {
            Ok(page) => {
                let count = page.revoked.len();
                for entry in page.revoked {
                    match entry.expires_at {
                        Some(at) => self.revoked.revoke_until(entry.grant_id, UnixTime(at)),
                        None => self.revoked.revoke(entry.grant_id),
                    };
                }
                self.cursor = Some(page.cursor);
                self.last_success_ms = Some(now_ms);
                self.revoked.prune(
                    UnixTime(i64::try_from(now_ms / 1000).unwrap_or(i64::MAX)),
                    self.leeway_seconds,
                );
                self.schedule
                    .succeeded(now_ms.saturating_add(millis(self.settings.interval)));
                Ok(count)
            }
            Err(problem) => {
                self.schedule.failed(now_ms);
                Err(problem)
            }
        }
    }
}

fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn parse(response: &CallResponse) -> Result<FeedPage, PollProblem> {
    match response.status {
        None => return Err(PollProblem::NoResponse),
        Some(200) => {}
        Some(status) => return Err(PollProblem::Status(status)),
    }
    let body = response.body.as_deref().unwrap_or_default();
    if body.len() > MAX_FEED_BYTES {
        return Err(PollProblem::BadPage(format!(
            "larger than {MAX_FEED_BYTES} bytes"
        )));
    }
    let page: FeedPage =
        serde_json::from_slice(body).map_err(|e| PollProblem::BadPage(e.to_string()))?;
    if page.cursor.is_empty() || page.revoked.iter().any(|entry| entry.grant_id.is_empty()) {
        return Err(PollProblem::BadPage("empty cursor or grant id".into()));
    }
    Ok(page)
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::Upstream;
    use jitgate_grant::RevocationView;
    use std::time::Duration;

    fn poller() -> RevocationPoller {
        RevocationPoller::new(
            RevocationSettings {
                upstream: Upstream::new("issuer", None, "/v1/revocations", 1000).unwrap(),
                interval: Duration::from_millis(1000),
                credential: "c".into(),
                max_staleness: Duration::from_millis(5000),
            },
            30,
        )
    }

    fn page(json: &str) -> CallResponse {
        CallResponse {
            status: Some(200),
            body: Some(json.as_bytes().to_vec()),
        }
    }

    #[test]
    fn stale_until_the_first_success_then_current_within_the_bound() {
        let mut feed = poller();
        assert!(!feed.is_current(0));
        assert_eq!(feed.path_and_query(), "/v1/revocations");
        feed.started(1);
        assert_eq!(
            feed.on_response(&page(r#"{"revoked":[],"cursor":"0"}"#), 1000),
            Ok(0)
        );
        assert!(feed.is_current(6000) && !feed.is_current(6001));
        assert_eq!(feed.path_and_query(), "/v1/revocations?after=0");
        assert!(!feed.is_due(1999) && feed.is_due(2000));
    }

    #[test]
    fn applies_revocations_and_advances_the_cursor() {
        let mut feed = poller();
        feed.started(1);
        let body = r#"{"revoked":[{"grant_id":"g-1","revoked_at":5},{"grant_id":"g-2","revoked_at":6,"expires_at":10}],"cursor":"a b/2"}"#;
        // At 100 s, grant g-2's window (ended at 10 s, plus 30 s leeway) is over.
        assert_eq!(feed.on_response(&page(body), 100_000), Ok(2));
        assert!(feed.revoked().is_revoked("g-1"));
        assert!(
            !feed.revoked().is_revoked("g-2"),
            "its window ended long ago"
        );
        assert_eq!(feed.path_and_query(), "/v1/revocations?after=a%20b%2F2");
    }

    #[test]
    fn failures_keep_state_and_retry_within_the_interval() {
        let mut feed = poller();
        feed.started(1);
        assert!(feed
            .on_response(
                &page(r#"{"revoked":[{"grant_id":"g","revoked_at":1}],"cursor":"1"}"#),
                0
            )
            .is_ok());
        feed.started(2);
        assert_eq!(
            feed.on_response(
                &CallResponse {
                    status: Some(401),
                    body: None
                },
                1000
            ),
            Err(PollProblem::Status(401))
        );
        assert!(feed.revoked().is_revoked("g"));
        assert!(feed.is_due(2000));
        feed.started(3);
        assert!(matches!(
            feed.on_response(&page("{}"), 2000),
            Err(PollProblem::BadPage(_))
        ));
        assert_eq!(feed.path_and_query(), "/v1/revocations?after=1");
    }
}
