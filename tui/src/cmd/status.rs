//! `v0-prune status [--json]`: whether the prune daemon runs, what it is
//! doing, how its last run went and when the next one is. Exit status as
//! `systemctl status` ([`Exit::Success`] running, [`Exit::NotRunning`]), and
//! two more that tell busy from broken: [`Exit::NotAnswering`] (running but
//! not answering) and [`Exit::Busy`] (running but refusing us).

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;
use v0_prune::format::{ago, clock_with_year, until};
use v0_prune_daemon::{History, history_path, run_summary, takeover};
use v0_prune_shared::client::{ClientError, DEFAULT_TIMEOUT};
use v0_prune_shared::config::Project;
use v0_prune_shared::protocol::{BudgetLimit, RunProgress, RunRecord, Snapshot, Totals};
use v0_prune_shared::prune::BudgetReport;
use v0_prune_shared::prune::Skipped;
use v0_prune_shared::socket;
use v0_prune_shared::units::{human_bytes, human_duration};
use v0_prune_shared::words::{command, counted};

use super::{UntilClosed, progress, report_error};
use crate::cli::args::StatusArgs;
use crate::cli::exit_code::Exit;
use crate::daemon_ctl::{self, Probe};

/// `v0-prune status` from `main`: discovery, the command, errors on stderr.
pub fn main(args: &StatusArgs) -> Exit {
    let result = daemon_ctl::discover(args.build_dir.as_deref()).and_then(|project| {
        let mut out = UntilClosed::new(io::stdout().lock());
        status(&project, args.json, &mut out)
    });
    result.unwrap_or_else(|err| report_error(&err))
}

/// Prints the daemon's status for `project` (text, or one JSON object).
pub fn status(project: &Project, json: bool, out: &mut dyn Write) -> anyhow::Result<Exit> {
    let found = daemon_ctl::block_on(find(project))??;
    let now_ms = Timestamp::now().as_millisecond();
    if json {
        serde_json::to_writer_pretty(&mut *out, &StatusView::new(project, &found, now_ms))?;
        writeln!(out)?;
    } else {
        write_human(out, project, &found, now_ms, &TimeZone::system())?;
    }
    out.flush()?;
    Ok(match found {
        Found::Running { .. } | Found::BashDaemon { .. } | Found::OtherUser { .. } => Exit::Success,
        Found::NotRunning { .. } => Exit::NotRunning,
        Found::Unresponsive { .. } => Exit::NotAnswering,
        Found::Refused { .. } => Exit::Busy,
    })
}

/// What the daemon's socket and lock said (also, per project, for
/// `--all-projects`: `cmd::machine`).
#[derive(Debug)]
pub(crate) enum Found {
    Running {
        snapshot: Box<Snapshot>,
        socket: PathBuf,
    },
    NotRunning {
        /// From the history file, read without touching it.
        last_run: Option<Box<RunRecord>>,
        totals: Option<Totals>,
    },
    Unresponsive {
        pid: Option<u32>,
        error: String,
    },
    /// v0's own bash daemon, still running after an install: not ours to
    /// ask, but a prune daemon all the same (`v0-prune` takes it over).
    BashDaemon {
        pid: u32,
    },
    /// Running and answering, but it turned this request away (at a limit).
    Refused {
        pid: Option<u32>,
        reason: String,
    },
    /// Running as another user: its socket and signals are that user's.
    OtherUser {
        pid: Option<u32>,
        user: daemon_ctl::OtherUser,
    },
}

pub(crate) async fn find(project: &Project) -> anyhow::Result<Found> {
    let build = &project.build_dir;
    let probe = daemon_ctl::probe(build, "v0-prune status", DEFAULT_TIMEOUT).await;
    if let Probe::Unresponsive { pid, .. } = &probe {
        if let Some(user) = daemon_ctl::other_user(build, *pid) {
            return Ok(Found::OtherUser {
                pid: user.pid,
                user,
            });
        }
    }
    Ok(
        match probe {
            Probe::Answering(mut client) => match client.status().await {
                Ok(snapshot) => Found::Running {
                    socket: client.socket_path().to_owned(),
                    snapshot: Box::new(snapshot),
                },
                Err(ClientError::Rejected(reason)) => Found::Refused {
                    pid: Some(client.daemon_pid()),
                    reason,
                },
                Err(error) => Found::Unresponsive {
                    pid: Some(client.daemon_pid()),
                    error: error.to_string(),
                },
            },
            Probe::NotRunning => {
                if let Some(bash) = takeover::find_bash_daemon(build, None) {
                    return Ok(Found::BashDaemon { pid: bash.pid });
                }
                let history = read_history(project);
                Found::NotRunning {
                    last_run: history
                        .as_ref()
                        .and_then(|h| h.runs.back().cloned().map(Box::new)),
                    totals: history.map(|h| h.totals).filter(|t| t.runs > 0),
                }
            }
            Probe::Unresponsive {
                pid,
                error: ClientError::Rejected(reason),
            } => Found::Refused { pid, reason },
            Probe::Unresponsive { pid, error } => Found::Unresponsive {
                pid,
                error: match error {
                    ClientError::NotRunning { .. } => {
                        "it holds its lock but has no socket (starting, or its socket failed; see its log)"
                            .to_owned()
                    }
                    other => other.to_string(),
                },
            },
        },
    )
}

/// The history a stopped daemon left; read only (the daemon's own loader
/// would move an unreadable file aside, which `status` must not do).
pub(crate) fn read_history(project: &Project) -> Option<History> {
    let bytes = std::fs::read(history_path(&project.build_dir)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// `status --json`: one object, stable names, times as RFC 3339 UTC.
#[derive(Debug, Serialize)]
struct StatusView {
    /// `running`, `not_running`, `not_answering` or `refused` (busy: at a
    /// limit), as the exit status says ([`Exit::Success`],
    /// [`Exit::NotRunning`], [`Exit::NotAnswering`], [`Exit::Busy`]);
    /// `v0_bash_daemon` (success) when v0's own daemon still runs after an
    /// install; `other_user` (success: it runs) when it is another user's.
    daemon: &'static str,
    running: bool,
    /// Set when a daemon process exists but its status could not be read.
    error: Option<String>,
    pid: Option<u32>,
    /// With `other_user`: the daemon's user, by uid and (when known) name.
    #[serde(skip_serializing_if = "Option::is_none")]
    owner_uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<String>,
    daemon_version: Option<String>,
    project: Option<String>,
    build_dir: String,
    socket: String,
    log: String,
    state: Option<&'static str>,
    started_at: Option<String>,
    current_run: Option<CurrentRunView>,
    last_run: Option<RunView>,
    next_run_at: Option<String>,
    next_run_in_secs: Option<i64>,
    interval_secs: u64,
    retention_secs: u64,
    /// `V0_PRUNE_MAX_SIZE` in bytes; null when no size budget is set.
    max_size_bytes: Option<u64>,
    /// `V0_PRUNE_MIN_KEEP` in seconds.
    min_keep_secs: u64,
    /// Set when the last run left the logs over the size budget: why.
    budget_warning: Option<String>,
    totals: Option<TotalsView>,
}

#[derive(Debug, Serialize)]
struct CurrentRunView {
    run_id: u64,
    trigger: &'static str,
    started_at: Option<String>,
    files_done: u64,
    files_total: u64,
    bytes_reclaimed: u64,
}

#[derive(Debug, Serialize)]
struct RunView {
    run_id: u64,
    trigger: &'static str,
    started_at: Option<String>,
    finished_at: Option<String>,
    duration_ms: u64,
    outcome: &'static str,
    dry_run: bool,
    log_files_examined: u64,
    log_files_pruned: u64,
    log_lines_removed: u64,
    queue_entries_removed: u64,
    bytes_reclaimed: u64,
    skipped_total: u64,
    /// Items the run could not prune (a full disk, an I/O error, a
    /// permission), each with the error and what to do; `outcome` is then
    /// `with errors`.
    not_pruned: u64,
    not_pruned_items: Vec<Skipped>,
    errors: Vec<String>,
    /// What the size budget did: bytes for age and for the budget.
    budget: Option<BudgetReport>,
}

#[derive(Debug, Serialize)]
struct TotalsView {
    runs: u64,
    bytes_reclaimed: u64,
    log_lines_removed: u64,
    queue_entries_removed: u64,
    since: Option<String>,
}

impl StatusView {
    fn new(project: &Project, found: &Found, now_ms: i64) -> Self {
        let build = &project.build_dir;
        let mut view = Self {
            daemon: "not_running",
            running: false,
            error: None,
            pid: None,
            owner_uid: None,
            owner: None,
            daemon_version: None,
            project: project.name.clone(),
            build_dir: build.root().display().to_string(),
            socket: socket::socket_path(build).display().to_string(),
            log: build.daemon_log().display().to_string(),
            state: None,
            started_at: None,
            current_run: None,
            last_run: None,
            next_run_at: None,
            next_run_in_secs: None,
            interval_secs: project.settings.interval.as_secs(),
            retention_secs: project.settings.retention.as_secs(),
            max_size_bytes: project.settings.max_size,
            min_keep_secs: project.settings.min_keep.as_secs(),
            budget_warning: None,
            totals: None,
        };
        match found {
            Found::Running { snapshot, socket } => {
                view.daemon = "running";
                view.running = true;
                view.pid = Some(snapshot.daemon_pid);
                view.daemon_version = Some(snapshot.daemon_version.clone());
                view.project = snapshot.project.clone().or(view.project);
                view.build_dir = snapshot.build_dir.clone();
                view.socket = socket.display().to_string();
                view.state = Some(snapshot.state.label());
                view.started_at = utc(snapshot.started_at_ms);
                view.current_run = snapshot.current_run.as_ref().map(CurrentRunView::new);
                view.last_run = snapshot.last_run.as_ref().map(RunView::new);
                view.next_run_at = snapshot.next_run_at_ms.and_then(utc);
                view.next_run_in_secs = snapshot
                    .next_run_at_ms
                    .map(|at| at.saturating_sub(now_ms).max(0) / 1000);
                view.interval_secs = snapshot.interval_secs;
                view.retention_secs = snapshot.retention_secs;
                view.max_size_bytes = snapshot.budget.map(|b| b.max_bytes);
                if let Some(budget) = snapshot.budget {
                    view.min_keep_secs = budget.min_keep_secs;
                }
                view.budget_warning = snapshot.budget_warning();
                view.totals = Some(TotalsView::new(&snapshot.totals));
            }
            Found::NotRunning { last_run, totals } => {
                view.last_run = last_run.as_deref().map(RunView::new);
                view.budget_warning = last_run.as_deref().and_then(RunRecord::budget_warning);
                view.totals = totals.as_ref().map(TotalsView::new);
            }
            Found::Unresponsive { pid, error } => {
                // Something holds the daemon's place; what it does is unknown.
                view.daemon = "not_answering";
                view.running = pid.is_some();
                view.pid = *pid;
                view.error = Some(error.clone());
            }
            Found::BashDaemon { pid } => {
                view.daemon = "v0_bash_daemon";
                view.running = true;
                view.pid = Some(*pid);
            }
            Found::Refused { pid, reason } => {
                view.daemon = "refused";
                view.running = true;
                view.pid = *pid;
                view.error = Some(reason.clone());
            }
            Found::OtherUser { pid, user } => {
                view.daemon = "other_user";
                view.running = true;
                view.pid = *pid;
                view.owner_uid = Some(user.uid);
                view.owner = user.name.clone();
                view.error = Some(format!(
                    "the daemon runs as {}; {}",
                    user.describe(),
                    user.what_to_do()
                ));
            }
        }
        view
    }
}

impl CurrentRunView {
    fn new(run: &RunProgress) -> Self {
        Self {
            run_id: run.run_id,
            trigger: run.trigger.label(),
            started_at: utc(run.started_at_ms),
            files_done: run.files_done,
            files_total: run.files_total,
            bytes_reclaimed: run.bytes_reclaimed,
        }
    }
}

impl RunView {
    fn new(run: &RunRecord) -> Self {
        Self {
            run_id: run.run_id,
            trigger: run.trigger.label(),
            started_at: utc(run.started_at_ms),
            finished_at: utc(run.finished_at_ms),
            duration_ms: run.duration_ms,
            outcome: run.outcome.label(),
            dry_run: run.dry_run,
            log_files_examined: run.log_files_examined,
            log_files_pruned: run.log_files_pruned,
            log_lines_removed: run.log_lines_removed,
            queue_entries_removed: run.queue_entries_removed,
            bytes_reclaimed: run.bytes_reclaimed,
            skipped_total: run.skipped_total,
            not_pruned: run.failed_total,
            not_pruned_items: run.failed.clone(),
            errors: run.errors.clone(),
            budget: run.budget.as_deref().cloned(),
        }
    }
}

impl TotalsView {
    fn new(totals: &Totals) -> Self {
        Self {
            runs: totals.runs,
            bytes_reclaimed: totals.bytes_reclaimed,
            log_lines_removed: totals.log_lines_removed,
            queue_entries_removed: totals.queue_entries_removed,
            since: (totals.runs > 0).then(|| utc(totals.since_ms)).flatten(),
        }
    }
}

fn write_human(
    out: &mut dyn Write,
    project: &Project,
    found: &Found,
    now_ms: i64,
    tz: &TimeZone,
) -> io::Result<()> {
    let build = &project.build_dir;
    let at = |ms: i64| format!("{} ({})", clock_with_year(ms, now_ms, tz), ago(ms, now_ms));
    match found {
        Found::Running { snapshot, socket } => {
            let s = snapshot;
            writeln!(
                out,
                "Prune daemon: running (pid {}, v0-prune {})",
                s.daemon_pid, s.daemon_version
            )?;
            if let Some(name) = &s.project {
                writeln!(out, "  project:    {name}")?;
            }
            writeln!(out, "  build dir:  {}", s.build_dir)?;
            writeln!(out, "  socket:     {}", socket.display())?;
            writeln!(out, "  log:        {}", build.daemon_log().display())?;
            writeln!(out, "  started:    {}", at(s.started_at_ms))?;
            let state = match (&s.current_run, s.state) {
                (Some(run), state) => format!(
                    "{} (run #{}, {}, started {}: {})",
                    state.label(),
                    run.run_id,
                    run.trigger.label(),
                    ago(run.started_at_ms, now_ms),
                    progress(run)
                ),
                (None, state) => state.label().to_owned(),
            };
            writeln!(out, "  state:      {state}")?;
            write_last_run(out, s.last_run.as_ref(), &at)?;
            match s.next_run_at_ms {
                Some(next) => writeln!(
                    out,
                    "  next run:   {} ({})",
                    clock_with_year(next, now_ms, tz),
                    until(next, now_ms)
                )?,
                None => writeln!(out, "  next run:   none (the daemon is stopping)")?,
            }
            writeln!(
                out,
                "  interval:   {}",
                human_duration(Duration::from_secs(s.interval_secs))
            )?;
            writeln!(
                out,
                "  retention:  {}",
                human_duration(Duration::from_secs(s.retention_secs))
            )?;
            if let Some(budget) = s.budget {
                write_budget(out, budget, s.last_run.as_ref())?;
            }
            write_totals(out, &s.totals, now_ms, tz)?;
        }
        Found::NotRunning { last_run, totals } => {
            writeln!(out, "Prune daemon: not running")?;
            writeln!(out, "  build dir:  {}", build.root().display())?;
            writeln!(out, "  log:        {}", build.daemon_log().display())?;
            writeln!(
                out,
                "  start it:   `{}` prunes and starts the daemon in the background",
                command()
            )?;
            if last_run.is_some() {
                write_last_run(out, last_run.as_deref(), &at)?;
            }
            match project.settings.max_size {
                Some(max_bytes) => {
                    let limit = BudgetLimit {
                        max_bytes,
                        min_keep_secs: project.settings.min_keep.as_secs(),
                    };
                    write_budget(out, limit, last_run.as_deref())?;
                }
                None => {
                    if let Some(warning) = last_run.as_deref().and_then(RunRecord::budget_warning) {
                        writeln!(out, "  warning:    {warning}")?;
                    }
                }
            }
            if let Some(totals) = totals {
                write_totals(out, totals, now_ms, tz)?;
            }
        }
        Found::Unresponsive { pid, error } => {
            let pid = pid.map_or_else(|| "pid unknown".to_owned(), |pid| format!("pid {pid}"));
            writeln!(out, "Prune daemon: not answering ({pid})")?;
            writeln!(out, "  build dir:  {}", build.root().display())?;
            writeln!(out, "  log:        {}", build.daemon_log().display())?;
            writeln!(out, "  problem:    {error}")?;
            writeln!(
                out,
                "  what to do: look at its log; `{} shutdown` stops it (killing it if it must)",
                command()
            )?;
        }
        Found::BashDaemon { pid } => {
            writeln!(
                out,
                "Prune daemon: v0's own bash daemon (pid {pid}), not v0-prune's"
            )?;
            writeln!(out, "  build dir:  {}", build.root().display())?;
            writeln!(out, "  log:        {}", build.daemon_log().display())?;
            writeln!(
                out,
                "  what to do: `{}` stops it after its current run and starts v0-prune-daemon",
                command()
            )?;
        }
        Found::Refused { pid, reason } => {
            let pid = pid.map_or_else(|| "pid unknown".to_owned(), |pid| format!("pid {pid}"));
            writeln!(out, "Prune daemon: running, busy ({pid})")?;
            writeln!(out, "  build dir:  {}", build.root().display())?;
            writeln!(out, "  log:        {}", build.daemon_log().display())?;
            writeln!(out, "  refused:    {reason}")?;
        }
        Found::OtherUser { pid, user } => {
            let pid = pid.map_or_else(|| "pid unknown".to_owned(), |pid| format!("pid {pid}"));
            writeln!(
                out,
                "Prune daemon: running as another user, {} ({pid})",
                user.describe()
            )?;
            writeln!(out, "  build dir:  {}", build.root().display())?;
            writeln!(out, "  log:        {}", build.daemon_log().display())?;
            writeln!(out, "  what to do: {}", user.what_to_do())?;
        }
    }
    Ok(())
}

fn write_last_run(
    out: &mut dyn Write,
    last: Option<&RunRecord>,
    at: &dyn Fn(i64) -> String,
) -> io::Result<()> {
    let Some(run) = last else {
        return writeln!(out, "  last run:   none yet");
    };
    writeln!(
        out,
        "  last run:   #{} at {}, {}, {}: {}",
        run.run_id,
        at(run.started_at_ms),
        run.trigger.label(),
        run.outcome.label(),
        run_summary(run)
    )?;
    for failed in run.failed.iter().take(NOT_PRUNED_SHOWN) {
        writeln!(out, "  not pruned: {}: {}", failed.item, failed.reason)?;
    }
    let unlisted = run
        .failed_total
        .saturating_sub(run.failed.len().min(NOT_PRUNED_SHOWN) as u64);
    if unlisted > 0 {
        writeln!(
            out,
            "  not pruned: ... and {unlisted} more (see the daemon's log)"
        )?;
    }
    Ok(())
}

/// How many items that could not be pruned `status` lists under the last run.
const NOT_PRUNED_SHOWN: usize = 5;
/// The size budget, what the last run did for it, and the warning when it
/// left the logs over it.
fn write_budget(
    out: &mut dyn Write,
    budget: BudgetLimit,
    last: Option<&RunRecord>,
) -> io::Result<()> {
    writeln!(
        out,
        "  budget:     {} for all logs, the last {} always kept",
        human_bytes(budget.max_bytes),
        human_duration(Duration::from_secs(budget.min_keep_secs))
    )?;
    let Some(run) = last else {
        return Ok(());
    };
    if let Some(report) = run.budget.as_ref().filter(|b| b.bytes_for_budget > 0) {
        writeln!(
            out,
            "              run #{}: {}",
            run.run_id,
            report.summary()
        )?;
    }
    if let Some(warning) = run.budget_warning() {
        writeln!(out, "  warning:    {warning}")?;
    }
    Ok(())
}

fn write_totals(
    out: &mut dyn Write,
    totals: &Totals,
    now_ms: i64,
    tz: &TimeZone,
) -> io::Result<()> {
    let since = if totals.runs > 0 {
        format!(" since {}", clock_with_year(totals.since_ms, now_ms, tz))
    } else {
        String::new()
    };
    writeln!(
        out,
        "  totals:     {}{since}: {} reclaimed, {}, {}",
        counted(totals.runs, "run", "runs"),
        human_bytes(totals.bytes_reclaimed),
        counted(totals.log_lines_removed, "log line", "log lines"),
        counted(
            totals.queue_entries_removed,
            "mergeq entry",
            "mergeq entries"
        )
    )
}

/// Unix milliseconds as RFC 3339 UTC, for JSON.
pub(crate) fn utc(ms: i64) -> Option<String> {
    Timestamp::from_millisecond(ms)
        .ok()
        .map(|at| at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// Daemon states for the commands' tests.
#[cfg(test)]
pub(crate) mod test_support {
    use v0_prune_shared::protocol::DaemonState;

    use super::*;

    /// An idle daemon with no history.
    pub(crate) fn snapshot() -> Snapshot {
        Snapshot {
            daemon_pid: 42,
            daemon_version: "0.1.0".into(),
            project: None,
            build_dir: "/b".into(),
            started_at_ms: 0,
            state: DaemonState::Idle,
            current_run: None,
            last_run: None,
            next_run_at_ms: None,
            interval_secs: 3600,
            retention_secs: 6 * 3600,
            totals: Totals::default(),
            history: Vec::new(),
            log_tail: Vec::new(),
            files: None,
            budget: None,
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod agreement;
