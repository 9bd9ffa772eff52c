//! The dashboard's state: what the daemon told us and what the user is
//! looking at. No ratatui types live here: `ui/` draws from `&App`, `input`
//! turns keys into [`Action`]s, and the loop in `mod.rs` feeds the App with
//! link events and carries out the [`Command`]s it hands back.

use std::collections::VecDeque;
use std::mem;
use std::time::Duration;

use jiff::tz::TimeZone;
use v0_prune_shared::client::RunRequested;
use v0_prune_shared::protocol::files::FileInfo;
use v0_prune_shared::protocol::{DaemonState, RunProgress, RunRecord, Snapshot};

use super::input::{Action, InputMode, Scroll};
use super::log_tail::LogTail;

/// How many runs the history keeps (the snapshot brings 30, events add more).
pub const HISTORY_CAP: usize = 500;

/// How long a notice stays on screen, in milliseconds.
const NOTICE_MS: i64 = 6_000;

/// How long after `s` the screen says "starting" before giving up on the daemon.
const START_GRACE_MS: i64 = 15_000;

/// Which pane the scroll keys move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    /// The run history table.
    History,
    /// The daemon's log.
    Log,
}

/// Which screen the body shows: the runs (summary, history, log) or the
/// files (what is using the space).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// The summary of runs, the run history and the daemon's log.
    Runs,
    /// The logs and the queue, largest first, with the selected file's details.
    Files,
}

/// The last lines of a log, read locally for the Files view's `Enter`, and
/// the lines appended since, live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailView {
    /// The log, relative to the build directory.
    pub path: String,
    /// Its last lines, oldest first; `None` while they are being read, an
    /// error in words when they could not be.
    pub lines: Option<Result<Vec<String>, String>>,
}

/// What is open on top of the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Nothing: the dashboard.
    Normal,
    /// The `?` overlay.
    Help,
    /// "Drain the daemon?"
    ConfirmDrain,
    /// The `/` prompt, with what has been typed so far.
    Filter {
        /// The text typed.
        input: String,
    },
    /// The last lines of the selected log (`Enter` in the Files view).
    Tail(TailView),
}

/// The link to the daemon, as the screen describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// The first attempt has not finished yet.
    Connecting,
    /// Subscribed: the daemon's state is live.
    Connected,
    /// No daemon runs for this build directory.
    NotRunning {
        /// When the next look is, unix milliseconds.
        retry_at_ms: i64,
    },
    /// The connection broke; reconnecting.
    Disconnected {
        /// Why, in words.
        reason: String,
        /// Failed attempts since.
        attempt: u32,
        /// When the next attempt is, unix milliseconds.
        retry_at_ms: i64,
    },
    /// The daemon speaks another protocol version.
    Incompatible {
        /// What is wrong and what to do.
        message: String,
    },
    /// The daemon runs, but turned this dashboard away (at its limit of
    /// watchers); trying again.
    Refused {
        /// Its reason, in its words.
        reason: String,
        /// When the next attempt is, unix milliseconds.
        retry_at_ms: i64,
    },
}

/// The one word (or two) the header shows for the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Looking for the daemon.
    Connecting,
    /// Waiting for its next run.
    Idle,
    /// Pruning.
    Running,
    /// Finishing its run, then exiting.
    Draining,
    /// Just started by `s`, not answering yet.
    Starting,
    /// Not running.
    NotRunning,
    /// Lost the connection; reconnecting.
    Disconnected,
    /// Speaks another protocol version.
    Incompatible,
    /// Runs, but refused this dashboard.
    Refused,
}

impl Status {
    /// The word on screen; the end-to-end tests grep for these.
    pub fn word(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Idle => DaemonState::Idle.label(),
            Self::Running => DaemonState::Running.label(),
            Self::Draining => DaemonState::Draining.label(),
            Self::Starting => "starting",
            Self::NotRunning => "not running",
            Self::Disconnected => "disconnected",
            Self::Incompatible => "incompatible",
            Self::Refused => "refused",
        }
    }
}

/// Work for the loop: talking to the daemon or starting it, which `App`
/// itself never does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Ask for a run now.
    RunNow,
    /// Ask the daemon to drain.
    Drain,
    /// Start the daemon.
    StartDaemon,
    /// Read the last lines of this log (relative to the build directory).
    ReadTail {
        /// The log's path, as the daemon reported it.
        path: String,
    },
}

/// How a [`Command`] went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandDone {
    /// The daemon accepted (or refused) a run request.
    RunNow(Result<RunRequested, String>),
    /// The daemon accepted (or refused) the drain; its exit comes later.
    DrainAccepted(Result<(), String>),
    /// The drained daemon has exited.
    Drained,
    /// The daemon was started with this pid (or could not be).
    Started(Result<u32, String>),
    /// The last lines of a log were read (or could not be).
    Tail {
        /// The log, relative to the build directory.
        path: String,
        /// Its last lines, or what went wrong.
        lines: Result<Vec<String>, String>,
    },
    /// Lines appended to the log followed since (each once, through prunes).
    TailMore {
        /// The log, relative to the build directory.
        path: String,
        /// The new lines, oldest first.
        lines: Vec<String>,
    },
}

/// A short message at the bottom of the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The text.
    pub text: String,
    /// Shown as an error.
    pub is_error: bool,
    /// When it goes away, unix milliseconds.
    pub until_ms: i64,
    /// The run it announces (`run #2 requested`): it goes away when that
    /// run has finished, whatever the time.
    pub run_id: Option<u64>,
}

/// What the link asks of the loop after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkReaction {
    /// Nothing.
    Nothing,
    /// Events were missed: subscribe again for a fresh snapshot.
    Resubscribe,
}

/// How many rows the last frame gave the history and the log, so that
/// PgUp/PgDn move by a screenful.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewport {
    /// Visible history rows.
    pub history_rows: usize,
    /// Visible log lines.
    pub log_rows: usize,
    /// Visible rows of the Files table.
    pub files_rows: usize,
}

impl Default for Viewport {
    fn default() -> Self {
        Self {
            history_rows: 5,
            log_rows: 5,
            files_rows: 5,
        }
    }
}

/// Everything the dashboard shows.
#[derive(Debug, Clone)]
pub struct App {
    /// The build directory watched, for the header.
    pub build_dir: String,
    /// The time zone times are shown in (UTC in tests).
    pub tz: TimeZone,
    /// The time the screen is drawn for, unix milliseconds; set by the loop,
    /// fixed by tests, so that "ago" and countdowns are reproducible.
    pub now_ms: i64,
    /// Whether colours may be used (`NO_COLOR` turns them off).
    pub color: bool,
    /// Watching the throw-away demo project.
    pub demo: bool,
    /// The link to the daemon.
    pub link: Link,
    /// The daemon's last known state, as the daemon's hub has it (events
    /// applied by [`Snapshot::apply`]); its runs and log lines are shown from
    /// [`App::history`] (longer) and [`App::log`] (filtered). Kept while
    /// disconnected, so the last known figures stay on screen.
    pub daemon: Option<Snapshot>,
    /// The last item the current run pruned, with its detail.
    pub last_pruned: Option<String>,
    /// Recent runs, newest first.
    pub history: VecDeque<RunRecord>,
    /// The selected history row (0 = newest).
    pub history_selected: usize,
    /// The first history row shown.
    pub history_offset: usize,
    /// The daemon's log.
    pub log: LogTail,
    /// Which pane scrolls.
    pub focus: Pane,
    /// What is open on top.
    pub mode: Mode,
    /// A short message for the user.
    pub notice: Option<Notice>,
    /// We asked the daemon to drain: its going away is expected.
    pub drain_requested: bool,
    /// The daemon said it is exiting (and why).
    pub exiting: Option<String>,
    /// When `s` started a daemon that has not answered yet.
    pub start_requested_at_ms: Option<i64>,
    /// Which screen the body shows.
    pub view: View,
    /// The selected file of the Files view (index into [`App::files`]).
    pub files_selected: usize,
    /// The first row of the Files table shown.
    pub files_offset: usize,
    /// The selected file's path, so that it stays selected when a new view
    /// reorders the files.
    files_selected_path: Option<String>,
    seq: Option<u64>,
    viewport: Viewport,
    quit: bool,
    projects: bool,
}

impl App {
    /// A dashboard for `build_dir` that has not reached the daemon yet.
    pub fn new(build_dir: impl Into<String>, tz: TimeZone, now_ms: i64, color: bool) -> Self {
        Self {
            build_dir: build_dir.into(),
            tz,
            now_ms,
            color,
            demo: false,
            link: Link::Connecting,
            daemon: None,
            last_pruned: None,
            history: VecDeque::new(),
            history_selected: 0,
            history_offset: 0,
            log: LogTail::default(),
            focus: Pane::History,
            mode: Mode::Normal,
            notice: None,
            drain_requested: false,
            exiting: None,
            start_requested_at_ms: None,
            view: View::Runs,
            files_selected: 0,
            files_offset: 0,
            files_selected_path: None,
            seq: None,
            viewport: Viewport::default(),
            quit: false,
            projects: false,
        }
    }

    /// The user asked to leave.
    pub fn should_quit(&self) -> bool {
        self.quit
    }

    /// The user asked for the Projects view (`p`): the loop returns, and
    /// the caller shows every project.
    pub fn wants_projects(&self) -> bool {
        self.projects
    }

    /// What keys mean right now.
    pub fn input_mode(&self) -> InputMode {
        match self.mode {
            Mode::Normal => InputMode::Normal,
            Mode::Help => InputMode::Help,
            Mode::ConfirmDrain => InputMode::ConfirmDrain,
            Mode::Filter { .. } => InputMode::Filter,
            Mode::Tail(_) => InputMode::Tail,
        }
    }

    /// The files the daemon last reported, largest first: the largest ones
    /// and the skipped ones outside them, merged; empty before the first run.
    pub fn files(&self) -> Vec<&FileInfo> {
        let Some(view) = self.daemon.as_ref().and_then(|d| d.files.as_ref()) else {
            return Vec::new();
        };
        let mut files: Vec<&FileInfo> = view.largest.iter().chain(&view.skipped).collect();
        files.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.path.cmp(&b.path)));
        files
    }

    /// The selected file of the Files view.
    pub fn selected_file(&self) -> Option<&FileInfo> {
        self.files().get(self.files_selected).copied()
    }

    /// After new files arrive: the same file stays selected, wherever it moved.
    pub(crate) fn reselect_file(&mut self) {
        let found = self
            .files_selected_path
            .as_ref()
            .and_then(|path| self.files().iter().position(|f| &f.path == path));
        if let Some(index) = found {
            self.files_selected = index;
        }
        self.keep_file_visible();
    }

    fn scroll_files(&mut self, scroll: Scroll) {
        let files = self.files();
        let Some(last) = files.len().checked_sub(1) else {
            return;
        };
        let page = self.viewport.files_rows.max(1);
        let selected = self.files_selected.min(last);
        let selected = match scroll {
            Scroll::LineUp => selected.saturating_sub(1),
            Scroll::LineDown => selected.saturating_add(1).min(last),
            Scroll::PageUp => selected.saturating_sub(page),
            Scroll::PageDown => selected.saturating_add(page).min(last),
            Scroll::Top => 0,
            Scroll::Bottom => last,
        };
        self.files_selected_path = Some(files[selected].path.clone());
        self.files_selected = selected;
        self.keep_file_visible();
    }

    fn keep_file_visible(&mut self) {
        let rows = self.viewport.files_rows.max(1);
        let len = self.files().len();
        self.files_selected = self.files_selected.min(len.saturating_sub(1));
        if self.files_selected < self.files_offset {
            self.files_offset = self.files_selected;
        } else if self.files_selected >= self.files_offset + rows {
            self.files_offset = self.files_selected + 1 - rows;
        }
        self.files_offset = self.files_offset.min(len.saturating_sub(rows));
    }

    fn open_tail(&mut self) -> Option<Command> {
        if self.view != View::Files {
            return None;
        }
        let Some(path) = self.selected_file().map(|f| f.path.clone()) else {
            self.inform("no file selected: the daemon lists its files after its first run");
            return None;
        };
        self.mode = Mode::Tail(TailView {
            path: path.clone(),
            lines: None,
        });
        Some(Command::ReadTail { path })
    }

    /// Drops from the Files view the holders that have exited since the
    /// daemon looked (`alive` says which pids still run), so the view never
    /// shows a process that is gone (the `v0-prune` that started the daemon).
    pub fn forget_exited_holders(&mut self, alive: impl Fn(u32) -> bool) {
        let Some(files) = self.daemon.as_mut().and_then(|d| d.files.as_mut()) else {
            return;
        };
        for file in files.largest.iter_mut().chain(files.skipped.iter_mut()) {
            file.holders.retain(|holder| alive(holder.pid));
        }
    }

    /// The sequence number of the last event applied.
    pub fn seq(&self) -> Option<u64> {
        self.seq
    }

    /// What the header says the daemon is doing.
    pub fn status(&self) -> Status {
        match (&self.link, &self.daemon) {
            (Link::Connecting, _) => Status::Connecting,
            (Link::Connected, Some(daemon)) => match daemon.state {
                DaemonState::Idle => Status::Idle,
                DaemonState::Running => Status::Running,
                DaemonState::Draining => Status::Draining,
            },
            (Link::Connected, None) => Status::Connecting,
            (Link::NotRunning { .. } | Link::Disconnected { .. }, _)
                if self.start_requested_at_ms.is_some() =>
            {
                Status::Starting
            }
            (Link::NotRunning { .. }, _) => Status::NotRunning,
            (Link::Disconnected { .. }, _) => Status::Disconnected,
            (Link::Incompatible { .. }, _) => Status::Incompatible,
            (Link::Refused { .. }, _) => Status::Refused,
        }
    }

    /// The run in progress, while connected.
    pub fn current_run(&self) -> Option<&RunProgress> {
        match self.link {
            Link::Connected => self.daemon.as_ref()?.current_run.as_ref(),
            _ => None,
        }
    }

    /// Moves the clock; notices and a start that never answered expire.
    pub fn set_now(&mut self, now_ms: i64) {
        self.now_ms = now_ms;
        if self.notice.as_ref().is_some_and(|n| n.until_ms <= now_ms) {
            self.notice = None;
        }
        if let Some(at) = self.start_requested_at_ms
            && now_ms - at > START_GRACE_MS
        {
            self.start_requested_at_ms = None;
            self.error(
                "the daemon did not answer after starting; see logs/prune-daemon.log in the build directory",
            );
        }
    }

    /// Records the pane heights of the frame just drawn.
    pub fn set_viewport(&mut self, viewport: Viewport) {
        self.viewport = viewport;
        self.keep_selection_visible();
        self.keep_file_visible();
    }

    /// Shows a message for a few seconds.
    pub fn inform(&mut self, text: impl Into<String>) {
        self.notice = Some(Notice {
            text: text.into(),
            is_error: false,
            until_ms: self.now_ms + NOTICE_MS,
            run_id: None,
        });
    }

    /// Shows a notice about run `run_id` until that run finishes (or for a
    /// few seconds, if its end is missed).
    fn announce_run(&mut self, run_id: u64, text: String) {
        self.inform(text);
        if let Some(notice) = self.notice.as_mut() {
            notice.run_id = Some(run_id);
        }
    }

    /// Run `run_id` has finished: a notice announcing it is out of date.
    pub(crate) fn run_finished(&mut self, run_id: u64) {
        if self
            .notice
            .as_ref()
            .is_some_and(|n| n.run_id == Some(run_id))
        {
            self.notice = None;
        }
    }

    /// Shows an error for a few seconds.
    pub fn error(&mut self, text: impl Into<String>) {
        self.notice = Some(Notice {
            text: text.into(),
            is_error: true,
            until_ms: self.now_ms + NOTICE_MS,
            run_id: None,
        });
    }

    /// Carries out what the user asked; returns the work for the loop, if any.
    pub fn apply(&mut self, action: Action) -> Option<Command> {
        match action {
            Action::Quit => self.quit = true,
            Action::ShowProjects => self.projects = true,
            Action::RunNow => return self.run_now(),
            Action::AskDrain => self.ask_drain(),
            Action::ConfirmDrain => {
                self.mode = Mode::Normal;
                if self.link == Link::Connected {
                    self.drain_requested = true;
                    self.inform("asking the daemon to drain...");
                    return Some(Command::Drain);
                }
            }
            Action::CancelDialog => self.mode = Mode::Normal,
            Action::StartDaemon => return self.start_daemon(),
            Action::ToggleHelp => {
                self.mode = match self.mode {
                    Mode::Help => Mode::Normal,
                    _ => Mode::Help,
                }
            }
            Action::ToggleFollow => self.log.toggle_follow(),
            Action::SwitchFocus => {
                self.focus = match self.focus {
                    Pane::History => Pane::Log,
                    Pane::Log => Pane::History,
                }
            }
            Action::Scroll(scroll) => match (self.view, self.focus) {
                (View::Files, _) => self.scroll_files(scroll),
                (View::Runs, Pane::History) => self.scroll_history(scroll),
                (View::Runs, Pane::Log) => self.scroll_log(scroll),
            },
            Action::SwitchView => {
                self.view = match self.view {
                    View::Runs => View::Files,
                    View::Files => View::Runs,
                };
                if self.files_selected_path.is_none() {
                    self.files_selected_path = self.selected_file().map(|f| f.path.clone());
                }
            }
            Action::OpenTail => return self.open_tail(),
            Action::CloseTail => {
                if matches!(self.mode, Mode::Tail(_)) {
                    self.mode = Mode::Normal;
                }
            }
            Action::StartFilter => {
                let input = self.log.filter().unwrap_or_default().to_owned();
                self.mode = Mode::Filter { input };
            }
            Action::FilterChar(c) => {
                if let Mode::Filter { input } = &mut self.mode {
                    input.push(c);
                }
            }
            Action::FilterBackspace => {
                if let Mode::Filter { input } = &mut self.mode {
                    input.pop();
                }
            }
            Action::FilterClear => {
                if let Mode::Filter { input } = &mut self.mode {
                    input.clear();
                }
            }
            Action::ApplyFilter => {
                if let Mode::Filter { input } = mem::replace(&mut self.mode, Mode::Normal) {
                    self.log.set_filter(&input);
                }
            }
            Action::CancelFilter => self.mode = Mode::Normal,
        }
        None
    }

    fn run_now(&mut self) -> Option<Command> {
        match self.status() {
            Status::Idle | Status::Running => {
                self.inform("asking the daemon for a run...");
                Some(Command::RunNow)
            }
            Status::Draining => {
                self.error("the daemon is draining: it will not start another run");
                None
            }
            Status::Refused => {
                self.error("the daemon runs but refused this dashboard (see above)");
                None
            }
            _ => {
                self.error("the daemon is not running: press s to start it");
                None
            }
        }
    }

    fn ask_drain(&mut self) {
        match self.status() {
            Status::Idle | Status::Running => self.mode = Mode::ConfirmDrain,
            Status::Draining => self.inform("the daemon is already draining"),
            Status::Refused => {
                self.error("the daemon runs but refused this dashboard (see above)");
            }
            _ => self.error("the daemon is not running: nothing to drain"),
        }
    }

    fn start_daemon(&mut self) -> Option<Command> {
        match self.status() {
            Status::NotRunning | Status::Disconnected => {
                self.start_requested_at_ms = Some(self.now_ms);
                self.inform("starting the daemon...");
                Some(Command::StartDaemon)
            }
            Status::Starting => {
                self.inform("the daemon is starting");
                None
            }
            Status::Incompatible => {
                self.error(format!(
                    "a daemon of another version is running: stop it first ({} shutdown)",
                    v0_prune_shared::words::command()
                ));
                None
            }
            Status::Connecting => None,
            Status::Refused => {
                self.inform("the daemon is already running; it refused this dashboard (see above)");
                None
            }
            Status::Idle | Status::Running | Status::Draining => {
                let pid = self.daemon.as_ref().map_or(0, |d| d.daemon_pid);
                self.inform(format!("the daemon is already running (pid {pid})"));
                None
            }
        }
    }

    /// Applies the outcome of a [`Command`].
    pub fn on_command_done(&mut self, done: CommandDone) {
        match done {
            // The answer and the run's events come on two connections: the
            // run may have finished before its answer arrives.
            CommandDone::RunNow(Ok(requested))
                if self.history.iter().any(|r| r.run_id == requested.run_id) =>
            {
                self.notice = None;
            }
            CommandDone::RunNow(Ok(requested)) if requested.coalesced => self.announce_run(
                requested.run_id,
                format!(
                    "run #{} is already due: the request joins it",
                    requested.run_id
                ),
            ),
            CommandDone::RunNow(Ok(requested)) => {
                self.announce_run(
                    requested.run_id,
                    format!("run #{} requested", requested.run_id),
                );
            }
            CommandDone::RunNow(Err(err)) => self.error(format!("run now failed: {err}")),
            CommandDone::DrainAccepted(Ok(())) => {
                self.inform("draining: the daemon exits after its current run");
            }
            CommandDone::DrainAccepted(Err(err)) => {
                self.drain_requested = false;
                self.error(format!("drain failed: {err}"));
            }
            CommandDone::Drained => self.inform("the daemon has exited; press s to start it again"),
            CommandDone::Started(Ok(pid)) => {
                self.inform(format!(
                    "started v0-prune-daemon (pid {pid}); connecting..."
                ));
            }
            CommandDone::Started(Err(err)) => {
                self.start_requested_at_ms = None;
                self.error(format!("could not start the daemon: {err}"));
            }
            CommandDone::Tail { path, lines } => {
                // Only into the view still open for that file.
                if let Mode::Tail(tail) = &mut self.mode
                    && tail.path == path
                {
                    tail.lines = Some(lines);
                }
            }
            CommandDone::TailMore { path, lines } => {
                if let Mode::Tail(tail) = &mut self.mode
                    && tail.path == path
                    && let Some(Ok(shown)) = &mut tail.lines
                {
                    shown.extend(lines);
                    let excess = shown.len().saturating_sub(super::file_tail::TAIL_LINES);
                    shown.drain(..excess);
                }
            }
        }
    }

    fn scroll_history(&mut self, scroll: Scroll) {
        let Some(last) = self.history.len().checked_sub(1) else {
            return;
        };
        let page = self.viewport.history_rows.max(1);
        let selected = self.history_selected;
        self.history_selected = match scroll {
            Scroll::LineUp => selected.saturating_sub(1),
            Scroll::LineDown => selected.saturating_add(1).min(last),
            Scroll::PageUp => selected.saturating_sub(page),
            Scroll::PageDown => selected.saturating_add(page).min(last),
            Scroll::Top => 0,
            Scroll::Bottom => last,
        };
        self.keep_selection_visible();
    }

    fn scroll_log(&mut self, scroll: Scroll) {
        let rows = self.viewport.log_rows.max(1);
        match scroll {
            Scroll::LineUp => self.log.scroll_up(1, rows),
            Scroll::LineDown => self.log.scroll_down(1),
            Scroll::PageUp => self.log.scroll_up(rows, rows),
            Scroll::PageDown => self.log.scroll_down(rows),
            Scroll::Top => self.log.scroll_to_top(rows),
            Scroll::Bottom => self.log.follow_newest(),
        }
    }

    fn keep_selection_visible(&mut self) {
        let rows = self.viewport.history_rows.max(1);
        let len = self.history.len();
        self.history_selected = self.history_selected.min(len.saturating_sub(1));
        if self.history_selected < self.history_offset {
            self.history_offset = self.history_selected;
        } else if self.history_selected >= self.history_offset + rows {
            self.history_offset = self.history_selected + 1 - rows;
        }
        self.history_offset = self.history_offset.min(len.saturating_sub(rows));
    }

    /// How long until `retry_at_ms`, for "reconnecting in 3s".
    pub fn until(&self, at_ms: i64) -> Duration {
        Duration::from_millis(u64::try_from(at_ms.saturating_sub(self.now_ms)).unwrap_or(0))
    }
}

mod updates;

#[cfg(test)]
mod tests;
