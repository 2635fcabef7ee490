//! Budgets: whether a grant whose token carries `limits` may start one more request, given
//! what the gate has counted for it so far. Pure, like [`crate::decide`], which applies it as
//! its last check: the host does the counting (the Envoy filter in proxy-wasm shared data,
//! with compare-and-swap) and passes the counts in; nothing here reads or writes them.
//!
//! The rule: a request may start while the grant has used fewer requests than
//! `limits.requests` **and** fewer model tokens (input plus output) than `limits.tokens`.
//! Requests are counted at admission; tokens when the response reports its `usage`, so a
//! request already admitted may finish past the token limit. That is the overshoot bound:
//! the requests in flight at the moment of exhaustion (and, for tokens, their tokens).
//!
//! Only an allowing decision is ever turned into a refusal here, so a request refused for
//! any other reason is neither counted nor told about the budget.

use std::collections::BTreeMap;

use crate::claims::Limits;
use crate::decide::{Decision, Outcome};
use crate::reason::Reason;
use crate::verify::VerifiedGrant;

/// What a grant has used so far at this gate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct GrantUsage {
    /// Requests admitted.
    pub requests: u64,
    /// Model tokens (input plus output) the responses reported.
    pub tokens: u64,
}

/// Looks up a grant's usage so far.
pub trait UsageView {
    /// What `grant_id` has used (zero when nothing was counted yet), or `None` when the host
    /// cannot tell right now: the request is then refused with 503 `budget_unavailable`
    /// rather than admitted uncounted.
    fn used(&self, grant_id: &str) -> Option<GrantUsage>;
}

/// Whether the host's counts can be trusted right now.
#[derive(Clone, Copy)]
pub enum UsageState<'a> {
    /// The counts, by grant.
    Counted(&'a dyn UsageView),
    /// The host cannot count: requests under a grant with limits get 503
    /// `budget_unavailable`. Grants without limits are not affected.
    Unavailable,
}

impl std::fmt::Debug for UsageState<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UsageState::Counted(_) => "Counted",
            UsageState::Unavailable => "Unavailable",
        })
    }
}

/// A host that counts nothing yet: every grant has used nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NothingUsed;

impl UsageView for NothingUsed {
    fn used(&self, _grant_id: &str) -> Option<GrantUsage> {
        Some(GrantUsage::default())
    }
}

/// Usage by grant id, held in memory (tests, the component, `jitgate explain`); a grant not
/// in the table has used nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageTable(pub BTreeMap<String, GrantUsage>);

impl UsageView for UsageTable {
    fn used(&self, grant_id: &str) -> Option<GrantUsage> {
        Some(self.0.get(grant_id).copied().unwrap_or_default())
    }
}

/// The grant's limits, when it has any to count against (`"limits": {}` has none).
pub fn counted_limits(grant: &VerifiedGrant) -> Option<&Limits> {
    grant
        .claims
        .limits
        .as_ref()
        .filter(|limits| limits.requests.is_some() || limits.tokens.is_some())
}

/// Whether a grant that has used `used` may start one more request under `limits`.
pub fn admits(limits: &Limits, used: GrantUsage) -> bool {
    limits.requests.is_none_or(|max| used.requests < max)
        && limits.tokens.is_none_or(|max| used.tokens < max)
}

/// The budget applied to a decision: an allowing decision under a grant with limits becomes
/// a refusal when the budget is used up (403 `budget_exhausted`) or cannot be counted (503
/// `budget_unavailable`). Every other decision is returned as it is, so applying it again
/// (as the filter does after re-reading a count another worker changed) is safe.
pub fn apply_budget(mut decision: Decision, usage: UsageState<'_>) -> Decision {
    if decision.outcome != Outcome::Allow {
        return decision;
    }
    let Some(grant) = decision.grant.as_deref() else {
        return decision;
    };
    let Some(limits) = counted_limits(grant) else {
        return decision;
    };
    let used = match usage {
        UsageState::Counted(view) => view.used(&grant.claims.grant_id),
        UsageState::Unavailable => None,
    };
    let refusal = match used {
        None => Reason::BudgetUnavailable,
        Some(used) if !admits(limits, used) => Reason::BudgetExhausted,
        Some(_) => return decision,
    };
    decision.outcome = Outcome::Deny;
    decision.reason = refusal;
    decision
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn limits(requests: Option<u64>, tokens: Option<u64>) -> Limits {
        Limits { requests, tokens }
    }

    fn used(requests: u64, tokens: u64) -> GrantUsage {
        GrantUsage { requests, tokens }
    }

    #[test]
    fn a_request_starts_only_below_both_limits() {
        let both = limits(Some(20), Some(1000));
        assert!(admits(&both, used(0, 0)));
        assert!(admits(&both, used(19, 999)));
        assert!(!admits(&both, used(20, 0)), "the 21st request");
        assert!(!admits(&both, used(3, 1000)), "tokens used up");
        assert!(!admits(&both, used(3, 5000)), "past the limit (overshoot)");
        assert!(admits(&limits(None, Some(10)), used(u64::MAX, 9)));
        assert!(admits(&limits(Some(1), None), used(0, u64::MAX)));
        assert!(!admits(&limits(Some(0), None), used(0, 0)), "a zero budget");
        assert!(admits(&limits(None, None), used(u64::MAX, u64::MAX)));
    }

    #[test]
    fn the_usage_table_reads_zero_for_grants_it_has_not_counted() {
        let mut table = UsageTable::default();
        table.0.insert("g1".into(), used(3, 40));
        assert_eq!(table.used("g1"), Some(used(3, 40)));
        assert_eq!(table.used("g2"), Some(GrantUsage::default()));
        assert_eq!(NothingUsed.used("g1"), Some(GrantUsage::default()));
    }
}
