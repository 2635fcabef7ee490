//! Asking the loaded policy the issuer's three questions about one access request.
//!
//! Every question is asked per requested scope. A request is allowed when every scope has a
//! `request` permit (and no forbid) that admits its duration and its limits (see
//! [`super::budget`]); among the permits that do, the one needing the fewest approvals wins
//! (any one permit is a sufficient reason — Cedar's permit semantics), and its budget terms
//! fill in the limits the request omitted. It is auto-approved only when every scope has an `auto_approve` permit;
//! otherwise it needs the largest approval count among its scopes, from reviewers the
//! `review` action allows for every scope.

use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, EntityUid, PolicyId, Request, Response,
};
use jitgate_grant::{GrantedScope, Limits};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::annotations::PermitTerms;
use super::budget::{BudgetTerms, LimitMiss, Measure};
use super::load::LoadedPolicy;
use crate::error::{Error, Result};
use crate::identity::{Subject, SubjectKind};
use crate::requests::duration::format_duration;

/// Everything the policy may look at about a request.
#[derive(Debug, Clone)]
pub struct AccessFacts {
    /// Who asked.
    pub requester: String,
    /// Their groups when they asked.
    pub requester_groups: Vec<String>,
    /// Person or service.
    pub requester_kind: SubjectKind,
    /// The scopes asked for.
    pub scopes: Vec<GrantedScope>,
    /// The window asked for, seconds.
    pub duration_seconds: i64,
    /// `normal`, `high` or `emergency`.
    pub urgency: String,
    /// Whether this is a break-glass request (urgency `emergency`).
    pub break_glass: bool,
    /// The project named, or empty.
    pub project: String,
    /// Whether a ticket was cited.
    pub has_ticket: bool,
    /// The reason given.
    pub reason: String,
    /// The limits asked for (not shown to Cedar: the permits' budget annotations judge them).
    pub limits: Option<Limits>,
}

/// What the policy said about one scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeExplanation {
    /// The scope.
    pub scope: String,
    /// The `request` permits that admitted it (by `@id`).
    pub permitted_by: Vec<String>,
    /// The `auto_approve` permits that applied; empty when a reviewer is needed.
    pub auto_approved_by: Vec<String>,
    /// Approvals this scope needs (0 when auto-approved).
    pub approvals: u32,
    /// Groups to ask.
    pub reviewers: Vec<String>,
    /// The deciding permit's budget terms (what it caps, defaults and requires).
    #[serde(default, skip_serializing_if = "BudgetTerms::is_empty")]
    pub budget: BudgetTerms,
    /// The deciding permit's `@notify` channels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<String>,
}

/// The policy's answer to "may this be requested, and who must agree?".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    /// Approvals needed before the grant starts; 0 means approved at once.
    pub approvals_required: u32,
    /// Groups whose members can approve (from `@reviewers`).
    pub reviewers: Vec<String>,
    /// Per-scope detail, for the requester and the reviewers.
    pub scopes: Vec<ScopeExplanation>,
    /// Notification channels that hear of the pending review (`@notify` of the permits of
    /// the scopes that need approval); the routing's `reviews` channel when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<String>,
}

const REQUEST: &str = "request";
const AUTO_APPROVE: &str = "auto_approve";
const REVIEW: &str = "review";

impl LoadedPolicy {
    /// May `facts.requester` ask for this, and what approval does it need?
    ///
    /// 403 (`policy_denied`) when a scope is not permitted or is forbidden, with the forbid's
    /// `@message`; 400 when the duration is longer than every permit allows.
    pub fn assess(&self, facts: &AccessFacts) -> Result<Assessment> {
        let requester = PrincipalFacts {
            id: &facts.requester,
            groups: &facts.requester_groups,
            kind: facts.requester_kind,
        };
        let mut scopes = Vec::new();
        for scope in &facts.scopes {
            let response = self.ask(&requester, REQUEST, scope, facts)?;
            let reasons: Vec<PolicyId> = response.diagnostics().reason().cloned().collect();
            if response.decision() == Decision::Deny {
                return Err(self.denial(scope, &reasons));
            }
            // Each applicable permit, best first: fewest approvals, then by name, so the same
            // permit decides every time (Cedar reports its reasons as a set).
            let mut applicable: Vec<(&PolicyId, &PermitTerms)> = reasons
                .iter()
                .filter_map(|id| Some((id, self.terms.get(id)?)))
                .collect();
            applicable.sort_by_key(|(id, terms)| (terms.approvals, self.name(id)));
            let admits = |terms: &PermitTerms| admission(terms, facts).is_ok();
            let admitting: Vec<&PolicyId> = applicable
                .iter()
                .filter(|(_, terms)| admits(terms))
                .map(|(id, _)| *id)
                .collect();
            let Some((_, best)) = applicable.iter().find(|(_, terms)| admits(terms)) else {
                return Err(self.not_admitted(scope, facts, &applicable));
            };
            let auto = self.ask(&requester, AUTO_APPROVE, scope, facts)?;
            let auto_approved_by: Vec<String> = if auto.decision() == Decision::Allow {
                auto.diagnostics()
                    .reason()
                    .map(|id| self.name(id))
                    .collect()
            } else {
                Vec::new()
            };
            scopes.push(ScopeExplanation {
                scope: scope.to_string(),
                permitted_by: admitting.iter().map(|id| self.name(id)).collect(),
                approvals: if auto_approved_by.is_empty() {
                    best.approvals
                } else {
                    0
                },
                reviewers: best.reviewers.clone(),
                auto_approved_by,
                budget: best.budget,
                notify: best.notify.clone(),
            });
        }
        let approvals_required = scopes.iter().map(|s| s.approvals).max().unwrap_or(0);
        let mut reviewers: Vec<String> = scopes
            .iter()
            .filter(|s| s.approvals > 0)
            .flat_map(|s| s.reviewers.iter().cloned())
            .collect();
        reviewers.sort();
        reviewers.dedup();
        let mut notify: Vec<String> = scopes
            .iter()
            .filter(|s| s.approvals > 0)
            .flat_map(|s| s.notify.iter().cloned())
            .collect();
        notify.sort();
        notify.dedup();
        Ok(Assessment {
            approvals_required,
            reviewers,
            scopes,
            notify,
        })
    }

    /// May `reviewer` approve or deny this request? `Err` names the first scope they may not
    /// review. Self-review is refused before the policy is asked (see `reviews`).
    pub fn may_review(&self, reviewer: &Subject, facts: &AccessFacts) -> Result<()> {
        let principal = PrincipalFacts {
            id: &reviewer.id,
            groups: &reviewer.groups,
            kind: reviewer.kind,
        };
        for scope in &facts.scopes {
            let response = self.ask(&principal, REVIEW, scope, facts)?;
            if response.decision() == Decision::Deny {
                return Err(Error::Forbidden(format!(
                    "policy does not let {} review scope {scope}",
                    reviewer.id
                )));
            }
        }
        Ok(())
    }

    /// The 400 for a scope no applicable permit admits: the duration when that is what every
    /// permit refuses, else the limit the best permit refuses, with what policy allows.
    fn not_admitted(
        &self,
        scope: &GrantedScope,
        facts: &AccessFacts,
        applicable: &[(&PolicyId, &PermitTerms)],
    ) -> Error {
        let misses: Vec<Miss> = applicable
            .iter()
            .filter_map(|(_, terms)| admission(terms, facts).err())
            .collect();
        let Some((measure, _)) = misses.iter().find_map(|miss| match miss {
            Miss::Limit(measure, limit_miss) => Some((*measure, *limit_miss)),
            Miss::Duration => None,
        }) else {
            let longest = applicable
                .iter()
                .filter_map(|(_, terms)| terms.max_duration)
                .max()
                .unwrap_or(0);
            return Error::BadRequest(format!(
                "duration: {} is longer than policy allows for scope {scope} (at most {})",
                format_duration(facts.duration_seconds),
                format_duration(longest)
            ));
        };
        let field = format!("limits.{}", measure.name());
        match measure.of(facts.limits.as_ref()) {
            Some(asked) => {
                // The most any permit that refuses only for being over allows.
                let most = misses
                    .iter()
                    .filter_map(|miss| match miss {
                        Miss::Limit(m, LimitMiss::Over { max }) if *m == measure => Some(*max),
                        _ => None,
                    })
                    .max()
                    .unwrap_or(0);
                Error::BadRequest(format!(
                    "{field}: {asked} is more than policy allows for scope {scope} (at most {most})"
                ))
            }
            None => Error::BadRequest(format!(
                "{field}: policy requires a limit on {} for scope {scope}; ask for one",
                measure.name()
            )),
        }
    }

    fn name(&self, id: &PolicyId) -> String {
        self.names
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }

    fn denial(&self, scope: &GrantedScope, reasons: &[PolicyId]) -> Error {
        let mut forbids: Vec<String> = reasons
            .iter()
            .map(|id| match self.messages.get(id) {
                Some(message) => format!("{message} [{}]", self.name(id)),
                None => format!("forbidden by {}", self.name(id)),
            })
            .collect();
        // Cedar reports its reasons as a set; sorted, the message is the same every time.
        forbids.sort();
        if forbids.is_empty() {
            Error::PolicyDenied(format!("no policy lets you request scope {scope}"))
        } else {
            Error::PolicyDenied(format!("scope {scope}: {}", forbids.join("; ")))
        }
    }

    fn ask(
        &self,
        principal: &PrincipalFacts<'_>,
        action: &str,
        scope: &GrantedScope,
        facts: &AccessFacts,
    ) -> Result<Response> {
        let principal_uid = uid("Jitgate::User", principal.id)?;
        let action_uid = uid("Jitgate::Action", action)?;
        let scope_uid = uid("Jitgate::Scope", scope.as_str())?;
        let (kind, name) = scope
            .as_str()
            .split_once(':')
            .unwrap_or((scope.as_str(), ""));
        let mut entities = vec![
            json!({
                "uid": {"type": "Jitgate::User", "id": principal.id},
                "attrs": {"kind": principal.kind.as_str()},
                "parents": principal.groups.iter()
                    .map(|group| json!({"type": "Jitgate::Group", "id": group}))
                    .collect::<Vec<_>>(),
            }),
            json!({
                "uid": {"type": "Jitgate::Scope", "id": scope.as_str()},
                "attrs": {"kind": kind, "name": name, "wildcard": scope.is_wildcard()},
                "parents": [],
            }),
        ];
        entities.extend(principal.groups.iter().map(|group| {
            json!({"uid": {"type": "Jitgate::Group", "id": group}, "attrs": {}, "parents": []})
        }));
        let entities = Entities::from_json_value(Value::Array(entities), Some(&self.schema))
            .map_err(|error| Error::Internal(format!("policy entities: {error}")))?;
        let context = Context::from_json_value(
            json!({
                "requester": facts.requester,
                "requester_groups": facts.requester_groups,
                "requester_kind": facts.requester_kind.as_str(),
                "duration_seconds": facts.duration_seconds,
                "urgency": facts.urgency,
                "break_glass": facts.break_glass,
                "project": facts.project,
                "has_ticket": facts.has_ticket,
                "reason": facts.reason,
            }),
            Some((&self.schema, &action_uid)),
        )
        .map_err(|error| Error::Internal(format!("policy context: {error}")))?;
        let request = Request::new(
            principal_uid,
            action_uid,
            scope_uid,
            context,
            Some(&self.schema),
        )
        .map_err(|error| Error::Internal(format!("policy request: {error}")))?;
        let response = Authorizer::new().is_authorized(&request, &self.policies, &entities);
        for error in response.diagnostics().errors() {
            // An evaluation error makes that policy not apply (Cedar skips it); worth a warning
            // because it usually means a policy reads an attribute in a way the schema allows
            // but the data does not.
            tracing::warn!(%error, action, scope = %scope, "policy evaluation error");
        }
        Ok(response)
    }
}

/// Why a permit does not admit a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Miss {
    /// Longer than its `@max_duration`.
    Duration,
    /// A limit its budget terms refuse.
    Limit(Measure, LimitMiss),
}

/// Whether a permit admits the request's duration, then its limits.
fn admission(terms: &PermitTerms, facts: &AccessFacts) -> Result<(), Miss> {
    if terms
        .max_duration
        .is_some_and(|max| facts.duration_seconds > max)
    {
        return Err(Miss::Duration);
    }
    terms
        .budget
        .check(facts.limits.as_ref())
        .map_err(|(measure, miss)| Miss::Limit(measure, miss))
}

struct PrincipalFacts<'a> {
    id: &'a str,
    groups: &'a [String],
    kind: SubjectKind,
}

fn uid(type_name: &str, id: &str) -> Result<EntityUid> {
    let type_name = cedar_policy::EntityTypeName::from_str(type_name)
        .map_err(|error| Error::Internal(format!("entity type {type_name}: {error}")))?;
    Ok(EntityUid::from_type_name_and_id(
        type_name,
        cedar_policy::EntityId::new(id),
    ))
}
