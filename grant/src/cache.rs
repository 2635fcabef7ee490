//! A bounded cache of verified tokens, keyed by token digest, so a client that reuses its
//! token pays for the signature check once.
//!
//! What is cached is only the time-independent result (signature good, claims parsed). Every
//! hit still goes through expiry, issuer, audience and — in `decide` — revocation, and is
//! dropped if the signing key has left the key set, so caching can never let through a
//! token that a fresh verification would refuse. Failures are not cached: they cost a
//! signature check each, but an attacker cannot fill the cache with them.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::digest::TokenDigest;
use crate::jwks::KeySet;
use crate::reason::Reason;
use crate::time::UnixTime;
use crate::verify::{verify_signature_and_claims, TokenRules, VerifiedGrant};

/// Hit and miss counts, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that needed a full verification.
    pub misses: u64,
}

/// Verified tokens until their `exp` (plus leeway), at most `capacity` of them.
#[derive(Debug)]
pub struct VerificationCache {
    capacity: usize,
    entries: HashMap<TokenDigest, Arc<VerifiedGrant>>,
    /// Insertion order, for evicting the oldest entry when full.
    order: VecDeque<TokenDigest>,
    stats: CacheStats,
}

impl VerificationCache {
    /// A cache holding at most `capacity` tokens (0 disables caching).
    pub fn new(capacity: usize) -> VerificationCache {
        VerificationCache {
            capacity,
            entries: HashMap::with_capacity(capacity.min(4096)),
            order: VecDeque::with_capacity(capacity.min(4096)),
            stats: CacheStats::default(),
        }
    }

    /// Number of cached tokens.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Hit and miss counts so far.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    /// Verifies `token` at `now`, from the cache when possible.
    pub fn verify(
        &mut self,
        token: &str,
        keys: &KeySet,
        rules: &TokenRules,
        now: UnixTime,
    ) -> Result<Arc<VerifiedGrant>, Reason> {
        let digest = TokenDigest::of(token);
        let cached = self.entries.get(&digest).cloned();
        let verified = match cached {
            Some(hit) if keys.get(&hit.key_id).is_some() => {
                self.stats.hits += 1;
                hit
            }
            stale => {
                if stale.is_some() {
                    // The signing key was rotated out: forget the token and verify afresh,
                    // which yields `unknown_key`.
                    self.remove(&digest);
                }
                self.stats.misses += 1;
                let fresh = Arc::new(verify_signature_and_claims(token, keys, rules)?);
                rules.check_parties(&fresh.claims)?;
                rules.check_time(&fresh.claims, now)?;
                self.insert(digest, Arc::clone(&fresh), rules, now);
                return Ok(fresh);
            }
        };
        rules.check_parties(&verified.claims)?;
        if let Err(reason) = rules.check_time(&verified.claims, now) {
            self.remove(&digest);
            return Err(reason);
        }
        Ok(verified)
    }

    fn insert(
        &mut self,
        digest: TokenDigest,
        grant: Arc<VerifiedGrant>,
        rules: &TokenRules,
        now: UnixTime,
    ) {
        if self.capacity == 0 {
            return;
        }
        if self.entries.len() >= self.capacity {
            self.evict_expired(rules, now);
        }
        while self.entries.len() >= self.capacity {
            match self.order.pop_front() {
                Some(oldest) => {
                    self.entries.remove(&oldest);
                }
                None => break,
            }
        }
        if self.entries.insert(digest, grant).is_none() {
            self.order.push_back(digest);
        }
    }

    fn remove(&mut self, digest: &TokenDigest) {
        if self.entries.remove(digest).is_some() {
            self.order.retain(|entry| entry != digest);
        }
    }

    fn evict_expired(&mut self, rules: &TokenRules, now: UnixTime) {
        let leeway = rules.leeway_seconds;
        self.entries
            .retain(|_, grant| now.seconds() < UnixTime(grant.claims.exp).plus(leeway).seconds());
        let entries = &self.entries;
        self.order.retain(|digest| entries.contains_key(digest));
    }
}
