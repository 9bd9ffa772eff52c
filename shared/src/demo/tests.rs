//! The generator against the contract: the tree v0 leaves behind, counts that
//! match an independent reading of the rules (and the engine's dry run), and
//! byte-identical output for a seed.

use std::collections::BTreeMap;

use serde_json::Value;

use super::*;
use crate::prune::{self, RunOptions, ignore_events};

const NOW: &str = "2026-11-28T12:00:00Z";

fn now() -> Timestamp {
    NOW.parse().expect("time")
}

fn spec() -> DemoSpec {
    DemoSpec {
        now: now(),
        ..DemoSpec::default()
    }
}

fn cutoff() -> Timestamp {
    "2026-11-28T06:00:00Z".parse().expect("time")
}

/// The contract's timestamp, read without the engine: `[` + a real instant + `]`.
fn stamp(line: &str) -> Option<Timestamp> {
    let text = line.strip_prefix('[')?.get(..21)?;
    let (text, rest) = text.split_at(20);
    if rest != "]" || !text.ends_with('Z') || text.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    text.parse().ok()
}

/// (timestamped lines, expired ones, lines removed) by the contract's rule.
fn model(text: &str) -> (u64, u64, u64) {
    let (mut entries, mut expired, mut removed) = (0, 0, 0);
    let mut dropping = false;
    for line in text.lines() {
        if let Some(at) = stamp(line) {
            entries += 1;
            dropping = at < cutoff();
            expired += u64::from(dropping);
        }
        removed += u64::from(dropping);
    }
    (entries, expired, removed)
}

/// Every file under `root`, by relative path.
fn files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir").flatten() {
            let path = entry.path();
            if entry.file_type().expect("type").is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(root).expect("inside").to_path_buf();
                found.insert(rel, std::fs::read(&path).expect("read"));
            }
        }
    }
    found
}

fn read(build: &BuildDir, rel: &str) -> String {
    std::fs::read_to_string(build.root().join(rel)).unwrap_or_else(|err| panic!("{rel}: {err}"))
}

#[test]
fn the_tree_has_what_v0_leaves_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let project = generate(&dir.path().join("demo"), &spec()).expect("generate");
    let rc = std::fs::read_to_string(project.root.join(".v0.rc")).expect("rc");
    assert!(rc.contains("PROJECT=\"demo\"\n") && rc.contains("ISSUE_PREFIX=\"demo\"\n"));
    // v0's discovery finds the build directory at its default place.
    let found = crate::config::discover_with(&|_| None, &project.root, None).expect("discover");
    assert_eq!(found.build_dir.root(), project.root.join(".v0/build"));
    assert_eq!(found.build_dir, project.build_dir);

    let build = &project.build_dir;
    let all = files(build.root());
    let logs: Vec<String> = all
        .keys()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .map(|p| p.display().to_string())
        .collect();
    assert_eq!(
        logs.len(),
        9,
        "8 timestamped logs and one without: {logs:?}"
    );
    assert_eq!(project.expected.log_files, 9);
    for rel in [
        "logs/mergeq.log",
        "logs/nudge.log",
        "operations/init-0/logs/worker.log",
        "operations/planned-0/logs/worker.log",
        "operations/init-0/logs/events.log",
        "mergeq/logs/feature-demo-0.log",
        "mergeq/logs/feature-demo-1.log",
        UNTIMESTAMPED_LOG,
    ] {
        assert!(logs.iter().any(|l| l == rel), "{rel} in {logs:?}");
    }
    for daemon in ["logs/mergeq.log", "logs/nudge.log"] {
        assert!(read(build, daemon).starts_with("nohup: ignoring input\n[2026-"));
    }
    let worker = read(build, "operations/init-0/logs/worker.log");
    assert!(worker.starts_with('['), "no head line in a worker log");
    assert!(
        worker.lines().any(|l| !l.is_empty() && stamp(l).is_none()),
        "multi-line entries exist"
    );
    let merge = read(build, "mergeq/logs/feature-demo-0.log");
    assert!(
        merge.lines().any(|l| l.starts_with("[main ")),
        "git output starting with '[' is a continuation, not an entry"
    );
    assert!(
        read(build, UNTIMESTAMPED_LOG)
            .lines()
            .all(|l| stamp(l).is_none())
    );

    for phase in PHASES {
        let name = format!("{}-0", phase.replace('_', "-"));
        let state: Value =
            serde_json::from_str(&read(build, &format!("operations/{name}/state.json")))
                .expect("state json");
        assert_eq!(state["name"], name.as_str());
        assert_eq!(state["phase"], phase);
        assert!(state["tmux_session"].is_string() && state["machine"].is_string());
        assert!(
            state["created_at"]
                .as_str()
                .and_then(|t| t.parse::<Timestamp>().ok())
                .is_some()
        );
    }
    assert_eq!(
        project.expected.finished_operations,
        ["cancelled-0", "completed-0", "merged-0"],
        "pending_merge-0 is not merged in the default demo"
    );
}

#[test]
fn the_queue_is_written_as_v0_writes_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let project = generate(dir.path(), &spec()).expect("generate");
    let text = read(&project.build_dir, "mergeq/queue.json");
    assert!(
        text.starts_with("{\n  \"version\": 1,\n  \"entries\": [\n    {\n      \"id\": \"mq-0000\",\n      \"operation\": "),
        "jq layout and v0's key order:\n{}",
        &text[..200]
    );
    assert!(text.ends_with("}\n  ]\n}\n"));
    let queue: Value = serde_json::from_str(&text).expect("json");
    let entries = queue["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 40);
    let time = |e: &Value, key: &str| {
        e[key]
            .as_str()
            .map(|t| t.parse::<Timestamp>().expect("iso"))
    };
    let enqueued: Vec<Timestamp> = entries
        .iter()
        .map(|e| time(e, "enqueued_at").expect("enqueued"))
        .collect();
    assert!(enqueued.windows(2).all(|w| w[0] <= w[1]), "oldest first");
    for status in STATUSES {
        let sides: Vec<bool> = entries
            .iter()
            .filter(|e| e["status"] == status)
            .map(|e| {
                time(e, "updated_at")
                    .or(time(e, "enqueued_at"))
                    .expect("time")
                    < cutoff()
            })
            .collect();
        assert!(
            sides.contains(&true) && sides.contains(&false),
            "{status}: {sides:?}"
        );
    }
    assert!(entries.iter().any(|e| e.get("updated_at").is_none()));
    assert!(entries.iter().any(|e| e.get("x_demo").is_some()));
    let removed = entries
        .iter()
        .filter(|e| {
            matches!(
                e["status"].as_str(),
                Some("completed" | "failed" | "conflict")
            ) && time(e, "updated_at")
                .or(time(e, "enqueued_at"))
                .expect("time")
                < cutoff()
        })
        .count();
    assert_eq!(project.expected.queue_entries_removed, removed);
    assert!(removed > 0 && removed < entries.len());
}

#[test]
fn a_log_has_the_requested_share_of_expired_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (fraction, lines) in [(0.5, 1000), (0.3, 1000), (0.0, 50), (1.0, 50)] {
        let path = dir.path().join(format!("x-{fraction}.log"));
        write_log(&path, now(), lines, fraction, 1).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        let (entries, expired, _) = model(&text);
        assert_eq!(entries, lines as u64);
        assert_eq!(expired, (lines as f64 * fraction) as u64, "{fraction}");
        let stamps: Vec<Timestamp> = text.lines().filter_map(stamp).collect();
        assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "chronological");
        assert!(stamps.iter().all(|t| *t <= now()), "none in the future");
    }
}

#[test]
fn log_stats_match_the_contract_rule() {
    let dir = tempfile::tempdir().expect("tempdir");
    for kind in [
        LogKind::Daemon,
        LogKind::Worker,
        LogKind::Merge,
        LogKind::Events,
    ] {
        let path = dir.path().join(format!("{kind:?}.log"));
        let spec = LogSpec {
            now: now(),
            retention: Duration::from_secs(6 * 3600),
            lines: 500,
            expired_fraction: 0.4,
            seed: 3,
            kind,
        };
        let stats = write_log_spec(&path, &spec).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        let (entries, expired, removed) = model(&text);
        assert_eq!(
            (stats.entries, stats.expired_entries),
            (entries, expired),
            "{kind:?}"
        );
        assert_eq!(stats.expired_entries, 200);
        assert_eq!(stats.lines_removed, removed, "{kind:?}");
        assert_eq!(stats.bytes, text.len() as u64);
        if kind != LogKind::Events {
            assert!(
                stats.lines_removed > stats.expired_entries,
                "{kind:?} has continuations"
            );
        }
    }
}

#[test]
fn expected_counts_agree_with_the_engine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = DemoSpec {
        logs: 13,
        lines_per_log: 300,
        expired_fraction: 0.7,
        queue_entries: 57,
        operations_per_phase: 2,
        ..spec()
    };
    let project = generate(dir.path(), &spec).expect("generate");
    let options = RunOptions {
        cutoff: Cutoff::before(spec.now, spec.retention),
        dry_run: true,
    };
    let report = prune::run(&project.build_dir, &options, &mut ignore_events).expect("run");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.logs.skipped.is_empty() && report.queue.skipped.is_empty());
    let expected = &project.expected;
    assert_eq!(report.logs.files_examined, expected.log_files as u64);
    assert_eq!(report.logs.lines_removed, expected.log_lines_removed);
    assert_eq!(report.logs.bytes_reclaimed(), expected.log_bytes_removed);
    assert_eq!(report.queue.removed.len(), expected.queue_entries_removed);
    // Roughly the requested share of the log bytes goes.
    let total: u64 = files(project.build_dir.root())
        .iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "log"))
        .map(|(_, b)| b.len() as u64)
        .sum();
    let share = expected.log_bytes_removed as f64 / total as f64;
    assert!((0.6..0.8).contains(&share), "{share}");

    let request = prune::operations::OperationsRequest {
        selection: prune::operations::Selection::Finished,
        dry_run: true,
        force: false,
    };
    let ops = prune::operations::prune(
        &project.build_dir,
        &request,
        &mut |_| false,
        &mut ignore_events,
    )
    .expect("operations");
    let mut pruned: Vec<String> = ops.pruned.into_iter().map(|p| p.name).collect();
    pruned.sort();
    assert_eq!(pruned, expected.finished_operations);
    assert!(ops.skipped.is_empty(), "{:?}", ops.skipped);
    assert_eq!(ops.examined, (PHASES.len() * 2) as u64);
}

#[test]
fn the_same_seed_gives_the_same_bytes() {
    let (a, b, c) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    generate(a.path(), &spec()).expect("generate");
    generate(b.path(), &spec()).expect("generate");
    let (first, second) = (files(a.path()), files(b.path()));
    assert!(first.len() > 20);
    assert_eq!(first, second);
    generate(c.path(), &DemoSpec { seed: 8, ..spec() }).expect("generate");
    let other = files(c.path());
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        other.keys().collect::<Vec<_>>()
    );
    assert_ne!(first, other, "another seed, other data");
}

#[test]
fn an_empty_spec_still_makes_a_valid_project() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = DemoSpec {
        logs: 0,
        lines_per_log: 0,
        queue_entries: 0,
        operations_per_phase: 0,
        ..spec()
    };
    let project = generate(dir.path(), &spec).expect("generate");
    let queue = read(&project.build_dir, "mergeq/queue.json");
    assert_eq!(queue, "{\n  \"version\": 1,\n  \"entries\": []\n}\n");
    assert_eq!(project.expected.log_files, 1);
    assert_eq!(
        project.expected,
        Expected {
            log_files: 1,
            ..Expected::default()
        }
    );
    // Logs still have somewhere to go without operations.
    let spec = DemoSpec {
        logs: 4,
        lines_per_log: 3,
        ..spec
    };
    let project = generate(dir.path(), &spec).expect("generate");
    assert!(project.build_dir.logs_dir().join("worker.log").is_file());
    assert!(project.build_dir.logs_dir().join("events.log").is_file());
}

#[test]
fn fresh_lines_go_to_the_daemon_logs_and_are_current() {
    let dir = tempfile::tempdir().expect("tempdir");
    let project = generate(dir.path(), &spec()).expect("generate");
    let build = &project.build_dir;
    let before = files(build.root());
    let later = now()
        .checked_add(SignedDuration::from_secs(60))
        .expect("time");
    let written = append_fresh_lines(build, later, 10).expect("append");
    let after = files(build.root());
    let grown: u64 = after
        .iter()
        .map(|(p, b)| b.len() as u64 - before.get(p).map_or(0, |b| b.len() as u64))
        .sum();
    assert_eq!(written, grown);
    let changed: Vec<&PathBuf> = after
        .keys()
        .filter(|p| before.get(*p) != after.get(*p))
        .collect();
    assert_eq!(
        changed,
        [Path::new("logs/mergeq.log"), Path::new("logs/nudge.log")]
    );
    for path in changed {
        let old = &before[path];
        assert!(after[path].starts_with(old), "appended, not rewritten");
        let tail = std::str::from_utf8(&after[path][old.len()..]).expect("utf8");
        let stamped: Vec<Timestamp> = tail.lines().filter_map(stamp).collect();
        assert_eq!(stamped.len(), 5);
        assert!(stamped.iter().all(|t| *t == later));
    }
    assert_eq!(
        before[Path::new(UNTIMESTAMPED_LOG)],
        after[Path::new(UNTIMESTAMPED_LOG)]
    );
}
