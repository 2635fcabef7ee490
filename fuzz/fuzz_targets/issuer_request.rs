//! The issuer's validation of a `POST /v1/requests` body (`requests::new::validate`), the
//! pure function the handler calls before anything is stored.
//!
//! Input: a first byte choosing the issuer's maximum duration, then the body bytes.
//! Asserts, beyond "no panic":
//! - a refusal is a 400 whose message starts with the field it is about;
//! - an accepted request keeps every promise of `ValidRequest`: 1 to 16 distinct, valid
//!   scopes from the body; a duration within [60 s, the maximum]; a trimmed reason of at
//!   most 2000 characters; a known urgency, with `break_glass` exactly for `emergency`;
//!   trimmed, printable, bounded ticket and project; no zero limits;
//! - durations round-trip: `format_duration` of an accepted duration parses back to it.
#![no_main]

use jitgate_grant::GrantedScope;
use jitgate_issuer::error::Error;
use jitgate_issuer::requests::duration::{format_duration, parse_duration};
use jitgate_issuer::requests::new::{
    validate, MAX_LABEL_CHARS, MAX_REASON_CHARS, MAX_SCOPES, MIN_DURATION_SECONDS,
};
use libfuzzer_sys::fuzz_target;

/// The fields a message may start with; `body` is the JSON document itself.
const FIELDS: &[&str] = &[
    "body", "scopes", "duration", "reason", "urgency", "ticket", "project", "limits",
];

const MAX_DURATIONS: &[i64] = &[3_600, 86_400, 7 * 86_400, i64::MAX];

fuzz_target!(|data: &[u8]| {
    let Some((&choice, body)) = data.split_first() else {
        return;
    };
    let max_duration = MAX_DURATIONS[usize::from(choice) % MAX_DURATIONS.len()];
    match validate(body, max_duration) {
        Err(Error::BadRequest(message)) => {
            // `limits.requests: …` names a member of `limits`: the field is the top level.
            let field = message.split([':', '[', '.']).next().unwrap_or_default();
            assert!(FIELDS.contains(&field), "refusal names no field: {message}");
        }
        Err(other) => panic!("validation failed with a non-400 error: {other:?}"),
        Ok(valid) => {
            assert!((1..=MAX_SCOPES).contains(&valid.scopes.len()));
            for (index, scope) in valid.scopes.iter().enumerate() {
                assert_eq!(GrantedScope::parse(scope.as_str()).as_ref(), Ok(scope));
                assert!(
                    !valid.scopes[..index].contains(scope),
                    "duplicate scope kept"
                );
            }
            assert!((MIN_DURATION_SECONDS..=max_duration).contains(&valid.duration_seconds));
            assert_eq!(valid.reason.trim(), valid.reason);
            assert!(valid.reason.chars().count() <= MAX_REASON_CHARS);
            assert!(["normal", "high", "emergency"].contains(&valid.urgency.as_str()));
            assert_eq!(valid.break_glass, valid.urgency == "emergency");
            for label in [&valid.ticket, &valid.project].into_iter().flatten() {
                assert!(!label.is_empty() && label.trim() == label);
                assert!(label.chars().count() <= MAX_LABEL_CHARS);
                assert!(!label.chars().any(char::is_control));
            }
            if let Some(limits) = valid.limits {
                assert_ne!(limits.requests, Some(0));
                assert_ne!(limits.tokens, Some(0));
            }
            let text = format_duration(valid.duration_seconds);
            assert_eq!(
                parse_duration(&text),
                Ok(valid.duration_seconds),
                "{text:?} does not parse back"
            );
        }
    }
});
