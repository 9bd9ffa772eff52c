//! Surprises in the middle of a run: a log that vanishes, turns into a
//! directory, a FIFO or a symlink after the walk found it, or is truncated by
//! someone else while we copy it. Each is skipped with a reason (or simply has
//! nothing left to prune), never a hang, and nobody else's change is undone.

mod support;

use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::{log_text, options, reason_of, temp_files};
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::platform::LEASES_AVAILABLE;
use v0_prune_shared::prune::logs::rewrite::TRUNCATED;
use v0_prune_shared::prune::{self, Job, PruneEvent, RunReport, ignore_events};
use v0_prune_testkit::mkfifo;

/// Runs a prune on another thread; fails the test if it does not end in time
/// (a FIFO opened for reading blocks until a writer comes).
fn run_within(
    build: &BuildDir,
    mut on_event: impl FnMut(&PruneEvent) + Send + 'static,
) -> RunReport {
    let (tx, rx) = mpsc::channel();
    let build = build.clone();
    std::thread::spawn(move || {
        let report = prune::run(&build, &options(), &mut |event| on_event(event));
        let _ = tx.send(report);
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("the run hung")
        .expect("the run")
}

#[test]
fn logs_that_change_type_vanish_or_shrink_mid_run_are_skipped_with_a_reason() {
    for with_index in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        let build = BuildDir::new(dir.path());
        let logs = build.logs_dir();
        std::fs::create_dir_all(&logs).expect("logs");
        let text = log_text(20, 10);
        for name in ["a", "b", "c", "d", "e", "f"] {
            std::fs::write(logs.join(format!("{name}.log")), &text).expect("write");
        }
        let target = outside.path().join("elsewhere.log");
        std::fs::write(&target, &text).expect("write");
        if with_index {
            // Everything verified and pruned once; the next run consults the index.
            prune::run(&build, &options(), &mut ignore_events).expect("first run");
        }
        let mut done = false;
        let (logs_in, target_in) = (logs.clone(), target.clone());
        let report = run_within(&build, move |event| {
            let walked = matches!(event, PruneEvent::JobStarted { job: Job::Logs, .. });
            if done || !walked {
                return;
            }
            done = true;
            // After the walk saw them as logs, before any is pruned (files
            // are pruned several at a time, so not between two of them).
            std::fs::remove_file(logs_in.join("b.log")).expect("vanish");
            std::fs::remove_file(logs_in.join("c.log")).expect("rm");
            std::fs::create_dir(logs_in.join("c.log")).expect("a directory now");
            std::fs::remove_file(logs_in.join("d.log")).expect("rm");
            mkfifo(&logs_in.join("d.log")).expect("a FIFO now");
            std::fs::remove_file(logs_in.join("e.log")).expect("rm");
            std::os::unix::fs::symlink(&target_in, logs_in.join("e.log")).expect("symlink");
            std::fs::write(logs_in.join("f.log"), "").expect("truncated");
        });
        let context = if with_index { "with index" } else { "fresh" };
        let reason = |item: &str| {
            reason_of(&report, item)
                .unwrap_or_else(|| panic!("{context}: {item} not reported: {report:#?}"))
                .to_owned()
        };
        assert!(reason("logs/b.log").contains("vanished"), "{context}");
        assert!(!reason("logs/c.log").is_empty());
        assert!(
            reason("logs/d.log").contains("not a regular file"),
            "{context}"
        );
        assert!(!reason("logs/e.log").is_empty());
        assert_eq!(
            reason_of(&report, "logs/f.log"),
            None,
            "{context}: an empty log is fine"
        );
        assert_eq!(
            std::fs::read_to_string(&target).expect("read"),
            text,
            "{context}"
        );
        assert!(logs.join("c.log").is_dir() && logs.join("e.log").is_symlink());
        assert_eq!(temp_files(build.root()), Vec::<PathBuf>::new(), "{context}");
    }
}

/// Someone truncates a log (`: > x.log`, logrotate's copytruncate) while we
/// copy it: the rewrite notices before its rename and gives up with the
/// reason, and their truncation stands, not undone by our rename.
///
/// The truncation comes as soon as our copy exists, from another thread,
/// which then looks whether the path still names the log. Mostly it lands
/// mid-copy. Held up until we hold the lease before the rename, it waits
/// for us and comes after the rename (a case RELIABILITY.md names as not
/// detected), and so does one held up past the rename: such a round does
/// not count. Three rounds must land mid-copy, within 20 that do not; the
/// same truncation at a known instant, after the copy and before the lease,
/// is `prune/logs/rewrite.rs`'s `a_log_truncated_after_our_read_is_left_as_they_left_it`.
#[test]
fn a_log_truncated_by_someone_else_mid_rewrite_stays_truncated() {
    let (mut caught, mut late) = (0, 0);
    while caught < 3 {
        assert!(
            late < 20,
            "the truncation came after the rename {late} times, mid-copy {caught} times"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let build = BuildDir::new(dir.path());
        let path = dir.path().join("big.log");
        let mut file = std::fs::File::create(&path).expect("create");
        // Expired lines at both ends: not a head, so it is rewritten (a head
        // would be cut in place, under a lease the truncation waits for).
        for chunk in 0..40 {
            let expired = if chunk < 1 || chunk == 39 { 2500 } else { 0 };
            file.write_all(log_text(2500, expired).as_bytes())
                .expect("write");
        }
        drop(file);
        let inode = std::fs::metadata(&path).expect("meta").ino();
        let truncator = {
            let (dir, path) = (dir.path().to_path_buf(), path.clone());
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(20);
                // As soon as our copy exists, the original is cut to nothing.
                while Instant::now() < deadline {
                    let copying = std::fs::read_dir(&dir)
                        .expect("list")
                        .flatten()
                        .any(|e| e.file_name().to_string_lossy().ends_with(".v0-prune-tmp"));
                    if copying {
                        let name = CString::new(path.as_os_str().as_bytes()).expect("path");
                        // SAFETY: a valid path string.
                        let rc = unsafe { libc::truncate(name.as_ptr(), 0) };
                        assert_eq!(rc, 0, "truncate");
                        // What the path names once the truncation is done.
                        return Some(std::fs::metadata(&path).expect("meta").ino());
                    }
                    std::thread::yield_now();
                }
                None
            })
        };
        let report = run_within(&build, |_| {});
        let named_then = truncator
            .join()
            .expect("truncator")
            .expect("never saw the copy");
        assert_eq!(temp_files(build.root()), Vec::<PathBuf>::new());
        let now = std::fs::metadata(&path).expect("meta");
        let reason = reason_of(&report, "big.log");
        if reason.is_none() {
            // Cut while the path still named the log: where leases keep
            // truncations waiting from before the check until after the
            // rename, the rewrite must have noticed.
            assert!(
                named_then != inode || !LEASES_AVAILABLE,
                "the log was truncated before the rename, and the rename undid it: {} bytes back: {report:#?}",
                now.len()
            );
            late += 1;
            continue;
        }
        assert_eq!(
            reason,
            Some(TRUNCATED),
            "the truncation landed on the log before the rename: {report:#?}"
        );
        assert_eq!(
            (now.ino(), now.len()),
            (inode, 0),
            "the truncated log came back: {report:#?}"
        );
        caught += 1;
    }
    eprintln!("truncated mid-rewrite: {caught} times caught, {late} times too late");
}
