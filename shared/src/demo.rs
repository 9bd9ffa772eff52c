//! Realistic v0 projects on disk, for tests, benchmarks and the demo.
//!
//! [`generate`] lays out what v0 leaves behind in a build directory: daemon
//! logs started under nohup (with its head line), operation worker and event
//! logs, merge logs with git output, a log without timestamps, a jq-style
//! merge queue with every status on both sides of the cutoff, and operations
//! in every phase. Output is deterministic for a given spec (including `now`),
//! and [`DemoProject::expected`] says what a prune at `now - retention` must
//! remove, so tests can check the engine against it.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::paths::BuildDir;
use crate::prune::Cutoff;

mod logs;
pub use logs::{LogKind, LogSpec, LogStats, write_log, write_log_spec};

/// What demo project to build.
#[derive(Debug, Clone)]
pub struct DemoSpec {
    /// The moment the data is generated around.
    pub now: Timestamp,
    /// The retention the data is aged against.
    pub retention: Duration,
    /// Number of log files with timestamps (one more, without, is always written).
    pub logs: usize,
    /// Timestamped lines per log.
    pub lines_per_log: usize,
    /// Share of timestamped lines older than `now - retention`.
    pub expired_fraction: f64,
    /// Merge-queue entries.
    pub queue_entries: usize,
    /// Operations per phase.
    pub operations_per_phase: usize,
    /// Seed of the deterministic generator.
    pub seed: u64,
}

impl Default for DemoSpec {
    fn default() -> Self {
        Self {
            now: Timestamp::now(),
            retention: Duration::from_secs(6 * 3600),
            logs: 8,
            lines_per_log: 400,
            expired_fraction: 0.5,
            queue_entries: 40,
            operations_per_phase: 1,
            seed: 7,
        }
    }
}

/// A generated project.
#[derive(Debug, Clone)]
pub struct DemoProject {
    /// The directory holding `.v0.rc`.
    pub root: PathBuf,
    /// Its build directory (`.v0/build`).
    pub build_dir: BuildDir,
    /// What a prune at `now - retention` must find.
    pub expected: Expected,
}

/// What the contract's rules remove from a generated project, counted while
/// writing it, so a test can hold the engine to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    /// `*.log` files written (including the one without timestamps).
    pub log_files: usize,
    /// Log lines a prune removes: expired entries and their continuation lines.
    pub log_lines_removed: u64,
    /// Bytes those lines hold.
    pub log_bytes_removed: u64,
    /// Merge-queue entries a prune removes.
    pub queue_entries_removed: usize,
    /// Operations the default `v0 prune` removes, sorted.
    pub finished_operations: Vec<String>,
}

/// Every phase v0 knows.
pub const PHASES: [&str; 11] = [
    "init",
    "planned",
    "queued",
    "executing",
    "completed",
    "pending_merge",
    "merged",
    "failed",
    "conflict",
    "interrupted",
    "cancelled",
];

/// Every merge-queue status the demo writes.
pub const STATUSES: [&str; 5] = ["pending", "processing", "completed", "failed", "conflict"];

/// The log without a single timestamp, which a prune must leave alone.
pub const UNTIMESTAMPED_LOG: &str = "logs/setup.log";

/// v0's long-lived daemons, each logging to `logs/<name>.log` under nohup.
const DAEMONS: [&str; 3] = ["mergeq", "nudge", "monitor"];

/// A tiny deterministic generator (splitmix64): no dependency, stable output.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (0 when bound is 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// `[YYYY-MM-DDTHH:MM:SSZ] message\n`, v0's log line.
pub fn log_line(ts: Timestamp, message: &str) -> String {
    format!("[{}] {message}\n", iso(ts))
}

fn iso(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `now - secs`, in whole seconds as v0 writes them.
fn ago(now: Timestamp, secs: i64) -> Timestamp {
    let at = now
        .checked_sub(SignedDuration::from_secs(secs))
        .unwrap_or(now);
    Timestamp::from_second(at.as_second()).unwrap_or(at)
}

/// Builds a demo project in `dir` (created if needed).
pub fn generate(dir: &Path, spec: &DemoSpec) -> io::Result<DemoProject> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join(".v0.rc"),
        "# v0 project configuration (generated demo)\nPROJECT=\"demo\"\nISSUE_PREFIX=\"demo\"\n",
    )?;
    let build = BuildDir::new(dir.join(".v0").join("build"));
    std::fs::create_dir_all(build.root())?;
    let mut rng = SplitMix::new(spec.seed);
    let mut expected = Expected::default();
    let operations = write_operations(&build, spec, &mut rng)?;
    expected.finished_operations = operations
        .iter()
        .filter(|op| op.finished)
        .map(|op| op.name.clone())
        .collect();
    expected.finished_operations.sort();
    for i in 0..spec.logs {
        let (path, kind) = log_place(&build, &operations, i);
        let log = LogSpec {
            now: spec.now,
            retention: spec.retention,
            lines: spec.lines_per_log,
            expired_fraction: spec.expired_fraction,
            seed: rng.next_u64(),
            kind,
        };
        let stats = write_log_spec(&path, &log)?;
        expected.log_files += 1;
        expected.log_lines_removed += stats.lines_removed;
        expected.log_bytes_removed += stats.bytes_removed;
    }
    let setup = build.root().join(UNTIMESTAMPED_LOG);
    if let Some(parent) = setup.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(
        setup,
        "Cloning into '.v0/build/worktrees/demo'...\ndone.\nSetting up git hooks\n",
    )?;
    expected.log_files += 1;
    expected.queue_entries_removed = write_queue(&build, spec, &mut rng)?;
    Ok(DemoProject {
        root: dir.to_path_buf(),
        build_dir: build,
        expected,
    })
}

/// Where the `i`-th log goes: v0's places, in turn a daemon log, a worker
/// log, a merge log and an operation's event log.
fn log_place(build: &BuildDir, operations: &[DemoOperation], i: usize) -> (PathBuf, LogKind) {
    let k = i / 4;
    // Past the first round the names repeat, so they get a number.
    let numbered = |base: &str, round: usize| match round {
        0 => format!("{base}.log"),
        n => format!("{base}-{n}.log"),
    };
    let in_operation = |file: &str| match operations.len() {
        0 => build.logs_dir().join(numbered(file, k)),
        n => build
            .operations_dir()
            .join(&operations[k % n].name)
            .join("logs")
            .join(numbered(file, k / n)),
    };
    match i % 4 {
        0 => (
            build
                .logs_dir()
                .join(numbered(DAEMONS[k % DAEMONS.len()], k / DAEMONS.len())),
            LogKind::Daemon,
        ),
        1 => (in_operation("worker"), LogKind::Worker),
        2 => (
            build
                .mergeq_dir()
                .join("logs")
                .join(format!("feature-demo-{k}.log")),
            LogKind::Merge,
        ),
        _ => (in_operation("events"), LogKind::Events),
    }
}

/// A merge-queue entry with v0's field order (jq keeps insertion order).
#[derive(Serialize)]
struct QueueEntry {
    id: String,
    operation: String,
    branch: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    priority: Option<u64>,
    status: &'static str,
    enqueued_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_at: Option<String>,
    /// A field v0 may add one day: pruning must keep it as it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    x_demo: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct QueueFile {
    version: u32,
    entries: Vec<QueueEntry>,
}

/// Writes `mergeq/queue.json`; returns how many entries a prune removes.
fn write_queue(build: &BuildDir, spec: &DemoSpec, rng: &mut SplitMix) -> io::Result<usize> {
    std::fs::create_dir_all(build.mergeq_dir())?;
    let cutoff = Cutoff::before(spec.now, spec.retention);
    let retention = i64::try_from(spec.retention.as_secs()).unwrap_or(i64::MAX / 4);
    let mut drafts = Vec::with_capacity(spec.queue_entries);
    for i in 0..spec.queue_entries {
        let status = STATUSES[i % STATUSES.len()];
        // Alternate blocks of old and recent entries, so every status exists
        // on both sides of the cutoff.
        let old = (i / STATUSES.len()) % 2 == 0;
        let last_touched = if old {
            retention + 60 + rng.below(3600) as i64
        } else {
            rng.below(retention.max(2) as u64 / 2) as i64
        };
        // Enqueued a while before its last update (sometimes before the
        // cutoff while updated after it: kept, updated_at decides).
        let enqueued = last_touched + rng.below(2 * 3600) as i64;
        // Some entries were never updated: their enqueued_at decides.
        let updated = (i % 3 != 0).then(|| ago(spec.now, last_touched));
        drafts.push((enqueued, i, status, updated));
    }
    // v0 appends: the queue is in enqueue order, oldest first.
    drafts.sort_by_key(|(enqueued, i, ..)| (std::cmp::Reverse(*enqueued), *i));
    let mut removed = 0;
    let mut entries = Vec::with_capacity(drafts.len());
    for (n, (enqueued, i, status, updated)) in drafts.into_iter().enumerate() {
        let enqueued = ago(spec.now, enqueued);
        let decisive = updated.unwrap_or(enqueued);
        if matches!(status, "completed" | "failed" | "conflict") && cutoff.expires(decisive) {
            removed += 1;
        }
        entries.push(QueueEntry {
            id: format!("mq-{n:04}"),
            operation: format!("demo-{i}"),
            branch: format!("feature/demo-{i}"),
            priority: (i % 4 == 0).then_some((i % 3) as u64),
            status,
            enqueued_at: iso(enqueued),
            updated_at: updated.map(iso),
            x_demo: (i % 7 == 0).then(
                || serde_json::json!({ "note": "unknown fields are kept", "retries": i % 3 }),
            ),
        });
    }
    let queue = QueueFile {
        version: 1,
        entries,
    };
    // serde_json's pretty printer writes what `jq .` writes: two-space indent.
    let mut text = serde_json::to_string_pretty(&queue).map_err(io::Error::other)?;
    text.push('\n');
    std::fs::write(build.queue_file(), text)?;
    Ok(removed)
}

/// An operation's state.json with v0's fields.
#[derive(Serialize)]
struct OperationState<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    phase: &'static str,
    created_at: String,
    machine: &'a str,
    tmux_session: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    merge_status: Option<&'static str>,
}

/// A generated operation.
#[derive(Debug, Clone)]
struct DemoOperation {
    name: String,
    finished: bool,
}

fn write_operations(
    build: &BuildDir,
    spec: &DemoSpec,
    rng: &mut SplitMix,
) -> io::Result<Vec<DemoOperation>> {
    let host = crate::platform::hostname();
    let mut operations = Vec::new();
    for (p, phase) in PHASES.into_iter().enumerate() {
        for n in 0..spec.operations_per_phase {
            let name = format!("{}-{n}", phase.replace('_', "-"));
            // Alternating, so the default demo has a merged `completed` (pruned)
            // and an unmerged `pending_merge` (kept).
            let merged = (n + p) % 2 == 0;
            let merge_status = match phase {
                "merged" => Some("merged"),
                "completed" | "pending_merge" if merged => Some("merged"),
                "completed" | "pending_merge" => Some("pending"),
                "conflict" => Some("conflict"),
                _ => None,
            };
            let finished = matches!(phase, "merged" | "cancelled")
                || (matches!(phase, "completed" | "pending_merge")
                    && merge_status == Some("merged"));
            // An interrupted operation was started on another machine: its
            // session is not ours to look for.
            let machine = if phase == "interrupted" {
                "build-box-2.demo"
            } else {
                &host
            };
            let state = OperationState {
                name: &name,
                kind: ["feature", "fix", "chore"][(n + p) % 3],
                phase,
                created_at: iso(ago(spec.now, 3600 + rng.below(48 * 3600) as i64)),
                machine,
                tmux_session: format!("v0-demo-{name}"),
                merge_status,
            };
            let dir = build.operations_dir().join(&name);
            std::fs::create_dir_all(&dir)?;
            let mut text = serde_json::to_string_pretty(&state).map_err(io::Error::other)?;
            text.push('\n');
            std::fs::write(dir.join("state.json"), text)?;
            operations.push(DemoOperation { name, finished });
        }
    }
    Ok(operations)
}

/// Appends `count` entries stamped `now` to the daemon logs in `logs/` (some
/// with a continuation line), so a long-running demo keeps producing data
/// that will age past the retention. Returns the bytes appended.
pub fn append_fresh_lines(build: &BuildDir, now: Timestamp, count: usize) -> io::Result<u64> {
    let logs = build.logs_dir();
    std::fs::create_dir_all(&logs)?;
    let untimestamped = build.root().join(UNTIMESTAMPED_LOG);
    let mut targets: Vec<PathBuf> = std::fs::read_dir(&logs)?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log") && *p != untimestamped)
        .filter(|p| *p != build.daemon_log())
        .collect();
    targets.sort();
    if targets.is_empty() {
        targets.push(logs.join("events.log"));
    }
    let mut chunks = vec![String::new(); targets.len()];
    let messages = LogKind::Daemon.messages();
    for i in 0..count {
        let chunk = &mut chunks[i % targets.len()];
        chunk.push_str(&log_line(
            now,
            &format!("{} (live)", messages[i % messages.len()]),
        ));
        if i % 7 == 6 {
            chunk.push_str("   1a2b3c4..5d6e7f8  main       -> origin/main\n");
        }
    }
    let mut written = 0u64;
    for (path, chunk) in targets.iter().zip(&chunks).filter(|(_, c)| !c.is_empty()) {
        // One append per file, as v0's `echo >>` does per line: never torn by a prune.
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        file.write_all(chunk.as_bytes())?;
        written += chunk.len() as u64;
    }
    Ok(written)
}

#[cfg(test)]
mod tests;
