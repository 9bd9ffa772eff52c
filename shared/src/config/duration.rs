//! `V0_PRUNE_RETENTION` and `V0_PRUNE_INTERVAL`: seconds, or a number with a unit.

use std::time::Duration;

use super::ConfigError;

/// The forms a duration setting accepts, quoted in every error.
const FORMS: &str = "expected seconds or a number with s, m, h or d (e.g. 90s, 30m, 6h, 2d)";

/// The longest retention or interval accepted: 100 years.
///
/// Longer values mean "never" in practice, and capping them keeps the daemon's
/// `Instant + interval` and millisecond arithmetic far from overflow.
pub const MAX_SETTING: Duration = Duration::from_secs(36_500 * 86_400);

/// Parses `3600`, `90s`, `30m`, `6h` or `2d` (surrounding whitespace allowed)
/// into a duration; the error names `var` and the accepted forms.
///
/// Zero is accepted here (a zero retention expires everything); the interval's
/// extra rule is in [`parse_interval`].
pub fn parse_duration(var: &str, value: &str) -> Result<Duration, ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidSetting {
        var: var.to_string(),
        value: value.to_string(),
        reason,
    };
    let trimmed = value.trim();
    let (digits, unit) = match trimmed.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => trimmed.split_at(i),
        None => (trimmed, ""),
    };
    if digits.is_empty() {
        return Err(invalid(FORMS.to_string()));
    }
    let unit_secs: u64 = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(invalid(FORMS.to_string())),
    };
    let too_large = || {
        invalid(format!(
            "too large, at most {}d; {FORMS}",
            MAX_SETTING.as_secs() / 86_400
        ))
    };
    let number: u64 = digits.parse().map_err(|_| too_large())?;
    let secs = number.checked_mul(unit_secs).ok_or_else(too_large)?;
    let duration = Duration::from_secs(secs);
    if duration > MAX_SETTING {
        return Err(too_large());
    }
    Ok(duration)
}

/// [`parse_duration`] for the daemon's interval, which must be at least a
/// second: a zero interval would make the daemon prune in a busy loop.
pub fn parse_interval(var: &str, value: &str) -> Result<Duration, ConfigError> {
    let interval = parse_duration(var, value)?;
    if interval.is_zero() {
        return Err(ConfigError::InvalidSetting {
            var: var.to_string(),
            value: value.to_string(),
            reason: format!("the interval must be at least 1s; {FORMS}"),
        });
    }
    Ok(interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_accepted_form() {
        for (text, secs) in [
            ("3600", 3600),
            ("0", 0),
            ("90s", 90),
            ("30m", 1800),
            ("6h", 21_600),
            ("2d", 172_800),
            (" 5m ", 300),
            ("\t7\n", 7),
            ("007s", 7),
            ("36500d", 36_500 * 86_400),
        ] {
            assert_eq!(
                parse_duration("V", text).expect(text),
                Duration::from_secs(secs),
                "{text:?}"
            );
        }
    }

    #[test]
    fn every_bad_value_names_the_variable_and_the_forms() {
        for bad in [
            "",
            "   ",
            "6x",
            "6H",
            "-5",
            "+5",
            "h",
            "1.5h",
            "6 h",
            "6hh",
            "6h30m",
            "99999999999999999999",
            "18446744073709551615d",
            "36501d",
            "3153600001",
        ] {
            let err = parse_duration("V0_PRUNE_RETENTION", bad)
                .expect_err(bad)
                .to_string();
            assert!(
                err.starts_with(&format!("invalid V0_PRUNE_RETENTION={bad:?}: ")),
                "{err}"
            );
            assert!(err.contains("90s, 30m, 6h, 2d"), "{err}");
        }
    }

    #[test]
    fn the_message_reads_as_documented() {
        let err = parse_duration("V0_PRUNE_RETENTION", "6x").expect_err("bad");
        assert_eq!(
            err.to_string(),
            "invalid V0_PRUNE_RETENTION=\"6x\": expected seconds or a number with s, m, h or d \
             (e.g. 90s, 30m, 6h, 2d)"
        );
    }

    #[test]
    fn the_interval_must_not_be_zero() {
        for zero in ["0", "0s", "0m", " 0d "] {
            let err = parse_interval("V0_PRUNE_INTERVAL", zero)
                .expect_err(zero)
                .to_string();
            assert!(err.contains("at least 1s"), "{err}");
            assert!(err.starts_with("invalid V0_PRUNE_INTERVAL="), "{err}");
        }
        assert_eq!(
            parse_interval("V0_PRUNE_INTERVAL", "1").expect("one second"),
            Duration::from_secs(1)
        );
    }
}
