//! Polling the issuer's revocation feed (see `docs/revocation-feed.md` for the contract).
//!
//! Every interval the filter asks for revocations after its cursor, with the data-plane
//! credential. A page that says `more` is followed by the next at once: the view is only
//! *caught up* after a final page, and only a caught-up view counts. It is *current* while
//! the last catch-up is younger than `max_staleness` and not in the future (a clock that
//! stepped back proves nothing about how old it is); otherwise — and before the first
//! catch-up — `decide` answers 503 `revocation_unavailable` for token-bearing requests
//! rather than trust a grant it cannot check.
//!
//! A `410 Gone` means the issuer cannot continue from our cursor (its database was replaced
//! or restored): the poller starts again from the beginning and is stale until caught up. It
//! keeps the revocations it already knows — a revocation is never undone, and a restored
//! database may have lost some. Revoked grants are forgotten once their window has ended.

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
    /// 410: the issuer does not know the cursor; the poller starts again from the beginning.
    UnknownCursor,
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
            PollProblem::UnknownCursor => f.write_str(
                "HTTP status 410: the issuer no longer knows our cursor (a new or restored \
                 database); reading the feed again from the beginning, refusing tokens until \
                 caught up",
            ),
        }
    }
}

#[derive(Deserialize)]
struct FeedPage {
    revoked: Vec<FeedEntry>,
    cursor: String,
    /// More entries follow at once; absent means a final page.
    #[serde(default)]
    more: bool,
}

#[derive(Deserialize)]
struct FeedEntry {
    grant_id: String,
    #[allow(dead_code)]
    revoked_at: i64,
    #[serde(default)]
    expires_at: Option<i64>,
}

/// What a successful poll brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Polled {
    /// Revocations on the page.
    pub revocations: usize,
    /// Whether the page was final: the view is now caught up (else the next page is due now).
    pub caught_up: bool,
}

/// Revocation feed state for one VM.
#[derive(Debug)]
pub struct RevocationPoller {
    settings: RevocationSettings,
    revoked: RevokedGrants,
    cursor: Option<String>,
    schedule: CallSchedule,
    /// When the last final page arrived.
    last_caught_up_ms: Option<u64>,
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
            last_caught_up_ms: None,
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

    /// Whether the view may be trusted at `now_ms`: caught up no longer than `max_staleness`
    /// ago, and not "in the future" — after the clock stepped back, the age is unknown.
    pub fn is_current(&self, now_ms: u64) -> bool {
        let bound = millis(self.settings.max_staleness);
        self.last_caught_up_ms
            .is_some_and(|last| last <= now_ms && now_ms - last <= bound)
    }

    /// Whether a poll should start now.
    pub fn is_due(&self, now_ms: u64) -> bool {
        // No wait is ever longer than the interval, so a next poll further away than that
        // comes from a clock that stepped back: poll now rather than stay stale until the
        // clock catches up with the old time.
        let stepped_back =
            self.schedule.next_ms() > now_ms.saturating_add(millis(self.settings.interval));
        self.schedule.is_due(now_ms) || (!self.schedule.is_in_flight() && stepped_back)
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

    /// Applies a poll's response.
    pub fn on_response(
        &mut self,
        response: &CallResponse,
        now_ms: u64,
    ) -> Result<Polled, PollProblem> {
        match parse(response) {
            Ok(page) => {
                let revocations = page.revoked.len();
                for entry in page.revoked {
                    match entry.expires_at {
                        Some(at) => self.revoked.revoke_until(entry.grant_id, UnixTime(at)),
                        None => self.revoked.revoke(entry.grant_id),
                    };
                }
                self.cursor = Some(page.cursor);
                self.revoked.prune(
                    UnixTime(i64::try_from(now_ms / 1000).unwrap_or(i64::MAX)),
                    self.leeway_seconds,
                );
                let caught_up = !page.more;
                if caught_up {
                    self.last_caught_up_ms = Some(now_ms);
                    self.schedule
                        .succeeded(now_ms.saturating_add(millis(self.settings.interval)));
                } else {
                    // Not caught up: the newest revocations may be on the next page.
                    self.schedule.succeeded(now_ms);
                }
                Ok(Polled {
                    revocations,
                    caught_up,
                })
            }
            // A fresh start from an issuer that cannot continue our cursor. Asked without a
            // cursor, 410 is nonsense: back off like any failure rather than loop.
            Err(PollProblem::UnknownCursor) if self.cursor.is_some() => {
                self.cursor = None;
                self.last_caught_up_ms = None;
                self.schedule.succeeded(now_ms);
                Err(PollProblem::UnknownCursor)
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
        Some(410) => return Err(PollProblem::UnknownCursor),
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

    fn gone() -> CallResponse {
        CallResponse {
            status: Some(410),
            body: Some(br#"{"error":"unknown_cursor","message":"start again"}"#.to_vec()),
        }
    }

    const FINAL: Polled = Polled {
        revocations: 0,
        caught_up: true,
    };

    #[test]
    fn stale_until_the_first_success_then_current_within_the_bound() {
        let mut feed = poller();
        assert!(!feed.is_current(0));
        assert_eq!(feed.path_and_query(), "/v1/revocations");
        feed.started(1);
        assert_eq!(
            feed.on_response(&page(r#"{"revoked":[],"cursor":"0"}"#), 1000),
            Ok(FINAL)
        );
        assert!(feed.is_current(6000) && !feed.is_current(6001));
        assert_eq!(feed.path_and_query(), "/v1/revocations?after=0");
        assert!(!feed.is_due(1999) && feed.is_due(2000));
    }

    #[test]
    fn applies_revocations_and_advances_the_cursor() {
        let mut feed = poller();
        feed.started(1);
        let body = r#"{"revoked":[{"grant_id":"g-1","revoked_at":5},{"grant_id":"g-2","revoked_at":6,"expires_at":10}],"cursor":"a b/2","more":false}"#;
        // At 100 s, grant g-2's window (ended at 10 s, plus 30 s leeway) is over.
        assert_eq!(
            feed.on_response(&page(body), 100_000),
            Ok(Polled {
                revocations: 2,
                caught_up: true
            })
        );
        assert!(feed.revoked().is_revoked("g-1"));
        assert!(
            !feed.revoked().is_revoked("g-2"),
            "its window ended long ago"
        );
        assert_eq!(feed.path_and_query(), "/v1/revocations?after=a%20b%2F2");
    }

    #[test]
    fn a_page_with_more_is_followed_at_once_and_only_a_final_page_makes_the_view_current() {
        let mut feed = poller();
        feed.started(1);
        let first =
            r#"{"revoked":[{"grant_id":"g-old","revoked_at":1}],"cursor":"e.1000","more":true}"#;
        assert_eq!(
            feed.on_response(&page(first), 1000),
            Ok(Polled {
                revocations: 1,
                caught_up: false
            })
        );
        assert!(feed.revoked().is_revoked("g-old"));
        assert!(
            !feed.is_current(1000),
            "the newest revocations are still unread"
        );
        assert!(feed.is_due(1000), "the next page is due at once");
        assert_eq!(feed.path_and_query(), "/v1/revocations?after=e.1000");
        feed.started(2);
        let last =
            r#"{"revoked":[{"grant_id":"g-new","revoked_at":2}],"cursor":"e.1001","more":false}"#;
        assert_eq!(
            feed.on_response(&page(last), 1010),
            Ok(Polled {
                revocations: 1,
                caught_up: true
            })
        );
        assert!(feed.is_current(1010) && feed.revoked().is_revoked("g-new"));
        assert!(!feed.is_due(1010) && feed.is_due(2010));
    }

    #[test]
    fn a_current_view_that_falls_behind_stays_current_only_within_the_bound() {
        let mut feed = poller();
        feed.started(1);
        assert_eq!(
            feed.on_response(&page(r#"{"revoked":[],"cursor":"e.0"}"#), 1000),
            Ok(FINAL)
        );
        // A burst of revocations: every later page says more.
        for (token, now) in (2..).zip([2000, 3000, 6000]) {
            feed.started(token);
            let more = r#"{"revoked":[],"cursor":"e.5","more":true}"#;
            assert!(feed.on_response(&page(more), now).is_ok());
        }
        assert!(feed.is_current(6000), "caught up 5 s ago: within the bound");
        assert!(!feed.is_current(6001));
    }

    #[test]
    fn a_410_restarts_from_the_beginning_stale_until_caught_up_keeping_what_it_knew() {
        let mut feed = poller();
        feed.started(1);
        let body = r#"{"revoked":[{"grant_id":"g-before","revoked_at":1}],"cursor":"old.42"}"#;
        assert!(feed.on_response(&page(body), 1000).is_ok());
        assert!(feed.is_current(1500));
        feed.started(2);
        assert_eq!(
            feed.on_response(&gone(), 2000),
            Err(PollProblem::UnknownCursor)
        );
        assert!(!feed.is_current(2000), "stale until the new feed is read");
        assert!(feed.is_due(2000), "read again at once");
        assert_eq!(feed.path_and_query(), "/v1/revocations");
        assert!(
            feed.revoked().is_revoked("g-before"),
            "a revocation is never undone"
        );
        feed.started(3);
        let fresh = r#"{"revoked":[{"grant_id":"g-after","revoked_at":2}],"cursor":"new.1"}"#;
        assert_eq!(
            feed.on_response(&page(fresh), 2010),
            Ok(Polled {
                revocations: 1,
                caught_up: true
            })
        );
        assert!(feed.is_current(2010) && feed.revoked().is_revoked("g-after"));
        assert_eq!(feed.path_and_query(), "/v1/revocations?after=new.1");
    }

    #[test]
    fn a_410_without_a_cursor_is_a_failure_with_backoff() {
        let mut feed = poller();
        feed.started(1);
        assert_eq!(
            feed.on_response(&gone(), 1000),
            Err(PollProblem::UnknownCursor)
        );
        assert!(!feed.is_due(1000), "no tight loop against a broken issuer");
        assert!(feed.is_due(1250));
    }

    #[test]
    fn a_clock_that_stepped_back_makes_the_view_stale_and_the_poll_due() {
        let mut feed = poller();
        feed.started(1);
        assert_eq!(
            feed.on_response(&page(r#"{"revoked":[],"cursor":"e.0"}"#), 100_000),
            Ok(FINAL)
        );
        assert!(feed.is_current(100_000));
        // Back by one millisecond up to an hour: the last catch-up is "in the future".
        for now in [99_999, 90_000, 0] {
            assert!(!feed.is_current(now), "{now}");
            assert!(
                feed.is_due(now),
                "{now}: poll now, not when the clock is back at 101 s"
            );
        }
        feed.started(2);
        assert_eq!(
            feed.on_response(&page(r#"{"revoked":[],"cursor":"e.0"}"#), 50_000),
            Ok(FINAL)
        );
        assert!(feed.is_current(50_000));
        assert!(!feed.is_due(50_999) && feed.is_due(51_000));
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
