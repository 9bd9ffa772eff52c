//! The prune daemon of one v0 build directory: a drop-in for v0's
//! `bin/v0-prune-daemon` that prunes at start and then every interval, wakes
//! on SIGUSR1, drains on SIGTERM/SIGINT, and publishes its state and a live
//! event stream on a local socket.
//!
//! It is a library so that `v0-prune daemon` can run the very same daemon in
//! the foreground; the `v0-prune-daemon` binary is a thin `main` around
//! [`run_daemon`].
//!
//! The flow: [`instance`] makes sure we are the only daemon of the build
//! directory; [`v0_log`] writes v0's log format; the control loop in
//! [`daemon`] drives runs ([`run`]) on the schedule of [`scheduler`], reacting
//! to [`signals`] and to client commands from [`server`]; every change is
//! published through [`hub`] and runs are remembered in [`history`]. At start,
//! [`takeover`] lets a v0 bash daemon still running for the build directory
//! finish its run and exit first.
//!
//! The daemon never depends on the directory it was started from: v0 starts
//! it from wherever the user is, which may be removed a moment later. The
//! build directory is made absolute once, and [`run_daemon`] then moves to `/`.

mod daemon;
mod history;
mod hub;
mod instance;
mod run;
mod scheduler;
mod server;
mod signals;
pub mod takeover;
mod v0_log;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::mpsc;
use v0_prune_shared::config::{self, Settings};
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::platform;
use v0_prune_shared::protocol::{BudgetLimit, Event};

pub use daemon::summary as run_summary;
pub use history::{HISTORY_CAP, History, history_path};
/// The state clients see and how events change it: public so that the
/// dashboard's tests can drive the daemon's hub and the dashboard with the
/// same events and compare what each ends up with.
pub use hub::{Hub, Identity};
pub use instance::{instance_lock_path, read_pid};
pub use server::{HELLO_TIMEOUT, MAX_CONTROL, MAX_OPENING, MAX_WATCHERS, watchers_full_reason};

use crate::daemon::Control;
use crate::instance::{Instance, PidFile};
use crate::run::{Pruner, now_ms};
use crate::server::Server;
use crate::signals::Signals;
use crate::v0_log::LogWriter;

/// How long exiting waits for subscribers to receive their last events.
const FLUSH_ON_EXIT: Duration = Duration::from_secs(1);

/// What the daemon needs to know before it starts.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// The build directory to prune (must exist).
    pub build_dir: BuildDir,
    /// `PROJECT` from `.v0.rc`, for status displays.
    pub project: Option<String>,
    /// Retention and interval.
    pub settings: Settings,
}

impl DaemonOptions {
    /// Finds the project the way v0 does (`BUILD_DIR` from the environment,
    /// else `.v0.rc` discovery, or the given `--build-dir`), with its settings.
    pub fn discover(build_dir_flag: Option<&Path>) -> Result<Self, config::ConfigError> {
        let project = config::discover(build_dir_flag)?;
        Ok(Self {
            build_dir: project.build_dir,
            project: project.name,
            settings: project.settings,
        })
    }
}

/// How [`run_daemon`] ended; both are success for the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaemonExit {
    /// We ran and were drained (signal or client request).
    Stopped,
    /// Another daemon already runs for this build directory; we did nothing.
    AlreadyRunning {
        /// Its pid, when its pid file says.
        pid: Option<u32>,
    },
}

impl DaemonExit {
    /// The process exit code: 0 either way, as v0's starter expects.
    pub fn exit_code(self) -> ExitCode {
        ExitCode::SUCCESS
    }
}

/// Runs the daemon in the foreground until SIGTERM, SIGINT or a drain
/// request, then cleans up (pid file, socket) and returns. If another daemon
/// runs for the build directory, prints `Prune daemon already running (PID:
/// N)` and returns at once.
///
/// Builds its own single-threaded tokio runtime (runs go to its blocking
/// pool), so call it from plain, non-async code; it installs handlers for
/// SIGTERM, SIGINT and SIGUSR1 for the rest of the process's life.
///
/// Refuses a build directory that is `/`, the home directory or does not look
/// like v0's (see `shared::prune::guard`), unless `V0_PRUNE_FORCE=1`.
///
/// Resolves the build directory once (through symlinks) and then changes to
/// `/`, so neither a removed starting directory nor a relative path can
/// affect it later, and it pins no directory the user may want to remove.
pub fn run_daemon(options: DaemonOptions) -> anyhow::Result<DaemonExit> {
    // Hundreds of watchers need more descriptors than macOS's default 256.
    v0_prune_shared::platform::raise_open_file_limit();
    let mut options = options;
    let force = std::env::var("V0_PRUNE_FORCE").is_ok_and(|v| v == "1");
    v0_prune_shared::prune::guard::check_build_dir(&options.build_dir, force)
        .map_err(|err| anyhow::anyhow!("{err} (for the daemon: set V0_PRUNE_FORCE=1)"))?;
    let root = std::fs::canonicalize(options.build_dir.root()).with_context(|| {
        format!(
            "the build directory {} cannot be resolved",
            options.build_dir.root().display()
        )
    })?;
    options.build_dir = BuildDir::new(root);
    std::env::set_current_dir("/").context("could not change to /")?;
    let pruner = run::engine_within(options.settings);
    run_with(options, pruner, true)
}

/// [`run_daemon`] with another pruner, so tests can make runs misbehave, and
/// without echoing the log to stdout if `echo` is false.
pub(crate) fn run_with(
    options: DaemonOptions,
    pruner: Pruner,
    echo: bool,
) -> anyhow::Result<DaemonExit> {
    let mut options = options;
    anyhow::ensure!(
        options.build_dir.root().is_dir(),
        "the build directory {} does not exist (set BUILD_DIR or run inside a v0 project)",
        options.build_dir.root().display()
    );
    // One spelling of the directory for the log, status and the socket,
    // however BUILD_DIR was written (relative, through a symlink).
    if let Ok(canonical) = std::fs::canonicalize(options.build_dir.root()) {
        options.build_dir = BuildDir::new(canonical);
    }
    let build = options.build_dir.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(async {
        // First, before anyone can learn our pid: SIGUSR1 would kill us otherwise.
        let signals = Signals::install().context("could not install signal handlers")?;
        let lock = match instance::acquire(&build).context("could not take the daemon lock")? {
            Instance::Acquired(lock) => lock,
            Instance::AlreadyRunning { pid } => {
                match pid {
                    Some(pid) => println!("Prune daemon already running (PID: {pid})"),
                    None => println!("Prune daemon already running"),
                }
                return Ok(DaemonExit::AlreadyRunning { pid });
            }
        };
        serve(options, pruner, signals, echo).await?;
        drop(lock);
        Ok(DaemonExit::Stopped)
    })
}

/// The daemon proper, once it holds the instance lock.
async fn serve(
    options: DaemonOptions,
    pruner: Pruner,
    mut signals: Signals,
    echo: bool,
) -> anyhow::Result<()> {
    let DaemonOptions {
        build_dir: build,
        project,
        settings,
    } = options;
    let log_path = build.daemon_log();
    let writer = Arc::new(
        LogWriter::open(&log_path, echo)
            .with_context(|| format!("could not open the log {}", log_path.display()))?,
    );
    let dispatch = v0_log::dispatch(Arc::clone(&writer));
    let _log_guard = tracing::dispatcher::set_default(&dispatch);
    let pid = std::process::id();
    if !take_over(&build, pid, &mut signals).await? {
        return Ok(());
    }

    let history_path = history_path(&build);
    history::sweep_abandoned_temps(&history_path);
    let (history, set_aside) = History::load(&history_path);
    let identity = Identity {
        daemon_pid: pid,
        project,
        build_dir: build.root().display().to_string(),
        started_at_ms: now_ms(),
        interval_secs: settings.interval.as_secs(),
        retention_secs: settings.retention.as_secs(),
        budget: settings.max_size.map(|max_bytes| BudgetLimit {
            max_bytes,
            min_keep_secs: settings.min_keep.as_secs(),
        }),
    };
    let runs: Vec<_> = history.runs.iter().cloned().collect();
    let hub = Arc::new(Hub::new(identity, history.totals.clone(), &runs));
    {
        let hub = Arc::clone(&hub);
        writer.set_listener(Arc::new(move |line| {
            hub.publish(Event::LogLine {
                line: v0_prune_shared::protocol::clip_text(line),
            });
        }));
    }

    let drop_reporter = {
        let hub = Arc::clone(&hub);
        tokio::spawn(async move {
            loop {
                let dropped = hub.dropped_subscribers().await;
                tracing::warn!(
                    "Dropped {} that fell more than {} events behind",
                    v0_prune_shared::words::counted(
                        dropped as u64,
                        "event subscriber",
                        "event subscribers"
                    ),
                    hub::SUBSCRIBER_QUEUE
                );
            }
        })
    };

    tracing::info!(
        "Prune daemon starting (PID: {pid}, interval: {}s)",
        daemon::seconds(settings.interval)
    );
    tracing::info!(
        "Build directory: {}; retention: {}",
        build.root().display(),
        v0_prune_shared::units::human_duration(settings.retention)
    );
    if let Some(aside) = set_aside {
        let moved = aside.moved_to.map_or_else(
            || "it could not be moved aside".to_owned(),
            |to| format!("moved to {}", to.display()),
        );
        tracing::warn!(
            "Starting with an empty run history: {} was unusable ({}); {moved}",
            history_path.display(),
            aside.reason
        );
    }

    let (pid_file, previous) =
        PidFile::write(&build.pid_file(), pid).context("could not write the pid file")?;
    if let Some(old) = previous {
        if platform::pid_alive(old) {
            tracing::info!(
                "Replaced the pid file of PID {old}, which is not this build directory's prune daemon"
            );
        } else {
            tracing::info!("Replaced a stale pid file (PID {old} is not running)");
        }
    }

    let (commands_tx, commands) = mpsc::channel(64);
    let server = match v0_prune_shared::socket::bind(&build).await {
        Ok(listener) => {
            tracing::info!("Listening on {}", listener.path().display());
            Some(Server::start(listener, Arc::clone(&hub), commands_tx))
        }
        Err(err) => {
            // Pruning is the job; the socket is for watching it. v0's own
            // tools still reach us through the pid file and signals.
            tracing::error!("No control socket, pruning on schedule and signals only: {err}");
            None
        }
    };

    let control = Control::new(
        build.clone(),
        settings,
        Arc::clone(&hub),
        history,
        history_path,
        pruner,
        dispatch.clone(),
    );
    let reason = control.run(signals, commands).await;

    tracing::info!("Daemon shutting down");
    hub.publish(Event::Exiting { reason });
    hub.close();
    drop_reporter.abort();
    writer.clear_listener();
    if let Some(server) = server {
        server.stop(FLUSH_ON_EXIT).await;
    }
    drop(pid_file);
    tracing::info!("Daemon exiting normally");
    Ok(())
}

/// Lets v0's bash daemon, if one still runs for `build`, finish its run and
/// exit before we start; logs what happened. `Ok(false)`: SIGTERM or SIGINT
/// came meanwhile, and we exit without starting. An error when it does not
/// exit in time: two daemons must never run at once.
async fn take_over(build: &BuildDir, pid: u32, signals: &mut Signals) -> anyhow::Result<bool> {
    // v0's `prune_daemon_start` writes our own pid to the pid file: not a foreign one.
    let Some(bash) = takeover::find_bash_daemon(build, Some(pid)) else {
        return Ok(true);
    };
    tracing::info!(
        "v0's bash prune daemon (PID {}) runs for this build directory; asking it to stop \
         after its current run (SIGTERM)",
        bash.pid
    );
    // Polled here, not waited for on a blocking thread: a SIGTERM meanwhile
    // must end us at once, and a runtime waits for its blocking tasks.
    let outcome = match takeover::Stopping::ask(build, bash) {
        Err(err) => Err(err),
        Ok(stopping) => loop {
            match stopping.check(takeover::TAKEOVER_WAIT) {
                Ok(Some(stopped)) => break Ok(stopped),
                Err(err) => break Err(err),
                Ok(None) => {}
            }
            tokio::select! {
                () = tokio::time::sleep(takeover::POLL_EVERY) => {}
                signal = signals.recv() => match signal {
                    signals::DaemonSignal::WakeUp => {}
                    stop => {
                        tracing::info!(
                            "Received {} while waiting for v0's bash prune daemon; exiting",
                            stop.name()
                        );
                        return Ok(false);
                    }
                },
            }
        },
    };
    match outcome {
        Ok(stopped) => {
            tracing::info!("{}", stopped.message());
            Ok(true)
        }
        Err(err) => {
            tracing::error!("{err}");
            Err(anyhow::anyhow!(
                "not started: v0's bash prune daemon (PID {}) still runs for {}",
                bash.pid,
                build.root().display()
            ))
        }
    }
}

#[cfg(test)]
mod tests;
