//! The core's answer in WIT terms: the decision record and the facts of the grant behind it.

use jitgate_grant::{Decision, Outcome, VerifiedGrant};

use crate::bindings::exports::jitgate::policy::types::{
    Decision as WitDecision, GrantFacts, Outcome as WitOutcome, UsageLimits,
};
use crate::reason;

/// The WIT decision for a core decision.
pub fn decision(decision: &Decision) -> WitDecision {
    WitDecision {
        outcome: match decision.outcome {
            Outcome::Allow => WitOutcome::Allow,
            Outcome::Deny => WitOutcome::Deny,
            Outcome::NeedModel => WitOutcome::NeedModel,
        },
        reason: reason::to_wit(decision.reason),
        reason_code: decision.reason.code().to_owned(),
        // `need-model` is not an answer to the client yet: nothing has been refused.
        status: match decision.outcome {
            Outcome::Deny => decision.reason.status(),
            Outcome::Allow | Outcome::NeedModel => 200,
        },
        grant: decision.grant.as_deref().map(grant_facts),
        route: decision.route.clone(),
        required_scope: decision.required_scope.clone(),
        model: decision.model.clone(),
    }
}

fn grant_facts(grant: &VerifiedGrant) -> GrantFacts {
    let claims = &grant.claims;
    GrantFacts {
        subject: claims.sub.clone(),
        grant_id: claims.grant_id.clone(),
        token_id: claims.jti.clone(),
        issuer: claims.iss.clone(),
        audiences: claims.aud.values().map(str::to_owned).collect(),
        client_id: claims.client_id.clone(),
        scopes: grant
            .scopes
            .iter()
            .map(|scope| scope.as_str().to_owned())
            .collect(),
        approvers: claims.approvers.clone(),
        break_glass: claims.break_glass,
        issued_at: claims.iat,
        not_before: claims.nbf,
        expires_at: claims.exp,
        limits: claims.limits.as_ref().map(|limits| UsageLimits {
            requests: limits.requests,
            tokens: limits.tokens,
        }),
        key_id: grant.key_id.clone(),
        token_digest: grant.token_digest.to_hex(),
    }
}
