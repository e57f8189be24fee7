//! Cron schedules read in a time zone: parsing with messages a person can act on, the next run
//! after an instant, and the run that is due now (the latest scheduled time not yet carried out
//! and not older than the starting deadline), which is what keeps a run from being missed
//! across a restart or done twice.

use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

/// One cron of a CronHPA, ready to compute times.
#[derive(Clone, Debug)]
pub struct Schedule {
    cron: cron::Schedule,
    tz: Tz,
}

/// Why a CronHPA's time zone or schedule cannot be used, in words for its status.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("unknown time zone {0:?}: use an IANA name such as \"Asia/Shanghai\" or \"Europe/Berlin\"")]
    UnknownTimeZone(String),
    #[error(
        "invalid schedule {0:?}: expected 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, got {1}"
    )]
    FieldCount(String, usize),
    #[error("invalid schedule {0:?}: {1}")]
    Invalid(String, String),
}

/// Parses a time zone name (IANA); empty or unset means UTC.
pub fn parse_time_zone(name: Option<&str>) -> Result<Tz, ScheduleError> {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        None => Ok(Tz::UTC),
        Some(n) => Tz::from_str(n).map_err(|_| ScheduleError::UnknownTimeZone(n.to_string())),
    }
}

impl Schedule {
    /// Parses a five-field (minute first) or six-field (second first) expression.
    pub fn parse(expr: &str, tz: Tz) -> Result<Schedule, ScheduleError> {
        let fields = expr.split_whitespace().count();
        let full = match fields {
            5 => format!("0 {}", expr.trim()),
            6 => expr.trim().to_string(),
            n => return Err(ScheduleError::FieldCount(expr.to_string(), n)),
        };
        let cron =
            cron::Schedule::from_str(&full).map_err(|e| ScheduleError::Invalid(expr.to_string(), e.to_string()))?;
        Ok(Schedule { cron, tz })
    }

    /// The first scheduled time strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.after(&t.with_timezone(&self.tz)).next().map(|d| d.with_timezone(&Utc))
    }

    /// The run due at `now`: the latest scheduled time in `(done, now]` that is at most `grace`
    /// old. `done` is the last run carried out (or the CronHPA's creation).
    pub fn due(&self, done: DateTime<Utc>, now: DateTime<Utc>, grace: Duration) -> Option<DateTime<Utc>> {
        // Searching from the grace window's start bounds the work however long ago `done` was.
        let start = done.max(now - grace - Duration::nanoseconds(1));
        self.cron
            .after(&start.with_timezone(&self.tz))
            .map(|d| d.with_timezone(&Utc))
            .take_while(|d| *d <= now)
            .last()
            .filter(|d| *d > done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc)
    }

    #[test]
    fn five_and_six_fields_parse_and_bad_ones_explain() {
        assert!(Schedule::parse("30 8 * * 1-5", Tz::UTC).is_ok());
        assert!(Schedule::parse("*/10 * * * * *", Tz::UTC).is_ok());
        let e = Schedule::parse("61 * * * *", Tz::UTC).expect_err("minute 61");
        assert!(e.to_string().contains("invalid schedule \"61 * * * *\""), "{e}");
        let e = Schedule::parse("* * *", Tz::UTC).expect_err("three fields");
        assert!(e.to_string().contains("got 3"), "{e}");
        let e = parse_time_zone(Some("Mars/Olympus")).expect_err("unknown zone");
        assert!(e.to_string().contains("unknown time zone \"Mars/Olympus\""), "{e}");
        assert_eq!(parse_time_zone(None), Ok(Tz::UTC));
        assert_eq!(parse_time_zone(Some("Asia/Shanghai")), Ok(Tz::Asia__Shanghai));
    }

    #[test]
    fn schedules_are_read_in_their_time_zone() {
        let s = Schedule::parse("0 8 * * *", parse_time_zone(Some("Asia/Shanghai")).expect("tz")).expect("schedule");
        // 08:00 in Shanghai (UTC+8) is midnight UTC.
        assert_eq!(s.next_after(utc("2024-06-01T12:00:00Z")), Some(utc("2024-06-02T00:00:00Z")));
        let ny = Schedule::parse("0 9 * * *", Tz::America__New_York).expect("schedule");
        // Summer (EDT, UTC-4) and winter (EST, UTC-5).
        assert_eq!(ny.next_after(utc("2024-07-01T00:00:00Z")), Some(utc("2024-07-01T13:00:00Z")));
        assert_eq!(ny.next_after(utc("2024-01-10T00:00:00Z")), Some(utc("2024-01-10T14:00:00Z")));
    }

    #[test]
    fn daylight_saving_changes_keep_wall_clock_times() {
        let ny = Schedule::parse("0 9 * * *", Tz::America__New_York).expect("schedule");
        // Spring forward on 2024-03-10: 09:00 is EDT that day, EST the day before.
        assert_eq!(ny.next_after(utc("2024-03-09T00:00:00Z")), Some(utc("2024-03-09T14:00:00Z")));
        assert_eq!(ny.next_after(utc("2024-03-09T15:00:00Z")), Some(utc("2024-03-10T13:00:00Z")));
        // Fall back on 2024-11-03.
        assert_eq!(ny.next_after(utc("2024-11-02T14:00:00Z")), Some(utc("2024-11-03T14:00:00Z")));
        // A time that does not exist on the spring-forward day (02:30) never runs at a wrong
        // hour: whatever runs is at 02:30 local on some day, and the schedule keeps going.
        let gap = Schedule::parse("30 2 * * *", Tz::America__New_York).expect("schedule");
        let mut t = utc("2024-03-09T00:00:00Z");
        for _ in 0..3 {
            let next = gap.next_after(t).expect("a next run");
            let local = next.with_timezone(&Tz::America__New_York);
            assert_eq!(local.format("%H:%M").to_string(), "02:30", "{next}");
            assert!(next > t);
            t = next;
        }
        // An hour that happens twice (01:30 on the fall-back day) runs once that day.
        let twice = Schedule::parse("30 1 * * *", Tz::America__New_York).expect("schedule");
        let first = twice.next_after(utc("2024-11-03T00:00:00Z")).expect("run");
        let second = twice.next_after(first).expect("run");
        assert!(second - first >= Duration::hours(23), "{first} then {second}");
    }

    #[test]
    fn a_due_run_is_found_once_and_only_within_the_grace_window() {
        let s = Schedule::parse("0 */10 * * * *", Tz::UTC).expect("schedule");
        let grace = Duration::seconds(60);
        let created = utc("2024-06-01T09:55:00Z");
        // Nothing before the first run.
        assert_eq!(s.due(created, utc("2024-06-01T09:59:59Z"), grace), None);
        // Exactly at the run, and 30s late (a restart) still runs it.
        assert_eq!(s.due(created, utc("2024-06-01T10:00:00Z"), grace), Some(utc("2024-06-01T10:00:00Z")));
        assert_eq!(s.due(created, utc("2024-06-01T10:00:30Z"), grace), Some(utc("2024-06-01T10:00:00Z")));
        // Once carried out, it is not due again.
        assert_eq!(s.due(utc("2024-06-01T10:00:00Z"), utc("2024-06-01T10:00:30Z"), grace), None);
        // Down for longer than the grace window: the run is skipped, the next one happens.
        assert_eq!(s.due(created, utc("2024-06-01T10:02:00Z"), grace), None);
        assert_eq!(s.due(created, utc("2024-06-01T10:10:05Z"), grace), Some(utc("2024-06-01T10:10:00Z")));
        // Several missed runs inside the window: only the latest is due.
        let every_second = Schedule::parse("* * * * * *", Tz::UTC).expect("schedule");
        assert_eq!(every_second.due(created, utc("2024-06-01T10:00:30Z"), grace), Some(utc("2024-06-01T10:00:30Z")));
        // Created in the zone's local time: Shanghai 18:00 is 10:00 UTC.
        let sh = Schedule::parse("0 0 18 * * *", Tz::Asia__Shanghai).expect("schedule");
        let at = Tz::Asia__Shanghai.with_ymd_and_hms(2024, 6, 1, 18, 0, 5).single().expect("time").with_timezone(&Utc);
        assert_eq!(sh.due(created, at, grace), Some(utc("2024-06-01T10:00:00Z")));
    }
}
