//! The audit record: everything compliance needs to know about one request, allowed or
//! denied — who, under which grant approved by whom, what was asked for, what came back.
//! It never holds the token, only its digest.

use crate::decide::{Decision, Outcome};

/// Whether the request went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditDecision {
    /// Passed to the upstream.
    Allow,
    /// Refused by the gate.
    Deny,
}

impl AuditDecision {
    /// `allow` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditDecision::Allow => "allow",
            AuditDecision::Deny => "deny",
        }
    }

    /// Parses `allow` or `deny`.
    pub fn parse(text: &str) -> Option<AuditDecision> {
        match text {
            "allow" => Some(AuditDecision::Allow),
            "deny" => Some(AuditDecision::Deny),
            _ => None,
        }
    }
}

/// One request, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// When the request started, nanoseconds since the epoch.
    pub time_unix_nano: u64,
    /// Which gate instance (VM) wrote the record.
    pub stream_id: String,
    /// Position in that stream, from 1 with no gaps.
    pub sequence: u64,
    /// Allowed or denied.
    pub decision: AuditDecision,
    /// The reason code.
    pub reason: String,
    /// The matched route's name.
    pub route: Option<String>,
    /// The grant (approved request) id.
    pub grant_id: Option<String>,
    /// Who the grant is for.
    pub subject: Option<String>,
    /// The client acting for the subject.
    pub client_id: Option<String>,
    /// Who approved the grant.
    pub approvers: Vec<String>,
    /// Whether the grant is break-glass access.
    pub break_glass: bool,
    /// The grant's scopes.
    pub scopes_granted: Vec<String>,
    /// The scope the route required.
    pub scope_required: Option<String>,
    /// The token's digest (`sha256:…`), never the token.
    pub token_digest: Option<String>,
    /// HTTP method.
    pub method: String,
    /// `:authority`.
    pub authority: String,
    /// Path without the query string.
    pub path: String,
    /// The model the body named.
    pub model: Option<String>,
    /// Response status sent to the client.
    pub status: u16,
    /// Time from request start to completion, milliseconds.
    pub duration_ms: u64,
    /// Request body bytes.
    pub request_bytes: u64,
    /// Response body bytes.
    pub response_bytes: u64,
    /// Client address as Envoy saw it.
    pub client_address: Option<String>,
    /// `user-agent`.
    pub user_agent: Option<String>,
    /// `x-request-id`.
    pub request_id: Option<String>,
    /// Model input tokens reported by the upstream.
    pub input_tokens: Option<u64>,
    /// Model output tokens reported by the upstream.
    pub output_tokens: Option<u64>,
    /// The grant's approved request budget (its token's `limits.requests`), so a reader of
    /// the log alone — the collector's guard, compliance with an export — knows the limit
    /// each use counted against.
    pub limit_requests: Option<u64>,
    /// The grant's approved model-token budget (`limits.tokens`).
    pub limit_tokens: Option<u64>,
}

impl AuditRecord {
    /// A record carrying what `decision` knows; request and response facts start empty
    /// and are filled by the host as the request completes.
    pub fn from_decision(decision: &Decision) -> AuditRecord {
        let grant = decision.grant.as_deref();
        AuditRecord {
            time_unix_nano: 0,
            stream_id: String::new(),
            sequence: 0,
            decision: match decision.outcome {
                Outcome::Allow => AuditDecision::Allow,
                Outcome::Deny | Outcome::NeedModel => AuditDecision::Deny,
            },
            reason: decision.reason.code().to_owned(),
            route: decision.route.clone(),
            grant_id: grant.map(|g| g.claims.grant_id.clone()),
            subject: grant.map(|g| g.claims.sub.clone()),
            client_id: grant.and_then(|g| g.claims.client_id.clone()),
            approvers: grant
                .map(|g| g.claims.approvers.clone())
                .unwrap_or_default(),
            break_glass: grant.is_some_and(|g| g.claims.break_glass),
            scopes_granted: grant
                .map(|g| g.scopes.iter().map(|s| s.as_str().to_owned()).collect())
                .unwrap_or_default(),
            scope_required: decision.required_scope.clone(),
            token_digest: grant.map(|g| g.token_digest.to_hex()),
            method: String::new(),
            authority: String::new(),
            path: String::new(),
            model: decision.model.clone(),
            status: 0,
            duration_ms: 0,
            request_bytes: 0,
            response_bytes: 0,
            client_address: None,
            user_agent: None,
            request_id: None,
            input_tokens: None,
            output_tokens: None,
            limit_requests: grant
                .and_then(|g| g.claims.limits.as_ref())
                .and_then(|limits| limits.requests),
            limit_tokens: grant
                .and_then(|g| g.claims.limits.as_ref())
                .and_then(|limits| limits.tokens),
        }
    }
}
