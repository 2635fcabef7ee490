//! The body of `POST /v1/requests` and its validation into a [`ValidRequest`].
//!
//! Every refusal is a 400 whose message names the field and what is wrong with it, so the
//! CLI can print it as is.

use jitgate_grant::{GrantedScope, Limits};
use serde::Deserialize;

use super::duration::{format_duration, parse_duration};
use crate::error::{Error, Result};

/// Most scopes one request may name.
pub const MAX_SCOPES: usize = 16;
/// Longest reason accepted.
pub const MAX_REASON_CHARS: usize = 2000;
/// Longest ticket or project name accepted.
pub const MAX_LABEL_CHARS: usize = 128;
/// Shortest window accepted: a grant shorter than a minute is a typo.
pub const MIN_DURATION_SECONDS: i64 = 60;

/// A duration in the request body: `"2h"` or a number of seconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum DurationInput {
    /// Seconds.
    Seconds(i64),
    /// `2h`, `90m`, `1h30m`.
    Text(String),
}

/// The JSON body of `POST /v1/requests`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    /// Scopes wanted, e.g. `["inference:meta-llama/Llama-3.1-8B-Instruct"]`.
    pub scopes: Vec<String>,
    /// Window length.
    pub duration: DurationInput,
    /// Why (policy may require it).
    #[serde(default)]
    pub reason: String,
    /// `normal` (default), `high` or `emergency` (break-glass).
    #[serde(default)]
    pub urgency: Option<String>,
    /// A ticket reference.
    #[serde(default)]
    pub ticket: Option<String>,
    /// A project name.
    #[serde(default)]
    pub project: Option<String>,
    /// Usage limits to carry in tokens (the policy may cap, default or require them).
    #[serde(default)]
    pub limits: Option<Limits>,
}

/// A request body that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRequest {
    /// Parsed scopes, duplicates removed, order kept.
    pub scopes: Vec<GrantedScope>,
    /// Window length, seconds.
    pub duration_seconds: i64,
    /// Trimmed reason.
    pub reason: String,
    /// `normal`, `high` or `emergency`.
    pub urgency: String,
    /// Whether urgency is `emergency`.
    pub break_glass: bool,
    /// Ticket, trimmed, if given.
    pub ticket: Option<String>,
    /// Project, trimmed, if given.
    pub project: Option<String>,
    /// Limits, if given.
    pub limits: Option<Limits>,
}

/// Parses and validates a body; `max_duration` is the issuer's global ceiling.
pub fn validate(body: &[u8], max_duration: i64) -> Result<ValidRequest> {
    let request: NewRequest = serde_json::from_slice(body)
        .map_err(|error| Error::BadRequest(format!("body: {error}")))?;
    if request.scopes.is_empty() {
        return Err(Error::BadRequest("scopes: name at least one scope".into()));
    }
    if request.scopes.len() > MAX_SCOPES {
        return Err(Error::BadRequest(format!(
            "scopes: at most {MAX_SCOPES} scopes per request, found {}",
            request.scopes.len()
        )));
    }
    let mut scopes: Vec<GrantedScope> = Vec::new();
    for (index, text) in request.scopes.iter().enumerate() {
        let scope = GrantedScope::parse(text)
            .map_err(|error| Error::BadRequest(format!("scopes[{index}]: {error}")))?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    let duration_seconds = match &request.duration {
        DurationInput::Seconds(seconds) => *seconds,
        DurationInput::Text(text) => parse_duration(text)
            .map_err(|problem| Error::BadRequest(format!("duration: {problem}")))?,
    };
    if duration_seconds < MIN_DURATION_SECONDS {
        return Err(Error::BadRequest(format!(
            "duration: at least {MIN_DURATION_SECONDS} seconds, found {duration_seconds}"
        )));
    }
    if duration_seconds > max_duration {
        return Err(Error::BadRequest(format!(
            "duration: {} is longer than this issuer allows (at most {})",
            format_duration(duration_seconds),
            format_duration(max_duration)
        )));
    }
    let reason = request.reason.trim().to_owned();
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(Error::BadRequest(format!(
            "reason: at most {MAX_REASON_CHARS} characters"
        )));
    }
    let urgency = request.urgency.unwrap_or_else(|| "normal".to_owned());
    if !["normal", "high", "emergency"].contains(&urgency.as_str()) {
        return Err(Error::BadRequest(format!(
            "urgency: {urgency:?} is not one of normal, high, emergency"
        )));
    }
    let ticket = label("ticket", request.ticket)?;
    let project = label("project", request.project)?;
    if let Some(limits) = &request.limits {
        for (field, value) in [("requests", limits.requests), ("tokens", limits.tokens)] {
            match value {
                Some(0) => {
                    return Err(Error::BadRequest(format!(
                        "limits.{field}: a limit of 0 would make the grant useless; omit it instead"
                    )))
                }
                Some(value) if i64::try_from(value).is_err() => {
                    return Err(Error::BadRequest(format!(
                        "limits.{field}: at most {}",
                        i64::MAX
                    )))
                }
                _ => {}
            }
        }
    }
    Ok(ValidRequest {
        scopes,
        duration_seconds,
        reason,
        break_glass: urgency == "emergency",
        urgency,
        ticket,
        project,
        limits: request.limits,
    })
}

fn label(field: &str, value: Option<String>) -> Result<Option<String>> {
    let Some(value) = value.map(|value| value.trim().to_owned()) else {
        return Ok(None);
    };
    if value.is_empty() {
        return Ok(None);
    }
    if value.chars().count() > MAX_LABEL_CHARS || value.chars().any(char::is_control) {
        return Err(Error::BadRequest(format!(
            "{field}: at most {MAX_LABEL_CHARS} printable characters"
        )));
    }
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str) -> std::result::Result<ValidRequest, String> {
        validate(body.as_bytes(), 86400).map_err(|error| error.to_string())
    }

    #[test]
    fn accepts_text_and_numeric_durations() {
        let valid =
            check(r#"{"scopes":["inference:a","inference:a"],"duration":"2h","reason":" r "}"#)
                .unwrap();
        assert_eq!(valid.duration_seconds, 7200);
        assert_eq!(valid.scopes.len(), 1);
        assert_eq!(valid.reason, "r");
        assert_eq!(valid.urgency, "normal");
        assert!(!valid.break_glass);
        let valid =
            check(r#"{"scopes":["inference:a"],"duration":600,"urgency":"emergency"}"#).unwrap();
        assert_eq!(valid.duration_seconds, 600);
        assert!(valid.break_glass);
    }

    #[test]
    fn refusals_name_the_field() {
        assert_eq!(
            check(r#"{"scopes":[],"duration":"2h"}"#).unwrap_err(),
            "scopes: name at least one scope"
        );
        assert_eq!(
            check(r#"{"scopes":["inference:ok","inference:bad model"],"duration":"2h"}"#).unwrap_err(),
            "scopes[1]: scope \"inference:bad model\" is invalid at position 13: character ' ' (U+0020) is not allowed; use ASCII letters, digits and . _ - / : @ +"
        );
        assert_eq!(
            check(r#"{"scopes":["inference:a"],"duration":"2d"}"#).unwrap_err(),
            "duration: 2d is longer than this issuer allows (at most 1d)"
        );
        assert_eq!(
            check(r#"{"scopes":["inference:a"],"duration":30}"#).unwrap_err(),
            "duration: at least 60 seconds, found 30"
        );
        assert_eq!(
            check(r#"{"scopes":["inference:a"],"duration":"2h","urgency":"now"}"#).unwrap_err(),
            "urgency: \"now\" is not one of normal, high, emergency"
        );
        assert!(
            check(r#"{"scopes":["inference:a"],"duration":"2h","colour":"red"}"#)
                .unwrap_err()
                .starts_with("body: unknown field `colour`")
        );
        assert!(check(r#"{"scopes":["inference:a"]}"#)
            .unwrap_err()
            .starts_with("body: missing field `duration`"));
        assert_eq!(
            check(r#"{"scopes":["inference:a"],"duration":"2h","limits":{"tokens":0}}"#)
                .unwrap_err(),
            "limits.tokens: a limit of 0 would make the grant useless; omit it instead"
        );
        assert_eq!(
            check(r#"{"scopes":["inference:a"],"duration":"2h","limits":{"requests":9223372036854775808}}"#)
                .unwrap_err(),
            "limits.requests: at most 9223372036854775807"
        );
        assert!(
            check(r#"{"scopes":["inference:a"],"duration":"2h","limits":{"request":5}}"#)
                .unwrap_err()
                .starts_with("body: unknown field `request`, expected `requests` or `tokens`")
        );
    }
}
