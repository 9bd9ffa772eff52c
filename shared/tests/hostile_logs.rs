//! Type surprises and hostile content in the logs: each gets a clear outcome,
//! never a crash, a hang, or a change to anything that is not an expired line.

mod support;

use std::io::Write;
use std::os::unix::fs::symlink;

use support::options;
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::prune::{LogMethod, ignore_events, logs};
use v0_prune_testkit::mkfifo;
use v0_prune_testkit::process::peak_rss_kib;

#[test]
fn fifos_symlinks_and_directories_named_log_are_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outside = tempfile::tempdir().expect("tempdir");
    let build = BuildDir::new(dir.path());
    let fifo = dir.path().join("pipe.log");
    mkfifo(&fifo).expect("mkfifo");
    symlink("/nonexistent/target.log", dir.path().join("dangling.log")).expect("symlink");
    symlink(dir.path().join("loop.log"), dir.path().join("loop.log")).expect("symlink");
    let target = outside.path().join("secret.log");
    std::fs::write(&target, "[2026-11-28T01:00:00Z] outside the build dir\n").expect("write");
    symlink(&target, dir.path().join("link.log")).expect("symlink");
    std::fs::create_dir(dir.path().join("dir.log")).expect("mkdir");
    std::fs::write(
        dir.path().join("dir.log").join("inner.log"),
        "[2026-11-28T01:00:00Z] old\n[2026-11-28T09:00:00Z] new\n",
    )
    .expect("write");
    symlink(outside.path(), dir.path().join("linked-dir")).expect("symlink");
    std::fs::write(
        outside.path().join("deep.log"),
        "[2026-11-28T01:00:00Z] must stay\n",
    )
    .expect("write");

    let report = logs::prune_all(&build, &options(), &mut ignore_events).expect("prune");

    let reasons: Vec<(String, String)> = report
        .skipped
        .iter()
        .map(|s| (s.item.clone(), s.reason.clone()))
        .collect();
    assert!(
        reasons
            .iter()
            .any(|(i, r)| i == "pipe.log" && r.contains("not a regular file")),
        "{reasons:?}"
    );
    for link in ["dangling.log", "loop.log", "link.log"] {
        assert!(
            reasons
                .iter()
                .any(|(i, r)| i == link && r.contains("symbolic link")),
            "{link}: {reasons:?}"
        );
    }
    assert_eq!(
        report.pruned.len(),
        1,
        "only dir.log/inner.log is a real log: {:?}",
        report.pruned
    );
    assert_eq!(report.pruned[0].path, "dir.log/inner.log");
    assert_eq!(
        std::fs::read_to_string(&target).expect("read"),
        "[2026-11-28T01:00:00Z] outside the build dir\n"
    );
    assert_eq!(
        std::fs::read_to_string(outside.path().join("deep.log")).expect("read"),
        "[2026-11-28T01:00:00Z] must stay\n"
    );
}

#[test]
fn a_log_that_vanishes_before_its_turn_is_reported_not_fatal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gone = dir.path().join("gone.log");
    let outcome = logs::prune_file(&gone, &[], &options(), None);
    let err = outcome.expect_err("a missing file is an error for prune_file");
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn junk_content_passes_through_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let build = BuildDir::new(dir.path());
    let log = dir.path().join("junk.log");
    let head: &[u8] = b"\x00\x01\x02 binary head before any entry\xff\xfe\n";
    let expired: &[u8] =
        b"[1970-01-01T00:00:00Z] the epoch, expired\n\xc3\x28 invalid utf-8 continuation\n";
    let rest: &[u8] = b"[2099-01-01T00:00:00Z] from the future\r\n\
        \x00\x00\x00 NULs in a continuation\n\
        [2026-02-30T25:61:00Z] invalid date: a continuation of the future entry\n\
        cr\ronly\rline\rno trailing newline";
    std::fs::write(&log, [head, expired, rest].concat()).expect("write");
    let report = logs::prune_all(&build, &options(), &mut ignore_events).expect("prune");
    assert_eq!(report.lines_removed, 2);
    let expected = [head, rest].concat();
    assert_eq!(std::fs::read(&log).expect("read"), expected);
}

#[test]
fn a_100_mb_line_is_streamed_with_bounded_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let build = BuildDir::new(dir.path());
    let log = dir.path().join("huge.log");
    let mut f = std::fs::File::create(&log).expect("create");
    f.write_all(b"[2026-11-28T01:00:00Z] ").expect("write");
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..100 {
        f.write_all(&chunk).expect("write");
    }
    f.write_all(b"\n[2026-11-28T09:00:00Z] ").expect("write");
    for _ in 0..100 {
        f.write_all(&chunk).expect("write");
    }
    f.write_all(b"\n").expect("write");
    drop(f);
    let before = peak_rss_kib();
    let report = logs::prune_all(&build, &options(), &mut ignore_events).expect("prune");
    let grown = peak_rss_kib().saturating_sub(before);
    assert_eq!(report.lines_removed, 1);
    let kept = 100 * (1 << 20) + 24;
    let len = std::fs::metadata(&log).expect("meta").len();
    match report.pruned[0].method {
        LogMethod::Rewrite => assert_eq!(len, kept),
        // In place: one padding line (under a block and its minimum) stays before the kept line.
        LogMethod::InPlaceUnheld => {
            assert!(len > kept && len - kept <= 4096 + 80, "{len}");
            let mut start = [0u8; 22];
            std::os::unix::fs::FileExt::read_exact_at(
                &std::fs::File::open(&log).expect("open"),
                &mut start,
                len - kept,
            )
            .expect("read");
            assert_eq!(&start, b"[2026-11-28T09:00:00Z]");
        }
        other => panic!("{other:?}"),
    }
    // Other tests in this binary run alongside; the bound leaves room for them
    // but not for a 100 MB line held in memory.
    assert!(
        grown < 40 * 1024,
        "peak RSS grew by {grown} KiB while pruning a 100 MB line"
    );
}
