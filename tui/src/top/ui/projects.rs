//! The Projects view: one row per project of the machine (name, daemon,
//! logs, reclaimed, last and next run), the selected project's root and
//! what is wrong with it under the table, and the key bar.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use v0_prune_shared::units::human_bytes;
use v0_prune_shared::words::counted;

use super::fit::{checked, cut_str, keep_end, wrap};
use super::overlay::{centered, help};
use super::{Theme, keys};
use crate::format::{ago, until};
use crate::top::app::Status;
use crate::top::projects::{Daemon, ProjectRow, Projects};

/// The columns after the name, widest last to go: (title, width, right-aligned).
const COLUMNS: [(&str, usize, bool); 5] = [
    ("Daemon", 18, false),
    ("Logs", 10, true),
    ("Reclaimed", 10, true),
    ("Last run", 26, false),
    ("Next run", 10, false),
];

/// The narrowest the name column gets before other columns go.
const NAME_MIN: usize = 14;
/// The widest it gets: the rest goes to the last column.
const NAME_MAX: usize = 28;

/// Draws the view; returns how many project rows fit.
pub fn draw(frame: &mut Frame, projects: &Projects) -> usize {
    let theme = Theme::new(projects.color);
    let area = frame.area();
    let [title_area, table_area, detail_area, notice_area, keys_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(4),
        Constraint::Length(2),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);

    let count = projects.rows.as_ref().map_or(0, Vec::len);
    let running = projects
        .rows
        .iter()
        .flatten()
        .filter(|r| r.daemon.is_running())
        .count();
    let title = Line::from(vec![
        Span::styled(" v0-prune top ", theme.label()),
        Span::raw("│ "),
        Span::styled("projects", theme.label()),
    ]);
    let summary = match &projects.rows {
        None => "looking...".to_owned(),
        Some(_) => format!(
            "{count} on this machine · {} running",
            counted(running as u64, "daemon", "daemons")
        ),
    };
    let room = usize::from(title_area.width).saturating_sub(fit_width(&title) + 3);
    let mut title = title;
    if room >= 10 {
        title.spans.push(Span::raw(" · "));
        title
            .spans
            .push(Span::styled(cut_str(&summary, room), theme.dim()));
    }
    frame.render_widget(Paragraph::new(checked(title, title_area.width)), title_area);

    let rows_visible = table(frame, table_area, projects, theme);
    detail(frame, detail_area, projects, theme);

    if let Some(notice) = &projects.notice {
        let style = if notice.is_error {
            theme.error()
        } else {
            theme.key()
        };
        let text = cut_str(
            &notice.text,
            usize::from(notice_area.width).saturating_sub(1),
        );
        frame.render_widget(
            Paragraph::new(checked(
                Line::from(Span::styled(format!(" {text}"), style)),
                notice_area.width,
            )),
            notice_area,
        );
    }

    let bar = if projects.confirming() {
        keys(&[("y", "drain"), ("n", "cancel")], theme, keys_area.width)
    } else if projects.help {
        keys(
            &[("?", "close help"), ("Ctrl-C", "quit")],
            theme,
            keys_area.width,
        )
    } else {
        let mut list = vec![
            ("Enter", "open"),
            ("r", "run now"),
            ("d", "drain"),
            ("s", "start daemon"),
            ("↑↓", "select"),
        ];
        if projects.can_go_back {
            list.push(("p", "back"));
        }
        list.extend([("?", "help"), ("q", "quit")]);
        keys(&list, theme, keys_area.width)
    };
    frame.render_widget(Paragraph::new(checked(bar, keys_area.width)), keys_area);

    if projects.help {
        help(frame, area, theme);
    } else if let Some(name) = &projects.confirm_drain {
        confirm_drain(frame, area, projects, name, theme);
    }
    rows_visible
}

fn fit_width(line: &Line<'_>) -> usize {
    super::fit::width(&line.spans)
}

/// Which columns fit beside the name in `room` columns, and the name's width.
fn layout(room: usize) -> (usize, usize) {
    let mut shown = COLUMNS.len();
    loop {
        let used: usize = COLUMNS[..shown].iter().map(|(_, w, _)| w + 1).sum();
        if room >= used + NAME_MIN || shown == 0 {
            return (shown, room.saturating_sub(used).min(NAME_MAX));
        }
        shown -= 1;
    }
}

fn pad(text: &str, width: usize, right: bool) -> String {
    let text = if text.chars().count() > width {
        cut_str(text, width)
    } else {
        text.to_owned()
    };
    if right {
        format!("{text:>width$}")
    } else {
        format!("{text:<width$}")
    }
}

fn table(frame: &mut Frame, area: Rect, projects: &Projects, theme: Theme) -> usize {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.focused())
        .title(Span::styled(" Projects ", theme.label()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let room = usize::from(inner.width);
    let (shown, name_width) = layout(room);
    let mut lines = Vec::new();
    let mut head = pad("Project", name_width, false);
    for (title, width, right) in &COLUMNS[..shown] {
        head.push(' ');
        head.push_str(&pad(title, *width, *right));
    }
    lines.push(checked(
        Line::from(Span::styled(head, theme.label())),
        inner.width,
    ));
    let visible = usize::from(inner.height).saturating_sub(1);
    match &projects.rows {
        None => lines.push(Line::from(Span::styled(
            " looking at every project...",
            theme.dim(),
        ))),
        Some(rows) if rows.is_empty() => lines.push(Line::from(Span::styled(
            " No v0 project on this machine: v0 registers each in ~/.local/state/v0",
            theme.dim(),
        ))),
        Some(rows) => {
            for (index, row) in rows.iter().enumerate().skip(projects.offset).take(visible) {
                let style = if index == projects.selected {
                    theme.selected()
                } else {
                    Style::default()
                };
                lines.push(checked(
                    row_line(row, projects, shown, name_width, theme, style),
                    inner.width,
                ));
            }
        }
    }
    let lines: Vec<Line> = lines.into_iter().map(|l| checked(l, inner.width)).collect();
    frame.render_widget(Paragraph::new(lines), inner);
    visible.max(1)
}

fn daemon_style(daemon: &Daemon, theme: Theme) -> Style {
    let status = match daemon {
        Daemon::Running { state, .. } => match state {
            v0_prune_shared::protocol::DaemonState::Idle => Status::Idle,
            v0_prune_shared::protocol::DaemonState::Running => Status::Running,
            v0_prune_shared::protocol::DaemonState::Draining => Status::Draining,
        },
        Daemon::NotAnswering { .. } => Status::Disconnected,
        Daemon::Refused { .. } => Status::Refused,
        _ => Status::NotRunning,
    };
    theme.status(status)
}

fn row_line(
    row: &ProjectRow,
    projects: &Projects,
    shown: usize,
    name_width: usize,
    theme: Theme,
    style: Style,
) -> Line<'static> {
    let now = projects.now_ms;
    let daemon = match &row.daemon {
        Daemon::Running { pid, state } => format!("{} · pid {pid}", state.label()),
        other => other.word().to_owned(),
    };
    let bytes = |b: Option<u64>| b.map(human_bytes).unwrap_or_else(|| "—".to_owned());
    let last = row.last_run.as_ref().map_or_else(
        || "—".to_owned(),
        |run| {
            format!(
                "{} · {} · {}",
                ago(run.finished_at_ms, now),
                run.outcome.label(),
                human_bytes(run.bytes_reclaimed)
            )
        },
    );
    let next = row
        .next_run_at_ms
        .map_or_else(|| "—".to_owned(), |at| until(at, now));
    let cells = [
        (daemon, daemon_style(&row.daemon, theme)),
        (bytes(row.logs_bytes), theme.bytes()),
        (bytes(row.reclaimed), theme.bytes()),
        (last, Style::default()),
        (next, Style::default()),
    ];
    let mut spans = vec![Span::styled(pad(&row.name, name_width, false), style)];
    for ((text, cell_style), (_, width, right)) in cells.into_iter().zip(COLUMNS).take(shown) {
        spans.push(Span::styled(" ", style));
        spans.push(Span::styled(
            pad(&text, width, right),
            style.patch(cell_style),
        ));
    }
    Line::from(spans)
}

fn detail(frame: &mut Frame, area: Rect, projects: &Projects, theme: Theme) {
    let Some(row) = projects.selected_row() else {
        return;
    };
    let room = usize::from(area.width).saturating_sub(1);
    let root = row.root.as_deref().unwrap_or("(no root)");
    let mut lines = vec![Line::from(vec![
        Span::styled(" Root ", theme.label()),
        Span::raw(keep_end(root, room.saturating_sub(6))),
    ])];
    let why = match &row.daemon {
        Daemon::NotAnswering { error } => Some(error.clone()),
        Daemon::Refused { reason } => Some(reason.clone()),
        Daemon::Gone => Some("its root no longer exists".to_owned()),
        Daemon::NoBuildDir => {
            Some("registered, but its build directory does not exist yet".to_owned())
        }
        Daemon::NotRunning => Some("figures read from disk; s starts its daemon".to_owned()),
        Daemon::Running { .. } => None,
    };
    if let Some(why) = why {
        let text = wrap(&why, room).into_iter().next().unwrap_or_default();
        let text = if text.chars().count() < why.chars().count() {
            cut_str(&why, room)
        } else {
            text
        };
        lines.push(Line::from(Span::styled(format!(" {text}"), theme.dim())));
    }
    let lines: Vec<Line> = lines.into_iter().map(|l| checked(l, area.width)).collect();
    frame.render_widget(Paragraph::new(lines), area);
}

fn confirm_drain(frame: &mut Frame, area: Rect, projects: &Projects, name: &str, theme: Theme) {
    let pid = projects
        .rows
        .iter()
        .flatten()
        .find(|r| r.name == name)
        .and_then(|r| match r.daemon {
            Daemon::Running { pid, .. } => Some(format!(" (pid {pid})")),
            _ => None,
        })
        .unwrap_or_default();
    let lines = vec![
        Line::from(Span::styled(
            format!("Drain {name}'s prune daemon{pid}?"),
            theme.label(),
        )),
        Line::from(""),
        Line::from("It finishes the run in progress, if any, then exits; s starts it again."),
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
