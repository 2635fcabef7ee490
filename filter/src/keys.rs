//! Loading verification keys from the issuer: the `Loading → Ready` state machine.
//!
//! Until the first successful fetch, token checks answer 503 `keys_unavailable` — never 401,
//! because nothing is known to be wrong with the token. Once loaded, keys are refreshed on an
//! interval and early when a token names an unknown `kid` (rate-limited, so a stream of bogus
//! `kid`s cannot turn the filter into a load generator against the issuer). A failed refresh
//! keeps the old keys and retries with backoff.

use jitgate_grant::KeySet;

use crate::config::KeyFetchSettings;
use crate::host::CallResponse;
use crate::schedule::CallSchedule;

/// Largest JWKS document accepted.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;
const RETRY_BASE_MS: u64 = 500;
const RETRY_MAX_MS: u64 = 30_000;

/// Why a fetch did not produce keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchProblem {
    /// No response (timeout, connection failure, unknown cluster).
    NoResponse,
    /// A non-200 status.
    Status(u16),
    /// The body is missing, too large, or not a valid key set.
    BadKeySet(String),
}

impl std::fmt::Display for FetchProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchProblem::NoResponse => f.write_str("no response"),
            FetchProblem::Status(status) => write!(f, "HTTP status {status}"),
            FetchProblem::BadKeySet(problem) => write!(f, "bad key set: {problem}"),
        }
    }
}

/// Key fetching state for one VM.
#[derive(Debug)]
pub struct KeyFetcher {
    settings: KeyFetchSettings,
    keys: Option<KeySet>,
    schedule: CallSchedule,
    last_forced_ms: Option<u64>,
}

impl KeyFetcher {
    /// A fetcher that will fetch at the first opportunity.
    pub fn new(settings: KeyFetchSettings) -> KeyFetcher {
        KeyFetcher {
            settings,
            keys: None,
            schedule: CallSchedule::new(RETRY_BASE_MS, RETRY_MAX_MS),
            last_forced_ms: None,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &KeyFetchSettings {
        &self.settings
    }

    /// The current keys, once loaded.
    pub fn keys(&self) -> Option<&KeySet> {
        self.keys.as_ref()
    }

    /// Whether a fetch should start now.
    pub fn is_due(&self, now_ms: u64) -> bool {
        self.schedule.is_due(now_ms)
    }

    /// Whether `token` is this fetcher's call.
    pub fn owns_call(&self, token: u32) -> bool {
        self.schedule.owns(token)
    }

    /// Records that a fetch started.
    pub fn started(&mut self, token: u32) {
        self.schedule.started(token);
    }

    /// Records that a fetch could not even be dispatched.
    pub fn dispatch_failed(&mut self, now_ms: u64) {
        self.schedule.failed(now_ms);
    }

    /// Handles a fetch's response; returns how many keys are now loaded.
    pub fn on_response(
        &mut self,
        response: &CallResponse,
        now_ms: u64,
    ) -> Result<usize, FetchProblem> {
        match parse(response) {
            Ok(keys) => {
                let count = keys.len();
                self.keys = Some(keys);
                self.schedule
                    .succeeded(now_ms.saturating_add(millis(self.settings.refresh)));
                Ok(count)
            }
            Err(problem) => {
                self.schedule.failed(now_ms);
                Err(problem)
            }
        }
    }

    /// A token named a `kid` not in the set: fetch early, at most once per
    /// `unknown_kid_min_interval`.
    pub fn unknown_key_seen(&mut self, now_ms: u64) {
        let interval = millis(self.settings.unknown_kid_min_interval);
        let allowed = self
            .last_forced_ms
            .is_none_or(|last| now_ms.saturating_sub(last) >= interval);
        let waiting = !self.schedule.is_in_flight() && self.schedule.next_ms() > now_ms;
        if allowed && self.keys.is_some() && waiting {
            self.last_forced_ms = Some(now_ms);
            self.schedule.bring_forward(now_ms);
        }
    }
}

fn parse(response: &CallResponse) -> Result<KeySet, FetchProblem> {
    match response.status {
        None => return Err(FetchProblem::NoResponse),
        Some(200) => {}
        Some(status) => return Err(FetchProblem::Status(status)),
    }
    let body = response
        .body
        .as_deref()
        .ok_or_else(|| FetchProblem::BadKeySet("empty body".into()))?;
    if body.len() > MAX_JWKS_BYTES {
        return Err(FetchProblem::BadKeySet(format!(
            "larger than {MAX_JWKS_BYTES} bytes"
        )));
    }
    let text =
        std::str::from_utf8(body).map_err(|_| FetchProblem::BadKeySet("not UTF-8".into()))?;
    let keys = KeySet::from_jwks_json(text).map_err(|e| FetchProblem::BadKeySet(e.to_string()))?;
    if keys.is_empty() {
        return Err(FetchProblem::BadKeySet("no keys".into()));
    }
    Ok(keys)
}

fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::Upstream;
    use std::time::Duration;

    const JWKS: &str = include_str!("../../testdata/jwks.json");

    fn fetcher() -> KeyFetcher {
        KeyFetcher::new(KeyFetchSettings {
            upstream: Upstream::new("issuer", None, "/.well-known/jwks.json", 1000).unwrap(),
            refresh: Duration::from_secs(300),
            unknown_kid_min_interval: Duration::from_secs(10),
        })
    }

    fn ok() -> CallResponse {
        CallResponse {
            status: Some(200),
            body: Some(JWKS.as_bytes().to_vec()),
        }
    }

    #[test]
    fn loading_then_ready_then_refresh_on_interval() {
        let mut keys = fetcher();
        assert!(keys.is_due(0) && keys.keys().is_none());
        keys.started(7);
        assert!(!keys.is_due(0) && keys.owns_call(7));
        assert_eq!(keys.on_response(&ok(), 1_000), Ok(2));
        assert!(!keys.is_due(300_999));
        assert!(keys.is_due(301_000));
    }

    #[test]
    fn failures_back_off_and_keep_the_old_keys() {
        let mut keys = fetcher();
        keys.started(1);
        assert_eq!(
            keys.on_response(
                &CallResponse {
                    status: None,
                    body: None
                },
                0
            ),
            Err(FetchProblem::NoResponse)
        );
        assert!(!keys.is_due(0) && keys.is_due(500));
        keys.started(2);
        assert_eq!(keys.on_response(&ok(), 500), Ok(2));
        keys.started(3);
        let broken = CallResponse {
            status: Some(200),
            body: Some(br#"{"keys":[{"kty":"oct","k":"AA"}]}"#.to_vec()),
        };
        assert!(matches!(
            keys.on_response(&broken, 400_000),
            Err(FetchProblem::BadKeySet(_))
        ));
        assert_eq!(keys.keys().map(KeySet::len), Some(2), "old keys kept");
        keys.started(4);
        assert_eq!(
            keys.on_response(
                &CallResponse {
                    status: Some(503),
                    body: None
                },
                401_000
            ),
            Err(FetchProblem::Status(503))
        );
    }

    #[test]
    fn unknown_kid_triggers_an_early_fetch_at_most_once_per_interval() {
        let mut keys = fetcher();
        keys.started(1);
        assert!(keys.on_response(&ok(), 0).is_ok());
        keys.unknown_key_seen(1_000);
        assert!(keys.is_due(1_000));
        keys.started(2);
        assert!(keys.on_response(&ok(), 1_100).is_ok());
        keys.unknown_key_seen(5_000);
        assert!(!keys.is_due(5_000), "rate-limited");
        keys.unknown_key_seen(11_000);
        assert!(keys.is_due(11_000));
    }
}
