//! A dashboard the daemon refused (it serves its limit of watchers) says it
//! was refused and why, at every size; it neither claims that no run was
//! ever recorded nor offers to start a daemon that runs.

use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::{draw, fit};
use crate::top::app::{App, Status};
use crate::top::conn::{Down, DownKind, LinkEvent};
use crate::top::input::Action;

const REASON: &str =
    "it already serves 256 watchers (its limit); close some `v0-prune top` or `v0-prune events`";

fn refused() -> App {
    let mut app = App::new("/p/.v0/build", jiff::tz::TimeZone::UTC, 0, false);
    app.on_link(LinkEvent::Down(Down {
        kind: DownKind::Refused(REASON.to_owned()),
        attempt: 0,
        retry_in: Duration::from_secs(5),
    }));
    app
}

fn screen(app: &App, width: u16, height: u16) -> String {
    fit::overflow::take();
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
    terminal
        .draw(|frame| {
            let _ = draw(frame, app);
        })
        .expect("draw");
    let cut = fit::overflow::take();
    assert!(cut.is_empty(), "cut at {width}x{height}: {cut:?}");
    let buffer = terminal.backend().buffer();
    buffer
        .content
        .chunks(usize::from(buffer.area.width))
        .map(|row| row.iter().map(|cell| cell.symbol()).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_refused_dashboard_says_so_and_why_and_offers_no_start() {
    let app = refused();
    assert_eq!(app.status(), Status::Refused);
    for (width, height) in [(80, 24), (120, 40), (200, 60)] {
        let screen = screen(&app, width, height);
        assert!(screen.contains("refused"), "{screen}");
        assert!(screen.contains("256 watchers"), "the reason:\n{screen}");
        assert!(!screen.contains("No runs recorded yet"), "{screen}");
        assert!(!screen.contains("start daemon"), "{screen}");
    }
}

#[test]
fn s_on_a_refused_dashboard_starts_nothing() {
    let mut app = refused();
    assert_eq!(app.apply(Action::StartDaemon), None);
    let notice = app.notice.as_ref().expect("a notice");
    assert!(notice.text.contains("already running"), "{}", notice.text);
}
