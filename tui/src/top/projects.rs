//! The Projects view: one row per v0 project on this machine (`p`, or
//! `top --all-projects`), refreshed every two seconds by [`look`] on a
//! background task, so the screen never waits on a daemon. No ratatui types
//! here: `ui/projects.rs` draws from `&Projects`.

mod look;

use jiff::tz::TimeZone;
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::protocol::{DaemonState, RunRecord};

pub use look::{REFRESH_EVERY, look, spawn_refresher};

use super::input::ProjectsAction;

/// How long a notice stays on screen, in milliseconds.
const NOTICE_MS: i64 = 6_000;

/// A project's daemon, as the last refresh found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Daemon {
    /// It answered.
    Running {
        /// Its pid.
        pid: u32,
        /// Idle, running or draining.
        state: DaemonState,
    },
    /// No daemon answers for this project.
    NotRunning,
    /// A daemon process exists but did not answer, or answered with an error.
    NotAnswering {
        /// Why, in words.
        error: String,
    },
    /// Registered, but its build directory does not exist yet.
    NoBuildDir,
    /// Its root no longer exists.
    Gone,
    /// Something we will not read, and why.
    Refused {
        /// Why, in words.
        reason: String,
    },
}

impl Daemon {
    /// The word the Daemon column shows.
    pub fn word(&self) -> &'static str {
        match self {
            Self::Running { state, .. } => state.label(),
            Self::NotRunning => "not running",
            Self::NotAnswering { .. } => "not answering",
            Self::NoBuildDir => "not built",
            Self::Gone => "gone",
            Self::Refused { .. } => "refused",
        }
    }

    /// A daemon answers.
    pub fn is_running(&self) -> bool {
        matches!(self, Self::Running { .. })
    }
}

/// One project's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRow {
    /// Its name in v0's registry (or its own, for the current directory's).
    pub name: String,
    /// Its root, when known.
    pub root: Option<String>,
    /// Its build directory, when it is a project we can prune.
    pub build: Option<BuildDir>,
    /// Its daemon.
    pub daemon: Daemon,
    /// The last run: the daemon's, or read from its history file when it is down.
    pub last_run: Option<RunRecord>,
    /// When the next run is due, unix milliseconds (running daemons only).
    pub next_run_at_ms: Option<i64>,
    /// Bytes reclaimed over all runs.
    pub reclaimed: Option<u64>,
    /// The logs' total size: the daemon's view, or counted on disk when it is down.
    pub logs_bytes: Option<u64>,
}

impl ProjectRow {
    /// The environment a daemon started for this project gets (`V0_ROOT`,
    /// so that it reads the project's `.v0.rc`), as `top` gives it.
    pub fn daemon_env(&self) -> Vec<(String, String)> {
        self.root
            .iter()
            .map(|root| ("V0_ROOT".to_owned(), root.clone()))
            .collect()
    }
}

/// Work for the loop on the selected project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectCommand {
    /// Ask its daemon for a run now.
    RunNow(BuildDir),
    /// Ask its daemon to drain.
    Drain(BuildDir),
    /// Start its daemon.
    Start {
        /// Its build directory.
        build: BuildDir,
        /// `V0_ROOT` for it.
        env: Vec<(String, String)>,
    },
}

/// Where the user goes from the Projects view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leave {
    /// Stay here.
    Stay,
    /// Quit the dashboard.
    Quit,
    /// Back to the project dashboard it was opened from.
    Back,
    /// Open this project's dashboard.
    Open {
        /// Its build directory.
        build: BuildDir,
        /// `V0_ROOT` for a daemon started with `s`.
        env: Vec<(String, String)>,
    },
}

/// A short message at the bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectsNotice {
    /// The text.
    pub text: String,
    /// Shown as an error.
    pub is_error: bool,
    /// When it goes away, unix milliseconds.
    pub until_ms: i64,
}

/// The Projects view's state.
#[derive(Debug, Clone)]
pub struct Projects {
    /// The rows, in the registry's order; `None` before the first refresh.
    pub rows: Option<Vec<ProjectRow>>,
    /// The selected row.
    pub selected: usize,
    /// The first row shown.
    pub offset: usize,
    /// The drain question is open, for this project (by name).
    pub confirm_drain: Option<String>,
    /// A short message.
    pub notice: Option<ProjectsNotice>,
    /// The time drawn for, unix milliseconds.
    pub now_ms: i64,
    /// Times are shown in this zone.
    pub tz: TimeZone,
    /// Colours allowed.
    pub color: bool,
    /// There is a project dashboard to go back to.
    pub can_go_back: bool,
    /// The `?` overlay is open.
    pub help: bool,
    selected_name: Option<String>,
    rows_visible: usize,
}

impl Projects {
    /// An empty view, waiting for its first refresh.
    pub fn new(tz: TimeZone, now_ms: i64, color: bool) -> Self {
        Self {
            rows: None,
            selected: 0,
            offset: 0,
            confirm_drain: None,
            notice: None,
            now_ms,
            tz,
            color,
            can_go_back: false,
            help: false,
            selected_name: None,
            rows_visible: 10,
        }
    }

    /// Moves the clock; notices expire.
    pub fn set_now(&mut self, now_ms: i64) {
        self.now_ms = now_ms;
        if self.notice.as_ref().is_some_and(|n| n.until_ms <= now_ms) {
            self.notice = None;
        }
    }

    /// How many rows the last frame showed (for paging and scrolling).
    pub fn set_rows_visible(&mut self, rows: usize) {
        self.rows_visible = rows.max(1);
        self.keep_visible();
    }

    /// A refresh arrived: the same project stays selected, wherever it moved.
    pub fn set_rows(&mut self, rows: Vec<ProjectRow>) {
        if let Some(name) = &self.selected_name
            && let Some(index) = rows.iter().position(|r| &r.name == name)
        {
            self.selected = index;
        }
        self.rows = Some(rows);
        self.keep_visible();
    }

    /// The selected project.
    pub fn selected_row(&self) -> Option<&ProjectRow> {
        self.rows.as_ref()?.get(self.selected)
    }

    /// Whether the drain question is open (keys mean yes or no).
    pub fn confirming(&self) -> bool {
        self.confirm_drain.is_some()
    }

    /// Shows a message for a few seconds.
    pub fn inform(&mut self, text: impl Into<String>) {
        self.notice = Some(ProjectsNotice {
            text: text.into(),
            is_error: false,
            until_ms: self.now_ms + NOTICE_MS,
        });
    }

    /// Shows an error for a few seconds.
    pub fn error(&mut self, text: impl Into<String>) {
        self.notice = Some(ProjectsNotice {
            text: text.into(),
            is_error: true,
            until_ms: self.now_ms + NOTICE_MS,
        });
    }

    /// Carries out a key's action: where to go, and work for the loop.
    pub fn apply(&mut self, action: ProjectsAction) -> (Leave, Option<ProjectCommand>) {
        let mut command = None;
        let leave = match action {
            ProjectsAction::Quit => Leave::Quit,
            ProjectsAction::Back if self.help => {
                self.help = false;
                Leave::Stay
            }
            ProjectsAction::Back if self.can_go_back => Leave::Back,
            ProjectsAction::Back => Leave::Quit,
            ProjectsAction::ToggleHelp => {
                self.help = !self.help;
                Leave::Stay
            }
            ProjectsAction::Up => self.select(|s, _| s.saturating_sub(1)),
            ProjectsAction::Down => self.select(|s, last| s.saturating_add(1).min(last)),
            ProjectsAction::Top => self.select(|_, _| 0),
            ProjectsAction::Bottom => self.select(|_, last| last),
            ProjectsAction::Open => self.open(),
            ProjectsAction::RunNow => {
                command = self.run_now();
                Leave::Stay
            }
            ProjectsAction::AskDrain => {
                self.ask_drain();
                Leave::Stay
            }
            ProjectsAction::ConfirmDrain => {
                command = self.confirm();
                Leave::Stay
            }
            ProjectsAction::Cancel => {
                self.confirm_drain = None;
                Leave::Stay
            }
            ProjectsAction::Start => {
                command = self.start();
                Leave::Stay
            }
        };
        (leave, command)
    }

    fn select(&mut self, to: impl Fn(usize, usize) -> usize) -> Leave {
        let Some(rows) = &self.rows else {
            return Leave::Stay;
        };
        let Some(last) = rows.len().checked_sub(1) else {
            return Leave::Stay;
        };
        self.selected = to(self.selected.min(last), last);
        self.selected_name = Some(rows[self.selected].name.clone());
        self.keep_visible();
        Leave::Stay
    }

    fn keep_visible(&mut self) {
        let len = self.rows.as_ref().map_or(0, Vec::len);
        let rows = self.rows_visible.max(1);
        self.selected = self.selected.min(len.saturating_sub(1));
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + rows {
            self.offset = self.selected + 1 - rows;
        }
        self.offset = self.offset.min(len.saturating_sub(rows));
    }

    fn open(&mut self) -> Leave {
        let Some(row) = self.selected_row().cloned() else {
            return Leave::Stay;
        };
        match (&row.build, &row.daemon) {
            (
                Some(build),
                Daemon::Running { .. } | Daemon::NotRunning | Daemon::NotAnswering { .. },
            ) => Leave::Open {
                build: build.clone(),
                env: row.daemon_env(),
            },
            _ => {
                self.error(format!(
                    "{}: {} — nothing to open",
                    row.name,
                    self.why_not_ref(&row.daemon)
                ));
                Leave::Stay
            }
        }
    }

    fn run_now(&mut self) -> Option<ProjectCommand> {
        let row = self.selected_row()?.clone();
        match (&row.daemon, row.build) {
            (
                Daemon::Running {
                    state: DaemonState::Draining,
                    ..
                },
                _,
            ) => {
                self.error(format!("{}: the daemon is draining", row.name));
                None
            }
            (Daemon::Running { .. }, Some(build)) => {
                self.inform(format!("{}: asking the daemon for a run...", row.name));
                Some(ProjectCommand::RunNow(build))
            }
            (Daemon::NotRunning, Some(_)) => {
                self.error(format!(
                    "{}: the daemon is not running: press s to start it",
                    row.name
                ));
                None
            }
            _ => {
                self.error(format!("{}: {}", row.name, self.why_not_ref(&row.daemon)));
                None
            }
        }
    }

    fn why_not_ref(&self, daemon: &Daemon) -> String {
        match daemon {
            Daemon::Gone => "its root no longer exists".to_owned(),
            Daemon::NoBuildDir => "no build directory yet".to_owned(),
            Daemon::Refused { reason } => reason.clone(),
            Daemon::NotAnswering { error } => format!("not answering: {error}"),
            other => other.word().to_owned(),
        }
    }

    fn ask_drain(&mut self) {
        let Some(row) = self.selected_row().cloned() else {
            return;
        };
        match row.daemon {
            Daemon::Running {
                state: DaemonState::Draining,
                ..
            } => {
                self.inform(format!("{}: the daemon is already draining", row.name));
            }
            Daemon::Running { .. } => self.confirm_drain = Some(row.name),
            _ => self.error(format!(
                "{}: the daemon is not running: nothing to drain",
                row.name
            )),
        }
    }

    fn confirm(&mut self) -> Option<ProjectCommand> {
        let name = self.confirm_drain.take()?;
        let row = self.rows.as_ref()?.iter().find(|r| r.name == name)?.clone();
        let build = row.build?;
        self.inform(format!("{name}: asking the daemon to drain..."));
        Some(ProjectCommand::Drain(build))
    }

    fn start(&mut self) -> Option<ProjectCommand> {
        let row = self.selected_row()?.clone();
        match (&row.daemon, &row.build) {
            (Daemon::NotRunning, Some(build)) => {
                self.inform(format!("{}: starting the daemon...", row.name));
                Some(ProjectCommand::Start {
                    build: build.clone(),
                    env: row.daemon_env(),
                })
            }
            (Daemon::Running { pid, .. }, _) => {
                self.inform(format!(
                    "{}: the daemon is already running (pid {pid})",
                    row.name
                ));
                None
            }
            _ => {
                self.error(format!("{}: {}", row.name, self.why_not_ref(&row.daemon)));
                None
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
