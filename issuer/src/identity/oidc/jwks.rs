//! The IdP's signing keys as the OIDC verifier sees them: fetched from the `jwks_uri`,
//! refreshed on a schedule so that a key the IdP withdraws stops being trusted, and fetched
//! early — at most once per interval — when a token names a key the set does not hold.
//!
//! Verifications never wait for a fetch they did not start. The current set is an `Arc`
//! swapped in whole when a fetch succeeds (so withdrawn keys go with the old set), read under
//! a lock held only long enough to clone the `Arc`; one fetch runs at a time, behind a
//! separate lock that readers never take. A token naming an unknown `kid` starts a fetch only
//! if none was started for that reason within `unknown_kid_interval`; otherwise it is refused
//! at once, so a stream of made-up `kid`s costs the IdP one request per interval and stalls
//! no one. A failed refresh keeps the last good set and is retried soon (the IdP being down
//! must not lock everyone out; it cannot add keys either).
//!
//! A JWKS file is read once at start and never refreshed: its owner restarts the issuer.

use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};

use super::JwksSource;
use crate::error::{Error, Result};

/// The shortest lifetime taken from the IdP's `Cache-Control` (also what `no-cache` and
/// `no-store` mean here): a JWKS is not worth fetching more often.
pub const MIN_IDP_TTL: Duration = Duration::from_secs(60);
/// The longest lifetime taken from the IdP's `Cache-Control`: IdPs ask for hours or days,
/// but a withdrawn key should not be trusted that long, and an hourly fetch costs nothing.
pub const MAX_IDP_TTL: Duration = Duration::from_secs(60 * 60);
/// After a failed refresh the next attempt comes this soon (or at the TTL, if sooner).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// How the key set is kept fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksRefresh {
    /// How long a fetched set is used when the IdP's response gives no `max-age`.
    pub default_ttl: Duration,
    /// Tokens naming an unknown `kid` start at most one fetch per this interval.
    pub unknown_kid_interval: Duration,
}

impl JwksRefresh {
    /// Five minutes: a withdrawn key is gone within five minutes unless the IdP says
    /// otherwise.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(5 * 60);
    /// Thirty seconds.
    pub const DEFAULT_UNKNOWN_KID_INTERVAL: Duration = Duration::from_secs(30);
}

impl Default for JwksRefresh {
    fn default() -> JwksRefresh {
        JwksRefresh {
            default_ttl: JwksRefresh::DEFAULT_TTL,
            unknown_kid_interval: JwksRefresh::DEFAULT_UNKNOWN_KID_INTERVAL,
        }
    }
}

/// One fetched key set.
#[derive(Debug)]
struct Snapshot {
    keys: JwkSet,
    /// When the request that fetched it was sent.
    fetched_at: Instant,
    /// How long it is used before the next scheduled fetch.
    ttl: Duration,
}

/// The IdP's keys, kept fresh.
#[derive(Debug)]
pub struct IdpKeys {
    source: JwksSource,
    refresh: JwksRefresh,
    http: reqwest::Client,
    current: RwLock<Arc<Snapshot>>,
    /// Held for the length of a fetch: one at a time. Readers never take it.
    fetching: tokio::sync::Mutex<()>,
    /// When the scheduled refresh is due.
    next_refresh: Mutex<Instant>,
    /// When an unknown `kid` last started a fetch.
    last_unknown_kid_fetch: Mutex<Option<Instant>>,
}

impl IdpKeys {
    /// Fetches the keys (failing if they cannot be read or parsed) and, for a URL, starts
    /// refreshing them on schedule for as long as the returned value lives.
    pub async fn load(
        source: JwksSource,
        refresh: JwksRefresh,
        http: reqwest::Client,
    ) -> Result<Arc<IdpKeys>> {
        let fetched_at = Instant::now();
        let (keys, ttl) = fetch(&source, &http, refresh.default_ttl).await?;
        let is_url = matches!(source, JwksSource::Url(_));
        let keys = Arc::new(IdpKeys {
            source,
            refresh,
            http,
            current: RwLock::new(Arc::new(Snapshot {
                keys,
                fetched_at,
                ttl,
            })),
            fetching: tokio::sync::Mutex::new(()),
            next_refresh: Mutex::new(fetched_at + ttl),
            last_unknown_kid_fetch: Mutex::new(None),
        });
        if is_url {
            tokio::spawn(refresh_on_schedule(Arc::downgrade(&keys)));
        }
        Ok(keys)
    }

    /// The key named `kid`: from the current set, or — if the set lacks it and no unknown
    /// `kid` started a fetch within the interval — from a fresh fetch. `None` if unknown.
    pub async fn find(&self, kid: &str) -> Option<Jwk> {
        if let Some(jwk) = self.snapshot().keys.find(kid) {
            return Some(jwk.clone());
        }
        if !matches!(self.source, JwksSource::Url(_)) || !self.claim_unknown_kid_fetch() {
            return None;
        }
        tracing::info!(
            kid,
            "an ID token names a key the IdP's set lacks: fetching the set"
        );
        self.refresh().await;
        self.snapshot().keys.find(kid).cloned()
    }

    /// How long the current set is used before the next scheduled fetch.
    pub fn ttl(&self) -> Duration {
        self.snapshot().ttl
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn next_refresh(&self) -> Instant {
        *self
            .next_refresh
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether this caller may start an unknown-`kid` fetch now; claiming it starts the
    /// interval, so concurrent callers cannot both win.
    fn claim_unknown_kid_fetch(&self) -> bool {
        let mut last = self
            .last_unknown_kid_fetch
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < self.refresh.unknown_kid_interval) {
            return false;
        }
        *last = Some(now);
        true
    }

    /// Fetches the set and swaps it in, unless a fetch sent after this call began (while it
    /// waited its turn) already did.
    async fn refresh(&self) {
        let asked_at = Instant::now();
        let _one_fetch = self.fetching.lock().await;
        if self.snapshot().fetched_at >= asked_at {
            return;
        }
        let fetched_at = Instant::now();
        match fetch(&self.source, &self.http, self.refresh.default_ttl).await {
            Ok((keys, ttl)) => {
                tracing::debug!(
                    keys = keys.keys.len(),
                    ttl_seconds = ttl.as_secs(),
                    "fetched the IdP's JWKS"
                );
                *self.current.write().unwrap_or_else(PoisonError::into_inner) =
                    Arc::new(Snapshot {
                        keys,
                        fetched_at,
                        ttl,
                    });
                *self
                    .next_refresh
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = fetched_at + ttl;
            }
            Err(error) => {
                tracing::warn!(%error, "refreshing the IdP's JWKS failed; keeping the last keys");
                let mut next = self
                    .next_refresh
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                // Only a failed scheduled refresh reschedules; an unknown-kid fetch failing
                // leaves the schedule as it was.
                let now = Instant::now();
                if *next <= now {
                    *next = now + RETRY_AFTER_FAILURE.min(self.snapshot().ttl);
                }
            }
        }
    }
}

/// Refreshes the set whenever it is due, until the keys are dropped.
async fn refresh_on_schedule(keys: Weak<IdpKeys>) {
    loop {
        let Some(due) = keys.upgrade().map(|keys| keys.next_refresh()) else {
            return;
        };
        if due > Instant::now() {
            // The schedule may have moved (an unknown-kid fetch): look again when this ends.
            tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
            continue;
        }
        let Some(keys) = keys.upgrade() else {
            return;
        };
        keys.refresh().await;
    }
}

/// The set and how long to use it.
async fn fetch(
    source: &JwksSource,
    http: &reqwest::Client,
    default_ttl: Duration,
) -> Result<(JwkSet, Duration)> {
    let (text, ttl) = match source {
        JwksSource::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|error| {
                Error::io(format!("reading OIDC JWKS {}", path.display()), error)
            })?;
            (text, default_ttl)
        }
        JwksSource::Url(url) => {
            let response = http
                .get(url)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(|error| Error::Config(format!("fetching OIDC JWKS {url}: {error}")))?;
            let header = |name: reqwest::header::HeaderName| {
                response
                    .headers()
                    .get(name)
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_owned)
            };
            let ttl = lifetime_from_headers(
                header(reqwest::header::CACHE_CONTROL).as_deref(),
                header(reqwest::header::AGE).as_deref(),
                default_ttl,
            );
            let text = response
                .text()
                .await
                .map_err(|error| Error::Config(format!("reading OIDC JWKS {url}: {error}")))?;
            (text, ttl)
        }
    };
    let keys = serde_json::from_str(&text)
        .map_err(|error| Error::Config(format!("OIDC JWKS: {error}")))?;
    Ok((keys, ttl))
}

/// How long a response may be used (RFC 9111 §4.2): `max-age` less `Age`, clamped to
/// [[`MIN_IDP_TTL`], [`MAX_IDP_TTL`]]; `no-cache` or `no-store` mean the minimum; `default`
/// when the response states no lifetime. A repeated or unreadable `max-age` counts for the
/// shortest reading rather than the longest.
pub fn lifetime_from_headers(
    cache_control: Option<&str>,
    age: Option<&str>,
    default: Duration,
) -> Duration {
    let Some(cache_control) = cache_control else {
        return default;
    };
    let mut max_age: Option<u64> = None;
    for directive in cache_control.split(',') {
        let (name, value) = match directive.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim().trim_matches('"'))),
            None => (directive.trim(), None),
        };
        if name.eq_ignore_ascii_case("no-cache") || name.eq_ignore_ascii_case("no-store") {
            return MIN_IDP_TTL;
        }
        if name.eq_ignore_ascii_case("max-age") {
            let seconds = value
                .and_then(|value| value.parse::<u64>().ok())
                .unwrap_or(0);
            max_age = Some(max_age.map_or(seconds, |earlier| earlier.min(seconds)));
        }
    }
    let Some(max_age) = max_age else {
        return default;
    };
    let age = age
        .and_then(|age| age.trim().parse::<u64>().ok())
        .unwrap_or(0);
    Duration::from_secs(max_age.saturating_sub(age)).clamp(MIN_IDP_TTL, MAX_IDP_TTL)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: Duration = Duration::from_secs(300);

    fn lifetime(cache_control: Option<&str>, age: Option<&str>) -> u64 {
        lifetime_from_headers(cache_control, age, DEFAULT).as_secs()
    }

    #[test]
    fn max_age_is_honoured_within_bounds() {
        assert_eq!(lifetime(Some("public, max-age=600"), None), 600);
        assert_eq!(
            lifetime(Some("Max-Age=\"900\", must-revalidate"), None),
            900
        );
        assert_eq!(lifetime(Some("max-age=21600"), None), 3600, "capped");
        assert_eq!(lifetime(Some("max-age=5"), None), 60, "floored");
        assert_eq!(lifetime(Some("max-age=0"), None), 60);
    }

    #[test]
    fn age_is_subtracted() {
        assert_eq!(lifetime(Some("max-age=600"), Some("100")), 500);
        assert_eq!(lifetime(Some("max-age=600"), Some("6000")), 60);
        assert_eq!(lifetime(Some("max-age=600"), Some("soon")), 600);
    }

    #[test]
    fn no_lifetime_means_the_default_and_no_cache_the_minimum() {
        assert_eq!(lifetime(None, None), 300);
        assert_eq!(lifetime(Some("public"), None), 300);
        assert_eq!(lifetime(Some("public"), Some("100")), 300);
        assert_eq!(lifetime(Some("no-store"), None), 60);
        assert_eq!(lifetime(Some("max-age=600, no-cache"), None), 60);
    }

    #[test]
    fn unclear_max_age_counts_for_the_shortest_reading() {
        assert_eq!(lifetime(Some("max-age=900, max-age=120"), None), 120);
        assert_eq!(lifetime(Some("max-age=soon"), None), 60);
        assert_eq!(lifetime(Some("max-age"), None), 60);
    }
}
