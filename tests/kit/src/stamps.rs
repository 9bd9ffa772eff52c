//! Time as v0 writes it in its logs and queue, relative to now.

use std::time::Duration;

/// `YYYY-MM-DDTHH:MM:SSZ`, `ago` before now: the stamp inside a v0 log
/// line's brackets and a queue entry's times.
pub fn stamp(ago: Duration) -> String {
    let at = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::try_from(ago).expect("a sane duration"))
        .expect("a representable time");
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Hours, for readable ages in tests.
pub fn hours(n: u64) -> Duration {
    Duration::from_secs(n * 3600)
}
