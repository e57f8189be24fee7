//! Timestamps as the Kubernetes API writes them: RFC 3339 in UTC with a `Z`, to the second
//! (`metav1.Time`), or to the nanosecond where a format asks for it (Helm's `index.yaml`).

use chrono::{DateTime, SecondsFormat, Utc};

/// `t` as RFC 3339 UTC to the second (`2024-03-01T00:00:00Z`), the format of `metav1.Time`.
/// Takes a `SystemTime` or a `chrono::DateTime<Utc>`.
pub fn rfc3339(t: impl Into<DateTime<Utc>>) -> String {
    t.into().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The current time as [`rfc3339`] writes it.
pub fn now_rfc3339() -> String {
    rfc3339(Utc::now())
}

/// `t` as RFC 3339 UTC with nine fractional digits (`2024-03-01T00:00:00.000000000Z`).
pub fn rfc3339_nanos(t: impl Into<DateTime<Utc>>) -> String {
    t.into().to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Seconds from now until the RFC 3339 time `t` (negative when it is past), or None when `t`
/// is not such a time.
pub fn seconds_until(t: &str) -> Option<i64> {
    let t = DateTime::parse_from_rfc3339(t).ok()?;
    Some((t.with_timezone(&Utc) - Utc::now()).num_seconds())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn seconds_until_a_time() {
        let in_an_hour = rfc3339(Utc::now() + chrono::Duration::hours(1));
        assert!((3590..=3600).contains(&seconds_until(&in_an_hour).unwrap_or(0)));
        assert!(seconds_until("1970-01-01T00:00:00Z").unwrap_or(0) < 0);
        assert_eq!(seconds_until("tomorrow"), None);
    }

    #[test]
    fn formats() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(1_709_251_200)), "2024-03-01T00:00:00Z");
        assert_eq!(rfc3339_nanos(UNIX_EPOCH + Duration::new(1_709_251_200, 5)), "2024-03-01T00:00:00.000000005Z");
        assert!(now_rfc3339().ends_with('Z') && now_rfc3339().len() == 20);
    }
}
