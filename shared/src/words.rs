//! Numbers in words, one way for every report we print: the daemon's log,
//! the commands and the dashboard. (Bytes and durations: [`crate::units`].)

/// `one` for a count of 1, else `many`: `plural(3, "entry", "entries")` is
/// `entries`. The one place that decides singular or plural.
pub fn plural<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// A count with thousands separators: `12,345`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A [`count`] and its noun: `1 run`, `12,345 entries`.
pub fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", count(n), plural(n, one, many))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular_everything_else_plural() {
        assert_eq!(plural(1, "log", "logs"), "log");
        for n in [0, 2, 1_000] {
            assert_eq!(plural(n, "log", "logs"), "logs");
        }
    }

    #[test]
    fn counts_get_thousands_separators_and_their_noun() {
        assert_eq!(count(999), "999");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(counted(1, "run", "runs"), "1 run");
        assert_eq!(counted(0, "entry", "entries"), "0 entries");
        assert_eq!(counted(12_345, "entry", "entries"), "12,345 entries");
    }
}
