//! `V0_PRUNE_MAX_SIZE`: plain bytes, or a number with K, M, G or T.

use super::ConfigError;

/// The forms a size setting accepts, quoted in every error.
const FORMS: &str = "expected bytes or a whole number with K, M, G or T (powers of 1024; \
                     e.g. 1048576, 500M, 2G); leave it unset for no cap";

/// Parses `1048576`, `512K`, `500M`, `2G` or `1T` (any case, surrounding
/// whitespace allowed; the units are powers of 1024, as journald's and
/// logrotate's) into bytes; the error names `var` and the accepted forms.
///
/// Zero is refused: read as "no limit" by some and "keep nothing" by
/// others, it would surprise one of them; no cap is the variable unset.
pub fn parse_size(var: &str, value: &str) -> Result<u64, ConfigError> {
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
    let shift = match unit {
        "" => 0,
        "k" | "K" => 10,
        "m" | "M" => 20,
        "g" | "G" => 30,
        "t" | "T" => 40,
        _ => return Err(invalid(FORMS.to_string())),
    };
    let too_large = || invalid(format!("too large for this machine; {FORMS}"));
    let number: u64 = digits.parse().map_err(|_| too_large())?;
    let bytes = number.checked_mul(1u64 << shift).ok_or_else(too_large)?;
    if bytes == 0 {
        return Err(invalid(format!(
            "a cap of 0 would remove every entry older than V0_PRUNE_MIN_KEEP; {FORMS}"
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_accepted_form() {
        for (text, bytes) in [
            ("1", 1),
            ("104857600", 104_857_600),
            ("512K", 512 << 10),
            ("512k", 512 << 10),
            ("500M", 500 << 20),
            ("500m", 500 << 20),
            ("2G", 2 << 30),
            ("1T", 1 << 40),
            (" 100M\n", 100 << 20),
            ("007M", 7 << 20),
        ] {
            assert_eq!(parse_size("V", text).expect(text), bytes, "{text:?}");
        }
    }

    #[test]
    fn every_bad_value_names_the_variable_and_the_forms() {
        for bad in [
            "",
            "  ",
            "M",
            "0",
            "0M",
            "-5M",
            "+5M",
            "1.5G",
            "5 M",
            "5MB",
            "5MiB",
            "5X",
            "2GG",
            "none",
            "99999999999999999999",
            "16777216T",
        ] {
            let err = parse_size("V0_PRUNE_MAX_SIZE", bad)
                .expect_err(bad)
                .to_string();
            assert!(
                err.starts_with(&format!("invalid V0_PRUNE_MAX_SIZE={bad:?}: ")),
                "{err}"
            );
            assert!(err.contains("500M, 2G"), "{err}");
        }
    }

    #[test]
    fn zero_says_what_it_would_do() {
        let err = parse_size("V0_PRUNE_MAX_SIZE", "0").expect_err("zero");
        assert!(err.to_string().contains("remove every entry"), "{err}");
    }
}
