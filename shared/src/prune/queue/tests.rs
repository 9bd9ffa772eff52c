//! The merge-queue job on real files: bytes kept, bad queues untouched, the
//! lock honoured, and concurrent writers never lose an entry.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

use super::*;
use crate::prune::{Cutoff, RemovedEntry, ignore_events};

const OLD: &str = "2026-11-28T01:00:00Z";
const FRESH: &str = "2026-11-28T11:00:00Z";

fn cutoff() -> Cutoff {
    Cutoff::at("2026-11-28T06:00:00Z".parse().expect("valid"))
}

fn options(dry_run: bool) -> RunOptions {
    RunOptions {
        cutoff: cutoff(),
        dry_run,
    }
}

/// A build directory whose queue.json holds `text` exactly.
fn queue_with(text: &[u8]) -> (TempDir, BuildDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let build = BuildDir::new(dir.path());
    fs::create_dir_all(build.mergeq_dir()).expect("mergeq dir");
    fs::write(build.queue_file(), text).expect("write queue");
    (dir, build)
}

fn short_tuning() -> Tuning {
    Tuning {
        lock_wait: Duration::from_millis(200),
        ..Tuning::default()
    }
}

fn run(
    build: &BuildDir,
    options: &RunOptions,
) -> (Result<QueueReport, PruneError>, Vec<PruneEvent>) {
    run_tuned(build, options, &mut short_tuning())
}

fn run_tuned(
    build: &BuildDir,
    options: &RunOptions,
    tuning: &mut Tuning,
) -> (Result<QueueReport, PruneError>, Vec<PruneEvent>) {
    let mut seen = Vec::new();
    let result = prune_with(
        build,
        options,
        &mut |event| seen.push(event.clone()),
        tuning,
    );
    (result, seen)
}

/// Every file in mergeq/ but queue.json: locks and temp files we must not leave.
fn litter(build: &BuildDir) -> Vec<PathBuf> {
    fs::read_dir(build.mergeq_dir())
        .expect("list mergeq")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.file_name() != Some("queue.json".as_ref()))
        .collect()
}

fn ids(path: &Path) -> Vec<String> {
    let queue: Value = serde_json::from_slice(&fs::read(path).expect("read")).expect("json");
    queue["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|entry| entry["id"].as_str().unwrap_or("?").to_string())
        .collect()
}

/// jq's layout (`jq .`), with fields, key orders and numbers v0 might use.
const PRETTY: &str = r#"{
  "version": 1,
  "entries": [
    {
      "id": "keep-1",
      "status": "pending",
      "priority": 1.50,
      "enqueued_at": "2026-11-28T01:00:00Z"
    },
    {
      "status": "completed",
      "id": "old-1",
      "updated_at": "2026-11-28T01:00:00Z"
    },
    {
      "zeta": [1e3, -0.0, "\u00e9"],
      "id": "keep-2",
      "status": "failed",
      "updated_at": "2026-11-28T11:00:00Z",
      "alpha": {"nested": null}
    },
    {
      "id": "old-2",
      "status": "conflict",
      "enqueued_at": "2026-11-28T01:00:00Z"
    }
  ],
  "paused": false,
  "note": "trailing fields survive"
}
"#;

#[test]
fn old_terminal_entries_go_and_every_other_byte_stays() {
    let (_dir, build) = queue_with(PRETTY.as_bytes());
    let (result, events) = run(&build, &options(false));
    let report = result.expect("pruned");
    let expected = r#"{
  "version": 1,
  "entries": [
    {
      "id": "keep-1",
      "status": "pending",
      "priority": 1.50,
      "enqueued_at": "2026-11-28T01:00:00Z"
    },
    {
      "zeta": [1e3, -0.0, "\u00e9"],
      "id": "keep-2",
      "status": "failed",
      "updated_at": "2026-11-28T11:00:00Z",
      "alpha": {"nested": null}
    }
  ],
  "paused": false,
  "note": "trailing fields survive"
}
"#;
    assert_eq!(
        fs::read_to_string(build.queue_file()).expect("read"),
        expected
    );
    assert_eq!(
        report.removed,
        vec![
            RemovedEntry {
                label: "old-1".into(),
                status: "completed".into()
            },
            RemovedEntry {
                label: "old-2".into(),
                status: "conflict".into()
            },
        ]
    );
    assert!(report.present);
    assert_eq!(report.entries_before, 4);
    assert_eq!(report.bytes_before, PRETTY.len() as u64);
    assert_eq!(report.bytes_after, expected.len() as u64);
    assert_eq!(report.retries, 0);
    assert!(
        litter(&build).is_empty(),
        "left behind: {:?}",
        litter(&build)
    );

    assert_eq!(
        events.first(),
        Some(&PruneEvent::JobStarted {
            job: Job::Queue,
            total: 4
        })
    );
    let pruned: Vec<(&str, &str)> = events
        .iter()
        .filter_map(|event| match event {
            PruneEvent::ItemPruned { item, detail, .. } => Some((item.as_str(), detail.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(pruned, vec![("old-1", "completed"), ("old-2", "conflict")]);
    assert_eq!(
        events.last(),
        Some(&PruneEvent::Progress {
            job: Job::Queue,
            done: 4,
            total: 4,
            bytes_reclaimed: (PRETTY.len() - expected.len()) as u64,
        })
    );
}

#[test]
fn removing_the_first_or_last_entries_keeps_the_layout_valid() {
    let compact = format!(
        r#"{{"version":1,"entries":[{{"id":"a","status":"failed"}},{{"id":"b","status":"pending"}},{{"id":"c","status":"completed","updated_at":"{OLD}"}}]}}"#
    );
    let (_dir, build) = queue_with(compact.as_bytes());
    run(&build, &options(false)).0.expect("pruned");
    assert_eq!(
        fs::read_to_string(build.queue_file()).expect("read"),
        r#"{"version":1,"entries":[{"id":"b","status":"pending"}]}"#
    );
}

#[test]
fn removing_every_entry_leaves_an_empty_array() {
    let text = "{\n  \"version\": 1,\n  \"entries\": [\n    {\n      \"id\": \"a\",\n      \"status\": \"failed\"\n    }\n  ]\n}\n";
    let (_dir, build) = queue_with(text.as_bytes());
    let report = run(&build, &options(false)).0.expect("pruned");
    assert_eq!(report.removed.len(), 1);
    assert_eq!(
        fs::read_to_string(build.queue_file()).expect("read"),
        "{\n  \"version\": 1,\n  \"entries\": []\n}\n"
    );
}

#[test]
fn odd_entries_are_kept_byte_for_byte_and_reported() {
    let text = format!(
        "{{\"entries\": [\n  \"a string\",\n  {{\"id\": \"x\", \"status\": \"failed\", \"updated_at\": \"last tuesday\"}},\n  {{\"id\": \"y\", \"status\": \"failed\", \"updated_at\": \"{OLD}\"}}\n]}}"
    );
    let (_dir, build) = queue_with(text.as_bytes());
    let (result, events) = run(&build, &options(false));
    let report = result.expect("pruned");
    assert_eq!(
        fs::read_to_string(build.queue_file()).expect("read"),
        "{\"entries\": [\n  \"a string\",\n  {\"id\": \"x\", \"status\": \"failed\", \"updated_at\": \"last tuesday\"}\n]}"
    );
    let skipped: Vec<&str> = report.skipped.iter().map(|s| s.item.as_str()).collect();
    assert_eq!(skipped, vec!["#0", "x"]);
    assert!(report.skipped[1].reason.contains("last tuesday"));
    let skip_events = events
        .iter()
        .filter(|event| matches!(event, PruneEvent::ItemSkipped { .. }))
        .count();
    assert_eq!(skip_events, 2);
}

#[test]
fn nothing_to_remove_writes_nothing_and_takes_no_lock() {
    let text =
        format!(r#"{{"entries":[{{"id":"a","status":"completed","updated_at":"{FRESH}"}}]}}"#);
    let (_dir, build) = queue_with(text.as_bytes());
    // Held by a live pid: taking it would end in QueueLocked.
    let held = format!("mergeq (pid {})", std::process::id());
    fs::write(build.queue_lock(), &held).expect("lock");
    let before = fs::metadata(build.queue_file()).expect("stat");
    let report = run(&build, &options(false))
        .0
        .expect("pruned without the lock");
    let after = fs::metadata(build.queue_file()).expect("stat");
    assert_eq!(
        (before.ino(), before.mtime_nsec()),
        (after.ino(), after.mtime_nsec())
    );
    assert_eq!(report.bytes_before, report.bytes_after);
    assert!(report.removed.is_empty());
    assert_eq!(fs::read_to_string(build.queue_lock()).expect("lock"), held);
}

#[test]
fn a_dry_run_reports_without_the_lock_and_writes_nothing() {
    let (_dir, build) = queue_with(PRETTY.as_bytes());
    let held = format!("mergeq (pid {})", std::process::id());
    fs::write(build.queue_lock(), &held).expect("lock");
    let inode = fs::metadata(build.queue_file()).expect("stat").ino();
    let (result, events) = run(&build, &options(true));
    let report = result.expect("dry run");
    assert_eq!(report.removed.len(), 2);
    assert!(report.bytes_after < report.bytes_before);
    assert_eq!(
        fs::read_to_string(build.queue_file()).expect("read"),
        PRETTY
    );
    assert_eq!(fs::metadata(build.queue_file()).expect("stat").ino(), inode);
    assert_eq!(fs::read_to_string(build.queue_lock()).expect("lock"), held);
    assert_eq!(litter(&build), vec![build.queue_lock()]);
    let pruned = events
        .iter()
        .filter(|event| matches!(event, PruneEvent::ItemPruned { .. }))
        .count();
    assert_eq!(pruned, 2);
}

#[test]
fn a_missing_queue_or_mergeq_is_not_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let build = BuildDir::new(dir.path());
    let (result, events) = run(&build, &options(false));
    let report = result.expect("no mergeq");
    assert!(!report.present);
    assert!(!build.mergeq_dir().exists());
    assert_eq!(events.len(), 2);
    fs::create_dir(build.mergeq_dir()).expect("mergeq");
    let report = run(&build, &options(false)).0.expect("no queue.json");
    assert!(!report.present);
    assert!(litter(&build).is_empty());
}

#[test]
fn corrupt_queues_are_refused_with_a_position_and_left_untouched() {
    let cases: Vec<(&[u8], &str)> = vec![
        (
            br#"{"version":1,"entries":[{"id":"a","status":"failed""#,
            "line 1 column",
        ),
        (
            b"{\"entries\":[]}\n}garbage",
            "trailing characters at line 2 column 1",
        ),
        (
            b"{\"entries\":[{\"id\":\"\xff\xfe\",\"status\":\"failed\"}]}",
            "invalid UTF-8 at line 1 column 20",
        ),
        (
            br#"{"entries": 5}"#,
            "`entries` is a number, not an array, at line 1 column 13",
        ),
        (
            b"{\n  \"entries\": {\"a\": 1}\n}",
            "`entries` is an object, not an array, at line 2 column 14",
        ),
        (
            br#"[{"id":"a","status":"failed"}]"#,
            "expected a merge-queue object",
        ),
        (br#"{"version":1}"#, "no `entries` array"),
        (
            br#"{"entries":[],"entries":[{"status":"failed"}]}"#,
            "more than once",
        ),
        (b"", "EOF while parsing"),
    ];
    for dry_run in [false, true] {
        for (text, expected) in &cases {
            let (_dir, build) = queue_with(text);
            let (result, events) = run(&build, &options(dry_run));
            match result {
                Err(PruneError::CorruptQueue { path, message }) => {
                    assert!(message.contains(expected), "{message:?} lacks {expected:?}");
                    assert!(path.ends_with("mergeq/queue.json"), "{path}");
                }
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(text)),
            }
            assert_eq!(&fs::read(build.queue_file()).expect("read"), text);
            assert!(litter(&build).is_empty());
            assert!(events.is_empty());
        }
    }
}

#[test]
fn a_symlinked_queue_is_refused() {
    let (_dir, build) = queue_with(PRETTY.as_bytes());
    let real = build.mergeq_dir().join("real.json");
    fs::rename(build.queue_file(), &real).expect("move");
    std::os::unix::fs::symlink(&real, build.queue_file()).expect("symlink");
    let err = run(&build, &options(false)).0.expect_err("symlink");
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert_eq!(fs::read_to_string(&real).expect("read"), PRETTY);
    assert!(
        fs::symlink_metadata(build.queue_file())
            .expect("stat")
            .is_symlink()
    );
}

#[test]
fn a_live_lock_holder_makes_us_give_up_without_writing() {
    let (_dir, build) = queue_with(PRETTY.as_bytes());
    let held = format!("mergeq (pid {})\n", std::process::id());
    fs::write(build.queue_lock(), &held).expect("lock");
    let started = Instant::now();
    let err = run(&build, &options(false)).0.expect_err("locked");
    assert!(started.elapsed() >= Duration::from_millis(200));
    match err {
        PruneError::QueueLocked { holder, .. } => assert_eq!(holder, held.trim()),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        fs::read_to_string(build.queue_file()).expect("read"),
        PRETTY
    );
    assert_eq!(fs::read_to_string(build.queue_lock()).expect("lock"), held);
}

#[test]
fn a_stale_lock_is_taken_over_and_released() {
    let (_dir, build) = queue_with(PRETTY.as_bytes());
    let mut child = std::process::Command::new("true").spawn().expect("spawn");
    let dead = child.id();
    child.wait().expect("reap");
    fs::write(build.queue_lock(), format!("mergeq (pid {dead})\n")).expect("lock");
    let report = run(&build, &options(false)).0.expect("pruned");
    assert_eq!(report.removed.len(), 2);
    assert_eq!(ids(&build.queue_file()), vec!["keep-1", "keep-2"]);
    assert!(
        litter(&build).is_empty(),
        "left behind: {:?}",
        litter(&build)
    );
}

/// A pruner killed after its replace but before releasing the lock leaves
/// the lock and nothing to prune: the next run still clears it.
#[test]
fn a_stale_lock_goes_even_when_nothing_is_left_to_prune() {
    let text =
        format!(r#"{{"entries":[{{"id":"a","status":"completed","updated_at":"{FRESH}"}}]}}"#);
    let (_dir, build) = queue_with(text.as_bytes());
    let mut child = std::process::Command::new("true").spawn().expect("spawn");
    let dead = child.id();
    child.wait().expect("reap");
    fs::write(build.queue_lock(), format!("v0-prune (pid {dead})\n")).expect("lock");
    let temp = build
        .mergeq_dir()
        .join(format!("{TEMP_PREFIX}{dead}.0.tmp"));
    fs::write(&temp, b"half").expect("temp");
    let report = run(&build, &options(false)).0.expect("pruned");
    assert!(report.removed.is_empty());
    assert_eq!(fs::read_to_string(build.queue_file()).expect("read"), text);
    assert!(
        litter(&build).is_empty(),
        "left behind: {:?}",
        litter(&build)
    );
}

#[test]
fn permissions_are_kept_and_dead_pruners_temp_files_swept() {
    let (_dir, build) = queue_with(PRETTY.as_bytes());
    fs::set_permissions(build.queue_file(), fs::Permissions::from_mode(0o640)).expect("chmod");
    let mut child = std::process::Command::new("true").spawn().expect("spawn");
    let dead = child.id();
    child.wait().expect("reap");
    let leftover = build
        .mergeq_dir()
        .join(format!("{TEMP_PREFIX}{dead}.0.tmp"));
    fs::write(&leftover, "half a queue").expect("leftover");
    run(&build, &options(false)).0.expect("pruned");
    let mode = fs::metadata(build.queue_file())
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o640);
    assert!(
        litter(&build).is_empty(),
        "left behind: {:?}",
        litter(&build)
    );
}

/// Rewrites the queue like a writer that ignores `.queue.lock`: read, add, rename.
fn rogue_append(path: &Path, id: &str) {
    let entry = json!({"id": id, "status": "pending", "enqueued_at": FRESH});
    append_entry(path, entry, "rogue.tmp");
}

#[test]
fn a_writer_ignoring_the_lock_is_not_overwritten() {
    let (_dir, build) = queue_with(PRETTY.as_bytes());
    let path = build.queue_file();
    let mut tuning = short_tuning();
    let hook_path = path.clone();
    tuning.before_rename = Some(Box::new(move |attempt| {
        if attempt == 0 {
            rogue_append(&hook_path, "rogue-1");
        }
    }));
    let report = run_tuned(&build, &options(false), &mut tuning)
        .0
        .expect("pruned");
    assert_eq!(report.retries, 1);
    assert_eq!(report.entries_before, 5);
    assert_eq!(ids(&path), vec!["keep-1", "keep-2", "rogue-1"]);
    assert!(
        litter(&build).is_empty(),
        "left behind: {:?}",
        litter(&build)
    );
}

#[test]
fn an_in_place_change_that_keeps_size_and_mtime_is_still_seen() {
    let (_dir, build) = queue_with(PRETTY.as_bytes());
    let path = build.queue_file();
    let mut tuning = short_tuning();
    let hook_path = path.clone();
    tuning.before_rename = Some(Box::new(move |attempt| {
        if attempt == 0 {
            let mtime = fs::metadata(&hook_path)
                .expect("stat")
                .modified()
                .expect("mtime");
            let text = fs::read_to_string(&hook_path).expect("read");
            let changed = text.replacen("\"pending\"", "\"running\"", 1);
            let file = fs::OpenOptions::new()
                .write(true)
                .open(&hook_path)
                .expect("open");
            std::io::Write::write_all(&mut &file, changed.as_bytes()).expect("write");
            file.set_modified(mtime).expect("restore mtime");
        }
    }));
    let report = run_tuned(&build, &options(false), &mut tuning)
        .0
        .expect("pruned");
    assert_eq!(report.retries, 1);
    let text = fs::read_to_string(&path).expect("read");
    assert!(text.contains("\"running\""), "{text}");
    assert_eq!(ids(&path), vec!["keep-1", "keep-2"]);
}

#[test]
fn a_writer_that_never_stops_makes_us_give_up_cleanly() {
    let (_dir, build) = queue_with(PRETTY.as_bytes());
    let path = build.queue_file();
    let mut tuning = short_tuning();
    tuning.attempts = 3;
    let hook_path = path.clone();
    tuning.before_rename = Some(Box::new(move |attempt| {
        rogue_append(&hook_path, &format!("rogue-{attempt}"));
    }));
    let err = run_tuned(&build, &options(false), &mut tuning)
        .0
        .expect_err("gave up");
    assert!(
        matches!(err, PruneError::QueueKeptChanging { retries: 3, .. }),
        "{err:?}"
    );
    // The rogue's last version stands, with all its entries; nothing of ours is left.
    assert_eq!(
        ids(&path),
        vec![
            "keep-1", "old-1", "keep-2", "old-2", "rogue-0", "rogue-1", "rogue-2"
        ]
    );
    assert!(
        litter(&build).is_empty(),
        "left behind: {:?}",
        litter(&build)
    );
}

/// One v0 mergeq update: take `.queue.lock` as mergeq does, add an entry, release.
fn mergeq_append(build: &BuildDir, entry: Value) {
    let lock = build.queue_lock();
    loop {
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
        {
            Ok(file) => {
                std::io::Write::write_all(
                    &mut &file,
                    format!("mergeq (pid {})\n", std::process::id()).as_bytes(),
                )
                .expect("write lock");
                break;
            }
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                std::thread::sleep(Duration::from_micros(200));
            }
            Err(err) => panic!("mergeq lock: {err}"),
        }
    }
    append_entry(&build.queue_file(), entry, "mergeq.tmp");
    fs::remove_file(&lock).expect("release");
}

/// Reads the queue, adds `entry`, renames a rewritten copy over it: how v0 updates it.
fn append_entry(path: &Path, entry: Value, temp_extension: &str) {
    let mut queue: Value = serde_json::from_slice(&fs::read(path).expect("read")).expect("json");
    queue["entries"]
        .as_array_mut()
        .expect("entries")
        .push(entry);
    // mergeq takes its time between read and rename: the window the lock protects.
    std::thread::sleep(Duration::from_micros(300));
    let temp = path.with_extension(temp_extension);
    fs::write(&temp, serde_json::to_vec_pretty(&queue).expect("json")).expect("write");
    fs::rename(&temp, path).expect("rename");
}

#[test]
fn a_mergeq_writing_under_the_lock_never_loses_an_entry() {
    let mut initial = Vec::new();
    for i in 0..40 {
        initial
            .push(json!({"id": format!("init-old-{i}"), "status": "completed", "updated_at": OLD}));
        initial
            .push(json!({"id": format!("init-keep-{i}"), "status": "pending", "enqueued_at": OLD}));
    }
    let text = serde_json::to_vec_pretty(&json!({"version": 1, "entries": initial})).expect("json");
    let (_dir, build) = queue_with(&text);
    const WRITES: usize = 150;
    let writer = {
        let build = build.clone();
        std::thread::spawn(move || {
            for i in 0..WRITES {
                // Every other entry is already expired, so prune keeps finding work.
                let entry = if i % 2 == 0 {
                    json!({"id": format!("w-{i}"), "status": "pending", "enqueued_at": FRESH})
                } else {
                    json!({"id": format!("x-{i}"), "status": "failed", "updated_at": OLD})
                };
                mergeq_append(&build, entry);
                std::thread::sleep(Duration::from_micros(500));
            }
        })
    };
    let mut removed = 0;
    for _ in 0..50 {
        let report = prune(&build, &options(false), &mut ignore_events).expect("prune");
        removed += report.removed.len();
        std::thread::sleep(Duration::from_millis(1));
    }
    writer.join().expect("writer");
    removed += prune(&build, &options(false), &mut ignore_events)
        .expect("final prune")
        .removed
        .len();

    let ids = ids(&build.queue_file());
    let mut expected: Vec<String> = (0..40).map(|i| format!("init-keep-{i}")).collect();
    expected.extend((0..WRITES).step_by(2).map(|i| format!("w-{i}")));
    assert_eq!(
        ids, expected,
        "an entry was lost, duplicated or kept past its time"
    );
    assert_eq!(removed, 40 + WRITES / 2);
    assert!(
        litter(&build).is_empty(),
        "left behind: {:?}",
        litter(&build)
    );
}
