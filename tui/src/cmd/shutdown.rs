//! `v0-prune shutdown [--timeout SECS] [--dry-run]`: the pruning part of v0's
//! `shutdown`. Drains the daemon (its current run finishes, then it exits),
//! returning the moment it has exited; kills it if it has not within the
//! timeout; then prunes the merge queue and logs once more, here.
//!
//! Its two halves also run alone, for v0's own `bin/v0-shutdown`: once
//! installed (`assets/v0-prune-hooks.sh`), v0's `prune_daemon_wait` runs
//! `--drain-only`, and `v0_prune_mergeq` / `v0_prune_logs` run `--only
//! mergeq` / `--only logs`, which print those functions' own lines.
//!
//! Exit status: [`Exit::Success`] done; [`Exit::Error`] an error (or the
//! final prune reported errors); [`Exit::Killed`] the daemon had to be
//! killed (the final prune still ran); [`Exit::NotPruned`] the final prune
//! could not prune some logs or the merge queue (a full disk, ...).

use std::io::{self, IsTerminal as _, Write};
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use rustix::process::Signal;
use tokio::time::Instant;
use v0_prune_daemon::{read_pid, run_summary, takeover};
use v0_prune_shared::client::{Client, DEFAULT_TIMEOUT, Subscription, Update};
use v0_prune_shared::config::Project;
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::protocol::{DaemonState, Event};
use v0_prune_shared::prune::{self, Cutoff, PruneError, RunLock, RunOptions};
use v0_prune_shared::units::human_bytes;

use super::{progress, report_error};
use crate::cli::args::{Part, ShutdownArgs};
use crate::cli::exit_code::Exit;
use crate::daemon_ctl::{self, DaemonPid, DaemonProcess, Probe};
use crate::report::{self, retention_words, write_v0_logs, write_v0_mergeq};

/// The daemon's log names us by this.
const CLIENT_NAME: &str = "v0-prune shutdown";

/// How long a killed daemon may take to vanish before we carry on anyway.
const AFTER_KILL: Duration = Duration::from_secs(5);

/// What `v0-prune shutdown` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Stop the daemon, then prune merge queue and logs once more.
    Full,
    /// Stop the daemon, silently but for warnings (`--drain-only`).
    DrainOnly,
    /// Prune one part in v0's words; leave the daemon alone (`--only`).
    Only(Part),
}

/// How to shut down.
#[derive(Debug, Clone)]
pub struct ShutdownOptions {
    /// How long the daemon may take to finish its run and exit.
    pub timeout: Duration,
    /// Change nothing; say what would happen.
    pub dry_run: bool,
    /// Show progress on one line rewritten in place (stderr is a terminal)
    /// rather than a line per change.
    pub live_progress: bool,
    /// All, or one half.
    pub mode: Mode,
}

/// `v0-prune shutdown` from `main`: discovery, the command, errors on stderr.
pub fn main(args: &ShutdownArgs) -> Exit {
    let options = ShutdownOptions {
        timeout: Duration::from_secs(args.timeout),
        dry_run: args.dry_run,
        live_progress: io::stderr().is_terminal(),
        mode: match (args.drain_only, args.only) {
            (true, _) => Mode::DrainOnly,
            (false, Some(part)) => Mode::Only(part),
            (false, None) => Mode::Full,
        },
    };
    let result = daemon_ctl::discover(args.build_dir.as_deref()).and_then(|project| {
        let (stdout, stderr) = (io::stdout(), io::stderr());
        let mut out = super::UntilClosed::new(stdout.lock());
        shutdown(&project, &options, &mut out, &mut stderr.lock())
    });
    result.unwrap_or_else(|err| report_error(&err))
}

/// How the daemon was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stopped {
    /// There was none.
    NotRunning,
    /// It finished its run and exited.
    Drained,
    /// It did not exit in time and was killed.
    Killed,
}

/// Stops the daemon of `project` and prunes once more (see the module docs).
pub fn shutdown(
    project: &Project,
    options: &ShutdownOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Exit> {
    let build = &project.build_dir;
    match options.mode {
        Mode::Full => {}
        Mode::DrainOnly => {
            let stopped = if build.root().is_dir() {
                daemon_ctl::block_on(stop(build, options, &mut io::sink(), err))??
            } else {
                Stopped::NotRunning
            };
            return Ok(match stopped {
                Stopped::Killed => Exit::Killed,
                Stopped::NotRunning | Stopped::Drained => Exit::Success,
            });
        }
        Mode::Only(part) => {
            let status = prune_part(project, part, options.dry_run, out, err)?;
            out.flush()?;
            return Ok(status);
        }
    }
    let stopped = if options.dry_run {
        match daemon_ctl::daemon_process(build) {
            DaemonProcess::Running { pid: Some(pid) } => {
                writeln!(out, "Would stop prune daemon (pid: {pid})")?;
            }
            DaemonProcess::Running { pid: None } => {
                writeln!(out, "Would stop prune daemon (pid: unknown)")?;
            }
            DaemonProcess::NotRunning => writeln!(out, "No prune daemon running")?,
        }
        Stopped::NotRunning
    } else if build.root().is_dir() {
        daemon_ctl::block_on(stop(build, options, out, err))??
    } else {
        writeln!(out, "No prune daemon running")?;
        Stopped::NotRunning
    };
    let status = final_prune(project, options.dry_run, out, err)?;
    out.flush()?;
    Ok(match stopped {
        Stopped::Killed => Exit::Killed,
        Stopped::NotRunning | Stopped::Drained => status,
    })
}

/// The exit status of a prune here: errors before items that could not be
/// pruned, else success.
fn prune_status(errors: bool, not_pruned: usize) -> Exit {
    if errors {
        Exit::Error
    } else if not_pruned > 0 {
        Exit::NotPruned
    } else {
        Exit::Success
    }
}

pub(crate) async fn stop(
    build: &BuildDir,
    options: &ShutdownOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Stopped> {
    let deadline = Instant::now() + options.timeout;
    let hello_within = DEFAULT_TIMEOUT.min(options.timeout.max(Duration::from_millis(200)));
    let (daemon, exited) = match daemon_ctl::probe(build, CLIENT_NAME, hello_within).await {
        Probe::NotRunning => {
            let Some(pid) = foreign_daemon(build) else {
                writeln!(out, "No prune daemon running")?;
                return Ok(Stopped::NotRunning);
            };
            // v0's own bash daemon, still running from before the install:
            // no lock or socket of ours, only the pid file names it. v0's
            // prune_daemon_wait would stop it; so do we, without polling.
            writeln!(out, "Waiting for background pruning to complete...")?;
            out.flush()?;
            writeln!(
                err,
                "The prune daemon (pid {pid}) is not v0-prune's (v0's own, started before v0-prune was installed?); asking it to stop with SIGTERM"
            )?;
            let daemon = DaemonPid::open(pid);
            daemon
                .signal(Signal::TERM)
                .with_context(|| format!("sending SIGTERM to the prune daemon (pid {pid})"))?;
            let exited = tokio::time::timeout_at(deadline, daemon.exited())
                .await
                .is_ok();
            (daemon, exited)
        }
        Probe::Answering(client) => {
            writeln!(out, "Waiting for background pruning to complete...")?;
            out.flush()?;
            let daemon = DaemonPid::open(client.daemon_pid());
            // v0's own shutdown waits without a word; a terminal still sees what for.
            let quiet = options.mode == Mode::DrainOnly && !options.live_progress;
            let mut progress = Progress::new(daemon.pid(), options.live_progress, quiet);
            let exited = drain(build, client, &daemon, deadline, &mut progress, err).await?;
            progress.clear(err)?;
            (daemon, exited)
        }
        Probe::Unresponsive { pid, .. } if daemon_ctl::other_user(build, pid).is_some() => {
            let user = daemon_ctl::other_user(build, pid);
            return Err(user.map_or_else(
                || anyhow!("the prune daemon runs as another user"),
                |user| daemon_ctl::other_user_error(&user),
            ));
        }
        Probe::Unresponsive {
            pid: Some(pid),
            error,
        } => {
            writeln!(out, "Waiting for background pruning to complete...")?;
            out.flush()?;
            writeln!(
                err,
                "warning: the prune daemon (pid {pid}) does not answer on its socket ({error}); asking it to stop with SIGTERM"
            )?;
            let daemon = DaemonPid::open(pid);
            daemon
                .signal(Signal::TERM)
                .with_context(|| format!("sending SIGTERM to the prune daemon (pid {pid})"))?;
            let exited = tokio::time::timeout_at(deadline, daemon.exited())
                .await
                .is_ok();
            (daemon, exited)
        }
        Probe::Unresponsive { pid: None, error } => {
            if daemon_ctl::daemon_process(build) == DaemonProcess::NotRunning {
                writeln!(err, "warning: {error}")?;
                writeln!(out, "No prune daemon running")?;
                return Ok(Stopped::NotRunning);
            }
            return Err(anyhow!(error).context(
                "a prune daemon holds this build directory's lock, but it neither answers nor names its pid; stop it by hand",
            ));
        }
    };
    if exited {
        writeln!(out, "Background pruning stopped")?;
        return Ok(Stopped::Drained);
    }
    let pid = daemon.pid();
    daemon
        .signal(Signal::KILL)
        .with_context(|| format!("killing the prune daemon (pid {pid})"))?;
    writeln!(
        err,
        "warning: the prune daemon (pid {pid}) did not stop within {}s; killed it",
        options.timeout.as_secs()
    )?;
    let _ = tokio::time::timeout(AFTER_KILL, daemon.exited()).await;
    // A killed daemon cannot remove its pid file; v0's tools would trust it.
    if read_pid(&build.pid_file()) == Some(pid) {
        let _ = std::fs::remove_file(build.pid_file());
    }
    writeln!(out, "Background pruning stopped")?;
    Ok(Stopped::Killed)
}

/// The pid of v0's bash daemon when `.prune-daemon.pid` names one while no
/// daemon of ours holds the build directory; the same test the takeover
/// uses, so a pid reused by another program (after a daemon was killed) is
/// left alone.
fn foreign_daemon(build: &BuildDir) -> Option<u32> {
    takeover::find_bash_daemon(build, Some(std::process::id())).map(|bash| bash.pid)
}

/// Drains an answering daemon: follows its events (to show what we wait
/// for) on the first connection, asks it to drain on a second, and waits
/// for the exit (the drain connection closing, then the process itself) or
/// the deadline. True when it exited in time.
async fn drain(
    build: &BuildDir,
    client: Client,
    daemon: &DaemonPid,
    deadline: Instant,
    progress: &mut Progress,
    err: &mut dyn Write,
) -> anyhow::Result<bool> {
    // A daemon already on its way out refuses new subscribers; waiting works all the same.
    let mut events = client.subscribe().await.ok();
    let draining = match Client::connect(build, CLIENT_NAME).await {
        Ok(asker) => asker.drain().await.ok(),
        Err(_) => None,
    };
    if draining.is_none() {
        // It went away between the two connections, or is exiting already;
        // SIGTERM takes the same way out in the daemon.
        daemon.signal(Signal::TERM).with_context(|| {
            format!("sending SIGTERM to the prune daemon (pid {})", daemon.pid())
        })?;
    }
    let exit = async {
        if let Some(draining) = draining {
            let _ = draining.wait_for_exit().await;
        }
        daemon.exited().await;
    };
    tokio::pin!(exit);
    loop {
        tokio::select! {
            () = &mut exit => return Ok(true),
            () = tokio::time::sleep_until(deadline) => return Ok(false),
            update = next_update(&mut events) => match update {
                Some(update) => progress.show(err, &update)?,
                None => events = None,
            },
        }
    }
}

/// The next update of an open subscription; never, once it has ended.
async fn next_update(events: &mut Option<Subscription>) -> Option<Update> {
    match events {
        Some(subscription) => subscription.next().await.ok().flatten(),
        None => std::future::pending().await,
    }
}

/// What we are waiting for, on stderr: one line rewritten in place on a
/// terminal, else a line each time it changes.
#[derive(Debug)]
struct Progress {
    /// The daemon's pid, which every line names.
    pid: u32,
    live: bool,
    /// Print nothing at all.
    quiet: bool,
    shown: Option<String>,
}

impl Progress {
    fn new(pid: u32, live: bool, quiet: bool) -> Self {
        Self {
            pid,
            live,
            quiet,
            shown: None,
        }
    }

    fn show(&mut self, err: &mut dyn Write, update: &Update) -> io::Result<()> {
        if self.quiet {
            return Ok(());
        }
        let text = match update {
            Update::Snapshot { snapshot, .. } => match &snapshot.current_run {
                Some(run) => format!("waiting for run #{}: {}", run.run_id, progress(run)),
                None => return Ok(()),
            },
            Update::Event { event, .. } => match event {
                Event::RunStarted { run_id, .. } => format!("waiting for run #{run_id}"),
                Event::Progress {
                    run_id,
                    files_done,
                    files_total,
                    bytes_reclaimed,
                    ..
                } if self.live => format!(
                    "waiting for run #{run_id}: {files_done}/{files_total} files, {} reclaimed",
                    human_bytes(*bytes_reclaimed)
                ),
                Event::RunFinished { record } => {
                    format!("run #{} finished: {}", record.run_id, run_summary(record))
                }
                Event::StateChanged {
                    state: DaemonState::Draining,
                } => format!(
                    "the prune daemon (pid {}) is stopping, as asked: its current run finishes first",
                    self.pid
                ),
                Event::Exiting { reason } => {
                    format!("the prune daemon (pid {}) is exiting: {reason}", self.pid)
                }
                _ => return Ok(()),
            },
            Update::Lagged { .. } => return Ok(()),
        };
        if self.shown.as_deref() == Some(text.as_str()) {
            return Ok(());
        }
        if self.live {
            write!(err, "\r\x1b[2K{text}")?;
        } else {
            writeln!(err, "{text}")?;
        }
        self.shown = Some(text);
        err.flush()
    }

    /// Removes the in-place line so the next output starts clean.
    fn clear(&mut self, err: &mut dyn Write) -> io::Result<()> {
        if self.live && self.shown.take().is_some() {
            write!(err, "\r\x1b[2K")?;
            err.flush()?;
        }
        Ok(())
    }
}

/// The last prune of merge queue and logs, here and now, with its report.
/// Returns the exit status it calls for ([`prune_status`]; errors are
/// printed on `err`).
fn final_prune(
    project: &Project,
    dry_run: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Exit> {
    let build = &project.build_dir;
    if !build.root().is_dir() {
        writeln!(
            out,
            "Nothing else to prune: the build directory {} does not exist",
            build.root().display()
        )?;
        return Ok(Exit::Success);
    }
    let now = jiff::Timestamp::now();
    let options = RunOptions {
        cutoff: Cutoff::before(now, project.settings.retention),
        dry_run,
    };
    let budget = project.settings.budget(now);
    let report = if dry_run {
        // Only reads; taking the lock would create its file.
        prune::run_locked_within(build, &options, budget.as_ref(), &mut prune::ignore_events)
    } else {
        let _lock = acquire_run_lock(build, err)?;
        prune::run_locked_within(build, &options, budget.as_ref(), &mut prune::ignore_events)
    };
    report::write_run(out, &report).context("writing the report")?;
    for error in &report.errors {
        writeln!(err, "Error: {error}")?;
    }
    Ok(prune_status(
        !report.errors.is_empty(),
        report.failed().count(),
    ))
}

/// `--only PART`: one half of the final prune, under the run lock (a dry
/// run only reads), printed as v0's function for it prints. Returns the
/// exit status it calls for ([`prune_status`]; errors are printed on `err`).
fn prune_part(
    project: &Project,
    part: Part,
    dry_run: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Exit> {
    let build = &project.build_dir;
    // v0's functions return without a word when there is no build directory.
    if !build.root().is_dir() {
        return Ok(Exit::Success);
    }
    let options = RunOptions {
        cutoff: Cutoff::before(jiff::Timestamp::now(), project.settings.retention),
        dry_run,
    };
    let _lock = if dry_run {
        None
    } else {
        Some(acquire_run_lock(build, err)?)
    };
    let age = retention_words(project.settings.retention);
    let result = match part {
        Part::Mergeq => {
            prune::queue::prune(build, &options, &mut prune::ignore_events).map(|queue| {
                (
                    write_v0_mergeq(out, &queue, dry_run, &age),
                    queue.failed.len(),
                )
            })
        }
        Part::Logs => prune::logs::prune_all(build, &options, &mut prune::ignore_events)
            .map(|logs| (write_v0_logs(out, &logs, dry_run, &age), logs.failed.len())),
    };
    match result {
        Ok((written, not_pruned)) => {
            written.context("writing the report")?;
            Ok(prune_status(false, not_pruned))
        }
        Err(error) => {
            let what = match part {
                Part::Mergeq => "merge queue",
                Part::Logs => "logs",
            };
            writeln!(err, "Error: {what}: {error}")?;
            Ok(Exit::Error)
        }
    }
}

/// The run lock, waiting (and saying so) while another prune holds it.
fn acquire_run_lock(build: &BuildDir, err: &mut dyn Write) -> anyhow::Result<RunLock> {
    match RunLock::try_acquire(build) {
        Ok(lock) => Ok(lock),
        Err(PruneError::Busy(_)) => {
            writeln!(
                err,
                "Another prune is running in {} (it holds .prune-daemon.lock); waiting for it to finish...",
                build.root().display()
            )?;
            RunLock::acquire(build).context("waiting for the other prune to finish")
        }
        Err(error) => Err(anyhow::Error::new(error).context("taking the prune lock")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use v0_prune_shared::protocol::{RunProgress, Trigger};
    use v0_prune_shared::prune::{LogsReport, QueueReport, Skipped};

    fn run_started(run_id: u64) -> Update {
        Update::Event {
            seq: 1,
            event: Event::RunStarted {
                run_id,
                trigger: Trigger::Signal,
                started_at_ms: 0,
            },
        }
    }

    fn progress_event(done: u64) -> Update {
        Update::Event {
            seq: 2,
            event: Event::Progress {
                run_id: 12,
                files_done: done,
                files_total: 1200,
                bytes_reclaimed: 2048,
                current: None,
            },
        }
    }

    fn printed(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> String {
        let mut buffer = Vec::new();
        write(&mut buffer).expect("writing to a Vec");
        String::from_utf8(buffer).expect("utf-8")
    }

    #[test]
    fn only_mergeq_prints_what_v0_prune_mergeq_prints() {
        let mut queue = QueueReport {
            present: true,
            entries_before: 5,
            removed: vec![
                prune::RemovedEntry {
                    label: "a".into(),
                    status: "completed".into(),
                };
                2
            ],
            ..QueueReport::default()
        };
        let age = "6 hours";
        assert_eq!(
            printed(|out| write_v0_mergeq(out, &queue, false, age)),
            "Pruned 2 mergeq entries older than 6 hours\n"
        );
        assert_eq!(
            printed(|out| write_v0_mergeq(out, &queue, true, age)),
            "Would prune 2 mergeq entries older than 6 hours\n"
        );
        queue.removed.clear();
        assert_eq!(printed(|out| write_v0_mergeq(out, &queue, false, age)), "");
        assert_eq!(
            printed(|out| write_v0_mergeq(out, &queue, true, age)),
            "No mergeq entries older than 6 hours to prune\n"
        );
        // v0 says nothing of a missing or empty queue, even in a dry run.
        queue.entries_before = 0;
        assert_eq!(printed(|out| write_v0_mergeq(out, &queue, true, age)), "");
        let absent = QueueReport::default();
        assert_eq!(printed(|out| write_v0_mergeq(out, &absent, true, age)), "");
    }

    #[test]
    fn only_logs_prints_what_v0_prune_logs_prints_and_our_skips() {
        let mut logs = LogsReport {
            files_examined: 3,
            pruned: vec![prune::LogOutcome {
                path: "logs/mergeq.log".into(),
                lines_removed: 12,
                bytes_before: 100,
                bytes_after: 10,
                method: prune::LogMethod::Rewrite,
                reason: String::new(),
            }],
            skipped: vec![Skipped {
                item: "logs/worker.log".into(),
                reason: "held open by a writer without O_APPEND (pid 7)".into(),
            }],
            ..LogsReport::default()
        };
        let age = "6 hours";
        assert_eq!(
            printed(|out| write_v0_logs(out, &logs, false, age)),
            "Pruned 12 lines from: logs/mergeq.log\n\
             Skipped logs/worker.log: held open by a writer without O_APPEND (pid 7)\n"
        );
        logs.skipped.clear();
        assert_eq!(
            printed(|out| write_v0_logs(out, &logs, true, age)),
            "Would prune 12 lines from: logs/mergeq.log\n"
        );
        logs.pruned.clear();
        assert_eq!(printed(|out| write_v0_logs(out, &logs, false, age)), "");
        assert_eq!(
            printed(|out| write_v0_logs(out, &logs, true, age)),
            "No log entries older than 6 hours to prune\n"
        );
        // No *.log at all: v0 returns before its "No log entries" line.
        logs.files_examined = 0;
        assert_eq!(printed(|out| write_v0_logs(out, &logs, true, age)), "");
    }

    #[test]
    fn without_a_terminal_each_change_is_one_line_and_progress_is_quiet() {
        let mut progress = Progress::new(42, false, false);
        let mut err = Vec::new();
        for update in [
            run_started(12),
            progress_event(340),
            progress_event(341),
            run_started(12),
        ] {
            progress.show(&mut err, &update).expect("show");
        }
        progress.clear(&mut err).expect("clear");
        assert_eq!(
            String::from_utf8(err).expect("utf-8"),
            "waiting for run #12\n"
        );
    }

    #[test]
    fn on_a_terminal_one_line_is_rewritten_then_cleared() {
        let mut progress = Progress::new(42, true, false);
        let mut err = Vec::new();
        progress.show(&mut err, &progress_event(340)).expect("show");
        progress.clear(&mut err).expect("clear");
        assert_eq!(
            String::from_utf8(err).expect("utf-8"),
            "\r\x1b[2Kwaiting for run #12: 340/1200 files, 2.0 KiB reclaimed\r\x1b[2K"
        );
    }

    #[test]
    fn a_snapshot_mid_run_says_which_run_we_wait_for() {
        let mut snapshot = crate::cmd::status::test_support::snapshot();
        snapshot.current_run = Some(RunProgress {
            run_id: 7,
            trigger: Trigger::Startup,
            started_at_ms: 0,
            files_done: 3,
            files_total: 10,
            bytes_reclaimed: 0,
            current: None,
        });
        let mut progress = Progress::new(42, false, false);
        let mut err = Vec::new();
        progress
            .show(
                &mut err,
                &Update::Snapshot {
                    seq: 0,
                    snapshot: Box::new(snapshot),
                },
            )
            .expect("show");
        assert_eq!(
            String::from_utf8(err).expect("utf-8"),
            "waiting for run #7: 3/10 files, 0 B reclaimed\n"
        );
    }
}
