//! The vector file format (`testdata/vectors/*.json`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::recipe::Recipe;

/// One conformance case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vector {
    /// Unique kebab-case name; also the file name.
    pub name: String,
    /// What the case shows, in a sentence.
    pub description: String,
    /// The time of the decision, seconds since the epoch.
    pub now: i64,
    /// The request.
    pub request: VectorRequest,
    /// Grant ids revoked at `now`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revoked: Vec<String>,
    /// What grants have used so far at the gate, by grant id (a grant not listed has used
    /// nothing): the counts a budget is checked against.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub usage: BTreeMap<String, UsedSoFar>,
    /// The gate's own state.
    #[serde(default, skip_serializing_if = "GateState::is_normal")]
    pub gate: GateState,
    /// How the token was made, so a host can mint an equivalent one valid at another time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<Recipe>,
    /// The expected decision.
    pub expect: Expectation,
}

/// The request facts of a vector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorRequest {
    /// HTTP method.
    pub method: String,
    /// `:path` with any query.
    pub path: String,
    /// Values of the `authorization` header, one per header line, exactly as sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization: Vec<String>,
    /// `content-type`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The body, when the host has read it. Absent means "not read yet".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// A grant's usage so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsedSoFar {
    /// Requests admitted.
    pub requests: u64,
    /// Model tokens the responses reported.
    pub tokens: u64,
}

/// The gate state a vector assumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateState {
    /// Whether verification keys are loaded.
    pub keys_loaded: bool,
    /// Whether the audit buffer is full (with the `deny` overflow policy).
    pub audit_full: bool,
    /// Whether the revocation feed was read recently enough.
    pub revocation_current: bool,
    /// Whether the gate can count budgets (false: its shared counts could not be read or
    /// updated).
    #[serde(default = "counting", skip_serializing_if = "is_counting")]
    pub budget_current: bool,
}

fn counting() -> bool {
    true
}

// serde's `skip_serializing_if` passes a reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_counting(current: &bool) -> bool {
    *current
}

impl Default for GateState {
    fn default() -> Self {
        GateState {
            keys_loaded: true,
            audit_full: false,
            revocation_current: true,
            budget_current: true,
        }
    }
}

impl GateState {
    /// Keys loaded, audit flowing.
    pub fn is_normal(&self) -> bool {
        *self == GateState::default()
    }
}

/// What the gate must answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// `allow`, `deny` or `need_model`.
    pub outcome: String,
    /// The reason code.
    pub reason: String,
    /// The HTTP status of the response (200 when allowed).
    pub status: u16,
    /// The required scope, when the decision got that far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_scope: Option<String>,
    /// The grant id, when the token verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
}
