//! The guard's alerts: the body of `POST /v1/alerts`, its validation into a [`ValidAlert`],
//! and an [`Alert`] as stored and listed.
//!
//! An alert is one firing of one of the operator's rules (`docs/guard.md`), named by the
//! guard's `firing_id`. The guard retries until it hears back, so the same firing may arrive
//! more than once: it is stored once, and a replay is answered with what was stored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{format_instant, parse_instant, printable};
use crate::error::{Error, Result};

/// Longest firing id, rule name, grant id or subject accepted.
pub const MAX_NAME_CHARS: usize = 256;
/// Longest detail accepted.
pub const MAX_DETAIL_CHARS: usize = 4000;
/// Most counts one alert may carry.
pub const MAX_COUNTS: usize = 32;
/// Longest name of a count.
pub const MAX_COUNT_NAME_CHARS: usize = 64;

/// The JSON body of `POST /v1/alerts`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAlert {
    /// The grant the rule fired on.
    pub grant_id: String,
    /// The grant's subject, as the log shows it.
    #[serde(default)]
    pub subject: Option<String>,
    /// The operator's name of the rule.
    pub rule: String,
    /// `alert`, `revoke` or `alert+revoke`: what the rule does (the revocation, if any, is
    /// the guard's own call).
    pub action: String,
    /// The rule's window, for windowed rules.
    #[serde(default)]
    pub window_seconds: Option<u64>,
    /// What was counted, and the limit.
    pub counts: BTreeMap<String, u64>,
    /// In words.
    pub detail: String,
    /// When the rule fired, RFC 3339.
    pub fired_at: String,
    /// The firing's id: the same in the guard's log record, its alert and any replay.
    pub firing_id: String,
}

/// The actions a rule may take.
pub const ACTIONS: [&str; 3] = ["alert", "revoke", "alert+revoke"];

/// An alert body that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidAlert {
    /// See [`NewAlert`].
    pub grant_id: String,
    /// See [`NewAlert`].
    pub subject: Option<String>,
    /// See [`NewAlert`].
    pub rule: String,
    /// See [`NewAlert`].
    pub action: String,
    /// See [`NewAlert`].
    pub window_seconds: Option<u64>,
    /// See [`NewAlert`].
    pub counts: BTreeMap<String, u64>,
    /// See [`NewAlert`].
    pub detail: String,
    /// `fired_at` in nanoseconds since the epoch.
    pub fired_at_nanos: i64,
    /// See [`NewAlert`].
    pub firing_id: String,
}

impl ValidAlert {
    /// The line the grant's history shows (and `jitgate status` prints).
    pub fn history_reason(&self) -> String {
        format!("guard: rule {} fired: {}", self.rule, self.detail)
    }
}

/// An alert as stored and listed by `GET /v1/alerts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// The firing's id.
    pub firing_id: String,
    /// The grant.
    pub grant_id: String,
    /// The grant's subject, as the guard saw it.
    pub subject: Option<String>,
    /// The rule's name.
    pub rule: String,
    /// `alert`, `revoke` or `alert+revoke`.
    pub action: String,
    /// The rule's window, for windowed rules.
    pub window_seconds: Option<u64>,
    /// What was counted, and the limit.
    pub counts: BTreeMap<String, u64>,
    /// In words.
    pub detail: String,
    /// When the rule fired, RFC 3339 with nanoseconds.
    pub fired_at: String,
    /// When the issuer stored it, RFC 3339.
    pub received_at: String,
    /// Who posted it (the guard's subject id).
    pub reported_by: String,
}

impl Alert {
    /// Whether `posted` is the firing this alert stored (a replay), field for field.
    pub fn is_same_firing(&self, posted: &ValidAlert) -> bool {
        self.grant_id == posted.grant_id
            && self.subject == posted.subject
            && self.rule == posted.rule
            && self.action == posted.action
            && self.window_seconds == posted.window_seconds
            && self.counts == posted.counts
            && self.detail == posted.detail
            && self.fired_at == format_instant(posted.fired_at_nanos)
    }
}

/// Parses and validates a body; every refusal names the field.
pub fn validate(body: &[u8]) -> Result<ValidAlert> {
    let alert: NewAlert = serde_json::from_slice(body)
        .map_err(|error| Error::BadRequest(format!("body: {error}")))?;
    let name = |field: &str, value: String| -> Result<String> {
        if value.trim().is_empty() {
            return Err(Error::BadRequest(format!("{field}: must not be empty")));
        }
        if !printable(&value, MAX_NAME_CHARS) {
            return Err(Error::BadRequest(format!(
                "{field}: at most {MAX_NAME_CHARS} printable characters"
            )));
        }
        Ok(value)
    };
    let firing_id = name("firing_id", alert.firing_id)?;
    if firing_id.chars().any(char::is_whitespace) {
        return Err(Error::BadRequest(
            "firing_id: must not contain white space".into(),
        ));
    }
    let grant_id = name("grant_id", alert.grant_id)?;
    let rule = name("rule", alert.rule)?;
    let subject = alert
        .subject
        .map(|subject| name("subject", subject))
        .transpose()?;
    if !ACTIONS.contains(&alert.action.as_str()) {
        return Err(Error::BadRequest(format!(
            "action: {:?} is not one of {}",
            alert.action,
            ACTIONS.join(", ")
        )));
    }
    if !printable(&alert.detail, MAX_DETAIL_CHARS) {
        return Err(Error::BadRequest(format!(
            "detail: at most {MAX_DETAIL_CHARS} printable characters"
        )));
    }
    if alert.counts.len() > MAX_COUNTS {
        return Err(Error::BadRequest(format!(
            "counts: at most {MAX_COUNTS} entries"
        )));
    }
    for (key, value) in &alert.counts {
        let key_ok = !key.is_empty()
            && key.len() <= MAX_COUNT_NAME_CHARS
            && key.bytes().all(|b| b.is_ascii_graphic());
        if !key_ok {
            return Err(Error::BadRequest(format!(
                "counts: {key:?} is not a count name (1 to {MAX_COUNT_NAME_CHARS} visible ASCII characters)"
            )));
        }
        if i64::try_from(*value).is_err() {
            return Err(Error::BadRequest(format!(
                "counts.{key}: at most {}",
                i64::MAX
            )));
        }
    }
    if alert
        .window_seconds
        .is_some_and(|seconds| i64::try_from(seconds).is_err())
    {
        return Err(Error::BadRequest(format!(
            "window_seconds: at most {}",
            i64::MAX
        )));
    }
    let fired_at_nanos = parse_instant("fired_at", &alert.fired_at)?;
    Ok(ValidAlert {
        grant_id,
        subject,
        rule,
        action: alert.action,
        window_seconds: alert.window_seconds,
        counts: alert.counts,
        detail: alert.detail,
        fired_at_nanos,
        firing_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: serde_json::Value) -> std::result::Result<ValidAlert, String> {
        validate(body.to_string().as_bytes()).map_err(|error| error.to_string())
    }

    fn body() -> serde_json::Value {
        serde_json::json!({
            "grant_id": "req_0123", "subject": "alice", "rule": "probing",
            "action": "alert+revoke", "window_seconds": 60,
            "counts": {"limit": 5, "refusals": 5}, "detail": "5 refusals",
            "fired_at": "2026-01-01T00:00:12.345000000Z", "firing_id": "gf-1"
        })
    }

    #[test]
    fn a_firing_as_the_guard_sends_it_is_valid() {
        let valid = check(body()).unwrap();
        assert_eq!(valid.fired_at_nanos, 1_767_225_612_345_000_000);
        assert_eq!(
            valid.history_reason(),
            "guard: rule probing fired: 5 refusals"
        );
        let mut no_window = body();
        no_window["window_seconds"] = serde_json::Value::Null;
        no_window["subject"] = serde_json::Value::Null;
        let valid = check(no_window).unwrap();
        assert_eq!((valid.window_seconds, valid.subject), (None, None));
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (
                "firing_id",
                serde_json::json!(""),
                "firing_id: must not be empty",
            ),
            (
                "firing_id",
                serde_json::json!("gf 1"),
                "firing_id: must not contain white space",
            ),
            ("rule", serde_json::json!("  "), "rule: must not be empty"),
            (
                "action",
                serde_json::json!("page"),
                "action: \"page\" is not one of alert, revoke, alert+revoke",
            ),
            (
                "detail",
                serde_json::json!("a\nb"),
                "detail: at most 4000 printable characters",
            ),
            (
                "counts",
                serde_json::json!({"": 1}),
                "counts: \"\" is not a count name (1 to 64 visible ASCII characters)",
            ),
            (
                "counts",
                serde_json::json!({"n": u64::MAX}),
                "counts.n: at most 9223372036854775807",
            ),
            (
                "fired_at",
                serde_json::json!("now"),
                "fired_at: \"now\" is not an RFC 3339 UTC time like 2026-01-01T00:00:00Z",
            ),
        ];
        for (field, value, message) in cases {
            let mut bad = body();
            bad[field] = value;
            assert_eq!(check(bad).unwrap_err(), message, "{field}");
        }
        let mut unknown = body();
        unknown["severity"] = serde_json::json!("high");
        assert!(check(unknown)
            .unwrap_err()
            .starts_with("body: unknown field `severity`"));
    }
}
