//! The moment before which log lines and queue entries are expired.

use std::fmt;
use std::time::Duration;

use jiff::Timestamp;

/// The expiry cutoff of one run, computed once so every file sees the same one.
///
/// Log timestamps are fixed-width `YYYY-MM-DDTHH:MM:SSZ`, so a valid timestamp
/// compares against the cutoff as bytes, without parsing each line into a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoff {
    at: Timestamp,
    text: [u8; 20],
    /// `text` as integers that order like its bytes (see [`StampKey`]).
    key: StampKey,
}

/// A fixed-width log timestamp as two big-endian integers, so ordering two
/// timestamps is two integer compares instead of a 20-byte `memcmp` call:
/// the log filter does it for millions of lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct StampKey(u128, u32);

impl StampKey {
    /// The key of `YYYY-MM-DDTHH:MM:SSZ` bytes; keys order as the bytes do.
    #[inline]
    pub fn of(stamp: &[u8; 20]) -> Self {
        let mut high = [0u8; 16];
        high.copy_from_slice(&stamp[..16]);
        let mut low = [0u8; 4];
        low.copy_from_slice(&stamp[16..]);
        Self(u128::from_be_bytes(high), u32::from_be_bytes(low))
    }
}

impl Cutoff {
    /// The cutoff `retention` before `now`.
    pub fn before(now: Timestamp, retention: Duration) -> Self {
        let retention =
            jiff::SignedDuration::try_from(retention).unwrap_or(jiff::SignedDuration::MAX);
        let at = now.checked_sub(retention).unwrap_or(Timestamp::MIN);
        Self::at(at)
    }

    /// A cutoff at an exact instant (whole seconds; sub-seconds are dropped).
    pub fn at(at: Timestamp) -> Self {
        let at = Timestamp::from_second(at.as_second()).unwrap_or(at);
        let formatted = at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let mut text = [b'0'; 20];
        // Years outside 0000..=9999 do not fit v0's format; clamp to the ends.
        if formatted.len() == 20 {
            text.copy_from_slice(formatted.as_bytes());
        } else if at.as_second() > 0 {
            text.copy_from_slice(b"9999-12-31T23:59:59Z");
        } else {
            text.copy_from_slice(b"0000-01-01T00:00:00Z");
        }
        Self {
            at,
            text,
            key: StampKey::of(&text),
        }
    }

    /// The cutoff instant.
    pub fn timestamp(&self) -> Timestamp {
        self.at
    }

    /// Whether a valid, fixed-width log timestamp is older than the cutoff.
    pub fn expires_log_stamp(&self, stamp: &[u8; 20]) -> bool {
        self.expires_stamp_key(StampKey::of(stamp))
    }

    /// [`Cutoff::expires_log_stamp`] for a key computed once per timestamp.
    #[inline]
    pub fn expires_stamp_key(&self, key: StampKey) -> bool {
        key < self.key
    }

    /// Whether an instant is older than the cutoff.
    pub fn expires(&self, at: Timestamp) -> bool {
        at < self.at
    }
}

impl fmt::Display for Cutoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::str::from_utf8(&self.text).unwrap_or("?"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutoff_is_retention_before_now_in_v0_format() {
        let now: Timestamp = "2026-11-28T12:00:00Z".parse().expect("valid");
        let cutoff = Cutoff::before(now, Duration::from_secs(6 * 3600));
        assert_eq!(cutoff.to_string(), "2026-11-28T06:00:00Z");
        assert!(cutoff.expires_log_stamp(b"2026-11-28T05:59:59Z"));
        assert!(!cutoff.expires_log_stamp(b"2026-11-28T06:00:00Z"));
        assert!(cutoff.expires("2026-11-28T05:00:00Z".parse().expect("valid")));
    }

    #[test]
    fn stamp_keys_order_like_the_bytes() {
        let stamps: [&[u8; 20]; 6] = [
            b"0000-01-01T00:00:00Z",
            b"2026-11-28T05:59:59Z",
            b"2026-11-28T06:00:00Z",
            b"2026-11-28T06:00:01Z",
            b"2026-12-01T00:00:00Z",
            b"9999-12-31T23:59:59Z",
        ];
        for a in stamps {
            for b in stamps {
                assert_eq!(
                    StampKey::of(a).cmp(&StampKey::of(b)),
                    a.cmp(b),
                    "{a:?} {b:?}"
                );
            }
        }
    }
}
