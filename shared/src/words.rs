//! Numbers in words, one way for every report we print: the daemon's log,
//! the commands and the dashboard (bytes and durations: [`crate::units`]);
//! and the name of the command the user typed, which every hint names.

use std::path::Path;
use std::sync::OnceLock;

/// The command the user typed to run us, as every hint names it: `v0
/// prune` when this binary is the `bin/v0-prune` (or `bin/v0-prune-daemon`)
/// of a v0 install, which v0's dispatcher runs for `v0 prune` (it execs
/// `$V0_DIR/bin/v0-prune`, so our `argv[0]` is that path, beside `bin/v0`);
/// else `v0-prune`. Decided once, from `argv[0]`; the binaries ask at
/// start, before anything changes the working directory.
pub fn command() -> &'static str {
    static COMMAND: OnceLock<&'static str> = OnceLock::new();
    COMMAND.get_or_init(|| {
        let through_v0 = std::env::args_os()
            .next()
            .is_some_and(|program| in_v0_install(Path::new(&program)));
        if through_v0 { "v0 prune" } else { "v0-prune" }
    })
}

/// Whether `program` sits in a v0 install's `bin/`: v0's dispatcher
/// (`bin/v0`) beside it and v0's `packages/` above it.
fn in_v0_install(program: &Path) -> bool {
    let Some(bin) = program.parent().filter(|dir| !dir.as_os_str().is_empty()) else {
        return false;
    };
    bin.join("v0").is_file() && bin.join("../packages/cli/lib/v0-common.sh").is_file()
}

/// An error and its causes on one line, `what: why: deeper why`, each said
/// once: a cause whose words are already in the line is left out, as when
/// `<socket>: Permission denied (os error 13)` wraps that very `Permission
/// denied (os error 13)` (which anyhow's `{:#}` prints twice).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        let words = error.to_string();
        if !words.is_empty() && !text.contains(&words) {
            text.push_str(": ");
            text.push_str(&words);
        }
        cause = error.source();
    }
    text
}

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
