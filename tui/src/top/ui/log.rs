//! The daemon's log, following new lines or paused, with the filter applied.

use jiff::Timestamp;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::Theme;
use super::fit::{checked, cut_words, wrap};
use crate::format::clock;
use crate::top::app::{App, Pane};

/// Draws the log pane and returns how many lines fit.
pub(super) fn draw(frame: &mut Frame, area: Rect, app: &App, theme: Theme) -> usize {
    let focused = app.focus == Pane::Log;
    let mut title = vec![Span::styled(" Log ", theme.label())];
    if app.log.is_following() {
        title.push(Span::styled("· following ", theme.dim()));
    } else {
        title.push(Span::styled("· paused ", theme.key()));
        if app.log.offset() > 0 {
            title.push(Span::styled(
                format!("({} newer) ", app.log.offset()),
                theme.dim(),
            ));
        }
    }
    if let Some(filter) = app.log.filter() {
        title.push(Span::styled(
            format!(
                "· filter \"{filter}\" ({} of {}) ",
                app.log.matching_len(),
                app.log.len()
            ),
            theme.key(),
        ));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(if focused {
            theme.focused()
        } else {
            theme.unfocused()
        })
        .title(checked(
            Line::from(cut_words(title, usize::from(area.width.saturating_sub(2)))),
            area.width.saturating_sub(2),
        ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let rows = usize::from(inner.height);
    // A line longer than the pane wraps; the newest lines stay at the bottom.
    let mut lines: Vec<Line> = app
        .log
        .window(rows)
        .into_iter()
        .flat_map(|line| log_line(line, app, theme, usize::from(inner.width)))
        .map(|line| checked(line, inner.width))
        .collect();
    lines.drain(..lines.len().saturating_sub(rows));
    if lines.is_empty() {
        let empty = if app.log.filter().is_some() {
            " No line matches the filter."
        } else {
            " No log lines yet."
        };
        frame.render_widget(Paragraph::new(Span::styled(empty, theme.dim())), inner);
    } else {
        frame.render_widget(Paragraph::new(lines), inner);
    }
    rows
}

/// v0's `[YYYY-MM-DDTHH:MM:SSZ] message` shown as a short local time and the
/// message; any other line as it is; wrapped at spaces to `width`, the
/// continuation lines indented under the message.
fn log_line(line: &str, app: &App, theme: Theme, width: usize) -> Vec<Line<'static>> {
    if let Some((stamp, message)) = line
        .strip_prefix('[')
        .and_then(|rest| rest.split_once("] "))
        && let Ok(at) = stamp.parse::<Timestamp>()
    {
        let time = clock(at.as_millisecond(), app.now_ms, &app.tz);
        let indent = time.chars().count() + 1;
        if width > indent + 10 {
            return wrap(message, width - indent)
                .into_iter()
                .enumerate()
                .map(|(i, part)| {
                    let lead = if i == 0 {
                        Span::styled(format!("{time} "), theme.dim())
                    } else {
                        Span::raw(" ".repeat(indent))
                    };
                    Line::from(vec![lead, Span::raw(part)])
                })
                .collect();
        }
    }
    wrap(line, width).into_iter().map(Line::from).collect()
}
