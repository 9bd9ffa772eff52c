//! What a daemon reports, made up for the tests that draw it and for the
//! bench: a finished run's record, an idle daemon's snapshot around a
//! history, and a run that could not prune a log. A caller changes what its
//! case is about with struct update syntax (`RunRecord { trigger, ..run_record(…) }`).

use v0_prune_shared::protocol::{DaemonState, RunOutcome, RunRecord, Snapshot, Totals, Trigger};
use v0_prune_shared::prune::Skipped;

/// The daemon's pid in every made-up snapshot.
pub const DAEMON_PID: u32 = 4242;

/// A scheduled run that started at `started_at_ms` and gave back `bytes`,
/// nine tenths of them from the logs (one line per 96 bytes), the rest from
/// the merge queue; its other figures vary with `run_id`, as real runs'
/// do, and it ended well.
pub fn run_record(run_id: u64, started_at_ms: i64, bytes: u64) -> RunRecord {
    let duration_ms = 400 + run_id * 37 % 900;
    RunRecord {
        run_id,
        trigger: Trigger::Schedule,
        started_at_ms,
        finished_at_ms: started_at_ms + i64::try_from(duration_ms).unwrap_or(0),
        duration_ms,
        dry_run: false,
        log_files_examined: 24,
        log_files_pruned: run_id % 7 + 1,
        log_lines_removed: bytes / 96,
        log_bytes_reclaimed: bytes - bytes / 10,
        queue_entries_removed: run_id % 3,
        queue_bytes_reclaimed: bytes / 10,
        bytes_reclaimed: bytes,
        skipped: Vec::new(),
        skipped_total: run_id % 2,
        failed: Vec::new(),
        failed_total: 0,
        log_files_failed: 0,
        errors: Vec::new(),
        outcome: RunOutcome::Ok,
        budget: None,
    }
}

/// A run that took 1.5 s to prune 3 of 40 logs (120 lines, 3 KiB) and 2
/// merge-queue entries (200 B): figures small enough to read in a report.
pub fn small_run(run_id: u64, started_at_ms: i64) -> RunRecord {
    RunRecord {
        finished_at_ms: started_at_ms + 1_500,
        duration_ms: 1_500,
        log_files_examined: 40,
        log_files_pruned: 3,
        log_lines_removed: 120,
        log_bytes_reclaimed: 3072,
        queue_entries_removed: 2,
        queue_bytes_reclaimed: 200,
        skipped_total: 0,
        ..run_record(run_id, started_at_ms, 3272)
    }
}

/// `record` as a run that could not prune `log` for lack of space: one
/// failed log, with the error and what to do, and the run ended with errors.
pub fn could_not_prune(mut record: RunRecord, log: &str) -> RunRecord {
    record.failed = vec![Skipped {
        item: log.into(),
        reason: "no space left on device: free some space".into(),
    }];
    record.failed_total = 1;
    record.log_files_failed = 1;
    record.outcome = RunOutcome::WithErrors;
    record
}

/// An idle daemon of `project` at `build_dir` (pid [`DAEMON_PID`], v0-prune
/// 0.1.0, every hour, 6 hours' retention) whose runs were `history`, oldest
/// first: its totals are theirs, its last run the last one, it started with
/// the first and runs next an hour after the last; no log tail, no Files
/// view, no budget.
pub fn idle_snapshot(project: &str, build_dir: &str, history: Vec<RunRecord>) -> Snapshot {
    const INTERVAL_SECS: u64 = 3600;
    let mut totals = Totals::default();
    for run in &history {
        totals.add(run);
    }
    let last_run = history.last().cloned();
    Snapshot {
        daemon_pid: DAEMON_PID,
        daemon_version: "0.1.0".to_owned(),
        project: Some(project.to_owned()),
        build_dir: build_dir.to_owned(),
        started_at_ms: history.first().map_or(0, |run| run.started_at_ms),
        state: DaemonState::Idle,
        current_run: None,
        next_run_at_ms: last_run
            .as_ref()
            .map(|run| run.started_at_ms + 1000 * INTERVAL_SECS as i64),
        last_run,
        interval_secs: INTERVAL_SECS,
        retention_secs: 6 * 3600,
        totals,
        history,
        log_tail: Vec::new(),
        files: None,
        budget: None,
    }
}
