//! One request as the gate would see it, and the decision it would get: the pure half of
//! `jitgate explain`, a direct call into `jitgate_grant::decide` with no I/O, so its answer
//! is the filter's answer for the same inputs.

use jitgate_grant::{
    decide, Decision, DecisionInputs, GrantUsage, KeySet, KeyState, ModelFact, Policy,
    RequestFacts, RevocationState, RevokedGrants, TokenInput, UnixTime, UsageState, UsageView,
};

/// Everything the decision depends on.
pub struct Scenario<'a> {
    /// The decision policy from the filter configuration.
    pub policy: &'a Policy,
    /// The trusted keys, or `None` as if the gate had not loaded any yet.
    pub keys: Option<&'a KeySet>,
    /// Revoked grant ids, or `None` as if the revocation feed were stale.
    pub revoked: Option<&'a RevokedGrants>,
    /// Whether the audit buffer is full (with the `deny` overflow policy).
    pub audit_full: bool,
    /// What grants have used so far, for the budget of a grant with limits.
    pub usage: UsageState<'a>,
    /// HTTP method.
    pub method: &'a str,
    /// `:path` with any query.
    pub path: &'a str,
    /// What is known of the body's model.
    pub model: ModelFact<'a>,
    /// The token as the gate would find it.
    pub token: TokenInput<'a>,
    /// The time of the decision.
    pub now: UnixTime,
}

/// The gate's decision for `scenario`.
pub fn decide_scenario(scenario: &Scenario<'_>) -> Decision {
    decide(&DecisionInputs {
        policy: scenario.policy,
        request: RequestFacts {
            method: scenario.method,
            path: scenario.path,
            model: scenario.model,
        },
        token: scenario.token,
        keys: scenario
            .keys
            .map_or(KeyState::Unavailable, KeyState::Loaded),
        revocations: scenario.revoked.map_or(RevocationState::Stale, |view| {
            RevocationState::Current(view)
        }),
        now: scenario.now,
        audit_full: scenario.audit_full,
        usage: scenario.usage,
    })
}

/// The usage of the one grant an explanation is about (`--used-requests`, `--used-tokens`),
/// whatever its id.
#[derive(Debug, Clone, Copy)]
pub struct ThisGrantUsed(pub GrantUsage);

impl UsageView for ThisGrantUsed {
    fn used(&self, _grant_id: &str) -> Option<GrantUsage> {
        Some(self.0)
    }
}
