//! The control loop: one `select!` over the schedule's timer, signals, client
//! commands and the run in progress. Nothing here polls; between runs the
//! daemon sleeps in the kernel until one of those wakes it.
//!
//! SIGTERM, SIGINT and a client's drain request take one path
//! ([`Control::drain`]): the run in progress finishes, nothing new starts, and
//! the loop returns so the daemon can clean up and exit.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use v0_prune_shared::config::Settings;
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::protocol::{
    DaemonState, Event, RECORD_SKIPPED, RunOutcome, RunRecord, Trigger,
};
use v0_prune_shared::prune::{Cutoff, RunOptions};
use v0_prune_shared::units::{human_bytes, human_duration};

use crate::history::History;
use crate::hub::Hub;
use crate::run::{ActiveRun, Finished, Pruner, Step, now_ms};
use crate::scheduler::{Accepted, Scheduler};
use crate::signals::{DaemonSignal, Signals};

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
    scheduler: Scheduler,
    run: Option<ActiveRun>,
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
        let scheduler = Scheduler::new(settings.interval, history.next_run_id, Instant::now());
        Self {
            build,
            settings,
            hub,
            history,
            history_path,
            pruner,
            dispatch,
            scheduler,
            run: None,
            exit_reason: None,
        }
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
            let due = self.scheduler.due();
            let timer_armed = self.scheduler.waiting_for_timer();
            tokio::select! {
                signal = signals.recv() => self.on_signal(signal),
                Some(command) = commands.recv() => self.on_command(command),
                step = next_step(&mut self.run) => self.on_step(step),
                () = tokio::time::sleep_until(due), if timer_armed => {
                    self.trigger(Trigger::Schedule);
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
        let run = ActiveRun::spawn(
            run_id,
            trigger,
            self.build.clone(),
            options,
            Arc::clone(&self.pruner),
            self.dispatch.clone(),
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
            at_ms: run.started_at_ms + millis(self.settings.interval),
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
        let Finished { record, failure } = finished;
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
        self.hub.publish(Event::RunFinished { record });
        let now = Instant::now();
        let pending = self.scheduler.finish(now);
        if self.scheduler.draining() {
            return;
        }
        match pending {
            Some(pending) => self.start(pending),
            None => {
                self.hub.publish(Event::StateChanged {
                    state: DaemonState::Idle,
                });
                let wait = self.scheduler.due().saturating_duration_since(now);
                self.hub.publish(Event::NextRun {
                    at_ms: now_ms() + millis(wait),
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
}

/// `3 logs, 120 lines, 2 mergeq entries, 14.2 KiB reclaimed in 12ms`.
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
    if !record.errors.is_empty() {
        text.push_str(&format!(
            " ({} {})",
            record.errors.len(),
            plural(record.errors.len() as u64, "error", "errors")
        ));
    }
    text
}

fn plural<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
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

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use v0_prune_shared::prune::RunReport;

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
            };
            3
        ];
        let record = RunRecord::from_report(1, Trigger::Startup, 0, 12, &report);
        assert_eq!(
            summary(&record),
            "3 logs, 120 lines, 0 mergeq entries, 14.2 KiB reclaimed in 12ms"
        );
    }

    #[test]
    fn intervals_print_as_v0_prints_them() {
        assert_eq!(seconds(Duration::from_secs(3600)), "3600");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5");
    }
}
