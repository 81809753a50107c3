//! Timestamps: stored and printed as RFC 3339 UTC with second precision.

use chrono::{DateTime, SecondsFormat, Utc};

/// A point in time as Steward stores it.
pub type Timestamp = DateTime<Utc>;

/// Formats a timestamp the one way Steward stores it (`2026-11-28T12:00:00Z`).
pub fn format(t: Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Parses an RFC 3339 timestamp with any offset and converts it to UTC.
pub fn parse(s: &str) -> Result<Timestamp, String> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("'{s}' is not an RFC 3339 time ({e})"))
}

/// Parses a deadline: an RFC 3339 time, or a date (`YYYY-MM-DD`) meaning the end of that
/// day, UTC.
pub fn parse_deadline(s: &str) -> Result<Timestamp, String> {
    let s = s.trim();
    if s.len() == 10 {
        return parse(&format!("{s}T23:59:59Z"));
    }
    parse(s)
}

/// A Unix time in milliseconds (as Keycloak writes it), truncated to whole seconds.
pub fn from_millis(ms: i64) -> Option<Timestamp> {
    DateTime::from_timestamp(ms.div_euclid(1000), 0)
}

/// The longest window a command looks back over, in days (ten years).
pub const WINDOW_DAYS_MAX: i64 = 3660;

/// The start of the window of `days` days before `now`; `days` (named `field` in the error)
/// must be from 1 to [`WINDOW_DAYS_MAX`].
pub fn days_before(now: Timestamp, field: &str, days: i64) -> crate::Result<Timestamp> {
    if !(1..=WINDOW_DAYS_MAX).contains(&days) {
        return Err(crate::Error::invalid(
            field,
            format!("{days} days: must be from 1 to {WINDOW_DAYS_MAX}"),
        ));
    }
    Ok(now - chrono::Duration::days(days))
}

/// The current time, truncated to whole seconds so stored and returned values agree.
pub fn now() -> Timestamp {
    let t = Utc::now();
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_normalized_to_utc() {
        let t = parse("2026-01-02T03:04:05+02:00").expect("valid time");
        assert_eq!(format(t), "2026-01-02T01:04:05Z");
    }

    #[test]
    fn a_date_deadline_is_the_end_of_that_day() {
        let t = parse_deadline("2026-12-31").expect("valid date");
        assert_eq!(format(t), "2026-12-31T23:59:59Z");
        assert!(parse_deadline("2026-13-01").is_err());
    }

    #[test]
    fn garbage_is_rejected_with_the_value_named() {
        let e = parse("yesterday").expect_err("not a time");
        assert!(
            e.contains("yesterday"),
            "error should quote the bad value: {e}"
        );
    }
}
