//! Running a vector through `decide` — the one runner every host's test uses, so hosts
//! differ only in where the code runs, never in how a vector is read.

use jitgate_grant::{
    decide, decide_cached, extract_bearer, read_model, Decision, DecisionInputs, GrantUsage,
    KeySet, KeyState, ModelFact, Outcome, Policy, Reason, RequestFacts, RevocationState,
    RevokedGrants, UsageState, UsageTable, VerificationCache,
};

use crate::vector::{Expectation, Vector};

/// What a host decided for a vector, in the vector's own terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The decision, as an [`Expectation`] so the two compare directly.
    pub decision: Expectation,
    /// The deny response body, when denied (for checks that it never echoes the token).
    pub response_body: Option<String>,
}

/// Lowercase name of an outcome, as vectors spell it.
pub fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Allow => "allow",
        Outcome::Deny => "deny",
        Outcome::NeedModel => "need_model",
    }
}

/// The vector's `Authorization` header values, as the gate receives them.
pub fn authorization_headers(vector: &Vector) -> Vec<&str> {
    vector
        .request
        .authorization
        .iter()
        .map(String::as_str)
        .collect()
}

/// The vector's body read for its `model` as the gate reads it; `None` when it has no body.
pub fn body_model(vector: &Vector, max_body_bytes: usize) -> Option<Result<String, Reason>> {
    vector.request.body.as_ref().map(|body| {
        read_model(
            vector.request.content_type.as_deref(),
            body.as_bytes(),
            max_body_bytes,
        )
    })
}

/// That reading as the fact `decide` takes.
pub fn model_fact(read: &Option<Result<String, Reason>>) -> ModelFact<'_> {
    match read {
        None => ModelFact::Unread,
        Some(Ok(model)) => ModelFact::Named(model),
        Some(Err(reason)) => ModelFact::Unusable(*reason),
    }
}

/// The vector's usage so far as the table `decide` reads; `None` when the gate cannot count
/// (`gate.budget_current` false).
pub fn usage_table(vector: &Vector) -> Option<UsageTable> {
    vector.gate.budget_current.then(|| {
        UsageTable(
            vector
                .usage
                .iter()
                .map(|(grant_id, used)| {
                    let used = GrantUsage {
                        requests: used.requests,
                        tokens: used.tokens,
                    };
                    (grant_id.clone(), used)
                })
                .collect(),
        )
    })
}

/// That table as the state `decide` takes.
pub fn usage_state(table: &Option<UsageTable>) -> UsageState<'_> {
    match table {
        Some(table) => UsageState::Counted(table),
        None => UsageState::Unavailable,
    }
}

/// Decides `vector` under `policy` and `keys` (twice more through a verification cache, to
/// hold the cached path to the same answer) and reports what came out.
pub fn run_vector(vector: &Vector, policy: &Policy, keys: &KeySet) -> Result<Observed, String> {
    let revoked: RevokedGrants = vector.revoked.iter().cloned().collect();
    let authorization = authorization_headers(vector);
    let read = body_model(vector, policy.max_body_bytes);
    let usage = usage_table(vector);
    let inputs = DecisionInputs {
        policy,
        request: RequestFacts {
            method: &vector.request.method,
            path: &vector.request.path,
            model: model_fact(&read),
        },
        token: extract_bearer(&authorization, "Bearer "),
        keys: if vector.gate.keys_loaded {
            KeyState::Loaded(keys)
        } else {
            KeyState::Unavailable
        },
        revocations: if vector.gate.revocation_current {
            RevocationState::Current(&revoked)
        } else {
            RevocationState::Stale
        },
        now: jitgate_grant::UnixTime(vector.now),
        audit_full: vector.gate.audit_full,
        usage: usage_state(&usage),
    };
    let fresh = decide(&inputs);
    let mut cache = VerificationCache::new(16);
    for attempt in ["cache miss", "cache hit"] {
        let cached = decide_cached(&inputs, &mut cache);
        if cached != fresh {
            return Err(format!(
                "{}: decide_cached ({attempt}) gave {cached:?}, decide gave {fresh:?}",
                vector.name
            ));
        }
    }
    Ok(observe(&fresh, policy))
}

fn observe(decision: &Decision, policy: &Policy) -> Observed {
    let response_body = (decision.outcome == Outcome::Deny).then(|| {
        decision
            .reason
            .deny_response(&policy.realm, decision.required_scope.as_deref(), "vector")
            .body
    });
    Observed {
        decision: Expectation {
            outcome: outcome_name(decision.outcome).to_owned(),
            reason: decision.reason.code().to_owned(),
            status: decision.reason.status(),
            required_scope: decision.required_scope.clone(),
            grant_id: decision
                .grant
                .as_ref()
                .map(|grant| grant.claims.grant_id.clone()),
        },
        response_body,
    }
}
