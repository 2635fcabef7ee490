//! Durations as people write them: `2h`, `90m`, `1h30m`, `1d`, or a bare number of seconds.

/// Parses a duration into whole seconds (at least one second).
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration; write e.g. 2h, 90m, 1h30m or 3600 (seconds)".into());
    }
    let seconds = if text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<u64>()
            .map_err(|_| format!("{text:?} is too large"))?
    } else {
        humantime::parse_duration(text)
            .map_err(|error| {
                format!("{text:?} is not a duration ({error}); write e.g. 2h, 90m or 3600")
            })?
            .as_secs()
    };
    match i64::try_from(seconds) {
        Ok(0) => Err(format!("{text:?} is shorter than one second")),
        Ok(seconds) => Ok(seconds),
        Err(_) => Err(format!("{text:?} is too large")),
    }
}

/// `7200` → `2h`, `5400` → `1h30m`: the compact form used in messages.
pub fn format_duration(seconds: i64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(
        seconds.max(0).unsigned_abs(),
    ))
    .to_string()
    .replace(' ', "")
    // humantime spells days out ("1day", "2days"); the compact form matches what
    // `parse_duration` accepts and what people type (`--for 1d`).
    .replace("days", "d")
    .replace("day", "d")
}

/// A time left, as a person wants to read it: exact under an hour, to the nearest minute
/// beyond, so a request made a second ago "expires in 1d", not "23h59m59s".
pub fn format_remaining(seconds: i64) -> String {
    let seconds = seconds.max(0);
    if seconds < 3_600 {
        return format_duration(seconds);
    }
    format_duration((seconds + 30) / 60 * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_compactly_in_the_units_people_type() {
        assert_eq!(format_duration(86_400), "1d");
        assert_eq!(format_duration(2 * 86_400 + 3_600), "2d1h");
        assert_eq!(format_duration(5_400), "1h30m");
        assert_eq!(
            parse_duration(&format_duration(2 * 86_400 + 3_600)),
            Ok(2 * 86_400 + 3_600)
        );
    }

    #[test]
    fn time_left_is_rounded_to_the_minute_beyond_an_hour() {
        assert_eq!(format_remaining(86_399), "1d");
        assert_eq!(format_remaining(86_340), "23h59m");
        assert_eq!(format_remaining(3_661), "1h1m");
        assert_eq!(format_remaining(59), "59s");
        assert_eq!(format_remaining(-5), "0s");
    }

    #[test]
    fn parses_the_usual_spellings() {
        assert_eq!(parse_duration("2h"), Ok(7200));
        assert_eq!(parse_duration("90m"), Ok(5400));
        assert_eq!(parse_duration("1h30m"), Ok(5400));
        assert_eq!(parse_duration("3600"), Ok(3600));
        assert_eq!(parse_duration("1d"), Ok(86400));
    }

    #[test]
    fn refuses_the_rest_with_a_reason() {
        assert!(parse_duration("").unwrap_err().contains("empty duration"));
        assert!(parse_duration("2 hours please")
            .unwrap_err()
            .contains("is not a duration"));
        assert_eq!(
            parse_duration("0"),
            Err("\"0\" is shorter than one second".into())
        );
        assert!(parse_duration("-5m")
            .unwrap_err()
            .contains("not a duration"));
    }

    #[test]
    fn formats_compactly() {
        assert_eq!(format_duration(7200), "2h");
        assert_eq!(format_duration(5400), "1h30m");
    }
}
