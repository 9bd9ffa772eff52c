//! Drawing the dashboard: pure functions from `&App` to a frame. Nothing here
//! changes state; the loop reads the pane sizes [`draw`] returns so that
//! paging moves by what is actually visible.
//!
//! Layout, top to bottom: a two-line header, the summary of runs (with the
//! progress gauge during a run and a chart of bytes per run), the run history
//! and the log (side by side on wide screens), and the key bar. Overlays (help,
//! the drain question) go on top.

pub mod format;
mod header;
mod history;
mod log;
mod overlay;
mod summary;
mod theme;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::top::app::{App, Mode, Status, Viewport};
pub use theme::Theme;

/// The width from which the summary gets a chart beside it.
const WIDE: u16 = 120;

/// The width from which history and log sit side by side.
const SIDE_BY_SIDE: u16 = 160;

/// Draws the whole screen and returns how many history rows and log lines fit.
pub fn draw(frame: &mut Frame, app: &App) -> Viewport {
    let theme = Theme::new(app.color);
    let area = frame.area();
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
    match &app.mode {
        Mode::Help => overlay::help(frame, area, theme),
        Mode::ConfirmDrain => overlay::confirm_drain(frame, area, app, theme),
        Mode::Normal | Mode::Filter { .. } => {}
    }
    Viewport {
        history_rows,
        log_rows,
    }
}

/// The bottom line: the keys that work now, or the filter prompt.
fn draw_key_bar(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let line = match &app.mode {
        Mode::Filter { input } => Line::from(vec![
            Span::styled(" Filter log: ", theme.label()),
            Span::raw(input.clone()),
            Span::styled("▏", theme.key()),
            Span::styled("  Enter apply · Esc cancel · Ctrl-U clear", theme.dim()),
        ]),
        Mode::ConfirmDrain => keys(&[("y", "drain"), ("n", "cancel")], theme),
        Mode::Help => keys(&[("?", "close help"), ("Ctrl-C", "quit")], theme),
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
                Status::Connecting | Status::Incompatible => Vec::new(),
            };
            list.extend([
                ("/", "filter"),
                ("f", follow),
                ("Tab", "pane"),
                ("?", "help"),
                ("q", "quit"),
            ]);
            keys(&list, theme)
        }
    };
    frame.render_widget(Paragraph::new(line), area);
}

fn keys(list: &[(&str, &str)], theme: Theme) -> Line<'static> {
    let mut spans = vec![Span::raw(" ")];
    for (i, (key, what)) in list.iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw("  "));
        }
        spans.push(Span::styled((*key).to_owned(), theme.key()));
        spans.push(Span::raw(format!(" {what}")));
    }
    Line::from(spans)
}

#[cfg(test)]
mod tests;
