//! A bounded cache of verified tokens, keyed by the token's exact text, so a client that
//! reuses its token pays for the signature check once.
//!
//! Keyed by the text itself, not its SHA-256: hashing a ~500-byte token in software was
//! 85 % of a cached decision (32 000 of 37 000 instructions, callgrind via `bench/hot-path
//! cached`), where SipHash and one comparison cost a few hundred. An exact match can never
//! confuse two tokens. The table hashes with foldhash rather than SipHash (1.5k instructions
//! per lookup over a ~600-byte token, callgrind `bench/hot-path cached`): flooding a table
//! with colliding keys needs inserts, and only tokens that verified — signed by the issuer —
//! are ever inserted. The price is memory: each entry holds its token (a few hundred bytes;
//! see `cache.max_entries` in docs/filter-config.md). The digest audit records carry is
//! still computed, once, when the token is verified.
//!
//! What is cached is only the time-independent result (signature good, claims parsed). Every
//! hit still goes through expiry, issuer, audience and — in `decide` — revocation, and is
//! dropped if the signing key has left the key set, so caching can never let through a
//! token that a fresh verification would refuse. Failures are not cached: they cost a
//! signature check each, but an attacker cannot fill the cache with them.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

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
    entries: HashMap<Arc<str>, Arc<VerifiedGrant>, foldhash::fast::RandomState>,
    /// Insertion order, for evicting the oldest entry when full (sharing the keys' text).
    order: VecDeque<Arc<str>>,
    /// No entry's `exp` is earlier than this (it may be earlier than every entry's, after
    /// removals): a full cache scans for expired entries only once this has passed.
    /// Scanning on every insert into a full cache cost O(capacity) hashes per new token —
    /// four times the signature check at 10 000 entries (callgrind, `bench/hot-path fresh`).
    earliest_exp: Option<i64>,
    stats: CacheStats,
}

impl VerificationCache {
    /// A cache holding at most `capacity` tokens (0 disables caching).
    pub fn new(capacity: usize) -> VerificationCache {
        VerificationCache {
            capacity,
            entries: HashMap::with_capacity_and_hasher(
                capacity.min(4096),
                foldhash::fast::RandomState::default(),
            ),
            order: VecDeque::with_capacity(capacity.min(4096)),
            earliest_exp: None,
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
        let cached = self.entries.get(token).cloned();
        let verified = match cached {
            Some(hit) if keys.get(&hit.key_id).is_some() => {
                self.stats.hits += 1;
                hit
            }
            stale => {
                if stale.is_some() {
                    // The signing key was rotated out: forget the token and verify afresh,
                    // which yields `unknown_key`.
                    self.remove(token);
                }
                self.stats.misses += 1;
                let fresh = Arc::new(verify_signature_and_claims(token, keys, rules)?);
                rules.check_parties(&fresh.claims)?;
                rules.check_time(&fresh.claims, now)?;
                self.insert(token, Arc::clone(&fresh), rules, now);
                return Ok(fresh);
            }
        };
        rules.check_parties(&verified.claims)?;
        if let Err(reason) = rules.check_time(&verified.claims, now) {
            self.remove(token);
            return Err(reason);
        }
        Ok(verified)
    }

    fn insert(
        &mut self,
        token: &str,
        grant: Arc<VerifiedGrant>,
        rules: &TokenRules,
        now: UnixTime,
    ) {
        if self.capacity == 0 {
            return;
        }
        let something_expired = self
            .earliest_exp
            .is_some_and(|exp| now.seconds() >= UnixTime(exp).plus(rules.leeway_seconds).seconds());
        if self.entries.len() >= self.capacity && something_expired {
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
        let exp = grant.claims.exp;
        let key: Arc<str> = Arc::from(token);
        if self.entries.insert(Arc::clone(&key), grant).is_none() {
            self.order.push_back(key);
        }
        self.earliest_exp = Some(self.earliest_exp.map_or(exp, |earliest| earliest.min(exp)));
    }

    fn remove(&mut self, token: &str) {
        if self.entries.remove(token).is_some() {
            self.order.retain(|entry| &**entry != token);
        }
    }

    fn evict_expired(&mut self, rules: &TokenRules, now: UnixTime) {
        let leeway = rules.leeway_seconds;
        self.entries
            .retain(|_, grant| now.seconds() < UnixTime(grant.claims.exp).plus(leeway).seconds());
        let entries = &self.entries;
        self.order.retain(|token| entries.contains_key(token));
        self.earliest_exp = self.entries.values().map(|grant| grant.claims.exp).min();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use crate::claims::{Audience, GrantClaims};
    use crate::keys::SigningKey;
    use crate::mint::mint;

    const NOW: UnixTime = UnixTime(1_000_000);

    fn rules() -> TokenRules {
        TokenRules {
            issuer: "iss".into(),
            audiences: vec!["aud".into()],
            leeway_seconds: 0,
            max_token_bytes: 4096,
        }
    }

    fn token(key: &SigningKey, jti: &str, exp: i64) -> String {
        let claims = GrantClaims {
            iss: "iss".into(),
            sub: "alice".into(),
            aud: Audience::One("aud".into()),
            iat: NOW.0 - 10,
            nbf: None,
            exp,
            jti: jti.into(),
            scope: "inference:m".into(),
            grant_id: "g".into(),
            client_id: None,
            approvers: vec![],
            break_glass: false,
            limits: None,
        };
        mint(&claims, key).unwrap()
    }

    fn key_set(key: &SigningKey) -> KeySet {
        let mut keys = KeySet::new();
        keys.insert(key.verifying_key());
        keys
    }

    #[test]
    fn second_use_is_a_hit_and_expiry_is_still_checked() {
        let key = SigningKey::ed25519_from_seed(&[1; 32]).unwrap();
        let keys = key_set(&key);
        let mut cache = VerificationCache::new(4);
        let token = token(&key, "a", NOW.0 + 100);
        assert!(cache.verify(&token, &keys, &rules(), NOW).is_ok());
        assert!(cache.verify(&token, &keys, &rules(), NOW).is_ok());
        assert_eq!(cache.stats(), CacheStats { hits: 1, misses: 1 });
        assert_eq!(
            cache
                .verify(&token, &keys, &rules(), NOW.plus(100))
                .unwrap_err(),
            Reason::Expired
        );
        assert!(cache.is_empty(), "an expired token leaves the cache");
    }

    #[test]
    fn a_rotated_out_key_invalidates_cached_tokens() {
        let old = SigningKey::ed25519_from_seed(&[1; 32]).unwrap();
        let new = SigningKey::ed25519_from_seed(&[2; 32]).unwrap();
        let mut cache = VerificationCache::new(4);
        let token = token(&old, "a", NOW.0 + 100);
        assert!(cache.verify(&token, &key_set(&old), &rules(), NOW).is_ok());
        assert_eq!(
            cache
                .verify(&token, &key_set(&new), &rules(), NOW)
                .unwrap_err(),
            Reason::UnknownKey
        );
        assert!(cache.is_empty());
    }

    #[test]
    fn capacity_is_a_hard_bound_and_expired_entries_go_first() {
        let key = SigningKey::ed25519_from_seed(&[1; 32]).unwrap();
        let keys = key_set(&key);
        let mut cache = VerificationCache::new(3);
        let short = token(&key, "short", NOW.0 + 5);
        assert!(cache.verify(&short, &keys, &rules(), NOW).is_ok());
        for jti in ["b", "c", "d", "e"] {
            assert!(cache
                .verify(&token(&key, jti, NOW.0 + 100), &keys, &rules(), NOW.plus(6))
                .is_ok());
            assert!(cache.len() <= 3);
        }
        assert_eq!(cache.len(), 3);
        let misses = cache.stats().misses;
        assert!(cache
            .verify(&token(&key, "e", NOW.0 + 100), &keys, &rules(), NOW.plus(6))
            .is_ok());
        assert_eq!(
            cache.stats().misses,
            misses,
            "the newest entry is still cached"
        );
    }

    #[test]
    fn a_full_cache_drops_an_expired_entry_before_the_oldest_live_one() {
        let key = SigningKey::ed25519_from_seed(&[1; 32]).unwrap();
        let keys = key_set(&key);
        let mut cache = VerificationCache::new(3);
        let oldest = token(&key, "oldest", NOW.0 + 100);
        let short = token(&key, "short", NOW.0 + 5);
        let other = token(&key, "other", NOW.0 + 100);
        for token in [&oldest, &short, &other] {
            assert!(cache.verify(token, &keys, &rules(), NOW).is_ok());
        }
        // Full when `short` has expired: it makes room, not the oldest live entry.
        let later = NOW.plus(6);
        let fourth = token(&key, "fourth", NOW.0 + 100);
        assert!(cache.verify(&fourth, &keys, &rules(), later).is_ok());
        assert_eq!(cache.len(), 3);
        let misses = cache.stats().misses;
        for token in [&oldest, &other, &fourth] {
            assert!(cache.verify(token, &keys, &rules(), later).is_ok());
        }
        assert_eq!(cache.stats().misses, misses, "the live entries stayed");
        // Full with nothing expired: the oldest entry goes.
        assert!(cache
            .verify(&token(&key, "fifth", NOW.0 + 100), &keys, &rules(), later)
            .is_ok());
        assert!(cache.verify(&other, &keys, &rules(), later).is_ok());
        assert_eq!(cache.stats().misses, misses + 1, "`other` is still cached");
        assert!(cache.verify(&oldest, &keys, &rules(), later).is_ok());
        assert_eq!(cache.stats().misses, misses + 2, "`oldest` was evicted");
    }

    #[test]
    fn failures_are_not_cached_and_capacity_zero_disables() {
        let key = SigningKey::ed25519_from_seed(&[1; 32]).unwrap();
        let mut cache = VerificationCache::new(0);
        let token = token(&key, "a", NOW.0 + 100);
        assert!(cache.verify(&token, &key_set(&key), &rules(), NOW).is_ok());
        assert!(cache.is_empty());
        let mut cache = VerificationCache::new(4);
        assert!(cache
            .verify("garbage", &key_set(&key), &rules(), NOW)
            .is_err());
        assert!(cache.is_empty());
    }
}
