//! A grant's fleet-wide usage as the guard reports it (`PUT /v1/grants/{id}/usage`): totals
//! the guard derived from the stored log, shown beside the grant's limits by the API,
//! `jitgate status` and `jitgate grants`.
//!
//! Only the newest snapshot is kept: one with an older `as_of` than the stored one (a late
//! retry, or a second collector that is behind) changes nothing. The issuer never enforces
//! from these figures — gateways count for themselves, and the guard revokes.

use serde::{Deserialize, Serialize};

use super::parse_instant;
use crate::error::{Error, Result};

/// The JSON body of `PUT /v1/grants/{id}/usage`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageReport {
    /// Requests admitted under the grant, fleet-wide.
    pub requests: u64,
    /// Model tokens (input plus output) used under the grant.
    pub tokens: u64,
    /// Requests refused under the grant.
    pub denied: u64,
    /// Up to when the log was counted, RFC 3339.
    pub as_of: String,
}

/// A usage report that passed validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidUsage {
    /// See [`UsageReport`].
    pub requests: i64,
    /// See [`UsageReport`].
    pub tokens: i64,
    /// See [`UsageReport`].
    pub denied: i64,
    /// `as_of` in nanoseconds since the epoch.
    pub as_of_nanos: i64,
}

/// A grant's usage as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Requests admitted, fleet-wide.
    pub requests: u64,
    /// Model tokens used.
    pub tokens: u64,
    /// Requests refused.
    pub denied: u64,
    /// Up to when the log was counted, RFC 3339 with nanoseconds.
    pub as_of: String,
}

/// Parses and validates a body; every refusal names the field.
pub fn validate(body: &[u8]) -> Result<ValidUsage> {
    let report: UsageReport = serde_json::from_slice(body)
        .map_err(|error| Error::BadRequest(format!("body: {error}")))?;
    let count = |field: &str, value: u64| {
        i64::try_from(value)
            .map_err(|_| Error::BadRequest(format!("{field}: at most {}", i64::MAX)))
    };
    Ok(ValidUsage {
        requests: count("requests", report.requests)?,
        tokens: count("tokens", report.tokens)?,
        denied: count("denied", report.denied)?,
        as_of_nanos: parse_instant("as_of", &report.as_of)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str) -> std::result::Result<ValidUsage, String> {
        validate(body.as_bytes()).map_err(|error| error.to_string())
    }

    #[test]
    fn a_report_as_the_guard_sends_it_is_valid() {
        let valid =
            check(r#"{"requests":12,"tokens":3400,"denied":1,"as_of":"2026-01-01T00:00:01.5Z"}"#)
                .unwrap();
        assert_eq!(
            valid,
            ValidUsage {
                requests: 12,
                tokens: 3400,
                denied: 1,
                as_of_nanos: 1_767_225_601_500_000_000
            }
        );
    }

    #[test]
    fn refusals_name_the_field() {
        assert_eq!(
            check(r#"{"requests":18446744073709551615,"tokens":0,"denied":0,"as_of":"2026-01-01T00:00:00Z"}"#)
                .unwrap_err(),
            "requests: at most 9223372036854775807"
        );
        assert!(
            check(r#"{"requests":1,"tokens":0,"as_of":"2026-01-01T00:00:00Z"}"#)
                .unwrap_err()
                .starts_with("body: missing field `denied`")
        );
        assert!(
            check(r#"{"requests":-1,"tokens":0,"denied":0,"as_of":"2026-01-01T00:00:00Z"}"#)
                .unwrap_err()
                .starts_with("body: invalid value: integer `-1`")
        );
        assert_eq!(
            check(r#"{"requests":1,"tokens":0,"denied":0,"as_of":"soon"}"#).unwrap_err(),
            "as_of: \"soon\" is not an RFC 3339 UTC time like 2026-01-01T00:00:00Z"
        );
    }
}
