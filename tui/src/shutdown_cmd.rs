//! `v0-prune shutdown [--timeout SECS] [--dry-run]`: the pruning part of v0's
//! `shutdown`. Drains the daemon (its current run finishes, then it exits),
//! returning the moment it has exited; kills it if it has not within the
//! timeout; then prunes the merge queue and logs once more, here.
//!
//! Exit status: 0 done; 1 an error (or the final prune reported errors);
//! 4 the daemon had to be killed (the final prune still ran).

use std::io::{self, IsTerminal as _, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use rustix::process::Signal;
use tokio::time::Instant;
use v0_prune_daemon::{read_pid, run_summary};
use v0_prune_shared::client::{Client, DEFAULT_TIMEOUT, Subscription, Update};
use v0_prune_shared::config::Project;
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::protocol::{DaemonState, Event};
use v0_prune_shared::prune::{self, Cutoff, PruneError, RunLock, RunOptions};
use v0_prune_shared::units::human_bytes;

use crate::daemon_ctl::{self, DaemonPid, DaemonProcess, Probe};
use crate::report;
use crate::status_cmd::progress;

/// Exit status when the daemon did not stop in time and was killed.
pub const EXIT_KILLED: u8 = 4;

/// How long the daemon may take to stop unless `--timeout` says otherwise.
pub const DEFAULT_STOP_TIMEOUT_SECS: u64 = 30;

/// The daemon's log names us by this.
const CLIENT_NAME: &str = "v0-prune shutdown";

/// How long a killed daemon may take to vanish before we carry on anyway.
const AFTER_KILL: Duration = Duration::from_secs(5);

/// Arguments of `v0-prune shutdown`.
#[derive(Debug, Clone, clap::Args)]
pub struct ShutdownArgs {
    /// Seconds to wait for the daemon's current run to finish before killing it
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_STOP_TIMEOUT_SECS)]
    pub timeout: u64,
    /// Say what would be stopped and pruned; change nothing
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// The build directory (overrides BUILD_DIR and .v0.rc)
    #[arg(long, value_name = "DIR")]
    pub build_dir: Option<PathBuf>,
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
}

/// `v0-prune shutdown` from `main`: discovery, the command, errors on stderr.
pub fn main(args: &ShutdownArgs) -> ExitCode {
    let options = ShutdownOptions {
        timeout: Duration::from_secs(args.timeout),
        dry_run: args.dry_run,
        live_progress: io::stderr().is_terminal(),
    };
    let result = daemon_ctl::discover(args.build_dir.as_deref()).and_then(|project| {
        let (stdout, stderr) = (io::stdout(), io::stderr());
        shutdown(&project, &options, &mut stdout.lock(), &mut stderr.lock())
    });
    result.unwrap_or_else(|err| daemon_ctl::report_error(&err))
}

/// How the daemon was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stopped {
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
) -> anyhow::Result<ExitCode> {
    let build = &project.build_dir;
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
    let clean = final_prune(project, options.dry_run, out, err)?;
    out.flush()?;
    Ok(ExitCode::from(match (stopped, clean) {
        (Stopped::Killed, _) => EXIT_KILLED,
        (_, false) => 1,
        (_, true) => 0,
    }))
}

async fn stop(
    build: &BuildDir,
    options: &ShutdownOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Stopped> {
    let deadline = Instant::now() + options.timeout;
    let hello_within = DEFAULT_TIMEOUT.min(options.timeout.max(Duration::from_millis(200)));
    let (daemon, exited) = match daemon_ctl::probe(build, CLIENT_NAME, hello_within).await {
        Probe::NotRunning => {
            writeln!(out, "No prune daemon running")?;
            return Ok(Stopped::NotRunning);
        }
        Probe::Answering(client) => {
            writeln!(out, "Waiting for background pruning to complete...")?;
            out.flush()?;
            let daemon = DaemonPid::open(client.daemon_pid());
            let mut progress = Progress::new(options.live_progress);
            let exited = drain(build, client, &daemon, deadline, &mut progress, err).await?;
            progress.clear(err)?;
            (daemon, exited)
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
    live: bool,
    shown: Option<String>,
}

impl Progress {
    fn new(live: bool) -> Self {
        Self { live, shown: None }
    }

    fn show(&mut self, err: &mut dyn Write, update: &Update) -> io::Result<()> {
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
                } => "the daemon is stopping".to_owned(),
                Event::Exiting { .. } => "the daemon is exiting".to_owned(),
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
/// False when the report has errors (printed on `err`).
fn final_prune(
    project: &Project,
    dry_run: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<bool> {
    let build = &project.build_dir;
    if !build.root().is_dir() {
        writeln!(
            out,
            "Nothing else to prune: the build directory {} does not exist",
            build.root().display()
        )?;
        return Ok(true);
    }
    let options = RunOptions {
        cutoff: Cutoff::before(jiff::Timestamp::now(), project.settings.retention),
        dry_run,
    };
    let report = if dry_run {
        // Only reads; taking the lock would create its file.
        prune::run_locked(build, &options, &mut prune::ignore_events)
    } else {
        let _lock = match RunLock::try_acquire(build) {
            Ok(lock) => lock,
            Err(PruneError::Busy(_)) => {
                writeln!(
                    err,
                    "Another prune is running in {} (it holds .prune-daemon.lock); waiting for it to finish...",
                    build.root().display()
                )?;
                RunLock::acquire(build).context("waiting for the other prune to finish")?
            }
            Err(error) => return Err(anyhow::Error::new(error).context("taking the prune lock")),
        };
        prune::run_locked(build, &options, &mut prune::ignore_events)
    };
    report::write_run(out, &report).context("writing the report")?;
    for error in &report.errors {
        writeln!(err, "Error: {error}")?;
    }
    Ok(report.errors.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use v0_prune_shared::protocol::{RunProgress, Trigger};

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

    #[test]
    fn without_a_terminal_each_change_is_one_line_and_progress_is_quiet() {
        let mut progress = Progress::new(false);
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
        let mut progress = Progress::new(true);
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
        let mut snapshot = crate::status_cmd::test_support::snapshot();
        snapshot.current_run = Some(RunProgress {
            run_id: 7,
            trigger: Trigger::Startup,
            started_at_ms: 0,
            files_done: 3,
            files_total: 10,
            bytes_reclaimed: 0,
            current: None,
        });
        let mut progress = Progress::new(false);
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
