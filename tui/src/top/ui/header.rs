//! The two header lines: what is watched, and the daemon's identity and settings.

use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use v0_prune_shared::units::human_duration;

use super::Theme;
use super::fit::{checked, cut_words, keep_end};
use crate::format::span;
use crate::top::app::{App, Link};

pub(super) fn draw(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let status = app.status();
    let badge = format!(" {} ", status.word());
    let badge_width = u16::try_from(badge.chars().count()).unwrap_or(u16::MAX);
    let [first, second] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
    let [title_area, badge_area] =
        Layout::horizontal([Constraint::Min(10), Constraint::Length(badge_width + 1)]).areas(first);

    let mut title = vec![Span::styled(" v0-prune top ", theme.label())];
    if let Some(project) = app.daemon.as_ref().and_then(|d| d.project.clone()) {
        title.extend([
            Span::raw("│ "),
            Span::styled(project, theme.label()),
            Span::raw(" "),
        ]);
    }
    if app.demo {
        title.push(Span::styled("(demo) ", theme.key()));
    }
    title.push(Span::raw("│ "));
    // The build directory gets what room is left, keeping its end.
    let used: usize = title.iter().map(|s| s.content.chars().count()).sum();
    let room = usize::from(title_area.width).saturating_sub(used);
    title.push(Span::raw(keep_end(&app.build_dir, room)));
    frame.render_widget(
        Paragraph::new(checked(Line::from(title), title_area.width)),
        title_area,
    );
    frame.render_widget(
        Paragraph::new(Line::from(Span::styled(badge, theme.status(status)))),
        badge_area,
    );

    // The details are parts joined by ` · `: a narrow screen drops the last ones whole.
    let details = cut_words(details(app, theme), usize::from(second.width));
    frame.render_widget(
        Paragraph::new(checked(Line::from(details), second.width)),
        second,
    );
}

fn details(app: &App, theme: Theme) -> Vec<Span<'static>> {
    let label = |text: &str| Span::styled(text.to_owned(), theme.dim());
    let mut spans = vec![Span::raw(" ")];
    match (&app.link, &app.daemon) {
        (Link::Connected, Some(daemon)) => {
            spans.extend([
                label("daemon "),
                Span::raw(format!("pid {}", daemon.daemon_pid)),
                label(" · v"),
                Span::raw(daemon.daemon_version.clone()),
                label(" · up "),
                Span::raw(span(app.now_ms.saturating_sub(daemon.started_at_ms))),
            ]);
        }
        _ => spans.push(label("daemon —")),
    }
    if let Some(daemon) = &app.daemon {
        spans.extend([
            label(" · retention "),
            Span::raw(human_duration(Duration::from_secs(daemon.retention_secs))),
            label(" · interval "),
            Span::raw(human_duration(Duration::from_secs(daemon.interval_secs))),
        ]);
        if app.link != Link::Connected {
            spans.push(label(" (last known)"));
        }
    }
    spans
}
