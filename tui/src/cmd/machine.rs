//! `--all-projects`: every v0 project on this machine at once, for `status`,
//! `ls`, the plain `v0-prune` (run now, never the prune itself) and
//! `shutdown`. The projects are the registry's, found as
//! `v0 watch --all` finds them (`config::registry`); each project's daemon
//! is asked exactly as `v0-prune status` asks one (`status::find`), all of
//! them at once on one runtime, so fifty projects cost about one answer's
//! time, not fifty. A project whose root is gone, or that we refuse to read,
//! is listed with why and asked nothing.

use std::future::Future;
use std::io::{self, Write};
use std::path::PathBuf;

use jiff::Timestamp;
use serde::Serialize;
use tokio::task::JoinSet;
use v0_prune::format::{ago, until};
use v0_prune_shared::config::Project;
use v0_prune_shared::config::registry::{self, Found as Entry, Origin, Registered};
use v0_prune_shared::protocol::{RunRecord, Totals};
use v0_prune_shared::prune::logs;
use v0_prune_shared::units::human_bytes;
use v0_prune_shared::words::counted;

use super::ls::{self, LsView};
use super::shutdown::{self, ShutdownOptions, Stopped};
use super::status::{self, Found};
use super::{UntilClosed, report_error};
use crate::cli::args::{LsArgs, ShutdownArgs, StatusArgs};
use crate::cli::exit_code::Exit;
use crate::daemon_ctl;
use crate::daemon_ctl::Probe;
use std::time::Duration;
use v0_prune_shared::client::DEFAULT_TIMEOUT;

/// One project of the machine, with what its daemon said.
#[derive(Debug)]
pub(crate) struct Machine {
    /// In the registry's order (by name, then standalone's place, then the
    /// current directory's project).
    pub(crate) projects: Vec<Seen>,
}

/// One registry entry, looked at.
#[derive(Debug)]
pub(crate) struct Seen {
    pub(crate) name: String,
    pub(crate) origin: Origin,
    pub(crate) what: What,
}

/// What one registry entry turned out to be, once its daemon was asked.
#[derive(Debug)]
pub(crate) enum What {
    /// A project we can prune.
    Project {
        project: Box<Project>,
        /// `None` when its build directory does not exist yet (never built):
        /// no daemon to ask, nothing to count.
        daemon: Option<Found>,
        /// Its logs as they are on disk now.
        logs: LogsOnDisk,
    },
    /// Its root no longer exists.
    Gone { root: PathBuf },
    /// Something we will not read, and why.
    Refused {
        root: Option<PathBuf>,
        reason: String,
    },
}

/// The `*.log` files under a build directory, by the engine's own walk
/// (no links followed, no other filesystem entered).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct LogsOnDisk {
    pub(crate) files: u64,
    pub(crate) bytes: u64,
}

impl LogsOnDisk {
    fn of(project: &Project) -> Self {
        let Ok(walk) = logs::walk(project.build_dir.root()) else {
            return Self::default();
        };
        Self {
            files: walk.logs.len() as u64,
            bytes: walk.logs.iter().map(|log| log.len).sum(),
        }
    }
}

/// Every project of this machine, each daemon asked in parallel.
pub(crate) fn look() -> anyhow::Result<Machine> {
    look_at(registry::discover_all())
}

/// [`look`] over entries already found.
pub(crate) fn look_at(entries: Vec<Registered>) -> anyhow::Result<Machine> {
    let asked = ask_each(entries, |project| async move {
        let found = status::find(&project)
            .await
            .unwrap_or_else(|err| Found::Unresponsive {
                pid: None,
                error: format!("{err:#}"),
            });
        let logs = tokio::task::spawn_blocking(move || LogsOnDisk::of(&project)).await;
        (found, logs.unwrap_or_default())
    })?;
    let projects = asked
        .into_iter()
        .map(|(entry, answer)| {
            let what = match entry.found {
                Entry::Project(project) => {
                    let (daemon, logs) = match answer {
                        Some((found, logs)) => (Some(found), logs),
                        None => (None, LogsOnDisk::default()),
                    };
                    What::Project {
                        project,
                        daemon,
                        logs,
                    }
                }
                Entry::Gone { root } => What::Gone { root },
                Entry::Refused { root, reason } => What::Refused { root, reason },
            };
            Seen {
                name: entry.name,
                origin: entry.origin,
                what,
            }
        })
        .collect();
    Ok(Machine { projects })
}

/// Asks every project whose build directory exists, all at once (one task
/// each on one runtime), and gives each entry back, in order, with its
/// answer (`None`: gone, refused, or never built, so not asked).
pub(crate) fn ask_each<T, F, Fut>(
    entries: Vec<Registered>,
    ask: F,
) -> anyhow::Result<Vec<(Registered, Option<T>)>>
where
    F: Fn(Project) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    daemon_ctl::block_on(async move {
        let mut asks = JoinSet::new();
        for (index, entry) in entries.iter().enumerate() {
            if let Entry::Project(project) = &entry.found
                && project.build_dir.root().is_dir()
            {
                let answer = ask((**project).clone());
                asks.spawn(async move { (index, answer.await) });
            }
        }
        let mut answers: Vec<Option<T>> = entries.iter().map(|_| None).collect();
        while let Some(joined) = asks.join_next().await {
            let (index, answer) = joined?;
            answers[index] = Some(answer);
        }
        Ok(entries.into_iter().zip(answers).collect())
    })?
}

/// The daemon's state in `status --json`'s words, and whether it counts as
/// running for the machine's exit status.
fn daemon_word(found: &Found) -> (&'static str, bool) {
    match found {
        Found::Running { .. } => ("running", true),
        Found::NotRunning { .. } => ("not_running", false),
        Found::Unresponsive { .. } => ("not_answering", false),
        Found::BashDaemon { .. } => ("v0_bash_daemon", true),
        Found::Refused { .. } => ("refused", true),
        Found::OtherUser { .. } => ("other_user", true),
    }
}

/// The daemon's pid, when known.
fn daemon_pid(found: &Found) -> Option<u32> {
    match found {
        Found::Running { snapshot, .. } => Some(snapshot.daemon_pid),
        Found::NotRunning { .. } => None,
        Found::Unresponsive { pid, .. }
        | Found::Refused { pid, .. }
        | Found::OtherUser { pid, .. } => *pid,
        Found::BashDaemon { pid } => Some(*pid),
    }
}

/// The last run, next run and all-time totals a project's daemon (or, when
/// it did not answer, its history file) tells.
fn runs(project: &Project, found: &Found) -> (Option<RunRecord>, Option<i64>, Option<Totals>) {
    match found {
        Found::Running { snapshot, .. } => (
            snapshot.last_run.clone(),
            snapshot.next_run_at_ms,
            Some(snapshot.totals.clone()),
        ),
        Found::NotRunning { last_run, totals } => {
            (last_run.as_deref().cloned(), None, totals.clone())
        }
        _ => {
            let history = status::read_history(project);
            (
                history.as_ref().and_then(|h| h.runs.back().cloned()),
                None,
                history.map(|h| h.totals).filter(|t| t.runs > 0),
            )
        }
    }
}

/// `status --all-projects --json`: one object per project, then totals.
#[derive(Debug, Serialize)]
pub(crate) struct MachineStatusView {
    projects: Vec<ProjectStatusView>,
    totals: MachineTotals,
}

/// One project's row.
#[derive(Debug, Serialize, PartialEq, Eq)]
struct ProjectStatusView {
    name: String,
    /// `registry`, `standalone` or `current_dir`.
    origin: &'static str,
    /// `project`, `gone` (its root no longer exists) or `refused` (see `reason`).
    found: &'static str,
    reason: Option<String>,
    root: Option<String>,
    build_dir: Option<String>,
    /// As `status --json`'s `daemon`, or `no_build_dir` for a project
    /// registered but never built; `null` for gone and refused entries.
    daemon: Option<&'static str>,
    pid: Option<u32>,
    /// Why the daemon's state could not be read, when it could not.
    error: Option<String>,
    last_run: Option<LastRunView>,
    next_run_at: Option<String>,
    logs_files: Option<u64>,
    logs_bytes: Option<u64>,
    reclaimed_bytes: Option<u64>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
struct LastRunView {
    run_id: u64,
    at: Option<String>,
    outcome: &'static str,
    bytes_reclaimed: u64,
}

/// What the machine adds up to.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
struct MachineTotals {
    projects: u64,
    /// Projects whose daemon runs (running, busy, v0's, another user's).
    running: u64,
    /// Projects with a build directory and no running daemon (not running,
    /// not answering).
    not_running: u64,
    /// Registered but never built.
    no_build_dir: u64,
    gone: u64,
    refused: u64,
    logs_files: u64,
    logs_bytes: u64,
    reclaimed_bytes: u64,
}

impl MachineStatusView {
    fn new(machine: &Machine) -> Self {
        let mut totals = MachineTotals::default();
        let projects = machine
            .projects
            .iter()
            .map(|seen| {
                totals.projects += 1;
                let view = ProjectStatusView::new(seen);
                match (view.found, view.daemon) {
                    ("gone", _) => totals.gone += 1,
                    ("refused", _) => totals.refused += 1,
                    (_, Some("no_build_dir")) => totals.no_build_dir += 1,
                    (_, Some(word)) if counts_as_running(word) => totals.running += 1,
                    _ => totals.not_running += 1,
                }
                totals.logs_files += view.logs_files.unwrap_or(0);
                totals.logs_bytes += view.logs_bytes.unwrap_or(0);
                totals.reclaimed_bytes += view.reclaimed_bytes.unwrap_or(0);
                view
            })
            .collect();
        Self { projects, totals }
    }

    /// [`Exit::Success`] when every project with a build directory has a
    /// running daemon, else [`Exit::NotRunning`].
    fn exit(&self) -> Exit {
        if self.totals.not_running == 0 {
            Exit::Success
        } else {
            Exit::NotRunning
        }
    }
}

fn counts_as_running(word: &str) -> bool {
    matches!(
        word,
        "running" | "v0_bash_daemon" | "refused" | "other_user"
    )
}

fn origin_word(origin: &Origin) -> &'static str {
    match origin {
        Origin::Registry => "registry",
        Origin::Standalone => "standalone",
        Origin::CurrentDir => "current_dir",
    }
}

impl ProjectStatusView {
    fn new(seen: &Seen) -> Self {
        let mut view = Self {
            name: seen.name.clone(),
            origin: origin_word(&seen.origin),
            found: "project",
            reason: None,
            root: None,
            build_dir: None,
            daemon: None,
            pid: None,
            error: None,
            last_run: None,
            next_run_at: None,
            logs_files: None,
            logs_bytes: None,
            reclaimed_bytes: None,
        };
        match &seen.what {
            What::Gone { root } => {
                view.found = "gone";
                view.root = Some(root.display().to_string());
                view.reason = Some(format!("{} no longer exists", root.display()));
            }
            What::Refused { root, reason } => {
                view.found = "refused";
                view.root = root.as_ref().map(|r| r.display().to_string());
                view.reason = Some(reason.clone());
            }
            What::Project {
                project,
                daemon,
                logs,
            } => {
                view.root = project.root.as_ref().map(|r| r.display().to_string());
                view.build_dir = Some(project.build_dir.root().display().to_string());
                let Some(found) = daemon else {
                    view.daemon = Some("no_build_dir");
                    return view;
                };
                view.daemon = Some(daemon_word(found).0);
                view.pid = daemon_pid(found);
                view.error = match found {
                    Found::Unresponsive { error, .. } => Some(error.clone()),
                    Found::Refused { reason, .. } => Some(reason.clone()),
                    Found::OtherUser { user, .. } => Some(format!(
                        "the daemon runs as {}; {}",
                        user.describe(),
                        user.what_to_do()
                    )),
                    _ => None,
                };
                let (last, next, totals) = runs(project, found);
                view.last_run = last.as_ref().map(|run| LastRunView {
                    run_id: run.run_id,
                    at: status::utc(run.started_at_ms),
                    outcome: run.outcome.label(),
                    bytes_reclaimed: run.bytes_reclaimed,
                });
                view.next_run_at = next.and_then(status::utc);
                view.logs_files = Some(logs.files);
                view.logs_bytes = Some(logs.bytes);
                view.reclaimed_bytes = Some(totals.map_or(0, |t| t.bytes_reclaimed));
            }
        }
        view
    }
}

/// `v0-prune status --all-projects` from `main`.
pub fn status_main(args: &StatusArgs) -> Exit {
    let result = look().and_then(|machine| {
        let mut out = UntilClosed::new(io::stdout().lock());
        write_status(&machine, args.json, &mut out)
    });
    result.unwrap_or_else(|err| report_error(&err))
}

/// Prints every project's status (a table, or one JSON object) and says
/// whether every built project has a running daemon.
pub(crate) fn write_status(
    machine: &Machine,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<Exit> {
    let view = MachineStatusView::new(machine);
    if json {
        serde_json::to_writer_pretty(&mut *out, &view)?;
        writeln!(out)?;
    } else {
        write_status_table(out, &view, Timestamp::now().as_millisecond())?;
    }
    out.flush()?;
    Ok(view.exit())
}

/// The human table: one row per project, why for gone and refused ones
/// below it, then the machine's totals.
fn write_status_table(
    out: &mut dyn Write,
    view: &MachineStatusView,
    now_ms: i64,
) -> io::Result<()> {
    if view.projects.is_empty() {
        let state = registry::state_dir(&|name| std::env::var(name).ok());
        let place = state.map_or_else(
            || "set HOME or XDG_STATE_HOME".to_owned(),
            |dir| dir.display().to_string(),
        );
        return writeln!(
            out,
            "No v0 projects registered on this machine ({place}); v0 registers a project on its first command there"
        );
    }
    let header = [
        "PROJECT",
        "DAEMON",
        "LAST RUN",
        "NEXT RUN",
        "LOGS",
        "RECLAIMED",
        "ROOT",
    ]
    .map(str::to_owned);
    let rows: Vec<[String; 7]> = view
        .projects
        .iter()
        .map(|p| status_row(p, now_ms))
        .collect();
    write_rows(out, &header, &rows)?;
    for project in &view.projects {
        if let Some(reason) = &project.reason {
            writeln!(out, "  {}: {}: {reason}", project.name, project.found)?;
        } else if let Some(error) = &project.error {
            writeln!(out, "  {}: {error}", project.name)?;
        }
    }
    writeln!(out, "{}", status_total_line(&view.totals))
}

fn status_row(p: &ProjectStatusView, now_ms: i64) -> [String; 7] {
    let ms = |at: &Option<String>| {
        at.as_deref()
            .and_then(|at| at.parse::<Timestamp>().ok())
            .map(Timestamp::as_millisecond)
    };
    let daemon = match (p.found, p.daemon, p.pid) {
        ("gone", ..) => "gone".to_owned(),
        ("refused", ..) => "refused".to_owned(),
        (_, Some(word), Some(pid)) => format!("{} (pid {pid})", daemon_label(word)),
        (_, Some(word), None) => daemon_label(word).to_owned(),
        (_, None, _) => "-".to_owned(),
    };
    let last = p.last_run.as_ref().map_or_else(
        || "-".to_owned(),
        |run| {
            let when = ms(&run.at).map_or_else(|| "?".to_owned(), |at| ago(at, now_ms));
            format!(
                "{when}, {}, {}",
                run.outcome,
                human_bytes(run.bytes_reclaimed)
            )
        },
    );
    let next = ms(&p.next_run_at).map_or_else(|| "-".to_owned(), |at| until(at, now_ms));
    let bytes = |b: Option<u64>| b.map_or_else(|| "-".to_owned(), human_bytes);
    [
        p.name.clone(),
        daemon,
        last,
        next,
        bytes(p.logs_bytes),
        bytes(p.reclaimed_bytes),
        p.root
            .clone()
            .or_else(|| p.build_dir.clone())
            .unwrap_or_default(),
    ]
}

/// A daemon state in words, for the table.
fn daemon_label(word: &str) -> &'static str {
    match word {
        "running" => "running",
        "not_running" => "not running",
        "not_answering" => "not answering",
        "v0_bash_daemon" => "v0's bash daemon",
        "refused" => "busy",
        "other_user" => "another user's",
        "no_build_dir" => "never built",
        _ => "?",
    }
}

fn status_total_line(totals: &MachineTotals) -> String {
    let mut parts = vec![format!("{} running", totals.running)];
    for (n, word) in [
        (totals.not_running, "not running"),
        (totals.no_build_dir, "never built"),
        (totals.gone, "gone"),
        (totals.refused, "refused"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {word}"));
        }
    }
    format!(
        "{}: {}; logs {} in {}; {} reclaimed all-time",
        counted(totals.projects, "project", "projects"),
        parts.join(", "),
        human_bytes(totals.logs_bytes),
        counted(totals.logs_files, "file", "files"),
        human_bytes(totals.reclaimed_bytes)
    )
}

// `ls --all-projects`

/// How many of each project's largest logs `ls --all-projects` names.
const LARGEST_SHOWN: usize = 3;

/// `ls --all-projects --json`: per project, then the machine, then the
/// filesystems the build directories live on.
#[derive(Debug, Serialize)]
pub(crate) struct MachineLsView {
    projects: Vec<ProjectLsView>,
    totals: LsTotals,
    filesystems: Vec<FilesystemView>,
}

/// One project's space.
#[derive(Debug, Serialize)]
struct ProjectLsView {
    name: String,
    origin: &'static str,
    /// `project`, `gone`, `refused` (see `reason`) or `no_build_dir`.
    found: &'static str,
    reason: Option<String>,
    root: Option<String>,
    build_dir: Option<String>,
    /// `daemon` (its view after its last run) or `computed` (read-only, here).
    source: Option<&'static str>,
    daemon_pid: Option<u32>,
    /// Why this project could not be listed, when it could not.
    error: Option<String>,
    logs_files: Option<u64>,
    logs_bytes: Option<u64>,
    /// Bytes per hour over the logs whose growth is known; null when none is.
    growth_per_hour: Option<i64>,
    /// What the next run frees; null when a log could not be read.
    next_run_frees: Option<u64>,
    /// The largest logs, largest first.
    largest: Vec<LargestLog>,
    /// Device id of the filesystem holding the build directory.
    #[serde(skip)]
    device: Option<u64>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
struct LargestLog {
    /// Relative to the build directory.
    path: String,
    size: u64,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
struct LsTotals {
    projects: u64,
    listed: u64,
    logs_files: u64,
    logs_bytes: u64,
    growth_per_hour: Option<i64>,
    next_run_frees: u64,
}

/// A filesystem holding one or more build directories.
#[derive(Debug, Serialize, PartialEq, Eq)]
struct FilesystemView {
    /// `major:minor`.
    device: String,
    /// The projects on it.
    projects: Vec<String>,
    /// Their logs together.
    logs_bytes: u64,
    /// Free for an unprivileged user, and the size (`statvfs`).
    free_bytes: Option<u64>,
    size_bytes: Option<u64>,
}

/// `v0-prune ls --all-projects` from `main`.
pub fn ls_main(args: &LsArgs) -> Exit {
    let computed = args.computed;
    let asked = ask_each(registry::discover_all(), move |project| async move {
        let listed = ls::view(&project, computed).await;
        let root = project.build_dir.root().to_owned();
        let disk = tokio::task::spawn_blocking(move || Disk::of(&root))
            .await
            .ok()
            .flatten();
        (listed.map_err(|err| format!("{err:#}")), disk)
    });
    let result = asked.and_then(|asked| {
        let (view, disks) = MachineLsView::new(asked);
        let view = view.with_filesystems(&disks);
        let mut out = UntilClosed::new(io::stdout().lock());
        if args.json {
            serde_json::to_writer_pretty(&mut out, &view)?;
            writeln!(out)?;
        } else {
            write_ls_table(&mut out, &view)?;
        }
        out.flush()?;
        Ok(if view.projects.iter().any(|p| p.error.is_some()) {
            Exit::Error
        } else {
            Exit::Success
        })
    });
    result.unwrap_or_else(|err| report_error(&err))
}

/// The filesystem a build directory lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Disk {
    device: u64,
    free_bytes: u64,
    size_bytes: u64,
}

impl Disk {
    fn of(dir: &std::path::Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt as _;
        let device = std::fs::metadata(dir).ok()?.dev();
        let fs = rustix::fs::statvfs(dir).ok()?;
        Some(Self {
            device,
            free_bytes: fs.f_bavail.saturating_mul(fs.f_frsize),
            size_bytes: fs.f_blocks.saturating_mul(fs.f_frsize),
        })
    }
}

type LsAnswer = (Result<LsView, String>, Option<Disk>);

impl MachineLsView {
    fn new(asked: Vec<(Registered, Option<LsAnswer>)>) -> (Self, Vec<Disk>) {
        let mut totals = LsTotals::default();
        let mut disks = Vec::new();
        let projects = asked
            .into_iter()
            .map(|(entry, answer)| {
                totals.projects += 1;
                let mut view = ProjectLsView {
                    name: entry.name,
                    origin: origin_word(&entry.origin),
                    found: "project",
                    reason: None,
                    root: None,
                    build_dir: None,
                    source: None,
                    daemon_pid: None,
                    error: None,
                    logs_files: None,
                    logs_bytes: None,
                    growth_per_hour: None,
                    next_run_frees: None,
                    largest: Vec::new(),
                    device: None,
                };
                match (entry.found, answer) {
                    (Entry::Gone { root }, _) => {
                        view.found = "gone";
                        view.reason = Some(format!("{} no longer exists", root.display()));
                        view.root = Some(root.display().to_string());
                    }
                    (Entry::Refused { root, reason }, _) => {
                        view.found = "refused";
                        view.reason = Some(reason);
                        view.root = root.map(|r| r.display().to_string());
                    }
                    (Entry::Project(project), answer) => {
                        view.root = project.root.as_ref().map(|r| r.display().to_string());
                        view.build_dir = Some(project.build_dir.root().display().to_string());
                        match answer {
                            None => view.found = "no_build_dir",
                            Some((listed, disk)) => {
                                if let Some(disk) = disk {
                                    view.device = Some(disk.device);
                                    disks.push(disk);
                                }
                                match listed {
                                    Ok(listed) => {
                                        totals.listed += 1;
                                        view.fill(&listed, &mut totals);
                                    }
                                    Err(error) => view.error = Some(error),
                                }
                            }
                        }
                    }
                }
                view
            })
            .collect();
        (
            Self {
                projects,
                totals,
                filesystems: Vec::new(),
            },
            disks,
        )
    }

    /// Groups the projects by the device their build directory is on.
    fn with_filesystems(mut self, disks: &[Disk]) -> Self {
        let mut filesystems: Vec<(u64, FilesystemView)> = Vec::new();
        for project in &self.projects {
            let Some(device) = project.device else {
                continue;
            };
            let at = match filesystems.iter().position(|(d, _)| *d == device) {
                Some(at) => at,
                None => {
                    let disk = disks.iter().find(|d| d.device == device).copied();
                    let view = FilesystemView {
                        device: v0_prune_shared::platform::device_name(device),
                        projects: Vec::new(),
                        logs_bytes: 0,
                        free_bytes: disk.map(|d| d.free_bytes),
                        size_bytes: disk.map(|d| d.size_bytes),
                    };
                    filesystems.push((device, view));
                    filesystems.len() - 1
                }
            };
            let fs = &mut filesystems[at].1;
            fs.projects.push(project.name.clone());
            fs.logs_bytes += project.logs_bytes.unwrap_or(0);
        }
        self.filesystems = filesystems.into_iter().map(|(_, fs)| fs).collect();
        self
    }
}

impl ProjectLsView {
    fn fill(&mut self, listed: &LsView, totals: &mut LsTotals) {
        let files = &listed.files;
        self.source = Some(match listed.source {
            ls::Source::Daemon => "daemon",
            ls::Source::Computed => "computed",
        });
        self.daemon_pid = listed.daemon_pid;
        self.logs_files = Some(files.total_files);
        self.logs_bytes = Some(files.total_bytes);
        self.growth_per_hour = files.total_growth_per_hour;
        self.next_run_frees = files.total_next_reclaim;
        self.largest = files
            .largest
            .iter()
            .take(LARGEST_SHOWN)
            .map(|file| LargestLog {
                path: file.path.clone(),
                size: file.size,
            })
            .collect();
        totals.logs_files += files.total_files;
        totals.logs_bytes += files.total_bytes;
        totals.next_run_frees += files.total_next_reclaim.unwrap_or(0);
        if let Some(growth) = files.total_growth_per_hour {
            *totals.growth_per_hour.get_or_insert(0) += growth;
        }
    }
}

/// The human listing: a row per project (its largest logs under it), the
/// machine's total, the filesystems.
fn write_ls_table(out: &mut dyn Write, view: &MachineLsView) -> io::Result<()> {
    let header = ["PROJECT", "LOGS", "GROWTH", "NEXT RUN FREES", "BUILD DIR"].map(str::to_owned);
    let bytes = |b: Option<u64>| b.map_or_else(|| "-".to_owned(), human_bytes);
    let rows: Vec<[String; 5]> = view
        .projects
        .iter()
        .map(|p| {
            let what = match (p.found, &p.error) {
                ("project", None) => bytes(p.logs_bytes),
                ("project", Some(_)) => "error".to_owned(),
                ("no_build_dir", _) => "never built".to_owned(),
                (found, _) => found.to_owned(),
            };
            [
                p.name.clone(),
                what,
                p.growth_per_hour
                    .map_or_else(|| "-".to_owned(), ls::growth_text),
                match (p.found, p.next_run_frees) {
                    ("project", Some(b)) if p.error.is_none() => human_bytes(b),
                    ("project", None) if p.error.is_none() => "?".to_owned(),
                    _ => "-".to_owned(),
                },
                p.build_dir
                    .clone()
                    .or_else(|| p.root.clone())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    write_rows(out, &header, &rows)?;
    for p in &view.projects {
        if !p.largest.is_empty() {
            let largest: Vec<String> = p
                .largest
                .iter()
                .map(|log| format!("{} {}", log.path, human_bytes(log.size)))
                .collect();
            writeln!(out, "  {} largest: {}", p.name, largest.join(", "))?;
        }
        if let Some(why) = p.reason.as_ref().or(p.error.as_ref()) {
            writeln!(out, "  {}: {}: {why}", p.name, p.found)?;
        }
    }
    let t = &view.totals;
    let mut total = format!(
        "Total: {}, {} in {}; next runs free {}",
        counted(t.projects, "project", "projects"),
        human_bytes(t.logs_bytes),
        counted(t.logs_files, "log", "logs"),
        human_bytes(t.next_run_frees)
    );
    if let Some(growth) = t.growth_per_hour {
        total.push_str(&format!("; growing {}", ls::growth_text(growth)));
    }
    writeln!(out, "{total}")?;
    for fs in &view.filesystems {
        let free = match (fs.free_bytes, fs.size_bytes) {
            (Some(free), Some(size)) => {
                format!("{} free of {}", human_bytes(free), human_bytes(size))
            }
            _ => "free space unknown".to_owned(),
        };
        writeln!(
            out,
            "Filesystem {} ({}): logs {}, {free}",
            fs.device,
            fs.projects.join(", "),
            human_bytes(fs.logs_bytes)
        )?;
    }
    Ok(())
}

// `v0-prune --all-projects`, `shutdown --all-projects`

/// What one project's daemon did when asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Asked {
    /// It accepted: the run that covers the request.
    RunNow {
        pid: u32,
        run_id: u64,
        coalesced: bool,
    },
    /// It finished its run and exited.
    Drained { pid: Option<u32> },
    /// It did not exit in time and was killed.
    Killed { pid: Option<u32> },
    /// None runs (none is started).
    NotRunning,
    /// It could not be asked, and why.
    Failed(String),
    /// Its root is gone, or we refuse it (asked nothing).
    Skipped(String),
}

impl Asked {
    /// One line for the project.
    fn line(&self, name: &str) -> String {
        match self {
            Self::RunNow {
                pid,
                run_id,
                coalesced,
            } => {
                let how = if *coalesced {
                    ", after its current one"
                } else {
                    ""
                };
                format!("{name}: asked the daemon (pid {pid}) to run now: run #{run_id}{how}")
            }
            Self::Drained { pid } => {
                format!("{name}: daemon{} stopped after its run", pid_words(*pid))
            }
            Self::Killed { pid } => format!(
                "{name}: daemon{} did not stop in time; killed",
                pid_words(*pid)
            ),
            Self::NotRunning => format!("{name}: not running (not started)"),
            Self::Failed(why) => format!("{name}: error: {why}"),
            Self::Skipped(why) => format!("{name}: skipped: {why}"),
        }
    }

    /// Its exit code, as the one-project command's.
    fn exit(&self) -> Exit {
        match self {
            Self::Failed(_) => Exit::Error,
            Self::Killed { .. } => Exit::Killed,
            _ => Exit::Success,
        }
    }
}

fn pid_words(pid: Option<u32>) -> String {
    pid.map_or_else(String::new, |pid| format!(" (pid {pid})"))
}

/// The worst of the projects' codes: an error, then a kill, then success.
fn worst(exits: impl IntoIterator<Item = Exit>) -> Exit {
    let rank = |exit: &Exit| match exit {
        Exit::Error => 3,
        Exit::Killed => 2,
        Exit::Success => 0,
        _ => 1,
    };
    exits.into_iter().max_by_key(rank).unwrap_or(Exit::Success)
}

/// What was asked of each entry: gone and refused ones skipped with why,
/// never-built ones not running.
fn answers(asked: Vec<(Registered, Option<Asked>)>) -> Vec<(String, Asked)> {
    asked
        .into_iter()
        .map(|(entry, answer)| {
            let answer = match (entry.found, answer) {
                (_, Some(answer)) => answer,
                (Entry::Gone { root }, None) => {
                    Asked::Skipped(format!("{} no longer exists", root.display()))
                }
                (Entry::Refused { reason, .. }, None) => Asked::Skipped(reason),
                (Entry::Project(_), None) => Asked::NotRunning,
            };
            (entry.name, answer)
        })
        .collect()
}

/// Prints a line per project and gives the worst code.
fn write_answers(answers: &[(String, Asked)], out: &mut dyn Write) -> anyhow::Result<Exit> {
    for (name, answer) in answers {
        writeln!(out, "{}", answer.line(name))?;
    }
    out.flush()?;
    Ok(worst(answers.iter().map(|(_, answer)| answer.exit())))
}

/// Plain `v0-prune --all-projects`: asks every running daemon to run now,
/// starting none and removing no operation.
pub fn run_now_main() -> Exit {
    let asked = ask_each(registry::discover_all(), |project| async move {
        let build = &project.build_dir;
        match daemon_ctl::probe(build, "v0-prune", DEFAULT_TIMEOUT).await {
            Probe::Answering(mut client) => {
                let pid = client.daemon_pid();
                match client.run_now().await {
                    Ok(run) => Asked::RunNow {
                        pid,
                        run_id: run.run_id,
                        coalesced: run.coalesced,
                    },
                    Err(err) => Asked::Failed(format!("the daemon (pid {pid}): {err}")),
                }
            }
            Probe::NotRunning => Asked::NotRunning,
            Probe::Unresponsive { pid, error } => Asked::Failed(format!(
                "the daemon{} does not answer: {error}",
                pid_words(pid)
            )),
        }
    });
    let result = asked.and_then(|asked| {
        let mut out = UntilClosed::new(io::stdout().lock());
        write_answers(&answers(asked), &mut out)
    });
    result.unwrap_or_else(|err| report_error(&err))
}

/// `v0-prune shutdown --all-projects`: drains every daemon at once (each
/// finishes its run, or is killed after the timeout), one line per project.
pub fn shutdown_main(args: &ShutdownArgs) -> Exit {
    let options = ShutdownOptions {
        timeout: Duration::from_secs(args.timeout),
        dry_run: false,
        live_progress: false,
        mode: shutdown::Mode::DrainOnly,
    };
    let entries = registry::discover_all();
    let drained = daemon_ctl::block_on(async move {
        // `stop` reports through `&mut dyn Write`: its tasks stay on this thread.
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async move {
                let mut stops = JoinSet::new();
                for (index, entry) in entries.iter().enumerate() {
                    if let Entry::Project(project) = &entry.found
                        && project.build_dir.root().is_dir()
                    {
                        let build = project.build_dir.clone();
                        let options = options.clone();
                        stops.spawn_local(async move {
                            let pid = daemon_ctl::daemon_process(&build).pid();
                            let mut warnings = Vec::new();
                            let stopped =
                                shutdown::stop(&build, &options, &mut io::sink(), &mut warnings)
                                    .await;
                            let answer = match stopped {
                                Ok(Stopped::NotRunning) => Asked::NotRunning,
                                Ok(Stopped::Drained) => Asked::Drained { pid },
                                Ok(Stopped::Killed) => Asked::Killed { pid },
                                Err(err) => Asked::Failed(format!("{err:#}")),
                            };
                            (index, answer, warnings)
                        });
                    }
                }
                let mut answers: Vec<Option<Asked>> = entries.iter().map(|_| None).collect();
                let mut warnings = Vec::new();
                while let Some(joined) = stops.join_next().await {
                    let (index, answer, said) = joined?;
                    answers[index] = Some(answer);
                    warnings.push((index, said));
                }
                warnings.sort_by_key(|(index, _)| *index);
                let names: Vec<String> = entries.iter().map(|e| e.name.clone()).collect();
                let asked: Vec<_> = entries.into_iter().zip(answers).collect();
                anyhow::Ok((asked, warnings, names))
            })
            .await
    });
    let result = drained.and_then(|drained| {
        let (asked, warnings, names) = drained?;
        let mut err = io::stderr().lock();
        for (index, said) in warnings {
            for line in String::from_utf8_lossy(&said).lines() {
                writeln!(err, "{}: {line}", names[index])?;
            }
        }
        let mut out = UntilClosed::new(io::stdout().lock());
        write_answers(&answers(asked), &mut out)
    });
    result.unwrap_or_else(|err| report_error(&err))
}

/// Left-aligned columns, two spaces apart, the last one unpadded.
fn write_rows<const N: usize>(
    out: &mut dyn Write,
    header: &[String; N],
    rows: &[[String; N]],
) -> io::Result<()> {
    let mut widths = [0usize; N];
    for row in std::iter::once(header).chain(rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(header).chain(rows) {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  "));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
