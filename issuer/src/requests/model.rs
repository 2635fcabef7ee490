//! The access request as stored and as the API shows it, and its states.
//!
//! ```text
//! pending ──▶ approved ──▶ active ──▶ expired | revoked
//!    └──────▶ denied | expired | cancelled
//! ```
//! `approved` is the moment of the decision; the grant becomes `active` in the same
//! transaction (the access window starts at approval), and both steps are in the history.
//! The request id is also the grant id, the token's `grant_id` and the revocation key.

use std::fmt;

use jitgate_grant::Limits;
use serde::{Deserialize, Serialize};

use crate::guard::usage::Usage;
use crate::policy::Assessment;

/// Where a request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Waiting for reviewers.
    Pending,
    /// Approved (recorded in the history; the stored state moves on to `active` at once).
    Approved,
    /// Granted: tokens can be minted until the window ends.
    Active,
    /// A reviewer said no.
    Denied,
    /// The pending TTL or the access window ran out.
    Expired,
    /// The requester withdrew it while pending.
    Cancelled,
    /// Someone revoked the grant.
    Revoked,
}

impl State {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Approved => "approved",
            State::Active => "active",
            State::Denied => "denied",
            State::Expired => "expired",
            State::Cancelled => "cancelled",
            State::Revoked => "revoked",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(text: &str) -> Option<State> {
        [
            State::Pending,
            State::Approved,
            State::Active,
            State::Denied,
            State::Expired,
            State::Cancelled,
            State::Revoked,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reviewer's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// Who reviewed.
    pub reviewer: String,
    /// `approve` or `deny`.
    pub decision: String,
    /// Their comment.
    pub comment: String,
    /// When, Unix seconds.
    pub at: i64,
}

/// How a step reached the issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// The JSON API: the CLI, scripts, agents.
    Api,
    /// The reviewer web page.
    Web,
    /// The guard, with its own credential (a revocation or an alert).
    Guard,
    /// The issuer on its own: approval by policy, the window's start, expiry.
    Issuer,
}

impl Channel {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Api => "api",
            Channel::Web => "web",
            Channel::Guard => "guard",
            Channel::Issuer => "issuer",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(text: &str) -> Option<Channel> {
        [Channel::Api, Channel::Web, Channel::Guard, Channel::Issuer]
            .into_iter()
            .find(|channel| channel.as_str() == text)
    }
}

/// Who took a step, and through which channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor<'a> {
    /// A subject id, or `policy` / `issuer` for the issuer's own steps.
    pub id: &'a str,
    /// How it reached the issuer.
    pub channel: Channel,
}

impl Actor<'static> {
    /// The issuer itself (window start, expiry).
    pub const ISSUER: Actor<'static> = Actor {
        id: "issuer",
        channel: Channel::Issuer,
    };
    /// The policy approving on its own.
    pub const POLICY: Actor<'static> = Actor {
        id: "policy",
        channel: Channel::Issuer,
    };
}

/// What a history entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HistoryEvent {
    /// A change of state.
    Transition,
    /// The guard flagged the grant (`from` and `to` are the state it was in, unchanged).
    Alert,
}

impl HistoryEvent {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryEvent::Transition => "transition",
            HistoryEvent::Alert => "alert",
        }
    }
}

/// One step in a request's history: a change of state, or an alert on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// `transition` or `alert`.
    pub event: HistoryEvent,
    /// The state before (`null` for creation).
    pub from: Option<State>,
    /// The state after.
    pub to: State,
    /// Who caused it (a subject, or `policy` / `issuer` for automatic steps).
    pub actor: String,
    /// How it reached the issuer; `null` for steps recorded before channels were.
    pub channel: Option<Channel>,
    /// When, Unix seconds.
    pub at: i64,
    /// Why: the reviewer's comment, the revocation reason, the policy that decided, the
    /// guard's rule and what it saw.
    pub reason: String,
    /// An alert's firing id (see `GET /v1/alerts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firing_id: Option<String>,
}

/// An access request with everything the API shows about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRequest {
    /// Request id; also the grant id.
    pub id: String,
    /// Who asked.
    pub requester: String,
    /// `person` or `service`.
    pub requester_kind: String,
    /// The requester's groups when they asked.
    pub requester_groups: Vec<String>,
    /// Scopes asked for.
    pub scopes: Vec<String>,
    /// Window length, seconds.
    pub duration_seconds: i64,
    /// Why.
    pub reason: String,
    /// `normal`, `high` or `emergency`.
    pub urgency: String,
    /// Emergency (break-glass) access; tokens say so.
    pub break_glass: bool,
    /// Project named, if any.
    pub project: Option<String>,
    /// Ticket cited, if any.
    pub ticket: Option<String>,
    /// Usage limits carried in tokens: what was asked, or the policy's default.
    pub limits: Option<Limits>,
    /// The fleet-wide use so far, as the guard last reported it (`null` before any report).
    pub usage: Option<Usage>,
    /// Current state.
    pub state: State,
    /// Approvals needed (0: approved by policy alone).
    pub approvals_required: u32,
    /// What the policy said, per scope.
    pub assessment: Assessment,
    /// When asked.
    pub created_at: i64,
    /// When a pending request expires.
    pub pending_until: i64,
    /// When approved (window start).
    pub approved_at: Option<i64>,
    /// When the window ends (no token outlives it).
    pub window_end: Option<i64>,
    /// When it reached a final state.
    pub ended_at: Option<i64>,
    /// Reviews so far.
    pub reviews: Vec<Review>,
    /// Every transition, oldest first.
    pub history: Vec<Transition>,
}

impl AccessRequest {
    /// The approvals recorded so far.
    pub fn approvers(&self) -> Vec<String> {
        self.reviews
            .iter()
            .filter(|review| review.decision == "approve")
            .map(|review| review.reviewer.clone())
            .collect()
    }

    /// Approvals still missing while pending.
    pub fn approvals_missing(&self) -> u32 {
        let have = u32::try_from(self.approvers().len()).unwrap_or(u32::MAX);
        self.approvals_required.saturating_sub(have)
    }
}
