//! The line grammar of a v0 log: a line whose first bytes are
//! `[YYYY-MM-DDTHH:MM:SSZ]` (a real UTC date and time) starts an entry; any
//! other line continues the entry above. A leaf: the streaming filter, the
//! checkpoints, the facts and the size budget all read lines through it.

use crate::prune::Cutoff;

/// Length of `[YYYY-MM-DDTHH:MM:SSZ]`.
pub const STAMP_PREFIX_LEN: usize = 22;

/// What the first bytes of a line say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// Starts with a valid timestamp, older than the cutoff.
    Expired([u8; 20]),
    /// Starts with a valid timestamp at or after the cutoff.
    Current([u8; 20]),
    /// No valid timestamp: a continuation of the entry above.
    Continuation,
}

/// Classifies a line from its first bytes (fewer than 22 only at end of file).
pub fn classify(prefix: &[u8], cutoff: &Cutoff) -> LineKind {
    let Some(stamp) = parse_stamp(prefix) else {
        return LineKind::Continuation;
    };
    if cutoff.expires_log_stamp(&stamp) {
        LineKind::Expired(stamp)
    } else {
        LineKind::Current(stamp)
    }
}

/// The 20 timestamp bytes of `[YYYY-MM-DDTHH:MM:SSZ]`, if they form a real UTC instant.
pub(crate) fn parse_stamp(prefix: &[u8]) -> Option<[u8; 20]> {
    if prefix.len() < STAMP_PREFIX_LEN || prefix[0] != b'[' || prefix[21] != b']' {
        return None;
    }
    let s: [u8; 20] = prefix[1..21].try_into().ok()?;
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        s[range].iter().try_fold(0u32, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
        })
    };
    if s[4] != b'-'
        || s[7] != b'-'
        || s[10] != b'T'
        || s[13] != b':'
        || s[16] != b':'
        || s[19] != b'Z'
    {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (day >= 1 && day <= days_in_month && hour < 24 && minute < 60 && second < 60).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cutoff() -> Cutoff {
        Cutoff::at("2026-11-28T06:00:00Z".parse().expect("valid"))
    }

    #[test]
    fn stamps_must_be_real_instants() {
        let c = cutoff();
        assert_eq!(
            classify(b"[2026-11-28T05:59:59Z] x", &c),
            LineKind::Expired(*b"2026-11-28T05:59:59Z")
        );
        assert_eq!(
            classify(b"[2026-11-28T06:00:00Z] x", &c),
            LineKind::Current(*b"2026-11-28T06:00:00Z")
        );
        assert!(matches!(
            classify(b"[2099-01-01T00:00:00Z] x", &c),
            LineKind::Current(_)
        ));
        assert!(matches!(
            classify(b"[1970-01-01T00:00:00Z] x", &c),
            LineKind::Expired(_)
        ));
        for bad in [
            &b"[2026-02-30T10:00:00Z] impossible day"[..],
            b"[2026-02-28T25:61:00Z] impossible time",
            b"[2026-13-01T10:00:00Z] month 13",
            b"[2026-11-28 05:00:00Z] space",
            b"[2026-11-28T05:00:00] no Z",
            b"2026-11-28T05:00:00Z no bracket",
            b"[2026-11-28T05:00:00Z",
            b"",
            b"\x00\xff\xfe",
        ] {
            assert_eq!(
                classify(bad, &c),
                LineKind::Continuation,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(
            matches!(
                classify(b"[2024-02-29T10:00:00Z]", &c),
                LineKind::Expired(_)
            ),
            "leap day"
        );
        assert_eq!(
            classify(b"[2025-02-29T10:00:00Z]", &c),
            LineKind::Continuation,
            "not a leap year"
        );
    }
}
