//! Issuer-side audit events — requested, approved, denied, cancelled, revoked, token minted —
//! sent to the jitgate collector as audit records, next to the gateways' records.
//!
//! Each event becomes one [`AuditRecord`] (the collector's only record shape): `route` is
//! `issuer`, `reason` is `issuer.<event>`, `decision` is `allow` for events that give access
//! (requested, approved, token minted) and `deny` for those that refuse or end it; method,
//! path and status are the API call's. Records carry this process's stream id and a gapless
//! sequence, so the collector can prove none went missing: if the bounded buffer overflows
//! (the collector down for long), the dropped records leave a visible gap rather than
//! vanishing. The issuer's own history in the database stays the source of truth.

mod exporter;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use jitgate_grant::audit::{AuditDecision, AuditRecord};
use tokio::sync::mpsc;

use crate::requests::AccessRequest;

pub use exporter::{spawn_exporter, ExporterSettings};

/// How many records may wait for the collector.
pub const BUFFER_RECORDS: usize = 10_000;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerEvent {
    /// A request was made (and may already be approved by policy).
    Requested,
    /// The approvals reached the threshold (or policy approved): the grant is active.
    Approved,
    /// A reviewer denied it.
    Denied,
    /// The requester withdrew it.
    Cancelled,
    /// The grant was revoked.
    Revoked,
    /// A token was minted for the grant.
    TokenMinted,
}

impl IssuerEvent {
    /// The record's reason code.
    pub fn reason(self) -> &'static str {
        match self {
            IssuerEvent::Requested => "issuer.requested",
            IssuerEvent::Approved => "issuer.approved",
            IssuerEvent::Denied => "issuer.denied",
            IssuerEvent::Cancelled => "issuer.cancelled",
            IssuerEvent::Revoked => "issuer.revoked",
            IssuerEvent::TokenMinted => "issuer.token_minted",
        }
    }

    fn decision(self) -> AuditDecision {
        match self {
            IssuerEvent::Requested | IssuerEvent::Approved | IssuerEvent::TokenMinted => {
                AuditDecision::Allow
            }
            IssuerEvent::Denied | IssuerEvent::Cancelled | IssuerEvent::Revoked => {
                AuditDecision::Deny
            }
        }
    }
}

/// The API call an event came from.
#[derive(Debug, Clone)]
pub struct Call {
    /// `POST`.
    pub method: &'static str,
    /// The path, e.g. `/v1/requests/req_…/approve`.
    pub path: String,
    /// The status answered.
    pub status: u16,
}

/// Where events go: a bounded queue drained by the exporter, or nowhere.
#[derive(Debug, Clone)]
pub struct EventSink {
    inner: Option<Arc<SinkInner>>,
}

#[derive(Debug)]
struct SinkInner {
    stream_id: String,
    authority: String,
    // The sequence is taken under this lock together with the send, so records enter the
    // queue in sequence order.
    sender: std::sync::Mutex<mpsc::Sender<AuditRecord>>,
    sequence: AtomicU64,
}

impl EventSink {
    /// Events are not exported.
    pub fn disabled() -> EventSink {
        EventSink { inner: None }
    }

    /// A sink feeding `sender`; records carry `stream_id` and `authority` (the issuer's host).
    pub fn new(
        stream_id: String,
        authority: String,
        sender: mpsc::Sender<AuditRecord>,
    ) -> EventSink {
        EventSink {
            inner: Some(Arc::new(SinkInner {
                stream_id,
                authority,
                sender: std::sync::Mutex::new(sender),
                sequence: AtomicU64::new(0),
            })),
        }
    }

    /// Records `event` about `request`; never blocks the caller.
    pub fn emit(
        &self,
        event: IssuerEvent,
        request: &AccessRequest,
        call: Call,
        now: i64,
        token_digest: Option<String>,
    ) {
        let Some(inner) = &self.inner else {
            return;
        };
        let sender = match inner.sender.lock() {
            Ok(sender) => sender,
            Err(poisoned) => poisoned.into_inner(),
        };
        let sequence = inner.sequence.fetch_add(1, Ordering::SeqCst) + 1;
        let record = AuditRecord {
            time_unix_nano: u64::try_from(now)
                .unwrap_or(0)
                .saturating_mul(1_000_000_000),
            stream_id: inner.stream_id.clone(),
            sequence,
            decision: event.decision(),
            reason: event.reason().to_owned(),
            route: Some("issuer".to_owned()),
            grant_id: Some(request.id.clone()),
            subject: Some(request.requester.clone()),
            client_id: None,
            approvers: request.approvers(),
            break_glass: request.break_glass,
            scopes_granted: request.scopes.clone(),
            scope_required: None,
            token_digest,
            method: call.method.to_owned(),
            authority: inner.authority.clone(),
            path: call.path,
            model: None,
            status: call.status,
            duration_ms: 0,
            request_bytes: 0,
            response_bytes: 0,
            client_address: None,
            user_agent: None,
            request_id: None,
            input_tokens: None,
            output_tokens: None,
            limit_requests: None,
            limit_tokens: None,
        };
        if sender.try_send(record).is_err() {
            tracing::error!(
                sequence,
                event = event.reason(),
                "audit buffer full or exporter gone: record dropped (the collector will see a gap)"
            );
        }
    }
}
