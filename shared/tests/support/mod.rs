//! What the engine's integration tests share: a fixed cutoff, logs with a
//! known expired part, ways to read a report and find our temp files, and
//! the lock that keeps a test's children from holding another test's files.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use v0_prune_shared::prune::{Cutoff, RunOptions, RunReport};
use v0_prune_testkit::files_under;

/// The cutoff every fault test prunes with.
pub const CUTOFF: &str = "2026-11-28T06:00:00Z";

/// A non-dry run at [`CUTOFF`].
pub fn options() -> RunOptions {
    RunOptions {
        cutoff: Cutoff::at(CUTOFF.parse::<Timestamp>().expect("time")),
        dry_run: false,
    }
}

/// `lines` entries of ~100 bytes, the first `expired` of them before the cutoff.
pub fn log_text(lines: usize, expired: usize) -> String {
    (0..lines)
        .map(|i| {
            let hour = if i < expired { "01" } else { "09" };
            format!(
                "[2026-11-28T{hour}:00:00Z] entry {i:06} {}\n",
                "x".repeat(70)
            )
        })
        .collect()
}

/// The lines of `text` that survive [`CUTOFF`].
pub fn kept_part(text: &str) -> String {
    text.lines()
        .filter(|l| l.starts_with("[2026-11-28T09"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Why `item` could not be pruned (an error: a full disk, a permission), if so.
pub fn failure_of<'a>(report: &'a RunReport, item: &str) -> Option<&'a str> {
    report
        .logs
        .failed
        .iter()
        .chain(&report.queue.failed)
        .find(|s| s.item == item)
        .map(|s| s.reason.as_str())
}

/// A log's content after a prune, without the one padding line an in-place
/// prune leaves where its head was (stamped with the last removed entry's
/// expired time): what remains must be exactly the kept part, either way.
pub fn without_padding(after: String) -> String {
    match after.split_once('\n') {
        Some((first, rest))
            if first.starts_with("[2026-11-28T01:00:00Z] v0-prune: ")
                && first.contains(" expired lines removed in place") =>
        {
            rest.to_string()
        }
        _ => after,
    }
}

/// Why `item` was skipped on purpose, if it was.
pub fn reason_of<'a>(report: &'a RunReport, item: &str) -> Option<&'a str> {
    report
        .logs
        .skipped
        .iter()
        .find(|s| s.item == item)
        .map(|s| s.reason.as_str())
}

/// Temp files of ours anywhere under `root`.
pub fn temp_files(root: &Path) -> Vec<PathBuf> {
    files_under(root)
        .into_iter()
        .filter(|path| {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            name.contains("v0-prune") && name.contains("tmp")
        })
        .collect()
}

/// Holds the tests of one test binary to one at a time, for files whose
/// tests spawn children while others prune in this process.
///
/// `fork` copies every descriptor of this process into the child, which
/// holds them until it execs. A prune in another test thread meanwhile sees
/// that child as a second writer of its log (or fails to take a lease) and
/// skips the log, as it must for a real second writer: the test's verdict
/// then depends on the scheduler. Take the guard first in every such test.
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
