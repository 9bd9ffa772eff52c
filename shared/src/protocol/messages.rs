//! The messages themselves, and the records they carry.
//!
//! Timestamps are plain unix milliseconds (`*_ms: i64`, UTC) so that the wire
//! format depends on no time library's encoding.

use serde::{Deserialize, Serialize};

use super::files::FilesView;
use crate::prune::{BudgetReport, Job, RunReport, Skipped};

/// How many skipped items a [`RunRecord`] keeps (the total is still counted).
pub const RECORD_SKIPPED: usize = 20;

/// How many error messages a [`RunRecord`] keeps.
pub const RECORD_ERRORS: usize = 20;

/// How many recent runs a [`Snapshot`] carries in its history.
pub const HISTORY_IN_SNAPSHOT: usize = 30;

/// How many lines of the daemon's log a [`Snapshot`] carries.
pub const LOG_TAIL_LINES: usize = 200;

/// The longest text (path, reason, log line) put into a record or snapshot,
/// in bytes; together with the caps above it keeps a [`Snapshot`] well under
/// [`super::MAX_FRAME_LEN`] however long the paths in a build directory are.
pub const MAX_TEXT_LEN: usize = 1024;

/// What a client says to the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientMessage {
    /// The first message of every connection. Must stay variant 0 with these
    /// fields (see the module docs on compatibility).
    Hello {
        /// The client's [`super::PROTOCOL_VERSION`].
        version: u32,
        /// Who is asking (`v0-prune status`, `dashboard`), for the daemon's log.
        client: String,
    },
    /// Asks for a [`Snapshot`] of the daemon's state.
    Status,
    /// Asks for a prune run as soon as possible; requests arriving during a
    /// run are coalesced into one run after it.
    RunNow,
    /// Asks the daemon to finish its current run (if any) and exit: the same
    /// path as SIGTERM.
    Drain,
    /// Turns this connection into an event stream: a snapshot, then events.
    Subscribe,
}

/// What the daemon says to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DaemonMessage {
    /// The answer to the client's hello, sent even when the versions differ.
    /// Must stay variant 0 with these fields.
    Hello {
        /// The daemon's [`super::PROTOCOL_VERSION`].
        version: u32,
        /// The daemon's pid, for messages and for signalling it.
        daemon_pid: u32,
        /// The daemon's package version (`0.1.0`), for messages.
        daemon_version: String,
    },
    /// The daemon will not talk to this client (version mismatch, too many
    /// connections, another user) and closes the connection. Must stay variant 1.
    Rejected {
        /// Why, in words a user can act on.
        reason: String,
    },
    /// The answer to [`ClientMessage::Status`].
    Status(Snapshot),
    /// The answer to [`ClientMessage::RunNow`].
    RunNowAccepted {
        /// The run that will cover this request: wait for a
        /// [`Event::RunFinished`] with this `run_id` to know it is done.
        run_id: u64,
        /// True when the request was folded into a run already pending or
        /// starting, rather than scheduling a new one.
        coalesced: bool,
    },
    /// The answer to [`ClientMessage::Drain`]; the connection closes when the
    /// daemon has exited.
    DrainAccepted,
    /// The first message of a subscription: the whole state at `seq`.
    Snapshot {
        /// The sequence number of the last event the snapshot includes; the
        /// next [`DaemonMessage::Event`] on this connection has `seq + 1`.
        seq: u64,
        /// The state.
        snapshot: Snapshot,
    },
    /// One event of a subscription, numbered without gaps.
    Event {
        /// This event's sequence number, one more than the previous one.
        seq: u64,
        /// The event.
        event: Event,
    },
    /// The subscriber fell behind and missed events from `missed_from_seq` on;
    /// the daemon closes the connection after this. Re-subscribe for a fresh
    /// snapshot.
    Lagged {
        /// The first event this subscriber did not get.
        missed_from_seq: u64,
    },
    /// A request failed; the connection stays usable.
    Error {
        /// What went wrong, in words a user can act on.
        message: String,
    },
}

/// What the daemon is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DaemonState {
    /// Waiting for the next scheduled run or a request.
    Idle,
    /// A prune run is in progress.
    Running,
    /// Asked to exit: finishing the current run, then leaving.
    Draining,
}

impl DaemonState {
    /// Its word wherever it is shown: `status` (and its JSON `state`),
    /// `events`, the dashboard. Scripts read it: change it never.
    pub fn label(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Running => "running",
            Self::Draining => "draining",
        }
    }
}

/// Why a run started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Trigger {
    /// The run every daemon does when it starts.
    Startup,
    /// The interval elapsed.
    Schedule,
    /// SIGUSR1, as v0's `v0 prune` sends it.
    Signal,
    /// A client's [`ClientMessage::RunNow`].
    Request,
}

impl Trigger {
    /// Its word wherever it is shown: `status` (and its JSON `trigger`),
    /// `events`, the dashboard. Scripts read it: change it never.
    pub fn label(self) -> &'static str {
        match self {
            Self::Startup => "startup",
            Self::Schedule => "schedule",
            Self::Signal => "signal",
            Self::Request => "request",
        }
    }
}

/// A change the dashboard and `v0-prune events` show live, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    // The daemon as a whole.
    /// The daemon moved to another state.
    StateChanged {
        /// The new state.
        state: DaemonState,
    },
    /// When the next scheduled run will start (after every run and on startup).
    NextRun {
        /// Unix milliseconds.
        at_ms: i64,
    },
    /// The daemon is about to exit; the connection closes right after.
    Exiting {
        /// Why (`SIGTERM`, `drain requested by v0-prune shutdown`, ...).
        reason: String,
    },

    // One run, in order: started, progress and items, finished.
    /// A run began.
    RunStarted {
        /// Its id, increasing across the daemon's life (and across restarts).
        run_id: u64,
        /// Why it began.
        trigger: Trigger,
        /// Unix milliseconds.
        started_at_ms: i64,
    },
    /// How far the run has got (throttled by the daemon).
    Progress {
        /// The run.
        run_id: u64,
        /// Files (log files and the queue) examined so far.
        files_done: u64,
        /// Files to examine in all.
        files_total: u64,
        /// Bytes given back so far in this run.
        bytes_reclaimed: u64,
        /// What is being examined now, relative to the build directory.
        current: Option<String>,
    },
    /// Something was removed (or, in a dry run, would be).
    ItemPruned {
        /// The run.
        run_id: u64,
        /// Which job removed it.
        job: Job,
        /// What: a log path, a queue entry.
        item: String,
        /// Human detail: "120 lines", "completed".
        detail: String,
        /// Bytes this item gave back.
        bytes_reclaimed: u64,
    },
    /// A run ended, successfully or not; its summary.
    RunFinished {
        /// The summary, as stored in the history.
        record: RunRecord,
    },

    // The daemon's log.
    /// A line the daemon wrote to `logs/prune-daemon.log`, as written.
    LogLine {
        /// The line, without its newline.
        line: String,
    },

    // What is using the space.
    /// The logs and merge queue as a run left them, sent after a run when
    /// they differ from the last view sent; replaces [`Snapshot::files`].
    Files {
        /// The new view, bounded (see [`FilesView`]); boxed so that the
        /// other events stay small.
        view: Box<FilesView>,
    },
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunOutcome {
    /// Every job completed.
    Ok,
    /// A job stopped part-way (see [`RunRecord::errors`]; the other job
    /// still ran), or some items could not be pruned (see
    /// [`RunRecord::failed`]: a full disk, an I/O error, a permission).
    WithErrors,
    /// The run panicked; the daemon caught it and kept going.
    Panicked,
}

impl RunOutcome {
    /// Its word wherever it is shown: `status` (and its JSON `outcome`),
    /// `events`, the dashboard's history. Scripts read it: change it never.
    pub fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::WithErrors => "with errors",
            Self::Panicked => "panicked",
        }
    }
}

/// The summary of one run: what the history keeps, `status` prints and the
/// dashboard lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run's id.
    pub run_id: u64,
    /// Why it ran.
    pub trigger: Trigger,
    /// Unix milliseconds.
    pub started_at_ms: i64,
    /// Unix milliseconds.
    pub finished_at_ms: i64,
    /// `finished_at_ms - started_at_ms`, never negative.
    pub duration_ms: u64,
    /// Nothing was written.
    pub dry_run: bool,
    /// `*.log` files examined.
    pub log_files_examined: u64,
    /// Log files that lost lines.
    pub log_files_pruned: u64,
    /// Log lines removed.
    pub log_lines_removed: u64,
    /// Bytes given back by the logs job.
    pub log_bytes_reclaimed: u64,
    /// Merge-queue entries removed.
    pub queue_entries_removed: u64,
    /// Bytes given back by the merge-queue job.
    pub queue_bytes_reclaimed: u64,
    /// Bytes given back by the whole run.
    pub bytes_reclaimed: u64,
    /// The first [`RECORD_SKIPPED`] items left alone, with why.
    pub skipped: Vec<Skipped>,
    /// How many items were left alone in all.
    pub skipped_total: u64,
    /// The first [`RECORD_SKIPPED`] items that could not be pruned because
    /// of an error (a full disk, an I/O error, a permission), with the
    /// error and what to do; unlike `skipped`, never on purpose.
    #[serde(default)]
    pub failed: Vec<Skipped>,
    /// How many items could not be pruned in all.
    #[serde(default)]
    pub failed_total: u64,
    /// How many of those are log files (the rest is the merge queue).
    #[serde(default)]
    pub log_files_failed: u64,
    /// Errors that stopped a job part-way (the first [`RECORD_ERRORS`]).
    pub errors: Vec<String>,
    /// How the run ended.
    pub outcome: RunOutcome,
    /// What the size budget did (how much went for age, how much for the
    /// budget), when one is set; absent in records from before budgets.
    /// Boxed: most records have none, and events stay small.
    #[serde(default)]
    pub budget: Option<Box<BudgetReport>>,
}

impl RunRecord {
    /// Summarises an engine report; long texts are clipped to [`MAX_TEXT_LEN`]
    /// and lists capped, so a record always fits in a frame.
    pub fn from_report(
        run_id: u64,
        trigger: Trigger,
        started_at_ms: i64,
        finished_at_ms: i64,
        report: &RunReport,
    ) -> Self {
        let all_skipped = report.logs.skipped.iter().chain(&report.queue.skipped);
        let skipped_total = report.logs.skipped.len() + report.queue.skipped.len();
        Self {
            run_id,
            trigger,
            started_at_ms,
            finished_at_ms,
            duration_ms: duration_ms(started_at_ms, finished_at_ms),
            dry_run: report.dry_run,
            log_files_examined: report.logs.files_examined,
            log_files_pruned: count(report.logs.pruned.len()),
            log_lines_removed: report.logs.lines_removed,
            log_bytes_reclaimed: report.logs.bytes_reclaimed(),
            queue_entries_removed: count(report.queue.removed.len()),
            queue_bytes_reclaimed: report.queue.bytes_reclaimed(),
            bytes_reclaimed: report.bytes_reclaimed(),
            skipped: all_skipped
                .take(RECORD_SKIPPED)
                .map(|s| Skipped {
                    item: clip_text(&s.item),
                    reason: clip_text(&s.reason),
                })
                .collect(),
            skipped_total: count(skipped_total),
            failed: report
                .failed()
                .take(RECORD_SKIPPED)
                .map(|s| Skipped {
                    item: clip_text(&s.item),
                    reason: clip_text(&s.reason),
                })
                .collect(),
            failed_total: count(report.logs.failed.len() + report.queue.failed.len()),
            log_files_failed: count(report.logs.failed.len()),
            errors: report
                .errors
                .iter()
                .take(RECORD_ERRORS)
                .map(|e| clip_text(e))
                .collect(),
            outcome: if report.errors.is_empty() && report.failed().next().is_none() {
                RunOutcome::Ok
            } else {
                RunOutcome::WithErrors
            },
            budget: report.logs.budget.clone().map(|mut budget| {
                budget.cutoff = budget.cutoff.map(|cutoff| clip_text(&cutoff));
                Box::new(budget)
            }),
        }
    }

    /// The warning `status` and `top` show when this run left the logs
    /// over the size budget, saying why; none when they are within it.
    pub fn budget_warning(&self) -> Option<String> {
        let budget = self.budget.as_ref().filter(|_| !self.dry_run)?;
        Some(format!("run #{}: {}", self.run_id, budget.warning()?))
    }

    /// The record of a run that panicked: nothing is known of what it did,
    /// only the panic message.
    pub fn panicked(
        run_id: u64,
        trigger: Trigger,
        started_at_ms: i64,
        finished_at_ms: i64,
        dry_run: bool,
        message: &str,
    ) -> Self {
        Self {
            run_id,
            trigger,
            started_at_ms,
            finished_at_ms,
            duration_ms: duration_ms(started_at_ms, finished_at_ms),
            dry_run,
            log_files_examined: 0,
            log_files_pruned: 0,
            log_lines_removed: 0,
            log_bytes_reclaimed: 0,
            queue_entries_removed: 0,
            queue_bytes_reclaimed: 0,
            bytes_reclaimed: 0,
            skipped: Vec::new(),
            skipped_total: 0,
            failed: Vec::new(),
            failed_total: 0,
            log_files_failed: 0,
            errors: vec![clip_text(&format!("the run panicked: {message}"))],
            outcome: RunOutcome::Panicked,
            budget: None,
        }
    }
}

impl RunRecord {
    /// What could not be pruned, in one clause (`1 log could not be pruned
    /// (no space left on device)`), or `None` when everything could be.
    pub fn not_pruned_summary(&self) -> Option<String> {
        let queue = self.failed_total > self.log_files_failed;
        crate::prune::not_pruned_summary(self.log_files_failed, queue, &self.failed)
    }
}

fn duration_ms(started_at_ms: i64, finished_at_ms: i64) -> u64 {
    u64::try_from(finished_at_ms.saturating_sub(started_at_ms)).unwrap_or(0)
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Cumulative figures over every run the daemon has recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Runs recorded.
    pub runs: u64,
    /// Bytes given back over all runs.
    pub bytes_reclaimed: u64,
    /// Log lines removed over all runs.
    pub log_lines_removed: u64,
    /// Merge-queue entries removed over all runs.
    pub queue_entries_removed: u64,
    /// Unix milliseconds of the first recorded run (when counting began).
    pub since_ms: i64,
}

impl Totals {
    /// Adds one finished run; dry runs count as runs but reclaim nothing.
    pub fn add(&mut self, record: &RunRecord) {
        if self.runs == 0 {
            self.since_ms = record.started_at_ms;
        }
        self.runs = self.runs.saturating_add(1);
        if !record.dry_run {
            self.bytes_reclaimed = self.bytes_reclaimed.saturating_add(record.bytes_reclaimed);
            self.log_lines_removed = self
                .log_lines_removed
                .saturating_add(record.log_lines_removed);
            self.queue_entries_removed = self
                .queue_entries_removed
                .saturating_add(record.queue_entries_removed);
        }
    }
}

/// The run in progress, as far as it has got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunProgress {
    /// The run.
    pub run_id: u64,
    /// Why it runs.
    pub trigger: Trigger,
    /// Unix milliseconds.
    pub started_at_ms: i64,
    /// Files examined so far.
    pub files_done: u64,
    /// Files to examine in all (0 until the run has listed them).
    pub files_total: u64,
    /// Bytes given back so far.
    pub bytes_reclaimed: u64,
    /// What is being examined now.
    pub current: Option<String>,
}

/// Everything a client needs to draw the daemon's state without having seen
/// any event: `status` prints it, a subscription starts with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The daemon's pid.
    pub daemon_pid: u32,
    /// The daemon's package version.
    pub daemon_version: String,
    /// The v0 project's name (`PROJECT` in `.v0.rc`), when known.
    pub project: Option<String>,
    /// The build directory the daemon prunes.
    pub build_dir: String,
    /// When the daemon started, unix milliseconds.
    pub started_at_ms: i64,
    /// What it is doing.
    pub state: DaemonState,
    /// The run in progress, if any.
    pub current_run: Option<RunProgress>,
    /// The last finished run, if any.
    pub last_run: Option<RunRecord>,
    /// When the next scheduled run starts, unix milliseconds (none while draining).
    pub next_run_at_ms: Option<i64>,
    /// Seconds between scheduled runs.
    pub interval_secs: u64,
    /// How old an entry must be to be pruned, in seconds.
    pub retention_secs: u64,
    /// Cumulative figures.
    pub totals: Totals,
    /// Recent runs, oldest first, at most [`HISTORY_IN_SNAPSHOT`].
    pub history: Vec<RunRecord>,
    /// The last lines of the daemon's log, oldest first, at most
    /// [`LOG_TAIL_LINES`], each clipped to [`MAX_TEXT_LEN`].
    pub log_tail: Vec<String>,
    /// The logs and merge queue as the last run left them; `None` until a
    /// run has finished.
    pub files: Option<FilesView>,
    /// The size budget the daemon prunes to, when one is set; what it did
    /// is in each run's [`RunRecord::budget`].
    pub budget: Option<BudgetLimit>,
}

impl Snapshot {
    /// The warning for a daemon whose last run left the logs over budget.
    pub fn budget_warning(&self) -> Option<String> {
        self.last_run.as_ref().and_then(RunRecord::budget_warning)
    }
}

/// `V0_PRUNE_MAX_SIZE` and `V0_PRUNE_MIN_KEEP` as the daemon runs with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetLimit {
    /// The cap on all logs together, in bytes.
    pub max_bytes: u64,
    /// Entries younger than this many seconds never go for the budget.
    pub min_keep_secs: u64,
}

/// Clips a text to at most [`MAX_TEXT_LEN`] bytes on a character boundary,
/// marking the cut with `…`, so one absurd path cannot overflow a frame.
pub fn clip_text(text: &str) -> String {
    clip_text_to(text, MAX_TEXT_LEN)
}

/// Clips a text to at most `max` bytes (at least 3, room for the mark) on a
/// character boundary, marking the cut with `…`: [`clip_text`] for fields
/// with a tighter cap of their own.
pub fn clip_text_to(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    const MARK: &str = "…";
    let mut end = max.saturating_sub(MARK.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{MARK}", &text[..end])
}
