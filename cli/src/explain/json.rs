//! The decision as JSON for scripts (`jitgate explain --json`): the same facts as the plain
//! words, with the stable reason code. Never includes the token.

use jitgate_grant::{Decision, Outcome};
use serde_json::{json, Value};

use crate::explain::words;

/// The decision as a JSON object.
pub fn render(decision: &Decision, method: &str, path: &str) -> Value {
    let outcome = match decision.outcome {
        Outcome::Allow => "allow",
        Outcome::Deny => "deny",
        Outcome::NeedModel => "need_model",
    };
    let status = match decision.outcome {
        Outcome::Deny => decision.reason.status(),
        Outcome::Allow | Outcome::NeedModel => 200,
    };
    let grant = decision.grant.as_ref().map(|grant| {
        let claims = &grant.claims;
        json!({
            "grant_id": claims.grant_id,
            "subject": claims.sub,
            "token_id": claims.jti,
            "client_id": claims.client_id,
            "scopes": grant.scopes.iter().map(|scope| scope.as_str()).collect::<Vec<_>>(),
            "approvers": claims.approvers,
            "break_glass": claims.break_glass,
            "issued_at": claims.iat,
            "not_before": claims.nbf,
            "expires_at": claims.exp,
            "limits": claims.limits,
            "key_id": grant.key_id,
            "token_digest": grant.token_digest.to_hex(),
        })
    });
    let (check, found) = words::finding(decision);
    json!({
        "outcome": outcome,
        "reason": decision.reason.code(),
        "status": status,
        "check": check,
        "description": found,
        "method": method,
        "path": path,
        "route": decision.route,
        "model": decision.model,
        "required_scope": decision.required_scope,
        "grant": grant,
        "next": words::next_step(decision),
    })
}
