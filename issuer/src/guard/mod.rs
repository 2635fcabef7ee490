//! What the issuer takes from the guard — the collector's watcher of grants in use
//! (`docs/guard.md`): alerts on a grant ([`alert`]) and the fleet-wide usage of a grant
//! ([`usage`]). Revocations by the guard go through the ordinary revocation
//! (`service::lifecycle::revoke`), recorded with the guard's subject and channel `guard`.
//!
//! The guard is an identity like any other, known by group (`--guard-group`); it may only
//! revoke grants, post alerts and report usage, and nobody else may post alerts or report
//! usage. Both kinds of input are the guard's claims about what the log shows: stored as
//! said, never trusted to change anything but the grant's history and the usage shown.

pub mod alert;
pub mod usage;

use crate::error::{Error, Result};

/// Parses an RFC 3339 time (fractions of a second allowed) into nanoseconds since the
/// epoch; the error names `field`.
pub fn parse_instant(field: &str, text: &str) -> Result<i64> {
    let time = humantime::parse_rfc3339(text).map_err(|_| {
        Error::BadRequest(format!(
            "{field}: {text:?} is not an RFC 3339 UTC time like 2026-01-01T00:00:00Z"
        ))
    })?;
    time.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|since| i64::try_from(since.as_nanos()).ok())
        .ok_or_else(|| Error::BadRequest(format!("{field}: {text:?} is out of range")))
}

/// Nanoseconds since the epoch as RFC 3339 with nine fractional digits, the form the guard
/// writes (`2026-01-01T00:00:12.345000000Z`).
pub fn format_instant(nanos: i64) -> String {
    let since = std::time::Duration::from_nanos(u64::try_from(nanos).unwrap_or(0));
    humantime::format_rfc3339_nanos(std::time::UNIX_EPOCH + since).to_string()
}

/// Whether `text` is at most `max` characters, none of them a control character: what a
/// one-line label the CLI prints may hold.
pub fn printable(text: &str, max: usize) -> bool {
    text.chars().count() <= max && !text.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_round_trip_at_nanosecond_precision() {
        let nanos = parse_instant("at", "2026-01-01T00:00:12.345Z").unwrap();
        assert_eq!(nanos, 1_767_225_612_345_000_000);
        assert_eq!(format_instant(nanos), "2026-01-01T00:00:12.345000000Z");
        assert_eq!(
            parse_instant("at", "2026-01-01T00:00:12Z").unwrap(),
            1_767_225_612_000_000_000
        );
    }

    #[test]
    fn anything_but_a_utc_rfc3339_time_is_refused_naming_the_field() {
        for text in [
            "yesterday",
            "2026-01-01 00:00:12",
            "2026-01-01T00:00:12+02:00",
            "",
        ] {
            assert_eq!(
                parse_instant("as_of", text).unwrap_err().to_string(),
                format!("as_of: {text:?} is not an RFC 3339 UTC time like 2026-01-01T00:00:00Z")
            );
        }
    }
}
