//! Steady state: a second run reads only what changed since the first, and
//! never misses an expired line because of what it remembered.
//!
//! The tests measure this process's read bytes (`/proc/self/io`), which
//! parallel tests in the same binary would disturb: they run one at a time.
//!
//! Counts the bytes read through `/proc/self/io`: Linux only.

#![cfg(target_os = "linux")]

use std::io::Write;
use std::path::Path;

use jiff::Timestamp;
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::prune::{Cutoff, LogMethod, LogsReport, RunOptions, ignore_events, logs};

/// Held by each test: the read bytes it counts are its own.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn bytes_read_by_this_process() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").expect("/proc/self/io");
    io.lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .and_then(|n| n.trim().parse().ok())
        .expect("rchar")
}

fn prune(build: &BuildDir, cutoff: &str) -> (LogsReport, u64) {
    let options = RunOptions {
        cutoff: Cutoff::at(cutoff.parse::<Timestamp>().expect("time")),
        dry_run: false,
    };
    let before = bytes_read_by_this_process();
    let report = logs::prune_all(build, &options, &mut ignore_events).expect("prune");
    (report, bytes_read_by_this_process() - before)
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open");
    f.write_all(text.as_bytes()).expect("append");
}

#[test]
fn later_runs_read_only_what_changed_and_still_catch_everything() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let build = BuildDir::new(dir.path());
    let log = dir.path().join("big.log");
    let mut content = String::from("[2026-11-28T01:00:00Z] old entry\n  its continuation\n");
    for i in 0..200_000 {
        content.push_str(&format!(
            "[2026-11-28T{:02}:00:00Z] fresh line {i:08}\n",
            7 + i % 10
        ));
    }
    std::fs::write(&log, &content).expect("write");
    let size = content.len() as u64;

    // First run: reads it all, removes the old entry.
    let (report, read) = prune(&build, "2026-11-28T06:00:00Z");
    assert_eq!(report.lines_removed, 2);
    assert!(
        read >= size - 100,
        "first run reads the file ({read} of {size})"
    );

    // Second run, nothing changed, nothing newly expired: almost nothing read.
    let (report, read) = prune(&build, "2026-11-28T06:30:00Z");
    assert_eq!(report.lines_removed, 0);
    assert!(
        read < size / 50,
        "an unchanged file must not be re-read ({read} bytes of {size})"
    );

    // Appended fresh lines: only the appended part is read.
    append(&log, "[2026-11-28T20:00:00Z] appended\n");
    let (report, read) = prune(&build, "2026-11-28T06:30:00Z");
    assert_eq!(report.lines_removed, 0);
    assert!(
        read < size / 50,
        "only the appended part is read ({read} bytes)"
    );

    // An appended line that is already expired is caught.
    append(
        &log,
        "[2026-11-28T02:00:00Z] late but old\n  with a continuation\n",
    );
    let (report, read) = prune(&build, "2026-11-28T06:30:00Z");
    assert_eq!(report.lines_removed, 2, "an expired appended entry must go");
    // The index shows the expired lines are not a head: the rewrite's reads
    // (its filter pass, and its in-kernel copy of the kept prefix, which
    // rchar counts too), no in-place attempt reading the whole file first.
    assert!(
        read < 2 * size + size / 2,
        "the file is read once for the rewrite ({read} bytes of {size})"
    );
    assert_eq!(report.pruned[0].method, LogMethod::Rewrite);
    assert!(
        report.pruned[0].reason.contains("log index vouches"),
        "{}",
        report.pruned[0].reason
    );
    assert!(
        !std::fs::read_to_string(&log)
            .expect("read")
            .contains("late but old")
    );

    // The cutoff passes the earliest remembered entry: the file is read again.
    let (report, read) = prune(&build, "2026-11-28T07:30:00Z");
    assert_eq!(report.lines_removed, 20_000, "every 07:00 line expires");
    assert!(
        read >= size / 2,
        "the whole file is read once something may have expired"
    );

    // Rewritten under the same path (new inode) with expired content: caught.
    std::fs::write(
        &log,
        "[2026-11-28T01:00:00Z] replaced and old\n[2026-11-28T23:00:00Z] new\n",
    )
    .expect("write");
    let (report, _) = prune(&build, "2026-11-28T07:30:00Z");
    assert_eq!(report.lines_removed, 1);

    // Truncated in place and refilled larger (same inode): the fingerprint catches it.
    let verified = std::fs::read(&log).expect("read");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&log)
        .expect("open");
    let refill = format!(
        "[2026-11-28T01:00:00Z] old again{}\n[2026-11-28T23:00:00Z] new\n",
        "!".repeat(verified.len())
    );
    f.write_all(refill.as_bytes()).expect("write");
    drop(f);
    let (report, _) = prune(&build, "2026-11-28T07:30:00Z");
    assert_eq!(report.lines_removed, 1, "a rewritten file is read in full");
}

/// A chronological log, as v0 writes them: once the cutoff passes its
/// earliest entry, a later run reads its expired head and about one
/// checkpoint's stretch more, not the current entries the index vouches
/// for (4 MiB apart: `prune::logs::checkpoints`). Both runs prune it in
/// place, which needs collapse-range (never in the portable build).
#[cfg(not(feature = "portable"))]
#[test]
#[cfg_attr(
    not(v0_prune_has_collapse),
    ignore = "needs collapse-range in the temp dir: set TMPDIR to a directory on ext4 or xfs"
)]
fn once_the_cutoff_passes_a_chronological_logs_head_a_run_reads_the_head_not_the_rest() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("chronological");
    let build = BuildDir::new(&root);
    std::fs::create_dir_all(build.logs_dir()).expect("logs dir");
    let log = build.logs_dir().join("agent.log");
    // 01:00 to 09:00, 8 MiB an hour.
    let mut content = String::from("nohup: ignoring input\n");
    let lines: u64 = 1_000_000;
    for i in 0..lines {
        let second = i * 8 * 3600 / lines;
        content.push_str(&format!(
            "[2026-11-28T{:02}:{:02}:{:02}Z] line {i:08} of an agent's log\n",
            1 + second / 3600,
            second / 60 % 60,
            second % 60
        ));
    }
    std::fs::write(&log, &content).expect("write");
    let size = content.len() as u64;
    let expired_before = |hour: usize| {
        content
            .lines()
            .filter(|line| line.starts_with('[') && line[12..14] < *format!("{hour:02}"))
            .count() as u64
    };

    let (report, read) = prune(&build, "2026-11-28T02:00:00Z");
    assert_eq!(report.pruned.len(), 1, "{report:?}");
    assert_eq!(
        report.pruned[0].method,
        LogMethod::InPlaceUnheld,
        "the temp dir collapses ranges: {report:?}"
    );
    assert_eq!(report.lines_removed, expired_before(2));
    assert!(
        read >= size,
        "the first run reads it all ({read} of {size})"
    );

    let (report, read) = prune(&build, "2026-11-28T03:00:00Z");
    assert_eq!(report.pruned.len(), 1, "{report:?}");
    assert_eq!(report.pruned[0].method, LogMethod::InPlaceUnheld);
    // The hour's lines, and the padding line the first run left.
    assert_eq!(
        report.lines_removed,
        expired_before(3) - expired_before(2) + 1
    );
    assert!(
        read < size / 4,
        "an hour's head and one stretch are read, not the rest ({read} of {size})"
    );
    let after = std::fs::read_to_string(&log).expect("read");
    let kept: Vec<&str> = content
        .lines()
        .filter(|line| !line.starts_with('[') || line[12..14] >= *"03")
        .collect();
    // The one padding line an in-place prune leaves (with an expired stamp).
    let padding = |line: &&str| line.contains(" expired lines removed in place");
    assert_eq!(after.lines().filter(padding).count(), 1);
    assert_eq!(
        after.lines().filter(|l| !padding(l)).collect::<Vec<_>>(),
        kept
    );
}
