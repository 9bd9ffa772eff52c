//! Times as v0-prune words them, in the dashboard and in the commands
//! (`status`, `events`, `ls`), always relative to a given `now`, so that a
//! frame drawn for a fixed time is always the same frame. Counts and
//! plurals: `v0_prune_shared::words`.

use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use v0_prune_shared::units::human_duration;

/// A wall-clock time: `14:03:07` today, `11-27 14:03` on another day.
pub fn clock(at_ms: i64, now_ms: i64, tz: &TimeZone) -> String {
    clock_with(at_ms, now_ms, tz, "%m-%d %H:%M")
}

/// [`clock`] with the year on another day, `2026-11-27 14:03`, where there
/// is room for it (the commands' lines).
pub fn clock_with_year(at_ms: i64, now_ms: i64, tz: &TimeZone) -> String {
    clock_with(at_ms, now_ms, tz, "%Y-%m-%d %H:%M")
}

/// [`clock`] with the format for another day.
fn clock_with(at_ms: i64, now_ms: i64, tz: &TimeZone, other_day: &str) -> String {
    let (Ok(at), Ok(now)) = (
        Timestamp::from_millisecond(at_ms),
        Timestamp::from_millisecond(now_ms),
    ) else {
        return "?".to_owned();
    };
    let (at, now) = (
        at.to_zoned_datetime(tz.clone()),
        now.to_zoned_datetime(tz.clone()),
    );
    if at.date() == now.date() {
        at.strftime("%H:%M:%S").to_string()
    } else {
        at.strftime(other_day).to_string()
    }
}

/// `2m 10s ago`, or `just now`.
pub fn ago(at_ms: i64, now_ms: i64) -> String {
    let elapsed = now_ms.saturating_sub(at_ms);
    if elapsed < 1_000 {
        return "just now".to_owned();
    }
    format!("{} ago", span(elapsed))
}

/// `in 57m 53s`, or `due now` once the time has come.
pub fn until(at_ms: i64, now_ms: i64) -> String {
    let remaining = at_ms.saturating_sub(now_ms);
    if remaining < 1_000 {
        return "due now".to_owned();
    }
    format!("in {}", span(remaining))
}

/// `in 3s`, or `now`: when the next connection attempt is.
pub fn retry(at_ms: i64, now_ms: i64) -> String {
    if at_ms.saturating_sub(now_ms) < 1_000 {
        "now".to_owned()
    } else {
        until(at_ms, now_ms)
    }
}

/// A span of milliseconds in human units, whole seconds and up.
pub fn span(ms: i64) -> String {
    let secs = u64::try_from(ms / 1_000).unwrap_or(0);
    human_duration(Duration::from_secs(secs))
}

/// A run's duration: `850ms`, `1.2s`, `3m 5s`.
pub fn took(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1_000.0)
    } else {
        human_duration(Duration::from_millis(ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOON: i64 = 1_795_867_200_000; // 2026-11-28T12:00:00Z

    #[test]
    fn clock_shows_the_date_only_for_other_days() {
        assert_eq!(clock(NOON - 5_000, NOON, &TimeZone::UTC), "11:59:55");
        assert_eq!(
            clock(NOON - 86_400_000, NOON, &TimeZone::UTC),
            "11-27 12:00"
        );
    }

    #[test]
    fn relative_times_read_naturally() {
        assert_eq!(ago(NOON - 130_000, NOON), "2m 10s ago");
        assert_eq!(ago(NOON - 200, NOON), "just now");
        assert_eq!(until(NOON + 3_473_000, NOON), "in 57m 53s");
        assert_eq!(until(NOON - 5_000, NOON), "due now");
    }

    #[test]
    fn durations() {
        assert_eq!(took(850), "850ms");
        assert_eq!(took(1_240), "1.2s");
        assert_eq!(took(185_000), "3m 5s");
    }

    #[test]
    fn clock_with_year_shows_the_year_on_other_days() {
        assert_eq!(
            clock_with_year(NOON - 5_000, NOON, &TimeZone::UTC),
            "11:59:55"
        );
        assert_eq!(
            clock_with_year(NOON - 86_400_000, NOON, &TimeZone::UTC),
            "2026-11-27 12:00"
        );
    }
}
