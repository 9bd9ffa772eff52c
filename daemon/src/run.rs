//! One prune run, executed off the control task and watched from it.
//!
//! The engine is blocking code, so it runs on tokio's blocking pool. Its
//! [`PruneEvent`]s come back over a channel and become protocol [`Event`]s;
//! its end (a report, an error, or a panic) becomes a [`RunRecord`]. A panic
//! is caught by the join handle and recorded: the daemon outlives it.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinHandle};
use v0_prune_shared::config::Settings;
use v0_prune_shared::files_view::{FileTracker, RunContext};
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::platform;
use v0_prune_shared::protocol::{Event, FilesView, RunRecord, Trigger, clip_text};
use v0_prune_shared::prune::logs::{self, OwnLog};
use v0_prune_shared::prune::{self, EventSink, Job, PruneError, PruneEvent, RunOptions, RunReport};

/// What runs a prune: the engine in production, something that misbehaves in tests.
pub type Pruner = Arc<
    dyn Fn(&BuildDir, &RunOptions, EventSink<'_>) -> Result<RunReport, PruneError> + Send + Sync,
>;

/// The real engine, [`prune::run_within`], which holds `.prune-daemon.lock`
/// for the run, under the project's size budget (`V0_PRUNE_MAX_SIZE`), whose
/// minimum kept is counted back from each run's start.
pub fn engine_within(settings: Settings) -> Pruner {
    Arc::new(move |build, options, events| {
        let budget = settings.budget(jiff::Timestamp::now());
        prune::run_within(build, options, budget.as_ref(), events)
    })
}

/// Progress events closer together than this are dropped at the source (the
/// last one of a job always goes through), so a run over 100 000 small files
/// does not flood subscribers.
const PROGRESS_EVERY: Duration = Duration::from_millis(50);

/// A run in progress.
#[derive(Debug)]
pub struct ActiveRun {
    /// Its id.
    pub run_id: u64,
    /// Why it runs.
    pub trigger: Trigger,
    /// Unix milliseconds.
    pub started_at_ms: i64,
    handle: JoinHandle<(Result<RunReport, PruneError>, Option<FilesView>)>,
    events: mpsc::UnboundedReceiver<PruneEvent>,
    tally: Tally,
}

/// What a run did next.
#[derive(Debug)]
pub enum Step {
    /// Something to publish.
    Event(Event),
    /// Nothing worth publishing (a throttled or internal engine event).
    Nothing,
    /// The run ended; every event it emitted came before this.
    Finished(Finished),
}

/// How a run ended.
#[derive(Debug)]
pub struct Finished {
    /// The record for history and subscribers.
    pub record: RunRecord,
    /// Why it failed as a whole (a panic, the run lock), if it did.
    pub failure: Option<String>,
    /// The logs and merge queue as the run left them, when it ran to the end.
    pub files: Option<Box<FilesView>>,
}

/// What a run does for the daemon besides pruning.
#[derive(Default)]
pub struct RunAids {
    /// Tells the engine the daemon's log is ours to replace ([`OwnLog`]).
    pub own_log: Option<Arc<dyn OwnLog>>,
    /// Builds the Files view when the run ends.
    pub files: Option<FilesWatch>,
}

/// What the daemon keeps about its files between runs, and what a run needs
/// to say what the next one will do.
#[derive(Debug, Clone)]
pub struct FilesWatch {
    /// The last runs' look at each log (growth).
    pub tracker: Arc<Mutex<FileTracker>>,
    /// The time between scheduled runs: the next run's cutoff is this much
    /// later than this one's.
    pub interval: Duration,
}

/// Files done and bytes reclaimed so far, across the two jobs: the logs count
/// one per file, the merge queue counts as one more file.
#[derive(Debug, Default)]
struct Tally {
    logs_total: u64,
    logs_done: u64,
    logs_bytes: u64,
    queue_done: bool,
    queue_bytes: u64,
}

impl Tally {
    fn progress(&self, run_id: u64) -> Event {
        Event::Progress {
            run_id,
            files_done: self.logs_done + u64::from(self.queue_done),
            files_total: self.logs_total + 1,
            bytes_reclaimed: self.logs_bytes + self.queue_bytes,
            current: None,
        }
    }
}

impl ActiveRun {
    /// Starts a run on the blocking pool; `dispatch` carries the daemon's log
    /// to that thread, so whatever the engine logs lands in our log, and
    /// `aids` says what else the run does for the daemon ([`RunAids`]).
    pub fn spawn(
        run_id: u64,
        trigger: Trigger,
        build: BuildDir,
        options: RunOptions,
        pruner: Pruner,
        dispatch: tracing::Dispatch,
        aids: RunAids,
    ) -> Self {
        let RunAids { own_log, files } = aids;
        let (tx, events) = mpsc::unbounded_channel();
        let handle = tokio::task::spawn_blocking(move || {
            // On a thread of its own, at a lower priority: pruning is
            // housekeeping, and must not slow the user's work or the
            // daemon's event stream (the blocking pool's threads are reused,
            // and an unprivileged thread cannot take its priority back).
            let run = move || {
                platform::lower_thread_priority();
                tracing::dispatcher::with_default(&dispatch, || {
                    let mut last_progress: Option<Instant> = None;
                    let mut forward = |event: &PruneEvent| {
                        if let PruneEvent::Progress { done, total, .. } = event {
                            let now = Instant::now();
                            let recent = last_progress.is_some_and(|at| now - at < PROGRESS_EVERY);
                            if recent && done < total {
                                return;
                            }
                            last_progress = Some(now);
                        }
                        // The control task outlives the run; if it is gone, so is the daemon.
                        let _ = tx.send(event.clone());
                    };
                    let outcome = match own_log {
                        Some(own) => {
                            logs::with_own_log(own, || pruner(&build, &options, &mut forward))
                        }
                        None => pruner(&build, &options, &mut forward),
                    };
                    // Still at the run's priority: the view is housekeeping too.
                    // A logs job that failed as a whole saw no files: keep the last view.
                    let view = match (&outcome, files) {
                        (Ok(report), Some(files)) if report.logs_error().is_none() => {
                            Some(files_view(&build, run_id, &options, report, &files))
                        }
                        _ => None,
                    };
                    (outcome, view)
                })
            };
            let joined = std::thread::scope(|scope| {
                match std::thread::Builder::new()
                    .name("prune-run".into())
                    .spawn_scoped(scope, run)
                {
                    Ok(thread) => thread.join(),
                    // Recorded as a failed run, like any panic in it.
                    Err(err) => panic!("could not start the run's thread: {err}"),
                }
            });
            match joined {
                Ok(outcome) => outcome,
                // The blocking task panics in turn, as it did before.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        });
        Self {
            run_id,
            trigger,
            started_at_ms: now_ms(),
            handle,
            events,
            tally: Tally::default(),
        }
    }

    /// Waits for the run's next step. Cancel-safe, for the control loop's `select!`.
    pub async fn next(&mut self) -> Step {
        tokio::select! {
            biased;
            // Every event is sent before the run returns, so they all drain
            // before the end is seen.
            Some(event) = self.events.recv() => self.translate(event),
            joined = &mut self.handle => Step::Finished(self.finish(joined)),
        }
    }

    fn translate(&mut self, event: PruneEvent) -> Step {
        let run_id = self.run_id;
        let tally = &mut self.tally;
        match event {
            PruneEvent::JobStarted {
                job: Job::Logs,
                total,
            } => {
                tally.logs_total = total;
                Step::Event(tally.progress(run_id))
            }
            PruneEvent::Progress {
                job: Job::Logs,
                done,
                total,
                bytes_reclaimed,
            } => {
                tally.logs_done = done;
                tally.logs_total = total;
                tally.logs_bytes = bytes_reclaimed;
                Step::Event(tally.progress(run_id))
            }
            PruneEvent::Progress {
                job: Job::Queue,
                done,
                total,
                ..
            } if done >= total => {
                tally.queue_done = true;
                Step::Event(tally.progress(run_id))
            }
            PruneEvent::ItemPruned {
                job,
                item,
                detail,
                bytes_reclaimed,
            } => {
                if job == Job::Queue {
                    tally.queue_bytes += bytes_reclaimed;
                }
                Step::Event(Event::ItemPruned {
                    run_id,
                    job,
                    item: clip_text(&item),
                    detail: clip_text(&detail),
                    bytes_reclaimed,
                })
            }
            // Skipped items reach the record through the report.
            _ => Step::Nothing,
        }
    }

    fn finish(
        &self,
        joined: Result<(Result<RunReport, PruneError>, Option<FilesView>), JoinError>,
    ) -> Finished {
        let finished_at_ms = now_ms().max(self.started_at_ms);
        let (id, trigger, started) = (self.run_id, self.trigger, self.started_at_ms);
        match joined {
            Ok((Ok(report), view)) => Finished {
                record: RunRecord::from_report(id, trigger, started, finished_at_ms, &report),
                failure: None,
                files: view.map(Box::new),
            },
            Ok((Err(err), _)) => {
                let report = RunReport {
                    errors: vec![err.to_string()],
                    ..RunReport::default()
                };
                Finished {
                    record: RunRecord::from_report(id, trigger, started, finished_at_ms, &report),
                    failure: Some(err.to_string()),
                    files: None,
                }
            }
            Err(err) => {
                let message = panic_message(err);
                Finished {
                    record: RunRecord::panicked(
                        id,
                        trigger,
                        started,
                        finished_at_ms,
                        false,
                        &message,
                    ),
                    failure: Some(format!("the run panicked: {message}")),
                    files: None,
                }
            }
        }
    }
}

/// The view of what the run left, its growth from the runs before.
fn files_view(
    build: &BuildDir,
    run_id: u64,
    options: &RunOptions,
    report: &RunReport,
    files: &FilesWatch,
) -> FilesView {
    let interval_ms = i64::try_from(files.interval.as_millis()).unwrap_or(i64::MAX);
    let context = RunContext {
        run_id: Some(run_id),
        at_ms: now_ms(),
        next_cutoff_ms: Some(
            options
                .cutoff
                .timestamp()
                .as_millisecond()
                .saturating_add(interval_ms),
        ),
        daemon_pid: Some(std::process::id()),
    };
    files
        .tracker
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .update(build, context, report)
}

/// The text of a panic, or what else ended the task.
fn panic_message(err: JoinError) -> String {
    if !err.is_panic() {
        return format!("the run was cancelled: {err}");
    }
    let payload = err.into_panic();
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

/// Now, in unix milliseconds, as the protocol carries time.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

#[cfg(test)]
mod tests {
    use v0_prune_shared::prune::{Cutoff, LogFacts, LogFate, LogsReport};

    use super::*;

    fn report_with_one_log(errors: Vec<String>) -> RunReport {
        RunReport {
            logs: LogsReport {
                files: vec![LogFacts {
                    path: "logs/a.log".into(),
                    size_before: 100,
                    size_after: 40,
                    lines_removed: 3,
                    oldest_entry: None,
                    holders: Some(Vec::new()),
                    fate: LogFate::Pruned(prune::LogMethod::Rewrite),
                }],
                ..LogsReport::default()
            },
            errors,
            ..RunReport::default()
        }
    }

    async fn files_of_a_run(report: RunReport) -> Option<Box<FilesView>> {
        let dir = tempfile::tempdir().expect("tempdir");
        let pruner: Pruner = Arc::new(move |_build, _options, _events| Ok(report.clone()));
        let options = RunOptions {
            cutoff: Cutoff::at(jiff::Timestamp::now()),
            dry_run: false,
        };
        let mut run = ActiveRun::spawn(
            7,
            Trigger::Request,
            BuildDir::new(dir.path()),
            options,
            pruner,
            tracing::Dispatch::none(),
            RunAids {
                own_log: None,
                files: Some(FilesWatch {
                    tracker: Arc::default(),
                    interval: Duration::from_secs(3600),
                }),
            },
        );
        loop {
            if let Step::Finished(finished) = run.next().await {
                return finished.files;
            }
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_finished_run_carries_the_view_of_what_it_left() {
        let view = files_of_a_run(report_with_one_log(Vec::new()))
            .await
            .expect("a view");
        assert_eq!(view.run_id, Some(7));
        assert_eq!(view.total_files, 1);
        let file = &view.largest[0];
        assert_eq!((file.path.as_str(), file.size), ("logs/a.log", 40));
        assert_eq!((file.lines_removed, file.bytes_reclaimed), (3, 60));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_run_whose_logs_job_failed_keeps_the_last_view() {
        let failed = report_with_one_log(vec!["logs: /b: permission denied".into()]);
        assert!(files_of_a_run(failed).await.is_none());
        // Another job's error does not hide the logs it saw.
        let queue_failed = report_with_one_log(vec!["merge queue: corrupt".into()]);
        assert!(files_of_a_run(queue_failed).await.is_some());
    }
}
