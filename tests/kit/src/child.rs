//! A test that needs a process of its own (a pruner to kill, a writer, a
//! client of another uid) runs its own test binary again, for itself alone,
//! with an environment variable naming the part the copy plays. The same
//! test function, finding that variable set, plays that part and returns:
//! there is no separate helper test that would pass without checking
//! anything in a normal run.
//!
//! ```text
//! #[test]
//! fn a_pruner_killed_at_any_instant_...() {
//!     if child::role() == Some(PRUNER) { return pruner(); }
//!     ...
//!     let mut pruner = child::command("a_pruner_killed_at_any_instant_...", PRUNER);
//! }
//! ```

use std::process::Command;

/// The variable that names the part a re-run test binary plays.
pub const ROLE_VAR: &str = "V0_PRUNE_TEST_CHILD";

/// The part this process plays, if a test started it with [`command`];
/// `None` in a normal test run.
pub fn role() -> Option<&'static str> {
    static ROLE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    ROLE.get_or_init(|| std::env::var(ROLE_VAR).ok().filter(|role| !role.is_empty()))
        .as_deref()
}

/// This test binary, run again for the test `test` alone (its name as the
/// harness lists it), playing `role`: the harness's output goes to stdout
/// with the test's own (`--nocapture`), and the test runs even where it is
/// ignored (a missing need decided at build time; the parent runs, so the
/// need is met).
pub fn command(test: &str, role: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("the test binary"));
    command
        .args([
            test,
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
            "--quiet",
        ])
        .env(ROLE_VAR, role);
    command
}
