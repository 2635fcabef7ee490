//! What one Wasm VM (one Envoy worker) knows: the settings, its keys, its revocation view,
//! its verification cache and its part in counting budgets (the counts themselves live in
//! the Envoy's shared data, see [`crate::budget`]). Shared by the root context and every request on the worker
//! through `Rc<RefCell<…>>`; a VM is single-threaded, and no borrow is held across a host
//! callback.

use std::rc::Rc;

use jitgate_grant::{KeySet, KeyState, NoRevocations, RevocationState, VerificationCache};

use crate::audit::AuditBuffer;
use crate::budget::BudgetCounter;
use crate::config::{KeySource, Settings};
use crate::keys::KeyFetcher;
use crate::metrics::PendingCounts;
use crate::revocation::RevocationPoller;

/// Where this VM's keys stand.
#[derive(Debug)]
pub enum Keys {
    /// Configured inline: always ready.
    Inline(KeySet),
    /// Fetched from the issuer.
    Fetched(KeyFetcher),
}

/// Per-VM state.
#[derive(Debug)]
pub struct VmState {
    /// The configuration.
    pub settings: Rc<Settings>,
    /// Verification keys.
    pub keys: Keys,
    /// The revocation feed, if configured.
    pub revocation: Option<RevocationPoller>,
    /// Verified tokens.
    pub cache: VerificationCache,
    /// Audit records waiting for the collector, if audit is configured.
    pub audit: Option<AuditBuffer>,
    /// Counts admissions and tokens of grants with budgets.
    pub budget: BudgetCounter,
    /// Request-path counts not yet handed to Envoy (flushed on the tick).
    pub counts: PendingCounts,
    /// The audit buffer depth last published as a gauge, so the tick sets it only on change.
    pub published_depth: Option<usize>,
}

impl VmState {
    /// Fresh state for `settings`: nothing fetched yet. `stream_id` names this VM's audit
    /// stream; it must be unique across VMs and restarts.
    pub fn new(settings: Settings, stream_id: String) -> VmState {
        let keys = match &settings.keys {
            KeySource::Inline(keys) => Keys::Inline(keys.clone()),
            KeySource::Fetch(fetch) => Keys::Fetched(KeyFetcher::new(fetch.clone())),
        };
        let leeway = settings.policy.token_rules.leeway_seconds;
        let revocation = settings
            .revocation
            .clone()
            .map(|feed| RevocationPoller::new(feed, leeway));
        let cache = VerificationCache::new(settings.cache_entries);
        let audit = settings
            .audit
            .as_ref()
            .map(|audit| AuditBuffer::new(audit.limits.clone(), stream_id));
        VmState {
            settings: Rc::new(settings),
            keys,
            revocation,
            cache,
            audit,
            budget: BudgetCounter::default(),
            counts: PendingCounts::default(),
            published_depth: None,
        }
    }
}

impl Keys {
    /// The keys as `decide` needs them.
    pub fn state(&self) -> KeyState<'_> {
        match self {
            Keys::Inline(keys) => KeyState::Loaded(keys),
            Keys::Fetched(fetcher) => fetcher
                .keys()
                .map_or(KeyState::Unavailable, KeyState::Loaded),
        }
    }
}

/// The revocation view as `decide` needs it: no feed configured means nothing to check.
pub fn revocation_state(poller: Option<&RevocationPoller>, now_ms: u64) -> RevocationState<'_> {
    match poller {
        None => RevocationState::Current(&NoRevocations),
        Some(poller) if poller.is_current(now_ms) => RevocationState::Current(poller.revoked()),
        Some(_) => RevocationState::Stale,
    }
}
