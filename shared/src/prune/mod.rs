//! The pruning engine: the three jobs of v0's pruner, done without losing data.
//!
//! - [`logs`]: drop expired timestamped entries from every `*.log`, safely
//!   under live writers (rewrite-and-rename, or collapse in place).
//! - [`queue`]: drop old terminal entries from `mergeq/queue.json` under the
//!   queue's own lock.
//! - [`operations`]: remove finished operations' directories.
//!
//! Every job returns a serialisable report and emits [`PruneEvent`]s through a
//! callback, which the CLI prints and the daemon publishes to subscribers.

pub mod cutoff;
pub mod guard;
pub mod logs;
pub mod operations;
pub mod queue;
pub mod run_lock;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use cutoff::Cutoff;
pub use logs::budget::{Budget, BudgetReport};
pub use run_lock::RunLock;

use crate::paths::BuildDir;

/// Something the engine could not or would not prune, and why; reported, never fatal.
///
/// The same shape serves two lists that must never be confused: `skipped`
/// (left alone on purpose: a positional writer, a symbolic link) and
/// `failed` (an error stopped the prune: a full disk, an I/O error, a
/// permission). A failed item's `reason` starts with what went wrong, then
/// `: ` and what to do ([`could_not_prune`]); [`failure_kind`] reads it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// Path relative to the build directory (or an operation / entry name).
    pub item: String,
    /// Why it was left alone, in words a user can act on.
    pub reason: String,
}

/// Why an item could not be pruned, from the error that stopped it: what
/// went wrong, then what to do about it. `None` when the error is no failure
/// to report but a reason to leave the item alone: it vanished, or became a
/// symbolic link (never followed) or a directory since we listed it, or the
/// engine itself declined (an error without an OS error code, whose text
/// says why: "truncated by another process while we pruned it").
pub fn could_not_prune(err: &std::io::Error) -> Option<String> {
    let again = format!("then run {} again", crate::words::command());
    let advice = match err.raw_os_error() {
        None | Some(libc::ENOENT | libc::ELOOP | libc::EISDIR) => return None,
        Some(libc::ENOSPC) => format!(
            "no space left on device: pruning it here needs room for a copy of the lines it keeps; free some space on its filesystem, {again} (nothing it keeps was touched)"
        ),
        Some(libc::EDQUOT) => format!(
            "disk quota exceeded: pruning it here needs room for a copy of the lines it keeps; free some space within your quota, {again}"
        ),
        Some(libc::EIO) => format!(
            "input/output error: the disk or filesystem reported a fault; look at `dmesg` and check the filesystem, {again}"
        ),
        Some(libc::EACCES | libc::EPERM) => format!(
            "permission denied: run {} as the user who owns it, or give that user write access to it and its directory",
            crate::words::command()
        ),
        Some(libc::EROFS) => "read-only file system: remount it read-write to prune it".to_owned(),
        Some(libc::EFBIG) => format!(
            "file too large: a limit on file size (`ulimit -f`) stopped the copy; raise it, {again}"
        ),
        _ => return Some(format!("error: {err}")),
    };
    Some(advice)
}

/// The first part of a failed item's reason (`no space left on device`),
/// for summaries that group failures by cause.
pub fn failure_kind(reason: &str) -> &str {
    reason.split_once(": ").map_or(reason, |(kind, _)| kind)
}

/// What could not be pruned, in one clause: `1 log could not be pruned (no
/// space left on device)`, `2 logs and the merge queue could not be pruned
/// (...)`. `None` when everything could be. `failed` gives the causes (its
/// reasons' [`failure_kind`]s, each once, in order).
pub fn not_pruned_summary(logs: u64, queue: bool, failed: &[Skipped]) -> Option<String> {
    let what = match (logs, queue) {
        (0, false) => return None,
        (0, true) => "the merge queue".to_owned(),
        (1, false) => "1 log".to_owned(),
        (n, false) => format!("{n} logs"),
        (1, true) => "1 log and the merge queue".to_owned(),
        (n, true) => format!("{n} logs and the merge queue"),
    };
    let mut kinds: Vec<&str> = Vec::new();
    for failure in failed {
        let kind = failure_kind(&failure.reason);
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Some(if kinds.is_empty() {
        format!("{what} could not be pruned")
    } else {
        format!("{what} could not be pruned ({})", kinds.join(", "))
    })
}

/// Which job an item belongs to, so one event type serves all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Job {
    /// `*.log` files.
    Logs,
    /// `mergeq/queue.json`.
    Queue,
    /// `operations/<name>/`.
    Operations,
}

/// Progress of a prune, emitted as it happens (the daemon publishes these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PruneEvent {
    /// A job found its work: `total` items will be examined.
    JobStarted {
        /// The job.
        job: Job,
        /// Items it will examine (log files, queue entries, operations).
        total: u64,
    },
    /// One item was examined; `done` of `total` so far.
    Progress {
        /// The job.
        job: Job,
        /// Items examined so far.
        done: u64,
        /// Items to examine in all.
        total: u64,
        /// Bytes reclaimed by this job so far.
        bytes_reclaimed: u64,
    },
    /// Something was removed (or, in a dry run, would be).
    ItemPruned {
        /// The job.
        job: Job,
        /// What: a log path, a queue entry id, an operation name.
        item: String,
        /// Human detail: "120 lines", "completed", ...
        detail: String,
        /// Bytes this item gave back.
        bytes_reclaimed: u64,
    },
    /// Something was left alone on purpose.
    ItemSkipped {
        /// The job.
        job: Job,
        /// What and why.
        skipped: Skipped,
    },
    /// Something could not be pruned: an error stopped it (a full disk, an
    /// I/O error, a permission). It is left as it was.
    ItemFailed {
        /// The job.
        job: Job,
        /// What, the error, and what to do ([`could_not_prune`]).
        failed: Skipped,
    },
}

/// The sink for [`PruneEvent`]s; a closure keeps the engine free of channels.
pub type EventSink<'a> = &'a mut dyn FnMut(&PruneEvent);

/// A no-op event sink for callers that only want the report.
pub fn ignore_events(_: &PruneEvent) {}

/// How one log was pruned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogMethod {
    /// Nobody held it for writing: rewritten to a temp file and renamed over.
    Rewrite,
    /// An O_APPEND writer held it: expired head collapsed in place.
    InPlace,
    /// Dry run: nothing written.
    DryRun,
    /// Nobody held it and its expired lines formed a head of at least a
    /// block: collapsed in place under a write lease, nothing copied.
    InPlaceUnheld,
}

/// What happened to one log that lost lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogOutcome {
    /// Path relative to the build directory.
    pub path: String,
    /// Lines removed (timestamped lines and their continuations).
    pub lines_removed: u64,
    /// Size before the prune.
    pub bytes_before: u64,
    /// Size after (of the content we had seen; later appends not counted).
    pub bytes_after: u64,
    /// How it was pruned.
    pub method: LogMethod,
    /// Why this method, in words (e.g. why a log nobody holds was rewritten
    /// rather than pruned in place); empty in reports from older versions.
    #[serde(default)]
    pub reason: String,
}

/// What became of one log in a run, for [`LogFacts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogFate {
    /// Lines were removed (or would be, in a dry run), this way.
    Pruned(LogMethod),
    /// Nothing in it had expired.
    Unchanged,
    /// Left alone, and why.
    Skipped(String),
}

/// What a run learned about one log on its way, at no extra read: what the
/// daemon's Files view and `v0-prune ls` are built from
/// ([`crate::files_view`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFacts {
    /// Path relative to the build directory.
    pub path: String,
    /// Size when the run found it.
    pub size_before: u64,
    /// Size the run left (of the content it saw).
    pub size_after: u64,
    /// Lines removed (or that would be, in a dry run).
    pub lines_removed: u64,
    /// The earliest entry timestamp left in it (`YYYY-MM-DDTHH:MM:SSZ`), when
    /// the run read or verified its whole content; `None` when it did not
    /// (skipped, pruned in place, a dry run) or it has no entry.
    pub oldest_entry: Option<[u8; 20]>,
    /// Who holds it open; `None` when the run did not look (the file was
    /// unchanged since a run that did, so nothing had to be decided).
    pub holders: Option<Vec<crate::platform::Holder>>,
    /// What became of it.
    pub fate: LogFate,
}

/// The logs job's report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogsReport {
    /// `*.log` files examined.
    pub files_examined: u64,
    /// Files that lost lines, one outcome each.
    pub pruned: Vec<LogOutcome>,
    /// Files left alone on purpose, with the reason.
    pub skipped: Vec<Skipped>,
    /// Files (and directories) that could not be pruned because of an
    /// error, with the error and what to do; each is left as it was.
    #[serde(default)]
    pub failed: Vec<Skipped>,
    /// Lines removed over all files.
    pub lines_removed: u64,
    /// Total size of the examined files before the prune.
    pub bytes_before: u64,
    /// Total size after.
    pub bytes_after: u64,
    /// One entry per log, in walk order (then the logs the walk left alone):
    /// not serialised, the view built from it is ([`crate::files_view`]).
    #[serde(skip)]
    pub files: Vec<LogFacts>,
    /// What the size budget did, when one is set (`V0_PRUNE_MAX_SIZE`).
    #[serde(default)]
    pub budget: Option<BudgetReport>,
}

impl LogsReport {
    /// Bytes given back to the disk.
    pub fn bytes_reclaimed(&self) -> u64 {
        self.bytes_before.saturating_sub(self.bytes_after)
    }
}

/// A merge-queue entry that was (or would be) removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovedEntry {
    /// The entry's `id`/`operation`/`branch`, whichever it has, for humans.
    pub label: String,
    /// Its terminal status.
    pub status: String,
}

/// The merge-queue job's report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueReport {
    /// Whether a queue file existed at all.
    pub present: bool,
    /// Entries in the queue before the prune.
    pub entries_before: u64,
    /// Entries removed (or that would be, in a dry run).
    pub removed: Vec<RemovedEntry>,
    /// Entries kept although unusual (wrong type, unparseable time), and why.
    pub skipped: Vec<Skipped>,
    /// The queue file, when an error (a full disk, an I/O error) kept us
    /// from writing its pruned version; the queue is left as it was.
    #[serde(default)]
    pub failed: Vec<Skipped>,
    /// File size before.
    pub bytes_before: u64,
    /// File size after.
    pub bytes_after: u64,
    /// Times we re-read because the file changed under us.
    pub retries: u32,
    /// Entries per status before the run (`(status, entries)`, by status; an
    /// entry without a string status counts under `""`): for the Files view.
    #[serde(skip)]
    pub statuses_before: Vec<(String, u64)>,
}

impl QueueReport {
    /// Bytes given back to the disk.
    pub fn bytes_reclaimed(&self) -> u64 {
        self.bytes_before.saturating_sub(self.bytes_after)
    }
}

/// An operation that was (or would be) removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrunedOperation {
    /// The operation's directory name.
    pub name: String,
    /// Its phase when pruned (`unknown` if state.json was unreadable and the user named it).
    pub phase: String,
    /// Bytes its directory held.
    pub bytes: u64,
}

/// The operations job's report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationsReport {
    /// Whether `operations/` existed.
    pub present: bool,
    /// Operations examined.
    pub examined: u64,
    /// Operations removed (or that would be).
    pub pruned: Vec<PrunedOperation>,
    /// Operations left alone, with the reason.
    pub skipped: Vec<Skipped>,
}

/// What one prune of logs and merge queue did: the unit the daemon runs and records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    /// Nothing was written.
    pub dry_run: bool,
    /// The cutoff used, `YYYY-MM-DDTHH:MM:SSZ`.
    pub cutoff: String,
    /// The logs job.
    pub logs: LogsReport,
    /// The merge-queue job.
    pub queue: QueueReport,
    /// Errors that stopped a job part-way (the other job still ran).
    pub errors: Vec<String>,
}

impl RunReport {
    /// Bytes given back by the whole run.
    pub fn bytes_reclaimed(&self) -> u64 {
        self.logs.bytes_reclaimed() + self.queue.bytes_reclaimed()
    }

    /// Everything that could not be pruned, logs first.
    pub fn failed(&self) -> impl Iterator<Item = &Skipped> {
        self.logs.failed.iter().chain(&self.queue.failed)
    }

    /// [`not_pruned_summary`] of this run.
    pub fn not_pruned_summary(&self) -> Option<String> {
        let failed: Vec<Skipped> = self.failed().cloned().collect();
        not_pruned_summary(
            self.logs.failed.len() as u64,
            !self.queue.failed.is_empty(),
            &failed,
        )
    }
}

/// Options for one run of the logs and merge-queue jobs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// What is expired.
    pub cutoff: Cutoff,
    /// Report what would go, change nothing.
    pub dry_run: bool,
}

/// Errors that stop a job as a whole (per-item problems become [`Skipped`]).
#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    /// Filesystem trouble on a path we had to touch.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// queue.json is not valid JSON, or not a v0 queue; it was left untouched.
    #[error("{path} is not a valid merge queue (left untouched): {message}")]
    CorruptQueue {
        /// The queue file.
        path: String,
        /// What is wrong and where (line, column).
        message: String,
    },
    /// The merge-queue lock is held by a live process for too long.
    #[error("{path} is held by {holder}; try again when it is released")]
    QueueLocked {
        /// The lock file.
        path: String,
        /// Its content, e.g. `mergeq (pid 1234)`.
        holder: String,
    },
    /// The queue kept changing under us (a writer ignoring the lock).
    #[error(
        "{path} kept changing while we pruned it ({retries} attempts); left as the other writer wrote it"
    )]
    QueueKeptChanging {
        /// The queue file.
        path: String,
        /// Attempts made.
        retries: u32,
    },
    /// An operation name that is not a single plain path component.
    #[error(
        "invalid operation name '{0}': it must be a single directory name (no '/', not '.' or '..', not empty)"
    )]
    InvalidOperationName(String),
    /// A named operation does not exist.
    #[error("Operation '{0}' not found")]
    OperationNotFound(String),
    /// Another prune holds `.prune-daemon.lock`.
    #[error("another prune is running in {0} (it holds .prune-daemon.lock)")]
    Busy(String),
    /// The build directory is `/`, the home directory, or does not look like
    /// v0's; pruning it could remove lines from logs that are not v0's.
    #[error(
        "refusing to prune {path}: {reason}; if this really is the v0 build directory, run again with --force"
    )]
    NotABuildDir {
        /// The build directory as given, and what it resolves to if different.
        path: String,
        /// What makes it suspicious.
        reason: String,
    },
}

impl PruneError {
    /// Builds an [`PruneError::Io`] for a path.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// Runs the logs and merge-queue jobs once, as v0's pruner does, holding the run lock.
///
/// A failure in one job is recorded in [`RunReport::errors`] and the other job
/// still runs; only failing to take the run lock is an `Err`.
pub fn run(
    build: &BuildDir,
    options: &RunOptions,
    events: EventSink<'_>,
) -> Result<RunReport, PruneError> {
    run_within(build, options, None, events)
}

/// [`run`] under a size budget (see [`budget`]), when one is set.
pub fn run_within(
    build: &BuildDir,
    options: &RunOptions,
    budget: Option<&Budget>,
    events: EventSink<'_>,
) -> Result<RunReport, PruneError> {
    let _lock = RunLock::acquire(build)?;
    Ok(run_locked_within(build, options, budget, events))
}

/// Like [`run`], for a caller that already holds the [`RunLock`].
pub fn run_locked(build: &BuildDir, options: &RunOptions, events: EventSink<'_>) -> RunReport {
    run_locked_within(build, options, None, events)
}

/// Like [`run_within`], for a caller that already holds the [`RunLock`].
pub fn run_locked_within(
    build: &BuildDir,
    options: &RunOptions,
    budget: Option<&Budget>,
    events: EventSink<'_>,
) -> RunReport {
    let mut report = RunReport {
        dry_run: options.dry_run,
        cutoff: options.cutoff.to_string(),
        ..RunReport::default()
    };
    match logs::prune_all_within(build, options, budget, events) {
        Ok(logs) => report.logs = logs,
        Err(err) => report.errors.push(format!("{LOGS_ERROR_PREFIX}{err}")),
    }
    match queue::prune(build, options, events) {
        Ok(queue) => report.queue = queue,
        Err(err) => report.errors.push(format!("merge queue: {err}")),
    }
    report
}

/// Path of `path` relative to the build directory, for reports.
pub fn relative_display(build: &BuildDir, path: &Path) -> String {
    path.strip_prefix(build.root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// How [`RunReport::errors`] marks the logs job's error.
const LOGS_ERROR_PREFIX: &str = "logs: ";

impl RunReport {
    /// The error that stopped the logs job as a whole (it then saw no file),
    /// if it failed so.
    pub fn logs_error(&self) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.starts_with(LOGS_ERROR_PREFIX))
            .map(String::as_str)
    }
}
