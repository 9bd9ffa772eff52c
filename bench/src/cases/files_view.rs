//! The per-file view (issue 13) over many logs: the snapshot a daemon sends
//! stays small, and collecting the view costs a run little.
//!
//! `demo::generate` lays out the logs with nothing expired; every tenth log
//! then gets 30% expired entries (restored from pristine copies before each
//! first run, as in `many-small-logs`). Two contenders run interleaved in the
//! same rounds, in this process, on the same files:
//! - "without": the run as before issue 13, the engine with its per-file
//!   facts switched off ([`logs::facts::without_file_facts`]);
//! - "with": the run as the daemon does it now: the engine collecting facts,
//!   then [`FileTracker::update`] (growth memory, the largest logs picked and
//!   completed: holders, first entries, command lines).
//!
//! Both a first run (the log index removed: every log read, 10% pruned) and
//! a steady run (nothing changed since the last) are timed: the steady run is
//! the cheapest, so the view's fixed costs weigh most there. The snapshot row
//! encodes the daemon's full `Status` answer with that view, its history and
//! log tail filled to their caps.

use std::cell::RefCell;

use anyhow::{Context, Result, ensure};
use v0_prune_shared::files_view::{FileTracker, RunContext};
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::protocol::{
    DaemonMessage, DaemonState, Event, FilesView, HISTORY_IN_SNAPSHOT, LOG_TAIL_LINES, RunRecord,
    Snapshot, Totals, Trigger, encode_frame,
};
use v0_prune_shared::prune::{self, RunOptions, RunReport, ignore_events, logs};

use super::{Case, Ctx, Sizes};
use crate::data;
use crate::measure::{Contender, race};
use crate::report::{Measured, Outcome, Row, Target, Unit};

/// The per-file view case.
pub struct FilesViewCase;

/// The limit for the snapshot, KiB (1 MiB).
const SNAPSHOT_LIMIT_KIB: f64 = 1024.0;

/// The limit for what the view adds to a run: under 10%.
const COST_RATIO_LIMIT: f64 = 1.10;

impl Case for FilesViewCase {
    fn id(&self) -> &'static str {
        "files-view"
    }

    fn title(&self, sizes: &Sizes) -> String {
        format!(
            "per-file view over {} logs: snapshot size; a run with vs without it",
            sizes.small_logs
        )
    }

    fn run(&self, ctx: &mut Ctx, notes: &mut Vec<String>) -> Result<Outcome> {
        let dir = ctx.case_dir(self.id())?;
        let small =
            data::SmallLogs::generate(&dir, ctx.sizes.small_logs, ctx.sizes.small_log_lines, 37)?;
        let (build, paths, prunable) = (&small.build, &small.paths, &small.prunable);
        notes.push(format!(
            "{} logs, {} with expired entries in a first run",
            paths.len(),
            prunable.len()
        ));
        let options = ctx.options();
        let restore = || small.restore();
        let tracker = RefCell::new(FileTracker::new());
        let last_view: RefCell<Option<(FilesView, RunReport)>> = RefCell::new(None);
        let run_id = RefCell::new(0u64);
        let with_view = || -> Result<()> {
            let report = prune::run_locked(build, &options, &mut ignore_events);
            ensure!(report.errors.is_empty(), "{:?}", report.errors);
            ensure!(
                report.logs.files.len() == paths.len(),
                "facts for every log"
            );
            let id = {
                let mut id = run_id.borrow_mut();
                *id += 1;
                *id
            };
            let view = tracker
                .borrow_mut()
                .update(build, context(id, &options), &report);
            *last_view.borrow_mut() = Some((view, report));
            Ok(())
        };
        let without_view = || -> Result<()> {
            let report = logs::facts::without_file_facts(|| {
                prune::run_locked(build, &options, &mut ignore_events)
            });
            ensure!(report.errors.is_empty(), "{:?}", report.errors);
            ensure!(report.logs.files.is_empty(), "no facts collected");
            Ok(())
        };

        let mut first = vec![
            Contender::new("first run without the view", restore, without_view),
            Contender::new("first run with the view", restore, with_view),
        ];
        let first = race(ctx.rounds, &mut first)?;
        // Steady state: the index is in place and nothing changes between runs.
        restore()?;
        without_view()?;
        let mut steady_contenders = vec![
            Contender::new("steady run without the view", || Ok(()), without_view),
            Contender::new("steady run with the view", || Ok(()), with_view),
        ];
        let steady = race(ctx.rounds, &mut steady_contenders)?;

        let (view, report) = last_view
            .borrow_mut()
            .take()
            .context("the view was never built")?;
        let view_bytes = encode_frame(&DaemonMessage::Event {
            seq: 0,
            event: Event::Files {
                view: Box::new(view.clone()),
            },
        })
        .context("encoding the view's event")?
        .len();
        let frame = encode_frame(&DaemonMessage::Status(full_snapshot(build, view, &report)))
            .context("encoding the snapshot")?;
        notes.push(format!(
            "snapshot: the daemon's Status answer with its history ({HISTORY_IN_SNAPSHOT} runs) and log tail ({LOG_TAIL_LINES} lines) full; its Files event is {view_bytes} bytes"
        ));
        let kib = |bytes: usize| bytes as f64 / 1024.0;

        let mut first = first.into_iter();
        let mut steady = steady.into_iter();
        let ms = |name: &str, samples: &mut std::vec::IntoIter<Vec<f64>>| {
            Measured::new(name, Unit::Ms, samples.next().unwrap_or_default())
        };
        let first_without = ms("first run without the view", &mut first);
        let first_with = ms("first run with the view", &mut first);
        let steady_without = ms("steady run without the view", &mut steady);
        let steady_with = ms("steady run with the view", &mut steady);
        Ok(Outcome::Measured {
            rows: vec![
                Row::alone(
                    Measured::new(
                        "snapshot frame (postcard)",
                        Unit::Kib,
                        vec![kib(frame.len())],
                    ),
                    Target::AtMost(SNAPSHOT_LIMIT_KIB),
                )
                .with_note(format!(
                    "{} logs; the view lists the largest {} and the skipped ones",
                    paths.len(),
                    v0_prune_shared::protocol::FILES_IN_VIEW
                )),
                Row::compare(
                    first_with,
                    first_without,
                    Target::RatioAtMost(COST_RATIO_LIMIT),
                )
                .with_note("every log read, 10% pruned; ratio: with / without"),
                Row::compare(
                    steady_with,
                    steady_without,
                    Target::RatioAtMost(COST_RATIO_LIMIT),
                )
                .with_note("nothing changed since the last run; ratio: with / without"),
            ],
        })
    }
}

/// What the daemon passes the view for run `run_id`.
fn context(run_id: u64, options: &RunOptions) -> RunContext {
    let now = jiff::Timestamp::now().as_millisecond();
    RunContext {
        run_id: Some(run_id),
        at_ms: now,
        next_cutoff_ms: Some(options.cutoff.timestamp().as_millisecond() + 3_600_000),
        daemon_pid: Some(std::process::id()),
    }
}

/// The daemon's snapshot with `view`, its history and log tail at their caps.
fn full_snapshot(build: &BuildDir, view: FilesView, report: &RunReport) -> Snapshot {
    let now = jiff::Timestamp::now().as_millisecond();
    let record = RunRecord::from_report(1, Trigger::Schedule, now - 5_000, now, report);
    let line = format!(
        "[{}] Pruning complete: {} logs examined, 0 lines removed",
        jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        report.logs.files_examined
    );
    Snapshot {
        daemon_pid: std::process::id(),
        daemon_version: env!("CARGO_PKG_VERSION").into(),
        project: Some("bench".into()),
        build_dir: build.root().display().to_string(),
        started_at_ms: now - 86_400_000,
        state: DaemonState::Idle,
        current_run: None,
        last_run: Some(record.clone()),
        next_run_at_ms: Some(now + 3_600_000),
        interval_secs: 3600,
        retention_secs: 6 * 3600,
        totals: Totals::default(),
        history: vec![record; HISTORY_IN_SNAPSHOT],
        log_tail: vec![line; LOG_TAIL_LINES],
        files: Some(view),
        budget: None,
    }
}
