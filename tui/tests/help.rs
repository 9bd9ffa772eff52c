//! The built binary answers `--help` as v0 does. Besides checking that, this
//! test makes `cargo test --workspace` build `v0-prune` before the end-to-end
//! tests in `tests/` look for it.

use std::process::Command;

#[test]
fn help_starts_with_v0_headline_and_exits_1() {
    let output = Command::new(env!("CARGO_BIN_EXE_v0-prune"))
        .arg("--help")
        .output()
        .expect("v0-prune runs");
    assert_eq!(output.status.code(), Some(1), "help exits 1 like v0");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with("v0 prune - Remove operation state\n"),
        "{stdout}"
    );
}
