//! Budgets counted inside one Envoy: every worker VM counts against the same per-grant totals
//! in proxy-wasm shared data, which Envoy keeps per `vm_id` for the whole process — one store
//! for all its workers, none between Envoys (the guard sees the fleet).
//!
//! Whether a request may start is `jitgate_grant::decide`'s last check, on the counts this
//! module reads ([`SharedUsage`]); this module only reads and writes them:
//! - **a key per grant** whose token carries `limits` (`jitgate.budget.grant/<grant_id>`),
//!   holding [`VALUE_BYTES`] bytes: a format byte, then requests and tokens as little-endian
//!   `u64`s;
//! - **requests are counted at admission**: the count `decide` read is written back plus one
//!   with compare-and-swap. If another worker wrote in between, the write fails: read again,
//!   apply the budget again (it may now be used up), write again — at most [`MAX_ATTEMPTS`]
//!   times, then 503 `budget_unavailable`, never a request admitted uncounted;
//! - **tokens are counted when the response completes**, from its `usage`, added the same
//!   way. A request already admitted may finish: the overshoot per Envoy is the requests in
//!   flight when the budget runs out (and, for tokens, their tokens).
//!
//! Creating a grant's key is the one write that cannot be a compare-and-swap: proxy-wasm has
//! no "create if absent", and a write without a CAS token always succeeds — two workers that
//! both found the key missing would both write, the second erasing the first one's count. So
//! keys are created under a lock, itself a shared key taken and released with CAS (created
//! at configure time, before the VM serves): whoever holds it looks again and creates the key
//! only if it is still missing. A lock held longer than [`LOCK_LEASE_MS`] (a VM that trapped
//! while holding it) may be taken over.
//!
//! Keys are never deleted (proxy-wasm cannot delete, and a grant's tokens may be re-minted
//! after an earlier one expired, so expiry does not end a grant's count): each grant with
//! limits costs one entry for the life of the Envoy process; docs/filter-config.md gives the
//! arithmetic.

use std::cell::RefCell;

use jitgate_grant::budget::{apply_budget, counted_limits};
use jitgate_grant::{Decision, GrantUsage, UsageState, UsageView};

use crate::host::{CommonHost, Counter, Level, SharedDataError};

/// The prefix of a grant's key.
pub const GRANT_KEY_PREFIX: &str = "jitgate.budget.grant/";
/// The key creation lock (not a grant's key: those all start with [`GRANT_KEY_PREFIX`]).
pub const LOCK_KEY: &str = "jitgate.budget.lock";
/// The first byte of a count: bumped if the layout ever changes, so a filter never misreads a
/// count another version wrote under the same `vm_id` (it refuses with 503 instead).
const FORMAT: u8 = 1;
/// A count's size: format, requests, tokens.
pub const VALUE_BYTES: usize = 17;
/// Compare-and-swap writes one admission (or one token addition) may try.
pub const MAX_ATTEMPTS: u32 = 100;
/// Reads of a busy creation lock before giving up. Its holder keeps it for four host calls,
/// so this is generous; giving up means a 503 the client retries, never an uncounted request.
pub const LOCK_ATTEMPTS: u32 = 10_000;
/// How long a creation lock may be held before another VM takes it over.
pub const LOCK_LEASE_MS: u64 = 1_000;
/// Most response-body bytes kept to read usage when audit does not set its own bound.
pub const DEFAULT_MAX_USAGE_BODY_BYTES: usize = 1024 * 1024;

/// A grant's shared key.
pub fn grant_key(grant_id: &str) -> String {
    format!("{GRANT_KEY_PREFIX}{grant_id}")
}

/// A count in its stored form.
pub fn encode(used: GrantUsage) -> [u8; VALUE_BYTES] {
    let mut bytes = [0; VALUE_BYTES];
    bytes[0] = FORMAT;
    bytes[1..9].copy_from_slice(&used.requests.to_le_bytes());
    bytes[9..].copy_from_slice(&used.tokens.to_le_bytes());
    bytes
}

/// A stored count; `None` for anything that is not one.
pub fn decode(bytes: &[u8]) -> Option<GrantUsage> {
    let bytes: &[u8; VALUE_BYTES] = bytes.try_into().ok()?;
    if bytes[0] != FORMAT {
        return None;
    }
    let number =
        |range: std::ops::Range<usize>| bytes[range].try_into().ok().map(u64::from_le_bytes);
    Some(GrantUsage {
        requests: number(1..9)?,
        tokens: number(9..VALUE_BYTES)?,
    })
}

/// A grant's count as read, with what a write needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    /// The grant.
    pub grant_id: String,
    /// Its usage so far.
    pub used: GrantUsage,
    /// The CAS token of the read; `None` when the grant has no key yet.
    pub cas: Option<u32>,
}

/// Reads a grant's count; `None` when it cannot be read (a host failure, or a value this
/// filter does not understand).
fn read(host: &(impl CommonHost + ?Sized), grant_id: &str) -> Option<Count> {
    let (used, cas) = match host.shared_data(&grant_key(grant_id)).ok()? {
        None => (GrantUsage::default(), None),
        Some(value) => (decode(&value.bytes)?, Some(value.cas)),
    };
    Some(Count {
        grant_id: grant_id.to_owned(),
        used,
        cas,
    })
}

/// The shared counts as `decide` reads them, keeping what it read so the admission can be
/// written back with that read's CAS token (one read per request, not two).
pub struct SharedUsage<'h, H: ?Sized> {
    host: &'h H,
    last: RefCell<Option<Count>>,
}

impl<'h, H: CommonHost + ?Sized> SharedUsage<'h, H> {
    /// A view over `host`'s shared data.
    pub fn new(host: &'h H) -> Self {
        SharedUsage {
            host,
            last: RefCell::new(None),
        }
    }

    /// The last count read, if any.
    pub fn into_last_read(self) -> Option<Count> {
        self.last.into_inner()
    }
}

impl<H: CommonHost + ?Sized> UsageView for SharedUsage<'_, H> {
    fn used(&self, grant_id: &str) -> Option<GrantUsage> {
        let count = read(self.host, grant_id)?;
        let used = count.used;
        *self.last.borrow_mut() = Some(count);
        Some(used)
    }
}

/// One count, as the budget is applied again after a re-read.
struct Fresh(GrantUsage);

impl UsageView for Fresh {
    fn used(&self, _grant_id: &str) -> Option<GrantUsage> {
        Some(self.0)
    }
}

/// The counting a VM does: admissions, token additions, and its part in the creation lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetCounter {
    /// Who this VM is when it holds the creation lock (random per VM).
    holder: u64,
}

impl Default for BudgetCounter {
    fn default() -> Self {
        use std::hash::BuildHasher;
        // The host's entropy, through the standard library's hasher seed.
        let holder = std::collections::hash_map::RandomState::new().hash_one(0u8);
        BudgetCounter { holder }
    }
}

impl BudgetCounter {
    /// At configure time, before the VM serves: makes sure the creation lock exists, so it is
    /// only ever written with CAS once requests flow. (Envoy configures its VMs before its
    /// listeners accept, and a later VM of the same `vm_id` finds the lock already there.)
    pub fn prepare(&self, host: &mut (impl CommonHost + ?Sized)) {
        if let Ok(None) = host.shared_data(LOCK_KEY) {
            let _ = host.set_shared_data(LOCK_KEY, &[], None);
        }
    }

    /// Counts an admission. `decision` is `decide`'s answer with the budget applied to the
    /// count in `last_read`; an allowed request under a grant with limits is admitted only if
    /// its count is written, plus one, over exactly the count the budget was applied to.
    /// Returns the final decision: allowed and counted, or refused (`budget_exhausted` when
    /// another worker used the last of the budget first, `budget_unavailable` when the count
    /// cannot be read or written).
    pub fn admit(
        &self,
        mut decision: Decision,
        last_read: Option<Count>,
        host: &mut (impl CommonHost + ?Sized),
    ) -> Decision {
        if !decision.is_allowed() {
            return decision;
        }
        let Some(grant_id) = decision
            .grant
            .as_deref()
            .filter(|grant| counted_limits(grant).is_some())
            .map(|grant| grant.claims.grant_id.clone())
        else {
            return decision;
        };
        let key = grant_key(&grant_id);
        let mut count = last_read.filter(|count| count.grant_id == grant_id);
        for attempt in 0..MAX_ATTEMPTS {
            let current = match count.take() {
                // The count `decide` applied the budget to: already known to admit.
                Some(current) if attempt == 0 => current,
                _ => {
                    let Some(current) = read(host, &grant_id) else {
                        break;
                    };
                    decision = apply_budget(decision, UsageState::Counted(&Fresh(current.used)));
                    if !decision.is_allowed() {
                        return decision;
                    }
                    current
                }
            };
            let admitted = GrantUsage {
                requests: current.used.requests.saturating_add(1),
                ..current.used
            };
            let written = match current.cas {
                Some(cas) => host.set_shared_data(&key, &encode(admitted), Some(cas)),
                None => self.create(host, &key, admitted),
            };
            match written {
                Ok(()) => return decision,
                Err(SharedDataError::CasMismatch) => host.increment(Counter::BudgetCasRetries, 1),
                Err(SharedDataError::Failed) => break,
            }
        }
        host.log(
            Level::Warn,
            &format!("cannot count a request of grant {grant_id}: refused with 503"),
        );
        apply_budget(decision, UsageState::Unavailable)
    }

    /// Adds a completed response's model tokens to its grant's count. `false` when they could
    /// not be added (counted in `jitgate.budget.count_failed`; the request is over, so there
    /// is nothing left to refuse).
    pub fn add_tokens(
        &self,
        grant_id: &str,
        tokens: u64,
        host: &mut (impl CommonHost + ?Sized),
    ) -> bool {
        if tokens == 0 {
            return true;
        }
        let key = grant_key(grant_id);
        for _ in 0..MAX_ATTEMPTS {
            // The admission created the key; a missing or unreadable one cannot be added to.
            let Some(Count {
                used,
                cas: Some(cas),
                ..
            }) = read(host, grant_id)
            else {
                break;
            };
            let added = GrantUsage {
                tokens: used.tokens.saturating_add(tokens),
                ..used
            };
            match host.set_shared_data(&key, &encode(added), Some(cas)) {
                Ok(()) => return true,
                Err(SharedDataError::CasMismatch) => host.increment(Counter::BudgetCasRetries, 1),
                Err(SharedDataError::Failed) => break,
            }
        }
        host.increment(Counter::BudgetCountFailed, 1);
        host.log(
            Level::Warn,
            &format!("cannot add {tokens} tokens to the count of grant {grant_id}"),
        );
        false
    }

    /// Creates a grant's key holding `first` under the creation lock. A `CasMismatch` when
    /// the key appeared meanwhile or the lock stayed busy: the caller reads again.
    fn create(
        &self,
        host: &mut (impl CommonHost + ?Sized),
        key: &str,
        first: GrantUsage,
    ) -> Result<(), SharedDataError> {
        let held = self.lock(host)?;
        let created = match host.shared_data(key) {
            Ok(None) => host.set_shared_data(key, &encode(first), None),
            Ok(Some(_)) => Err(SharedDataError::CasMismatch),
            Err(error) => Err(error),
        };
        self.unlock(host, &held);
        created
    }

    /// Takes the creation lock; returns the value that marks it as ours.
    fn lock(&self, host: &mut (impl CommonHost + ?Sized)) -> Result<[u8; 16], SharedDataError> {
        for _ in 0..LOCK_ATTEMPTS {
            let now_ms = host.now_ms();
            let mut held = [0; 16];
            held[..8].copy_from_slice(&self.holder.to_le_bytes());
            held[8..].copy_from_slice(&now_ms.to_le_bytes());
            match host.shared_data(LOCK_KEY)? {
                // `prepare` makes it; if it is gone anyway, make it again (free) and retry.
                None => host.set_shared_data(LOCK_KEY, &[], None)?,
                Some(lock) if lock_is_free(&lock.bytes, now_ms) => {
                    match host.set_shared_data(LOCK_KEY, &held, Some(lock.cas)) {
                        Ok(()) => return Ok(held),
                        Err(SharedDataError::CasMismatch) => {}
                        Err(error) => return Err(error),
                    }
                }
                Some(_) => {}
            }
        }
        Err(SharedDataError::CasMismatch)
    }

    /// Frees the lock if it is still ours (a VM that took it over after the lease keeps it).
    fn unlock(&self, host: &mut (impl CommonHost + ?Sized), held: &[u8; 16]) {
        if let Ok(Some(lock)) = host.shared_data(LOCK_KEY) {
            if lock.bytes == held {
                let _ = host.set_shared_data(LOCK_KEY, &[], Some(lock.cas));
            }
        }
    }
}

/// Free: empty, past its lease, or not a lock this filter wrote.
fn lock_is_free(bytes: &[u8], now_ms: u64) -> bool {
    let Ok(held) = <&[u8; 16]>::try_from(bytes) else {
        return true;
    };
    let since = held[8..].try_into().map_or(0, u64::from_le_bytes);
    now_ms.saturating_sub(since) > LOCK_LEASE_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_is_seventeen_bytes_and_nothing_else_reads_as_one() {
        let used = GrantUsage {
            requests: 20,
            tokens: 1 << 40,
        };
        let bytes = encode(used);
        assert_eq!(bytes.len(), 17);
        assert_eq!(bytes[0], 1);
        assert_eq!(decode(&bytes), Some(used));
        assert_eq!(decode(&bytes[..16]), None);
        assert_eq!(decode(&[]), None);
        let mut other_format = bytes;
        other_format[0] = 2;
        assert_eq!(decode(&other_format), None);
        assert_eq!(grant_key("g-1"), "jitgate.budget.grant/g-1");
    }

    #[test]
    fn a_lock_is_free_when_empty_or_past_its_lease() {
        let mut held = [0u8; 16];
        held[8..].copy_from_slice(&1_000u64.to_le_bytes());
        assert!(lock_is_free(&[], 5_000));
        assert!(!lock_is_free(&held, 1_500));
        assert!(!lock_is_free(&held, 2_000));
        assert!(lock_is_free(&held, 2_001));
        assert!(lock_is_free(b"junk", 0));
    }
}
