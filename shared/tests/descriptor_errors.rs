//! The portable build (what macOS runs): an error inspecting one descriptor
//! of a process is about that descriptor, not a reason to count the process
//! as a writer of every log (issue: the first Mac user, item 2). macOS's
//! `proc_pidfdinfo` fails with EPERM for files in data vaults held open by
//! the user's own agents; here an injected EPERM plays that refusal on the
//! procfs scan that stands in for libproc.
//!
//! Runs only with `--features portable` (`.ci/run`'s portable step).

#![cfg(all(target_os = "linux", feature = "portable"))]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use support::{kept_part, log_text, one_at_a_time, options};
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::platform::{self, injected};
use v0_prune_shared::prune::ignore_events;
use v0_prune_shared::prune::logs;

#[test]
fn an_uninspectable_descriptor_leaves_the_logs_its_process_does_not_hold_prunable() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let build = BuildDir::new(dir.path());
    let logs_dir = dir.path().join("logs");
    std::fs::create_dir_all(&logs_dir).expect("mkdir");
    let text = log_text(200, 120);
    for name in ["held.log", "free-1.log", "free-2.log"] {
        std::fs::write(logs_dir.join(name), &text).expect("log");
    }
    let vault = dir.path().join("vault.db");
    std::fs::write(&vault, "not ours to stat").expect("vault");

    // A process appending to held.log (fd 3) with a file we may not inspect
    // open as fd 4.
    let mut holder = Command::new("sh")
        .arg("-c")
        .arg("exec 3>>\"$1\" 4<\"$2\"; echo ready; exec sleep 30")
        .arg("sh")
        .arg(logs_dir.join("held.log"))
        .arg(&vault)
        .stdout(Stdio::piped())
        .spawn()
        .expect("sh");
    let mut ready = String::new();
    BufReader::new(holder.stdout.take().expect("stdout"))
        .read_line(&mut ready)
        .expect("ready");
    injected::descriptor_error(holder.id(), 4, libc::EPERM);

    let report = logs::prune_all(&build, &options(), &mut ignore_events);
    injected::clear();
    let _ = holder.kill();
    let _ = holder.wait();
    let report = report.expect("prune");

    let pruned: Vec<&str> = report.pruned.iter().map(|p| p.path.as_str()).collect();
    assert!(
        pruned.contains(&"logs/free-1.log") && pruned.contains(&"logs/free-2.log"),
        "the logs the process does not hold are pruned: {report:?}"
    );
    for name in ["free-1.log", "free-2.log"] {
        let after = std::fs::read_to_string(logs_dir.join(name)).expect("read");
        assert_eq!(after, kept_part(&text), "{name}");
    }
    let held = report
        .skipped
        .iter()
        .find(|s| s.item == "logs/held.log")
        .map(|s| s.reason.as_str())
        .expect("held.log is skipped");
    assert!(
        held.contains(platform::WHY_NO_COLLAPSE),
        "skipped for its appender, as any held log: {held}"
    );
    assert_eq!(
        std::fs::read_to_string(logs_dir.join("held.log")).expect("read"),
        text,
        "the held log is untouched"
    );
}
