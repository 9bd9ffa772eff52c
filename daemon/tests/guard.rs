//! The daemon never prunes a directory that is not a v0 build directory.

use std::process::Command;

use v0_prune_testkit::bins::DAEMON;
use v0_prune_testkit::{bin, without_steering};

#[test]
fn the_daemon_refuses_a_directory_that_is_not_a_build_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A project root (it holds .v0.rc) is not its build directory.
    std::fs::write(dir.path().join(".v0.rc"), "PROJECT=x\n").expect("write");
    std::fs::write(
        dir.path().join("notes.log"),
        "[2000-01-01T00:00:00Z] keep me\n",
    )
    .expect("write");
    let output = without_steering(&mut Command::new(bin(DAEMON)))
        .env("BUILD_DIR", dir.path())
        .output()
        .expect("run daemon");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("refusing to prune"), "{stderr}");
    assert!(stderr.contains("V0_PRUNE_FORCE=1"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("notes.log")).expect("read"),
        "[2000-01-01T00:00:00Z] keep me\n"
    );
    assert!(!dir.path().join(".prune-daemon.pid").exists());
}
