//! Nothing is lost: real writer processes append to a log while we prune it.
//!
//! The writers are this test binary re-run for the test alone, in the
//! writer's part (`v0_prune_testkit::child`; see [`writer`]), so each is a
//! separate process holding its own file descriptor exactly as v0's daemons
//! and `echo >>` do.

mod support;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use jiff::Timestamp;
use support::one_at_a_time;
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::platform::{self, Access};
use v0_prune_shared::prune::{Cutoff, LogMethod, RunOptions, ignore_events, logs};
use v0_prune_testkit::{PATIENCE, child, wait_until, wait_until_held};

/// Lines per fake second: timestamps advance slower than line numbers.
const LINES_PER_SECOND: u64 = 20;
const BASE: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

fn stamp(line: u64) -> String {
    let ts = Timestamp::from_second(BASE + (line / LINES_PER_SECOND) as i64).expect("valid time");
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn line(n: u64) -> String {
    format!(
        "[{}] writer line {n:08} {}\n",
        stamp(n),
        "x".repeat((n % 37) as usize)
    )
}

/// The part a re-run of a test plays: the writer, whose way of writing
/// `V0_PRUNE_TEST_WRITER` names.
const WRITER: &str = "writer";

/// The writer child: writes `V0_PRUNE_TEST_LINES` lines to
/// `V0_PRUNE_TEST_LOG` the way `V0_PRUNE_TEST_WRITER` says.
fn writer() {
    let mode = std::env::var("V0_PRUNE_TEST_WRITER").expect("writer mode");
    let path = PathBuf::from(std::env::var("V0_PRUNE_TEST_LOG").expect("log path"));
    let count: u64 = std::env::var("V0_PRUNE_TEST_LINES")
        .expect("count")
        .parse()
        .expect("number");
    match mode.as_str() {
        "append" => {
            let mut file = OpenOptions::new()
                .append(true)
                .create(true)
                .open(&path)
                .expect("open");
            for n in 0..count {
                file.write_all(line(n).as_bytes()).expect("write");
            }
        }
        "open-append-close" => {
            for n in 0..count {
                let mut file = OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(&path)
                    .expect("open");
                file.write_all(line(n).as_bytes()).expect("write");
            }
        }
        "positional" => {
            // Writes at its own offset, a line every millisecond, until it
            // has written `count` lines and the parent is done with it (a
            // stop file), so it holds the file through every prune.
            let stop = PathBuf::from(std::env::var("V0_PRUNE_TEST_STOP").expect("stop path"));
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .expect("open");
            // Bounded, so an orphan (the parent died) does not run forever.
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            let mut n = 0;
            while (n < count || !stop.exists()) && std::time::Instant::now() < deadline {
                file.write_all(line(n).as_bytes()).expect("write");
                n += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        other => panic!("unknown writer mode {other}"),
    }
}

/// The file whose creation tells a positional writer to stop.
fn stop_file(log: &Path) -> PathBuf {
    log.with_extension("stop")
}

/// Starts a writer child: `test` (the calling test's name) re-run as it.
fn spawn_writer(test: &str, mode: &str, path: &Path, lines: u64) -> Child {
    child::command(test, WRITER)
        .env("V0_PRUNE_TEST_WRITER", mode)
        .env("V0_PRUNE_TEST_LOG", path)
        .env("V0_PRUNE_TEST_LINES", lines.to_string())
        .env("V0_PRUNE_TEST_STOP", stop_file(path))
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn writer")
}

fn cutoff_at_line(n: u64) -> Cutoff {
    Cutoff::at(Timestamp::from_second(BASE + (n / LINES_PER_SECOND) as i64).expect("valid"))
}

/// Asserts the log holds complete writer lines in strictly increasing order,
/// each exactly once, with every line at or after `first_required` present.
/// Without leases (macOS, the portable build) lines a writer put into the old
/// file during a rename may land after its first lines in the new one: then
/// only "each exactly once, none lost" is required, not the order.
fn assert_nothing_lost(path: &Path, total: u64, first_required: u64) {
    let bytes = std::fs::read(path).expect("read log");
    assert!(!bytes.contains(&0), "the log contains NUL bytes");
    let text = String::from_utf8(bytes).expect("utf-8");
    let mut numbers = Vec::new();
    for l in text.lines() {
        if l.contains("v0-prune:") {
            continue; // the in-place padding line, stamped with an expired time
        }
        let n: u64 = l
            .split("writer line ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("not a writer line: {l:?}"));
        assert_eq!(format!("{l}\n"), line(n), "line {n} is damaged");
        numbers.push(n);
    }
    if !platform::LEASES_AVAILABLE {
        numbers.sort_unstable();
    }
    for pair in numbers.windows(2) {
        assert!(
            pair[0] < pair[1],
            "lines out of order or duplicated: {} then {}",
            pair[0],
            pair[1]
        );
    }
    let required: Vec<u64> = numbers
        .iter()
        .copied()
        .filter(|&n| n >= first_required)
        .collect();
    let expected: Vec<u64> = (first_required..total).collect();
    assert_eq!(
        required.len(),
        expected.len(),
        "lines newer than the cutoff were lost"
    );
    assert_eq!(required, expected);
}

/// What the prunes during a writer's run did.
struct Seen {
    /// How each file was pruned while the writer ran.
    methods: Vec<LogMethod>,
    /// Prunes that skipped the file because nothing here can cut it in place
    /// (no collapse-range: macOS, the portable build, tmpfs).
    skipped_no_collapse: usize,
}

/// Runs `prunes` back-to-back prunes while the writer writes `total` lines,
/// moving the cutoff so each prune has expired lines to remove.
fn prune_while_writing(
    test: &str,
    mode: &str,
    total: u64,
    prunes: u64,
) -> (Seen, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let build = BuildDir::new(dir.path());
    let path = dir.path().join("logs").join("writer.log");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, b"").expect("create");
    let mut writer = spawn_writer(test, mode, &path, total);
    let mut seen = Seen {
        methods: Vec::new(),
        skipped_no_collapse: 0,
    };
    let final_cutoff_line = total / 2;
    for k in 1..=prunes {
        let options = RunOptions {
            cutoff: cutoff_at_line(final_cutoff_line * k / prunes),
            dry_run: false,
        };
        let report = logs::prune_all(&build, &options, &mut ignore_events).expect("prune");
        // Where a held file cannot be cut in place, it is skipped with that reason.
        let (no_collapse, other): (Vec<_>, Vec<_>) = report
            .skipped
            .iter()
            .partition(|s| s.reason.contains(platform::WHY_NO_COLLAPSE));
        assert!(other.is_empty(), "unexpected skip: {other:?}");
        seen.skipped_no_collapse += no_collapse.len();
        // Only prunes during which the writer held the file tell how held
        // files are pruned; after it exits the file is nobody's.
        if writer.try_wait().expect("writer status").is_none() {
            seen.methods.extend(report.pruned.iter().map(|p| p.method));
        }
    }
    let status = writer.wait().expect("writer");
    assert!(status.success(), "writer failed");
    // One more prune after the writer finished, at the final cutoff.
    let options = RunOptions {
        cutoff: cutoff_at_line(final_cutoff_line),
        dry_run: false,
    };
    let last = logs::prune_all(&build, &options, &mut ignore_events).expect("prune");
    assert!(
        last.skipped.is_empty(),
        "nobody holds it now: {:?}",
        last.skipped
    );
    (seen, path, dir)
}

#[test]
fn an_o_append_writer_loses_nothing_during_50_prunes() {
    if child::role() == Some(WRITER) {
        return writer();
    }
    let _serial = one_at_a_time();
    let total = 600_000;
    let (seen, path, _dir) = prune_while_writing(
        "an_o_append_writer_loses_nothing_during_50_prunes",
        "append",
        total,
        50,
    );
    let methods = &seen.methods;
    let collapse = platform::supports_collapse(&std::fs::File::open(&path).expect("open"));
    if collapse {
        assert!(
            methods.contains(&LogMethod::InPlace),
            "the held file must be pruned in place: {methods:?}"
        );
    } else {
        // macOS, the portable build: skipped with the reason while held.
        assert!(
            seen.skipped_no_collapse > 0,
            "the held file must be skipped with the no-collapse reason"
        );
        assert!(!methods.contains(&LogMethod::InPlace), "{methods:?}");
    }
    assert!(
        !methods.contains(&LogMethod::Rewrite),
        "a held file must never be renamed away: {methods:?}"
    );
    assert_nothing_lost(&path, total, total / 2);
}

#[test]
fn an_open_append_close_writer_loses_nothing_during_50_prunes() {
    if child::role() == Some(WRITER) {
        return writer();
    }
    let _serial = one_at_a_time();
    let total = 150_000;
    let (seen, path, _dir) = prune_while_writing(
        "an_open_append_close_writer_loses_nothing_during_50_prunes",
        "open-append-close",
        total,
        50,
    );
    let methods = &seen.methods;
    // The holder scan sometimes catches the writer between its open and its
    // close (then the collapse path runs, which is safe too, or without
    // collapse the file is skipped that time); most prunes find the file
    // unheld. Under 1 MiB (this file, mostly) it is rewritten and renamed
    // (under a lease on Linux, with the drain fallback without leases);
    // larger, where ranges collapse, its expired head is cut in place under
    // a write lease (the writer's next open waits for us).
    assert!(
        methods
            .iter()
            .any(|m| matches!(m, LogMethod::Rewrite | LogMethod::InPlaceUnheld)),
        "expected prunes of the unheld file while the writer ran: {methods:?}"
    );
    assert_nothing_lost(&path, total, total / 2);
}

/// A positional writer, writing all the while: five prunes skip its log,
/// each naming its pid and the reason, and the file never shrinks.
#[test]
fn a_positional_writer_is_skipped_with_its_reason() {
    if child::role() == Some(WRITER) {
        return writer();
    }
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().expect("tempdir");
    let build = BuildDir::new(dir.path());
    let path = dir.path().join("worker.log");
    let stop = stop_file(&path);
    std::fs::write(&path, b"").expect("create");
    let mut writer = spawn_writer(
        "a_positional_writer_is_skipped_with_its_reason",
        "positional",
        &path,
        100,
    );
    writer_holds(&mut writer, &path, &stop);
    let pid = writer.id();
    let options = RunOptions {
        cutoff: cutoff_at_line(1_000_000),
        dry_run: false,
    };
    for prune in 0..5 {
        // It has written lines, all expired at this cutoff, since the last prune.
        let before = std::fs::metadata(&path).expect("meta").len();
        assert!(
            wait_until(PATIENCE, || std::fs::metadata(&path)
                .is_ok_and(|meta| meta.len() > before)),
            "the writer stopped writing"
        );
        let before = std::fs::metadata(&path).expect("meta").len();
        let report = logs::prune_all(&build, &options, &mut ignore_events).expect("prune");
        assert!(
            writer.try_wait().expect("writer status").is_none(),
            "prune {prune}: the writer must hold the file throughout"
        );
        assert!(
            report.pruned.is_empty(),
            "prune {prune}: {:?}",
            report.pruned
        );
        assert_eq!(
            report.skipped.len(),
            1,
            "prune {prune}: {:?}",
            report.skipped
        );
        let reason = &report.skipped[0].reason;
        assert!(
            reason.contains(&format!("without O_APPEND by pid {pid} ")),
            "prune {prune}: {reason}"
        );
        assert!(
            std::fs::metadata(&path).expect("meta").len() >= before,
            "prune {prune}: the file must not shrink"
        );
    }
    std::fs::write(&stop, b"").expect("stop file");
    let status = writer.wait().expect("writer");
    assert!(status.success(), "the writer failed: {status}");
    // Every line it wrote is there once, in order, whole: nothing was cut.
    let written = std::fs::read_to_string(&path).expect("read");
    let lines = written.lines().count() as u64;
    assert!(lines >= 100, "{lines} lines");
    assert_eq!(written, (0..lines).map(line).collect::<String>());
}

/// Waits until the writer child holds `path` open for writing at its own
/// offset, as the engine's holder scan sees it; on failure, stops it.
fn writer_holds(writer: &mut Child, path: &Path, stop: &Path) {
    let held = wait_until_held(path, writer.id(), Access::Positional);
    if !held {
        let _ = std::fs::write(stop, b"");
        let _ = writer.kill();
        let _ = writer.wait();
        panic!("the writer never held {}", path.display());
    }
}
