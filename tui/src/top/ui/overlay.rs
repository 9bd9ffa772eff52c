//! What opens on top of the dashboard: the help and the drain question.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::Theme;
use super::fit::{checked, keep_end, wrap};
use crate::top::app::{App, TailView};
// Every key: the list `top --help` prints too.
use crate::top::input::KEYS as HELP;

/// A `width`×`height` rectangle centred in `area`, shrunk to fit.
pub(super) fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [rect] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(row);
    rect
}

pub(super) fn help(frame: &mut Frame, area: Rect, theme: Theme) {
    let key_width = HELP
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(key, what)| {
            Line::from(vec![
                Span::styled(format!(" {key:<key_width$}  "), theme.key()),
                Span::raw((*what).to_owned()),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    let command = v0_prune_shared::words::command();
    lines.push(Line::from(Span::styled(
        format!(" For scripts: {command} status, {command} events"),
        theme.dim(),
    )));
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let rect = centered(area, 72, height);
    let room = rect.width.saturating_sub(2);
    let lines: Vec<Line> = lines.into_iter().map(|l| checked(l, room)).collect();
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.focused())
        .title(Span::styled(" Keys ", theme.label()))
        .title_bottom(Line::from(Span::styled(" ? or Esc closes ", theme.dim())).right_aligned());
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}

pub(super) fn confirm_drain(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let pid = app
        .daemon
        .as_ref()
        .map(|d| format!(" (pid {})", d.daemon_pid))
        .unwrap_or_default();
    let lines = vec![
        Line::from(Span::styled(
            format!("Drain the prune daemon{pid}?"),
            theme.label(),
        )),
        Line::from(""),
        Line::from(
            "It finishes the run in progress, if any, then exits. The dashboard stays open; s starts it again.",
        ),
        Line::from(""),
        Line::from(vec![
            Span::styled("y", theme.key()),
            Span::raw(" drain    "),
            Span::styled("n", theme.key()),
            Span::raw(" cancel"),
        ]),
    ];
    let rect = centered(area, 56, 9);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.error())
        .title(Span::styled(" Drain ", theme.error()));
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: true })
            .centered(),
        rect,
    );
}

/// The last lines of a log, over most of the screen, newest at the bottom.
pub(super) fn tail(frame: &mut Frame, area: Rect, tail: &TailView, theme: Theme) {
    // The whole screen but the key bar.
    let rect = Rect {
        height: area.height.saturating_sub(1),
        ..area
    };
    let room = rect.width.saturating_sub(2);
    let title = keep_end(&tail.path, usize::from(room).saturating_sub(18));
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.focused())
        .title(checked(
            Line::from(Span::styled(
                format!(" Last lines of {title} "),
                theme.label(),
            )),
            room,
        ))
        .title_bottom(Line::from(Span::styled(" Esc closes ", theme.dim())).right_aligned());
    let inner = block.inner(rect);
    frame.render_widget(Clear, rect);
    frame.render_widget(block, rect);
    let width = usize::from(inner.width);
    let mut lines: Vec<Line> = match &tail.lines {
        None => vec![Line::from(Span::styled(" reading...", theme.dim()))],
        Some(Err(err)) => wrap(err, width)
            .into_iter()
            .map(|l| Line::from(Span::styled(l, theme.error())))
            .collect(),
        Some(Ok(lines)) if lines.is_empty() => {
            vec![Line::from(Span::styled(" The file is empty.", theme.dim()))]
        }
        Some(Ok(lines)) => lines
            .iter()
            .flat_map(|line| wrap(line, width))
            .map(Line::from)
            .collect(),
    };
    lines.drain(..lines.len().saturating_sub(usize::from(inner.height)));
    let lines: Vec<Line> = lines.into_iter().map(|l| checked(l, inner.width)).collect();
    frame.render_widget(Paragraph::new(lines), inner);
}
