//! Hostile merge queues: huge, deeply nested, duplicate keys, entries of the
//! wrong type, odd numbers, a byte-order mark, the wrong kind of file. Each
//! gets a clear outcome (a [`PruneError::CorruptQueue`] naming the spot, or
//! the odd entry kept and reported), and nothing but expired entries ever
//! leaves the file: the rest stays byte for byte.
//!
//! The rule-table cases (timestamps, statuses, `entries` of the wrong type)
//! live beside the code in `prune/queue/tests.rs` and `plan.rs`; these are the
//! extremes.

mod support;

use std::time::{Duration, Instant};

use support::options;
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::prune::{PruneError, QueueReport, ignore_events, queue};
use v0_prune_testkit::mkfifo;
use v0_prune_testkit::process::peak_rss_kib;

const OLD: &str = "2026-11-27T00:00:00Z";
const NEW: &str = "2026-11-28T11:00:00Z";

fn with_queue(text: &[u8]) -> (tempfile::TempDir, BuildDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let build = BuildDir::new(dir.path());
    std::fs::create_dir_all(build.mergeq_dir()).expect("mergeq");
    std::fs::write(build.queue_file(), text).expect("queue");
    (dir, build)
}

/// Prunes on a thread with the stack the daemon's runs get (tokio's blocking
/// threads: 2 MiB), which an unbounded recursive parser would overflow, and
/// a deadline.
fn prune(build: &BuildDir) -> Result<QueueReport, PruneError> {
    let build = build.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            let _ = tx.send(queue::prune(&build, &options(), &mut ignore_events));
        })
        .expect("thread");
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the prune neither hung nor overflowed its stack")
}

fn litter(build: &BuildDir) -> Vec<String> {
    std::fs::read_dir(build.mergeq_dir())
        .expect("list")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "queue.json")
        .collect()
}

fn assert_corrupt_and_untouched(text: &[u8], expected: &str) {
    let (_dir, build) = with_queue(text);
    match prune(&build) {
        Err(PruneError::CorruptQueue { message, .. }) => {
            assert!(message.contains(expected), "{message:?} lacks {expected:?}");
        }
        other => panic!("expected CorruptQueue ({expected}), got {other:?}"),
    }
    assert!(
        std::fs::read(build.queue_file()).expect("read") == text,
        "the queue was changed"
    );
    assert!(litter(&build).is_empty(), "{:?}", litter(&build));
}

/// One jq-style entry line.
fn entry(id: &str, status: &str, at: &str) -> String {
    format!(r#"    {{"id": "{id}", "status": "{status}", "updated_at": "{at}"}}"#)
}

fn queue_of(entries: &[String]) -> String {
    format!(
        "{{\n  \"version\": 1,\n  \"entries\": [\n{}\n  ]\n}}\n",
        entries.join(",\n")
    )
}

#[test]
fn a_50_mb_queue_is_spliced_exactly_in_bounded_time_and_memory() {
    let mut all = Vec::new();
    let mut kept = Vec::new();
    let padding = "p".repeat(180);
    for i in 0..200_000 {
        let (status, at) = match i % 4 {
            0 => ("completed", OLD),
            1 => ("pending", OLD),
            2 => ("failed", NEW),
            _ => ("conflict", OLD),
        };
        let line = format!(
            r#"    {{"id": "mq-{i:06}", "status": "{status}", "updated_at": "{at}", "pad": "{padding}"}}"#
        );
        if !(i % 4 == 0 || i % 4 == 3) {
            kept.push(line.clone());
        }
        all.push(line);
    }
    let text = queue_of(&all);
    let expected = queue_of(&kept);
    assert!(text.len() > 50_000_000, "{}", text.len());
    let (_dir, build) = with_queue(text.as_bytes());
    let before = peak_rss_kib();
    let started = Instant::now();
    let report = prune(&build).expect("prune");
    let took = started.elapsed();
    let grown_mib = peak_rss_kib().saturating_sub(before) / 1024;
    eprintln!("50 MB queue: {took:?}, peak RSS grew by {grown_mib} MiB");
    assert_eq!(report.entries_before, 200_000);
    assert_eq!(report.removed.len(), 100_000);
    assert!(std::fs::read_to_string(build.queue_file()).expect("read") == expected);
    assert!(litter(&build).is_empty());
    // Debug build, 2 cores: about 3 s; the bound catches a quadratic splice.
    assert!(took < Duration::from_secs(30), "{took:?}");
    // The file is held a few times over (read, re-read under the lock, the
    // spliced copy, the check before the rename), never per-entry copies of it.
    assert!(grown_mib < 500, "peak RSS grew by {grown_mib} MiB");
}

#[test]
fn deep_nesting_is_a_clear_outcome_never_a_stack_overflow() {
    let deep = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let deep_object = |depth: usize| format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
    let old = entry("old", "completed", OLD);
    let new = entry("new", "pending", NEW);

    // Beside `entries`: not ours to judge, skipped over without recursion and kept.
    let document = |entries: &str| {
        format!(
            "{{\"version\": 1, \"extra\": {}, \"entries\": [\n{entries}\n]}}\n",
            deep(1_000_000)
        )
    };
    let (_dir, build) = with_queue(document(&format!("{old},\n{new}")).as_bytes());
    let report = prune(&build).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(report.removed.len(), 1);
    assert!(std::fs::read_to_string(build.queue_file()).expect("read") == document(&new));
    // A document that is nothing but nesting is not a queue.
    let text = format!("{}\n", deep(1_000_000));
    assert_corrupt_and_untouched(text.as_bytes(), "expected a merge-queue object");

    // As an entry, or inside one: that entry cannot be judged, so it is kept
    // and reported, and the expired one beside it still goes.
    for odd in [
        format!("    {}", deep(1_000_000)),
        format!("    {}", deep_object(200_000)),
        format!(
            r#"    {{"id": "deep", "status": "completed", "updated_at": "{OLD}", "meta": {}}}"#,
            deep(100_000)
        ),
    ] {
        let text = queue_of(&[old.clone(), odd.clone(), new.clone()]);
        let (_dir, build) = with_queue(text.as_bytes());
        let report = prune(&build).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(report.removed.len(), 1);
        assert_eq!(report.removed[0].label, "old");
        assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
        assert!(
            report.skipped[0].reason.contains("recursion limit"),
            "{:?}",
            report.skipped
        );
        assert!(
            std::fs::read_to_string(build.queue_file()).expect("read")
                == queue_of(&[odd, new.clone()])
        );
    }
}

#[test]
fn duplicate_keys_are_read_as_jq_reads_them_the_last_one_wins() {
    let cases = [
        // Status written twice: the last says pending, so it stays.
        (
            format!(
                r#"    {{"id": "a", "status": "completed", "status": "pending", "updated_at": "{OLD}"}}"#
            ),
            true,
        ),
        (
            format!(
                r#"    {{"id": "b", "status": "pending", "status": "failed", "updated_at": "{OLD}"}}"#
            ),
            false,
        ),
        // An old time overridden by a new one.
        (
            format!(
                r#"    {{"id": "c", "status": "failed", "updated_at": "{OLD}", "updated_at": "{NEW}"}}"#
            ),
            true,
        ),
        (
            format!(
                r#"    {{"id": "d", "id": "d2", "status": "conflict", "updated_at": "{OLD}"}}"#
            ),
            false,
        ),
    ];
    let entries: Vec<String> = cases.iter().map(|(e, _)| e.clone()).collect();
    let kept: Vec<String> = cases
        .iter()
        .filter(|(_, k)| *k)
        .map(|(e, _)| e.clone())
        .collect();
    // Duplicate top-level keys other than `entries` are not ours: kept as they are.
    let text = queue_of(&entries).replacen("\"version\": 1,", "\"version\": 1, \"version\": 2,", 1);
    let expected =
        queue_of(&kept).replacen("\"version\": 1,", "\"version\": 1, \"version\": 2,", 1);
    let (_dir, build) = with_queue(text.as_bytes());
    let report = prune(&build).expect("prune");
    let labels: Vec<_> = report.removed.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(labels, ["b", "d2"]);
    assert!(std::fs::read_to_string(build.queue_file()).expect("read") == expected);
}

#[test]
fn entries_of_the_wrong_type_and_odd_numbers_are_kept_byte_for_byte() {
    let old = entry("old", "completed", OLD);
    let odd = [
        "    42".to_owned(),
        "    -0.0e-0".to_owned(),
        "    true".to_owned(),
        "    null".to_owned(),
        r#"    "a string entry \u0000 with a NUL escape""#.to_owned(),
        "    [\"status\", \"completed\"]".to_owned(),
        "    {}".to_owned(),
        format!(r#"    {{"id": 7, "status": ["completed"], "updated_at": "{OLD}"}}"#),
        r#"    {"id": "num", "status": "completed", "updated_at": 1e999999}"#.to_owned(),
        format!(
            r#"    {{"id": "big", "status": "pending", "n": 123456789012345678901234567890, "updated_at": "{OLD}"}}"#
        ),
        format!(r#"    {{"id": "nul\u0000id", "status": "completed", "updated_at": "{NEW}"}}"#),
    ];
    let mut entries = vec![old.clone()];
    entries.extend(odd.iter().cloned());
    entries.push(old.replace("\"old\"", "\"old2\""));
    let text = queue_of(&entries);
    let (_dir, build) = with_queue(text.as_bytes());
    let report = prune(&build).expect("prune");
    let labels: Vec<_> = report.removed.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(labels, ["old", "old2"]);
    assert!(
        std::fs::read_to_string(build.queue_file()).expect("read") == queue_of(&odd),
        "only the two expired entries may go"
    );
    let reasons: Vec<_> = report.skipped.iter().map(|s| s.reason.as_str()).collect();
    // Non-objects, and the one whose time is not a time, are reported.
    assert!(
        reasons
            .iter()
            .filter(|r| r.contains("not an object"))
            .count()
            == 6,
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("unreadable entry") || r.contains("not a timestamp")),
        "{reasons:?}"
    );
}

#[test]
fn files_that_are_not_a_queue_at_all_are_refused_untouched() {
    assert_corrupt_and_untouched(
        format!("\u{feff}{}", queue_of(&[entry("a", "completed", OLD)])).as_bytes(),
        "line 1 column 1",
    );
    assert_corrupt_and_untouched(b"\0\0\0\0", "line 1 column 1");
    assert_corrupt_and_untouched(&[b' '; 1 << 20], "EOF while parsing");
    assert_corrupt_and_untouched(
        format!("{}\0", queue_of(&[entry("a", "completed", OLD)])).as_bytes(),
        "trailing characters",
    );

    // A directory or a FIFO where queue.json belongs: refused, and no hang.
    for kind in ["dir", "fifo"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let build = BuildDir::new(dir.path());
        std::fs::create_dir_all(build.mergeq_dir()).expect("mergeq");
        if kind == "dir" {
            std::fs::create_dir(build.queue_file()).expect("dir");
        } else {
            mkfifo(&build.queue_file()).expect("fifo");
        }
        match prune(&build) {
            Err(PruneError::CorruptQueue { message, .. }) => {
                assert!(message.contains("not a regular file"), "{kind}: {message}");
            }
            other => panic!("{kind}: {other:?}"),
        }
    }
}
