//! The control loop: one `select!` over the schedule's timer, signals, client
//! commands and the run in progress. Between runs the daemon sleeps in the
//! kernel until one of those wakes it; the timer wakes it at least every
//! [`crate::scheduler::WALL_CHECK_EVERY`] to compare the wall clock with the
//! due time, so a run that fell due while the machine was suspended starts
//! soon after the wake (see [`crate::scheduler`]).
//!
//! SIGTERM, SIGINT and a client's drain request take one path
//! ([`Control::drain`]): the run in progress finishes, nothing new starts, and
//! the loop returns so the daemon can clean up and exit.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use v0_prune_shared::config::Settings;
use v0_prune_shared::files_view::FileTracker;
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::protocol::{
    DaemonState, Event, FilesView, RECORD_SKIPPED, RunOutcome, RunRecord, Trigger,
};
use v0_prune_shared::prune::{Cutoff, RunOptions};
use v0_prune_shared::units::{human_bytes, human_duration};
use v0_prune_shared::words::plural;

use crate::history::History;
use crate::hub::Hub;
use crate::run::{ActiveRun, FilesWatch, Finished, Pruner, RunAids, Step};
use crate::scheduler::{Accepted, Clock, Scheduler, SystemClock};
use crate::signals::{DaemonSignal, Signals};
use crate::v0_log;

/// What a client connection asks of the control loop.
#[derive(Debug)]
pub enum Command {
    /// Run as soon as possible; the reply says which run covers it, or why not.
    RunNow {
        /// Who asked, for the log.
        client: String,
        /// The answer.
        reply: oneshot::Sender<Result<Accepted, String>>,
    },
    /// Finish the current run and exit.
    Drain {
        /// Who asked, for the log and the `Exiting` event.
        client: String,
    },
}

/// The daemon's moving parts, owned by the control task.
pub struct Control {
    /// The build directory pruned.
    pub build: BuildDir,
    /// Retention and interval.
    pub settings: Settings,
    /// Where state is published.
    pub hub: Arc<Hub>,
    /// The persisted run history.
    pub history: History,
    /// Where it is saved.
    pub history_path: PathBuf,
    /// What runs a prune.
    pub pruner: Pruner,
    /// The daemon's log, for the run's thread.
    pub dispatch: tracing::Dispatch,
    clock: Arc<dyn Clock>,
    scheduler: Scheduler,
    run: Option<ActiveRun>,
    /// The last runs' look at each log, for the Files view.
    files: Arc<std::sync::Mutex<FileTracker>>,
    /// The view last published, to publish only changes.
    files_sent: Option<Box<FilesView>>,
    exit_reason: Option<String>,
}

impl Control {
    /// A control loop whose first run is due now.
    pub fn new(
        build: BuildDir,
        settings: Settings,
        hub: Arc<Hub>,
        history: History,
        history_path: PathBuf,
        pruner: Pruner,
        dispatch: tracing::Dispatch,
    ) -> Self {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let scheduler = Scheduler::new(settings.interval, history.next_run_id, clock.now());
        Self {
            build,
            settings,
            hub,
            history,
            history_path,
            pruner,
            dispatch,
            clock,
            scheduler,
            run: None,
            files: Arc::default(),
            files_sent: None,
            exit_reason: None,
        }
    }

    /// The same loop reading time from `clock` (a machine that suspends, in tests).
    #[cfg(test)]
    fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.scheduler = Scheduler::new(
            self.settings.interval,
            self.history.next_run_id,
            clock.now(),
        );
        self.clock = clock;
        self
    }

    /// Runs until drained; returns why the daemon exits.
    pub async fn run(
        mut self,
        mut signals: Signals,
        mut commands: mpsc::Receiver<Command>,
    ) -> String {
        self.trigger(Trigger::Startup);
        loop {
            if self.scheduler.draining() && self.run.is_none() {
                break;
            }
            let wake = self.scheduler.wake_at(self.clock.now());
            let timer_armed = self.scheduler.waiting_for_timer();
            tokio::select! {
                signal = signals.recv() => self.on_signal(signal),
                Some(command) = commands.recv() => self.on_command(command),
                step = next_step(&mut self.run) => self.on_step(step),
                () = tokio::time::sleep_until(wake), if timer_armed => {
                    if self.scheduler.is_due(self.clock.now()) {
                        self.trigger(Trigger::Schedule);
                    }
                }
            }
        }
        self.exit_reason
            .unwrap_or_else(|| "the daemon was asked to stop".to_owned())
    }

    fn on_signal(&mut self, signal: DaemonSignal) {
        match signal {
            DaemonSignal::WakeUp => {
                tracing::info!("Received SIGUSR1, waking up");
                if self.trigger(Trigger::Signal).is_none() {
                    tracing::info!("Not starting a new run: the daemon is shutting down");
                }
            }
            DaemonSignal::Terminate | DaemonSignal::Interrupt => {
                let name = signal.name();
                tracing::info!("Received {name}, will exit after current operation");
                self.drain(name.to_owned());
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::RunNow { client, reply } => {
                let answer = match self.trigger(Trigger::Request) {
                    Some(accepted) => {
                        let how = if accepted.start_now {
                            "starting now"
                        } else if accepted.coalesced {
                            "already queued after the current run"
                        } else {
                            "queued after the current run"
                        };
                        tracing::info!("Run requested by {client}: run #{} {how}", accepted.run_id);
                        Ok(accepted)
                    }
                    None => Err("the daemon is shutting down; it starts no new run".to_owned()),
                };
                let _ = reply.send(answer);
            }
            Command::Drain { client } => {
                tracing::info!("Drain requested by {client}, will exit after current operation");
                self.drain(format!("drain requested by {client}"));
            }
        }
    }

    /// Takes a trigger: starts a run now, or owes one after the current run.
    fn trigger(&mut self, trigger: Trigger) -> Option<Accepted> {
        let accepted = self.scheduler.trigger(trigger)?;
        if accepted.start_now {
            self.start(trigger);
        }
        Some(accepted)
    }

    fn start(&mut self, trigger: Trigger) {
        let run_id = self.scheduler.start();
        tracing::info!("Starting pruning...");
        let options = RunOptions {
            cutoff: Cutoff::before(jiff::Timestamp::now(), self.settings.retention),
            dry_run: false,
        };
        // Our log, which the engine may replace under us where it cannot
        // prune it in place (see `v0_log`).
        let own_log = v0_log::writer_of(&self.dispatch)
            .map(|writer| writer as Arc<dyn v0_prune_shared::prune::logs::OwnLog>);
        let run = ActiveRun::spawn(
            run_id,
            trigger,
            self.build.clone(),
            options,
            Arc::clone(&self.pruner),
            self.dispatch.clone(),
            RunAids {
                own_log,
                files: Some(FilesWatch {
                    tracker: Arc::clone(&self.files),
                    interval: self.settings.interval,
                }),
            },
        );
        self.hub.publish(Event::StateChanged {
            state: DaemonState::Running,
        });
        self.hub.publish(Event::RunStarted {
            run_id,
            trigger,
            started_at_ms: run.started_at_ms,
        });
        // Until this run ends, the next scheduled one is at least an interval away.
        self.hub.publish(Event::NextRun {
            at_ms: self.clock.now().after(self.settings.interval).wall_ms(),
        });
        self.run = Some(run);
    }

    fn on_step(&mut self, step: Step) {
        match step {
            Step::Event(event) => {
                self.hub.publish(event);
            }
            Step::Nothing => {}
            Step::Finished(finished) => {
                self.run = None;
                self.finish(finished);
            }
        }
    }

    fn finish(&mut self, finished: Finished) {
        let Finished {
            record,
            failure,
            files,
        } = finished;
        // Saved before "Pruning complete" is logged: whoever reads that line
        // (v0 users, scripts, tests) finds the run's state on disk settled.
        self.history.record(record.clone());
        if let Err(err) = self.history.save(&self.history_path) {
            tracing::warn!(
                "Could not save the run history to {}: {err}",
                self.history_path.display()
            );
        }
        log_outcome(&record, failure.as_deref());
        // Before the run's end, so whoever waits for that sees what it left.
        if let Some(view) = files
            && !self
                .files_sent
                .as_deref()
                .is_some_and(|sent| same_files(sent, &view))
        {
            self.files_sent = Some(view.clone());
            self.hub.publish(Event::Files { view });
        }
        self.hub.publish(Event::RunFinished { record });
        let pending = self.scheduler.finish(self.clock.now());
        if self.scheduler.draining() {
            return;
        }
        match pending {
            Some(pending) => self.start(pending),
            None => {
                self.hub.publish(Event::StateChanged {
                    state: DaemonState::Idle,
                });
                // The wall-clock time: what a suspend does not shift.
                self.hub.publish(Event::NextRun {
                    at_ms: self.scheduler.due().wall_ms(),
                });
                tracing::info!(
                    "Sleeping for {}s until next prune cycle",
                    seconds(self.settings.interval)
                );
            }
        }
    }

    /// The one way out: SIGTERM, SIGINT and a drain request all come here.
    fn drain(&mut self, reason: String) {
        if self.scheduler.draining() {
            tracing::info!("Already shutting down");
            return;
        }
        self.scheduler.drain();
        self.exit_reason = Some(reason);
        self.hub.publish(Event::StateChanged {
            state: DaemonState::Draining,
        });
        if let Some(run) = &self.run {
            tracing::info!("Waiting for run #{} to finish", run.run_id);
        }
    }
}

/// The run's next step, or never when nothing runs (a disabled `select!` arm).
async fn next_step(run: &mut Option<ActiveRun>) -> Step {
    match run {
        Some(run) => run.next().await,
        None => std::future::pending().await,
    }
}

/// Whether two views show the same files: when only the time and the run
/// differ, nothing is worth an event.
fn same_files(a: &FilesView, b: &FilesView) -> bool {
    let strip = |view: &FilesView| FilesView {
        as_of_ms: 0,
        run_id: None,
        largest: Vec::new(),
        skipped: Vec::new(),
        ..view.clone()
    };
    let without_runs = |files: &[v0_prune_shared::protocol::FileInfo]| {
        files
            .iter()
            .map(|f| v0_prune_shared::protocol::FileInfo {
                recent: Vec::new(),
                ..f.clone()
            })
            .collect::<Vec<_>>()
    };
    strip(a) == strip(b)
        && without_runs(&a.largest) == without_runs(&b.largest)
        && without_runs(&a.skipped) == without_runs(&b.skipped)
}

/// Logs how a run ended, in the words v0 users look for.
fn log_outcome(record: &RunRecord, failure: Option<&str>) {
    if record.outcome == RunOutcome::Panicked || failure.is_some() {
        tracing::error!(
            "Pruning failed (run #{}): {}; the daemon keeps going",
            record.run_id,
            failure.unwrap_or("unknown error")
        );
        return;
    }
    tracing::info!("Pruning complete: {}", summary(record));
    log_budget(record);
    for error in &record.errors {
        tracing::error!("{error}");
    }
    for skipped in &record.skipped {
        tracing::info!("Skipped {}: {}", skipped.item, skipped.reason);
    }
    let unlisted = record
        .skipped_total
        .saturating_sub(record.skipped.len() as u64);
    if unlisted > 0 {
        tracing::info!(
            "... and {unlisted} more skipped (only the first {RECORD_SKIPPED} are listed)"
        );
    }
    for failed in &record.failed {
        tracing::warn!("Could not prune {}: {}", failed.item, failed.reason);
    }
    let unlisted = record
        .failed_total
        .saturating_sub(record.failed.len() as u64);
    if unlisted > 0 {
        tracing::warn!(
            "... and {unlisted} more that could not be pruned (only the first {RECORD_SKIPPED} are listed)"
        );
    }
}

/// One line on the size budget, when it removed anything or the logs are
/// still over it: how much went for age and how much for the budget.
fn log_budget(record: &RunRecord) {
    let Some(budget) = &record.budget else {
        return;
    };
    if let Some(warning) = record.budget_warning() {
        tracing::warn!("Size budget: {}; {warning}", budget.summary());
    } else if budget.bytes_for_budget > 0 {
        tracing::info!("Size budget: {}", budget.summary());
    }
}

/// `3 logs, 120 lines, 2 mergeq entries, 14.2 KiB reclaimed in 12ms`, then
/// what could not be pruned, if anything (`; 1 log could not be pruned (no
/// space left on device)`), and the errors.
pub fn summary(record: &RunRecord) -> String {
    let mut text = format!(
        "{} {}, {} {}, {} mergeq {}, {} reclaimed in {}",
        record.log_files_pruned,
        plural(record.log_files_pruned, "log", "logs"),
        record.log_lines_removed,
        plural(record.log_lines_removed, "line", "lines"),
        record.queue_entries_removed,
        plural(record.queue_entries_removed, "entry", "entries"),
        human_bytes(record.bytes_reclaimed),
        human_duration(Duration::from_millis(record.duration_ms)),
    );
    if let Some(not_pruned) = record.not_pruned_summary() {
        text.push_str("; ");
        text.push_str(&not_pruned);
    }
    if !record.errors.is_empty() {
        text.push_str(&format!(
            " ({} {})",
            record.errors.len(),
            plural(record.errors.len() as u64, "error", "errors")
        ));
    }
    text
}

/// Whole seconds as v0 prints an interval; a sub-second one (tests) keeps its fraction.
pub fn seconds(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        duration.as_secs().to_string()
    } else {
        format!("{:.3}", duration.as_secs_f64())
            .trim_end_matches('0')
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::hub::Identity;
    use crate::scheduler::{Moment, WALL_CHECK_EVERY};
    use v0_prune_shared::protocol::Totals;
    use v0_prune_shared::prune::RunReport;

    const HOUR: Duration = Duration::from_secs(3600);

    /// A laptop's clocks: both advance with tokio's (paused) time, and
    /// [`SleepyClock::suspend`] moves the wall clock alone, as a suspend does.
    #[derive(Debug)]
    struct SleepyClock {
        start: Moment,
        slept: Mutex<Duration>,
    }

    impl SleepyClock {
        fn new() -> Self {
            Self {
                start: SystemClock.now(),
                slept: Mutex::new(Duration::ZERO),
            }
        }

        fn suspend(&self, for_: Duration) {
            *self.slept.lock().expect("lock") += for_;
        }
    }

    impl Clock for SleepyClock {
        fn now(&self) -> Moment {
            let mono = tokio::time::Instant::now();
            let slept = *self.slept.lock().expect("lock");
            Moment {
                mono,
                wall: self.start.wall + (mono - self.start.mono) + slept,
            }
        }
    }

    /// Lets the control task work (without letting paused time pass) until
    /// the hub says it is idle after `runs` runs.
    async fn idle_after(hub: &Hub, runs: u64) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let snapshot = hub.snapshot();
            if snapshot.state == DaemonState::Idle
                && snapshot
                    .last_run
                    .as_ref()
                    .is_some_and(|run| run.run_id == runs)
            {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "never idle: {snapshot:?}"
            );
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_run_that_fell_due_while_the_machine_slept_starts_within_a_slice_of_waking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let build = BuildDir::new(dir.path());
        let settings = Settings {
            interval: HOUR,
            ..Settings::default()
        };
        let identity = Identity {
            daemon_pid: 1,
            project: None,
            build_dir: dir.path().display().to_string(),
            started_at_ms: 0,
            interval_secs: 3600,
            retention_secs: 3600,
            budget: None,
        };
        let hub = Arc::new(Hub::new(identity, Totals::default(), &[]));
        let (ran_tx, mut ran) = mpsc::unbounded_channel();
        let pruner: Pruner = Arc::new(move |_build, _options, _events| {
            let _ = ran_tx.send(());
            Ok(RunReport::default())
        });
        let history_path = dir.path().join("history.json");
        let clock = Arc::new(SleepyClock::new());
        let control = Control::new(
            build,
            settings,
            Arc::clone(&hub),
            History::load(&history_path).0,
            history_path,
            pruner,
            tracing::Dispatch::none(),
        )
        .with_clock(Arc::clone(&clock) as Arc<dyn Clock>);
        let signals = Signals::install().expect("signals");
        let (commands_tx, commands) = mpsc::channel(1);
        let control = tokio::spawn(control.run(signals, commands));

        ran.recv().await.expect("the startup run");
        idle_after(&hub, 1).await;
        let next = clock.now().after(HOUR);
        assert_eq!(hub.snapshot().next_run_at_ms, Some(next.wall_ms()));

        // Half an hour awake: not due, and the loop keeps waking to look.
        tokio::time::advance(HOUR / 2).await;
        assert!(ran.try_recv().is_err(), "not due yet");
        // Then four and a half hours asleep: the run fell due meanwhile.
        clock.suspend(HOUR * 9 / 2);
        assert_eq!(
            hub.snapshot().next_run_at_ms,
            Some(next.wall_ms()),
            "shown at its true time, now past"
        );
        let woke = tokio::time::Instant::now();
        // Paused time jumps to the loop's next timer: its wake-up, or (were
        // the wall clock ignored) the monotonic due time half an hour on.
        ran.recv().await.expect("the scheduled run");
        let waited = woke.elapsed();
        assert!(
            waited <= WALL_CHECK_EVERY,
            "started {waited:?} after the wake"
        );
        idle_after(&hub, 2).await;
        let snapshot = hub.snapshot();
        assert_eq!(
            snapshot.last_run.map(|run| run.trigger),
            Some(Trigger::Schedule)
        );
        assert_eq!(
            snapshot.next_run_at_ms,
            Some(clock.now().after(HOUR).wall_ms()),
            "the next one an interval after this run, by the wall clock"
        );

        commands_tx
            .send(Command::Drain {
                client: "test".into(),
            })
            .await
            .expect("drain");
        let reason = control.await.expect("the loop ends");
        assert_eq!(reason, "drain requested by test");
    }

    #[test]
    fn the_summary_reads_like_a_sentence() {
        let mut report = RunReport::default();
        report.logs.lines_removed = 120;
        report.logs.bytes_before = 20_000;
        report.logs.bytes_after = 5_460;
        report.logs.pruned = vec![
            v0_prune_shared::prune::LogOutcome {
                path: "a.log".into(),
                lines_removed: 120,
                bytes_before: 20_000,
                bytes_after: 5_460,
                method: v0_prune_shared::prune::LogMethod::Rewrite,
                reason: String::new(),
            };
            3
        ];
        let record = RunRecord::from_report(1, Trigger::Startup, 0, 12, &report);
        assert_eq!(
            summary(&record),
            "3 logs, 120 lines, 0 mergeq entries, 14.2 KiB reclaimed in 12ms"
        );
    }

    /// A run that could not prune a log never reads as a quiet success.
    #[test]
    fn the_summary_says_what_could_not_be_pruned() {
        let mut report = RunReport::default();
        report.logs.files_examined = 2;
        report.logs.failed.push(v0_prune_shared::prune::Skipped {
            item: "logs/big.log".into(),
            reason: "no space left on device: free some space".into(),
        });
        let record = RunRecord::from_report(2, Trigger::Request, 0, 12, &report);
        assert_eq!(
            summary(&record),
            "0 logs, 0 lines, 0 mergeq entries, 0 B reclaimed in 12ms; \
             1 log could not be pruned (no space left on device)"
        );
    }

    #[test]
    fn intervals_print_as_v0_prints_them() {
        assert_eq!(seconds(Duration::from_secs(3600)), "3600");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5");
    }
}
