//! The `decisions` interface: `decide` and the two request readers, each a direct call into
//! `jitgate_grant` with the gate's inputs rebuilt from WIT values.

use jitgate_grant::{
    decide, extract_bearer, read_model, DecisionInputs, GrantUsage, KeySet, KeyState, ModelFact,
    Policy, RequestFacts, RevocationState, RevokedGrants, TokenInput, UnixTime, UsageState,
    UsageTable,
};

use crate::bindings::exports::jitgate::policy::decisions::Guest;
use crate::bindings::exports::jitgate::policy::types::{
    Decision as WitDecision, FieldProblem, Gate, GateError, ModelFact as WitModelFact,
    Reason as WitReason, RequestFacts as WitRequestFacts, TokenInput as WitTokenInput,
};
use crate::{facts, reason, PolicyComponent};

impl Guest for PolicyComponent {
    fn decide(
        gate: Gate,
        request: WitRequestFacts,
        token: WitTokenInput,
    ) -> Result<WitDecision, GateError> {
        // Parsed on every call: the component keeps no state between calls, so a host can
        // never see a decision made under an earlier policy or key set.
        let policy = Policy::from_json(&gate.policy_json).map_err(|error| {
            GateError::Policy(FieldProblem {
                field: error.field,
                problem: error.problem,
            })
        })?;
        let keys = match &gate.jwks_json {
            Some(text) => Some(
                KeySet::from_jwks_json(text).map_err(|error| GateError::Jwks(error.to_string()))?,
            ),
            None => None,
        };
        let revoked: Option<RevokedGrants> =
            gate.revoked_grant_ids.map(|ids| ids.into_iter().collect());
        // A grant listed twice is counted once, with its largest figures: a host's duplicate
        // can only make the answer stricter, never admit more.
        let usage: Option<UsageTable> = gate.grant_usage.map(|grants| {
            let mut table = UsageTable::default();
            for grant in grants {
                let entry = table
                    .0
                    .entry(grant.grant_id)
                    .or_insert(GrantUsage::default());
                entry.requests = entry.requests.max(grant.requests);
                entry.tokens = entry.tokens.max(grant.tokens);
            }
            table
        });
        let inputs = DecisionInputs {
            policy: &policy,
            request: RequestFacts {
                method: &request.method,
                path: &request.path,
                model: match &request.model {
                    WitModelFact::Unread => ModelFact::Unread,
                    WitModelFact::Named(model) => ModelFact::Named(model),
                    WitModelFact::Unusable(why) => ModelFact::Unusable(reason::from_wit(*why)),
                },
            },
            token: match &token {
                WitTokenInput::Missing => TokenInput::Missing,
                WitTokenInput::Present(token) => TokenInput::Present(token),
                WitTokenInput::Duplicate => TokenInput::Duplicate,
            },
            keys: keys
                .as_ref()
                .map_or(KeyState::Unavailable, KeyState::Loaded),
            revocations: revoked.as_ref().map_or(RevocationState::Stale, |view| {
                RevocationState::Current(view)
            }),
            now: UnixTime(gate.now),
            audit_full: gate.audit_full,
            usage: usage
                .as_ref()
                .map_or(UsageState::Unavailable, |table| UsageState::Counted(table)),
        };
        Ok(facts::decision(&decide(&inputs)))
    }

    fn extract_bearer(header_values: Vec<String>, prefix: String) -> WitTokenInput {
        let values: Vec<&str> = header_values.iter().map(String::as_str).collect();
        match extract_bearer(&values, &prefix) {
            TokenInput::Missing => WitTokenInput::Missing,
            TokenInput::Present(token) => WitTokenInput::Present(token.to_owned()),
            TokenInput::Duplicate => WitTokenInput::Duplicate,
        }
    }

    fn read_model(
        content_type: Option<String>,
        body: Vec<u8>,
        max_body_bytes: u64,
    ) -> Result<String, WitReason> {
        // A limit beyond the address space cannot be reached by a body that fits in it.
        let max_body_bytes = usize::try_from(max_body_bytes).unwrap_or(usize::MAX);
        read_model(content_type.as_deref(), &body, max_body_bytes).map_err(reason::to_wit)
    }

    fn reason_code(reason: WitReason) -> String {
        reason::from_wit(reason).code().to_owned()
    }
}
