//! What the guard takes from one gateway record: the grant it was made under, whether it was
//! allowed, why it was refused, its model tokens, its client address and whether the grant is
//! break-glass. Issuer events and guard records are not uses of a grant and give nothing;
//! neither does a record without a grant (a missing or unreadable token).

use jitgate_grant::audit::{AuditDecision, AuditRecord};

use crate::senders::RecordKind;

/// Refusals the probing rule counts: a scope the grant does not cover (a model outside the
/// grant is one) and a path no route knows.
pub const PROBING_REASONS: [&str; 2] = ["insufficient_scope", "no_route"];

/// The reason code of a request made with a revoked grant.
pub const REVOKED_REASON: &str = "revoked";

/// One use (or attempted use) of a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// The record's place in the log.
    pub leaf_index: u64,
    /// The record's own time.
    pub time_unix_nano: u64,
    /// The grant.
    pub grant_id: String,
    /// Its subject.
    pub subject: Option<String>,
    /// Whether the gate let it through.
    pub allowed: bool,
    /// The reason code.
    pub reason: String,
    /// Input plus output model tokens.
    pub tokens: u64,
    /// Where it came from.
    pub client_address: Option<String>,
    /// Whether the grant is break-glass access.
    pub break_glass: bool,
    /// The first record of this grant from this address (set from the totals store).
    pub new_address: bool,
    /// The grant's approved request budget, as its record carries it.
    pub limit_requests: Option<u64>,
    /// The grant's approved model-token budget.
    pub limit_tokens: Option<u64>,
}

impl Observation {
    /// Whether it is a refusal the probing rule counts.
    pub fn is_probing(&self) -> bool {
        !self.allowed && PROBING_REASONS.contains(&self.reason.as_str())
    }

    /// Whether it is an attempt with a revoked grant.
    pub fn is_revoked_use(&self) -> bool {
        !self.allowed && self.reason == REVOKED_REASON
    }
}

/// The observation in a gateway record at `leaf_index`, if it is a use of a grant.
pub fn observe(leaf_index: u64, record: &AuditRecord) -> Option<Observation> {
    if RecordKind::of(record) != RecordKind::Gateway {
        return None;
    }
    let grant_id = record.grant_id.clone().filter(|id| !id.is_empty())?;
    Some(Observation {
        leaf_index,
        time_unix_nano: record.time_unix_nano,
        grant_id,
        subject: record.subject.clone(),
        allowed: record.decision == AuditDecision::Allow,
        reason: record.reason.clone(),
        tokens: record
            .input_tokens
            .unwrap_or(0)
            .saturating_add(record.output_tokens.unwrap_or(0)),
        client_address: record.client_address.clone().filter(|a| !a.is_empty()),
        break_glass: record.break_glass,
        new_address: false,
        limit_requests: record.limit_requests,
        limit_tokens: record.limit_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::sample_record;

    #[test]
    fn takes_what_the_rules_need_from_a_gateway_record() {
        let mut record = sample_record("vm-1", 3);
        record.client_address = Some("10.0.0.7".into());
        let observation = observe(5, &record).unwrap();
        assert_eq!(
            observation,
            Observation {
                leaf_index: 5,
                time_unix_nano: record.time_unix_nano,
                grant_id: "g-3".into(),
                subject: record.subject.clone(),
                allowed: true,
                reason: "granted".into(),
                tokens: 57 + 211,
                client_address: Some("10.0.0.7".into()),
                break_glass: false,
                new_address: false,
                limit_requests: None,
                limit_tokens: None,
            }
        );
    }

    #[test]
    fn issuer_events_and_grantless_records_are_not_uses() {
        let mut event = sample_record("issuer-1", 1);
        event.route = Some("issuer".into());
        event.reason = "issuer.revoked".into();
        assert_eq!(observe(0, &event), None);
        let mut anonymous = sample_record("vm-1", 1);
        anonymous.grant_id = None;
        assert_eq!(observe(0, &anonymous), None);
    }
}
