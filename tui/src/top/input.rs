//! Keys to actions, as pure functions: what a key means depends only on the
//! key and on what the screen is asking for (a dialog, the filter prompt), so
//! every binding can be tested without a terminal.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// Every key and what it does, in the words of the `?` overlay and of
/// `top --help` (both print this list, so neither can miss a key).
pub const KEYS: &[(&str, &str)] = &[
    ("r", "ask the daemon for a prune run now"),
    ("d", "drain: finish the current run, then stop the daemon"),
    ("s", "start the daemon when it is not running"),
    (
        "p",
        "projects: every project on this machine (p, Esc: back)",
    ),
    ("Tab", "switch focus between run history and log"),
    ("↑ ↓ / j k", "scroll the focused pane"),
    ("PgUp PgDn", "scroll a page"),
    ("Home End", "first / last (End follows the log again)"),
    ("v", "switch between runs and files (what uses the space)"),
    (
        "Enter",
        "files: follow the selected log; projects: open one",
    ),
    ("f", "pause or follow the log"),
    ("/", "filter the log (Enter applies, Esc cancels)"),
    ("?", "this help"),
    ("q Esc Ctrl-C", "quit (the daemon keeps running)"),
];

/// What the screen is waiting for; the same key means different things in
/// each (`q` quits, but types a `q` into the filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputMode {
    /// The dashboard itself.
    Normal,
    /// The `?` overlay is open.
    Help,
    /// The drain confirmation is open.
    ConfirmDrain,
    /// The `/` filter prompt is open.
    Filter,
    /// The last lines of a log are open.
    Tail,
}

/// How far to move in the focused pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scroll {
    /// One line (or row) towards the top.
    LineUp,
    /// One line (or row) towards the bottom.
    LineDown,
    /// One screenful towards the top.
    PageUp,
    /// One screenful towards the bottom.
    PageDown,
    /// To the first row (newest run; oldest log line).
    Top,
    /// To the last row (oldest run; newest log line, following again).
    Bottom,
}

/// Something the user asked for; [`super::app::App::apply`] carries it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Leave the dashboard; the daemon keeps running.
    Quit,
    /// Ask the daemon for a prune run now.
    RunNow,
    /// Open the drain confirmation.
    AskDrain,
    /// The user confirmed the drain.
    ConfirmDrain,
    /// Close the open dialog without doing anything.
    CancelDialog,
    /// Start the daemon (when it is not running).
    StartDaemon,
    /// Open or close the help overlay.
    ToggleHelp,
    /// Pause or resume following the log.
    ToggleFollow,
    /// Move the focus between the run history and the log.
    SwitchFocus,
    /// Scroll the focused pane.
    Scroll(Scroll),
    /// Open the filter prompt.
    StartFilter,
    /// Type a character into the filter prompt.
    FilterChar(char),
    /// Delete the last character of the filter prompt.
    FilterBackspace,
    /// Empty the filter prompt.
    FilterClear,
    /// Apply the typed filter (an empty one removes the filter).
    ApplyFilter,
    /// Close the filter prompt, keeping the filter as it was.
    CancelFilter,
    /// Switch the body between the runs and the files.
    SwitchView,
    /// Show the last lines of the selected file (Files view).
    OpenTail,
    /// Close the last lines.
    CloseTail,
    /// Switch to the Projects view (every project on this machine).
    ShowProjects,
}

/// What a key does in the Projects view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectsAction {
    /// Leave the dashboard.
    Quit,
    /// Back to the project dashboard (or close the help).
    Back,
    /// Open or close the help.
    ToggleHelp,
    /// Select the row above.
    Up,
    /// Select the row below.
    Down,
    /// Select the first row.
    Top,
    /// Select the last row.
    Bottom,
    /// Open the selected project's dashboard.
    Open,
    /// Ask the selected project's daemon for a run now.
    RunNow,
    /// Ask whether to drain the selected project's daemon.
    AskDrain,
    /// Yes, drain it.
    ConfirmDrain,
    /// No: close the question.
    Cancel,
    /// Start the selected project's daemon.
    Start,
}

/// The action a key stands for in the Projects view; `confirming` while the
/// drain question is open, `help` while the `?` overlay is.
pub fn projects_action(confirming: bool, help: bool, key: KeyEvent) -> Option<ProjectsAction> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return (key.code == KeyCode::Char('c')).then_some(ProjectsAction::Quit);
    }
    if confirming {
        return match key.code {
            KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => {
                Some(ProjectsAction::ConfirmDrain)
            }
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Char('q') | KeyCode::Esc => {
                Some(ProjectsAction::Cancel)
            }
            _ => None,
        };
    }
    if help {
        return match key.code {
            KeyCode::Char('?') | KeyCode::Char('q') | KeyCode::Esc | KeyCode::Enter => {
                Some(ProjectsAction::ToggleHelp)
            }
            _ => None,
        };
    }
    let action = match key.code {
        KeyCode::Char('q') => ProjectsAction::Quit,
        KeyCode::Char('p') | KeyCode::Esc => ProjectsAction::Back,
        KeyCode::Char('?') | KeyCode::F(1) => ProjectsAction::ToggleHelp,
        KeyCode::Up | KeyCode::Char('k') => ProjectsAction::Up,
        KeyCode::Down | KeyCode::Char('j') => ProjectsAction::Down,
        KeyCode::Home | KeyCode::Char('g') => ProjectsAction::Top,
        KeyCode::End | KeyCode::Char('G') => ProjectsAction::Bottom,
        KeyCode::Enter => ProjectsAction::Open,
        KeyCode::Char('r') => ProjectsAction::RunNow,
        KeyCode::Char('d') => ProjectsAction::AskDrain,
        KeyCode::Char('s') => ProjectsAction::Start,
        _ => return None,
    };
    Some(action)
}

/// The action a key stands for in `mode`, if any. Key releases and repeats
/// reported by some terminals are ignored, so one press is one action.
pub fn action_for(mode: InputMode, key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        // Ctrl-C always leaves, whatever is open: raw mode turned it into a key.
        return Some(Action::Quit);
    }
    match mode {
        InputMode::Normal => normal(key.code, ctrl),
        InputMode::Help => help(key.code),
        InputMode::ConfirmDrain => confirm(key.code),
        InputMode::Filter => filter(key.code, ctrl),
        InputMode::Tail => match key.code {
            KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') => Some(Action::CloseTail),
            _ => None,
        },
    }
}

fn normal(code: KeyCode, ctrl: bool) -> Option<Action> {
    if ctrl {
        return match code {
            KeyCode::Char('u') | KeyCode::Char('b') => Some(Action::Scroll(Scroll::PageUp)),
            KeyCode::Char('d') | KeyCode::Char('f') => Some(Action::Scroll(Scroll::PageDown)),
            _ => None,
        };
    }
    let action = match code {
        KeyCode::Char('q') | KeyCode::Esc => Action::Quit,
        KeyCode::Char('r') => Action::RunNow,
        KeyCode::Char('d') => Action::AskDrain,
        KeyCode::Char('s') => Action::StartDaemon,
        KeyCode::Char('f') => Action::ToggleFollow,
        KeyCode::Char('v') => Action::SwitchView,
        KeyCode::Char('p') => Action::ShowProjects,
        KeyCode::Enter => Action::OpenTail,
        KeyCode::Char('/') => Action::StartFilter,
        KeyCode::Char('?') | KeyCode::F(1) => Action::ToggleHelp,
        KeyCode::Tab | KeyCode::BackTab => Action::SwitchFocus,
        KeyCode::Up | KeyCode::Char('k') => Action::Scroll(Scroll::LineUp),
        KeyCode::Down | KeyCode::Char('j') => Action::Scroll(Scroll::LineDown),
        KeyCode::PageUp => Action::Scroll(Scroll::PageUp),
        KeyCode::PageDown | KeyCode::Char(' ') => Action::Scroll(Scroll::PageDown),
        KeyCode::Home | KeyCode::Char('g') => Action::Scroll(Scroll::Top),
        KeyCode::End | KeyCode::Char('G') => Action::Scroll(Scroll::Bottom),
        _ => return None,
    };
    Some(action)
}

fn help(code: KeyCode) -> Option<Action> {
    match code {
        KeyCode::Char('?') | KeyCode::Char('q') | KeyCode::Esc | KeyCode::Enter | KeyCode::F(1) => {
            Some(Action::ToggleHelp)
        }
        _ => None,
    }
}

fn confirm(code: KeyCode) -> Option<Action> {
    match code {
        KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => Some(Action::ConfirmDrain),
        KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Char('q') | KeyCode::Esc => {
            Some(Action::CancelDialog)
        }
        _ => None,
    }
}

fn filter(code: KeyCode, ctrl: bool) -> Option<Action> {
    match code {
        KeyCode::Char('u') if ctrl => Some(Action::FilterClear),
        KeyCode::Char(_) if ctrl => None,
        KeyCode::Char(c) => Some(Action::FilterChar(c)),
        KeyCode::Backspace => Some(Action::FilterBackspace),
        KeyCode::Enter => Some(Action::ApplyFilter),
        KeyCode::Esc => Some(Action::CancelFilter),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn ctrl(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    fn normal(code: KeyCode) -> Option<Action> {
        action_for(InputMode::Normal, key(code))
    }

    #[test]
    fn dashboard_keys_map_to_their_actions() {
        assert_eq!(normal(KeyCode::Char('r')), Some(Action::RunNow));
        assert_eq!(normal(KeyCode::Char('d')), Some(Action::AskDrain));
        assert_eq!(normal(KeyCode::Char('s')), Some(Action::StartDaemon));
        assert_eq!(normal(KeyCode::Char('f')), Some(Action::ToggleFollow));
        assert_eq!(normal(KeyCode::Char('/')), Some(Action::StartFilter));
        assert_eq!(normal(KeyCode::Char('?')), Some(Action::ToggleHelp));
        assert_eq!(normal(KeyCode::Tab), Some(Action::SwitchFocus));
        assert_eq!(normal(KeyCode::BackTab), Some(Action::SwitchFocus));
        assert_eq!(normal(KeyCode::Char('v')), Some(Action::SwitchView));
        assert_eq!(normal(KeyCode::Enter), Some(Action::OpenTail));
        assert_eq!(normal(KeyCode::Char('x')), None);
    }

    #[test]
    fn q_esc_and_ctrl_c_quit_from_the_dashboard() {
        assert_eq!(normal(KeyCode::Char('q')), Some(Action::Quit));
        assert_eq!(normal(KeyCode::Esc), Some(Action::Quit));
        assert_eq!(action_for(InputMode::Normal, ctrl('c')), Some(Action::Quit));
    }

    #[test]
    fn ctrl_c_quits_from_every_mode() {
        for mode in [
            InputMode::Normal,
            InputMode::Help,
            InputMode::ConfirmDrain,
            InputMode::Filter,
            InputMode::Tail,
        ] {
            assert_eq!(action_for(mode, ctrl('c')), Some(Action::Quit), "{mode:?}");
        }
    }

    #[test]
    fn navigation_keys_scroll() {
        use Scroll::*;
        let cases = [
            (KeyCode::Up, LineUp),
            (KeyCode::Char('k'), LineUp),
            (KeyCode::Down, LineDown),
            (KeyCode::Char('j'), LineDown),
            (KeyCode::PageUp, PageUp),
            (KeyCode::PageDown, PageDown),
            (KeyCode::Home, Top),
            (KeyCode::End, Bottom),
            (KeyCode::Char('G'), Bottom),
        ];
        for (code, scroll) in cases {
            assert_eq!(normal(code), Some(Action::Scroll(scroll)), "{code:?}");
        }
        assert_eq!(
            action_for(InputMode::Normal, ctrl('u')),
            Some(Action::Scroll(PageUp))
        );
    }

    #[test]
    fn the_drain_dialog_takes_only_yes_or_no() {
        let confirm = |code| action_for(InputMode::ConfirmDrain, key(code));
        assert_eq!(confirm(KeyCode::Char('y')), Some(Action::ConfirmDrain));
        assert_eq!(confirm(KeyCode::Enter), Some(Action::ConfirmDrain));
        assert_eq!(confirm(KeyCode::Char('n')), Some(Action::CancelDialog));
        assert_eq!(confirm(KeyCode::Esc), Some(Action::CancelDialog));
        // Keys of the dashboard do nothing while the question is open.
        assert_eq!(confirm(KeyCode::Char('r')), None);
        assert_eq!(confirm(KeyCode::Char('d')), None);
    }

    #[test]
    fn the_filter_prompt_takes_text_including_command_letters() {
        let typed = |code| action_for(InputMode::Filter, key(code));
        assert_eq!(typed(KeyCode::Char('q')), Some(Action::FilterChar('q')));
        assert_eq!(typed(KeyCode::Char('r')), Some(Action::FilterChar('r')));
        assert_eq!(typed(KeyCode::Char('/')), Some(Action::FilterChar('/')));
        assert_eq!(typed(KeyCode::Backspace), Some(Action::FilterBackspace));
        assert_eq!(typed(KeyCode::Enter), Some(Action::ApplyFilter));
        assert_eq!(typed(KeyCode::Esc), Some(Action::CancelFilter));
        assert_eq!(
            action_for(InputMode::Filter, ctrl('u')),
            Some(Action::FilterClear)
        );
    }

    #[test]
    fn help_closes_on_its_keys_and_ignores_the_rest() {
        let in_help = |code| action_for(InputMode::Help, key(code));
        assert_eq!(in_help(KeyCode::Char('?')), Some(Action::ToggleHelp));
        assert_eq!(in_help(KeyCode::Esc), Some(Action::ToggleHelp));
        assert_eq!(in_help(KeyCode::Char('q')), Some(Action::ToggleHelp));
        assert_eq!(in_help(KeyCode::Char('r')), None);
    }

    #[test]
    fn p_opens_the_projects_view_and_goes_back_from_it() {
        assert_eq!(normal(KeyCode::Char('p')), Some(Action::ShowProjects));
        let projects = |code| projects_action(false, false, key(code));
        assert_eq!(projects(KeyCode::Char('p')), Some(ProjectsAction::Back));
        assert_eq!(projects(KeyCode::Esc), Some(ProjectsAction::Back));
        assert_eq!(projects(KeyCode::Enter), Some(ProjectsAction::Open));
        assert_eq!(projects(KeyCode::Char('r')), Some(ProjectsAction::RunNow));
        assert_eq!(projects(KeyCode::Char('d')), Some(ProjectsAction::AskDrain));
        assert_eq!(projects(KeyCode::Char('s')), Some(ProjectsAction::Start));
        assert_eq!(projects(KeyCode::Char('q')), Some(ProjectsAction::Quit));
        assert_eq!(projects(KeyCode::Down), Some(ProjectsAction::Down));
        assert_eq!(
            projects_action(false, false, ctrl('c')),
            Some(ProjectsAction::Quit)
        );
    }

    #[test]
    fn the_projects_drain_question_takes_only_yes_or_no() {
        let confirm = |code| projects_action(true, false, key(code));
        assert_eq!(
            confirm(KeyCode::Char('y')),
            Some(ProjectsAction::ConfirmDrain)
        );
        assert_eq!(confirm(KeyCode::Esc), Some(ProjectsAction::Cancel));
        assert_eq!(confirm(KeyCode::Char('d')), None);
        assert_eq!(confirm(KeyCode::Char('r')), None);
    }

    #[test]
    fn key_releases_are_ignored() {
        let mut release = key(KeyCode::Char('r'));
        release.kind = KeyEventKind::Release;
        assert_eq!(action_for(InputMode::Normal, release), None);
    }
}
