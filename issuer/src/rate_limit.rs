//! Per-identity rate limits on the calls that create things: request creation, token minting
//! and revocation (each revocation is an entry every gateway must read). A token bucket per
//! (action, identity), refilled from the issuer's clock.
//!
//! The buckets live in this replica's memory: with N replicas behind a load balancer an
//! identity may get up to N times the configured rate. That is the documented trade-off
//! (`docs/issuer.md`, "Rate limits"); the limit exists to stop one runaway script or
//! compromised credential from flooding reviewers and the token log, not to meter usage.
//!
//! It must never hold its lock across an await, and never grow without bound: buckets that
//! have refilled completely carry no information and are dropped when the map grows large.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::error::{Error, Result};

/// Buckets kept before full ones are swept out.
const SWEEP_ABOVE: usize = 10_000;

/// The calls that are limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitedAction {
    /// `POST /v1/requests` (and the web form that does the same).
    CreateRequest,
    /// `POST /v1/grants/{id}/token`.
    MintToken,
    /// `POST /v1/grants/{id}/revoke` by anyone but an admin.
    Revoke,
}

impl LimitedAction {
    /// How the action is named in errors and logs.
    pub fn describe(self) -> &'static str {
        match self {
            LimitedAction::CreateRequest => "access requests",
            LimitedAction::MintToken => "token mints",
            LimitedAction::Revoke => "revocations",
        }
    }
}

/// One limit: up to `burst` calls at once, refilled at `per_hour` calls an hour.
/// `burst: 0` switches the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Calls allowed back to back.
    pub burst: u32,
    /// Calls regained per hour.
    pub per_hour: u32,
}

/// The limits of every limited action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Requests one identity may create.
    pub create_request: RateLimit,
    /// Tokens one identity may mint (across all its grants).
    pub mint_token: RateLimit,
    /// Grants one identity may revoke (admins are not limited).
    pub revoke: RateLimit,
}

impl Default for RateLimits {
    /// Far above what a person or a well-behaved agent does (a token lives 15 minutes; a
    /// request asks for hours), low enough that a loop is stopped within seconds.
    fn default() -> Self {
        RateLimits {
            create_request: RateLimit {
                burst: 20,
                per_hour: 120,
            },
            mint_token: RateLimit {
                burst: 60,
                per_hour: 1200,
            },
            // A reviewer clearing up after an incident revokes dozens at once; a loop
            // creating and revoking grants to swell the feed gets 600 an hour at most.
            revoke: RateLimit {
                burst: 60,
                per_hour: 600,
            },
        }
    }
}

impl RateLimits {
    fn of(&self, action: LimitedAction) -> RateLimit {
        match action {
            LimitedAction::CreateRequest => self.create_request,
            LimitedAction::MintToken => self.mint_token,
            LimitedAction::Revoke => self.revoke,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Calls available now (fractional while refilling).
    available: f64,
    /// When `available` was computed, Unix seconds.
    at: i64,
}

/// The buckets of one replica.
#[derive(Debug)]
pub struct RateLimiter {
    limits: RateLimits,
    buckets: Mutex<HashMap<(LimitedAction, String), Bucket>>,
}

impl RateLimiter {
    /// A limiter enforcing `limits`.
    pub fn new(limits: RateLimits) -> RateLimiter {
        RateLimiter {
            limits,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> RateLimits {
        self.limits
    }

    /// Takes one call of `action` for `identity` at `now` (Unix seconds), or says how many
    /// seconds until one is available again ([`Error::RateLimited`]).
    pub fn take(&self, action: LimitedAction, identity: &str, now: i64) -> Result<()> {
        let limit = self.limits.of(action);
        if limit.burst == 0 {
            return Ok(());
        }
        let burst = f64::from(limit.burst);
        let per_second = f64::from(limit.per_hour) / 3600.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() > SWEEP_ABOVE {
            buckets.retain(|(action, _), bucket| {
                let limit = self.limits.of(*action);
                refilled(bucket, now, f64::from(limit.per_hour) / 3600.0) < f64::from(limit.burst)
            });
        }
        let bucket = buckets
            .entry((action, identity.to_owned()))
            .or_insert(Bucket {
                available: burst,
                at: now,
            });
        let available = refilled(bucket, now, per_second).min(burst);
        if available >= 1.0 {
            *bucket = Bucket {
                available: available - 1.0,
                at: now.max(bucket.at),
            };
            return Ok(());
        }
        *bucket = Bucket {
            available,
            at: now.max(bucket.at),
        };
        // Whole seconds until one call is back, at least one; never when nothing refills.
        let retry_after = if per_second > 0.0 {
            // Less a hair, so float error cannot turn an exact 1 s into 2 s.
            ((1.0 - available) / per_second - 1e-6).ceil().max(1.0)
        } else {
            3600.0
        };
        tracing::warn!(identity, action = action.describe(), "rate limit reached");
        Err(Error::RateLimited {
            what: action.describe(),
            retry_after_seconds: retry_after_seconds(retry_after),
        })
    }
}

fn refilled(bucket: &Bucket, now: i64, per_second: f64) -> f64 {
    // A clock that steps back refills nothing rather than draining the bucket.
    let elapsed = now.saturating_sub(bucket.at).max(0);
    #[allow(clippy::cast_precision_loss)] // seconds fit f64 exactly far beyond any uptime
    let elapsed = elapsed as f64;
    bucket.available + elapsed * per_second
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // clamped to 1..=86400
fn retry_after_seconds(seconds: f64) -> u64 {
    seconds.clamp(1.0, 86_400.0) as u64
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn limiter(burst: u32, per_hour: u32) -> RateLimiter {
        let limit = RateLimit { burst, per_hour };
        RateLimiter::new(RateLimits {
            create_request: limit,
            mint_token: limit,
            revoke: limit,
        })
    }

    fn retry_after(result: Result<()>) -> u64 {
        match result {
            Err(Error::RateLimited {
                retry_after_seconds,
                ..
            }) => retry_after_seconds,
            other => panic!("expected a rate limit, got {other:?}"),
        }
    }

    #[test]
    fn a_burst_then_one_call_per_refill_interval() {
        let limiter = limiter(3, 3600);
        for _ in 0..3 {
            limiter
                .take(LimitedAction::MintToken, "alice", 100)
                .unwrap();
        }
        assert_eq!(
            retry_after(limiter.take(LimitedAction::MintToken, "alice", 100)),
            1
        );
        limiter
            .take(LimitedAction::MintToken, "alice", 101)
            .unwrap();
        assert_eq!(
            retry_after(limiter.take(LimitedAction::MintToken, "alice", 101)),
            1
        );
    }

    #[test]
    fn identities_and_actions_have_their_own_buckets() {
        let limiter = limiter(1, 60);
        limiter.take(LimitedAction::MintToken, "alice", 0).unwrap();
        assert_eq!(
            retry_after(limiter.take(LimitedAction::MintToken, "alice", 0)),
            60
        );
        limiter.take(LimitedAction::MintToken, "bob", 0).unwrap();
        limiter
            .take(LimitedAction::CreateRequest, "alice", 0)
            .unwrap();
    }

    #[test]
    fn refill_never_exceeds_the_burst_and_a_clock_step_back_does_not_drain() {
        let limiter = limiter(2, 3600);
        limiter.take(LimitedAction::MintToken, "alice", 0).unwrap();
        // A day later: still only two at once.
        for _ in 0..2 {
            limiter
                .take(LimitedAction::MintToken, "alice", 86_400)
                .unwrap();
        }
        assert!(limiter
            .take(LimitedAction::MintToken, "alice", 86_400)
            .is_err());
        assert!(limiter
            .take(LimitedAction::MintToken, "alice", 86_000)
            .is_err());
        limiter
            .take(LimitedAction::MintToken, "alice", 86_401)
            .unwrap();
    }

    #[test]
    fn a_zero_burst_switches_the_limit_off() {
        let limiter = limiter(0, 0);
        for _ in 0..1000 {
            limiter
                .take(LimitedAction::CreateRequest, "alice", 0)
                .unwrap();
        }
    }

    #[test]
    fn no_refill_means_an_hour_to_wait() {
        let limiter = limiter(1, 0);
        limiter
            .take(LimitedAction::CreateRequest, "alice", 0)
            .unwrap();
        assert_eq!(
            retry_after(limiter.take(LimitedAction::CreateRequest, "alice", 0)),
            3600
        );
    }
}
