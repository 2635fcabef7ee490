//! What a notification says: the event's type and the message body every sink is rendered
//! from. The body follows the Standard Webhooks shape, `{"type", "timestamp", "data"}`, and
//! is stored whole in the outbox row, so a retry days later sends exactly what the change
//! said when it happened.

use serde_json::{json, Value};

use crate::guard::format_instant;
use crate::requests::AccessRequest;

/// The events people hear about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A request waits for reviewers.
    ReviewPending,
    /// A request was approved (by reviewers or by policy): its window has started.
    Approved,
    /// A reviewer denied a request.
    Denied,
    /// The requester withdrew a pending request.
    Cancelled,
    /// A pending request got no decision in time.
    RequestExpired,
    /// A grant's window ended.
    GrantExpired,
    /// A grant was revoked (by a person or the guard).
    Revoked,
    /// A grant's window ends soon.
    ExpiringSoon,
    /// The guard flagged a grant.
    GuardAlert,
}

impl EventKind {
    /// The `type` in the message, also stored in the outbox row.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::ReviewPending => "request.review_pending",
            EventKind::Approved => "request.approved",
            EventKind::Denied => "request.denied",
            EventKind::Cancelled => "request.cancelled",
            EventKind::RequestExpired => "request.expired",
            EventKind::GrantExpired => "grant.expired",
            EventKind::Revoked => "grant.revoked",
            EventKind::ExpiringSoon => "grant.expiring_soon",
            EventKind::GuardAlert => "guard.alert",
        }
    }

    /// One line for people (Slack's text, the webhook's `data.summary`).
    fn headline(self, request: &AccessRequest, actor: &str) -> String {
        let who = &request.requester;
        let scopes = request.scopes.join(", ");
        match self {
            EventKind::ReviewPending => {
                let missing = request.approvals_missing().max(1);
                format!(
                    "{who} asks for {scopes} for {}: {missing} approval{} needed",
                    duration_text(request.duration_seconds),
                    if missing == 1 { "" } else { "s" }
                )
            }
            EventKind::Approved => format!("{who}'s access to {scopes} was approved by {actor}"),
            EventKind::Denied => format!("{who}'s request for {scopes} was denied by {actor}"),
            EventKind::Cancelled => format!("{who} cancelled the request for {scopes}"),
            EventKind::RequestExpired => {
                format!("{who}'s request for {scopes} expired without a decision")
            }
            EventKind::GrantExpired => format!("{who}'s access to {scopes} ended"),
            EventKind::Revoked => format!("{who}'s access to {scopes} was revoked by {actor}"),
            EventKind::ExpiringSoon => format!(
                "{who}'s access to {scopes} ends at {}",
                request
                    .window_end
                    .map(|end| format_instant(end.saturating_mul(1_000_000_000)))
                    .unwrap_or_default()
            ),
            EventKind::GuardAlert => format!("the guard flagged {who}'s grant for {scopes}"),
        }
    }
}

/// A change people must hear about, as the service that made it knows it.
#[derive(Debug, Clone, Copy)]
pub struct Notice<'a> {
    /// What happened.
    pub kind: EventKind,
    /// The request or grant, as it is after the change.
    pub request: &'a AccessRequest,
    /// Who did it: a subject, `policy`, `issuer` or the guard's identity.
    pub actor: &'a str,
    /// Their reason or comment.
    pub comment: &'a str,
    /// When, Unix seconds.
    pub at: i64,
    /// The guard's alert, for [`EventKind::GuardAlert`].
    pub alert: Option<&'a Value>,
}

impl Notice<'_> {
    /// The message body, with a link to the request on the issuer's web page.
    pub fn payload(&self, issuer_url: &str) -> Value {
        let request = self.request;
        let url = format!(
            "{}/review#request-{}",
            issuer_url.trim_end_matches('/'),
            request.id
        );
        let mut data = json!({
            "summary": self.kind.headline(request, self.actor),
            "request_id": request.id,
            "requester": request.requester,
            "requester_kind": request.requester_kind,
            "scopes": request.scopes,
            "duration_seconds": request.duration_seconds,
            "reason": request.reason,
            "break_glass": request.break_glass,
            "state": request.state.as_str(),
            "actor": self.actor,
            "comment": self.comment,
            "url": url,
        });
        let fields = [
            ("ticket", request.ticket.as_ref().map(|t| json!(t))),
            ("project", request.project.as_ref().map(|p| json!(p))),
            ("limits", request.limits.as_ref().map(|l| json!(l))),
            ("window_end", request.window_end.map(|end| json!(end))),
            ("alert", self.alert.cloned()),
        ];
        if let Some(object) = data.as_object_mut() {
            for (key, value) in fields {
                if let Some(value) = value {
                    object.insert(key.into(), value);
                }
            }
            if self.kind == EventKind::ReviewPending {
                object.insert(
                    "approvals_missing".into(),
                    json!(request.approvals_missing()),
                );
                object.insert("reviewers".into(), json!(request.assessment.reviewers));
            }
        }
        json!({
            "type": self.kind.as_str(),
            "timestamp": format_instant(self.at.saturating_mul(1_000_000_000)),
            "data": data,
        })
    }
}

/// `2h`, `90m`, `1d`: how the CLI writes durations.
fn duration_text(seconds: i64) -> String {
    match seconds {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}
