//! Drawing the dashboard: pure functions from `&App` to a frame. Nothing here
//! changes state; the loop reads the pane sizes [`draw`] returns so that
//! paging moves by what is actually visible.
//!
//! Layout, top to bottom: a two-line header, the summary of runs (with the
//! progress gauge during a run and a chart of bytes per run), the run history
//! and the log (side by side on wide screens), and the key bar. Overlays (help,
//! the drain question) go on top.

mod files;
mod fit;
mod header;
mod history;
mod log;
mod overlay;
mod projects;
mod summary;
mod theme;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::top::app::{App, Mode, Status, View, Viewport};
pub use projects::draw as draw_projects;
pub use theme::Theme;

/// The width from which the summary gets a chart beside it.
const WIDE: u16 = 120;

/// The width from which history and log sit side by side.
const SIDE_BY_SIDE: u16 = 160;

/// Draws the whole screen and returns how many history rows and log lines fit.
pub fn draw(frame: &mut Frame, app: &App) -> Viewport {
    let theme = Theme::new(app.color);
    let area = frame.area();
    if app.view == View::Files {
        let [header_area, body, keys] = Layout::vertical([
            Constraint::Length(2),
            Constraint::Min(4),
            Constraint::Length(1),
        ])
        .areas(area);
        header::draw(frame, header_area, app, theme);
        let files_rows = files::draw(frame, body, app, theme);
        draw_key_bar(frame, keys, app, theme);
        draw_overlay(frame, area, app, theme);
        return Viewport {
            files_rows,
            ..Viewport::default()
        };
    }
    let wide = area.width >= WIDE;
    let summary_height = summary::height(app, wide, area);
    let [header_area, summary_area, body, keys] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(summary_height),
        Constraint::Min(4),
        Constraint::Length(1),
    ])
    .areas(area);
    header::draw(frame, header_area, app, theme);
    summary::draw(frame, summary_area, app, theme, wide);
    let [history_area, log_area] = if area.width >= SIDE_BY_SIDE {
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(body)
    } else {
        Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(body)
    };
    let history_rows = history::draw(frame, history_area, app, theme, wide);
    let log_rows = log::draw(frame, log_area, app, theme);
    draw_key_bar(frame, keys, app, theme);
    draw_overlay(frame, area, app, theme);
    Viewport {
        history_rows,
        log_rows,
        ..Viewport::default()
    }
}

fn draw_overlay(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    match &app.mode {
        Mode::Help => overlay::help(frame, area, theme),
        Mode::ConfirmDrain => overlay::confirm_drain(frame, area, app, theme),
        Mode::Tail(tail) => overlay::tail(frame, area, tail, theme),
        Mode::Normal | Mode::Filter { .. } => {}
    }
}

/// The bottom line: the keys that work now, or the filter prompt.
fn draw_key_bar(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let line = match &app.mode {
        Mode::Filter { input } => {
            let prompt = |input: String| {
                vec![
                    Span::styled(" Filter log: ", theme.label()),
                    Span::raw(input),
                    Span::styled("▏", theme.key()),
                ]
            };
            let mut full = prompt(input.clone());
            full.push(Span::styled(
                "  Enter apply · Esc cancel · Ctrl-U clear",
                theme.dim(),
            ));
            // A long filter keeps its end, where the cursor is.
            let room = usize::from(area.width).saturating_sub(15);
            let tail: String = {
                let chars: Vec<char> = input.chars().collect();
                let from = chars.len().saturating_sub(room.saturating_sub(1));
                let kept: String = chars[from..].iter().collect();
                if from > 0 { format!("…{kept}") } else { kept }
            };
            Line::from(fit::fit(
                vec![full, prompt(input.clone()), prompt(tail)],
                usize::from(area.width),
            ))
        }
        Mode::ConfirmDrain => keys(&[("y", "drain"), ("n", "cancel")], theme, area.width),
        Mode::Help => keys(
            &[("?", "close help"), ("Ctrl-C", "quit")],
            theme,
            area.width,
        ),
        Mode::Tail(_) => keys(&[("Esc", "close"), ("Ctrl-C", "quit")], theme, area.width),
        Mode::Normal => {
            let follow = if app.log.is_following() {
                "pause"
            } else {
                "follow"
            };
            let mut list = match app.status() {
                Status::Idle | Status::Running | Status::Draining => {
                    vec![("r", "run now"), ("d", "drain")]
                }
                Status::NotRunning | Status::Disconnected | Status::Starting => {
                    vec![("s", "start daemon")]
                }
                Status::Connecting | Status::Incompatible | Status::Refused => Vec::new(),
            };
            match app.view {
                View::Runs => list.extend([
                    ("v", "files"),
                    ("/", "filter"),
                    ("f", follow),
                    ("Tab", "pane"),
                    ("?", "help"),
                    ("q", "quit"),
                ]),
                View::Files => list.extend([
                    ("v", "runs"),
                    ("↑↓", "select"),
                    ("Enter", "last lines"),
                    ("?", "help"),
                    ("q", "quit"),
                ]),
            }
            keys(&list, theme, area.width)
        }
    };
    frame.render_widget(Paragraph::new(fit::checked(line, area.width)), area);
}

/// The key bar for `list`, in `room` columns: when all do not fit, the ones
/// before the last two (help and quit, which always show) go, last first.
fn keys(list: &[(&str, &str)], theme: Theme, room: u16) -> Line<'static> {
    let mut list = list.to_vec();
    loop {
        let mut spans = vec![Span::raw(" ")];
        for (i, (key, what)) in list.iter().enumerate() {
            if i > 0 {
                spans.push(Span::raw("  "));
            }
            spans.push(Span::styled((*key).to_owned(), theme.key()));
            spans.push(Span::raw(format!(" {what}")));
        }
        if fit::width(&spans) <= usize::from(room) || list.len() <= 2 {
            return Line::from(spans);
        }
        list.remove(list.len() - 3);
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod refused_tests;
