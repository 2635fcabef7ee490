//! `decide`: the one function that turns a request, a token, the trusted keys, the
//! revocation view and the current time into allow or deny, with the reason and the grant
//! facts the audit record needs. Every host calls this and nothing else to decide.
//!
//! Order of checks, and why:
//! 0. a full audit buffer (with the `deny` overflow policy) refuses everything with 503;
//! 1. the path must be in normal form, else nothing below can be trusted to match;
//! 2. a public route needs nothing more;
//! 3. the token: present and single (a header token beside a query `access_token` is two),
//!    then fully verified, then not revoked (which needs a
//!    fresh revocation view) — so an
//!    unauthenticated caller learns nothing about routes or models (always 401 first);
//! 4. the route: no match → `no_route` (or any valid grant, if configured);
//! 5. the required scope, filled from the body's `model` when the route says so. If the
//!    host has not read the body yet, the answer is [`Outcome::NeedModel`]: the host buffers
//!    the body only for callers that already passed 1–4, then asks again;
//! 6. the grant's budget ([`crate::budget`]), last: only a request that would otherwise be
//!    allowed is held to it, so a refusal for any other reason says that reason and is never
//!    counted, and the host counts exactly the requests this check admits.

use std::sync::Arc;

use crate::budget::{apply_budget, UsageState};
use crate::cache::VerificationCache;
use crate::jwks::KeySet;
use crate::policy::{Policy, Unmatched};
use crate::reason::Reason;
use crate::revocation::RevocationView;

use crate::route::RouteAction;
use crate::scope::any_covers;
use crate::time::UnixTime;
use crate::token::query_has_access_token;
use crate::verify::{verify_token, VerifiedGrant};

/// The grant token as the host found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenInput<'a> {
    /// No credential.
    Missing,
    /// Exactly one token.
    Present(&'a str),
    /// More than one credential header or token: refused, never guessed between.
    Duplicate,
}

/// What the host knows about the body's `model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFact<'a> {
    /// The body has not been read (yet).
    Unread,
    /// The body named this model.
    Named(&'a str),
    /// The body could not yield a model, for this reason (`model_missing`,
    /// `body_not_json`, `body_too_large`, `unsupported_media_type`, …).
    Unusable(Reason),
}

/// The request facts a decision depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestFacts<'a> {
    /// HTTP method, uppercase.
    pub method: &'a str,
    /// `:path`, including any query string.
    pub path: &'a str,
    /// The body's model, if read.
    pub model: ModelFact<'a>,
}

/// Whether the host has verification keys to decide with.
#[derive(Debug, Clone, Copy)]
pub enum KeyState<'a> {
    /// Keys are loaded.
    Loaded(&'a KeySet),
    /// Keys have not been fetched yet (or could never be): token checks answer 503
    /// `keys_unavailable`, never 401, because the token may well be fine.
    Unavailable,
}

/// Whether the host's revocation view can be trusted right now.
#[derive(Clone, Copy)]
pub enum RevocationState<'a> {
    /// The view is fresh (polled within the host's staleness bound).
    Current(&'a dyn RevocationView),
    /// The feed has not answered for too long (or never yet): a valid token cannot be
    /// shown to be unrevoked, so token-bearing requests get 503 `revocation_unavailable`.
    Stale,
}

impl std::fmt::Debug for RevocationState<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RevocationState::Current(_) => "Current",
            RevocationState::Stale => "Stale",
        })
    }
}

/// Everything `decide` needs.
pub struct DecisionInputs<'a> {
    /// The policy.
    pub policy: &'a Policy,
    /// The request.
    pub request: RequestFacts<'a>,
    /// The token as found.
    pub token: TokenInput<'a>,
    /// Trusted verification keys.
    pub keys: KeyState<'a>,
    /// Revoked grants.
    pub revocations: RevocationState<'a>,
    /// The current time.
    pub now: UnixTime,
    /// The host's audit buffer is full and its policy is to refuse new requests.
    pub audit_full: bool,
    /// What grants have used so far, for grants whose token carries `limits`.
    pub usage: UsageState<'a>,
}

/// Allow, deny, or read the body first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Let the request through.
    Allow,
    /// Refuse it with the reason's response.
    Deny,
    /// Everything up to the scope check passed; the scope depends on the body's `model`.
    NeedModel,
}

/// The result of `decide`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// What to do.
    pub outcome: Outcome,
    /// Why.
    pub reason: Reason,
    /// The verified grant, when the token verified (also on later denials).
    pub grant: Option<Arc<VerifiedGrant>>,
    /// The name of the matching route, if any.
    pub route: Option<String>,
    /// The scope the route required, once known.
    pub required_scope: Option<String>,
    /// The model the body named, once known.
    pub model: Option<String>,
}

impl Decision {
    fn new(outcome: Outcome, reason: Reason) -> Decision {
        Decision {
            outcome,
            reason,
            grant: None,
            route: None,
            required_scope: None,
            model: None,
        }
    }

    /// Whether the request may proceed.
    pub fn is_allowed(&self) -> bool {
        self.outcome == Outcome::Allow
    }
}

/// Decides a request, verifying the token from scratch.
pub fn decide(inputs: &DecisionInputs<'_>) -> Decision {
    let rules = &inputs.policy.token_rules;
    decide_with(inputs, |token, keys| {
        verify_token(token, keys, rules, inputs.now).map(Arc::new)
    })
}

/// Decides a request, using and filling `cache` for token verification. Gives exactly the
/// decision [`decide`] gives.
pub fn decide_cached(inputs: &DecisionInputs<'_>, cache: &mut VerificationCache) -> Decision {
    let rules = &inputs.policy.token_rules;
    decide_with(inputs, |token, keys| {
        cache.verify(token, keys, rules, inputs.now)
    })
}

fn decide_with(
    inputs: &DecisionInputs<'_>,
    verify: impl FnOnce(&str, &KeySet) -> Result<Arc<VerifiedGrant>, Reason>,
) -> Decision {
    let request = &inputs.request;
    let deny = |reason| Decision::new(Outcome::Deny, reason);

    if inputs.audit_full {
        // Refusing is the only way not to lose the record of what would be allowed.
        return deny(Reason::AuditUnavailable);
    }
    let route = match inputs.policy.routes.find(request.method, request.path) {
        Ok(route) => route,
        Err(reason) => return deny(reason),
    };
    if let Some(rule) = route {
        if rule.action == RouteAction::Public {
            let mut decision = Decision::new(Outcome::Allow, Reason::PublicRoute);
            decision.route = Some(rule.name.clone());
            return decision;
        }
    }

    let token = match inputs.token {
        TokenInput::Missing => return deny(Reason::MissingToken),
        TokenInput::Duplicate => return deny(Reason::DuplicateToken),
        TokenInput::Present(_) if query_has_access_token(request.path) => {
            return deny(Reason::DuplicateToken)
        }
        TokenInput::Present(token) => token,
    };
    let KeyState::Loaded(keys) = inputs.keys else {
        return deny(Reason::KeysUnavailable);
    };
    let grant = match verify(token, keys) {
        Ok(grant) => grant,
        Err(reason) => return deny(reason),
    };
    let mut decision = deny(Reason::Revoked);
    decision.grant = Some(Arc::clone(&grant));
    match inputs.revocations {
        RevocationState::Stale => {
            decision.reason = Reason::RevocationUnavailable;
            return decision;
        }
        RevocationState::Current(view) if view.is_revoked(&grant.claims.grant_id) => {
            return decision
        }
        RevocationState::Current(_) => {}
    }

    let Some(rule) = route else {
        (decision.outcome, decision.reason) = match inputs.policy.unmatched {
            Unmatched::Deny => (Outcome::Deny, Reason::NoRoute),
            Unmatched::Authenticated => (Outcome::Allow, Reason::AuthenticatedUnmatched),
        };
        return apply_budget(decision, inputs.usage);
    };
    decision.route = Some(rule.name.clone());
    let RouteAction::Require(template) = &rule.action else {
        // Public routes returned above; nothing else is left.
        decision.reason = Reason::NoRoute;
        return decision;
    };

    let model = match (template.needs_model(), request.model) {
        (false, _) => None,
        (true, ModelFact::Unread) => {
            decision.outcome = Outcome::NeedModel;
            decision.reason = Reason::Granted;
            return decision;
        }
        (true, ModelFact::Unusable(reason)) => {
            decision.reason = reason;
            return decision;
        }
        (true, ModelFact::Named(model)) => Some(model),
    };
    decision.model = model.map(str::to_owned);
    let required = match template.fill(model) {
        Ok(required) => required,
        Err(reason) => {
            decision.reason = reason;
            return decision;
        }
    };
    decision.required_scope = Some(required.as_str().to_owned());
    if any_covers(&grant.scopes, &required) {
        decision.outcome = Outcome::Allow;
        decision.reason = Reason::Granted;
    } else {
        decision.reason = Reason::InsufficientScope;
    }
    apply_budget(decision, inputs.usage)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use crate::budget::{GrantUsage, NothingUsed, UsageTable};
    use crate::claims::{Audience, GrantClaims, Limits};
    use crate::keys::SigningKey;
    use crate::mint::mint;
    use crate::revocation::NoRevocations;

    #[test]
    fn unmatched_routes_can_admit_any_valid_grant() {
        let key = SigningKey::ed25519_from_seed(&[5; 32]).unwrap();
        let mut keys = KeySet::new();
        keys.insert(key.verifying_key());
        let claims = GrantClaims {
            iss: "iss".into(),
            sub: "alice".into(),
            aud: Audience::Many(vec!["aud".into()]),
            iat: 90,
            nbf: None,
            exp: 200,
            jti: "j".into(),
            scope: "training:x".into(),
            grant_id: "g".into(),
            client_id: None,
            approvers: vec![],
            break_glass: true,
            limits: None,
        };
        let token = mint(&claims, &key).unwrap();
        let policy = Policy::from_json(
            r#"{"issuer":"iss","audiences":["aud"],"routes":[],"unmatched":"authenticated"}"#,
        )
        .unwrap();
        let inputs = DecisionInputs {
            policy: &policy,
            request: RequestFacts {
                method: "GET",
                path: "/anything",
                model: ModelFact::Unread,
            },
            token: TokenInput::Present(&token),
            keys: KeyState::Loaded(&keys),
            revocations: RevocationState::Current(&NoRevocations),
            now: UnixTime(100),
            audit_full: false,
            usage: UsageState::Counted(&NothingUsed),
        };
        let decision = decide(&inputs);
        assert_eq!(
            (decision.outcome, decision.reason),
            (Outcome::Allow, Reason::AuthenticatedUnmatched)
        );
        assert!(decision.grant.is_some_and(|grant| grant.claims.break_glass));
        let anonymous = DecisionInputs {
            token: TokenInput::Missing,
            ..inputs
        };
        assert_eq!(decide(&anonymous).reason, Reason::MissingToken);
        let query_too = DecisionInputs {
            request: RequestFacts {
                path: "/anything?access_token=x",
                ..inputs.request
            },
            ..inputs
        };
        assert_eq!(decide(&query_too).reason, Reason::DuplicateToken);
        let query_only = DecisionInputs {
            token: TokenInput::Missing,
            ..query_too
        };
        assert_eq!(decide(&query_only).reason, Reason::MissingToken);
    }

    /// A token for grant `g` holding `inference:llama`, with these limits.
    fn limited_token(key: &SigningKey, limits: Option<Limits>) -> String {
        let claims = GrantClaims {
            iss: "iss".into(),
            sub: "alice".into(),
            aud: Audience::One("aud".into()),
            iat: 90,
            nbf: None,
            exp: 200,
            jti: "j".into(),
            scope: "inference:llama".into(),
            grant_id: "g".into(),
            client_id: None,
            approvers: vec![],
            break_glass: false,
            limits,
        };
        mint(&claims, key).unwrap()
    }

    #[test]
    fn the_budget_is_the_last_check_and_only_refuses_what_would_be_allowed() {
        let key = SigningKey::ed25519_from_seed(&[6; 32]).unwrap();
        let mut keys = KeySet::new();
        keys.insert(key.verifying_key());
        let policy = Policy::from_json(
            r#"{"issuer":"iss","audiences":["aud"],"routes":[
                {"name":"chat","path":"/v1/chat/completions","scope":"inference:{model}"}]}"#,
        )
        .unwrap();
        let limited = limited_token(
            &key,
            Some(Limits {
                requests: Some(2),
                tokens: Some(100),
            }),
        );
        let mut table = UsageTable::default();
        let decide_with_usage = |token: &str, model: ModelFact<'_>, usage: UsageState<'_>| {
            decide(&DecisionInputs {
                policy: &policy,
                request: RequestFacts {
                    method: "POST",
                    path: "/v1/chat/completions",
                    model,
                },
                token: TokenInput::Present(token),
                keys: KeyState::Loaded(&keys),
                revocations: RevocationState::Current(&NoRevocations),
                now: UnixTime(100),
                audit_full: false,
                usage,
            })
        };
        let llama = ModelFact::Named("llama");
        let answer = |decision: Decision| (decision.outcome, decision.reason);

        table.0.insert(
            "g".into(),
            GrantUsage {
                requests: 1,
                tokens: 99,
            },
        );
        assert_eq!(
            answer(decide_with_usage(
                &limited,
                llama,
                UsageState::Counted(&table)
            )),
            (Outcome::Allow, Reason::Granted),
            "one request and one token left"
        );
        table.0.insert(
            "g".into(),
            GrantUsage {
                requests: 2,
                tokens: 0,
            },
        );
        let exhausted = decide_with_usage(&limited, llama, UsageState::Counted(&table));
        assert_eq!(
            (
                exhausted.outcome,
                exhausted.reason,
                exhausted.required_scope.as_deref()
            ),
            (
                Outcome::Deny,
                Reason::BudgetExhausted,
                Some("inference:llama")
            )
        );
        assert_eq!(
            exhausted.grant.map(|grant| grant.claims.grant_id.clone()),
            Some("g".to_owned()),
            "the refusal names the grant (for its audit record)"
        );
        table.0.insert(
            "g".into(),
            GrantUsage {
                requests: 0,
                tokens: 100,
            },
        );
        assert_eq!(
            answer(decide_with_usage(
                &limited,
                llama,
                UsageState::Counted(&table)
            )),
            (Outcome::Deny, Reason::BudgetExhausted),
            "tokens used up"
        );
        assert_eq!(
            answer(decide_with_usage(
                &limited,
                ModelFact::Named("gpt"),
                UsageState::Counted(&table)
            )),
            (Outcome::Deny, Reason::InsufficientScope),
            "another refusal says its own reason"
        );
        assert_eq!(
            answer(decide_with_usage(
                &limited,
                ModelFact::Unread,
                UsageState::Counted(&table)
            )),
            (Outcome::NeedModel, Reason::Granted),
            "the budget waits for the final decision"
        );
        assert_eq!(
            answer(decide_with_usage(&limited, llama, UsageState::Unavailable)),
            (Outcome::Deny, Reason::BudgetUnavailable)
        );
        for unlimited in [
            limited_token(&key, None),
            limited_token(
                &key,
                Some(Limits {
                    requests: None,
                    tokens: None,
                }),
            ),
        ] {
            assert_eq!(
                answer(decide_with_usage(
                    &unlimited,
                    llama,
                    UsageState::Unavailable
                )),
                (Outcome::Allow, Reason::Granted),
                "a grant without limits is never counted"
            );
        }
    }
}
