//! The Projects view's keys: selection, `Enter` opens the selected project,
//! back, `r` on the selected project, `d` asks first, `s` on a daemon that is down.

use jiff::tz::TimeZone;
use v0_prune_shared::paths::BuildDir;
use v0_prune_shared::protocol::DaemonState;

use super::*;
use crate::top::fixtures::{self, NOW};

/// Three projects: one idle daemon, one down (figures read from disk), one gone.
pub(crate) fn rows() -> Vec<ProjectRow> {
    let run = fixtures::record(7, NOW - 300_000, 3 * 1024 * 1024);
    vec![
        ProjectRow {
            name: "shop".to_owned(),
            root: Some("/home/dev/shop".to_owned()),
            build: Some(BuildDir::new("/home/dev/shop/.v0/build")),
            daemon: Daemon::Running {
                pid: 4242,
                state: DaemonState::Idle,
            },
            last_run: Some(run.clone()),
            next_run_at_ms: Some(NOW + 240_000),
            reclaimed: Some(28 * 1024 * 1024),
            logs_bytes: Some(12 * 1024 * 1024),
        },
        ProjectRow {
            name: "blog".to_owned(),
            root: Some("/home/dev/blog".to_owned()),
            build: Some(BuildDir::new("/home/dev/blog/.v0/build")),
            daemon: Daemon::NotRunning,
            last_run: Some(run),
            next_run_at_ms: None,
            reclaimed: Some(1024 * 1024),
            logs_bytes: Some(640 * 1024),
        },
        ProjectRow {
            name: "old-api".to_owned(),
            root: Some("/home/dev/old-api".to_owned()),
            build: None,
            daemon: Daemon::Gone,
            last_run: None,
            next_run_at_ms: None,
            reclaimed: None,
            logs_bytes: None,
        },
    ]
}

pub(crate) fn projects() -> Projects {
    let mut projects = Projects::new(TimeZone::UTC, NOW, false);
    projects.set_rows(rows());
    projects
}

#[test]
fn enter_opens_the_selected_project() {
    let mut projects = projects();
    projects.apply(ProjectsAction::Down);
    let (leave, command) = projects.apply(ProjectsAction::Open);
    assert_eq!(command, None);
    assert_eq!(
        leave,
        Leave::Open {
            build: BuildDir::new("/home/dev/blog/.v0/build"),
            env: vec![("V0_ROOT".to_owned(), "/home/dev/blog".to_owned())],
        }
    );
}

#[test]
fn a_gone_project_does_not_open() {
    let mut projects = projects();
    projects.apply(ProjectsAction::Bottom);
    assert_eq!(projects.apply(ProjectsAction::Open).0, Leave::Stay);
    assert!(projects.notice.as_ref().is_some_and(|n| n.is_error));
}

#[test]
fn back_returns_to_the_project_or_quits_without_one() {
    let mut projects = projects();
    assert_eq!(projects.apply(ProjectsAction::Back).0, Leave::Quit);
    projects.can_go_back = true;
    assert_eq!(projects.apply(ProjectsAction::Back).0, Leave::Back);
    // Esc closes the help first.
    projects.apply(ProjectsAction::ToggleHelp);
    assert_eq!(projects.apply(ProjectsAction::Back).0, Leave::Stay);
    assert!(!projects.help);
}

#[test]
fn r_asks_the_selected_projects_daemon() {
    let mut projects = projects();
    let (_, command) = projects.apply(ProjectsAction::RunNow);
    assert_eq!(
        command,
        Some(ProjectCommand::RunNow(BuildDir::new(
            "/home/dev/shop/.v0/build"
        )))
    );
    projects.apply(ProjectsAction::Down);
    assert_eq!(projects.apply(ProjectsAction::RunNow).1, None);
}

#[test]
fn d_asks_first_and_drains_only_on_yes() {
    let mut projects = projects();
    let (leave, command) = projects.apply(ProjectsAction::AskDrain);
    assert_eq!((leave, command), (Leave::Stay, None));
    assert_eq!(projects.confirm_drain.as_deref(), Some("shop"));
    assert!(projects.confirming());
    projects.apply(ProjectsAction::Cancel);
    assert!(!projects.confirming());
    projects.apply(ProjectsAction::AskDrain);
    let (_, command) = projects.apply(ProjectsAction::ConfirmDrain);
    assert_eq!(
        command,
        Some(ProjectCommand::Drain(BuildDir::new(
            "/home/dev/shop/.v0/build"
        )))
    );
    // A daemon that is down has nothing to drain: no question.
    projects.apply(ProjectsAction::Down);
    projects.apply(ProjectsAction::AskDrain);
    assert!(!projects.confirming());
}

#[test]
fn s_starts_a_daemon_that_is_down() {
    let mut projects = projects();
    assert_eq!(projects.apply(ProjectsAction::Start).1, None);
    projects.apply(ProjectsAction::Down);
    assert_eq!(
        projects.apply(ProjectsAction::Start).1,
        Some(ProjectCommand::Start {
            build: BuildDir::new("/home/dev/blog/.v0/build"),
            env: vec![("V0_ROOT".to_owned(), "/home/dev/blog".to_owned())],
        })
    );
}

#[test]
fn the_selected_project_stays_selected_when_rows_move() {
    let mut projects = projects();
    projects.apply(ProjectsAction::Down);
    let mut moved = rows();
    moved.reverse();
    projects.set_rows(moved);
    assert_eq!(
        projects.selected_row().map(|r| r.name.as_str()),
        Some("blog")
    );
}
