//! Which records a reviewer asks for: a time range and exact matches on subject, grant,
//! model and decision. Parsed from query parameters with precise errors, and written in one
//! canonical form so a signed export manifest can name exactly what was asked.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jitgate_grant::audit::{AuditDecision, AuditRecord};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::canonical::canonical_json;
use crate::error::{Error, Result};

/// The query parameters, as sent.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FilterParams {
    /// Records that started at or after this RFC 3339 time.
    pub from: Option<String>,
    /// Records that started before this RFC 3339 time.
    pub to: Option<String>,
    /// `enduser.id`.
    pub subject: Option<String>,
    /// Grant id.
    pub grant: Option<String>,
    /// `gen_ai.request.model`.
    pub model: Option<String>,
    /// `allow` or `deny`.
    pub decision: Option<String>,
}

/// A validated filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordFilter {
    /// Inclusive lower bound on `time_unix_nano`.
    pub from_unix_nano: Option<u64>,
    /// Exclusive upper bound on `time_unix_nano`.
    pub to_unix_nano: Option<u64>,
    /// Exact subject.
    pub subject: Option<String>,
    /// Exact grant id.
    pub grant_id: Option<String>,
    /// Exact model.
    pub model: Option<String>,
    /// Exact decision.
    pub decision: Option<AuditDecision>,
}

/// Parses an RFC 3339 time to nanoseconds since the epoch.
pub fn parse_time(name: &str, text: &str) -> Result<u64> {
    let time = humantime::parse_rfc3339_weak(text).map_err(|_| {
        Error::BadRequest(format!(
            "{name}: {text:?} is not an RFC 3339 time like 2026-01-31T00:00:00Z"
        ))
    })?;
    let since = time
        .duration_since(UNIX_EPOCH)
        .map_err(|_| Error::BadRequest(format!("{name}: {text:?} is before 1970")))?;
    u64::try_from(since.as_nanos())
        .map_err(|_| Error::BadRequest(format!("{name}: {text:?} is too far in the future")))
}

/// Nanoseconds since the epoch as RFC 3339 UTC with nanoseconds.
pub fn format_time(unix_nano: u64) -> String {
    humantime::format_rfc3339_nanos(UNIX_EPOCH + Duration::from_nanos(unix_nano)).to_string()
}

/// Now, in nanoseconds since the epoch.
pub fn now_unix_nano() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn non_empty(name: &str, value: Option<String>) -> Result<Option<String>> {
    match value {
        Some(v) if v.is_empty() => Err(Error::BadRequest(format!("{name}: must not be empty"))),
        other => Ok(other),
    }
}

impl RecordFilter {
    /// Validates query parameters.
    pub fn from_params(params: FilterParams) -> Result<RecordFilter> {
        let from_unix_nano = params
            .from
            .as_deref()
            .map(|t| parse_time("from", t))
            .transpose()?;
        let to_unix_nano = params
            .to
            .as_deref()
            .map(|t| parse_time("to", t))
            .transpose()?;
        if let (Some(from), Some(to)) = (from_unix_nano, to_unix_nano) {
            if from >= to {
                return Err(Error::BadRequest("from: must be before to".into()));
            }
        }
        let decision = params
            .decision
            .as_deref()
            .map(|d| {
                AuditDecision::parse(d).ok_or_else(|| {
                    Error::BadRequest(format!("decision: {d:?} is neither allow nor deny"))
                })
            })
            .transpose()?;
        Ok(RecordFilter {
            from_unix_nano,
            to_unix_nano,
            subject: non_empty("subject", params.subject)?,
            grant_id: non_empty("grant", params.grant)?,
            model: non_empty("model", params.model)?,
            decision,
        })
    }

    /// Back to query parameters (times in RFC 3339 with nanoseconds).
    pub fn to_params(&self) -> FilterParams {
        FilterParams {
            from: self.from_unix_nano.map(format_time),
            to: self.to_unix_nano.map(format_time),
            subject: self.subject.clone(),
            grant: self.grant_id.clone(),
            model: self.model.clone(),
            decision: self.decision.map(|d| d.as_str().to_owned()),
        }
    }

    /// Whether `record` is one the filter selects.
    pub fn matches(&self, record: &AuditRecord) -> bool {
        self.from_unix_nano
            .is_none_or(|from| record.time_unix_nano >= from)
            && self
                .to_unix_nano
                .is_none_or(|to| record.time_unix_nano < to)
            && (self.subject.is_none() || self.subject == record.subject)
            && (self.grant_id.is_none() || self.grant_id == record.grant_id)
            && (self.model.is_none() || self.model == record.model)
            && self.decision.is_none_or(|d| d == record.decision)
    }

    /// Whether a guard record is one the filter selects: by time, subject and grant; never
    /// when a model or a decision is asked for (a firing is neither a model call nor a
    /// gateway decision), as the store's columns say.
    pub fn matches_guard(&self, record: &crate::guard::record::GuardRecord) -> bool {
        self.from_unix_nano
            .is_none_or(|from| record.time_unix_nano >= from)
            && self
                .to_unix_nano
                .is_none_or(|to| record.time_unix_nano < to)
            && (self.subject.is_none() || self.subject == record.subject)
            && self
                .grant_id
                .as_ref()
                .is_none_or(|grant| *grant == record.grant_id)
            && self.model.is_none()
            && self.decision.is_none()
    }

    /// Whether the filter selects every record.
    pub fn is_everything(&self) -> bool {
        self == &RecordFilter::default()
    }

    /// The filter as a JSON object of its set parameters.
    pub fn to_json(&self) -> Value {
        let params = self.to_params();
        let mut map = Map::new();
        let fields = [
            ("from", params.from),
            ("to", params.to),
            ("subject", params.subject),
            ("grant", params.grant),
            ("model", params.model),
            ("decision", params.decision),
        ];
        for (name, value) in fields {
            if let Some(value) = value {
                map.insert(name.to_owned(), Value::String(value));
            }
        }
        Value::Object(map)
    }

    /// [`to_json`](Self::to_json) in canonical form, for signed manifests.
    pub fn canonical(&self) -> String {
        canonical_json(&self.to_json())
    }

    /// Reads the JSON form back.
    pub fn from_json(value: &Value) -> Result<RecordFilter> {
        let params: FilterParams = serde_json::from_value(value.clone())
            .map_err(|e| Error::BadRequest(format!("filter: {e}")))?;
        RecordFilter::from_params(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_round_trips() {
        let filter = RecordFilter::from_params(FilterParams {
            from: Some("2026-01-01T00:00:00Z".into()),
            to: Some("2026-02-01T00:00:00.5Z".into()),
            subject: Some("alice@example.com".into()),
            decision: Some("deny".into()),
            ..FilterParams::default()
        })
        .unwrap();
        assert_eq!(filter.from_unix_nano, Some(1_767_225_600_000_000_000));
        assert_eq!(filter.to_unix_nano, Some(1_769_904_000_500_000_000));
        assert_eq!(
            filter.canonical(),
            r#"{"decision":"deny","from":"2026-01-01T00:00:00.000000000Z","subject":"alice@example.com","to":"2026-02-01T00:00:00.500000000Z"}"#
        );
        assert_eq!(RecordFilter::from_json(&filter.to_json()).unwrap(), filter);
        assert!(RecordFilter::default().is_everything());
    }

    #[test]
    fn refuses_bad_parameters_precisely() {
        let cases = [
            (
                FilterParams {
                    from: Some("yesterday".into()),
                    ..FilterParams::default()
                },
                "from: \"yesterday\" is not an RFC 3339 time like 2026-01-31T00:00:00Z",
            ),
            (
                FilterParams {
                    decision: Some("maybe".into()),
                    ..FilterParams::default()
                },
                "decision: \"maybe\" is neither allow nor deny",
            ),
            (
                FilterParams {
                    from: Some("2026-02-01T00:00:00Z".into()),
                    to: Some("2026-01-01T00:00:00Z".into()),
                    ..FilterParams::default()
                },
                "from: must be before to",
            ),
            (
                FilterParams {
                    subject: Some(String::new()),
                    ..FilterParams::default()
                },
                "subject: must not be empty",
            ),
        ];
        for (params, message) in cases {
            assert_eq!(
                RecordFilter::from_params(params).unwrap_err().to_string(),
                message
            );
        }
    }
}
