//! What one sender credential may write: records of one kind (gateway or issuer) in the
//! streams whose id starts with one prefix. A batch is checked whole before anything is
//! stored, so a credential cannot take a sequence number in a stream it does not own — a
//! record forged there would make the owner's genuine record arrive as a conflict, and the
//! log would keep the forgery.
//!
//! The two kinds are told apart the way the issuer marks its events today
//! (`issuer/src/events/mod.rs`, `docs/issuer.md`): `jitgate.route` `issuer` and a
//! `jitgate.reason` starting `issuer.`. A record carrying either mark is an issuer event;
//! every other record is a gateway record (the filter's reasons are its snake_case codes,
//! which never contain a dot). Either mark counts, so a gateway credential cannot write
//! anything a reader would take for an issuer event.

use std::fmt;

use jitgate_grant::audit::AuditRecord;

use crate::ingest::Candidate;

/// `jitgate.route` of issuer events.
pub const ISSUER_ROUTE: &str = "issuer";

/// How every issuer event's `jitgate.reason` starts.
pub const ISSUER_REASON_PREFIX: &str = "issuer.";

/// The two kinds of records in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// One request the gate decided (the filter).
    Gateway,
    /// A lifecycle event of an access request (the issuer).
    Issuer,
}

impl RecordKind {
    /// The kind `record` is (see the module docs).
    pub fn of(record: &AuditRecord) -> RecordKind {
        if record.reason.starts_with(ISSUER_REASON_PREFIX)
            || record.route.as_deref() == Some(ISSUER_ROUTE)
        {
            RecordKind::Issuer
        } else {
            RecordKind::Gateway
        }
    }

    /// `gateway` or `issuer`, as configured.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Gateway => "gateway",
            RecordKind::Issuer => "issuer",
        }
    }

    /// Parses `gateway` or `issuer`.
    pub fn parse(text: &str) -> Option<RecordKind> {
        match text {
            "gateway" => Some(RecordKind::Gateway),
            "issuer" => Some(RecordKind::Issuer),
            _ => None,
        }
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one sender may write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The only kind of record it may write.
    pub kind: RecordKind,
    /// Every stream id it writes starts with this (never empty).
    pub stream_prefix: String,
}

impl fmt::Display for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} records in streams {:?}…",
            self.kind, self.stream_prefix
        )
    }
}

/// Why a batch was refused: its first record outside the sender's binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingRefusal {
    /// Which rule the record broke.
    pub rule: BindingRule,
    /// Where the record was in the request.
    pub position: String,
    /// Its stream.
    pub stream_id: String,
    /// Its kind.
    pub record_kind: RecordKind,
    /// What the credential may write.
    pub binding: Binding,
    /// Records of the batch outside the binding, this one included.
    pub outside: usize,
    /// Records in the batch that were valid audit records.
    pub total: usize,
}

/// The rule a record broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingRule {
    /// Its stream is not the sender's.
    Stream,
    /// It is the other kind of record.
    RecordKind,
}

impl BindingRefusal {
    /// The machine-readable code (`google.rpc.ErrorInfo.reason` in the answer).
    pub fn code(&self) -> &'static str {
        match self.rule {
            BindingRule::Stream => "stream_not_permitted",
            BindingRule::RecordKind => "record_kind_not_permitted",
        }
    }
}

impl fmt::Display for BindingRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.position)?;
        match self.rule {
            BindingRule::Stream => write!(
                f,
                "stream {:?} is not this sender's: its credential writes streams starting {:?}",
                self.stream_id, self.binding.stream_prefix
            )?,
            BindingRule::RecordKind => write!(
                f,
                "{} record in stream {:?}: this sender's credential writes {} records only",
                article(self.record_kind),
                self.stream_id,
                self.binding.kind
            )?,
        }
        write!(
            f,
            " ({} of {} records outside the credential's binding); nothing stored",
            self.outside, self.total
        )
    }
}

fn article(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Gateway => "a gateway",
        RecordKind::Issuer => "an issuer",
    }
}

impl Binding {
    /// Why `record` is outside this binding, if it is.
    fn rule_broken(&self, record: &AuditRecord) -> Option<BindingRule> {
        if !record.stream_id.starts_with(&self.stream_prefix) {
            Some(BindingRule::Stream)
        } else if RecordKind::of(record) != self.kind {
            Some(BindingRule::RecordKind)
        } else {
            None
        }
    }

    /// Accepts a batch only if every record in it is inside this binding; otherwise names
    /// the first one that is not, and how many are not.
    pub fn check(&self, candidates: &[Candidate]) -> Result<(), BindingRefusal> {
        let mut broken = candidates.iter().filter_map(|candidate| {
            self.rule_broken(&candidate.record)
                .map(|rule| (candidate, rule))
        });
        let Some((first, rule)) = broken.next() else {
            return Ok(());
        };
        Err(BindingRefusal {
            rule,
            position: first.position.clone(),
            stream_id: first.record.stream_id.clone(),
            record_kind: RecordKind::of(&first.record),
            binding: self.clone(),
            outside: 1 + broken.count(),
            total: candidates.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::sample_record;
    use crate::ingest::validate;

    fn candidates(records: &[AuditRecord]) -> Vec<Candidate> {
        let texts: Vec<String> = records
            .iter()
            .map(AuditRecord::to_otlp_log_record_text)
            .collect();
        let fields = texts
            .iter()
            .enumerate()
            .map(|(i, text)| match serde_json::from_str(text).unwrap() {
                jitgate_grant::audit::json_read::Shaped::Object(fields) => {
                    (format!("r[{i}]"), fields)
                }
                jitgate_grant::audit::json_read::Shaped::Other => panic!("an object"),
            })
            .collect();
        validate(fields).0
    }

    fn gateway(prefix: &str) -> Binding {
        Binding {
            kind: RecordKind::Gateway,
            stream_prefix: prefix.into(),
        }
    }

    fn issuer_event(stream: &str, sequence: u64) -> AuditRecord {
        let mut record = sample_record(stream, sequence);
        record.route = Some("issuer".into());
        record.reason = "issuer.approved".into();
        record
    }

    #[test]
    fn tells_issuer_events_from_gateway_records_by_either_mark() {
        assert_eq!(RecordKind::of(&sample_record("s", 1)), RecordKind::Gateway);
        assert_eq!(RecordKind::of(&issuer_event("s", 1)), RecordKind::Issuer);
        let mut reason_only = sample_record("s", 1);
        reason_only.reason = "issuer.revoked".into();
        assert_eq!(RecordKind::of(&reason_only), RecordKind::Issuer);
        let mut route_only = sample_record("s", 1);
        route_only.route = Some("issuer".into());
        assert_eq!(RecordKind::of(&route_only), RecordKind::Issuer);
    }

    #[test]
    fn accepts_a_batch_inside_the_binding() {
        let batch = candidates(&[
            sample_record("gw-eu-18c-0000abcd", 1),
            sample_record("gw-eu-18d-0000abce", 1),
        ]);
        assert_eq!(gateway("gw-eu-").check(&batch), Ok(()));
        assert_eq!(gateway("gw-eu-").check(&[]), Ok(()));
    }

    #[test]
    fn names_the_first_record_in_another_stream_and_counts_the_rest() {
        let batch = candidates(&[
            sample_record("gw-eu-1", 1),
            sample_record("issuer-00ff", 7),
            sample_record("gw-us-1", 2),
        ]);
        let refusal = gateway("gw-eu-").check(&batch).unwrap_err();
        assert_eq!(refusal.code(), "stream_not_permitted");
        assert_eq!(
            refusal.to_string(),
            "r[1]: stream \"issuer-00ff\" is not this sender's: its credential writes streams \
             starting \"gw-eu-\" (2 of 3 records outside the credential's binding); nothing stored"
        );
    }

    #[test]
    fn refuses_the_other_kind_of_record_in_an_owned_stream() {
        let refusal = gateway("gw-eu-")
            .check(&candidates(&[issuer_event("gw-eu-1", 1)]))
            .unwrap_err();
        assert_eq!(refusal.code(), "record_kind_not_permitted");
        assert_eq!(
            refusal.to_string(),
            "r[0]: an issuer record in stream \"gw-eu-1\": this sender's credential writes \
             gateway records only (1 of 1 records outside the credential's binding); nothing stored"
        );
        let issuer = Binding {
            kind: RecordKind::Issuer,
            stream_prefix: "issuer-".into(),
        };
        assert_eq!(
            issuer.check(&candidates(&[issuer_event("issuer-1", 1)])),
            Ok(())
        );
        let refusal = issuer
            .check(&candidates(&[sample_record("issuer-1", 2)]))
            .unwrap_err();
        assert_eq!(refusal.rule, BindingRule::RecordKind);
        assert_eq!(refusal.record_kind, RecordKind::Gateway);
    }
}
