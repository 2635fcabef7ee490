//! Durations written for people: `0.4s`, `12.3s`, `3m 05s`.

use std::time::Duration;

/// Formats a duration with one decimal under a minute, minutes and seconds above.
pub fn human(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds < 60.0 {
        format!("{seconds:.1}s")
    } else {
        let whole = duration.as_secs();
        format!("{}m {:02}s", whole / 60, whole % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_durations_keep_a_decimal() {
        assert_eq!(human(Duration::from_millis(420)), "0.4s");
        assert_eq!(human(Duration::from_millis(12_340)), "12.3s");
    }

    #[test]
    fn long_durations_are_minutes_and_seconds() {
        assert_eq!(human(Duration::from_secs(185)), "3m 05s");
    }
}
